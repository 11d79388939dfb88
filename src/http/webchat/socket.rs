//! One visitor's WebSocket after the upgrade: frames in (messages,
//! typing, history, under a rate limit), pushes out (agent replies, the
//! visitor's own messages from other sockets), until it closes, idles out,
//! its session expires or the instance shuts down.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures::{SinkExt, StreamExt};
use switchboard_core::{Channel, Masked};
use switchboard_webchat::{
    parse_client_frame, to_inbound, ChatMessage, ClientFrame, ErrorCode, SessionClaims, ServerFrame,
};
use tokio::time::Instant;

use crate::app::App;
use crate::chat::Chat;
use crate::events::{self, Event, EventData};
use crate::outbound::webchat::{push, ORIGIN_HEADER};
use crate::store::ChatSlot;
use crate::telemetry::Outcome;

/// How often a socket looks up its visitor's place in line, to send a
/// `queue` frame when it changed.
const PLACE_EVERY: Duration = Duration::from_secs(2);

/// Messages in one `history` answer; `more` tells the widget to ask again.
const HISTORY_BATCH: usize = 100;

/// Frames per second a socket may send on average, and in a burst.
const FRAMES_PER_SEC: f64 = 5.0;
const FRAME_BURST: f64 = 20.0;

/// A token bucket for the frames of one socket.
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn new() -> Bucket {
        Bucket { tokens: FRAME_BURST, at: Instant::now() }
    }

    fn take(&mut self) -> bool {
        let now = Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.at).as_secs_f64() * FRAMES_PER_SEC).min(FRAME_BURST);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// One visitor socket until it closes, idles out, its session expires or
/// the instance shuts down.
pub(super) async fn serve(app: Arc<App>, claims: SessionClaims, ws: WebSocket) {
    let Some(chat) = app.chat.as_ref() else { return };
    let socket_id = ulid::Ulid::new().to_string();
    let visitor = claims.visitor_id().to_owned();
    let (mut tx, mut rx) = ws.split();
    let mut pushed = match app.bus.client().subscribe(app.bus.subjects().webchat(&visitor)).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "cannot subscribe for the visitor's pushes");
            let frame = error_frame(ErrorCode::Unavailable, "the chat is unavailable, reconnect later", None);
            let _ = tx.send(Message::Text(frame.to_json().into())).await;
            let _ = tx.send(close(1011, "unavailable")).await;
            return;
        }
    };
    tracing::debug!(visitor = %Masked(&visitor), "web chat socket open");
    let idle = Duration::from_secs(chat.settings().idle_timeout_secs);
    let expires_in = (claims.expires_at() - chrono::Utc::now()).to_std().unwrap_or_default();
    let expiry = tokio::time::sleep(expires_in);
    tokio::pin!(expiry);
    let mut last_frame = Instant::now();
    let mut bucket = Bucket::new();
    let mut place_tick = tokio::time::interval(PLACE_EVERY);
    place_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut place = 0;
    loop {
        let out: Vec<Message> = tokio::select! {
            _ = app.closing.cancelled() => {
                let _ = tx.send(close(1001, "server restarting")).await;
                break;
            }
            _ = &mut expiry => {
                let frame = error_frame(ErrorCode::SessionExpired, "the session token has expired", None);
                let _ = tx.send(Message::Text(frame.to_json().into())).await;
                let _ = tx.send(close(4001, "session expired")).await;
                break;
            }
            _ = tokio::time::sleep_until(last_frame + idle) => {
                let _ = tx.send(close(1000, "idle")).await;
                break;
            }
            _ = place_tick.tick() => match app.store.visitor_place(&visitor).await {
                // Sent when it changes: the first while waiting, `0` when a
                // person took the conversation.
                Ok(Some(now)) if now != place => {
                    place = now;
                    vec![Message::Text(ServerFrame::Queue { position: now }.to_json().into())]
                }
                _ => continue,
            },
            frame = pushed.next() => match frame {
                Some(m) if m.headers.as_ref().and_then(|h| h.get(ORIGIN_HEADER)).is_some_and(|o| o.as_str() == socket_id) => continue,
                Some(m) => match std::str::from_utf8(&m.payload) {
                    Ok(text) => vec![Message::Text(text.into())],
                    Err(_) => continue,
                },
                None => {
                    // The NATS connection is gone for good: make the widget
                    // reconnect (to this or another replica).
                    let _ = tx.send(close(1011, "unavailable")).await;
                    break;
                }
            },
            frame = rx.next() => {
                let Some(Ok(frame)) = frame else { break };
                last_frame = Instant::now();
                match frame {
                    Message::Text(text) => {
                        if bucket.take() {
                            let answer = on_frame(&app, chat, &claims, &socket_id, text.as_str()).await;
                            answer.into_iter().map(|f| Message::Text(f.to_json().into())).collect()
                        } else {
                            let frame = error_frame(ErrorCode::RateLimited, "too many frames, slow down", None);
                            vec![Message::Text(frame.to_json().into())]
                        }
                    }
                    Message::Binary(_) => {
                        let frame = error_frame(ErrorCode::Malformed, "frames are JSON text, not binary", None);
                        vec![Message::Text(frame.to_json().into())]
                    }
                    Message::Close(_) => break,
                    Message::Ping(_) | Message::Pong(_) => continue,
                }
            }
        };
        let mut failed = false;
        for m in out {
            if tx.send(m).await.is_err() {
                failed = true;
                break;
            }
        }
        if failed {
            break;
        }
    }
    let _ = pushed.unsubscribe().await;
    tracing::debug!(visitor = %Masked(&visitor), "web chat socket closed");
}

