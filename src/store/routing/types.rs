//! What the routing scripts are asked and answer: requests, placements
//! and outcomes, as the scripts' JSON.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use switchboard_core::Channel;

use crate::model::Candidate;
use crate::store::OutboxEntry;

/// One inbound message to route (see `lua/route.lua`).
#[derive(Debug)]
pub struct RouteRequest<'a> {
    /// Channel of the message.
    pub channel: Channel,
    /// Channel account.
    pub account: &'a str,
    /// Provider message id (idempotency key).
    pub provider_message_id: &'a str,
    /// Identity kind (`phone`, `email`, …) and value of the customer.
    pub identity: (&'a str, &'a str),
    /// The shop's customer id, when the message carries a verified one.
    pub shop_customer: Option<&'a str>,
    /// Profile fields to record on the customer (e.g. the shop's tier).
    pub profile: Vec<(&'static str, String)>,
    /// The customer's address on the channel.
    pub address: &'a str,
    /// Our id of the message.
    pub message_id: &'a str,
    /// The message as stored in the conversation.
    pub stored_message: String,
    /// Where and how a new (or reopened) conversation is routed.
    pub class: ClassJson,
    /// A conversation to join if it is open (email threading).
    pub hint: Option<String>,
    /// Customer id to use if the identity is new.
    pub new_customer_id: String,
    /// Conversation id to use if a new conversation opens.
    pub new_conversation_id: String,
    /// Now, in ms since the epoch.
    pub now_ms: i64,
    /// How long the provider message id is remembered.
    pub dedupe_ttl_secs: u64,
    /// An open conversation idle longer than this is closed and a new one
    /// opens (0: always join).
    pub join_window_ms: i64,
    /// A conversation resolved this recently reopens (0: never).
    pub reopen_window_ms: i64,
    /// The message as the routing's events carry it (JSON).
    pub event_message: String,
    /// Its sequence on the inbound stream (0: not from the stream), kept
    /// with the conversation for an erase.
    pub stream_seq: u64,
}

/// The classification of a conversation as the scripts store it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ClassJson {
    /// Queue.
    pub queue: String,
    /// Priority (higher first).
    pub priority: i32,
    /// Required skills with minimum proficiency.
    pub skills: BTreeMap<String, u8>,
    /// Tags.
    pub tags: Vec<String>,
    /// The rule that matched (`""`: the default queue).
    pub rule: String,
    /// `auto` or `offer`.
    pub mode: String,
    /// Offer mode: time to accept.
    pub offer_timeout_ms: u64,
    /// Language the agent must speak (`""`: any).
    pub language: String,
    /// The first-response SLA deadline (ms; 0: none), which orders the
    /// queue within a priority band.
    #[serde(default)]
    pub deadline_ms: i64,
    /// The SLA policy (`""`: none).
    #[serde(default)]
    pub sla: String,
    /// The queue's bot (`""`: none): a new conversation starts in state `bot`.
    #[serde(default)]
    pub bot: String,
}

/// What routing did with a message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RouteResult {
    /// The conversation the message joined.
    pub conversation: String,
    /// The customer.
    pub customer: String,
    /// Whether the conversation was opened by this message.
    pub created: bool,
    /// Whether a resolved conversation was reopened by this message.
    #[serde(default)]
    pub reopened: bool,
    /// Conversation state after routing.
    pub state: crate::model::ConversationState,
    /// Its queue.
    pub queue: String,
    /// Its agent, if assigned or offered.
    #[serde(default)]
    pub agent: Option<String>,
    /// Our id of the message first routed under this provider id.
    pub message_id: String,
    /// The rule that classified the conversation (`""`: default queue).
    #[serde(default)]
    pub rule: String,
    /// Whether this message placed the conversation with an agent now.
    #[serde(default)]
    pub placed: bool,
    /// The assignment decision, when one was made.
    #[serde(default, deserialize_with = "lenient_list")]
    pub decision: Vec<Candidate>,
    /// Whether this was a redelivery of a message already routed.
    #[serde(skip)]
    pub duplicate: bool,
    /// The conversation's SLA clocks as stored after routing (`""`: none).
    #[serde(skip)]
    pub sla_clocks: String,
    /// The conversation's priority after routing.
    #[serde(skip)]
    pub priority: i32,
    /// The events the step appended to the outbox (none for a duplicate).
    #[serde(skip)]
    pub events: Vec<OutboxEntry>,
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

