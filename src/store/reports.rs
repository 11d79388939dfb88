//! The report aggregates (`{P}:rpt:*`): one event counted by
//! `lua/reports.lua`, and the hour and minute buckets read back. What is
//! counted is defined in `crate::reports`.

use std::collections::HashMap;

use super::{Store, StoreError};

/// How long a conversation's report state and the seen events live after
/// their last event (longer than any order wait or redelivery).
pub const REPORT_STATE_TTL_SECS: u64 = 35 * 24 * 3600;

/// How long a minute bucket lives after its minute (the dashboard shows
/// the last hour).
pub const REPORT_MINUTE_TTL_SECS: u64 = 2 * 3600;

/// One event as the report script needs it.
#[derive(Clone, Debug, Default)]
pub struct ReportEvent<'a> {
    /// The event id (idempotency).
    pub id: &'a str,
    /// The CloudEvents type.
    pub event_type: &'a str,
    /// The conversation.
    pub conversation: &'a str,
    /// Its `seq` (0: none).
    pub seq: u64,
    /// Its `time`, ms since the epoch.
    pub time_ms: i64,
    /// The conversation's queue.
    pub queue: &'a str,
    /// The agent named by the event (`""`: none).
    pub agent: &'a str,
    /// The channel.
    pub channel: &'a str,
    /// For transfers: the agent it left (`""`: none).
    pub from_agent: &'a str,
    /// Whether it carries a customer message.
    pub inbound: bool,
    /// For ratings: the score.
    pub score: Option<u8>,
    /// For SLA breaches: the clock and (when the event says) its run.
    pub breach: Option<(&'a str, Option<u64>)>,
    /// Counted even though an earlier event of the conversation is missing.
    pub force: bool,
}

/// What counting an event did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportOutcome {
    /// Counted now.
    Counted,
    /// Counted before (a redelivery or a republish): nothing changed.
    Duplicate,
    /// An earlier event of the conversation is not counted yet: nothing
    /// changed; try again (or force it).
    Wait,
}

impl Store {
    /// Counts one event into the report aggregates, atomically and at most
    /// once per event id.
    pub async fn report_event(&self, e: &ReportEvent<'_>, retention_secs: u64) -> Result<ReportOutcome, StoreError> {
        let hour = e.time_ms.div_euclid(3_600_000);
        let minute = e.time_ms.div_euclid(60_000);
        let mut inv = self.reports.key(self.keys.report_seen(e.id));
        inv.key(self.keys.report_conversation(e.conversation))
            .key(self.keys.report_hour(hour))
            .key(self.keys.report_minute(minute))
            .key(self.keys.conversation(e.conversation))
            .key(self.keys.sla(e.conversation))
            .arg(e.event_type)
            .arg(e.seq)
            .arg(e.time_ms)
            .arg(e.queue)
            .arg(e.agent)
            .arg(e.channel)
            .arg(e.from_agent)
            .arg(if e.inbound { "1" } else { "0" })
            .arg(e.score.map(|s| s.to_string()).unwrap_or_default())
            .arg(e.breach.map_or("", |(clock, _)| clock))
            .arg(e.breach.and_then(|(_, run)| run).map(|r| r.to_string()).unwrap_or_default())
            .arg(retention_secs)
            .arg(REPORT_STATE_TTL_SECS)
            .arg(REPORT_STATE_TTL_SECS)
            .arg(REPORT_MINUTE_TTL_SECS)
            .arg(if e.force { "1" } else { "0" });
        let mut c = self.conn().await?;
        let r: Result<String, _> = inv.invoke_async(&mut c).await;
        match self.check(r).await?.as_str() {
            "counted" => Ok(ReportOutcome::Counted),
            "duplicate" => Ok(ReportOutcome::Duplicate),
            "wait" => Ok(ReportOutcome::Wait),
            other => Err(StoreError::Corrupt { key: self.keys.report_seen(e.id), reason: format!("reports.lua answered {other:?}") }),
        }
    }

    /// The figures of each hour bucket of `hours` (Unix time / 3600), in
    /// that order; an hour without figures is empty.
    pub async fn report_hours(&self, hours: &[i64]) -> Result<Vec<HashMap<String, i64>>, StoreError> {
        self.report_buckets(hours.iter().map(|&h| self.keys.report_hour(h))).await
    }

    /// The figures of each minute bucket of `minutes` (Unix time / 60).
    pub async fn report_minutes(&self, minutes: &[i64]) -> Result<Vec<HashMap<String, i64>>, StoreError> {
        self.report_buckets(minutes.iter().map(|&m| self.keys.report_minute(m))).await
    }

    /// HGETALL of each key, a pipeline of at most 256 at a time.
    async fn report_buckets(&self, keys: impl Iterator<Item = String>) -> Result<Vec<HashMap<String, i64>>, StoreError> {
        let keys: Vec<String> = keys.collect();
        let mut out = Vec::with_capacity(keys.len());
        let mut c = self.conn().await?;
        for chunk in keys.chunks(256) {
            let mut pipe = redis::pipe();
            for key in chunk {
                pipe.hgetall(key);
            }
            let r: Result<Vec<HashMap<String, i64>>, _> = pipe.query_async(&mut c).await;
            out.extend(self.check(r).await?);
        }
        Ok(out)
    }
}