fn close(code: u16, reason: &'static str) -> Message {
    Message::Close(Some(CloseFrame { code, reason: reason.into() }))
}

fn error_frame(code: ErrorCode, message: &str, client_id: Option<&str>) -> ServerFrame {
    ServerFrame::Error { code, message: message.to_owned(), client_id: client_id.map(str::to_owned) }
}

/// Answers one text frame from the widget (`typing` has no answer).
async fn on_frame(app: &App, chat: &Chat, claims: &SessionClaims, socket_id: &str, text: &str) -> Option<ServerFrame> {
    let frame = match parse_client_frame(text) {
        Ok(f) => f,
        Err(e) => return Some(ServerFrame::error_for(&e)),
    };
    Some(match frame {
        ClientFrame::Ping => ServerFrame::Pong,
        ClientFrame::Message { client_id, text } => {
            on_message(app, chat, claims, socket_id, &client_id, &text).await
        }
        ClientFrame::History { after } => match history(app, claims.visitor_id(), after).await {
            Ok(frame) => frame,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read web chat history");
                error_frame(ErrorCode::Unavailable, "history is unavailable just now, ask again", None)
            }
        },
        ClientFrame::Csat { score, comment } => match crate::csat::record_chat(app, claims.visitor_id(), score, &comment).await {
            Ok(Some(score)) => ServerFrame::CsatDone { score },
            Ok(None) => error_frame(ErrorCode::Rejected, "there is no survey to answer with this score", None),
            Err(e) => {
                tracing::warn!(error = %e, "cannot record a web chat survey answer");
                error_frame(ErrorCode::Unavailable, "the answer could not be recorded just now, send it again", None)
            }
        },
        ClientFrame::Typing { on } => {
            if let Err(e) = forward_typing(app, claims.visitor_id(), on).await {
                tracing::debug!(error = %e, "cannot forward typing");
            }
            return None;
        }
    })
}

