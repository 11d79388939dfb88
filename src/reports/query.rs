//! Reading the report buckets back: the rows of a summary (grouped by
//! queue, agent, channel, day or hour), today's rows for the dashboard,
//! and the last hour minute by minute.
//!
//! A summary over `[from, to)` adds up every UTC hour bucket that overlaps
//! it (hours are the resolution). Rates are facts in the range over the
//! conversations opened in it (a conversation opened before the range and
//! resolved in it counts as resolved only), so a rate may pass 1.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use switchboard_core::Channel;
use utoipa::ToSchema;

use super::histogram::{Histogram, Percentiles};
use crate::app::App;
use crate::config::ReportsSettings;
use crate::store::{Store, StoreError};

/// The SLA clocks a row reports on.
pub const CLOCKS: [&str; 3] = ["first_response", "next_response", "resolution"];

/// How a summary's rows are grouped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum GroupBy {
    /// One row per queue.
    Queue,
    /// One row per agent.
    Agent,
    /// One row per channel.
    Channel,
    /// One row per day (`[reports] timezone`), every day of the range.
    Day,
    /// One row per UTC hour, every hour of the range.
    Hour,
}

impl GroupBy {
    /// The dimension prefix of the buckets' fields (`None`: the `all`
    /// dimension, grouped by time).
    fn dimension(self) -> Option<&'static str> {
        match self {
            GroupBy::Queue => Some("q:"),
            GroupBy::Agent => Some("a:"),
            GroupBy::Channel => Some("c:"),
            GroupBy::Day | GroupBy::Hour => None,
        }
    }
}

/// One clock's met and breached runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, ToSchema)]
pub struct SlaFigures {
    /// Runs that stopped within their target.
    pub met: u64,
    /// Runs that breached.
    pub breached: u64,
    /// met / (met + breached); `null` without either.
    pub attainment: Option<f64>,
}

/// Satisfaction scores.
#[derive(Clone, Debug, Default, PartialEq, Serialize, ToSchema)]
pub struct Csat {
    /// How many ratings.
    pub responses: u64,
    /// Their mean score; `null` without ratings.
    pub average: Option<f64>,
    /// Ratings per score.
    pub scores: BTreeMap<String, u64>,
}

/// The figures of one group.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct Row {
    /// The queue, agent or channel; the day (`YYYY-MM-DD`) or the hour
    /// (RFC 3339, UTC).
    pub group: String,
    /// Conversations opened (per agent: assigned to the agent).
    pub conversations: u64,
    /// Resolves.
    pub resolved: u64,
    /// Reopenings.
    pub reopened: u64,
    /// Transfers (per agent: away from the agent).
    pub transferred: u64,
    /// Conversations opened tagged `complaint`.
    pub complaints: u64,
    /// Opening → first agent reply, seconds (±19 %).
    pub first_response_secs: Option<Percentiles>,
    /// Customer message → next agent reply, seconds (±19 %).
    pub next_response_secs: Option<Percentiles>,
    /// Opening (or reopening) → resolve, seconds (±19 %).
    pub resolution_secs: Option<Percentiles>,
    /// resolved / conversations (0 without conversations).
    pub resolution_rate: f64,
    /// reopened / conversations.
    pub reopen_rate: f64,
    /// transferred / conversations.
    pub transfer_rate: f64,
    /// Per clock (`first_response`, `next_response`, `resolution`).
    pub sla_attainment: BTreeMap<String, SlaFigures>,
    /// Satisfaction.
    pub csat: Csat,
    /// complaints / conversations.
    pub complaint_rate: f64,
}

/// The dashboard's figures of today (since midnight in `[reports] timezone`).
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct Today {
    /// One row per queue.
    pub queues: Vec<Row>,
    /// One row per agent.
    pub agents: Vec<Row>,
}

/// One minute of the last hour.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct Minute {
    /// Its start.
    pub minute: DateTime<Utc>,
    /// Customer messages by channel (every channel, zeros included).
    pub inbound: BTreeMap<String, u64>,
    /// First responses given in the minute, seconds (±19 %).
    pub first_response_secs: Option<Percentiles>,
}

/// The raw counts of one dimension over some hours.
#[derive(Clone, Debug, Default)]
struct Figures {
    conversations: u64,
    resolved: u64,
    reopened: u64,
    transferred: u64,
    complaints: u64,
    first_response: Histogram,
    next_response: Histogram,
    resolution: Histogram,
    sla: BTreeMap<String, (u64, u64)>,
    csat_n: u64,
    csat_sum: u64,
    scores: BTreeMap<String, u64>,
}

