//! Quiet conversations: one whose last message is its agent's reply, left
//! unanswered by the customer.
//!
//! * After `routing.pending_after_secs` it is *pending*: it stays the
//!   agent's but no longer counts toward the agent's capacity, so the
//!   queue's waiting conversations may take the place (a drain follows).
//!   The customer's next message counts it again, even if that puts the
//!   agent over capacity for a moment: the agent then takes nothing new
//!   until back under (see `count_again` in `store/lua/lib.lua`).
//! * After `routing.auto_close_after_secs` it is resolved with reason
//!   `inactive` (by `inactive`, without wrap-up), after the optional
//!   `routing.auto_close_reply`; a later message opens or reopens a
//!   conversation as after any resolve.
//!
//! Each agent reply (re)schedules two SLA timers (`store::timers`, shared
//! by the replicas): `idle:pending:<conversation>` and
//! `idle:close:<conversation>`, payload the reply's time (ms). A timer
//! whose conversation was answered, moved or resolved since does nothing:
//! the Redis steps check that it is still quiet since that reply.

use chrono::Utc;

use crate::app::App;
use crate::model::ConversationState;
use crate::routing::RouteError;

const PENDING: &str = "idle:pending:";
const CLOSE: &str = "idle:close:";

/// Which timer of a quiet conversation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quiet {
    /// Stop counting toward the agent's capacity.
    Pending,
    /// Resolve for inactivity.
    Close,
}

fn ms(secs: u64) -> i64 {
    i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX)
}

/// (Re)schedules the quiet timers after an agent's reply at `at_ms` (best
/// effort: a failure keeps the conversation counted and open, as before).
pub async fn after_reply(app: &App, conversation: &str, at_ms: i64) {
    let live = app.live();
    let r = &live.settings.routing;
    let payload = at_ms.to_string();
    let mut timers = Vec::new();
    if r.pending_after_secs > 0 {
        timers.push((format!("{PENDING}{conversation}"), at_ms.saturating_add(ms(r.pending_after_secs)), payload.clone()));
    }
    if r.auto_close_after_secs > 0 {
        timers.push((format!("{CLOSE}{conversation}"), at_ms.saturating_add(ms(r.auto_close_after_secs)), payload));
    }
    if timers.is_empty() {
        return;
    }
    if let Err(e) = app.sla_timers.schedule_many(timers).await {
        tracing::warn!(error = %e, conversation, "the quiet-conversation timers could not be scheduled");
    }
}

/// The kind and conversation of a quiet timer id, if it is one.
pub fn timer(id: &str) -> Option<(Quiet, &str)> {
    if let Some(conversation) = id.strip_prefix(PENDING) {
        return Some((Quiet::Pending, conversation));
    }
    id.strip_prefix(CLOSE).map(|conversation| (Quiet::Close, conversation))
}

/// A quiet timer fired: `since` is its payload, the agent reply's time.
/// `Err`: Redis or NATS is away, the timer fires again.
pub async fn fire(app: &App, quiet: Quiet, conversation: &str, since: &str) -> Result<(), RouteError> {
    let Ok(since) = since.parse::<i64>() else { return Ok(()) };
    let now = Utc::now();
    match quiet {
        Quiet::Pending => {
            if let Some(agent) = app.store.mark_pending(conversation, now.timestamp_millis(), since).await? {
                tracing::info!(conversation, agent = %agent, "quiet conversation pending: no longer counted toward the agent's capacity");
                crate::routing::drain(app).await?;
            }
            Ok(())
        }
        Quiet::Close => close(app, conversation, since, now).await,
    }
}

async fn close(app: &App, conversation: &str, since: i64, now: chrono::DateTime<Utc>) -> Result<(), RouteError> {
    let Some(conv) = app.store.conversation(conversation).await? else { return Ok(()) };
    let quiet = conv.state == ConversationState::Waiting
        && conv.last_customer_message_at.is_none_or(|t| t.timestamp_millis() < since);
    if !quiet {
        return Ok(());
    }
    let text = app.live().settings.routing.auto_close_reply.pick(conv.language.as_deref()).trim().to_owned();
    if !text.is_empty() {
        // The same id on every firing: a repeat is absorbed as a duplicate.
        let reply = crate::outbound::reply::Reply {
            id: format!("A{conversation}{since}"),
            agent: None,
            automated: Some(switchboard_core::Automated::System),
            text,
            media_urls: vec![],
            media: vec![],
        };
        match crate::outbound::reply::submit(app, &conv, reply, now).await {
            Ok(_) => {}
            Err(crate::outbound::reply::ReplyError::Unavailable(e)) => return Err(RouteError::Sla(e)),
            Err(e) => tracing::info!(conversation, reason = %e, "no closing message for the quiet conversation"),
        }
    }
    let (outcome, events) = app.store.resolve_inactive(conversation, now.timestamp_millis(), since).await?;
    let Some(outcome) = outcome else { return Ok(()) };
    let trigger_id = format!("resolved:{}", now.timestamp_millis());
    if let Err(e) = crate::sla::observe(app, conversation, crate::sla::clock::Trigger::Resolved, &trigger_id, now).await {
        tracing::warn!(error = %e, "auto-closed, but the SLA clocks did not stop");
    }
    let on_the_log = crate::outbox::flush_events(app, &events).await;
    if on_the_log && !outcome.agent.is_empty() {
        // As a resolve: the capacity frees once the event is on the log
        // (else the sweep frees it shortly).
        app.store.release_resolved(conversation, Utc::now().timestamp_millis()).await?;
        crate::routing::drain(app).await?;
    }
    crate::csat::after_resolve(app, conversation, now.timestamp_millis(), crate::csat::Ending::Inactive).await;
    tracing::info!(conversation, agent = %outcome.agent, "quiet conversation auto-closed (inactive)");
    Ok(())
}
