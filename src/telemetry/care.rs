//! The metrics of what happens after the conversation: satisfaction
//! scores and conversations closed for inactivity. Labels are the queue
//! and the agent (configured names), never ids.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RatingLabels {
    queue: String,
    agent: String,
    score: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AskLabels {
    channel: String,
    outcome: String,
}

/// The survey's and the idle handling's counters.
#[derive(Clone, Debug, Default)]
pub struct CareMetrics {
    ratings: Family<RatingLabels, Counter>,
    asked: Family<AskLabels, Counter>,
}

impl CareMetrics {
    pub(super) fn register(registry: &mut Registry) -> CareMetrics {
        let m = CareMetrics::default();
        registry.register(
            "csat_ratings",
            "Satisfaction scores recorded, by the conversation's queue, its agent (`none` without one) and the score",
            m.ratings.clone(),
        );
        registry.register(
            "csat_questions",
            "Satisfaction questions, by channel and outcome: `asked`, `skipped` (reopened, resolved again or rated since, or asked already)",
            m.asked.clone(),
        );
        m
    }

    /// A customer's score was recorded.
    pub fn rated(&self, queue: &str, agent: &str, score: u8) {
        let agent = if agent.is_empty() { "none" } else { agent };
        self.ratings.get_or_create(&RatingLabels { queue: queue.into(), agent: agent.into(), score: score.to_string() }).inc();
    }

    /// A question went out, or was not needed.
    pub fn asked(&self, channel: &str, outcome: &str) {
        self.asked.get_or_create(&AskLabels { channel: channel.into(), outcome: outcome.into() }).inc();
    }
}
