//! The supervisor's view of the floor: per queue waiting, longest wait and
//! SLA clocks at risk; per agent status, load and capacity per channel; the
//! clocks at risk; the firing peak alerts ([`alerts`]).
//!
//! Everything is one read of Redis (`store::live`, `lua/live.lua`), the
//! state every replica shares, so a snapshot, a stream event or a
//! Prometheus scrape answers the same figures on whichever replica it
//! lands; nothing is counted in a replica's memory. The queues and agents
//! listed are the configuration's (all of them, zeros included), so the
//! metrics' labels are bounded by configuration, never by customers.

pub mod alerts;

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;
use switchboard_core::Channel;
use utoipa::ToSchema;

use crate::app::{App, Live};
use crate::model::AgentStatus;
use crate::reports::{Minute, Today};
use crate::store::{LiveRead, LiveRequest, StoreError, StoredAlert};
use crate::telemetry::LiveFigures;

/// The floor now: what `GET /api/v1/supervisor/snapshot` answers and the
/// stream sends.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct Snapshot {
    /// When it was read.
    pub at: DateTime<Utc>,
    /// `true` on the stream when Redis could not be read: the figures are
    /// the last ones read.
    pub stale: bool,
    /// Every configured queue (the default queue included), by name.
    pub queues: Vec<QueueFigures>,
    /// Every configured agent, by id.
    pub agents: Vec<AgentFigures>,
    /// How many configured agents have each status (all three listed).
    pub agents_by_status: BTreeMap<String, u64>,
    /// SLA clocks running past their warning, oldest due first, at most
    /// `supervisor.at_risk_limit`.
    pub at_risk: Vec<AtRisk>,
    /// The peak alerts firing now.
    pub alerts: Vec<Alert>,
    /// The report figures since the start of today (`reports.timezone`),
    /// per queue and per agent; `null` in a snapshot of the live read
    /// alone.
    pub today: Option<Today>,
    /// The last 60 minutes, oldest first: inbound messages by channel and
    /// the first responses given (p50, p90).
    pub last_hour: Vec<Minute>,
}

/// One queue now.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct QueueFigures {
    /// The queue.
    pub queue: String,
    /// Conversations waiting for an agent, all channels.
    pub waiting: u64,
    /// Whole seconds the longest-waiting conversation has waited (0: none waits).
    pub longest_wait_secs: u64,
    /// Its conversations' SLA clocks at risk.
    pub sla_at_risk: u64,
}

/// One agent now.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct AgentFigures {
    /// The agent id.
    pub agent: String,
    /// Its presence.
    pub status: AgentStatus,
    /// Conversations it holds per channel (the channels it has a capacity
    /// or a load on).
    pub load: BTreeMap<String, u64>,
    /// Its configured capacity on those channels.
    pub capacity: BTreeMap<String, u64>,
}

/// One SLA clock at risk.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct AtRisk {
    /// The conversation.
    pub conversation_id: String,
    /// Its queue.
    pub queue: String,
    /// Its agent, if it has one.
    pub agent: Option<String>,
    /// The clock (`first_response`, `next_response`, `resolution`).
    pub clock: String,
    /// When it breaches.
    pub due_at: DateTime<Utc>,
}

/// A peak alert.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct Alert {
    /// `inbound_surge`, `queue_waiting`, `longest_wait` or `agents_available`.
    pub alert: String,
    /// The queue, or `all`.
    pub scope: String,
    /// The figure at the last evaluation.
    pub figure: f64,
    /// The threshold it crossed.
    pub threshold: f64,
    /// `firing` (the snapshot lists only those).
    pub state: String,
    /// When it fired.
    pub since: DateTime<Utc>,
}

/// The queues and agents of the configuration, by name.
fn floor(live: &Live) -> (Vec<String>, Vec<String>) {
    let s = &live.settings;
    let mut queues: Vec<String> = s.queues.keys().cloned().collect();
    if !s.queues.contains_key(&s.routing.default_queue) {
        queues.push(s.routing.default_queue.clone());
        queues.sort();
    }
    (queues, s.agents.keys().cloned().collect())
}

/// Reads the live figures in one step, with `inbound_minutes` of per-minute
/// inbound counts (for the surge alert; 0: none).
pub async fn read(app: &App, inbound_minutes: usize) -> Result<(Arc<Live>, LiveRead), StoreError> {
    let live = app.live();
    let (queues, agents) = floor(&live);
    let req = LiveRequest {
        now_ms: Utc::now().timestamp_millis(),
        at_risk_limit: app.settings.supervisor.at_risk_limit,
        inbound_minutes,
        queues: &queues,
        agents: &agents,
    };
    let read = app.store.live_figures(&req).await?;
    Ok((live, read))
}

