//! Business-hours calendars: the arithmetic behind SLA clocks.
//!
//! A [`Calendar`] answers three questions about real (UTC) time: is the
//! calendar open at an instant ([`Calendar::is_open`]), how much open time
//! lies between two instants ([`Calendar::business_time`]), and when a given
//! amount of open time will have elapsed ([`Calendar::due`]). It is built
//! either as the built-in 24/7 calendar `always` ([`Calendar::always`]) or
//! from one `[calendars.<name>]` table ([`Calendar::parse`]):
//!
//! ```toml
//! timezone  = "Asia/Shanghai"
//! hours     = { mon = ["09:00-12:00", "13:00-18:00"], sat = ["22:00-06:00"] }
//! holidays  = ["2026-10-01"]
//! overrides = { "2026-12-24" = ["09:00-12:00"], "2026-12-27" = [] }
//! ```
//!
//! # The model
//! Every local calendar date `D` has a *schedule*: its override if `D` is in
//! `overrides`, else nothing if `D` is in `holidays`, else the weekly
//! `hours` of its weekday. An interval belongs to the date it starts on;
//! `"22:00-06:00"` (end not after start) runs overnight into the next date,
//! `"xx:xx-24:00"` ends at the next midnight. Open time on date `D` is:
//!
//! * `D`'s own intervals, cut at `D`'s end (the overnight rest counts on
//!   `D + 1`), plus
//! * the after-midnight part of `D - 1`'s overnight interval, **unless `D` is
//!   a dated entry** (a holiday or an override). A dated entry owns its whole
//!   local date: a holiday closes all of it, including the tail of the
//!   previous evening's overnight shift, and an override's intervals are the
//!   only open time on that date. An override beats a holiday on the same
//!   date. A holiday also cancels its own date's overnight interval, tail
//!   included (the shift that would have started that evening does not run).
//!
//! Where an override's overnight tail overlaps the next (ordinary) day's
//! hours the union counts, never twice. Weekly hours themselves are checked:
//! overlapping intervals on one day, or with the previous day's overnight
//! tail, are configuration problems.
//!
//! # Daylight saving
//! Intervals are local wall-clock times, mapped to instants one endpoint at a
//! time; business time is the real elapsed time between the mapped start and
//! end. A local time that does not exist (spring-forward gap) maps to the
//! first instant after the gap, so `"01:00-03:00"` in `America/New_York` on
//! 2026-03-08 is 1 h. An ambiguous local time (fall-back) maps to its
//! earliest instant, so `"00:00-03:00"` on 2026-11-01 is 4 h, and
//! `"01:30-03:00"` includes the repeated hour. This mapping never runs
//! backwards, so the open segments of consecutive dates stay ordered and
//! disjoint, and a zoned calendar open `00:00-24:00` every day behaves exactly
//! like `always`.
//!
//! # Boundaries and bounds
//! Open intervals are half-open: open at the opening instant, closed at the
//! closing instant. `due(start, 0)` is `start` if open, else the next
//! opening (= [`Calendar::next_open`]); a target that is used up exactly at a
//! closing instant is due at that closing instant, not at the next opening.
//! Precision is whatever the inputs carry (nanoseconds); nothing is rounded.
//!
//! The work is per date and per interval, never per minute, and nothing is
//! allocated per call. Walks forward are bounded by [`DUE_HORIZON_DAYS`]
//! local dates after the start, so a calendar that never opens (no hours and
//! no future overrides) or an absurd target yields `None` instead of a hang;
//! a calendar with no weekly hours jumps straight between override dates.
//! `business_time` is linear in the number of dates between its arguments
//! and counts at most [`DUE_HORIZON_DAYS`] of them.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::ops::Bound;
use std::time::Duration;

use chrono::{
    DateTime, Datelike, Days, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeDelta, TimeZone, Utc,
};
use chrono_tz::{GapInfo, Tz};

