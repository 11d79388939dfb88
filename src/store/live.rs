//! The supervisor's Redis side: the one read of the live figures
//! (`lua/live.lua`), the peak alerts' state machine (`lua/alerts.lua`) and
//! the set of SLA clocks at risk (`{P}:atrisk`, see [`super::schema`]).
//! Every replica reads and writes the same keys, so every replica sees the
//! same figures and an alert crossing is recorded once.

use std::collections::BTreeMap;

use redis::Script;
use serde::Deserialize;

use super::outbox::{split_reply, OutboxEntry};
use super::{Store, StoreError};

/// What to read (see `lua/live.lua`).
#[derive(Debug)]
pub struct LiveRequest<'a> {
    /// Now (ms).
    pub now_ms: i64,
    /// At-risk entries to detail, oldest due first.
    pub at_risk_limit: usize,
    /// Minutes of inbound counts to read (0: none).
    pub inbound_minutes: usize,
    /// The queues to read.
    pub queues: &'a [String],
    /// The agents to read.
    pub agents: &'a [String],
}

/// The live figures as `lua/live.lua` answers them.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct LiveRead {
    /// Per queue asked for, in that order.
    #[serde(default, deserialize_with = "lenient_list")]
    pub queues: Vec<QueueLive>,
    /// Per agent asked for, in that order.
    #[serde(default, deserialize_with = "lenient_list")]
    pub agents: Vec<AgentLive>,
    /// Clocks at risk in all.
    #[serde(default)]
    pub at_risk_total: u64,
    /// Clocks at risk per queue of their conversation.
    #[serde(default)]
    pub at_risk_by_queue: BTreeMap<String, u64>,
    /// The first at-risk clocks, oldest due first.
    #[serde(default, deserialize_with = "lenient_list")]
    pub at_risk: Vec<AtRiskLive>,
    /// The firing alerts as stored (JSON each).
    #[serde(default, deserialize_with = "lenient_list")]
    pub alerts: Vec<String>,
    /// Dead letters waiting.
    #[serde(default)]
    pub dead_letters: u64,
    /// Inbound messages per minute, this minute first.
    #[serde(default, deserialize_with = "lenient_list")]
    pub inbound: Vec<u64>,
}

/// One queue now.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct QueueLive {
    /// The queue.
    pub queue: String,
    /// Conversations waiting, all channels.
    pub waiting: u64,
    /// When the longest waiting was queued (ms; 0: none waits).
    pub oldest_ms: i64,
}

/// One agent now.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct AgentLive {
    /// The agent.
    pub agent: String,
    /// Its status (`offline` if Redis has none).
    pub status: String,
    /// Conversations it holds, per channel.
    #[serde(default)]
    pub load: BTreeMap<String, u64>,
}

/// One running clock past its warning.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct AtRiskLive {
    /// `<conversation>|<clock>`.
    pub member: String,
    /// Its breach due (ms).
    pub due: i64,
    /// The conversation's queue (`""`: unknown).
    pub queue: String,
    /// The conversation's agent (`""`: none).
    pub agent: String,
}

/// A firing alert as `{P}:alerts` holds it.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct StoredAlert {
    /// Which alert.
    pub alert: String,
    /// Its scope: a queue or `all`.
    pub scope: String,
    /// The figure at the last evaluation.
    pub figure: f64,
    /// The threshold crossed.
    pub threshold: f64,
    /// When it fired (ms).
    pub since: i64,
}

/// One alert's figure at one evaluation (see `lua/alerts.lua`).
#[derive(Clone, Debug, PartialEq)]
pub struct AlertCheck {
    /// Which alert (`queue_waiting`, …).
    pub alert: &'static str,
    /// A queue, or `all`.
    pub scope: String,
    /// The figure now.
    pub figure: f64,
    /// Its threshold.
    pub threshold: f64,
    /// Whether the figure is over (past) the threshold.
    pub over: bool,
}

/// Lua's cjson writes an empty table as `{}`; accept it as an empty list.
fn lenient_list<'de, D: serde::Deserializer<'de>, T: serde::de::DeserializeOwned>(d: D) -> Result<Vec<T>, D::Error> {
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::Array(items) => {
            items.into_iter().map(|v| serde_json::from_value(v).map_err(serde::de::Error::custom)).collect()
        }
        _ => Ok(Vec::new()),
    }
}

