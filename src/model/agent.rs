//! Agents and queues: configuration as the API shows it, and an agent's
//! run-time load from its Redis hash (`{P}:agent:<id>`).

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use switchboard_core::Channel;
use utoipa::ToSchema;

use super::field;

/// Agent presence.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AgentStatus {
    /// Takes conversations.
    #[default]
    Available,
    /// Logged in, takes none.
    Away,
    /// Not working.
    Offline,
}

impl AgentStatus {
    /// The stable lower-case name (also what the scripts store).
    pub fn as_str(self) -> &'static str {
        match self {
            AgentStatus::Available => "available",
            AgentStatus::Away => "away",
            AgentStatus::Offline => "offline",
        }
    }

    /// The status stored as `s`.
    pub fn parse(s: &str) -> Option<AgentStatus> {
        [AgentStatus::Available, AgentStatus::Away, AgentStatus::Offline].into_iter().find(|st| st.as_str() == s)
    }
}

/// How a queue hands conversations to agents.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum QueueMode {
    /// Assign directly.
    #[default]
    Auto,
    /// Offer, and assign on accept.
    Offer,
}

/// How many conversations an agent holds at once, per channel.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct Capacity {
    /// Web chat.
    pub chat: u32,
    /// WeChat.
    pub wechat: u32,
    /// SMS.
    pub sms: u32,
    /// Email.
    pub email: u32,
    /// All channels together.
    pub total: u32,
}

/// An agent in force (its token is never shown).
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct Agent {
    /// The agent id (`agents.<id>`).
    pub id: String,
    /// The display name.
    pub name: Option<String>,
    /// Skill → level (1 to 10).
    pub skills: BTreeMap<String, u8>,
    /// Languages spoken (empty: any).
    pub languages: Vec<String>,
    /// Capacities.
    pub capacity: Capacity,
    /// Seconds after a resolve before the capacity frees.
    pub wrapup_secs: u64,
    /// The kinds of the agent's delivery targets (`webhook`, `email`, …).
    pub deliver: Vec<String>,
}

/// An agent's presence and load now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct AgentLoad {
    /// Its presence.
    pub status: AgentStatus,
    /// Conversations it holds (assigned, offered, or in wrap-up).
    pub load: u32,
    /// Its total capacity.
    pub capacity: u32,
    /// Conversations it holds, by channel.
    pub load_by_channel: BTreeMap<Channel, u32>,
}

impl AgentLoad {
    /// The load stored in the agent's hash; an agent never seen is offline
    /// with no load. Unreadable counts are 0 (they are counters the scripts
    /// keep, never written otherwise).
    pub fn from_hash(hash: &HashMap<String, String>) -> AgentLoad {
        let count = |k: &str| field(hash, k).and_then(|v| v.parse::<u32>().ok()).unwrap_or(0);
        AgentLoad {
            status: field(hash, "status").and_then(AgentStatus::parse).unwrap_or(AgentStatus::Offline),
            load: count("load"),
            capacity: count("cap_total"),
            load_by_channel: Channel::ALL.iter().map(|ch| (*ch, count(&format!("load:{ch}")))).collect(),
        }
    }
}

/// A queue in force.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct Queue {
    /// The queue name (`queues.<name>`).
    pub name: String,
    /// Skill → minimum level an agent needs.
    pub skills: BTreeMap<String, u8>,
    /// Priority of its conversations.
    pub priority: i32,
    /// How it hands conversations to agents.
    pub mode: QueueMode,
    /// How long an offer stands (offer mode).
    pub offer_timeout_secs: u64,
    /// The queue it overflows to, if any.
    pub overflow: Option<String>,
    /// The SLA policy of its conversations, if any.
    pub sla: Option<String>,
    /// How many bullseye steps widen who may take its conversations.
    pub bullseye_steps: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_reads_counters_and_defaults_to_offline() {
        let h: HashMap<String, String> =
            [("status", "away"), ("load", "2"), ("cap_total", "5"), ("load:sms", "2"), ("load:email", "x")]
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect();
        let l = AgentLoad::from_hash(&h);
        assert_eq!((l.status, l.load, l.capacity), (AgentStatus::Away, 2, 5));
        assert_eq!(l.load_by_channel[&Channel::Sms], 2);
        assert_eq!(l.load_by_channel[&Channel::Email], 0);
        assert_eq!(AgentLoad::from_hash(&HashMap::new()).status, AgentStatus::Offline);
    }
}
