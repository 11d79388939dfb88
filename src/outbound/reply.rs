//! Accepting an agent's reply for sending, whichever way it came (the API,
//! the agent's emailed answer): checks against the conversation, then
//! records the reply, its `replied` event and its outbound messages in one
//! Redis step (the outbox), publishes them, and moves the SLA clocks. A
//! reply is either queued (and will be sent) or refused (and never will).

use chrono::{DateTime, Utc};
use switchboard_core::{Channel, MediaRef, OutboundMessage};

use crate::app::App;
use crate::events::EventMessage;
use crate::model::{Conversation, ConversationState};
use crate::store::{ReplyOutcome, ReplyRecord};

/// One reply to send.
#[derive(Debug)]
pub struct Reply {
    /// Id of the first outbound message (the rest derive from it), so a
    /// retried submission is absorbed downstream.
    pub id: String,
    /// The agent replying (`None`: the admin without an agent, or an
    /// automated message).
    pub agent: Option<String>,
    /// Set for the service's own messages (no person wrote them): shown as
    /// such in the thread (`author`) and the web chat.
    pub automated: Option<switchboard_core::Automated>,
    /// The text (may be empty when media go out).
    pub text: String,
    /// Media by URL.
    pub media_urls: Vec<String>,
    /// WeChat media ids.
    pub media: Vec<MediaRef>,
}

/// Why a reply is refused or not accepted yet.
#[derive(Debug, thiserror::Error)]
pub enum ReplyError {
    /// The conversation is resolved.
    #[error("the conversation is resolved")]
    Resolved,
    /// The conversation is gone.
    #[error("no such conversation")]
    NotFound,
    /// The SMS customer sent STOP.
    #[error("the customer opted out of SMS from this number (STOP); they must send START first")]
    OptedOut,
    /// WeChat media ids on another channel.
    #[error("media ids are only for WeChat conversations; use media_urls")]
    MediaNotWechat,
    /// Redis or NATS; try again.
    #[error("{0}")]
    Unavailable(String),
}

/// Submits `reply` to conversation `conv`; the ids
/// of the outbound messages once they are committed (Redis' outbox; the
/// sender gets them at once, or from the relay after an outage). A
/// submission with a reply id seen before answers the same ids.
pub async fn submit(
    app: &App,
    conv: &Conversation,
    reply: Reply,
    now: DateTime<Utc>,
) -> Result<Vec<String>, ReplyError> {
    let unavailable = |e: &dyn std::fmt::Display| ReplyError::Unavailable(e.to_string());
    if conv.state == ConversationState::Resolved {
        return Err(ReplyError::Resolved);
    }
    let (id, channel) = (conv.id.as_str(), conv.channel);
    let address = conv.address.clone().unwrap_or_default();
    if !reply.media.is_empty() && channel != Channel::Wechat {
        return Err(ReplyError::MediaNotWechat);
    }
    if channel == Channel::Sms && app.store.is_opted_out(&conv.account, &address).await.map_err(|e| unavailable(&e))? {
        return Err(ReplyError::OptedOut);
    }
    let base = OutboundMessage {
        id: reply.id.clone(),
        conversation_id: id.to_owned(),
        channel,
        account: conv.account.clone(),
        to: address,
        text: reply.text.clone(),
        media_urls: reply.media_urls.clone(),
        media_ids: vec![],
        agent: reply.agent.clone(),
        automated: reply.automated,
        created_at: now,
    };
    // Text and each provider media go out as separate messages, each with
    // its own id, so every send is one provider call and idempotent.
    let mut outs = Vec::new();
    if !base.text.is_empty() || !base.media_urls.is_empty() {
        outs.push(base.clone());
    }
    for (i, media) in reply.media.iter().enumerate() {
        let id = format!("{}-m{i}", reply.id);
        outs.push(OutboundMessage { id, text: String::new(), media_urls: vec![], media_ids: vec![media.clone()], ..base.clone() });
    }
    let ids: Vec<String> = outs.iter().map(|o| o.id.clone()).collect();
    let stored = serde_json::json!({
        "id": reply.id, "direction": "outbound", "channel": channel, "account": base.account,
        "agent": reply.agent, "author": reply.automated, "text": base.text, "media_urls": base.media_urls, "media": reply.media,
        "outbound_ids": ids, "at": now,
    });
    let message = EventMessage { id: base.id.clone(), direction: "outbound".into(), text: base.text.clone(), attachments: vec![] };
    let mut outbound = Vec::with_capacity(outs.len());
    for o in &outs {
        outbound.push((o.id.clone(), serde_json::to_string(o).map_err(|e| unavailable(&e))?));
    }
    let record = ReplyRecord {
        conversation: id,
        id: &base.id,
        agent: reply.agent.as_deref().unwrap_or(""),
        channel,
        stored: stored.to_string(),
        message: serde_json::to_string(&message).map_err(|e| unavailable(&e))?,
        outbound,
        ttl_secs: super::STATE_TTL.as_secs(),
        now_ms: now.timestamp_millis(),
    };
    // One step: the history, the send record, the `replied` event and the
    // outbound messages, or none of them (503: never sent).
    let (outcome, entries) = app.store.record_reply(&record).await.map_err(|e| unavailable(&e))?;
    match outcome {
        ReplyOutcome::Queued => {}
        // A retry of a reply already queued: the same answer, nothing twice.
        ReplyOutcome::Duplicate => return Ok(ids),
        ReplyOutcome::Resolved => return Err(ReplyError::Resolved),
        ReplyOutcome::NotFound => return Err(ReplyError::NotFound),
    }
    // The clocks stop before the `replied` event goes out (as a resolve
    // does), so the reports, which read a stopped clock's outcome when
    // they count the event, find it stopped.
    if let Err(e) = crate::sla::observe(app, id, crate::sla::clock::Trigger::AgentReply, &base.id, now).await {
        tracing::warn!(error = %e, conversation = %id, "reply queued but the SLA clocks did not move");
    }
    crate::outbox::flush_events(app, &entries).await;
    Ok(ids)
}

/// The reply id for an agent's `Idempotency-Key`: the same key from the
/// same agent on the same conversation is the same reply, so a retried
/// request is recognised; letters and digits only (it names the provider
/// messages, a status callback's query, an email Message-ID).
pub fn idempotent_id(agent: &str, conversation: &str, key: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(format!("{agent}\n{conversation}\n{key}").as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02X}")).collect();
    format!("K{}", &hex[..25])
}

#[cfg(test)]
mod tests {
    #[test]
    fn idempotency_keys_name_one_reply_per_agent_and_conversation() {
        let a = super::idempotent_id("alice", "C1", "k-1");
        assert_eq!(a, super::idempotent_id("alice", "C1", "k-1"));
        assert_eq!(a.len(), 26);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, super::idempotent_id("bob", "C1", "k-1"));
        assert_ne!(a, super::idempotent_id("alice", "C2", "k-1"));
        assert_ne!(a, super::idempotent_id("alice", "C1", "k-2"));
    }
}
