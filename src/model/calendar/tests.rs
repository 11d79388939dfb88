//! Unit tests for business-hours calendars. Every instant is a literal:
//! no test reads the wall clock.
//!
//! Dates used: 2026-01-09 is a Friday; 2026-03-08 and 2026-11-01 are the
//! America/New_York DST Sundays (02:00 EST -> 03:00 EDT at 07:00Z; 02:00 EDT
//! -> 01:00 EST at 06:00Z); 2026-03-29 and 2026-10-25 are Europe/Berlin's
//! (at 01:00Z both ways). Asia/Shanghai is UTC+8 with no DST.

use super::*;
use chrono::{NaiveDateTime, TimeZone};

type Day<'a> = (&'a str, &'a [&'a str]);

fn map(entries: &[Day<'_>]) -> BTreeMap<String, Vec<String>> {
    entries
        .iter()
        .map(|(key, list)| ((*key).to_owned(), strings(list)))
        .collect()
}

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

fn cal(tz: &str, hours: &[Day<'_>], holidays: &[&str], overrides: &[Day<'_>]) -> Calendar {
    Calendar::parse(tz, &map(hours), &strings(holidays), &map(overrides)).unwrap()
}

const NINE_TO_SIX: &[&str] = &["09:00-18:00"];
const WEEKDAYS_9_18: &[Day<'static>] = &[
    ("mon", NINE_TO_SIX),
    ("tue", NINE_TO_SIX),
    ("wed", NINE_TO_SIX),
    ("thu", NINE_TO_SIX),
    ("fri", NINE_TO_SIX),
];

/// Mon–Fri 09:00–18:00 in Asia/Shanghai.
fn office() -> Calendar {
    cal("Asia/Shanghai", WEEKDAYS_9_18, &[], &[])
}

/// `"YYYY-MM-DD HH:MM[:SS]"` as local time in `tz` (must be unambiguous).
fn local(tz: &str, text: &str) -> DateTime<Utc> {
    let tz: Tz = tz.parse().unwrap();
    let format = if text.len() > 16 {
        "%Y-%m-%d %H:%M:%S"
    } else {
        "%Y-%m-%d %H:%M"
    };
    let naive = NaiveDateTime::parse_from_str(text, format).unwrap();
    tz.from_local_datetime(&naive)
        .single()
        .unwrap()
        .with_timezone(&Utc)
}

fn sh(text: &str) -> DateTime<Utc> {
    local("Asia/Shanghai", text)
}

/// RFC 3339, e.g. `"2026-03-08T06:00:00Z"`.
fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

fn hours(n: u64) -> Duration {
    Duration::from_secs(n * 3600)
}

fn minutes(n: u64) -> Duration {
    Duration::from_secs(n * 60)
}

// ---------------------------------------------------------------- basics

#[test]
fn friday_evening_email_with_four_hour_target_is_due_monday_12_50() {
    let office = office();
    let arrived = sh("2026-01-09 17:50"); // Friday
    assert_eq!(office.due(arrived, hours(4)), Some(sh("2026-01-12 12:50")));
    assert_eq!(
        office.due(arrived, hours(4)),
        Some(utc("2026-01-12T04:50:00Z"))
    );
}

#[test]
fn lunch_break_is_skipped() {
    let split = cal(
        "Asia/Shanghai",
        &[("mon", &["09:00-12:00", "13:00-18:00"])],
        &[],
        &[],
    );
    let start = sh("2026-01-12 11:00");
    assert_eq!(split.due(start, hours(4)), Some(sh("2026-01-12 16:00")));
    assert_eq!(split.business_time(start, sh("2026-01-12 16:00")), hours(4));
    assert!(!split.is_open(sh("2026-01-12 12:30")));
    assert_eq!(
        split.next_open(sh("2026-01-12 12:30")),
        Some(sh("2026-01-12 13:00"))
    );
}

#[test]
fn long_weekend_holidays_push_due_to_tuesday() {
    let office = cal(
        "Asia/Shanghai",
        WEEKDAYS_9_18,
        &["2026-01-16", "2026-01-19"],
        &[],
    );
    let thursday = sh("2026-01-15 16:00");
    assert_eq!(office.due(thursday, hours(4)), Some(sh("2026-01-20 11:00")));
    assert!(!office.is_open(sh("2026-01-16 10:00")));
    assert_eq!(
        office.business_time(thursday, sh("2026-01-20 11:00")),
        hours(4)
    );
}

#[test]
fn override_opens_a_saturday() {
    let office = cal(
        "Asia/Shanghai",
        WEEKDAYS_9_18,
        &[],
        &[("2026-01-17", &["10:00-16:00"])],
    );
    assert_eq!(
        office.due(sh("2026-01-16 17:00"), hours(3)),
        Some(sh("2026-01-17 12:00"))
    );
    assert!(office.is_open(sh("2026-01-17 15:59")));
    assert!(!office.is_open(sh("2026-01-24 12:00"))); // only that Saturday
}

#[test]
fn empty_override_closes_a_weekday() {
    let office = cal("Asia/Shanghai", WEEKDAYS_9_18, &[], &[("2026-01-20", &[])]);
    assert_eq!(
        office.due(sh("2026-01-19 17:00"), hours(2)),
        Some(sh("2026-01-21 10:00"))
    );
    assert!(!office.is_open(sh("2026-01-20 12:00")));
}

#[test]
fn override_beats_holiday() {
    let office = cal(
        "Asia/Shanghai",
        WEEKDAYS_9_18,
        &["2026-12-24"],
        &[("2026-12-24", &["09:00-12:00"])],
    );
    assert!(office.is_open(sh("2026-12-24 11:00")));
    assert!(!office.is_open(sh("2026-12-24 13:00")));
    assert_eq!(
        office.due(sh("2026-12-24 11:00"), hours(2)),
        Some(sh("2026-12-25 10:00"))
    );
}

#[test]
fn start_in_closed_period_counts_from_next_opening() {
    let office = office();
    assert_eq!(
        office.due(sh("2026-01-12 07:00"), hours(1)),
        Some(sh("2026-01-12 10:00"))
    );
    assert_eq!(
        office.due(sh("2026-01-10 12:00"), hours(1)),
        Some(sh("2026-01-12 10:00"))
    );
    assert_eq!(
        office.business_time(sh("2026-01-10 00:00"), sh("2026-01-11 23:59")),
        Duration::ZERO
    );
}

#[test]
fn openings_are_inclusive_and_closings_exclusive() {
    let office = office();
    assert!(office.is_open(sh("2026-01-12 09:00")));
    assert!(!office.is_open(sh("2026-01-12 08:59:59")));
    assert!(office.is_open(sh("2026-01-12 17:59:59")));
    assert!(!office.is_open(sh("2026-01-12 18:00")));
    assert_eq!(
        office.due(sh("2026-01-12 09:00"), hours(1)),
        Some(sh("2026-01-12 10:00"))
    );
    // Starting at the close counts from the next opening.
    assert_eq!(
        office.due(sh("2026-01-12 18:00"), hours(1)),
        Some(sh("2026-01-13 10:00"))
    );
    // A target used up exactly at the close is due at the close.
    assert_eq!(
        office.due(sh("2026-01-12 09:00"), hours(9)),
        Some(sh("2026-01-12 18:00"))
    );
}

#[test]
fn zero_target_is_start_when_open_else_next_opening() {
    let office = office();
    let open = sh("2026-01-12 10:15");
    assert_eq!(office.due(open, Duration::ZERO), Some(open));
    assert_eq!(
        office.due(sh("2026-01-12 09:00"), Duration::ZERO),
        Some(sh("2026-01-12 09:00"))
    );
    assert_eq!(
        office.due(sh("2026-01-12 18:00"), Duration::ZERO),
        Some(sh("2026-01-13 09:00"))
    );
    assert_eq!(
        office.next_open(sh("2026-01-09 20:00")),
        Some(sh("2026-01-12 09:00"))
    );
}

#[test]
fn thirty_day_target_lands_exactly() {
    // 720 h at 45 h a week is exactly 16 weeks: the close of the 16th Friday.
    let office = office();
    assert_eq!(
        office.due(sh("2026-01-05 09:00"), hours(720)),
        Some(sh("2026-04-24 18:00"))
    );
}

#[test]
fn sub_second_parts_are_kept() {
    let office = office();
    let start = sh("2026-01-12 10:00") + TimeDelta::nanoseconds(123_456_789);
    let target = Duration::new(90, 987_000_000);
    let due = office.due(start, target).unwrap();
    assert_eq!(due - start, TimeDelta::from_std(target).unwrap());
    assert_eq!(office.business_time(start, due), target);
    // Across a closed night the fraction survives too.
    let late = sh("2026-01-12 17:59:59") + TimeDelta::milliseconds(500);
    assert_eq!(
        office.due(late, Duration::from_millis(1500)),
        Some(sh("2026-01-13 09:00:01"))
    );
}

#[test]
fn business_time_is_zero_for_empty_or_reversed_ranges() {
    let office = office();
    let a = sh("2026-01-12 10:00");
    assert_eq!(office.business_time(a, a), Duration::ZERO);
    assert_eq!(
        office.business_time(a, a - TimeDelta::hours(1)),
        Duration::ZERO
    );
    assert_eq!(
        Calendar::always().business_time(a, a - TimeDelta::hours(1)),
        Duration::ZERO
    );
}

#[test]
fn business_time_spans_weeks() {
    let office = office();
    assert_eq!(
        office.business_time(sh("2026-01-05 00:00"), sh("2026-01-19 00:00")),
        hours(90)
    );
    assert_eq!(
        office.business_time(sh("2026-01-09 17:00"), sh("2026-01-12 10:30")),
        minutes(150)
    );
}

// ---------------------------------------------------------------- overnight

fn night_shift() -> Calendar {
    cal("Asia/Shanghai", &[("sat", &["22:00-06:00"])], &[], &[])
}

#[test]
fn overnight_interval_runs_into_the_next_day() {
    let night = night_shift();
    // 2026-01-10 is a Saturday.
    assert_eq!(
        night.due(sh("2026-01-10 23:00"), hours(2)),
        Some(sh("2026-01-11 01:00"))
    );
    assert_eq!(
        night.due(sh("2026-01-10 12:00"), hours(3)),
        Some(sh("2026-01-11 01:00"))
    );
    assert_eq!(
        night.due(sh("2026-01-11 05:00"), hours(2)),
        Some(sh("2026-01-17 23:00"))
    );
    assert_eq!(
        night.business_time(sh("2026-01-10 21:00"), sh("2026-01-11 07:00")),
        hours(8)
    );
    assert_eq!(
        night.business_time(sh("2026-01-10 23:30"), sh("2026-01-11 00:30")),
        hours(1)
    );
    assert!(night.is_open(sh("2026-01-11 00:00")));
    assert!(night.is_open(sh("2026-01-11 05:59:59")));
    assert!(!night.is_open(sh("2026-01-11 06:00")));
    assert!(!night.is_open(sh("2026-01-10 21:59:59")));
}

#[test]
fn holiday_closes_the_tail_of_the_previous_night() {
    let night = cal(
        "Asia/Shanghai",
        &[("sat", &["22:00-06:00"])],
        &["2026-01-11"],
        &[],
    );
    assert_eq!(
        night.business_time(sh("2026-01-10 21:00"), sh("2026-01-11 07:00")),
        hours(2)
    );
    assert!(night.is_open(sh("2026-01-10 23:59")));
    assert!(!night.is_open(sh("2026-01-11 00:00")));
    assert_eq!(
        night.due(sh("2026-01-10 23:00"), hours(2)),
        Some(sh("2026-01-17 23:00"))
    );
}

#[test]
fn holiday_cancels_its_own_overnight_shift_entirely() {
    let night = cal(
        "Asia/Shanghai",
        &[("sat", &["22:00-06:00"])],
        &["2026-01-10"],
        &[],
    );
    assert_eq!(
        night.business_time(sh("2026-01-10 00:00"), sh("2026-01-12 00:00")),
        Duration::ZERO
    );
    assert!(!night.is_open(sh("2026-01-11 01:00")));
}

#[test]
fn override_owns_its_date_including_the_previous_nights_tail() {
    let night = cal(
        "Asia/Shanghai",
        &[("sat", &["22:00-06:00"])],
        &[],
        &[("2026-01-11", &["10:00-12:00"])],
    );
    assert_eq!(
        night.business_time(sh("2026-01-10 21:00"), sh("2026-01-11 13:00")),
        hours(4)
    );
    assert!(!night.is_open(sh("2026-01-11 01:00")));
}

#[test]
fn overnight_override_tail_overlapping_ordinary_hours_counts_once() {
    let office = cal(
        "Asia/Shanghai",
        WEEKDAYS_9_18,
        &[],
        &[("2026-01-11", &["20:00-10:00"])],
    );
    // Sunday 20:00 -> Monday 10:00, then Monday's 09:00-18:00: one stretch.
    let from = sh("2026-01-11 19:00");
    let to = sh("2026-01-12 19:00");
    assert_eq!(office.business_time(from, to), hours(22));
    assert_eq!(office.due(from, hours(22)), Some(sh("2026-01-12 18:00")));
    assert!(office.is_open(sh("2026-01-12 08:00")));
}

#[test]
fn holiday_cuts_an_overnight_override_at_midnight() {
    let eve = cal(
        "Asia/Shanghai",
        &[],
        &["2027-01-01"],
        &[("2026-12-31", &["20:00-02:00"])],
    );
    let from = sh("2026-12-31 00:00");
    assert_eq!(eve.business_time(from, sh("2027-01-02 00:00")), hours(4));
    assert_eq!(eve.due(from, hours(4)), Some(sh("2027-01-01 00:00")));
    assert_eq!(eve.due(from, hours(5)), None);
}

#[test]
fn overnight_into_sunday_wraps_to_monday() {
    let cal = cal("Asia/Shanghai", &[("sun", &["20:00-02:00"])], &[], &[]);
    assert!(cal.is_open(sh("2026-01-12 01:00"))); // Monday
    assert_eq!(
        cal.business_time(sh("2026-01-11 00:00"), sh("2026-01-13 00:00")),
        hours(6)
    );
}

#[test]
fn end_of_24_00_reaches_midnight() {
    let cal = cal(
        "Asia/Shanghai",
        &[("mon", &["20:00-24:00"]), ("tue", &["00:00-02:00"])],
        &[],
        &[],
    );
    assert_eq!(
        cal.due(sh("2026-01-12 23:00"), hours(2)),
        Some(sh("2026-01-13 01:00"))
    );
    let same = self::cal("Asia/Shanghai", &[("mon", &["20:00-00:00"])], &[], &[]);
    assert_eq!(
        same.business_time(sh("2026-01-12 00:00"), sh("2026-01-13 12:00")),
        hours(4)
    );
}

// ---------------------------------------------------------------- daylight saving

const NY: &str = "America/New_York";
const BERLIN: &str = "Europe/Berlin";

#[test]
fn new_york_spring_forward() {
    // 01:00 EST = 06:00Z; 03:00 EDT = 07:00Z (02:00-03:00 local does not exist).
    let cal = cal(NY, &[("sun", &["01:00-03:00"])], &[], &[]);
    let day = (utc("2026-03-08T00:00:00Z"), utc("2026-03-09T00:00:00Z"));
    assert_eq!(cal.business_time(day.0, day.1), hours(1));
    assert_eq!(
        cal.due(utc("2026-03-08T05:00:00Z"), minutes(30)),
        Some(utc("2026-03-08T06:30:00Z"))
    );
    assert_eq!(
        cal.due(utc("2026-03-08T06:30:00Z"), minutes(30)),
        Some(utc("2026-03-08T07:00:00Z"))
    );
    // The rest carries to next Sunday, 01:00 EDT = 05:00Z.
    assert_eq!(
        cal.due(utc("2026-03-08T06:30:00Z"), minutes(45)),
        Some(utc("2026-03-15T05:15:00Z"))
    );
    assert!(!cal.is_open(utc("2026-03-08T07:00:00Z")));

    // A start inside the gap maps to the first instant after it.
    let gap = self::cal(NY, &[("sun", &["02:30-04:00"])], &[], &[]);
    assert_eq!(gap.business_time(day.0, day.1), hours(1));
    assert_eq!(gap.next_open(day.0), Some(utc("2026-03-08T07:00:00Z")));
    // 1 h that day, the other 30 min from next Sunday's 02:30 EDT = 06:30Z.
    assert_eq!(
        gap.due(day.0, minutes(90)),
        Some(utc("2026-03-15T07:00:00Z"))
    );

    // An interval entirely inside the gap is empty that day only.
    let inside = self::cal(NY, &[("sun", &["02:00-02:30"])], &[], &[]);
    assert_eq!(inside.business_time(day.0, day.1), Duration::ZERO);
    assert_eq!(inside.next_open(day.0), Some(utc("2026-03-15T06:00:00Z")));

    // The whole day, 00:00 EST = 05:00Z to 00:00 EDT = 04:00Z, is 23 real hours.
    let full = self::cal(NY, &[("sun", &["00:00-24:00"])], &[], &[]);
    assert_eq!(
        full.business_time(day.0, utc("2026-03-09T12:00:00Z")),
        hours(23)
    );
}

#[test]
fn new_york_fall_back() {
    // 00:00 EDT = 04:00Z; 03:00 EST = 08:00Z; 01:00-02:00 local happens twice.
    let cal = cal(NY, &[("sun", &["00:00-03:00"])], &[], &[]);
    let day = (utc("2026-11-01T00:00:00Z"), utc("2026-11-02T00:00:00Z"));
    assert_eq!(cal.business_time(day.0, day.1), hours(4));
    assert_eq!(
        cal.due(utc("2026-11-01T04:00:00Z"), minutes(210)),
        Some(utc("2026-11-01T07:30:00Z"))
    );
    assert!(cal.is_open(utc("2026-11-01T06:30:00Z"))); // 01:30 EST, second time round
    assert_eq!(
        cal.due(utc("2026-11-01T07:00:00Z"), hours(2)),
        Some(utc("2026-11-08T06:00:00Z"))
    );

    // An ambiguous end maps to its first occurrence.
    let early = self::cal(NY, &[("sun", &["00:00-01:30"])], &[], &[]);
    assert_eq!(early.business_time(day.0, day.1), minutes(90));
    assert!(!early.is_open(utc("2026-11-01T06:00:00Z"))); // 01:00 EST
                                                          // An ambiguous start also maps to the first occurrence, so the interval
                                                          // includes the repeated hour.
    let late = self::cal(NY, &[("sun", &["01:30-03:00"])], &[], &[]);
    assert_eq!(late.business_time(day.0, day.1), minutes(150));
    assert_eq!(late.next_open(day.0), Some(utc("2026-11-01T05:30:00Z")));

    // The whole day, 00:00 EDT = 04:00Z to 00:00 EST = 05:00Z, is 25 real hours.
    let full = self::cal(NY, &[("sun", &["00:00-24:00"])], &[], &[]);
    assert_eq!(
        full.business_time(day.0, utc("2026-11-02T12:00:00Z")),
        hours(25)
    );
}

#[test]
fn berlin_spring_forward() {
    // 01:00 CET = 00:00Z; 02:00-03:00 local skipped at 01:00Z; 04:00 CEST = 02:00Z.
    let cal = cal(BERLIN, &[("sun", &["01:00-04:00"])], &[], &[]);
    let from = utc("2026-03-28T12:00:00Z");
    assert_eq!(
        cal.business_time(from, utc("2026-03-29T12:00:00Z")),
        hours(2)
    );
    assert_eq!(
        cal.due(from, minutes(90)),
        Some(utc("2026-03-29T01:30:00Z"))
    );
    assert_eq!(
        cal.due(utc("2026-03-29T00:59:00Z"), minutes(2)),
        Some(utc("2026-03-29T01:01:00Z"))
    );
    let gap = self::cal(BERLIN, &[("sun", &["02:30-03:30"])], &[], &[]);
    assert_eq!(
        gap.business_time(from, utc("2026-03-29T12:00:00Z")),
        minutes(30)
    );
    assert_eq!(gap.next_open(from), Some(utc("2026-03-29T01:00:00Z")));
}

#[test]
fn berlin_fall_back() {
    // 01:00 CEST = 23:00Z (Sat); 02:00-03:00 local twice; 04:00 CET = 03:00Z.
    let cal = cal(BERLIN, &[("sun", &["01:00-04:00"])], &[], &[]);
    let from = utc("2026-10-24T12:00:00Z");
    assert_eq!(
        cal.business_time(from, utc("2026-10-25T12:00:00Z")),
        hours(4)
    );
    assert_eq!(cal.due(from, hours(3)), Some(utc("2026-10-25T02:00:00Z")));
    assert_eq!(cal.due(from, hours(4)), Some(utc("2026-10-25T03:00:00Z")));
    // "02:30-03:00": 02:30 CEST = 00:30Z to 03:00 CET = 02:00Z.
    let ambiguous = self::cal(BERLIN, &[("sun", &["02:30-03:00"])], &[], &[]);
    assert_eq!(
        ambiguous.business_time(from, utc("2026-10-25T12:00:00Z")),
        minutes(90)
    );
    assert_eq!(
        ambiguous.due(from, minutes(60)),
        Some(utc("2026-10-25T01:30:00Z"))
    );
}

#[test]
fn dst_across_a_working_week() {
    // 09:00-17:00 New York across the spring change: Friday 16:00 EST + 2 h
    // is Monday 10:00 EDT = 14:00Z.
    let cal = cal(
        NY,
        &[("fri", &["09:00-17:00"]), ("mon", &["09:00-17:00"])],
        &[],
        &[],
    );
    assert_eq!(
        cal.due(utc("2026-03-06T21:00:00Z"), hours(2)),
        Some(utc("2026-03-09T14:00:00Z"))
    );
    assert_eq!(
        cal.business_time(utc("2026-03-06T21:00:00Z"), utc("2026-03-09T14:00:00Z")),
        hours(2)
    );
}

#[test]
fn zoned_calendar_open_all_day_matches_always() {
    let all_day: &[&str] = &["00:00-24:00"];
    let days: Vec<Day<'_>> = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        .into_iter()
        .map(|d| (d, all_day))
        .collect();
    let always = Calendar::always();
    for tz in [NY, BERLIN, "Australia/Lord_Howe", "Asia/Kolkata"] {
        let zoned = cal(tz, &days, &[], &[]);
        let mut at = utc("2026-03-05T00:00:00Z");
        while at < utc("2026-04-10T00:00:00Z") {
            let later = at + TimeDelta::minutes(1777);
            assert!(zoned.is_open(at), "{tz} {at}");
            assert_eq!(
                zoned.business_time(at, later),
                always.business_time(at, later),
                "{tz} {at}"
            );
            assert_eq!(
                zoned.due(at, hours(50)),
                always.due(at, hours(50)),
                "{tz} {at}"
            );
            at += TimeDelta::minutes(97);
        }
    }
}

// ---------------------------------------------------------------- always

#[test]
fn always_is_plain_arithmetic() {
    let always = Calendar::always();
    let start = utc("2026-03-08T06:59:59.250Z");
    assert_eq!(
        always.due(start, hours(4)),
        Some(utc("2026-03-08T10:59:59.250Z"))
    );
    assert_eq!(always.due(start, Duration::ZERO), Some(start));
    assert_eq!(
        always.business_time(start, utc("2026-03-09T06:59:59.250Z")),
        hours(24)
    );
    assert!(always.is_open(start));
    assert_eq!(always.next_open(start), Some(start));
    assert_eq!(always.due(start, Duration::MAX), None);
}

// ---------------------------------------------------------------- properties

/// Calendars exercising every rule, with the span of starts to try.
fn property_calendars() -> Vec<(Calendar, DateTime<Utc>)> {
    vec![
        (
            cal(
                "Asia/Shanghai",
                &[
                    ("mon", &["09:00-12:00", "13:00-18:00"]),
                    ("tue", &["09:00-18:00"]),
                    ("sat", &["22:00-06:00"]),
                ],
                &["2026-01-13"],
                &[
                    ("2026-01-18", &["10:00-11:30"]),
                    ("2026-01-19", &[]),
                    ("2026-01-24", &["20:00-01:00"]),
                ],
            ),
            utc("2026-01-08T00:00:00Z"),
        ),
        (
            cal(NY, WEEKDAYS_9_18, &[], &[]),
            utc("2026-03-04T00:00:00Z"),
        ),
        (
            cal(
                NY,
                &[
                    ("sat", &["22:00-01:00"]),
                    ("sun", &["01:30-02:30", "06:00-07:00"]),
                ],
                &[],
                &[],
            ),
            utc("2026-10-28T00:00:00Z"),
        ),
        (
            cal(
                BERLIN,
                &[("sun", &["02:15-03:30"]), ("sat", &["21:00-02:15"])],
                &[],
                &[],
            ),
            utc("2026-03-25T00:00:00Z"),
        ),
        (
            cal(BERLIN, &[("sat", &["23:00-04:00"])], &[], &[]),
            utc("2026-10-21T00:00:00Z"),
        ),
    ]
}

fn starts(from: DateTime<Utc>) -> impl Iterator<Item = DateTime<Utc>> {
    // An odd step (53 min 7.25 s) lands on every phase of the day.
    (0..400).map(move |i| from + TimeDelta::milliseconds(i * 3_187_250))
}

const TARGETS: [Duration; 7] = [
    Duration::ZERO,
    Duration::from_millis(1),
    Duration::from_secs(59),
    Duration::from_secs(3600),
    Duration::from_secs(4 * 3600 + 17),
    Duration::from_secs(27 * 3600),
    Duration::from_secs(3 * 86_400),
];

#[test]
fn business_time_until_due_is_the_target() {
    for (cal, from) in property_calendars() {
        for start in starts(from) {
            for target in TARGETS {
                let due = cal.due(start, target).unwrap();
                assert!(due >= start);
                assert_eq!(
                    cal.business_time(start, due),
                    target,
                    "{cal:?} {start} {target:?}"
                );
                if !target.is_zero() {
                    // Due is the first such instant: a millisecond earlier is short.
                    let before = due - TimeDelta::milliseconds(1);
                    assert!(
                        cal.business_time(start, before) < target,
                        "{start} {target:?}"
                    );
                }
            }
        }
    }
}

#[test]
fn business_time_is_additive() {
    for (cal, from) in property_calendars() {
        for a in starts(from).step_by(7) {
            for b in starts(a).step_by(9) {
                let c = b + TimeDelta::minutes(1234);
                assert_eq!(
                    cal.business_time(a, b) + cal.business_time(b, c),
                    cal.business_time(a, c),
                    "{a} {b} {c}"
                );
            }
        }
    }
}

#[test]
fn is_open_agrees_with_business_time_and_next_open() {
    let ms = TimeDelta::milliseconds(1);
    for (cal, from) in property_calendars() {
        for at in starts(from) {
            let open = cal.is_open(at);
            let counted = cal.business_time(at, at + ms) == Duration::from_millis(1);
            assert_eq!(open, counted, "{at}");
            let next = cal.next_open(at).unwrap();
            assert!(cal.is_open(next), "{at} -> {next}");
            assert_eq!(next == at, open);
            assert_eq!(cal.business_time(at, next), Duration::ZERO);
        }
    }
}

// ---------------------------------------------------------------- bounds

#[test]
fn calendar_without_hours_never_opens() {
    let closed = cal(
        "Asia/Shanghai",
        &[],
        &["2026-01-01"],
        &[("2020-01-01", &["09:00-10:00"])],
    );
    let start = sh("2026-01-12 10:00");
    assert_eq!(closed.due(start, hours(1)), None);
    assert_eq!(closed.next_open(start), None);
    assert!(!closed.is_open(start));
    assert_eq!(
        closed.business_time(start, sh("2027-01-01 00:00")),
        Duration::ZERO
    );
}

#[test]
fn weekly_closed_calendar_finds_a_distant_override() {
    let rare = cal(
        "Asia/Shanghai",
        &[("mon", &[])],
        &[],
        &[("2031-05-06", &["23:00-01:00"])],
    );
    let start = sh("2026-01-12 10:00");
    assert_eq!(rare.next_open(start), Some(sh("2031-05-06 23:00")));
    assert_eq!(rare.due(start, minutes(90)), Some(sh("2031-05-07 00:30")));
    assert_eq!(rare.due(start, hours(3)), None);
    assert_eq!(rare.business_time(start, sh("2032-01-01 00:00")), hours(2));
}

#[test]
fn extreme_inputs_do_not_panic() {
    let extremes = [
        DateTime::<Utc>::MIN_UTC,
        DateTime::<Utc>::MAX_UTC,
        DateTime::<Utc>::MIN_UTC + TimeDelta::days(1),
        DateTime::<Utc>::MAX_UTC - TimeDelta::days(1),
        utc("2026-01-12T00:00:00Z"),
    ];
    let calendars = [
        office(),
        cal("Pacific/Kiritimati", &[("mon", &["00:00-24:00"])], &[], &[]),
        cal("Etc/GMT+12", &[("sun", &["23:00-01:00"])], &[], &[]),
        Calendar::always(),
    ];
    for cal in &calendars {
        for &a in &extremes {
            let _ = cal.is_open(a);
            let _ = cal.next_open(a);
            for target in [
                Duration::ZERO,
                hours(1),
                Duration::MAX,
                Duration::from_secs(u64::MAX / 2),
            ] {
                let _ = cal.due(a, target);
            }
            for &b in &extremes[2..] {
                let _ = cal.business_time(a, b);
            }
        }
    }
    // A target beyond the horizon is None, not a hang.
    assert_eq!(
        office().due(
            utc("2026-01-12T00:00:00Z"),
            Duration::from_secs(u64::MAX / 2)
        ),
        None
    );
    assert_eq!(
        office().due(utc("2026-01-12T00:00:00Z"), hours(24 * 365 * 300)),
        None
    );
}

// ---------------------------------------------------------------- parse

#[test]
fn parse_reports_every_problem_with_its_path() {
    let problems = Calendar::parse(
        "Mars/Olympus_Mons",
        &map(&[
            (
                "mon",
                &["09:00-12:00", "11:00-13:00", "9:00-10:00", "13:00-25:00"],
            ),
            ("tue", &["09:00-09:00", "24:00-02:00", "0900-1000"]),
            ("funday", &["09:00-10:00"]),
            ("sat", &["22:00-06:00"]),
            ("sun", &["05:00-07:00"]),
        ]),
        &strings(&["2026-10-01", "2026-02-30", "01/10/2026"]),
        &map(&[
            ("2026-12-24", &["09:00-12:00", "10:00-11:00"]),
            ("Christmas", &["10:00-16:00", "bad"]),
        ]),
    )
    .unwrap_err();
    let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "timezone",
            "hours.funday",
            "hours.mon[2]",
            "hours.mon[3]",
            "hours.mon[1]",
            "hours.tue[0]",
            "hours.tue[1]",
            "hours.tue[2]",
            "hours.sun[0]",
            "holidays[1]",
            "holidays[2]",
            "overrides.2026-12-24[1]",
            "overrides.Christmas[1]",
            "overrides.Christmas",
        ]
    );
    let message = |path: &str| {
        problems
            .iter()
            .find(|p| p.path == path)
            .map(|p| p.message.clone())
            .unwrap()
    };
    assert!(message("timezone").contains("Mars/Olympus_Mons"));
    assert!(message("hours.funday").contains("mon, tue, wed, thu, fri, sat, sun"));
    assert!(message("hours.mon[1]").contains("overlaps hours.mon[0]"));
    assert!(message("hours.mon[2]").contains("\"9:00\""));
    assert!(message("hours.mon[3]").contains("\"25:00\""));
    assert!(message("hours.tue[0]").contains("start equals end"));
    assert!(message("hours.tue[1]").contains("24:00"));
    assert!(message("hours.sun[0]").contains("after-midnight part of hours.sat[0]"));
    assert!(message("holidays[1]").contains("not a calendar date"));
    assert!(message("holidays[2]").contains("YYYY-MM-DD"));
    assert!(message("overrides.2026-12-24[1]").contains("overlaps overrides.2026-12-24[0]"));
    assert!(message("overrides.Christmas").contains("YYYY-MM-DD"));
    assert_eq!(
        problems[0].to_string(),
        format!("timezone: {}", problems[0].message)
    );
}

#[test]
fn parse_accepts_edge_forms() {
    let cal = Calendar::parse(
        "UTC",
        &map(&[
            ("mon", &["00:00-24:00"]),
            ("tue", &[" 22:00 - 00:00 "]),
            ("wed", &[]),
        ]),
        &[],
        &map(&[("2026-12-27", &[])]),
    );
    assert!(cal.is_ok(), "{cal:?}");
}

#[test]
fn parse_survives_hostile_strings() {
    let nasty = [
        "",
        "-",
        "--",
        "é9:00-10:00",
        "09:00-10:00-11:00",
        "99:99-00:00",
        "\u{0}",
        "09:0٣-10:00",
    ];
    for text in nasty {
        let result = Calendar::parse(
            text,
            &map(&[("mon", &[text])]),
            &strings(&[text]),
            &map(&[(text, &[text])]),
        );
        let problems = result.unwrap_err();
        assert!(problems.iter().any(|p| p.path == "timezone"), "{text:?}");
        assert!(
            problems.iter().any(|p| p.path == "hours.mon[0]"),
            "{text:?}"
        );
        assert!(problems.iter().any(|p| p.path == "holidays[0]"), "{text:?}");
    }
}
