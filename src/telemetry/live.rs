//! The live gauges: the supervisor's figures (`crate::supervisor`), read
//! from Redis at each scrape and replaced as a whole, so every replica
//! shows the same numbers and a series of a removed queue or agent goes.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QueueOnlyLabels {
    queue: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AgentChannelLabels {
    agent: String,
    channel: String,
}

/// The live figures the gauges show at a scrape, read from Redis (the same
/// on every replica). Labels come from configuration only.
#[derive(Clone, Debug, Default)]
pub struct LiveFigures {
    /// Per queue: (queue, waiting, longest wait in seconds, SLA clocks at risk).
    pub queues: Vec<(String, u64, f64, u64)>,
    /// Agents per status.
    pub agents_by_status: Vec<(String, u64)>,
    /// Per agent and channel: (agent, channel, load, capacity).
    pub agent_channels: Vec<(String, String, u64, u64)>,
    /// Dead letters waiting.
    pub dead_letters: u64,
}

/// The gauges of [`LiveFigures`], replaced as a whole at each scrape.
#[derive(Debug, Default)]
pub(super) struct LiveGauges {
    queue_waiting: Family<QueueOnlyLabels, Gauge>,
    longest_wait: Family<QueueOnlyLabels, Gauge<f64, AtomicU64>>,
    sla_at_risk: Family<QueueOnlyLabels, Gauge>,
    agents: Family<StatusLabels, Gauge>,
    agent_load: Family<AgentChannelLabels, Gauge>,
    agent_capacity: Family<AgentChannelLabels, Gauge>,
    dead_letters: Gauge,
    up: Gauge,
}

impl LiveGauges {
    /// The gauges, registered in `registry`.
    pub(super) fn register(registry: &mut Registry) -> LiveGauges {
        let g = LiveGauges::default();
        registry.register("queue_waiting", "Conversations waiting in the queue, all channels (from Redis: the same on every replica)", g.queue_waiting.clone());
        registry.register(
            "queue_longest_wait_seconds",
            "How long the queue's longest-waiting conversation has waited (0: none waits)",
            g.longest_wait.clone(),
        );
        registry.register("sla_at_risk", "Running SLA clocks past their warn_at and not breached, by the conversation's queue", g.sla_at_risk.clone());
        registry.register("agents", "Configured agents by status", g.agents.clone());
        registry.register("agent_load", "Conversations the agent holds on the channel (assigned, offered, in wrap-up)", g.agent_load.clone());
        registry.register("agent_capacity", "The agent's configured capacity on the channel", g.agent_capacity.clone());
        registry.register("dead_letters", "Dead letters waiting for an operator", g.dead_letters.clone());
        registry.register("live_figures_up", "1 when the live figures (queues, agents, SLA risk) were read from Redis at this scrape, 0 when the read failed", g.up.clone());
        g
    }

    /// Replaces every gauge by `live` (`None`: the read failed).
    pub(super) fn replace(&self, live: Option<&LiveFigures>) {
        self.queue_waiting.clear();
        self.longest_wait.clear();
        self.sla_at_risk.clear();
        self.agents.clear();
        self.agent_load.clear();
        self.agent_capacity.clear();
        self.up.set(i64::from(live.is_some()));
        if let Some(f) = live {
            let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
            for (queue, waiting, longest, at_risk) in &f.queues {
                let l = QueueOnlyLabels { queue: queue.clone() };
                self.queue_waiting.get_or_create(&l).set(n(*waiting));
                self.longest_wait.get_or_create(&l).set(*longest);
                self.sla_at_risk.get_or_create(&l).set(n(*at_risk));
            }
            for (status, count) in &f.agents_by_status {
                self.agents.get_or_create(&StatusLabels { status: status.clone() }).set(n(*count));
            }
            for (agent, channel, load, capacity) in &f.agent_channels {
                let l = AgentChannelLabels { agent: agent.clone(), channel: channel.clone() };
                self.agent_load.get_or_create(&l).set(n(*load));
                self.agent_capacity.get_or_create(&l).set(n(*capacity));
            }
            self.dead_letters.set(n(f.dead_letters));
        }
    }
}