/// The snapshot now: the live read and the report figures of today and
/// of the last hour.
pub async fn snapshot(app: &App) -> Result<Snapshot, StoreError> {
    let now = Utc::now();
    let (live, read) = read(app, 0).await?;
    let mut snapshot = snapshot_of(&live, &read, now);
    snapshot.today = Some(crate::reports::today(app, now).await?);
    snapshot.last_hour = crate::reports::last_hour(app, now).await?;
    Ok(snapshot)
}

fn time(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

fn wait_secs(oldest_ms: i64, now: DateTime<Utc>) -> f64 {
    if oldest_ms <= 0 {
        return 0.0;
    }
    (now.timestamp_millis() - oldest_ms).max(0) as f64 / 1000.0
}

/// (channel, load, capacity) of an agent on the channels it has either on.
fn channels(live: &Live, agent: &str, load: &BTreeMap<String, u64>) -> Vec<(&'static str, u64, u64)> {
    let config = live.settings.agents.get(agent);
    Channel::ALL
        .iter()
        .map(|ch| {
            let cap = config.map_or(0, |a| u64::from(a.capacity.for_channel(*ch)));
            (ch.as_str(), load.get(ch.as_str()).copied().unwrap_or(0), cap)
        })
        .filter(|(_, load, cap)| *load > 0 || *cap > 0)
        .collect()
}

fn status(raw: &str) -> AgentStatus {
    AgentStatus::parse(raw).unwrap_or(AgentStatus::Offline)
}

/// The firing alerts as stored, those of the configured scopes only (a
/// queue removed since it fired is not shown).
pub(crate) fn firing(live: &Live, read: &LiveRead) -> Vec<Alert> {
    let (queues, _) = floor(live);
    let mut out: Vec<Alert> = read
        .alerts
        .iter()
        .filter_map(|raw| serde_json::from_str::<StoredAlert>(raw).ok())
        .filter(|a| a.scope == "all" || queues.contains(&a.scope))
        .map(|a| Alert { alert: a.alert, scope: a.scope, figure: a.figure, threshold: a.threshold, state: "firing".into(), since: time(a.since) })
        .collect();
    out.sort_by(|a, b| (a.since, &a.alert, &a.scope).cmp(&(b.since, &b.alert, &b.scope)));
    out
}

/// The snapshot of a read.
pub fn snapshot_of(live: &Live, read: &LiveRead, now: DateTime<Utc>) -> Snapshot {
    let queues = read
        .queues
        .iter()
        .map(|q| QueueFigures {
            queue: q.queue.clone(),
            waiting: q.waiting,
            longest_wait_secs: wait_secs(q.oldest_ms, now) as u64,
            sla_at_risk: read.at_risk_by_queue.get(&q.queue).copied().unwrap_or(0),
        })
        .collect();
    let mut agents_by_status: BTreeMap<String, u64> =
        [AgentStatus::Available, AgentStatus::Away, AgentStatus::Offline].iter().map(|s| (s.as_str().to_owned(), 0)).collect();
    let agents = read
        .agents
        .iter()
        .map(|a| {
            let st = status(&a.status);
            *agents_by_status.entry(st.as_str().to_owned()).or_default() += 1;
            let chans = channels(live, &a.agent, &a.load);
            AgentFigures {
                agent: a.agent.clone(),
                status: st,
                load: chans.iter().map(|(ch, load, _)| ((*ch).to_owned(), *load)).collect(),
                capacity: chans.iter().map(|(ch, _, cap)| ((*ch).to_owned(), *cap)).collect(),
            }
        })
        .collect();
    let at_risk = read
        .at_risk
        .iter()
        .map(|r| {
            let (conversation, clock) = r.member.rsplit_once('|').unwrap_or((r.member.as_str(), ""));
            AtRisk {
                conversation_id: conversation.to_owned(),
                queue: r.queue.clone(),
                agent: Some(r.agent.clone()).filter(|a| !a.is_empty()),
                clock: clock.to_owned(),
                due_at: time(r.due),
            }
        })
        .collect();
    Snapshot {
        at: now,
        stale: false,
        queues,
        agents,
        agents_by_status,
        at_risk,
        alerts: firing(live, read),
        today: None,
        last_hour: Vec::new(),
    }
}

/// The gauges' figures of a read (see `telemetry::LiveFigures`).
pub fn gauges_of(live: &Live, read: &LiveRead, now: DateTime<Utc>) -> LiveFigures {
    let snapshot = snapshot_of(live, read, now);
    LiveFigures {
        queues: read
            .queues
            .iter()
            .map(|q| (q.queue.clone(), q.waiting, wait_secs(q.oldest_ms, now), read.at_risk_by_queue.get(&q.queue).copied().unwrap_or(0)))
            .collect(),
        agents_by_status: snapshot.agents_by_status.into_iter().collect(),
        agent_channels: snapshot
            .agents
            .iter()
            .flat_map(|a| a.load.iter().map(|(ch, load)| (a.agent.clone(), ch.clone(), *load, a.capacity.get(ch).copied().unwrap_or(0))))
            .collect(),
        dead_letters: read.dead_letters,
    }
}

/// `/metrics`: every metric, with the live gauges read now; a failed read
/// leaves them out (`switchboard_live_figures_up 0`) and serves the rest.
pub async fn metrics_text(app: &App) -> String {
    let figures = match read(app, 0).await {
        Ok((live, read)) => Some(gauges_of(&live, &read, Utc::now())),
        Err(e) => {
            tracing::debug!(error = %e, "live figures unavailable for this scrape");
            None
        }
    };
    app.metrics.encode_with_live(figures.as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{AgentLive, AtRiskLive, QueueLive};

    fn live() -> Live {
        let settings = crate::config::Loader::new()
            .without_env()
            .overlay(
                "[queues.general]\n[queues.returns]\n[agents.alice]\ntoken = \"a\"\ncapacity = { sms = 3, chat = 2 }\n[agents.bob]\ntoken = \"b\"\ncapacity = { email = 1 }\n"
                    .to_owned(),
            )
            .load()
            .unwrap_or_else(|p| panic!("{p}"));
        Live::new(settings)
    }

    #[test]
    fn a_read_becomes_the_documented_snapshot() {
        let live = live();
        let now = time(1_000_000_000_000);
        let read = LiveRead {
            queues: vec![
                QueueLive { queue: "general".into(), waiting: 3, oldest_ms: 1_000_000_000_000 - 42_500 },
                QueueLive { queue: "returns".into(), waiting: 0, oldest_ms: 0 },
            ],
            agents: vec![
                AgentLive { agent: "alice".into(), status: "available".into(), load: [("sms".into(), 1), ("webchat".into(), 0)].into() },
                AgentLive { agent: "bob".into(), status: "".into(), load: BTreeMap::new() },
            ],
            at_risk_total: 1,
            at_risk_by_queue: [("general".into(), 1)].into(),
            at_risk: vec![AtRiskLive { member: "01C|first_response".into(), due: 1_000_000_060_000, queue: "general".into(), agent: "".into() }],
            alerts: vec![
                r#"{"alert":"queue_waiting","scope":"general","figure":12,"threshold":10,"state":"firing","since":999999990000}"#.into(),
                r#"{"alert":"queue_waiting","scope":"gone","figure":12,"threshold":10,"state":"firing","since":999999990000}"#.into(),
            ],
            dead_letters: 4,
            inbound: vec![],
        };
        let s = snapshot_of(&live, &read, now);
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["queues"][0], serde_json::json!({"queue": "general", "waiting": 3, "longest_wait_secs": 42, "sla_at_risk": 1}));
        assert_eq!(json["queues"][1]["longest_wait_secs"], 0);
        assert_eq!(json["agents"][0], serde_json::json!({"agent": "alice", "status": "available", "load": {"sms": 1, "webchat": 0}, "capacity": {"sms": 3, "webchat": 2}}));
        assert_eq!(json["agents"][1]["status"], "offline");
        assert_eq!(json["agents_by_status"], serde_json::json!({"available": 1, "away": 0, "offline": 1}));
        assert_eq!(json["at_risk"][0]["conversation_id"], "01C");
        assert_eq!(json["at_risk"][0]["clock"], "first_response");
        assert_eq!(json["at_risk"][0]["agent"], serde_json::Value::Null);
        assert_eq!(s.alerts.len(), 1, "an alert of a queue no longer configured is not shown");
        assert_eq!(json["alerts"][0]["since"], "2001-09-09T01:46:30Z");
        let g = gauges_of(&live, &read, now);
        assert_eq!(g.queues[0], ("general".into(), 3, 42.5, 1));
        assert!(g.agent_channels.contains(&("bob".into(), "email".into(), 0, 1)));
        assert_eq!(g.dead_letters, 4);
    }
}
