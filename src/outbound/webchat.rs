//! Agent replies to web chat visitors: there is no provider, the reply is
//! stored in the visitor's chat log (so `history` has it after a reconnect)
//! and pushed on `P.webchat.<visitor>` to whichever replica holds the
//! visitor's sockets.

use switchboard_core::{OutboundMessage, SendError, SendReceipt};
use switchboard_webchat::{is_visitor_id, ChatMessage, ServerFrame};

use crate::app::App;
use crate::store::ChatSlot;

/// Stores and pushes one reply. A redelivery finds the reply's slot and
/// stores nothing twice; the live push may repeat, which the widget absorbs
/// by message id.
pub async fn send(app: &App, msg: &OutboundMessage) -> Result<SendReceipt, SendError> {
    let retry = |e: crate::store::StoreError| SendError::Retryable { reason: e.to_string(), retry_after: None };
    let visitor = msg.to.as_str();
    if !is_visitor_id(visitor) {
        return Err(super::refused("the conversation has no web chat visitor to reply to"));
    }
    let keep = app.settings.channels.webchat.as_ref().map_or(1000, |w| w.history_limit);
    let slot = format!("out:{}", msg.id);
    let ChatSlot::Placed { id, seq, .. } = app.store.chat_reserve(visitor, &slot, &msg.id, 0).await.map_err(retry)?
    else {
        return Err(SendError::Retryable { reason: "rate limited".into(), retry_after: None });
    };
    let name = msg.agent.as_deref().map(|a| {
        app.settings.agents.get(a).and_then(|s| s.name.clone()).unwrap_or_else(|| a.to_owned())
    });
    let mut chat = ChatMessage::from_outbound(msg, seq, name);
    for url in &msg.media_urls {
        chat.text.push('\n');
        chat.text.push_str(url);
    }
    let json = serde_json::to_string(&chat).map_err(|e| super::refused(&e.to_string()))?;
    app.store.chat_commit(visitor, &slot, seq, &json, keep).await.map_err(retry)?;
    push(app, visitor, &ServerFrame::Message(chat), None).await;
    Ok(SendReceipt { provider_message_id: id, status: "delivered".into() })
}

/// Pushes a frame to every socket of `visitor` on any replica (core NATS,
/// best effort: a socket that misses it catches up with `history`).
/// `origin` names the socket that caused it, which skips its own echo.
pub async fn push(app: &App, visitor: &str, frame: &ServerFrame, origin: Option<&str>) {
    let subject = app.bus.subjects().webchat(visitor);
    let payload = bytes::Bytes::from(frame.to_json());
    let result = match origin {
        Some(origin) => app.bus.publish_core_with_header(subject, ORIGIN_HEADER, origin, payload).await,
        None => app.bus.publish_core(subject, payload).await,
    };
    if let Err(e) = result {
        tracing::warn!(error = %e, "cannot push to the visitor's sockets; they catch up on reconnect");
    }
}

/// The header naming the socket a pushed frame came from.
pub const ORIGIN_HEADER: &str = "Switchboard-Socket";
