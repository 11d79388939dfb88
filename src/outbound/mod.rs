//! The sender: consumes replies (durable consumer `sender`) and hands each
//! to its channel's provider API. A transient failure goes back to
//! JetStream with a delay; after `nats.max_deliver` deliveries, or on a
//! permanent refusal, the reply is marked failed and a `send_failed` event
//! tells the agent.
//!
//! A provider send is never repeated by a redelivery where a repeat would
//! reach the customer twice. Before calling the provider the sender claims
//! the outbound id in Redis (`sending`, with a lease longer than a send can
//! take; see `claim` and `store::sending`), and it records the answer
//! (`sent`, `failed`) right after it, before any other work. A redelivery
//! that finds a final state acknowledges without sending; one that finds
//! a live claim (another replica is mid-call) hands the message back until
//! the lease ends. One that finds a claim whose lease ran out is the crash
//! window: its sender died after claiming and before recording, and the
//! provider may or may not have the message. It is counted
//! (`switchboard_outbound_uncertain_total`) and logged, then settled by
//! channel. Email and web chat resend, because a repeat is recognised
//! downstream: the email carries the same `Message-ID: <outbound
//! id@domain>` (receiving MTAs and mail clients drop a second copy), and
//! the web chat reply lands in the visitor's slot `out:<outbound id>`,
//! stored once. SMS and WeChat have no idempotency key, so a resend could
//! put the text on the customer's phone twice, which cannot be taken back;
//! they are marked `uncertain` instead, a final state on the `outbound`
//! record for someone to check, never resent.
//!
//! A provider's success status is a success even when its body cannot be
//! read (the channel senders return a receipt without a provider id): the
//! provider has the message, and a retry would send it twice.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{AckKind, Message};
use switchboard_core::{Channel, Masked, OutboundMessage, SendError};
use switchboard_email::ReplyHeaders;
use tokio_util::sync::CancellationToken;

use crate::app::App;
use crate::bus::consume::{ack, decode_or_term, delivered, run_durable};
use crate::events::{self, EventMessage};
use crate::store::EmitRequest;
use crate::telemetry::Outcome;

mod claim;
pub mod reply;
mod wechat;
pub mod webchat;

/// How long the sent/failed state of a reply is remembered.
pub(crate) const STATE_TTL: Duration = Duration::from_secs(30 * 24 * 3600);


/// Sends one reply on its channel, after the channel's own refusals:
/// an opted-out SMS number, a WeChat customer outside the 48-hour window.
async fn send(app: &App, msg: &OutboundMessage) -> Result<switchboard_core::SendReceipt, SendError> {
    let store_err = |e: crate::store::StoreError| SendError::Retryable { reason: e.to_string(), retry_after: None };
    let senders = app.senders();
    match msg.channel {
        Channel::Sms => {
            let Some(sender) = senders.sms(&msg.account) else { return Err(unknown_account(msg)) };
            if app.store.is_opted_out(&msg.account, &msg.to).await.map_err(store_err)? {
                return Err(refused("the customer opted out of SMS from this number (STOP)"));
            }
            sender.send(msg).await
        }
        Channel::Wechat => {
            let Some(api) = senders.wechat(&msg.account) else { return Err(unknown_account(msg)) };
            let last = last_wechat_interaction(app, msg).await.map_err(store_err)?;
            if let Err(why) = switchboard_wechat::within_reply_window(last, chrono::Utc::now()) {
                return Err(refused(&why));
            }
            wechat::send(app, api, msg).await
        }
        Channel::Email => {
            let Some(sender) = senders.email(&msg.account) else { return Err(unknown_account(msg)) };
            let conv = app.store.conversation(&msg.conversation_id).await.map_err(store_err)?;
            let (thread, subject) = conv.map(|c| (c.email_thread, c.subject.unwrap_or_default())).unwrap_or_default();
            let headers = ReplyHeaders {
                in_reply_to: thread.last_message_id,
                references: thread.references,
                subject,
                conversation_token: msg.conversation_id.clone(),
            };
            sender.send(msg, &headers).await
        }
        Channel::Webchat => webchat::send(app, msg).await,
    }
}

/// What follows a recorded send: an email's Message-ID is remembered, so
/// that replies to our message thread back into this conversation. Sent
/// already: a failure here must not make a retry send again.
async fn after_sent(app: &App, msg: &OutboundMessage, receipt: &switchboard_core::SendReceipt) {
    if msg.channel != Channel::Email {
        return;
    }
    if let Some(id) = switchboard_email::normalize_message_id(&receipt.provider_message_id) {
        if let Err(e) = app.store.remember_message_id(&id, &msg.conversation_id).await {
            tracing::warn!(error = %e, "sent, but replies to it may not thread");
        }
    }
}

/// The customer's last message or window-opening event on WeChat.
async fn last_wechat_interaction(
    app: &App,
    msg: &OutboundMessage,
) -> Result<chrono::DateTime<chrono::Utc>, crate::store::StoreError> {
    let conv = app.store.conversation(&msg.conversation_id).await?;
    let kind = format!("wechat-{}", msg.account);
    let profile = app.store.customer_by_identity((&kind, &msg.to)).await?;
    let pushed = profile
        .get("wechat_last_interaction_ms")
        .and_then(|v| v.parse::<i64>().ok())
        .and_then(chrono::DateTime::from_timestamp_millis);
    let wrote = conv.and_then(|c| c.last_customer_message_at);
    Ok(wrote.max(pushed).unwrap_or_default())
}

