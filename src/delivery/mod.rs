//! Delivery of conversation events to agents: consumes the event log
//! (durable consumer `delivery`), fans each event out on `P.agent.<id>` and
//! `P.queue.<name>`, and POSTs it to the agent's webhook and Slack targets.
//!
//! A target that already received an event (recorded in Redis) is skipped on
//! redelivery, so a partial failure retries only what failed. Transient
//! failures are retried within the delivery and then handed back to
//! JetStream with a delay; after `nats.max_deliver` deliveries, or at once on
//! a permanent refusal, the delivery is dead-lettered.

pub mod signing;
mod targets;

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{AckKind, Message};
use tokio_util::sync::CancellationToken;

use crate::app::App;
use crate::bus::consume::{ack, decode_or_term, delivered, run_durable};
use crate::config::DeliverTarget;
use crate::events::Event;
use crate::telemetry::Outcome;
pub use targets::{Attempt, Targets};

/// How long a per-event record of reached targets is kept.
const DELIVERED_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// Runs the delivery worker until `cancel` fires.
pub async fn run(app: Arc<App>, cancel: CancellationToken) {
    let subjects = app.bus.subjects();
    let (stream, filter) = (subjects.events_stream(), subjects.events_all());
    let workers = app.settings.delivery.workers;
    run_durable(&app.bus, "delivery", stream, filter, workers, cancel, |msg| {
        let app = app.clone();
        async move { handle(&app, msg).await }
    })
    .await;
}

async fn handle(app: &App, msg: Message) {
    let Some(event) = decode_or_term::<Event>(&msg, &app.metrics, "delivery").await else { return };
    let body = msg.payload.clone();
    // Fan-out subjects for agents' own tools: at least once, like the log.
    let subjects = app.bus.subjects();
    let mut fanout = Vec::new();
    if !event.data.queue.is_empty() {
        fanout.push(subjects.queue(&event.data.queue));
    }
    for agent in event.data.agent.iter().chain(event.data.from_agent.iter()) {
        fanout.push(subjects.agent(agent));
    }
    for subject in fanout {
        if let Err(e) = app.bus.publish_core(subject, body.clone()).await {
            tracing::warn!(error = %e, "fan-out publish failed; retrying the event");
            ack(&msg, AckKind::Nak(Some(Duration::from_secs(1)))).await;
            return;
        }
    }
    let live = app.live();
    let agent = event.data.agent.as_deref().unwrap_or("-");
    let mut targets: Vec<(String, usize, &DeliverTarget)> = event
        .data
        .agent
        .as_ref()
        .and_then(|a| live.settings.agents.get(a))
        .map(|a| a.deliver.iter().enumerate().map(|(i, t)| (format!("{agent}#{i}"), i, t)).collect())
        .unwrap_or_default();
    if event.data.supervisors {
        targets.extend(live.settings.sla.supervisors.iter().enumerate().map(|(i, t)| (format!("supervisor#{i}"), i, t)));
    }
    let attempt = delivered(&msg);
    let last_delivery = attempt >= app.settings.nats.max_deliver;
    let mut retry_later = false;
    for (key, index, target) in targets {
        match app.store.was_delivered(&event.id, &key).await {
            Ok(true) => continue,
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(error = %e, "cannot read delivery state; retrying the event");
                retry_later = true;
                break;
            }
        }
        let kind = targets::kind(target);
        match app.targets.deliver(target, &event, &body).await {
            Attempt::Done => {
                app.metrics.delivery(kind, Outcome::ok);
                if let Err(e) = app.store.mark_delivered(&event.id, &key, DELIVERED_TTL).await {
                    tracing::warn!(error = %e, "delivered, but cannot record it; a retry may repeat it");
                }
            }
            Attempt::Skipped => {}
            Attempt::Retry(reason) if !last_delivery => {
                app.metrics.delivery(kind, Outcome::retry);
                tracing::warn!(event = %event.id, target = kind, %reason, attempt, "delivery failed; will retry");
                retry_later = true;
            }
            Attempt::Retry(reason) | Attempt::Failed(reason) => {
                app.metrics.delivery(kind, Outcome::failed);
                tracing::warn!(event = %event.id, target = kind, %reason, "delivery dead-lettered");
                let entry = serde_json::json!({
                    "event": event,
                    "agent": event.data.agent,
                    "target": index,
                    "kind": kind,
                    "reason": reason,
                    "at": chrono::Utc::now(),
                });
                if let Err(e) = app.store.dead_letter(&entry).await {
                    tracing::warn!(error = %e, "cannot dead-letter; retrying the event");
                    retry_later = true;
                } else if let Err(e) = app.store.mark_delivered(&event.id, &key, DELIVERED_TTL).await {
                    tracing::warn!(error = %e, "dead-lettered, but cannot record it");
                }
            }
        }
    }
    if retry_later {
        let wait = switchboard_core::retry::backoff(attempt as u32, app.retry_base(), app.retry_cap());
        ack(&msg, AckKind::Nak(Some(wait))).await;
    } else {
        ack(&msg, AckKind::Ack).await;
    }
}