/// How many local dates after its start `due` (and `next_open`) will look at
/// before giving up with `None`: about a century, far beyond any useful SLA,
/// small enough (a few milliseconds) to stay harmless on a broken calendar.
pub const DUE_HORIZON_DAYS: u64 = 36_525;

const MINUTES_PER_DAY: u16 = 24 * 60;

/// Weekday keys of `hours`, in `chrono::Weekday::num_days_from_monday` order.
const WEEKDAY_KEYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// One configuration problem: `path` is the key path inside the calendar's
/// table (`timezone`, `hours.mon[1]`, `holidays[0]`,
/// `overrides.2026-12-24[0]`), `message` says what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CalendarProblem {
    /// Key path suffix, relative to `calendars.<name>`.
    pub path: String,
    /// Human-readable explanation, quoting the offending value.
    pub message: String,
}

impl fmt::Display for CalendarProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

impl std::error::Error for CalendarProblem {}

/// A business-hours calendar; see the module docs for the rules.
#[derive(Clone, Debug)]
pub struct Calendar {
    kind: Kind,
}

#[derive(Clone, Debug)]
enum Kind {
    /// Open 24/7: no zone arithmetic at all.
    Always,
    Zoned(Box<Zoned>),
}

/// Minutes after the local midnight of the date the interval belongs to.
/// Invariant: `start < MINUTES_PER_DAY` and `start < end < start + 24 h`;
/// `end > MINUTES_PER_DAY` marks an overnight interval.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Interval {
    start: u16,
    end: u16,
}

/// Invariant: every `Vec<Interval>` is sorted by `start`.
#[derive(Clone, Debug)]
struct Zoned {
    tz: Tz,
    /// Indexed by `num_days_from_monday`.
    weekly: [Vec<Interval>; 7],
    /// No weekly hours at all: only override dates (and the day after an
    /// overnight override) can be open, so walks jump between them.
    weekly_empty: bool,
    holidays: BTreeSet<NaiveDate>,
    overrides: BTreeMap<NaiveDate, Vec<Interval>>,
}

impl Calendar {
    /// The built-in calendar `always`: open at every instant.
    #[must_use]
    pub fn always() -> Calendar {
        Calendar { kind: Kind::Always }
    }

