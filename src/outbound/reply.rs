//! Accepting an agent's reply for sending, whichever way it came (the API,
//! the agent's emailed answer): checks against the conversation, puts the
//! outbound messages on JetStream, records the reply, stops the SLA clocks
//! and announces it with a `replied` event.

use chrono::{DateTime, Utc};
use switchboard_core::{Channel, MediaRef, OutboundMessage};

use crate::app::App;
use crate::events::{self, Customer, Event, EventData, EventMessage};
use crate::store::ConversationRecord;

/// One reply to send.
#[derive(Debug)]
pub struct Reply {
    /// Id of the first outbound message (the rest derive from it), so a
    /// retried submission is absorbed downstream.
    pub id: String,
    /// The agent replying (`None`: the admin without an agent).
    pub agent: Option<String>,
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

/// Submits `reply` to conversation `id` (whose record is `conv`); the ids
/// of the outbound messages once JetStream holds them.
pub async fn submit(
    app: &App,
    id: &str,
    conv: &ConversationRecord,
    reply: Reply,
    now: DateTime<Utc>,
) -> Result<Vec<String>, ReplyError> {
    let unavailable = |e: &dyn std::fmt::Display| ReplyError::Unavailable(e.to_string());
    let field = |k: &str| conv.get(k).cloned().unwrap_or_default();
    if field("state") == "resolved" {
        return Err(ReplyError::Resolved);
    }
    let channel: Channel = field("channel").parse().map_err(|e| unavailable(&format_args!("bad channel: {e}")))?;
    if !reply.media.is_empty() && channel != Channel::Wechat {
        return Err(ReplyError::MediaNotWechat);
    }
    if channel == Channel::Sms && app.store.is_opted_out(&field("account"), &field("address")).await.map_err(|e| unavailable(&e))? {
        return Err(ReplyError::OptedOut);
    }
    let base = OutboundMessage {
        id: reply.id.clone(),
        conversation_id: id.to_owned(),
        channel,
        account: field("account"),
        to: field("address"),
        text: reply.text.clone(),
        media_urls: reply.media_urls.clone(),
        media_ids: vec![],
        agent: reply.agent.clone(),
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
    for o in &outs {
        let payload = serde_json::to_vec(o).map_err(|e| unavailable(&e))?;
        app.bus.publish(app.bus.subjects().outbound(channel), &o.id, payload.into()).await.map_err(|e| unavailable(&e))?;
    }
    let ids: Vec<String> = outs.iter().map(|o| o.id.clone()).collect();
    let stored = serde_json::json!({
        "id": reply.id, "direction": "outbound", "channel": channel, "account": base.account,
        "agent": reply.agent, "text": base.text, "media_urls": base.media_urls, "media": reply.media,
        "outbound_ids": ids, "at": now,
    });
    if let Err(e) = app.store.record_reply(id, &base.id, reply.agent.as_deref(), &stored.to_string(), now.timestamp_millis()).await {
        // The reply is durable on JetStream and will be sent; only the history lags.
        tracing::warn!(error = %e, conversation = %id, "reply queued but not recorded in the history");
    }
    if let Err(e) = crate::sla::observe(app, id, crate::sla::clock::Trigger::AgentReply, &base.id, now).await {
        tracing::warn!(error = %e, conversation = %id, "reply queued but the SLA clocks did not move");
    }
    let data = EventData {
        conversation_id: id.to_owned(),
        channel: channel.to_string(),
        account: base.account.clone(),
        customer: Customer { id: field("customer"), address: base.to.clone() },
        queue: field("queue"),
        agent: reply.agent.clone(),
        message: Some(EventMessage { id: base.id.clone(), direction: "outbound".into(), text: base.text.clone(), attachments: vec![] }),
        ..EventData::default()
    };
    let event = Event::new(events::REPLIED, format!("{}:replied", base.id), &app.event_source, now, data);
    if let Err(e) = crate::routing::publish(app, event).await {
        tracing::warn!(error = %e, conversation = %id, "reply queued but its event was not published");
    }
    Ok(ids)
}
