//! A zoned calendar at work: the schedule of each local date, local wall-clock
//! times mapped to instants (across daylight-saving changes), and the walk over
//! open segments that `is_open`, `due` and `business_time` share.

use std::ops::Bound;

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeZone, Utc};
use chrono_tz::GapInfo;

use super::{Interval, Zoned, MINUTES_PER_DAY};

impl Zoned {
    /// The intervals starting on `date` (see the module docs).
    pub(super) fn schedule(&self, date: NaiveDate) -> &[Interval] {
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
    pub(super) fn tail_end(&self, date: NaiveDate) -> Option<u16> {
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
    pub(super) fn next_date(&self, date: NaiveDate) -> Option<NaiveDate> {
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
    pub(super) fn local_date(&self, at: DateTime<Utc>) -> NaiveDate {
        let utc = at.naive_utc();
        let offset = self.tz.offset_from_utc_datetime(&utc).fix();
        match utc.checked_add_offset(offset) {
            Some(local) => local.date(),
            None => utc.date().pred_opt().unwrap_or(utc.date()),
        }
    }

    /// The instant of a local wall-clock time: the earliest one when it is
    /// ambiguous, the first instant after the gap when it does not exist.
    pub(super) fn instant(&self, local: NaiveDateTime) -> Option<DateTime<Utc>> {
        let mapped = match self.tz.from_local_datetime(&local).earliest() {
            Some(mapped) => mapped,
            None => GapInfo::new(&local, &self.tz)?.end?,
        };
        Some(mapped.with_timezone(&Utc))
    }

    /// The open segment `[start, end)` for minutes `a..b` of `date`
    /// (`b <= MINUTES_PER_DAY`), or `None` if it is empty (inside a gap) or
    /// out of chrono's range.
    pub(super) fn segment(&self, date: NaiveDate, a: u16, b: u16) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        let start = self.instant(local_at(date, a)?)?;
        let end = self.instant(local_at(date, b)?)?;
        (start < end).then_some((start, end))
    }

    /// Open segments of the dates `first..=last`, in order of start.
    pub(super) fn segments(&self, first: NaiveDate, last: NaiveDate) -> Segments<'_> {
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
pub(super) fn local_at(date: NaiveDate, minutes: u16) -> Option<NaiveDateTime> {
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
pub(super) struct Segments<'a> {
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
