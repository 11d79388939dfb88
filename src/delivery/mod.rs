//! Delivery of conversation events to agents: consumes the event log
//! (durable consumer `delivery`), fans each event out on `P.agent.<id>` and
//! `P.queue.<name>`, and sends it to the delivery targets of the agent, of
//! the conversation's queue and (when the event says so) of the SLA
//! supervisors: webhooks, Slack (incoming webhooks and the app), mailboxes,
//! chat robots.
//!
//! A target that already received an event (recorded in Redis) is skipped on
//! redelivery, so a partial failure retries only what failed. Transient
//! failures are retried within the delivery and then handed back to
//! JetStream with a delay; after `nats.max_deliver` deliveries, or at once on
//! a permanent refusal, the delivery is dead-lettered.

pub mod mailbox;

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{AckKind, Message};
use tokio_util::sync::CancellationToken;

use crate::app::App;
use crate::bus::consume::{ack, decode_or_term, delivered, patiently, run_durable};
use crate::config::DeliverTarget;
use crate::events::{self, Event};
use crate::store::StoreError;
use crate::telemetry::Outcome;
pub use crate::targets::{kind as target_kind, Attempt, Targets};

/// How long a per-event record of reached targets is kept.
const DELIVERED_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// Runs the delivery worker until `cancel` fires. The events of one
/// conversation reach each target in their sequence order (`seq`),
/// whichever replicas publish and handle them: event `seq` waits until the
/// conversation's event `seq − 1` is delivered (the conversation's
/// delivery mark in Redis), on this replica or another.
pub async fn run(app: Arc<App>, cancel: CancellationToken) {
    let subjects = app.bus.subjects();
    let (stream, filter) = (subjects.events_stream(), subjects.events_all());
    let workers = app.settings.delivery.workers;
    let stop = cancel.clone();
    run_durable(&app.bus, "delivery", stream, filter, workers, cancel, |msg| {
        let (app, stop) = (app.clone(), stop.clone());
        async move { handle(&app, msg, &stop).await }
    })
    .await;
}

/// How long an event waits for the conversation's earlier events to be
/// delivered (by any replica), from when it reached the log, before it
/// goes anyway: a stuck earlier event must not hold a conversation for
/// ever. Long enough for an earlier event held by a replica that died, or
/// lost in a stream leader's failover, to be redelivered after the ack
/// wait and delivered (twice over, with a loaded machine's slack): at
/// least 30 s, and four ack waits.
fn order_wait(ack_wait_secs: u64) -> Duration {
    Duration::from_secs(ack_wait_secs.saturating_mul(4).max(30))
}

/// What an event's delivery does about the conversation's earlier events.
#[derive(Debug, PartialEq, Eq)]
enum Turn {
    /// Everything earlier is delivered: deliver.
    Go,
    /// Delivered before (a republished or redelivered event): nothing to do.
    Done,
    /// An earlier event is not delivered yet.
    Wait,
}

/// Decides from the conversation's delivery mark (the highest sequence
/// number delivered, see `Store::delivered_seq`) whether event `seq` goes.
fn turn(delivered: u64, seq: u64) -> Turn {
    if seq <= delivered {
        Turn::Done
    } else if seq == delivered + 1 {
        Turn::Go
    } else {
        Turn::Wait
    }
}

/// Whether the delivery order need not be read: event 1 of a
/// conversation, delivered for the first time, has nothing before it, and
/// cannot have been delivered before (a republish of it has the same
/// `Nats-Msg-Id` and is dropped by JetStream's duplicate window, which the
/// configuration check keeps longer than the relay's bound). Saves a Redis
/// round trip for every new conversation. A redelivery reads the mark.
fn first_of_its_conversation(seq: u64, delivery: Option<i64>) -> bool {
    seq == 1 && delivery == Some(1)
}