    /// Builds a calendar from its configuration values, collecting every
    /// problem (unknown zone, unknown weekday key, malformed or empty
    /// interval, overlapping intervals, malformed date) instead of stopping
    /// at the first. Never panics, whatever the input.
    ///
    /// # Errors
    /// Every problem found, each with its key path, in the order: zone,
    /// weekly hours (by key), holidays, overrides (by date key).
    pub fn parse(
        timezone: &str,
        hours: &BTreeMap<String, Vec<String>>,
        holidays: &[String],
        overrides: &BTreeMap<String, Vec<String>>,
    ) -> Result<Calendar, Vec<CalendarProblem>> {
        let mut problems = Vec::new();

        let tz = timezone.parse::<Tz>().ok();
        if tz.is_none() {
            problems.push(problem(
                "timezone".to_owned(),
                format!(
                    "unknown IANA time zone {timezone:?}; expected a name such as \"Asia/Shanghai\""
                ),
            ));
        }

        let mut parsed_weekly: [Vec<Parsed<'_>>; 7] = Default::default();
        for (key, list) in hours {
            let path = format!("hours.{key}");
            match WEEKDAY_KEYS.iter().position(|day| day == key) {
                Some(day) => parsed_weekly[day] = parse_day(&path, list, &mut problems),
                None => problems.push(problem(
                    path,
                    format!(
                        "unknown weekday {key:?}; expected one of {}",
                        WEEKDAY_KEYS.join(", ")
                    ),
                )),
            }
        }
        check_overnight_tails(&parsed_weekly, &mut problems);

        let mut holiday_set = BTreeSet::new();
        for (i, text) in holidays.iter().enumerate() {
            match parse_date(text) {
                Ok(date) => {
                    holiday_set.insert(date);
                }
                Err(message) => problems.push(problem(format!("holidays[{i}]"), message)),
            }
        }

        let mut override_map = BTreeMap::new();
        for (key, list) in overrides {
            let path = format!("overrides.{key}");
            let date = parse_date(key);
            let intervals = strip(parse_day(&path, list, &mut problems));
            match date {
                Ok(date) => {
                    override_map.insert(date, intervals);
                }
                Err(message) => problems.push(problem(path, message)),
            }
        }

        match tz {
            Some(tz) if problems.is_empty() => {
                let weekly = parsed_weekly.map(strip);
                let weekly_empty = weekly.iter().all(Vec::is_empty);
                Ok(Calendar {
                    kind: Kind::Zoned(Box::new(Zoned {
                        tz,
                        weekly,
                        weekly_empty,
                        holidays: holiday_set,
                        overrides: override_map,
                    })),
                })
            }
            _ => Err(problems),
        }
    }

    /// Whether the calendar is open at `at` (openings inclusive, closings
    /// exclusive).
    #[must_use]
    pub fn is_open(&self, at: DateTime<Utc>) -> bool {
        let zone = match &self.kind {
            Kind::Always => return true,
            Kind::Zoned(zone) => zone,
        };
        // Segments of earlier dates end by the local midnight starting `at`'s
        // date; the next date is needed when a fall-back repeats the hour
        // before midnight.
        let first = zone.local_date(at);
        let last = first.succ_opt().unwrap_or(first);
        zone.segments(first, last)
            .take_while(|&(start, _)| start <= at)
            .any(|(_, end)| at < end)
    }

    /// The earliest instant at or after `at` at which the calendar is open;
    /// `at` itself when open. `None` when nothing opens within
    /// [`DUE_HORIZON_DAYS`].
    #[must_use]
    pub fn next_open(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.due(at, Duration::ZERO)
    }

    /// The instant at which `target` of business time has elapsed, counting
    /// from `start` (or from the next opening if `start` is closed). A zero
    /// target gives [`Calendar::next_open`]; a target used up exactly at a
    /// closing instant is due at that closing instant.
    ///
    /// `None` when the calendar does not supply `target` within
    /// [`DUE_HORIZON_DAYS`] local dates (it never opens again, or the target
    /// is absurd) or the result is outside chrono's range.
    #[must_use]
    pub fn due(&self, start: DateTime<Utc>, target: Duration) -> Option<DateTime<Utc>> {
        let target = TimeDelta::from_std(target).ok()?;
        let zone = match &self.kind {
            Kind::Always => return start.checked_add_signed(target),
            Kind::Zoned(zone) => zone,
        };
        let first = zone.local_date(start);
        let last = first
            .checked_add_days(Days::new(DUE_HORIZON_DAYS))
            .unwrap_or(NaiveDate::MAX);
        let mut remaining = target;
        // Everything before `cursor` is already counted; segments may overlap
        // (an override's overnight tail), so each is clipped to it.
        let mut cursor = start;
        for (seg_start, seg_end) in zone.segments(first, last) {
            if seg_end <= cursor {
                continue;
            }
            let from = seg_start.max(cursor);
            let available = seg_end - from;
            if available >= remaining {
                return from.checked_add_signed(remaining);
            }
            remaining -= available;
            cursor = seg_end;
        }
        None
    }

    /// Business time between `from` and `to`: the real time inside open
    /// intervals. Zero if `to <= from`. Inverse of [`Calendar::due`]:
    /// `business_time(a, due(a, t)) == t`. Only the first
    /// [`DUE_HORIZON_DAYS`] local dates of a longer span are counted, which
    /// keeps absurd spans (`DateTime::MIN_UTC..MAX_UTC`) cheap.
    #[must_use]
    pub fn business_time(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Duration {
        if to <= from {
            return Duration::ZERO;
        }
        let zone = match &self.kind {
            Kind::Always => return (to - from).to_std().unwrap_or(Duration::ZERO),
            Kind::Zoned(zone) => zone,
        };
        let first = zone.local_date(from);
        let to_date = zone.local_date(to);
        let horizon = first
            .checked_add_days(Days::new(DUE_HORIZON_DAYS))
            .unwrap_or(NaiveDate::MAX);
        let last = to_date.succ_opt().unwrap_or(to_date).min(horizon);
        let mut total = TimeDelta::zero();
        let mut cursor = from;
        for (seg_start, seg_end) in zone.segments(first, last) {
            if seg_start >= to {
                break;
            }
            let a = seg_start.max(cursor);
            let b = seg_end.min(to);
            if b > a {
                total += b - a;
                cursor = b;
            }
        }
        total.to_std().unwrap_or(Duration::ZERO)
    }
}

impl Zoned {
    /// The intervals starting on `date` (see the module docs).
    fn schedule(&self, date: NaiveDate) -> &[Interval] {
        if let Some(intervals) = self.overrides.get(&date) {
            intervals
        } else if self.holidays.contains(&date) {
            &[]
        } else {
            &self.weekly[date.weekday().num_days_from_monday() as usize]
        }
    }

    /// End (minutes after `date`'s midnight) of the previous date's overnight
    /// interval, unless `date` is a dated entry, which owns its whole date.
    fn tail_end(&self, date: NaiveDate) -> Option<u16> {
        if self.overrides.contains_key(&date) || self.holidays.contains(&date) {
            return None;
        }
        let previous = date.pred_opt()?;
        self.schedule(previous)
            .iter()
            .map(|interval| interval.end)
            .max()
            .filter(|&end| end > MINUTES_PER_DAY)
            .map(|end| end - MINUTES_PER_DAY)
    }

    /// The next date after `date` that can have open time.
    fn next_date(&self, date: NaiveDate) -> Option<NaiveDate> {
        let overnight = self
            .schedule(date)
            .iter()
            .any(|interval| interval.end > MINUTES_PER_DAY);
        if !self.weekly_empty || overnight {
            return date.succ_opt();
        }
        self.overrides
            .range((Bound::Excluded(date), Bound::Unbounded))
            .find(|(_, intervals)| !intervals.is_empty())
            .map(|(next, _)| *next)
    }

    /// The local date of `at`; near the ends of chrono's range, where the
    /// local time is not representable, the UTC date one day earlier (an
    /// earlier walk start is always safe, only slower).
    fn local_date(&self, at: DateTime<Utc>) -> NaiveDate {
        let utc = at.naive_utc();
        let offset = self.tz.offset_from_utc_datetime(&utc).fix();
        match utc.checked_add_offset(offset) {
            Some(local) => local.date(),
            None => utc.date().pred_opt().unwrap_or(utc.date()),
        }
    }

    /// The instant of a local wall-clock time: the earliest one when it is
    /// ambiguous, the first instant after the gap when it does not exist.
    fn instant(&self, local: NaiveDateTime) -> Option<DateTime<Utc>> {
        let mapped = match self.tz.from_local_datetime(&local).earliest() {
            Some(mapped) => mapped,
            None => GapInfo::new(&local, &self.tz)?.end?,
        };
        Some(mapped.with_timezone(&Utc))
    }

    /// The open segment `[start, end)` for minutes `a..b` of `date`
    /// (`b <= MINUTES_PER_DAY`), or `None` if it is empty (inside a gap) or
    /// out of chrono's range.
    fn segment(&self, date: NaiveDate, a: u16, b: u16) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        let start = self.instant(local_at(date, a)?)?;
        let end = self.instant(local_at(date, b)?)?;
        (start < end).then_some((start, end))
    }

    /// Open segments of the dates `first..=last`, in order of start.
    fn segments(&self, first: NaiveDate, last: NaiveDate) -> Segments<'_> {
        Segments {
            zone: self,
            date: first,
            last,
            tail: self.tail_end(first),
            own: self.schedule(first),
            slot: 0,
            finished: first > last,
        }
    }
}

