//! Conversation events as CloudEvents 1.0 (structured JSON mode).
//!
//! Every event goes on `P.events.<type>` (the durable, replayable log) with
//! its id as `Nats-Msg-Id`; ids are derived from what caused the event (the
//! provider message id, the outbound id), so re-publishing after a
//! redelivery is absorbed by JetStream and by consumers that de-duplicate.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::{Candidate, Conversation};

/// `switchboard.conversation.queued`
pub const QUEUED: &str = "switchboard.conversation.queued";
/// `switchboard.conversation.assigned`
pub const ASSIGNED: &str = "switchboard.conversation.assigned";
/// `switchboard.conversation.message`: a customer message in a conversation.
pub const MESSAGE: &str = "switchboard.conversation.message";
/// `switchboard.conversation.replied`: an agent's reply, accepted for sending.
pub const REPLIED: &str = "switchboard.conversation.replied";
/// `switchboard.conversation.send_failed`: a reply the channel could not send.
pub const SEND_FAILED: &str = "switchboard.conversation.send_failed";
/// `switchboard.conversation.resolved`
pub const RESOLVED: &str = "switchboard.conversation.resolved";
/// `switchboard.conversation.offered`: offered to an agent (offer mode).
pub const OFFERED: &str = "switchboard.conversation.offered";
/// `switchboard.conversation.transferred`: to another agent or queue.
pub const TRANSFERRED: &str = "switchboard.conversation.transferred";
/// `switchboard.conversation.reopened`: a resolved conversation the
/// customer wrote to again within the reopen window.
pub const REOPENED: &str = "switchboard.conversation.reopened";
/// `switchboard.conversation.rated`: the customer's satisfaction score
/// (`data.score`, `data.comment`), recorded by the survey (`crate::csat`).
pub const RATED: &str = "switchboard.conversation.rated";
/// `switchboard.conversation.bot_replied`: a bot's answer to the customer
/// (`data.message`, sent on the customer's channel like an agent's reply).
pub const BOT_REPLIED: &str = "switchboard.conversation.bot_replied";
/// `switchboard.conversation.handed_off`: a bot passed the conversation to
/// a person (`data.reason`); the placement's event follows.
pub const HANDED_OFF: &str = "switchboard.conversation.handed_off";
/// `switchboard.sla.warning`: a clock reached its policy's `warn_at`.
pub const SLA_WARNING: &str = "switchboard.sla.warning";
/// `switchboard.sla.breached`: a clock reached its target.
pub const SLA_BREACHED: &str = "switchboard.sla.breached";
/// `switchboard.delivery.disabled`: a delivery target answered 410 Gone
/// and gets nothing more until the configuration is reloaded.
pub const DELIVERY_DISABLED: &str = "switchboard.delivery.disabled";
/// `switchboard.agent.away`: an agent set away by routing (missed offers).
pub const AGENT_AWAY: &str = "switchboard.agent.away";
/// `switchboard.ops.alert`: a peak alert (`[alerts]`) fired or resolved;
/// an event of no conversation (id `ops:<n>`), for the supervisors.
pub const OPS_ALERT: &str = "switchboard.ops.alert";
/// `switchboard.customer.erased`: a customer erased on request
/// (`DELETE /api/v1/customers/{id}`); carries the customer id only (an
/// event of no conversation, id `system:<n>`).
pub const CUSTOMER_ERASED: &str = "switchboard.customer.erased";
/// The customer started or stopped typing (web chat). Sent on the agent's
/// subject only, never on the event log.
pub const TYPING: &str = "switchboard.conversation.typing";

/// A CloudEvents 1.0 envelope.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Always `1.0`.
    pub specversion: String,
    /// Unique per event; stable across re-publishing.
    pub id: String,
    /// `/switchboard/<nats prefix>`.
    pub source: String,
    /// One of the constants of this module.
    #[serde(rename = "type")]
    pub event_type: String,
    /// The conversation id.
    pub subject: String,
    /// When the event happened.
    pub time: DateTime<Utc>,
    /// Always `application/json`.
    pub datacontenttype: String,
    /// Extension attribute: the event's number among its conversation's
    /// events (1, 2, …; also the end of its id, `<conversation>:<seq>`).
    /// Delivery keeps this order; a consumer may use it to spot a gap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// The payload.
    pub data: EventData,
}

/// What every conversation event carries.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EventData {
    /// The conversation.
    pub conversation_id: String,
    /// Channel of the message or reply.
    pub channel: String,
    /// Channel account.
    pub account: String,
    /// The customer.
    pub customer: Customer,
    /// The conversation's queue.
    pub queue: String,
    /// The conversation's agent, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// The message or reply involved, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<EventMessage>,
    /// For assignments: every candidate and why it was or was not chosen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<Decision>,
    /// For failures: what went wrong.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// For transfers and withdrawn offers: the agent the conversation left.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_agent: Option<String>,
    /// Why it happened (`declined`, `offer timed out`, `missed 3 offers`…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// For SLA events: the clock, its policy, target, due time, elapsed
    /// business time and the escalations run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sla: Option<serde_json::Value>,
    /// Whether the event also goes to the `[sla] supervisors` targets.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub supervisors: bool,
    /// The `[sla.notify]` lists whose targets the event also goes to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notify: Vec<String>,
    /// For typing notices: whether the customer is typing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub typing: Option<bool>,
    /// For ratings (`switchboard.conversation.rated`): the customer's
    /// satisfaction score.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<u8>,
    /// For ratings: the customer's comment, if they left one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// For `switchboard.ops.alert`: `{alert, scope, figure, threshold,
    /// state, since}` (see `crate::supervisor::alerts`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert: Option<serde_json::Value>,
}

/// The customer as an agent needs to see them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Customer {
    /// Customer profile id.
    pub id: String,
    /// Address on the channel.
    pub address: String,
}

/// A message inside an event.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EventMessage {
    /// Our message id.
    pub id: String,
    /// `inbound` (customer) or `outbound` (agent).
    pub direction: String,
    /// The text.
    pub text: String,
    /// Attachments, as normalized.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<switchboard_core::Attachment>,
}

/// An assignment decision.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// The agent chosen, if any.
    pub chosen: Option<String>,
    /// Every candidate considered.
    pub candidates: Vec<Candidate>,
    /// The rule that classified the conversation (`None`: the default queue).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
}

impl EventData {
    /// The common fields of `conversation`: its id, channel, account,
    /// customer, queue and agent.
    pub fn about(conversation: &Conversation) -> EventData {
        EventData {
            conversation_id: conversation.id.clone(),
            channel: conversation.channel.as_str().to_owned(),
            account: conversation.account.clone(),
            customer: Customer {
                id: conversation.customer.clone().unwrap_or_default(),
                address: conversation.address.clone().unwrap_or_default(),
            },
            queue: conversation.queue.clone(),
            agent: conversation.agent.clone(),
            ..EventData::default()
        }
    }
}

impl Event {
    /// A new event of `event_type` about `data.conversation_id`.
    pub fn new(event_type: &str, id: String, source: &str, time: DateTime<Utc>, data: EventData) -> Event {
        Event {
            specversion: "1.0".into(),
            id,
            source: source.to_owned(),
            event_type: event_type.to_owned(),
            subject: data.conversation_id.clone(),
            time,
            datacontenttype: "application/json".into(),
            seq: None,
            data,
        }
    }
}
