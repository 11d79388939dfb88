//! Escalate: one action of an SLA policy's ladder when a clock warns or
//! breaches (`crate::escalation` fires the timers): raise the priority,
//! re-route a waiting conversation to another queue (the overflow queue by
//! default), re-offer it to another agent, or notify the supervisors (the
//! event itself goes to them).

use chrono::{DateTime, Utc};
use tracing::instrument;

use super::CommandError;
use crate::app::App;
use crate::config::Escalation;
use crate::model::ConversationState;
use crate::model::Conversation;
use crate::store::TransferTarget;

/// Run `action` on `conversation` (as `record` was when the timer fired).
#[derive(Debug)]
pub struct Escalate<'a> {
    /// The conversation.
    pub conversation: &'a str,
    /// Its record when the timer fired.
    pub record: &'a Conversation,
    /// The action.
    pub action: &'a Escalation,
    /// When the timer fired.
    pub now: DateTime<Utc>,
}

impl Escalate<'_> {
    /// Runs it; a step that no longer applies (the conversation is with an
    /// agent, no other queue) does nothing.
    #[instrument(name = "escalate", skip_all, fields(conversation = %self.conversation))]
    pub async fn apply(self, app: &App) -> Result<(), CommandError> {
        let (conversation, record) = (self.conversation, self.record);
        let unavailable = |e: crate::store::StoreError| CommandError::unavailable(&e);
        let now_ms = self.now.timestamp_millis();
        match self.action {
            Escalation::Notify { .. } => Ok(()), // The event itself goes to the supervisors or the list.
            Escalation::RaisePriority { by } => {
                app.store.raise_priority(conversation, *by, now_ms).await.map_err(unavailable)?;
                Ok(())
            }
            Escalation::Reroute { queue, with_agent } => {
                let live = app.live();
                let from = record.queue.clone();
                let target = queue.clone().or_else(|| live.settings.queues.get(&from).and_then(|q| q.overflow.clone()));
                let Some(target) = target.filter(|t| *t != from && live.settings.has_queue(t)) else { return Ok(()) };
                if record.state != ConversationState::Queued && !with_agent {
                    // It is with an agent already; re-routing would take it away.
                    return Ok(());
                }
                let why = format!("SLA escalation: re-routed from {from}");
                let to = TransferTarget::Queue(live.classifier.queue(&target).to_json());
                let (outcome, events) = app.store.reroute(conversation, &to, &why, now_ms).await.map_err(unavailable)?;
                crate::outbox::flush_events(app, &events).await;
                if !outcome.from.is_empty() {
                    // Taken from its agent: the capacity goes to whoever waits.
                    crate::routing::drain(app).await.map_err(|e| CommandError::unavailable(&e))?;
                }
                Ok(())
            }
            Escalation::Reoffer => {
                let (outcome, events) = app.store.reoffer(conversation, now_ms).await.map_err(unavailable)?;
                crate::outbox::flush_events(app, &events).await;
                if outcome.from.is_empty() {
                    return Ok(());
                }
                crate::routing::drain(app).await.map_err(|e| CommandError::unavailable(&e))?;
                Ok(())
            }
        }
    }
}
