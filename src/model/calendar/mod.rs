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
//!
//! This module holds the types and the public questions; `zoned` walks a
//! zoned calendar's open segments and maps local times to instants,
//! `parse` reads the `[calendars.<name>]` strings.

mod parse;
mod zoned;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Days, NaiveDate, TimeDelta, Utc};
use chrono_tz::Tz;

use parse::{check_overnight_tails, parse_date, parse_day, problem, strip, Parsed};

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

    /// The zone its hours are in (`None` for `always`).
    #[must_use]
    pub fn timezone(&self) -> Option<Tz> {
        match &self.kind {
            Kind::Always => None,
            Kind::Zoned(zone) => Some(zone.tz),
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
