//! The one consume loop every worker uses: a durable pull consumer, a
//! bounded number of messages handled at once, errors logged and survived,
//! and a clean stop on cancellation that leaves unhandled messages
//! unacknowledged (JetStream redelivers them to another replica).

use std::future::Future;
use std::time::Duration;

use async_nats::jetstream::consumer::PullConsumer;
use async_nats::jetstream::{AckKind, Message};
use futures::StreamExt;
use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;

use super::Bus;
use crate::telemetry::Metrics;

/// Runs `handle` on each message of `consumer`, `concurrency` at a time,
/// until `cancel` fires. `handle` owns the ack decision.
pub async fn consume<F, Fut>(
    name: &'static str,
    client: &async_nats::Client,
    consumer: PullConsumer,
    concurrency: usize,
    cancel: CancellationToken,
    handle: F,
) where
    F: Fn(Message) -> Fut,
    Fut: Future<Output = ()>,
{
    let progress_every = (consumer.cached_info().config.ack_wait / 3).max(Duration::from_millis(500));
    while !cancel.is_cancelled() {
        let stream = consumer
            .stream()
            .max_messages_per_batch(concurrency.max(1) * 2)
            .heartbeat(Duration::from_secs(5))
            .expires(Duration::from_secs(30))
            .messages()
            .await;
        let stream = match stream {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(worker = name, error = %e, "cannot pull from JetStream; retrying");
                tokio::select! {
                    _ = cancel.cancelled() => break,
                    _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                }
            }
        };
        let mut stream = stream;
        (&mut stream)
            .take_until(cancel.cancelled())
            .for_each_concurrent(concurrency, |item| async {
                match item {
                    Ok(msg) => {
                        // In progress for as long as it is handled here, and
                        // no longer: a paused or cut-off replica's messages go
                        // to the others after one ack wait.
                        let keep = keep_in_progress(client, msg.reply.clone(), progress_every);
                        tokio::select! {
                            _ = handle(msg) => {}
                            _ = keep => {}
                        }
                    }
                    // Heartbeat gaps and the like: the pull stream recovers by itself.
                    Err(e) => tracing::warn!(worker = name, error = %e, "JetStream pull error"),
                }
            })
            .await;
        if cancel.is_cancelled() {
            hand_back(name, &mut stream).await;
        }
        if !cancel.is_cancelled() {
            tracing::warn!(worker = name, "JetStream pull stream ended; re-subscribing");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    tracing::debug!(worker = name, "stopped");
}

/// Tells JetStream every `every` that the message `reply` acknowledges is
/// still being worked on (`+WPI`). Never returns.
async fn keep_in_progress(client: &async_nats::Client, reply: Option<async_nats::Subject>, every: Duration) {
    let Some(reply) = reply else { return std::future::pending().await };
    loop {
        tokio::time::sleep(every).await;
        if let Err(e) = client.publish(reply.clone(), bytes::Bytes::from_static(b"+WPI")).await {
            tracing::debug!(error = %e, "cannot mark a message in progress");
        }
    }
}

/// On shutdown: what was pulled but not started (the pull batch's rest,
/// and what is still arriving for it) is handed back with a nak, so another
/// replica takes it within a second instead of after the ack wait.
async fn hand_back<S>(name: &'static str, stream: &mut S)
where
    S: futures::Stream<Item = Result<Message, async_nats::jetstream::consumer::pull::MessagesError>> + Unpin,
{
    let until = tokio::time::Instant::now() + HAND_BACK_FOR;
    let mut handed = 0u32;
    while let Ok(Some(item)) = tokio::time::timeout_at(until, stream.next()).await {
        if let Ok(msg) = item {
            // Delayed past the hand-back, so it is not pulled back here.
            ack(&msg, AckKind::Nak(Some(HAND_BACK_FOR * 2))).await;
            handed += 1;
        }
    }
    if handed > 0 {
        tracing::info!(worker = name, handed, "stopping: pulled messages handed back");
    }
}

/// How long a stopping worker keeps handing back what its last pull brings.
const HAND_BACK_FOR: Duration = Duration::from_millis(300);

/// Creates (or updates) the durable consumer `durable` on `stream` and runs
/// [`consume`] on it: the whole life of a worker.
pub async fn run_durable<F, Fut>(
    bus: &Bus,
    durable: &'static str,
    stream: String,
    filter: String,
    concurrency: usize,
    cancel: CancellationToken,
    handle: F,
) where
    F: Fn(Message) -> Fut,
    Fut: Future<Output = ()>,
{
    match bus.consumer(&stream, durable, filter).await {
        Ok(consumer) => consume(durable, bus.client(), consumer, concurrency, cancel, handle).await,
        Err(e) => tracing::error!(worker = durable, error = %e, "worker cannot start"),
    }
}

/// Decodes a bus message; an undecodable one is a poison message: it is
/// terminated (never redelivered) and counted, and `None` is returned.
///
/// A sealed payload that does not open (its key id not configured, or the
/// wrong key) is not terminated: it is logged with the key id and handed
/// back for a minute, so that it is handled once the key is configured.
pub async fn decode_or_term<T: DeserializeOwned>(msg: &Message, metrics: &Metrics, stage: &str) -> Option<T> {
    let payload = match super::open_payload(&msg.payload) {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(worker = stage, key_id = e.key_id(), error = %e, "cannot decrypt a stream message; retried in a minute");
            ack(msg, AckKind::Nak(Some(Duration::from_secs(60)))).await;
            return None;
        }
    };
    match serde_json::from_slice(&payload) {
        Ok(v) => Some(v),
        Err(e) => {
            tracing::error!(worker = stage, error = %e, "undecodable message terminated");
            metrics.poison(stage);
            ack(msg, AckKind::Term).await;
            None
        }
    }
}

/// How many times this message has been delivered (1 on the first).
pub fn delivered(msg: &Message) -> i64 {
    msg.info().map(|i| i.delivered).unwrap_or(1)
}

/// Acknowledges, or logs why not (the message will then be redelivered,
/// which idempotency absorbs).
pub async fn ack(msg: &Message, kind: AckKind) {
    if let Err(e) = msg.ack_with(kind).await {
        tracing::warn!(error = %e, "could not acknowledge a JetStream message");
    }
}

/// Runs `step` until it gives anything but a transient error (`transient`
/// says which: Redis or NATS unavailable), waiting in place meanwhile: the
/// message stays in progress ([`consume`] keeps it so), so neither its ack
/// wait nor its delivery
/// budget (`nats.max_deliver`, for poison messages only) runs out however
/// long the outage. Retries come quickly at first, then at most every
/// 500 ms with jitter, so work resumes within a second of the return.
/// `None` when the replica stops meanwhile: the message was handed back at
/// once for another replica.
pub async fn patiently<T, E, F, Fut>(
    msg: &Message,
    worker: &'static str,
    metrics: &Metrics,
    stop: &CancellationToken,
    transient: impl Fn(&E) -> bool,
    mut step: F,
) -> Option<Result<T, E>>
where
    E: std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut waits = 0u32;
    loop {
        match step().await {
            Err(e) if transient(&e) => {
                if waits == 0 {
                    metrics.held(worker);
                    tracing::warn!(worker, error = %e, "Redis or NATS unavailable; the message waits for it");
                }
                waits += 1;
                let wait = Duration::from_millis(u64::from(waits.min(5)) * 100 + rand::random::<u64>() % 100);
                tokio::select! {
                    _ = stop.cancelled() => {
                        ack(msg, AckKind::Nak(None)).await;
                        return None;
                    }
                    _ = tokio::time::sleep(wait) => {}
                }
            }
            other => return Some(other),
        }
    }
}
