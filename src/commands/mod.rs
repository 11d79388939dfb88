//! The actions agents and supervisors take on conversations, one file per
//! action: [`resolve`], [`answer`] (accept or decline an offer),
//! [`transfer`], [`reply`], [`note`], [`status`] and [`typing`]. Each is a
//! struct whose `apply` checks who may do it, validates the input, makes
//! the one store step, puts its events on the log and hands freed capacity
//! to whoever waits. The HTTP API, the emailed agent reply and (later) the
//! Slack and bot paths all go through them, so a rule holds everywhere;
//! the SLA ladder's steps are [`escalate`].
//!
//! Every refusal is a [`CommandError`]; its kind maps to one HTTP status in
//! one place (`http::error`).

pub mod answer;
pub mod escalate;
pub mod note;
pub mod reply;
pub mod resolve;
pub mod status;
pub mod transfer;
pub mod typing;

use crate::app::App;
use crate::model::{Conversation, ConversationState};

/// Who acts: the admin token, or an agent (for itself and its own
/// conversations only).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Actor {
    /// The admin token.
    Admin,
    /// An agent, by id.
    Agent(String),
}

impl Actor {
    /// Whether this actor may act for `agent`.
    pub fn may_act_for(&self, agent: &str) -> bool {
        match self {
            Actor::Admin => true,
            Actor::Agent(a) => a == agent,
        }
    }

    /// The name written as the author of what it does (`admin` or the
    /// agent's id).
    pub fn name(&self) -> &str {
        match self {
            Actor::Admin => "admin",
            Actor::Agent(a) => a,
        }
    }
}

/// Why a command was refused, by kind.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// The actor may not do this (403).
    #[error("{0}")]
    Forbidden(&'static str),
    /// What it names does not exist (404); the value names the kind.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The conversation's state does not allow it (409), with a stable
    /// code (`conflict`, `opted_out`, `unsupported`).
    #[error("{message}")]
    Conflict {
        /// The error code.
        code: &'static str,
        /// What is in the way.
        message: String,
    },
    /// An input field is not acceptable (400 naming the field).
    #[error("`{field}` {why}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        why: &'static str,
    },
    /// Redis or NATS is away: nothing was done, try again (503).
    #[error("{0}")]
    Unavailable(String),
}

impl CommandError {
    /// A 409 with the code `conflict`.
    pub fn conflict(message: impl Into<String>) -> CommandError {
        CommandError::Conflict { code: "conflict", message: message.into() }
    }

    /// A 503 for a store or bus failure.
    pub fn unavailable(e: &dyn std::fmt::Display) -> CommandError {
        CommandError::Unavailable(e.to_string())
    }
}

/// A conversation id: a ULID in its canonical form, as the router makes
/// them. What is not one cannot exist (and must not reach a Redis key).
pub fn is_conversation_id(id: &str) -> bool {
    ulid::Ulid::from_string(id).is_ok_and(|u| u.to_string() == id)
}

/// A conversation loaded for an actor who may act on it. Only [`visible`]
/// makes one, so a command that takes it cannot skip the check, and a
/// caller that had to check before decoding its input loads it once.
#[derive(Debug)]
pub struct Visible {
    record: Conversation,
    by: Actor,
}

impl Visible {
    /// The conversation id.
    pub fn id(&self) -> &str {
        &self.record.id
    }

    /// The conversation.
    pub fn record(&self) -> &Conversation {
        &self.record
    }

    /// Who acts on it.
    pub fn by(&self) -> &Actor {
        &self.by
    }
}

/// Loads a conversation `by` may act on: 404 before 403, so an agent
/// learns nothing of conversations that are not its own beyond existence.
pub async fn visible(app: &App, by: Actor, id: &str) -> Result<Visible, CommandError> {
    let record = load(app, id).await?;
    if let Actor::Agent(a) = &by {
        if record.agent.as_ref() != Some(a) {
            return Err(CommandError::Forbidden("this conversation is not assigned to you"));
        }
    }
    Ok(Visible { record, by })
}

/// Loads a conversation: 404 when the id is out of format or unknown.
pub(crate) async fn load(app: &App, id: &str) -> Result<Conversation, CommandError> {
    if !is_conversation_id(id) {
        return Err(CommandError::NotFound("conversation"));
    }
    let conv = app.store.conversation(id).await.map_err(|e| CommandError::unavailable(&e))?;
    conv.ok_or(CommandError::NotFound("conversation"))
}

/// Assigns what waits now that capacity freed; a failure only delays it
/// until the next freeing event, so it is logged, not answered.
pub(crate) async fn drain(app: &App) {
    if let Err(e) = crate::routing::drain(app).await {
        tracing::warn!(error = %e, "could not assign waiting conversations");
    }
}

/// The state a script answered after placing a conversation.
fn placed_state(state: &str) -> Result<ConversationState, CommandError> {
    ConversationState::parse(state).ok_or_else(|| CommandError::Unavailable(format!("a script answered the state {state:?}")))
}