impl Figures {
    /// Adds one field (`<figure>` after the dimension) of a bucket.
    fn add(&mut self, figure: &str, n: u64) {
        let mut parts = figure.split('|');
        match (parts.next(), parts.next(), parts.next()) {
            (Some("conv"), None, _) => self.conversations += n,
            (Some("res"), None, _) => self.resolved += n,
            (Some("reo"), None, _) => self.reopened += n,
            (Some("xfer"), None, _) => self.transferred += n,
            (Some("cmp"), None, _) => self.complaints += n,
            (Some(h @ ("fr" | "nr" | "rt")), Some(bin), None) => {
                if let Ok(bin) = bin.parse() {
                    let hist = match h {
                        "fr" => &mut self.first_response,
                        "nr" => &mut self.next_response,
                        _ => &mut self.resolution,
                    };
                    hist.add(bin, n);
                }
            }
            (Some("sla"), Some(clock), Some(outcome)) => {
                let e = self.sla.entry(clock.to_owned()).or_default();
                match outcome {
                    "met" => e.0 += n,
                    "br" => e.1 += n,
                    _ => {}
                }
            }
            (Some("csat"), Some("n"), None) => self.csat_n += n,
            (Some("csat"), Some("sum"), None) => self.csat_sum += n,
            (Some("csat"), Some(score), None) => *self.scores.entry(score.to_owned()).or_default() += n,
            _ => {}
        }
    }

    fn merge(&mut self, o: &Figures) {
        self.conversations += o.conversations;
        self.resolved += o.resolved;
        self.reopened += o.reopened;
        self.transferred += o.transferred;
        self.complaints += o.complaints;
        self.first_response.merge(&o.first_response);
        self.next_response.merge(&o.next_response);
        self.resolution.merge(&o.resolution);
        for (k, (m, b)) in &o.sla {
            let e = self.sla.entry(k.clone()).or_default();
            e.0 += m;
            e.1 += b;
        }
        self.csat_n += o.csat_n;
        self.csat_sum += o.csat_sum;
        for (k, n) in &o.scores {
            *self.scores.entry(k.clone()).or_default() += n;
        }
    }

    fn row(&self, group: String) -> Row {
        #[allow(clippy::cast_precision_loss)]
        let rate = |n: u64| if self.conversations == 0 { 0.0 } else { n as f64 / self.conversations as f64 };
        let sla = CLOCKS
            .iter()
            .map(|&c| {
                let (met, breached) = self.sla.get(c).copied().unwrap_or_default();
                #[allow(clippy::cast_precision_loss)]
                let attainment = (met + breached > 0).then(|| met as f64 / (met + breached) as f64);
                (c.to_owned(), SlaFigures { met, breached, attainment })
            })
            .collect();
        #[allow(clippy::cast_precision_loss)]
        let average = (self.csat_n > 0).then(|| self.csat_sum as f64 / self.csat_n as f64);
        Row {
            group,
            conversations: self.conversations,
            resolved: self.resolved,
            reopened: self.reopened,
            transferred: self.transferred,
            complaints: self.complaints,
            first_response_secs: self.first_response.percentiles(),
            next_response_secs: self.next_response.percentiles(),
            resolution_secs: self.resolution.percentiles(),
            resolution_rate: rate(self.resolved),
            reopen_rate: rate(self.reopened),
            transfer_rate: rate(self.transferred),
            sla_attainment: sla,
            csat: Csat { responses: self.csat_n, average, scores: self.scores.clone() },
            complaint_rate: rate(self.complaints),
        }
    }
}

/// The figures of one bucket by dimension (`all`, `q:<queue>`, …).
fn by_dimension(bucket: &HashMap<String, i64>) -> BTreeMap<&str, Figures> {
    let mut out: BTreeMap<&str, Figures> = BTreeMap::new();
    for (field, &n) in bucket {
        if let Some((dim, figure)) = field.split_once('|') {
            out.entry(dim).or_default().add(figure, u64::try_from(n).unwrap_or(0));
        }
    }
    out
}

/// The UTC hours (Unix time / 3600) that overlap `[from, to)`.
pub fn hours(from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<i64> {
    let first = from.timestamp().div_euclid(3600);
    let end = (to.timestamp() + 3599).div_euclid(3600);
    (first..end.max(first + 1)).collect()
}

/// The day (in `tz`) an hour bucket belongs to: the day of its start.
fn day_of(hour: i64, tz: chrono_tz::Tz) -> NaiveDate {
    DateTime::<Utc>::from_timestamp(hour * 3600, 0).unwrap_or_default().with_timezone(&tz).date_naive()
}

/// The start of an hour bucket.
fn hour_start(hour: i64) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp(hour * 3600, 0).unwrap_or_default()
}