/// `minutes` after the local midnight of `date`; `MINUTES_PER_DAY` is the
/// next midnight.
fn local_at(date: NaiveDate, minutes: u16) -> Option<NaiveDateTime> {
    if minutes >= MINUTES_PER_DAY {
        return Some(date.succ_opt()?.and_time(NaiveTime::MIN));
    }
    let time = NaiveTime::from_hms_opt(u32::from(minutes / 60), u32::from(minutes % 60), 0)?;
    Some(date.and_time(time))
}

/// Walks open segments date by date without allocating. Each date yields
/// the previous date's overnight tail, then its own intervals cut at its end,
/// so starts never decrease; segments only overlap where an override's tail
/// meets ordinary hours, which callers clip away.
#[derive(Debug)]
struct Segments<'a> {
    zone: &'a Zoned,
    date: NaiveDate,
    last: NaiveDate,
    tail: Option<u16>,
    own: &'a [Interval],
    /// 0: the tail is next; `k`: `own[k - 1]` is next.
    slot: usize,
    finished: bool,
}

impl Iterator for Segments<'_> {
    type Item = (DateTime<Utc>, DateTime<Utc>);

    fn next(&mut self) -> Option<Self::Item> {
        while !self.finished {
            let minutes = if self.slot == 0 {
                self.slot = 1;
                self.tail.map(|end| (0, end))
            } else if let Some(interval) = self.own.get(self.slot - 1) {
                self.slot += 1;
                Some((interval.start, interval.end.min(MINUTES_PER_DAY)))
            } else {
                match self.zone.next_date(self.date) {
                    Some(next) if next <= self.last => {
                        self.date = next;
                        self.tail = self.zone.tail_end(next);
                        self.own = self.zone.schedule(next);
                        self.slot = 0;
                    }
                    _ => self.finished = true,
                }
                None
            };
            if let Some((a, b)) = minutes {
                if let Some(segment) = self.zone.segment(self.date, a, b) {
                    return Some(segment);
                }
            }
        }
        None
    }
}

