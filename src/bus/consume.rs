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
    consumer: PullConsumer,
    concurrency: usize,
    cancel: CancellationToken,
    handle: F,
) where
    F: Fn(Message) -> Fut,
    Fut: Future<Output = ()>,
{
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
        stream
            .take_until(cancel.cancelled())
            .for_each_concurrent(concurrency, |item| async {
                match item {
                    Ok(msg) => handle(msg).await,
                    // Heartbeat gaps and the like: the pull stream recovers by itself.
                    Err(e) => tracing::warn!(worker = name, error = %e, "JetStream pull error"),
                }
            })
            .await;
        if !cancel.is_cancelled() {
            tracing::warn!(worker = name, "JetStream pull stream ended; re-subscribing");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    tracing::debug!(worker = name, "stopped");
}

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
        Ok(consumer) => consume(durable, consumer, concurrency, cancel, handle).await,
        Err(e) => tracing::error!(worker = durable, error = %e, "worker cannot start"),
    }
}

/// Decodes a bus message; an undecodable one is a poison message: it is
/// terminated (never redelivered) and counted, and `None` is returned.
pub async fn decode_or_term<T: DeserializeOwned>(msg: &Message, metrics: &Metrics, stage: &str) -> Option<T> {
    match serde_json::from_slice(&msg.payload) {
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