/// The rows of `[from, to)` grouped by `group_by`.
pub async fn summary(app: &App, from: DateTime<Utc>, to: DateTime<Utc>, group_by: GroupBy) -> Result<Vec<Row>, StoreError> {
    summary_from(&app.store, &app.settings.reports, from, to, group_by).await
}

/// [`summary`] over a store (tests read without a running instance).
pub async fn summary_from(
    store: &Store,
    settings: &ReportsSettings,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    group_by: GroupBy,
) -> Result<Vec<Row>, StoreError> {
    let hours = hours(from, to);
    let buckets = store.report_hours(&hours).await?;
    Ok(rows(&hours, &buckets, group_by, settings.tz()))
}

/// Groups the buckets of `hours` into rows.
fn rows(hours: &[i64], buckets: &[HashMap<String, i64>], group_by: GroupBy, tz: chrono_tz::Tz) -> Vec<Row> {
    let mut groups: BTreeMap<String, Figures> = BTreeMap::new();
    for (&hour, bucket) in hours.iter().zip(buckets) {
        let dims = by_dimension(bucket);
        match group_by.dimension() {
            Some(prefix) => {
                for (dim, figures) in dims.iter().filter_map(|(d, f)| Some((d.strip_prefix(prefix)?, f))) {
                    groups.entry(dim.to_owned()).or_default().merge(figures);
                }
            }
            None => {
                let key = match group_by {
                    GroupBy::Day => day_of(hour, tz).format("%Y-%m-%d").to_string(),
                    _ => hour_start(hour).to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                };
                // Every day or hour of the range, zeros included.
                let entry = groups.entry(key).or_default();
                if let Some(all) = dims.get("all") {
                    entry.merge(all);
                }
            }
        }
    }
    groups.into_iter().map(|(group, f)| f.row(group)).collect()
}

/// Today's rows per queue and per agent (since midnight in
/// `[reports] timezone`, by whole hours).
pub async fn today(app: &App, now: DateTime<Utc>) -> Result<Today, StoreError> {
    today_from(&app.store, &app.settings.reports, now).await
}

/// [`today`] over a store.
pub async fn today_from(store: &Store, settings: &ReportsSettings, now: DateTime<Utc>) -> Result<Today, StoreError> {
    let from = start_of_day(now, settings.tz());
    let hours = hours(from, now);
    let buckets = store.report_hours(&hours).await?;
    Ok(Today {
        queues: rows(&hours, &buckets, GroupBy::Queue, settings.tz()),
        agents: rows(&hours, &buckets, GroupBy::Agent, settings.tz()),
    })
}

/// Midnight of `now`'s day in `tz` (the first instant of the day when
/// midnight falls in a DST gap), as UTC.
pub fn start_of_day(now: DateTime<Utc>, tz: chrono_tz::Tz) -> DateTime<Utc> {
    let date = now.with_timezone(&tz).date_naive();
    let midnight = date.and_hms_opt(0, 0, 0).unwrap_or_default();
    (0..4)
        .find_map(|h| tz.from_local_datetime(&(midnight + Duration::hours(h))).earliest())
        .map_or_else(|| now - Duration::hours(24), |t| t.with_timezone(&Utc))
}

/// The 60 minutes up to and including `now`'s, oldest first.
pub async fn last_hour(app: &App, now: DateTime<Utc>) -> Result<Vec<Minute>, StoreError> {
    last_hour_from(&app.store, now).await
}

/// [`last_hour`] over a store.
pub async fn last_hour_from(store: &Store, now: DateTime<Utc>) -> Result<Vec<Minute>, StoreError> {
    let current = now.timestamp().div_euclid(60);
    let minutes: Vec<i64> = (current - 59..=current).collect();
    let buckets = store.report_minutes(&minutes).await?;
    Ok(minutes.iter().zip(&buckets).map(|(&m, bucket)| minute(m, bucket)).collect())
}

