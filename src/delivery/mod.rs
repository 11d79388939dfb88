//! Delivery of conversation events to agents: consumes the event log
//! (durable consumer `delivery`), fans each event out on `P.agent.<id>` and
//! `P.queue.<name>`, and POSTs it to the agent's webhook and Slack targets.
//!
//! A target that already received an event (recorded in Redis) is skipped on
//! redelivery, so a partial failure retries only what failed. Transient
//! failures are retried within the delivery and then handed back to
//! JetStream with a delay; after `nats.max_deliver` deliveries, or at once on
//! a permanent refusal, the delivery is dead-lettered.

pub mod mailbox;
pub mod signing;
mod targets;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::{AckKind, Message};
use tokio_util::sync::CancellationToken;

use crate::app::App;
use crate::bus::consume::{ack, decode_or_term, delivered, run_durable};
use crate::config::DeliverTarget;
use crate::events::{self, Event, EventData};
use crate::telemetry::Outcome;
pub use targets::{kind as target_kind, Attempt, Targets};

/// How long a per-event record of reached targets is kept.
const DELIVERED_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// Runs the delivery worker until `cancel` fires. The events of one
/// conversation reach each target in the log's order, whichever replicas
/// handle them: on a replica they are handled one at a time in arrival
/// order, and across replicas an event waits until the conversation's
/// earlier events are delivered (a pending set per conversation in Redis).
pub async fn run(app: Arc<App>, cancel: CancellationToken) {
    let subjects = app.bus.subjects();
    let (stream, filter) = (subjects.events_stream(), subjects.events_all());
    let workers = app.settings.delivery.workers;
    let lanes = Lanes::default();
    run_durable(&app.bus, "delivery", stream, filter, workers, cancel, |msg| {
        let (app, lanes) = (app.clone(), lanes.clone());
        async move {
            let (lane, key) = lanes.lane(&msg);
            {
                let _turn = lane.lock().await;
                handle(&app, msg).await;
            }
            drop(lane);
            lanes.release(&key);
        }
    })
    .await;
}

/// One FIFO lock per conversation with events in flight: tokio's mutex
/// grants the lock in the order it was asked for, and the consume loop asks
/// in the order messages arrive.
#[derive(Clone, Default)]
struct Lanes(Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>);

impl Lanes {
    fn lane(&self, msg: &Message) -> (Arc<tokio::sync::Mutex<()>>, String) {
        // The conversation id is the CloudEvents `subject`; peek at it
        // without decoding the whole event.
        #[derive(serde::Deserialize)]
        struct Subject {
            #[serde(default)]
            subject: String,
        }
        let key = serde_json::from_slice::<Subject>(&msg.payload).map(|s| s.subject).unwrap_or_default();
        let mut lanes = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        (lanes.entry(key.clone()).or_default().clone(), key)
    }

    fn release(&self, key: &str) {
        let mut lanes = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if lanes.get(key).is_some_and(|l| Arc::strong_count(l) == 1) {
            lanes.remove(key);
        }
    }
}

/// How long an event waits for the conversation's earlier events to be
/// delivered (by any replica) before it goes anyway.
const ORDER_WAIT: Duration = Duration::from_secs(10);

/// A placeholder older than this belongs to a publisher that died.
const STALE_ANNOUNCE_MS: i64 = 5_000;

/// How many pending entries [`wait_turn`] reads at once.
const HEADS: isize = 8;

/// What an event's delivery does about the conversation's pending entries.
#[derive(Debug, PartialEq, Eq)]
enum Turn {
    /// Nothing earlier is pending: deliver.
    Go,
    /// An earlier event is pending, or one being published may be earlier.
    Wait,
    /// A placeholder whose publisher died: drop it and look again.
    DropStale(String),
}

/// Decides from the first entries of the pending set (see
/// [`Store::delivery_heads`](crate::store::Store::delivery_heads); `complete`:
/// they are all of them) whether event `event_id`, stream sequence `seq`,
/// may be delivered. A placeholder of the step that published this very
/// event (named `p:<its id>`, or `p:<step>` for the events `<step>:<kind>`
/// of a step whose first event this is, see `routing`) does not hold it
/// back: it is replaced by this event's sequence once the publisher saw the
/// ack, which may be after this delivery starts.
fn turn(entries: &[(String, i64)], complete: bool, event_id: &str, seq: u64, now_ms: i64) -> Turn {
    for (member, score) in entries {
        if *score < 0 {
            if own_placeholder(member, event_id) {
                continue;
            }
            if now_ms + score > STALE_ANNOUNCE_MS {
                return Turn::DropStale(member.clone());
            }
            return Turn::Wait;
        }
        return if (*score as u64) < seq { Turn::Wait } else { Turn::Go };
    }
    if complete {
        Turn::Go
    } else {
        Turn::Wait
    }
}

