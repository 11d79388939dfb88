//! The inbound consumer (durable consumer `router`, shared by every
//! replica): each normalized inbound message is a customer's message,
//! routed in one atomic Redis step (`routing::route`), or an agent's
//! emailed answer to a conversation, applied as that agent's reply
//! (`commands::reply::MailReply`); a provider's notice (a delivery status,
//! a profile event) is applied by [`crate::notices`]. A message is acknowledged only after
//! Redis holds the result and its events are on JetStream; one that fails
//! on its last delivery (not for want of Redis or NATS) is dead-lettered.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::{AckKind, Message};
use chrono::Utc;
use switchboard_core::{Channel, InboundMessage, Masked};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::app::App;
use crate::bus::consume::{ack, decode_or_term, delivered, patiently, run_durable};
use crate::commands::reply::{MailOutcome, MailReply};
use crate::routing::agent_mail::is_agent_mail;
use crate::routing::{route, RouteError};

/// Runs the router until `cancel` fires.
pub async fn run(app: Arc<App>, cancel: CancellationToken) {
    let subjects = app.bus.subjects();
    let (stream, filter) = (subjects.inbound_stream(), subjects.inbound_all());
    let workers = app.settings.routing.workers;
    let stop = cancel.clone();
    run_durable(&app.bus, "router", stream, filter, workers, cancel, |msg| {
        let (app, stop) = (app.clone(), stop.clone());
        async move { handle(&app, msg, &stop).await }
    })
    .await;
}

async fn handle(app: &App, msg: Message, stop: &CancellationToken) {
    if app.bus.subjects().is_notice(&msg.subject) {
        return crate::notices::handle(app, msg, stop).await;
    }
    let started = Instant::now();
    let Some(inbound) = decode_or_term::<InboundMessage>(&msg, &app.metrics, "router").await else { return };
    if inbound.channel == Channel::Email && is_agent_mail(&inbound) {
        // An agent answering a conversation mail: a reply, not a customer message.
        match (MailReply { mail: &inbound }).apply(app).await {
            Ok(outcome) => {
                if let MailOutcome::Refused(why) = outcome {
                    tracing::warn!(from = %Masked(&inbound.customer), why, "agent reply mail refused");
                }
                ack(&msg, AckKind::Ack).await;
            }
            Err(e) => {
                let wait = switchboard_core::retry::backoff(delivered(&msg) as u32, app.retry_base(), app.retry_cap());
                tracing::warn!(error = %e, "agent reply mail failed; it will be redelivered");
                ack(&msg, AckKind::Nak(Some(wait))).await;
            }
        }
        return;
    }
    // A reply that only scores the last resolved conversation is the
    // survey's answer, not a message (`csat`).
    match crate::csat::intercept(app, &inbound).await {
        Ok(true) => return ack(&msg, AckKind::Ack).await,
        Ok(false) => {}
        Err(e) => {
            let wait = switchboard_core::retry::backoff(delivered(&msg) as u32, app.retry_base(), app.retry_cap());
            tracing::warn!(error = %e, "cannot check for a satisfaction score; the message will be redelivered");
            return ack(&msg, AckKind::Nak(Some(wait))).await;
        }
    }
    let span = tracing::info_span!("route", message = %inbound.id, conversation = tracing::field::Empty);
    // Waits out an outage of Redis or NATS in place, however long.
    // Where the message is on the stream goes with it, for an erase.
    let stream_seq = msg.info().map_or(0, |i| i.stream_sequence);
    let routed = patiently(&msg, "router", &app.metrics, stop, RouteError::is_transient, || route(app, &inbound, stream_seq))
        .instrument(span.clone())
        .await;
    let Some(routed) = routed else { return };
    match routed {
        Ok(result) => {
            span.record("conversation", result.conversation.as_str());
            let _in_span = span.enter();
            ack(&msg, AckKind::Ack).await;
            let outcome = if result.duplicate {
                "duplicate"
            } else if result.state == crate::model::ConversationState::Bot {
                "bot"
            } else if !result.decision.is_empty() && result.agent.is_some() {
                "assigned"
            } else if result.agent.is_some() {
                "continued"
            } else {
                "queued"
            };
            app.metrics.routed(&result.queue, outcome, started.elapsed().as_secs_f64());
            tracing::info!(
                conversation = %result.conversation,
                channel = %inbound.channel,
                customer = %Masked(&inbound.customer),
                queue = %result.queue,
                agent = result.agent.as_deref().unwrap_or("-"),
                outcome,
                "routed"
            );
        }
        Err(e) => {
            let attempt = delivered(&msg);
            if attempt >= app.settings.nats.max_deliver {
                poison(app, &msg, &inbound, &e).await;
                return;
            }
            let wait = switchboard_core::retry::backoff(attempt as u32, app.retry_base(), app.retry_cap());
            tracing::warn!(error = %e, attempt, "routing failed; the message will be redelivered");
            ack(&msg, AckKind::Nak(Some(wait))).await;
        }
    }
}

/// A message that failed routing on its last delivery (not for want of
/// Redis or NATS): kept as a dead letter (kind `inbound`, with the message)
/// and terminated, never silently dropped. If even that fails, it is handed
/// back to try again.
async fn poison(app: &App, msg: &Message, inbound: &InboundMessage, e: &RouteError) {
    let id = format!("inbound~{}", inbound.id);
    let entry = serde_json::json!({
        "id": id, "kind": "inbound", "target": "router", "reason": e.to_string(),
        "message": inbound, "at": Utc::now(),
    });
    match app.store.dead_letter(&id, &entry, Utc::now().timestamp_millis()).await {
        Ok(()) => {
            tracing::error!(error = %e, message = %inbound.id, "routing failed on the last delivery; dead-lettered");
            app.metrics.poison("router");
            ack(msg, AckKind::Term).await;
        }
        Err(store) => {
            tracing::warn!(error = %store, "cannot dead-letter a failed message; retrying it");
            ack(msg, AckKind::Nak(Some(Duration::from_secs(5)))).await;
        }
    }
}