/// The scripts of the supervisor (loaded once per store).
#[derive(Debug)]
pub(super) struct LiveScripts {
    pub(super) live: Script,
    pub(super) alerts: Script,
}

impl LiveScripts {
    pub(super) fn new() -> LiveScripts {
        LiveScripts { live: Script::new(include_str!("lua/live.lua")), alerts: super::with_lib(include_str!("lua/alerts.lua")) }
    }
}

impl Store {
    /// The live figures, in one step (see `lua/live.lua`).
    pub async fn live_figures(&self, req: &LiveRequest<'_>) -> Result<LiveRead, StoreError> {
        let mut inv = self.live_scripts.live.arg(self.keys.base());
        inv.arg(req.now_ms).arg(req.at_risk_limit).arg(req.inbound_minutes).arg(req.queues.len());
        for q in req.queues {
            inv.arg(q);
        }
        for a in req.agents {
            inv.arg(a);
        }
        let mut c = self.conn().await?;
        let r: Result<String, _> = inv.invoke_async(&mut c).await;
        let raw = self.check(r).await?;
        serde_json::from_str(&raw).map_err(|e| StoreError::Corrupt { key: "live figures".into(), reason: e.to_string() })
    }

    /// One evaluation of the peak alerts (see `lua/alerts.lua`): how many
    /// fired or resolved, and the events appended for them.
    pub async fn evaluate_alerts(
        &self,
        checks: &[AlertCheck],
        clear_after_ms: u64,
        surge_warmup_ms: u64,
        now_ms: i64,
    ) -> Result<(usize, Vec<OutboxEntry>), StoreError> {
        let mut inv = self.live_scripts.alerts.arg(self.keys.base());
        inv.arg(now_ms).arg(clear_after_ms).arg(surge_warmup_ms);
        for c in checks {
            inv.arg(c.alert).arg(&c.scope).arg(c.figure).arg(c.threshold).arg(if c.over { "1" } else { "0" });
        }
        let mut c = self.conn().await?;
        let r: Result<Vec<String>, _> = inv.invoke_async(&mut c).await;
        let (head, entries) = split_reply(self.check(r).await?, 1)?;
        Ok((head.first().and_then(|n| n.parse().ok()).unwrap_or(0), entries))
    }

    /// Brings a conversation's entries in `{P}:atrisk` in line with its
    /// clocks: `at_risk` (clock, breach due ms) are added or moved, the
    /// conversation's other `clocks` removed.
    pub async fn sync_at_risk(&self, conversation: &str, at_risk: &[(&str, i64)], clocks: &[&str]) -> Result<(), StoreError> {
        if clocks.is_empty() && at_risk.is_empty() {
            return Ok(());
        }
        let key = self.keys.at_risk();
        let mut pipe = redis::pipe();
        pipe.atomic();
        for clock in clocks {
            if !at_risk.iter().any(|(c, _)| c == clock) {
                pipe.zrem(&key, format!("{conversation}|{clock}")).ignore();
            }
        }
        for (clock, due) in at_risk {
            pipe.zadd(&key, format!("{conversation}|{clock}"), *due).ignore();
        }
        let mut c = self.conn().await?;
        let r: Result<(), _> = pipe.query_async(&mut c).await;
        self.check(r).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_lua_tables_read_as_empty_lists() {
        let read: LiveRead = serde_json::from_str(
            r#"{"queues":{},"agents":[{"agent":"a","status":"away","load":{"sms":1}}],"at_risk_total":0,
            "at_risk_by_queue":{},"at_risk":{},"alerts":{},"dead_letters":2,"inbound":[3,4]}"#,
        )
        .unwrap();
        assert!(read.queues.is_empty() && read.at_risk.is_empty() && read.alerts.is_empty());
        assert_eq!(read.agents[0].load.get("sms"), Some(&1));
        assert_eq!((read.dead_letters, read.inbound), (2, vec![3, 4]));
    }
}