/// A waiting conversation given to an agent by a drain or a withdrawn offer.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct Placement {
    /// The conversation.
    pub conversation: String,
    /// The agent.
    pub agent: String,
    /// `assigned` or `offered`.
    pub state: String,
}

/// The outcome of resolving a conversation.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct ResolveOutcome {
    /// The agent that held it (`""`: none).
    pub agent: String,
    /// Whether the agent's capacity stays taken for the wrap-up time.
    pub wrapup: bool,
}

/// The outcome of an answer to an offer, or of an offer timing out.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct OfferOutcome {
    /// Whether the conversation was offered to the agent.
    #[serde(default = "yes")]
    pub ok: bool,
    /// The conversation.
    #[serde(default)]
    pub conversation: String,
    /// The agent the offer was taken back from (decline, timeout).
    #[serde(default)]
    pub from: String,
    /// The agent holding it now (`""`: queued).
    #[serde(default)]
    pub agent: String,
    /// The conversation's state now.
    #[serde(default)]
    pub state: String,
    /// Whether the agent was set away for missing offers.
    #[serde(default)]
    pub away: bool,
}

fn yes() -> bool {
    true
}

/// What the timed sweep did.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct SweepOutcome {
    /// Offers that timed out, each offered on or queued.
    #[serde(default, deserialize_with = "lenient_list")]
    pub offers: Vec<OfferOutcome>,
    /// Agents whose wrap-up ended.
    #[serde(default, deserialize_with = "lenient_list")]
    pub freed: Vec<String>,
    /// Conversations that took a bullseye step.
    #[serde(default, deserialize_with = "lenient_list")]
    pub widened: Vec<Widened>,
}

/// A bullseye step taken by a waiting conversation.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct Widened {
    /// The conversation.
    pub conversation: String,
    /// The step (1-based).
    pub step: u32,
    /// The queue it waited in.
    pub from_queue: String,
    /// The overflow queue it moved to (`""`: it stayed).
    #[serde(default)]
    pub queue: String,
    /// Levels below the required proficiency now accepted.
    #[serde(default)]
    pub relax: u32,
    /// The agent it was placed with (`""`: still waiting).
    #[serde(default)]
    pub agent: String,
    /// Its state now.
    #[serde(default)]
    pub state: String,
}

/// A queue as the routing scripts read it from `{P}:config`.
#[derive(Clone, Debug, Default, Serialize)]
pub struct QueueJson {
    /// Required skills.
    pub skills: BTreeMap<String, u8>,
    /// Priority.
    pub priority: i32,
    /// `auto` or `offer`.
    pub mode: String,
    /// Offer timeout (ms).
    pub offer_timeout_ms: u64,
    /// Overflow queue (`""`: none).
    pub overflow: String,
    /// Bullseye steps.
    pub bullseye: Vec<BullseyeJson>,
}

/// One bullseye step as the scripts read it.
#[derive(Clone, Debug, Default, Serialize)]
pub struct BullseyeJson {
    /// Waiting time before the step (ms).
    pub after_ms: u64,
    /// Levels of proficiency relaxed.
    pub relax: u8,
    /// Move to the overflow queue.
    pub overflow: bool,
}

/// Where a transfer goes.
#[derive(Clone, Debug, PartialEq)]
pub enum TransferTarget {
    /// Another agent.
    Agent(String),
    /// A queue, with its requirements.
    Queue(ClassJson),
}

/// The outcome of a transfer.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct TransferOutcome {
    /// Whether it happened.
    pub ok: bool,
    /// Why not: `not_found`, `resolved`, `same_agent`, `agent_unavailable`.
    #[serde(default)]
    pub error: String,
    /// The agent freed (`""`: none).
    #[serde(default)]
    pub from: String,
    /// The agent holding it now (`""`: queued).
    #[serde(default)]
    pub agent: String,
    /// The conversation's state now.
    #[serde(default)]
    pub state: String,
    /// Its queue now.
    #[serde(default)]
    pub queue: String,
}
