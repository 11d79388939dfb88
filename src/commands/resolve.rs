//! Resolve: closes the conversation and stops its SLA clocks; the agent's
//! capacity frees at once (and goes to whoever waits), or after its wrap-up
//! time.

use tracing::instrument;

use super::{drain, visible, Actor, CommandError};
use crate::app::App;
use crate::model::{ConversationState, Resolved};
use crate::sla::clock::Trigger;

/// Resolve `conversation`, by `by`.
#[derive(Debug)]
pub struct Resolve {
    /// The conversation.
    pub conversation: String,
    /// Who resolves it.
    pub by: Actor,
}

impl Resolve {
    /// Resolves; 409 when it is resolved already.
    #[instrument(name = "resolve", skip_all, fields(conversation = %self.conversation))]
    pub async fn apply(self, app: &App) -> Result<Resolved, CommandError> {
        let id = self.conversation;
        let conv = visible(app, self.by.clone(), &id).await?.record;
        let now = chrono::Utc::now();
        let wrapup_ms = conv
            .agent
            .as_ref()
            .and_then(|a| app.live().settings.agents.get(a).map(|s| s.wrapup_secs.saturating_mul(1000)))
            .unwrap_or(0);
        let (outcome, events) = app
            .store
            .resolve(&id, now.timestamp_millis(), wrapup_ms, self.by.name())
            .await
            .map_err(|e| CommandError::unavailable(&e))?;
        let Some(outcome) = outcome else { return Err(CommandError::conflict("the conversation is already resolved")) };
        // Resolved, with its event, in one step; what follows only delays.
        let trigger_id = format!("resolved:{}", now.timestamp_millis());
        if let Err(e) = crate::sla::observe(app, &id, Trigger::Resolved, &trigger_id, now).await {
            tracing::warn!(error = %e, "resolved, but the SLA clocks did not stop");
        }
        let on_the_log = crate::outbox::flush_events(app, &events).await;
        if on_the_log && !outcome.wrapup && !outcome.agent.is_empty() {
            // Only now, after the event is on the log: the log never shows
            // the capacity reused before the resolve. (Otherwise, or if this
            // fails, the sweep frees it shortly.)
            match app.store.release_resolved(&id, chrono::Utc::now().timestamp_millis()).await {
                Ok(_) => drain(app).await,
                Err(e) => tracing::warn!(error = %e, "the sweep will free the agent's capacity"),
            }
        }
        crate::csat::after_resolve(app, &id, now.timestamp_millis(), crate::csat::Ending::Resolved).await;
        tracing::info!(by = self.by.name(), "resolved");
        Ok(Resolved { conversation: id, state: ConversationState::Resolved, wrapup: outcome.wrapup })
    }
}
