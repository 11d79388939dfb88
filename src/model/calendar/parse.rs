//! Reading a `[calendars.<name>]` table's strings: `HH:MM-HH:MM` intervals,
//! `YYYY-MM-DD` dates, the weekly hours' overlap checks, each problem with its
//! key path.

use chrono::NaiveDate;

use super::{CalendarProblem, Interval, MINUTES_PER_DAY, WEEKDAY_KEYS};

/// An interval as written, kept until all problems are reported.
pub(super) struct Parsed<'a> {
    index: usize,
    text: &'a str,
    interval: Interval,
}

pub(super) fn problem(path: String, message: String) -> CalendarProblem {
    CalendarProblem { path, message }
}

pub(super) fn strip(parsed: Vec<Parsed<'_>>) -> Vec<Interval> {
    parsed.into_iter().map(|p| p.interval).collect()
}

/// Parses one day's list (`path` is `hours.mon` or `overrides.<date>`),
/// reporting malformed entries and overlapping pairs; returns the valid
/// intervals sorted by start.
pub(super) fn parse_day<'a>(
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
pub(super) fn check_overnight_tails(weekly: &[Vec<Parsed<'_>>; 7], problems: &mut Vec<CalendarProblem>) {
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
pub(super) fn parse_date(text: &str) -> Result<NaiveDate, String> {
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