/// Waits until event `seq` of `conversation` is next (every earlier one
/// delivered or dead-lettered, by any replica), keeping the message in
/// progress meanwhile (a wait is not a failed delivery: it must not use up
/// `nats.max_deliver`). Past [`order_wait`] since the event reached the
/// log it goes out of order (logged). Redis errors are returned: the event
/// is retried, never delivered blind.
async fn wait_turn(app: &App, msg: &Message, conversation: &str, seq: u64) -> Result<Turn, crate::store::StoreError> {
    let started = tokio::time::Instant::now();
    let on_log_since = msg
        .info()
        .ok()
        .map(|i| {
            let published = chrono::DateTime::<chrono::Utc>::from_timestamp(i.published.unix_timestamp(), 0).unwrap_or_default();
            (chrono::Utc::now() - published).to_std().unwrap_or_default()
        })
        .unwrap_or_default();
    let order_wait = order_wait(app.settings.nats.ack_wait_secs);
    let mut polls = 0u32;
    loop {
        let delivered = app.store.delivered_seq(conversation).await?;
        match turn(delivered, seq) {
            Turn::Wait => {}
            decided => return Ok(decided),
        }
        if on_log_since + started.elapsed() >= order_wait {
            tracing::warn!(%conversation, seq, delivered, "an earlier event of the conversation is still undelivered; delivering out of order");
            return Ok(Turn::Go);
        }
        // An earlier event is usually delivered within a few milliseconds.
        polls += 1;
        tokio::time::sleep(Duration::from_millis(match polls {
            0..=4 => 1,
            5..=8 => 5,
            _ => 20,
        }))
        .await;
    }
}