fn refused(reason: &str) -> SendError {
    SendError::Permanent { status: 0, code: None, reason: reason.to_owned() }
}

fn unknown_account(msg: &OutboundMessage) -> SendError {
    SendError::Permanent {
        status: 0,
        code: None,
        reason: format!("no sender for {} account `{}`", msg.channel, msg.account),
    }
}

/// Runs the sender until `cancel` fires.
pub async fn run(app: Arc<App>, cancel: CancellationToken) {
    let subjects = app.bus.subjects();
    let (stream, filter) = (subjects.outbound_stream(), subjects.outbound_all());
    let workers = app.settings.outbound.workers;
    let stop = cancel.clone();
    run_durable(&app.bus, "sender", stream, filter, workers, cancel, |msg| {
        let (app, stop) = (app.clone(), stop.clone());
        async move { handle(&app, msg, &stop).await }
    })
    .await;
}

async fn handle(app: &App, msg: Message, stop: &CancellationToken) {
    let Some(out) = decode_or_term::<OutboundMessage>(&msg, &app.metrics, "sender").await else { return };
    let lease = claim::lease(&app.settings.outbound);
    let Some(token) = claim::begin(app, &msg, &out, lease, stop).await else { return };
    let attempt = delivered(&msg);
    let Ok(answer) = tokio::time::timeout(claim::deadline(lease), send(app, &out)).await else {
        claim::abandoned(app, &msg, &out, &token).await;
        return;
    };
    match answer {
        Ok(receipt) => {
            claim::record_sent(app, &out, &receipt).await;
            app.metrics.egress(out.channel.as_str(), &out.account, Outcome::ok);
            tracing::info!(outbound = %out.id, conversation = %out.conversation_id, to = %Masked(&out.to), "reply sent");
            after_sent(app, &out, &receipt).await;
            ack(&msg, AckKind::Ack).await;
        }
        Err(SendError::Retryable { reason, retry_after }) if attempt < app.settings.nats.max_deliver => {
            claim::release(app, &out, &token).await;
            app.metrics.egress(out.channel.as_str(), &out.account, Outcome::retry);
            let wait = retry_after.unwrap_or_else(|| {
                switchboard_core::retry::backoff(attempt as u32, app.retry_base(), app.retry_cap())
            });
            tracing::warn!(outbound = %out.id, %reason, attempt, "send failed; will retry");
            ack(&msg, AckKind::Nak(Some(wait))).await;
        }
        Err(e) => {
            app.metrics.egress(out.channel.as_str(), &out.account, Outcome::failed);
            tracing::warn!(outbound = %out.id, error = %e, "send failed for good");
            if let Err(err) = fail(app, &out, &e.to_string()).await {
                tracing::warn!(error = %err, "cannot record the failure; retrying");
                // Unless `failed` is recorded, the redelivery tries afresh.
                claim::release(app, &out, &token).await;
                ack(&msg, AckKind::Nak(Some(Duration::from_secs(1)))).await;
                return;
            }
            ack(&msg, AckKind::Ack).await;
        }
    }
}

/// Marks the reply failed and tells the agent with a `send_failed` event.
async fn fail(app: &App, out: &OutboundMessage, reason: &str) -> Result<(), BoxError> {
    app.store.mark_outbound(out, "failed", None, STATE_TTL).await?;
    announce_failure(app, &out.id, "send_failed", reason).await
}

/// An error of a step that is retried as a whole.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Appends a `send_failed` event for an outbound message (a refusal by
/// us or the provider, or a failed delivery status) to the outbox, with
/// the conversation and agent recorded when the reply was accepted, and
/// publishes it. Once per outbound id and `cause`, so a repeat is absorbed.
pub async fn announce_failure(app: &App, outbound_id: &str, cause: &str, reason: &str) -> Result<(), BoxError> {
    announce(app, outbound_id, cause, None, reason).await
}

/// [`announce_failure`] with a machine-readable `reason` in the event's
/// data beside the `error` text.
pub(crate) async fn announce(app: &App, outbound_id: &str, cause: &str, code: Option<&str>, error: &str) -> Result<(), BoxError> {
    let meta = app.store.outbound(outbound_id).await?;
    let conversation = meta.get("conversation").cloned().unwrap_or_default();
    if conversation.is_empty() {
        tracing::warn!(outbound = %outbound_id, "a failure of an outbound message no conversation knows");
        return Ok(());
    }
    let message = EventMessage { id: outbound_id.to_owned(), direction: "outbound".into(), text: String::new(), attachments: vec![] };
    let cause_id = format!("{outbound_id}:{cause}");
    let req = EmitRequest {
        event_type: events::SEND_FAILED,
        conversation: &conversation,
        cause: &cause_id,
        agent: Some(meta.get("agent").map_or("", String::as_str)),
        reason: code,
        error: Some(error),
        message: Some(serde_json::to_string(&message)?),
        ..EmitRequest::default()
    };
    if let Some(emitted) = app.store.emit(&req, chrono::Utc::now().timestamp_millis()).await? {
        crate::outbox::flush_events(app, &emitted.entries).await;
    }
    Ok(())
}
