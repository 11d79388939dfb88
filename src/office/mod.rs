//! Office hours and waiting: what a queue tells a customer while no person
//! can answer yet. `[queues.<q>] calendar` with `closed_reply`: a customer
//! writing while the calendar is closed is told, once per conversation,
//! when the team opens ([`after_message`]); the conversation still queues.
//! `waiting_reply` with `waiting_reply_after_secs`: a conversation still
//! queued that long is told, once, its place in the line and an estimated
//! wait from the queue's recent assignments ([`waiting_due`], on a timer of
//! the SLA timer set, so one replica sends it even across restarts).
//!
//! Both go out through the outbound path of an agent's reply, appear in
//! the thread with `author: "system"`, and are sent once per conversation
//! by a flag written atomically with them (`lua/notice.lua`).

pub mod render;

use std::time::Duration;

use chrono::{DateTime, Utc};
use switchboard_core::Channel;

use crate::app::App;
use crate::bots::{message, message_id};
use crate::model::{Conversation, ConversationState};
use crate::store::{Notice, StoreError};

/// The id prefix of waiting-reply timers among the SLA timers.
pub const WAIT_TIMER: &str = "wait|";

/// The assignments a waiting estimate looks back on.
const RATE_WINDOW_MINUTES: i64 = 15;

/// Why a notice could not be sent or scheduled (it is retried).
#[derive(Debug, thiserror::Error)]
pub enum OfficeError {
    /// Redis.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The timers.
    #[error(transparent)]
    Timers(#[from] crate::store::timers::TimerError),
}

impl OfficeError {
    /// Whether Redis was unavailable.
    pub fn is_transient(&self) -> bool {
        match self {
            OfficeError::Store(e) => e.is_transient(),
            OfficeError::Timers(crate::store::timers::TimerError::Redis(_)) => true,
            OfficeError::Timers(_) => false,
        }
    }
}

/// After a customer message reached conversation `id` (routed, or handed
/// off by its bot): the closed reply if its queue's calendar is closed, and
/// the waiting reply's timer if it is queued.
pub async fn after_message(app: &App, id: &str, now: DateTime<Utc>) -> Result<(), OfficeError> {
    let Some(conv) = app.store.conversation(id).await? else { return Ok(()) };
    if matches!(conv.state, ConversationState::Bot | ConversationState::Resolved) {
        return Ok(());
    }
    let live = app.live();
    let Some(queue) = live.settings.queues.get(&conv.queue) else { return Ok(()) };
    if let (Some(name), Some(texts)) = (&queue.calendar, &queue.closed_reply) {
        let calendar = live.calendars.get(name);
        let closed = calendar.filter(|c| !c.is_open(now));
        let next = closed.and_then(|c| Some((c.next_open(now)?, c.timezone()?)));
        if let Some((next, tz)) = next {
            let lang = texts.language_of(conv.language.as_deref());
            let opens = render::opens_at(next, now, tz, render::is_zh(lang));
            let text = render::fill(texts.pick(conv.language.as_deref()).unwrap_or_default(), &[("opens_at", &opens)]);
            send(app, &conv, "closed_replied", "", &text, now).await?;
        }
    }
    if conv.state == ConversationState::Queued && queue.waiting_reply.is_some() {
        let since = conv.enqueued_at.unwrap_or(now);
        let due = since + chrono::Duration::seconds(i64::try_from(queue.waiting_reply_after_secs).unwrap_or(i64::MAX / 1000));
        app.sla_timers.schedule(&format!("{WAIT_TIMER}{id}"), due.timestamp_millis(), "").await?;
    }
    Ok(())
}

/// The waiting-reply timer of conversation `id` fired: the reply, if the
/// conversation still waits (and has waited long enough: one queued again
/// later, by a transfer, waits again from then).
pub async fn waiting_due(app: &App, id: &str) -> Result<(), OfficeError> {
    let Some(conv) = app.store.conversation(id).await? else { return Ok(()) };
    if conv.state != ConversationState::Queued {
        return Ok(());
    }
    let live = app.live();
    let Some(queue) = live.settings.queues.get(&conv.queue) else { return Ok(()) };
    let Some(texts) = &queue.waiting_reply else { return Ok(()) };
    let now = Utc::now();
    let after = chrono::Duration::seconds(i64::try_from(queue.waiting_reply_after_secs).unwrap_or(0));
    let since = conv.enqueued_at.unwrap_or(now);
    if now < since + after - chrono::Duration::seconds(1) {
        app.sla_timers.schedule(&format!("{WAIT_TIMER}{id}"), (since + after).timestamp_millis(), "").await?;
        return Ok(());
    }
    let Some(position) = app.store.waiting_position(id).await? else { return Ok(()) };
    let taken = app.store.recent_assignments(&conv.queue, now.timestamp_millis(), RATE_WINDOW_MINUTES).await?;
    let lang = texts.language_of(conv.language.as_deref());
    let wait = render::wait(estimate(position, taken, RATE_WINDOW_MINUTES), render::is_zh(lang));
    let text = render::fill(texts.pick(conv.language.as_deref()).unwrap_or_default(), &[("position", &position.to_string()), ("wait", &wait)]);
    send(app, &conv, "waiting_replied", ConversationState::Queued.as_str(), &text, now).await
}

/// The expected wait of the conversation at `position` when `taken`
/// conversations left the line in the last `minutes` (`None`: none did).
pub fn estimate(position: u64, taken: u64, minutes: i64) -> Option<Duration> {
    if taken == 0 {
        return None;
    }
    let per_conversation = (minutes.max(1) as f64 * 60.0) / taken as f64;
    Some(Duration::from_secs_f64(per_conversation * position as f64))
}

async fn send(app: &App, conv: &Conversation, flag: &str, state: &str, text: &str, now: DateTime<Utc>) -> Result<(), OfficeError> {
    if text.trim().is_empty() {
        return Ok(());
    }
    let address = conv.address.clone().unwrap_or_default();
    if conv.channel == Channel::Sms && app.store.is_opted_out(&conv.account, &address).await? {
        return Ok(());
    }
    let id = message_id(flag, &conv.id, "");
    let notice = Notice {
        conversation: &conv.id,
        flag,
        state,
        channel: conv.channel.as_str(),
        ttl_secs: crate::outbound::STATE_TTL.as_secs(),
        say: message(conv, "system", &id, text, now),
        now_ms: now.timestamp_millis(),
    };
    let (sent, entries) = app.store.notice(&notice).await?;
    if sent {
        tracing::info!(conversation = %conv.id, notice = flag, "customer notice sent");
    }
    crate::outbox::flush_events(app, &entries).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_wait_follows_the_queue_s_recent_pace() {
        // 15 taken in 15 minutes: one a minute; third in line, 3 minutes.
        assert_eq!(super::estimate(3, 15, 15).map(|d| d.as_secs()), Some(180));
        assert_eq!(super::estimate(1, 3, 15).map(|d| d.as_secs()), Some(300));
        assert_eq!(super::estimate(2, 0, 15), None);
    }
}
