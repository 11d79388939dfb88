//! How the office-hours and waiting replies say times to people: the next
//! opening in the calendar's zone (`明天 09:00`, `tomorrow at 9:00`, a
//! weekday name within the week, a date further out) and a wait rounded
//! the way a person would say it (`约 5 分钟`, `about 5 minutes`).

use std::time::Duration;

use chrono::{DateTime, Datelike, Timelike, Utc};
use chrono_tz::Tz;

const ZH_WEEKDAYS: [&str; 7] = ["周一", "周二", "周三", "周四", "周五", "周六", "周日"];
const EN_WEEKDAYS: [&str; 7] = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];
const EN_MONTHS: [&str; 12] =
    ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];

/// Whether texts in `language` are rendered in Chinese (else English).
pub fn is_zh(language: Option<&str>) -> bool {
    language.is_some_and(|l| l == "zh" || l.starts_with("zh-"))
}

/// The opening `next` as seen at `now`, in `tz`.
pub fn opens_at(next: DateTime<Utc>, now: DateTime<Utc>, tz: Tz, zh: bool) -> String {
    let (at, today) = (next.with_timezone(&tz), now.with_timezone(&tz).date_naive());
    let days = (at.date_naive() - today).num_days();
    let (h, m) = (at.hour(), at.minute());
    let weekday = at.weekday().num_days_from_monday() as usize;
    if zh {
        let clock = format!("{h:02}:{m:02}");
        match days {
            ..=0 => format!("今天 {clock}"),
            1 => format!("明天 {clock}"),
            2 => format!("后天 {clock}"),
            3..=6 => format!("{} {clock}", ZH_WEEKDAYS[weekday]),
            _ => format!("{}月{}日 {clock}", at.month(), at.day()),
        }
    } else {
        let clock = format!("{h}:{m:02}");
        match days {
            ..=0 => format!("today at {clock}"),
            1 => format!("tomorrow at {clock}"),
            2..=6 => format!("on {} at {clock}", EN_WEEKDAYS[weekday]),
            _ => format!("on {} {} at {clock}", at.day(), EN_MONTHS[at.month0() as usize]),
        }
    }
}

/// A wait as people say it: whole minutes up to 10, then fives up to an
/// hour, then halves of hours; `None` (no recent assignments to go by) is
/// said as such.
pub fn wait(estimate: Option<Duration>, zh: bool) -> String {
    let Some(d) = estimate else {
        return if zh { "暂时无法估计".to_owned() } else { "hard to say yet".to_owned() };
    };
    let minutes = d.as_secs().div_ceil(60).max(1);
    let (n, unit_zh, unit_en) = match minutes {
        1..=10 => (minutes as f64, "分钟", "minute"),
        11..=59 => (((minutes + 2) / 5 * 5).min(60) as f64, "分钟", "minute"),
        _ => ((minutes as f64 / 30.0).round() / 2.0, "小时", "hour"),
    };
    let number = if n.fract() == 0.0 { format!("{n:.0}") } else { format!("{n:.1}") };
    if zh {
        format!("约 {number} {unit_zh}")
    } else if (n - 1.0).abs() < f64::EPSILON {
        format!("about {} {unit_en}", if unit_en == "hour" { "an" } else { "a" })
    } else {
        format!("about {number} {unit_en}s")
    }
}

/// `template` with each `{name}` of `values` replaced.
pub fn fill(template: &str, values: &[(&str, &str)]) -> String {
    values.iter().fold(template.to_owned(), |t, (name, value)| t.replace(&format!("{{{name}}}"), value))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::model::calendar::Calendar;

    /// Shanghai office hours, Monday to Friday 09:00-18:00, with a holiday
    /// on Monday 2026-12-28.
    fn office() -> Calendar {
        let day = vec!["09:00-18:00".to_owned()];
        let hours: BTreeMap<String, Vec<String>> =
            ["mon", "tue", "wed", "thu", "fri"].iter().map(|d| ((*d).to_owned(), day.clone())).collect();
        Calendar::parse("Asia/Shanghai", &hours, &["2026-12-28".to_owned()], &BTreeMap::new()).unwrap()
    }

    fn at(rfc3339: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(rfc3339).unwrap().with_timezone(&Utc)
    }

    fn both(now: &str) -> (String, String) {
        let cal = office();
        let now = at(now);
        let next = cal.next_open(now).unwrap();
        let tz = cal.timezone().unwrap();
        (opens_at(next, now, tz, true), opens_at(next, now, tz, false))
    }

    #[test]
    fn the_next_opening_is_said_in_the_calendar_s_zone_and_the_customer_s_language() {
        // Thursday 23:00 in Shanghai (15:00 UTC): Friday morning.
        assert_eq!(both("2026-12-24T23:00:00+08:00"), ("明天 09:00".into(), "tomorrow at 9:00".into()));
        // Early on Thursday: today.
        assert_eq!(both("2026-12-24T07:30:00+08:00"), ("今天 09:00".into(), "today at 9:00".into()));
        // Friday 23:00 with the weekend and Monday's holiday ahead: Tuesday.
        assert_eq!(both("2026-12-25T23:00:00+08:00"), ("周二 09:00".into(), "on Tuesday at 9:00".into()));
        // Saturday: the day after tomorrow is still the holiday; Tuesday again.
        assert_eq!(both("2026-12-26T10:00:00+08:00"), ("周二 09:00".into(), "on Tuesday at 9:00".into()));
        // Sunday evening, the holiday Monday between: the day after tomorrow.
        assert_eq!(both("2026-12-27T20:00:00+08:00"), ("后天 09:00".into(), "on Tuesday at 9:00".into()));
        // The same instant by UTC is already Friday in Shanghai.
        assert_eq!(both("2026-12-24T16:30:00Z"), ("今天 09:00".into(), "today at 9:00".into()));
    }

    #[test]
    fn a_far_opening_is_a_date() {
        let tz: Tz = "Asia/Shanghai".parse().unwrap();
        let (now, next) = (at("2026-09-30T20:00:00+08:00"), at("2026-10-08T09:30:00+08:00"));
        assert_eq!(opens_at(next, now, tz, true), "10月8日 09:30");
        assert_eq!(opens_at(next, now, tz, false), "on 8 October at 9:30");
    }

    #[test]
    fn waits_are_rounded_for_people() {
        let m = |n: u64| Some(Duration::from_secs(n * 60));
        assert_eq!(wait(Some(Duration::from_secs(20)), false), "about a minute");
        assert_eq!(wait(m(4), false), "about 4 minutes");
        assert_eq!(wait(m(4), true), "约 4 分钟");
        assert_eq!(wait(m(13), false), "about 15 minutes");
        assert_eq!(wait(m(22), true), "约 20 分钟");
        assert_eq!(wait(m(58), false), "about 60 minutes");
        assert_eq!(wait(m(70), false), "about an hour");
        assert_eq!(wait(m(100), true), "约 1.5 小时");
        assert_eq!(wait(None, false), "hard to say yet");
        assert_eq!(fill("第 {position} 位，{wait}", &[("position", "3"), ("wait", "约 5 分钟")]), "第 3 位，约 5 分钟");
    }
}