fn own_placeholder(member: &str, event_id: &str) -> bool {
    let Some(step) = member.strip_prefix(crate::store::PLACEHOLDER_PREFIX) else { return false };
    event_id == step
        || event_id.strip_prefix(step).and_then(|rest| rest.strip_prefix(':')).is_some_and(|kind| !kind.contains(':'))
}

/// Waits until every earlier event of the conversation is delivered (the
/// pending set in Redis, filled by `routing::publish`), keeping the message
/// in progress meanwhile. Gives up after [`ORDER_WAIT`]: a stuck earlier
/// event must not hold the conversation for ever.
async fn wait_turn(app: &App, msg: &Message, conversation: &str, event_id: &str, seq: u64) {
    let started = tokio::time::Instant::now();
    let mut last_progress = started;
    let mut polls = 0u32;
    loop {
        match app.store.delivery_heads(conversation, HEADS).await {
            Ok(entries) => {
                let complete = entries.len() < HEADS as usize;
                match turn(&entries, complete, event_id, seq, chrono::Utc::now().timestamp_millis()) {
                    Turn::Go => return,
                    Turn::Wait => {}
                    Turn::DropStale(member) => {
                        if let Err(e) = app.store.delivery_done(conversation, &member).await {
                            tracing::warn!(error = %e, "cannot drop a stale delivery placeholder");
                        }
                        continue;
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the delivery order; delivering now");
                return;
            }
        }
        if started.elapsed() >= ORDER_WAIT {
            tracing::warn!(%conversation, seq, "an earlier event of the conversation is still undelivered; delivering out of order");
            return;
        }
        if last_progress.elapsed() >= Duration::from_secs(1) {
            ack(msg, AckKind::Progress).await;
            last_progress = tokio::time::Instant::now();
        }
        // An earlier event is usually registered or delivered within a few
        // milliseconds: look again soon at first, then every 20 ms.
        polls += 1;
        tokio::time::sleep(Duration::from_millis(match polls {
            0..=4 => 1,
            5..=8 => 2,
            9..=11 => 5,
            _ => 20,
        }))
        .await;
    }
}

async fn handle(app: &App, msg: Message) {
    let Some(event) = decode_or_term::<Event>(&msg, &app.metrics, "delivery").await else { return };
    let seq = msg.info().map(|i| i.stream_sequence).unwrap_or(0);
    let conversation = event.data.conversation_id.clone();
    if !conversation.is_empty() {
        wait_turn(app, &msg, &conversation, &event.id, seq).await;
    }
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
    let mut targets: Vec<(String, &DeliverTarget)> = event
        .data
        .agent
        .as_ref()
        .and_then(|a| live.settings.agents.get(a))
        .map(|a| a.deliver.iter().enumerate().map(|(i, t)| (format!("{agent}#{i}"), t)).collect())
        .unwrap_or_default();
    if event.data.supervisors {
        targets.extend(live.settings.sla.supervisors.iter().enumerate().map(|(i, t)| (format!("supervisor#{i}"), t)));
    }
    let attempt = delivered(&msg);
    let last_delivery = attempt >= app.settings.nats.max_deliver;
    let mut retry_later = false;
    for (key, target) in targets {
        match deliver_once(app, &event, &body, &key, target, last_delivery).await {
            Ok(()) => {}
            Err(reason) => {
                tracing::warn!(event = %event.id, target = %key, %reason, attempt, "delivery failed; will retry");
                retry_later = true;
            }
        }
    }
    if retry_later {
        // Still pending: the conversation's later events wait for it.
        let wait = switchboard_core::retry::backoff(attempt as u32, app.retry_base(), app.retry_cap());
        ack(&msg, AckKind::Nak(Some(wait))).await;
    } else {
        if !conversation.is_empty() {
            if let Err(e) = app.store.delivery_delivered(&conversation, seq).await {
                tracing::warn!(error = %e, "delivered, but the next event of the conversation may wait");
            }
        }
        ack(&msg, AckKind::Ack).await;
    }
}

/// Delivers one event to one target unless it reached it before or the
/// target is disabled. `Err` asks for the whole event to be retried later.
async fn deliver_once(
    app: &App,
    event: &Event,
    body: &bytes::Bytes,
    key: &str,
    target: &DeliverTarget,
    last_delivery: bool,
) -> Result<(), String> {
    let kind = targets::kind(target);
    if app.store.was_delivered(&event.id, key).await.map_err(|e| e.to_string())? {
        return Ok(());
    }
    if app.store.is_target_disabled(key).await.map_err(|e| e.to_string())? {
        app.metrics.delivery(kind, Outcome::rejected);
        return Ok(());
    }
    match attempt(app, target, event, body).await {
        Attempt::Done => {
            app.metrics.delivery(kind, Outcome::ok);
            if let Err(e) = app.store.mark_delivered(&event.id, key, DELIVERED_TTL).await {
                tracing::warn!(error = %e, "delivered, but cannot record it; a retry may repeat it");
            }
            Ok(())
        }
        Attempt::Skipped => Ok(()),
        Attempt::Gone => {
            app.metrics.delivery(kind, Outcome::failed);
            disable(app, event, key, kind).await
        }
        Attempt::Retry(reason) if !last_delivery => {
            app.metrics.delivery(kind, Outcome::retry);
            Err(reason)
        }
        Attempt::Retry(reason) | Attempt::Failed(reason) => {
            app.metrics.delivery(kind, Outcome::failed);
            tracing::warn!(event = %event.id, target = %key, %reason, "delivery dead-lettered");
            // An id that is one URL path segment as it is (no `#`, `/`, `?`).
            let id: String = format!("{}~{key}", event.id)
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() || "-_.~:".contains(c) { c } else { '-' })
                .collect();
            let entry = serde_json::json!({
                "id": id,
                "event": event,
                "target": key,
                "kind": kind,
                "reason": reason,
                "at": chrono::Utc::now(),
            });
            app.store.dead_letter(&id, &entry, chrono::Utc::now().timestamp_millis()).await.map_err(|e| e.to_string())?;
            if let Err(e) = app.store.mark_delivered(&event.id, key, DELIVERED_TTL).await {
                tracing::warn!(error = %e, "dead-lettered, but cannot record it");
            }
            Ok(())
        }
    }
}

/// One delivery of `event` to `target`: the mailbox target through SMTP,
/// the HTTP targets through [`Targets`].
async fn attempt(app: &App, target: &DeliverTarget, event: &Event, body: &bytes::Bytes) -> Attempt {
    match target {
        DeliverTarget::Email { address } => mailbox::deliver(app, address, event).await,
        _ => app.targets.deliver(target, event, body).await,
    }
}

/// A target that answered 410 Gone is disabled (until a reload) and a
/// `switchboard.delivery.disabled` event says so.
async fn disable(app: &App, event: &Event, key: &str, kind: &str) -> Result<(), String> {
    let first = app.store.disable_target(key, "the target answered 410 Gone").await.map_err(|e| e.to_string())?;
    if first {
        tracing::warn!(target = %key, kind, "delivery target answered 410 Gone; disabled until a reload");
        let data = EventData {
            agent: event.data.agent.clone(),
            reason: Some(format!("{kind} target {key} answered 410 Gone and is disabled until the configuration is reloaded")),
            ..EventData::default()
        };
        let id = format!("{key}:disabled:{}", event.id);
        let notice = Event::new(events::DELIVERY_DISABLED, id, &app.event_source, chrono::Utc::now(), data);
        let payload = serde_json::to_vec(&notice).map_err(|e| e.to_string())?;
        app.bus
            .publish(app.bus.subjects().event(events::DELIVERY_DISABLED), &notice.id, payload.into())
            .await
            .map_err(|e| e.to_string())?;
    }
    app.store.mark_delivered(&event.id, key, DELIVERED_TTL).await.map_err(|e| e.to_string())
}

/// Delivers a dead letter again to its target (admin replay). `Ok(true)`
/// when the target took it (the dead letter is dropped), `Ok(false)` when
/// it failed again (it stays), `Err` for a dead letter that is not there or
/// whose target is no longer configured.
pub async fn replay(app: &App, id: &str) -> Result<Result<(), String>, ReplayError> {
    let entry = app.store.dead_letter_entry(id).await.map_err(|e| ReplayError::Store(e.to_string()))?;
    let entry = entry.ok_or(ReplayError::NotFound)?;
    let event: Event = serde_json::from_value(entry["event"].clone()).map_err(|_| ReplayError::NotFound)?;
    let key = entry["target"].as_str().unwrap_or_default();
    let live = app.live();
    let (owner, index) = key.rsplit_once('#').ok_or(ReplayError::NotFound)?;
    let index: usize = index.parse().map_err(|_| ReplayError::NotFound)?;
    let target = if owner == "supervisor" {
        live.settings.sla.supervisors.get(index)
    } else {
        live.settings.agents.get(owner).and_then(|a| a.deliver.get(index))
    };
    let target = target.ok_or(ReplayError::TargetGone)?;
    let body = bytes::Bytes::from(serde_json::to_vec(&event).map_err(|e| ReplayError::Store(e.to_string()))?);
    let outcome = match attempt(app, target, &event, &body).await {
        Attempt::Done | Attempt::Skipped => Ok(()),
        Attempt::Gone => Err("the target answered 410 Gone".to_owned()),
        Attempt::Retry(reason) | Attempt::Failed(reason) => Err(reason),
    };
    if outcome.is_ok() {
        app.store.drop_dead_letter(id).await.map_err(|e| ReplayError::Store(e.to_string()))?;
        tracing::info!(dead_letter = %id, "dead letter replayed");
    }
    Ok(outcome)
}

/// Why a dead letter cannot be replayed.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// No such dead letter.
    #[error("no such dead letter")]
    NotFound,
    /// Its target is not configured any more.
    #[error("the dead letter's target is no longer configured")]
    TargetGone,
    /// Redis.
    #[error("{0}")]
    Store(String),
}