/// Stores a visitor message (see the module documentation) and answers its
/// `ack`, or the `error` frame that tells the widget what to do.
async fn on_message(
    app: &App,
    chat: &Chat,
    claims: &SessionClaims,
    socket_id: &str,
    client_id: &str,
    text: &str,
) -> ServerFrame {
    let visitor = claims.visitor_id();
    let unavailable = |what: &dyn std::fmt::Display| {
        tracing::warn!(error = %what, "web chat message not stored; the widget will resend it");
        app.metrics.ingress("webchat", switchboard_webchat::ACCOUNT, Outcome::retry);
        error_frame(ErrorCode::Unavailable, "the message could not be stored just now", Some(client_id))
    };
    let new_id = ulid::Ulid::new().to_string();
    let slot = match app.store.chat_reserve(visitor, client_id, &new_id, chat.settings().messages_per_minute).await {
        Ok(s) => s,
        Err(e) => return unavailable(&e),
    };
    let (id, seq, stored) = match slot {
        ChatSlot::Placed { id, seq, stored } => (id, seq, stored),
        ChatSlot::Limited => {
            app.metrics.ingress("webchat", switchboard_webchat::ACCOUNT, Outcome::rejected);
            return error_frame(ErrorCode::RateLimited, "too many messages, wait a minute", Some(client_id));
        }
    };
    let ack = ServerFrame::Ack { client_id: client_id.to_owned(), id: id.clone(), seq };
    if stored {
        return ack;
    }
    let inbound = to_inbound(claims, client_id, text, id, chrono::Utc::now());
    let payload = match serde_json::to_vec(&inbound) {
        Ok(p) => p,
        Err(e) => return unavailable(&e),
    };
    let msg_id = format!("webchat:{}:{}", inbound.account, inbound.provider_message_id);
    if let Err(e) = app.bus.publish(app.bus.subjects().inbound(Channel::Webchat), &msg_id, payload.into()).await {
        if e.is_too_large() {
            // Cannot happen under the frame cap; refused for good if it does.
            app.metrics.ingress("webchat", switchboard_webchat::ACCOUNT, Outcome::rejected);
            return error_frame(ErrorCode::Rejected, "the message is too large", Some(client_id));
        }
        return unavailable(&e);
    }
    let message = ChatMessage::from_inbound(&inbound, seq);
    let json = match serde_json::to_string(&message) {
        Ok(j) => j,
        Err(e) => return unavailable(&e),
    };
    match app.store.chat_commit(visitor, client_id, seq, &json, chat.settings().history_limit).await {
        Ok(true) => push(app, visitor, &ServerFrame::Message(message), Some(socket_id)).await,
        Ok(false) => {}
        Err(e) => return unavailable(&e),
    }
    app.metrics.ingress("webchat", switchboard_webchat::ACCOUNT, Outcome::ok);
    tracing::info!(channel = "webchat", visitor = %Masked(visitor), message = %inbound.id, "inbound accepted");
    ack
}

/// The `history` answer: stored messages after `after`.
async fn history(app: &App, visitor: &str, after: u64) -> Result<ServerFrame, crate::store::StoreError> {
    let (raw, more) = app.store.chat_history(visitor, after, HISTORY_BATCH).await?;
    let messages = raw.iter().filter_map(|m| serde_json::from_str::<ChatMessage>(m).ok()).collect();
    Ok(ServerFrame::History { messages, more })
}

/// Tells the visitor's agent that the visitor is typing: a
/// `switchboard.conversation.typing` CloudEvent on `P.agent.<agent>` only
/// (core NATS, not the event log: it is stale a few seconds later).
async fn forward_typing(app: &App, visitor: &str, on: bool) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let profile = app.store.customer_by_identity(("visitor", visitor)).await?;
    let Some(conversation) = profile.get("open") else { return Ok(()) };
    let Some(record) = app.store.conversation(conversation).await? else { return Ok(()) };
    let Some(agent) = record.agent.as_deref() else { return Ok(()) };
    let mut data = EventData::about(&record);
    data.typing = Some(on);
    let event = Event::new(events::TYPING, ulid::Ulid::new().to_string(), &app.event_source, chrono::Utc::now(), data);
    app.bus.publish_core(app.bus.subjects().agent(agent), serde_json::to_vec(&event)?.into()).await?;
    Ok(())
}
