//! Replay of dead letters by an operator
//! (`POST /api/v1/admin/dead-letters/{id}/replay`), for each kind of step
//! that gave up and wrote one:
//!
//! * a delivery (kind `webhook`, `slack`, `email`, `nats`, `wecom`,
//!   `dingtalk`, `feishu`: an event that one target refused): delivered
//!   again to that target now, with the same
//!   webhook-id ([`crate::delivery`]);
//! * `inbound` (routing failed on the message's last JetStream delivery):
//!   the stored message goes back on its channel's inbound subject under a
//!   fresh `Nats-Msg-Id` (the original one may still be inside the
//!   duplicate window, which would drop the replay without a word). The
//!   router dedupes by the provider's message id in Redis
//!   (`routing.dedupe_ttl_secs`), not by the JetStream id: a message whose
//!   routing had committed before the failure is not stored twice, and one
//!   that had not is routed;
//! * `outbox` (an event or a reply too large for NATS when it was
//!   published): published on its subject under its outbox id when it
//!   fits the server's `max_payload` now, refused with
//!   [`ReplayError::TooLarge`] (and kept) when it still does not.
//!
//! A dead letter is dropped only once its replay is done: the target took
//! it, or JetStream acknowledged the publish. Replaying one twice at once
//! is harmless: both routes above dedupe (Redis for inbound messages,
//! the outbox id in the duplicate window and delivery's record of the
//! targets reached for events).

use bytes::Bytes;
use serde_json::Value;
use switchboard_core::InboundMessage;

use crate::app::App;
use crate::bus::BusError;

/// Why a dead letter was not replayed (it stays, unless it was not there).
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// No such dead letter (or it was replayed or dropped meanwhile).
    #[error("no such dead letter")]
    NotFound,
    /// Its target is not configured any more.
    #[error("the dead letter's target is no longer configured")]
    TargetGone,
    /// The entry is of an unknown kind or lacks what its kind needs.
    #[error("this dead letter cannot be replayed: {0}")]
    Malformed(&'static str),
    /// Still larger than the NATS server takes.
    #[error("{0}")]
    TooLarge(String),
    /// The target refused it again.
    #[error("{0}")]
    Failed(String),
    /// Redis or NATS is unavailable: retry later.
    #[error("{0}")]
    Unavailable(String),
}

impl From<crate::store::StoreError> for ReplayError {
    fn from(e: crate::store::StoreError) -> Self {
        ReplayError::Unavailable(e.to_string())
    }
}

impl From<BusError> for ReplayError {
    fn from(e: BusError) -> Self {
        if e.is_too_large() {
            ReplayError::TooLarge(e.to_string())
        } else {
            ReplayError::Unavailable(e.to_string())
        }
    }
}

/// Replays dead letter `id` by its kind (see the module) and drops it when
/// that is done.
pub async fn replay(app: &App, id: &str) -> Result<(), ReplayError> {
    let entry = app.store.dead_letter_entry(id).await?.ok_or(ReplayError::NotFound)?;
    match entry["kind"].as_str().unwrap_or_default() {
        "inbound" => republish_inbound(app, id, &entry).await?,
        "outbox" => republish_outbox(app, id, &entry).await?,
        "webhook" | "slack" | "email" | "nats" | "wecom" | "dingtalk" | "feishu" => replay_to_target(app, &entry).await?,
        _ => return Err(ReplayError::Malformed("its kind is not one that is replayed")),
    }
    // `false`: a concurrent replay dropped it first (both went through).
    let dropped = app.store.drop_dead_letter(id).await?;
    tracing::info!(dead_letter = %id, dropped, "dead letter replayed");
    Ok(())
}

/// The stored inbound message, back on `P.inbound.<channel>` under a
/// fresh JetStream id derived from the dead letter (see the module).
async fn republish_inbound(app: &App, id: &str, entry: &Value) -> Result<(), ReplayError> {
    let message: InboundMessage =
        serde_json::from_value(entry["message"].clone()).map_err(|_| ReplayError::Malformed("its message does not decode"))?;
    let payload = serde_json::to_vec(&message).map_err(|_| ReplayError::Malformed("its message does not encode"))?;
    let subject = app.bus.subjects().inbound(message.channel);
    let msg_id = format!("replay~{id}~{}", ulid::Ulid::new());
    app.bus.publish_replay(subject, &msg_id, Bytes::from(payload)).await?;
    Ok(())
}

