//! The answers of the API's actions and listings, built from the resources.

use serde::Serialize;
use utoipa::ToSchema;

use super::{AgentLoad, AgentStatus, Conversation, ConversationState, DeadLetter, Message, SlaClock};

/// One conversation with its history and SLA clocks.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct ConversationDetail {
    /// The conversation.
    pub conversation: Conversation,
    /// Inbound and outbound messages and internal notes, oldest first.
    pub messages: Vec<Message>,
    /// Its SLA clocks.
    pub sla: Vec<SlaClock>,
}

/// A page of conversations.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct ConversationPage {
    /// The conversations of this page.
    pub conversations: Vec<Conversation>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// An agent's open conversations and its load.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct AgentConversations {
    /// The agent.
    pub agent: String,
    /// Its presence and load.
    pub state: AgentLoad,
    /// The conversations assigned or offered to it, or in its wrap-up.
    pub conversations: Vec<Conversation>,
}

/// The status now in force.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct StatusSet {
    /// The agent.
    pub agent: String,
    /// Its new status.
    pub status: AgentStatus,
}

/// The state a reply is in once accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReplyState {
    /// Recorded and on its way out.
    Queued,
}

/// A reply on the outbound stream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct ReplyQueued {
    /// The first outbound message's id.
    pub id: Option<String>,
    /// Every outbound message's id: the text, then one per WeChat media.
    pub ids: Vec<String>,
    /// The conversation.
    pub conversation: String,
    /// Always `queued`.
    pub state: ReplyState,
}

/// A resolved conversation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Resolved {
    /// The conversation.
    pub conversation: String,
    /// Always `resolved`.
    pub state: ConversationState,
    /// Whether the agent is now in wrap-up (its capacity frees later).
    pub wrapup: bool,
}

/// The conversation after an accepted or declined offer, or a transfer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Placement {
    /// The conversation.
    pub conversation: String,
    /// Its state now: `assigned`, `offered` or `queued`.
    pub state: ConversationState,
    /// The agent it is with or offered to, if any.
    pub agent: Option<String>,
    /// The queue it is in (transfers only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
}

/// A page of dead letters, oldest first.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct DeadLetterPage {
    /// How many there are in all.
    pub total: u64,
    /// The oldest ones, at most `limit`.
    pub dead_letters: Vec<DeadLetter>,
}

/// A dead letter delivered again and dropped.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Replayed {
    /// The dead letter.
    pub id: String,
    /// Always `true`.
    pub replayed: bool,
}