/// An interval as written, kept until all problems are reported.
struct Parsed<'a> {
    index: usize,
    text: &'a str,
    interval: Interval,
}

fn problem(path: String, message: String) -> CalendarProblem {
    CalendarProblem { path, message }
}

fn strip(parsed: Vec<Parsed<'_>>) -> Vec<Interval> {
    parsed.into_iter().map(|p| p.interval).collect()
}

/// Parses one day's list (`path` is `hours.mon` or `overrides.<date>`),
/// reporting malformed entries and overlapping pairs; returns the valid
/// intervals sorted by start.
fn parse_day<'a>(
    path: &str,
    list: &'a [String],
    problems: &mut Vec<CalendarProblem>,
) -> Vec<Parsed<'a>> {
    let mut day = Vec::with_capacity(list.len());
    for (index, text) in list.iter().enumerate() {
        match parse_interval(text) {
            Ok(interval) => day.push(Parsed {
                index,
                text,
                interval,
            }),
            Err(message) => problems.push(problem(format!("{path}[{index}]"), message)),
        }
    }
    for (j, later) in day.iter().enumerate() {
        for earlier in &day[..j] {
            let (x, y) = (earlier.interval, later.interval);
            if x.start < y.end && y.start < x.end {
                problems.push(problem(
                    format!("{path}[{}]", later.index),
                    format!(
                        "{:?} overlaps {path}[{}] ({:?})",
                        later.text, earlier.index, earlier.text
                    ),
                ));
            }
        }
    }
    day.sort_by_key(|p| p.interval.start);
    day
}