#[cfg(test)]
mod tests {
    use super::{turn, Turn};

    fn entries(list: &[(&str, i64)]) -> Vec<(String, i64)> {
        list.iter().map(|(m, s)| ((*m).to_owned(), *s)).collect()
    }

    const NOW: i64 = 1_000_000;

    #[test]
    fn an_event_goes_when_nothing_earlier_is_pending() {
        assert_eq!(turn(&[], true, "e", 10, NOW), Turn::Go);
        assert_eq!(turn(&entries(&[("10", 10), ("12", 12)]), true, "e", 10, NOW), Turn::Go);
        assert_eq!(turn(&entries(&[("9", 9), ("10", 10)]), true, "e", 10, NOW), Turn::Wait);
        // Only the first entries were read and none decided: wait.
        assert_eq!(turn(&entries(&[("p:sms:a:SM1", -NOW)]), false, "sms:a:SM1:assigned", 10, NOW), Turn::Wait);
    }

    #[test]
    fn its_own_placeholder_does_not_hold_an_event_back() {
        // The router's step placeholder, its only event.
        let own = entries(&[("p:sms:a:SM1", -NOW)]);
        assert_eq!(turn(&own, true, "sms:a:SM1:assigned", 10, NOW), Turn::Go);
        // A generic publish: the placeholder is named after the event.
        assert_eq!(turn(&entries(&[("p:C1:assigned:a1:5", -NOW)]), true, "C1:assigned:a1:5", 10, NOW), Turn::Go);
        // A step that reopened: the `reopened` event goes, the second one
        // waits for the step to register both.
        let reopen = entries(&[("p:sms:a:SM1:reopened", -NOW)]);
        assert_eq!(turn(&reopen, true, "sms:a:SM1:reopened", 10, NOW), Turn::Go);
        assert_eq!(turn(&reopen, true, "sms:a:SM1:assigned", 11, NOW), Turn::Wait);
        // Another step's placeholder, or an earlier registered event, holds it.
        assert_eq!(turn(&entries(&[("p:sms:a:SM2", -NOW)]), true, "sms:a:SM1:assigned", 10, NOW), Turn::Wait);
        assert_eq!(turn(&entries(&[("p:sms:a:SM1", -NOW), ("9", 9)]), true, "sms:a:SM1:assigned", 10, NOW), Turn::Wait);
        assert_eq!(turn(&entries(&[("p:sms:a:SM1", -NOW), ("11", 11)]), true, "sms:a:SM1:assigned", 10, NOW), Turn::Go);
        // A longer id is not a step's event.
        assert_eq!(turn(&entries(&[("p:sms:a:SM1", -NOW)]), true, "sms:a:SM1:x:assigned", 10, NOW), Turn::Wait);
    }

    #[test]
    fn a_dead_publishers_placeholder_is_dropped() {
        let stale = entries(&[("p:sms:a:SM2", -(NOW - super::STALE_ANNOUNCE_MS - 1))]);
        assert_eq!(turn(&stale, true, "sms:a:SM1:assigned", 10, NOW), Turn::DropStale("p:sms:a:SM2".to_owned()));
    }
}