/// The outbox entry's payload, on its subject under its outbox id, when it
/// fits now.
async fn republish_outbox(app: &App, id: &str, entry: &Value) -> Result<(), ReplayError> {
    let subject = entry["target"].as_str().filter(|s| is_outbox_subject(app, s));
    let subject = subject.ok_or(ReplayError::Malformed("its target is not an event or outbound subject"))?;
    let payload = entry["payload"].as_str().ok_or(ReplayError::Malformed("it has no payload"))?;
    // Recorded since replays exist; before, the id was the tail of the
    // dead letter's (ids of the outbox need no escaping).
    let outbox_id = entry["entry"].as_str().or_else(|| id.strip_prefix("outbox~"));
    let outbox_id = outbox_id.filter(|i| !i.is_empty()).ok_or(ReplayError::Malformed("it names no outbox entry"))?;
    app.bus.publish_replay(subject.to_owned(), outbox_id, Bytes::copy_from_slice(payload.as_bytes())).await?;
    Ok(())
}

/// Whether `subject` is one the outbox publishes to under this prefix: an
/// event or an outbound subject, one concrete name (no wildcard, no space).
fn is_outbox_subject(app: &App, subject: &str) -> bool {
    let subjects = app.bus.subjects();
    let heads = [subjects.events_all(), subjects.outbound_all()];
    let under = heads.iter().any(|all| subject.strip_prefix(all.trim_end_matches('>')).is_some_and(is_subject_tail));
    under && !subject.contains(['*', '>'])
}

/// Dot-separated tokens, none empty, of printable ASCII without spaces.
fn is_subject_tail(tail: &str) -> bool {
    !tail.is_empty() && tail.split('.').all(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_graphic()))
}

/// Delivers a dead letter of an event to one target (`entry["target"]` =
/// `<agent>#<index>`, `queue:<name>#<index>`, `notify:<list>#<index>` or `supervisor#<index>`) again, with the same
/// webhook-id (admin replay). `Ok` when the target took it; the caller
/// drops the dead letter.
async fn replay_to_target(app: &App, entry: &serde_json::Value) -> Result<(), ReplayError> {
    let event: crate::events::Event = serde_json::from_value(entry["event"].clone()).map_err(|_| ReplayError::Malformed("its event does not decode"))?;
    let key = entry["target"].as_str().unwrap_or_default();
    let (owner, index) = key.rsplit_once('#').ok_or(ReplayError::Malformed("its target is not `<owner>#<index>`"))?;
    let index: usize = index.parse().map_err(|_| ReplayError::Malformed("its target is not `<owner>#<index>`"))?;
    let live = app.live();
    let target = if owner == "supervisor" {
        live.settings.sla.supervisors.get(index)
    } else if let Some(list) = owner.strip_prefix("notify:") {
        live.settings.sla.notify.get(list).and_then(|l| l.get(index))
    } else if let Some(queue) = owner.strip_prefix("queue:") {
        live.settings.queues.get(queue).and_then(|q| q.deliver.get(index))
    } else {
        live.settings.agents.get(owner).and_then(|a| a.deliver.get(index))
    };
    let target = target.ok_or(ReplayError::TargetGone)?;
    let body = bytes::Bytes::from(serde_json::to_vec(&event).map_err(|_| ReplayError::Malformed("its event does not encode"))?);
    match crate::delivery::attempt(app, key, target, &event, &body).await {
        crate::targets::Attempt::Done | crate::targets::Attempt::Skipped => Ok(()),
        crate::targets::Attempt::Gone(reason) => Err(ReplayError::Failed(format!("the target {reason}"))),
        crate::targets::Attempt::Retry(reason) | crate::targets::Attempt::Failed(reason) => Err(ReplayError::Failed(reason)),
    }
}

#[cfg(test)]
mod tests {
    use super::is_subject_tail;

    #[test]
    fn subject_tails_are_concrete_tokens() {
        assert!(is_subject_tail("conversation.assigned"));
        assert!(is_subject_tail("sms"));
        assert!(!is_subject_tail(""));
        assert!(!is_subject_tail("a..b"));
        assert!(!is_subject_tail("a b"));
        assert!(!is_subject_tail("a."));
    }
}