/// Reports weekly intervals that overlap the previous weekday's overnight
/// tail (`sat = ["22:00-06:00"], sun = ["05:00-09:00"]`).
fn check_overnight_tails(weekly: &[Vec<Parsed<'_>>; 7], problems: &mut Vec<CalendarProblem>) {
    for (day, intervals) in weekly.iter().enumerate() {
        let next_day = (day + 1) % 7;
        for overnight in intervals
            .iter()
            .filter(|p| p.interval.end > MINUTES_PER_DAY)
        {
            let tail_end = overnight.interval.end - MINUTES_PER_DAY;
            for next in weekly[next_day]
                .iter()
                .filter(|p| p.interval.start < tail_end)
            {
                problems.push(problem(
                    format!("hours.{}[{}]", WEEKDAY_KEYS[next_day], next.index),
                    format!(
                        "{:?} overlaps the after-midnight part of hours.{}[{}] ({:?})",
                        next.text, WEEKDAY_KEYS[day], overnight.index, overnight.text
                    ),
                ));
            }
        }
    }
}

/// `"HH:MM-HH:MM"`; an end not after the start runs overnight, `24:00` is
/// allowed as an end only.
fn parse_interval(text: &str) -> Result<Interval, String> {
    const EXPECTED: &str = "expected \"HH:MM-HH:MM\" such as \"09:00-18:00\"";
    let Some((start_text, end_text)) = text.split_once('-') else {
        return Err(format!("{text:?} is not a time range; {EXPECTED}"));
    };
    let (start_text, end_text) = (start_text.trim(), end_text.trim());
    let start = parse_hhmm(start_text)
        .ok_or_else(|| format!("start {start_text:?} in {text:?} is not a time; {EXPECTED}"))?;
    let end = parse_hhmm(end_text)
        .ok_or_else(|| format!("end {end_text:?} in {text:?} is not a time; {EXPECTED}"))?;
    if start == MINUTES_PER_DAY {
        return Err(format!(
            "{text:?} starts at 24:00, which is only valid as an end time"
        ));
    }
    if start == end {
        return Err(format!(
            "{text:?} is empty (start equals end); use \"00:00-24:00\" for a whole day"
        ));
    }
    let end = if end < start {
        end + MINUTES_PER_DAY
    } else {
        end
    };
    Ok(Interval { start, end })
}

/// Minutes after midnight of a strict `HH:MM` (00:00..=24:00).
fn parse_hhmm(text: &str) -> Option<u16> {
    let b = text.as_bytes();
    if b.len() != 5 || b[2] != b':' {
        return None;
    }
    let hours = two_digits(b[0], b[1])?;
    let minutes = two_digits(b[3], b[4])?;
    let valid = (hours < 24 && minutes < 60) || (hours == 24 && minutes == 0);
    valid.then_some(hours * 60 + minutes)
}

fn two_digits(tens: u8, ones: u8) -> Option<u16> {
    (tens.is_ascii_digit() && ones.is_ascii_digit())
        .then(|| u16::from(tens - b'0') * 10 + u16::from(ones - b'0'))
}

/// A strict `YYYY-MM-DD` local date.
fn parse_date(text: &str) -> Result<NaiveDate, String> {
    let b = text.as_bytes();
    let shape = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    if !shape {
        return Err(format!("{text:?} is not a date; expected \"YYYY-MM-DD\""));
    }
    let number = |range: std::ops::Range<usize>| {
        b[range]
            .iter()
            .fold(0u32, |n, c| n * 10 + u32::from(c - b'0'))
    };
    let (year, month, day) = (number(0..4), number(5..7), number(8..10));
    i32::try_from(year)
        .ok()
        .and_then(|year| NaiveDate::from_ymd_opt(year, month, day))
        .ok_or_else(|| format!("{text:?} is not a calendar date"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
#[path = "calendar_tests.rs"]
mod tests;
