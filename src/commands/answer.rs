//! Accept or decline an offer (offer mode): the agent takes the
//! conversation offered to it, or turns it down, and it is offered to the
//! next eligible agent (never again to this one) or goes back to its queue.

use tracing::instrument;

use super::{drain, load, placed_state, Actor, CommandError};
use crate::app::App;
use crate::model::Placement;

/// Accept (`accept: true`) or decline the offer of `conversation`.
#[derive(Debug)]
pub struct AnswerOffer {
    /// The conversation.
    pub conversation: String,
    /// The agent it is offered to (the admin answers for that agent).
    pub by: Actor,
    /// Accept, or decline.
    pub accept: bool,
}

impl AnswerOffer {
    /// Answers the offer; 409 when it is no longer offered to the agent.
    #[instrument(name = "answer_offer", skip_all, fields(conversation = %self.conversation, accept = self.accept))]
    pub async fn apply(self, app: &App) -> Result<Placement, CommandError> {
        let id = self.conversation;
        let conv = load(app, &id).await?;
        let offered_to = conv.agent.unwrap_or_default();
        let agent = match self.by {
            Actor::Agent(a) => a,
            Actor::Admin => offered_to.clone(),
        };
        if offered_to != agent {
            return Err(CommandError::Forbidden("this conversation is not offered to you"));
        }
        let now = chrono::Utc::now().timestamp_millis();
        let (outcome, events) =
            app.store.answer_offer(&id, &agent, self.accept, now).await.map_err(|e| CommandError::unavailable(&e))?;
        if !outcome.ok {
            return Err(CommandError::conflict(format!("the conversation is not offered to you (it is {})", outcome.state)));
        }
        crate::outbox::flush_events(app, &events).await;
        if self.accept {
            tracing::info!(%agent, "offer accepted");
        } else {
            tracing::info!(%agent, "offer declined");
            drain(app).await;
        }
        Ok(Placement {
            conversation: id,
            state: placed_state(&outcome.state)?,
            agent: (!outcome.agent.is_empty()).then_some(outcome.agent),
            queue: None,
        })
    }
}
