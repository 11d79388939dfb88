//! Transfer: to another agent (who must be available with free capacity on
//! the channel) or to a queue (placed like a new conversation, keeping its
//! waiting time). The previous agent's capacity frees at once.

use tracing::instrument;

use super::{drain, placed_state, CommandError, Visible};
use crate::app::App;
use crate::model::Placement;
use crate::store::TransferTarget;

/// Where a conversation is transferred to.
#[derive(Debug)]
pub enum TransferTo {
    /// An agent, by id.
    Agent(String),
    /// A queue, by name.
    Queue(String),
}

/// Transfer `conversation` to `to`, with an optional note for the next
/// agent (at most 2000 characters).
#[derive(Debug)]
pub struct Transfer {
    /// The conversation, and who transfers it.
    pub conversation: Visible,
    /// Where to.
    pub to: TransferTo,
    /// Why, for the next agent.
    pub note: Option<String>,
}

impl Transfer {
    /// Transfers; 400 for an unknown agent or queue or a long note, 409
    /// when the conversation is resolved, already with that agent, or the
    /// agent cannot take it.
    #[instrument(name = "transfer", skip_all, fields(conversation = %self.conversation.id()))]
    pub async fn apply(self, app: &App) -> Result<Placement, CommandError> {
        let live = app.live();
        let id = self.conversation.id().to_owned();
        let target = match self.to {
            TransferTo::Agent(agent) if live.settings.agents.contains_key(&agent) => TransferTarget::Agent(agent),
            TransferTo::Agent(_) => return Err(CommandError::Invalid { field: "agent", why: "is not a configured agent" }),
            TransferTo::Queue(queue) if live.settings.has_queue(&queue) => {
                TransferTarget::Queue(live.classifier.queue(&queue).to_json())
            }
            TransferTo::Queue(_) => return Err(CommandError::Invalid { field: "queue", why: "is not a configured queue" }),
        };
        if self.note.as_ref().is_some_and(|n| n.chars().count() > 2000) {
            return Err(CommandError::Invalid { field: "note", why: "is longer than 2000 characters" });
        }
        let now = chrono::Utc::now().timestamp_millis();
        let note = self.note.as_deref().unwrap_or("");
        let (outcome, events) = app.store.transfer(&id, &target, note, now).await.map_err(|e| CommandError::unavailable(&e))?;
        if !outcome.ok {
            return Err(CommandError::conflict(match outcome.error.as_str() {
                "resolved" => "the conversation is resolved",
                "same_agent" => "the conversation is already with this agent",
                "agent_unavailable" => "the agent is not available or has no free capacity on this channel",
                _ => "the conversation cannot be transferred",
            }));
        }
        crate::outbox::flush_events(app, &events).await;
        tracing::info!(from = %outcome.from, to = %outcome.agent, queue = %outcome.queue, "transferred");
        drain(app).await;
        Ok(Placement {
            state: placed_state(&outcome.state)?,
            conversation: id,
            queue: Some(outcome.queue),
            agent: (!outcome.agent.is_empty()).then_some(outcome.agent),
        })
    }
}
