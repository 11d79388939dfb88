//! The operator's snapshot of queues and agents.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::{AgentLoad, AgentStatus};

/// One queue now.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct QueueStats {
    /// Conversations waiting.
    pub waiting: u64,
    /// How long the oldest has waited, if any waits.
    pub longest_wait_secs: Option<f64>,
}

/// One agent now: its presence and load.
pub type AgentStats = AgentLoad;

/// A snapshot of every queue and agent.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct Stats {
    /// When it was taken.
    pub at: DateTime<Utc>,
    /// Per queue.
    pub queues: BTreeMap<String, QueueStats>,
    /// Per agent.
    pub agents: BTreeMap<String, AgentLoad>,
    /// How many agents have each status.
    pub agents_by_status: BTreeMap<AgentStatus, u32>,
    /// Dead letters waiting for an operator.
    pub dead_letters: u64,
}