async fn handle(app: &App, msg: Message, stop: &CancellationToken) {
    let Some(event) = decode_or_term::<Event>(&msg, &app.metrics, "delivery").await else { return };
    let conversation = event.data.conversation_id.clone();
    // Events of a conversation carry its sequence number (`seq`): delivery
    // keeps that order, whichever replica published or delivers them.
    let seq = event.seq.filter(|_| !conversation.is_empty());
    let transient = |e: &StoreError| e.is_transient();
    if let Some(seq) = seq.filter(|&seq| !first_of_its_conversation(seq, msg.info().ok().map(|i| i.delivered))) {
        match patiently(&msg, "delivery", &app.metrics, stop, transient, || wait_turn(app, &msg, &conversation, seq)).await {
            None => return,
            // A replayed dead letter (an event too large for the log
            // then) is past the delivery mark, which moved beyond it: it
            // goes to the targets that have no record of it.
            Some(Ok(Turn::Done)) if is_replay(&msg) => {}
            Some(Ok(Turn::Go | Turn::Wait)) => {}
            Some(Ok(Turn::Done)) => {
                ack(&msg, AckKind::Ack).await;
                return;
            }
            Some(Err(e)) => {
                tracing::warn!(error = %e, "cannot read the delivery order; retrying the event");
                ack(&msg, AckKind::Nak(Some(Duration::from_millis(500)))).await;
                return;
            }
        }
    }
    // Agents' tools and targets get the plaintext (decode_or_term opened it).
    let body = crate::bus::open_payload(&msg.payload).unwrap_or_default();
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
        let sent = patiently(&msg, "delivery", &app.metrics, stop, |e: &crate::bus::BusError| !e.is_too_large(), || {
            app.bus.publish_core(subject.clone(), body.clone())
        })
        .await;
        match sent {
            None => return,
            Some(Err(e)) => {
                // Never fits: the agents' tools miss it on this subject
                // (it is on the event log and goes to the targets below).
                tracing::error!(error = %e, event = %event.id, "event too large for a fan-out subject; not fanned out");
                app.metrics.poison("fanout");
            }
            Some(Ok(())) => {}
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
    if let Some(queue) = live.settings.queues.get(&event.data.queue) {
        let name = &event.data.queue;
        targets.extend(queue.deliver.iter().enumerate().map(|(i, t)| (format!("queue:{name}#{i}"), t)));
    }
    if event.data.supervisors {
        targets.extend(live.settings.sla.supervisors.iter().enumerate().map(|(i, t)| (format!("supervisor#{i}"), t)));
    }
    for list in event.data.notify.iter().filter_map(|n| live.settings.sla.notify.get_key_value(n)) {
        targets.extend(list.1.iter().enumerate().map(|(i, t)| (format!("notify:{}#{i}", list.0), t)));
    }
    let attempt = delivered(&msg);
    let last_delivery = attempt >= app.settings.nats.max_deliver;
    // A Redis outage between the targets waits in place; the targets
    // already reached are recorded and skipped on the next round.
    let round = || async {
        let mut retry_later = false;
        for (key, target) in &targets {
            match deliver_once(app, &event, &body, key, target, last_delivery).await {
                Ok(()) => {}
                Err(Failure::Store(e)) => return Err(e),
                Err(Failure::Target(reason)) => {
                    tracing::warn!(event = %event.id, target = %key, %reason, attempt, "delivery failed; will retry");
                    retry_later = true;
                }
            }
        }
        Ok(retry_later)
    };
    let retry_later = match patiently(&msg, "delivery", &app.metrics, stop, transient, round).await {
        None => return,
        Some(Ok(retry_later)) => retry_later,
        Some(Err(e)) => {
            tracing::warn!(error = %e, "delivery bookkeeping failed; retrying the event");
            true
        }
    };
    if retry_later {
        // Still pending: the conversation's later events wait for it.
        let wait = switchboard_core::retry::backoff(attempt as u32, app.retry_base(), app.retry_cap());
        ack(&msg, AckKind::Nak(Some(wait))).await;
        return;
    }
    if let Some(seq) = seq {
        let marked = patiently(&msg, "delivery", &app.metrics, stop, transient, || app.store.mark_delivered_seq(&conversation, seq)).await;
        match marked {
            None => return,
            Some(Ok(_)) => {}
            Some(Err(e)) => {
                // Not acknowledged: the redelivery finds every target
                // reached and moves the mark then.
                tracing::warn!(error = %e, "delivered, but the conversation's next event cannot go yet; retrying");
                ack(&msg, AckKind::Nak(Some(Duration::from_millis(500)))).await;
                return;
            }
        }
    }
    ack(&msg, AckKind::Ack).await;
}

/// Whether an operator replayed this event from the dead letters.
fn is_replay(msg: &Message) -> bool {
    msg.headers.as_ref().is_some_and(|h| h.get(crate::bus::REPLAY_HEADER).is_some())
}

/// Why one delivery to one target did not complete.
enum Failure {
    /// Redis, for the delivery's own bookkeeping: waited out in place.
    Store(StoreError),
    /// The target: retried later with backoff, then dead-lettered.
    Target(String),
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
) -> Result<(), Failure> {
    let kind = crate::targets::kind(target);
    if app.store.was_delivered(&event.id, key).await.map_err(Failure::Store)? {
        return Ok(());
    }
    if app.store.is_target_disabled(key).await.map_err(Failure::Store)? {
        app.metrics.delivery(kind, Outcome::rejected);
        return Ok(());
    }
    match attempt(app, key, target, event, body).await {
        Attempt::Done => {
            app.metrics.delivery(kind, Outcome::ok);
            if let Err(e) = app.store.mark_delivered(&event.id, key, DELIVERED_TTL).await {
                tracing::warn!(error = %e, "delivered, but cannot record it; a retry may repeat it");
            }
            Ok(())
        }
        Attempt::Skipped => Ok(()),
        Attempt::Gone(reason) => {
            app.metrics.delivery(kind, Outcome::failed);
            disable(app, event, key, kind, &reason).await
        }
        Attempt::Retry(reason) if !last_delivery => {
            app.metrics.delivery(kind, Outcome::retry);
            Err(Failure::Target(reason))
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
            app.store.dead_letter(&id, &entry, chrono::Utc::now().timestamp_millis()).await.map_err(Failure::Store)?;
            if let Err(e) = app.store.mark_delivered(&event.id, key, DELIVERED_TTL).await {
                tracing::warn!(error = %e, "dead-lettered, but cannot record it");
            }
            Ok(())
        }
    }
}

/// One delivery of `event` to `target`: the mailbox target through SMTP,
/// the chat robots under their shared rate limit, the other HTTP targets
/// through [`Targets`]. `key` is the target's delivery key
/// (`<agent>#<i>`…): the Slack app keeps its threads under it.
pub(crate) async fn attempt(app: &App, key: &str, target: &DeliverTarget, event: &Event, body: &bytes::Bytes) -> Attempt {
    if let Some(robot) = crate::targets::robots::Robot::of(target) {
        return app.targets.robot(&app.store, &app.metrics, &robot, event).await;
    }
    match target {
        DeliverTarget::Email { address } => mailbox::deliver(app, address, event).await,
        DeliverTarget::SlackApp { channel } => {
            let live = app.live();
            let mut queues: Vec<String> = live.settings.queues.keys().cloned().collect();
            if !live.settings.queues.contains_key(&live.settings.routing.default_queue) {
                queues.insert(0, live.settings.routing.default_queue.clone());
            }
            app.targets.slack_app(&app.store, &live.settings.integrations.slack, &queues, key, channel, event).await
        }
        _ => app.targets.deliver(target, event, body).await,
    }
}

/// A target that refuses us for good (410 Gone, a robot's bad key or
/// signature: `why`) is disabled (until a reload) and a
/// `switchboard.delivery.disabled` event says so.
async fn disable(app: &App, event: &Event, key: &str, kind: &str, why: &str) -> Result<(), Failure> {
    let first = app.store.disable_target(key, why).await.map_err(Failure::Store)?;
    if first {
        tracing::warn!(target = %key, kind, %why, "delivery target refuses us for good; disabled until a reload");
        let reason = format!("{kind} target {key} {why} and is disabled until the configuration is reloaded");
        // A queue's target is the team's, not the conversation's agent's.
        let agent = if key.starts_with("queue:") { "" } else { event.data.agent.as_deref().unwrap_or("") };
        let scope = if agent.is_empty() { "system".to_owned() } else { format!("agent:{agent}") };
        let cause = format!("{key}:disabled:{}", event.id);
        let req = crate::store::EmitRequest {
            event_type: events::DELIVERY_DISABLED,
            scope: &scope,
            cause: &cause,
            agent: Some(agent),
            reason: Some(&reason),
            ..Default::default()
        };
        let emitted = app.store.emit(&req, chrono::Utc::now().timestamp_millis()).await.map_err(Failure::Store)?;
        if let Some(emitted) = emitted {
            crate::outbox::flush_events(app, &emitted.entries).await;
        }
    }
    app.store.mark_delivered(&event.id, key, DELIVERED_TTL).await.map_err(Failure::Store)
}

#[cfg(test)]
mod tests {
    use super::{first_of_its_conversation, order_wait, turn, Turn};
    use std::time::Duration;

    #[test]
    fn only_a_first_event_on_its_first_delivery_skips_the_order() {
        assert!(first_of_its_conversation(1, Some(1)));
        assert!(!first_of_its_conversation(1, Some(2)), "a redelivery may be a repeat");
        assert!(!first_of_its_conversation(1, None), "unknown: read the mark");
        assert!(!first_of_its_conversation(2, Some(1)), "event 1 may not be delivered yet");
    }

    #[test]
    fn an_event_goes_when_the_one_before_it_is_delivered() {
        assert_eq!(turn(0, 1), Turn::Go);
        assert_eq!(turn(4, 5), Turn::Go);
        assert_eq!(turn(3, 5), Turn::Wait);
        assert_eq!(turn(0, 2), Turn::Wait);
        // Delivered already (republished by the relay, redelivered).
        assert_eq!(turn(5, 5), Turn::Done);
        assert_eq!(turn(9, 5), Turn::Done);
    }

    #[test]
    fn an_event_waits_out_a_redelivery_of_the_one_before_it() {
        assert_eq!(order_wait(5), Duration::from_secs(30));
        assert_eq!(order_wait(30), Duration::from_secs(120));
        assert_eq!(order_wait(u64::MAX), Duration::from_secs(u64::MAX));
    }
}