fn minute(m: i64, bucket: &HashMap<String, i64>) -> Minute {
    let mut inbound: BTreeMap<String, u64> = Channel::ALL.iter().map(|c| (c.as_str().to_owned(), 0)).collect();
    let mut first = Histogram::default();
    for (field, &n) in bucket {
        let n = u64::try_from(n).unwrap_or(0);
        if let Some(channel) = field.strip_prefix("in:") {
            *inbound.entry(channel.to_owned()).or_default() += n;
        } else if let Some(bin) = field.strip_prefix("fr|").and_then(|b| b.parse().ok()) {
            first.add(bin, n);
        }
    }
    Minute { minute: DateTime::<Utc>::from_timestamp(m * 60, 0).unwrap_or_default(), inbound, first_response_secs: first.percentiles() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(fields: &[(&str, i64)]) -> HashMap<String, i64> {
        fields.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
    }

    #[test]
    fn hours_cover_the_range_by_whole_hours() {
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let h = hours(t("2026-01-01T10:30:00Z"), t("2026-01-01T12:00:00Z"));
        assert_eq!(h.len(), 2);
        assert_eq!(hour_start(h[0]), t("2026-01-01T10:00:00Z"));
        assert_eq!(hours(t("2026-01-01T10:00:00Z"), t("2026-01-01T12:00:01Z")).len(), 3);
    }

    #[test]
    fn rows_add_up_dimensions_and_rates() {
        let h = 500_000;
        let buckets = vec![
            bucket(&[("all|conv", 4), ("q:general|conv", 3), ("q:returns|conv", 1), ("q:general|res", 2), ("q:general|cmp", 1),
                ("q:general|fr|5", 2), ("q:general|sla|first_response|met", 3), ("q:general|sla|first_response|br", 1),
                ("q:general|csat|n", 2), ("q:general|csat|sum", 9), ("q:general|csat|4", 1), ("q:general|csat|5", 1)]),
            bucket(&[("all|conv", 1), ("q:general|conv", 1), ("q:general|xfer", 1)]),
        ];
        let rows = rows(&[h, h + 1], &buckets, GroupBy::Queue, chrono_tz::UTC);
        assert_eq!(rows.len(), 2);
        let g = &rows[0];
        assert_eq!((g.group.as_str(), g.conversations, g.resolved, g.transferred, g.complaints), ("general", 4, 2, 1, 1));
        assert_eq!((g.resolution_rate, g.transfer_rate, g.complaint_rate, g.reopen_rate), (0.5, 0.25, 0.25, 0.0));
        assert_eq!(g.first_response_secs.unwrap().p50, super::super::histogram::representative(5));
        assert_eq!(g.next_response_secs, None);
        assert_eq!(g.sla_attainment["first_response"], SlaFigures { met: 3, breached: 1, attainment: Some(0.75) });
        assert_eq!(g.sla_attainment["resolution"].attainment, None);
        assert_eq!((g.csat.responses, g.csat.average, g.csat.scores["5"]), (2, Some(4.5), 1));
        assert_eq!(rows[1].group, "returns");
        let by_hour = super::rows(&[h, h + 1, h + 2], &[buckets[0].clone(), buckets[1].clone(), HashMap::new()], GroupBy::Hour, chrono_tz::UTC);
        assert_eq!(by_hour.iter().map(|r| r.conversations).collect::<Vec<_>>(), vec![4, 1, 0], "every hour, zeros included");
    }

    #[test]
    fn days_follow_the_configured_zone() {
        let tz: chrono_tz::Tz = "Asia/Shanghai".parse().unwrap();
        // 2026-01-01T15:00Z is 23:00 in Shanghai, 16:00Z the next day.
        let h = DateTime::parse_from_rfc3339("2026-01-01T15:00:00Z").unwrap().timestamp() / 3600;
        let buckets = vec![bucket(&[("all|conv", 1)]), bucket(&[("all|conv", 2)])];
        let rows = rows(&[h, h + 1], &buckets, GroupBy::Day, tz);
        assert_eq!(rows.iter().map(|r| (r.group.as_str(), r.conversations)).collect::<Vec<_>>(), vec![("2026-01-01", 1), ("2026-01-02", 2)]);
        let now = DateTime::parse_from_rfc3339("2026-01-01T17:30:00Z").unwrap().with_timezone(&Utc);
        assert_eq!(start_of_day(now, tz), DateTime::parse_from_rfc3339("2026-01-01T16:00:00Z").unwrap().with_timezone(&Utc));
    }

    #[test]
    fn a_minute_lists_every_channel() {
        let m = minute(10, &bucket(&[("in:sms", 3), ("fr|7", 1)]));
        assert_eq!(m.inbound.len(), Channel::ALL.len());
        assert_eq!((m.inbound["sms"], m.inbound["email"]), (3, 0));
        assert_eq!(m.first_response_secs.unwrap().p90, super::super::histogram::representative(7));
        assert_eq!(minute(10, &HashMap::new()).first_response_secs, None);
    }
}
