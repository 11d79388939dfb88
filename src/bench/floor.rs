//! The raw floor: what NATS JetStream and Redis do on this machine with
//! the pipeline's message size and concurrency and nothing of switchboard
//! in between (plain `async-nats` and `redis` calls, the same calls the
//! daemon makes).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use async_nats::jetstream::{self, consumer, stream};
use async_nats::HeaderMap;
use bytes::Bytes;
use futures::StreamExt;
use redis::Script;
use serde::Serialize;

use super::stats::{per_sec, Latency};
use super::sys::{CpuTimes, CpuUse, Servers};

/// The floor measurements.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Floor {
    /// Payload bytes per message: a normalized inbound SMS as the webhook
    /// publishes it.
    pub message_bytes: usize,
    /// Messages (and script calls) per measurement.
    pub messages: usize,
    /// Publishes awaiting their ack at once (the webhook concurrency).
    pub publish_concurrency: usize,
    /// JetStream publish-with-ack (file storage, one replica, `Nats-Msg-Id`
    /// de-duplication as the daemon's streams), messages/s.
    pub jetstream_publish_ack_per_sec: f64,
    /// Latency of one publish until its ack.
    pub publish_ack_latency: Latency,
    /// Messages handled at once by the consumer (the router's `routing.workers`).
    pub consume_concurrency: usize,
    /// Durable pull consumer, explicit ack per message, messages/s.
    pub jetstream_consume_ack_per_sec: f64,
    /// Script calls in flight at once (the router's `routing.workers`).
    pub script_concurrency: usize,
    /// `EVALSHA` of a one-`SET` script carrying the message, calls/s.
    pub redis_evalsha_per_sec: f64,
    /// Latency of one script call.
    pub evalsha_latency: Latency,
    /// CPU during the publish measurement (the `daemon` figures are the
    /// benchmark's client here).
    pub publish_cpu: CpuUse,
    /// CPU during the consume measurement.
    pub consume_cpu: CpuUse,
    /// CPU during the script measurement.
    pub evalsha_cpu: CpuUse,
}

/// What the floor is measured with.
#[derive(Clone, Debug)]
pub struct FloorPlan {
    /// Stream, subject and key prefix.
    pub prefix: String,
    /// A message as the pipeline publishes it.
    pub payload: Bytes,
    /// Messages per measurement.
    pub messages: usize,
    /// Publish concurrency.
    pub publish_concurrency: usize,
    /// Consume and script concurrency.
    pub worker_concurrency: usize,
}

/// Measures the three floors, one after the other.
pub async fn measure(
    nats: &async_nats::Client,
    redis: &redis::Client,
    plan: &FloorPlan,
    servers: Servers,
) -> anyhow::Result<Floor> {
    let js = jetstream::new(nats.clone());
    let name = format!("{}_floor", plan.prefix);
    let subject = format!("{}.floor.sms", plan.prefix);
    js.create_stream(stream::Config {
        name: name.clone(),
        subjects: vec![subject.clone()],
        retention: stream::RetentionPolicy::Limits,
        storage: stream::StorageType::File,
        num_replicas: 1,
        max_age: Duration::from_secs(3600),
        duplicate_window: Duration::from_secs(120),
        ..Default::default()
    })
    .await
    .context("creating the floor stream")?;

    let cpu = CpuTimes::read(servers);
    let (publish_rate, publish_latency) = publish(&js, &subject, plan).await?;
    let (cpu, publish_cpu) = {
        let now = CpuTimes::read(servers);
        (now.clone(), cpu.until(&now, plan.messages))
    };
    let consume_rate = consume(nats, &js, &name, plan).await?;
    let (cpu, consume_cpu) = {
        let now = CpuTimes::read(servers);
        (now.clone(), cpu.until(&now, plan.messages))
    };
    let (script_rate, script_latency) = evalsha(redis, plan).await?;
    let evalsha_cpu = cpu.until(&CpuTimes::read(servers), plan.messages);
    Ok(Floor {
        message_bytes: plan.payload.len(),
        messages: plan.messages,
        publish_concurrency: plan.publish_concurrency,
        jetstream_publish_ack_per_sec: publish_rate,
        publish_ack_latency: publish_latency,
        consume_concurrency: plan.worker_concurrency,
        jetstream_consume_ack_per_sec: consume_rate,
        script_concurrency: plan.worker_concurrency,
        redis_evalsha_per_sec: script_rate,
        evalsha_latency: script_latency,
        publish_cpu,
        consume_cpu,
        evalsha_cpu,
    })
}

/// `publish_concurrency` tasks, each publishing and awaiting the ack, one
/// message at a time, as concurrent webhook requests do.
async fn publish(js: &jetstream::Context, subject: &str, plan: &FloorPlan) -> anyhow::Result<(f64, Latency)> {
    let (js, subject, payload) = (js.clone(), subject.to_owned(), plan.payload.clone());
    timed_calls(plan.messages, plan.publish_concurrency, "JetStream publish", move |i| {
        let (js, subject, payload) = (js.clone(), subject.clone(), payload.clone());
        async move {
            let mut headers = HeaderMap::new();
            headers.insert("Nats-Msg-Id", format!("floor:{i}").as_str());
            js.publish_with_headers(subject, headers, payload).await?.await?;
            Ok(())
        }
    })
    .await
}

/// `concurrency` tasks, each making the next of `total` calls until none is
/// left, one at a time: the rate of the whole and each call's latency.
async fn timed_calls<F, Fut>(total: usize, concurrency: usize, what: &'static str, call: F) -> anyhow::Result<(f64, Latency)>
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let (next, call) = (next.clone(), call.clone());
        tasks.spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    return Ok::<_, anyhow::Error>(latencies);
                }
                let t = Instant::now();
                call(i).await?;
                latencies.push(t.elapsed());
            }
        });
    }
    let mut latencies = Vec::with_capacity(total);
    while let Some(done) = tasks.join_next().await {
        latencies.extend(done.context("benchmark task")?.context(what)?);
    }
    let elapsed = started.elapsed();
    Ok((per_sec(total, elapsed), Latency::of(latencies)))
}

/// A durable pull consumer over the messages just published, configured
/// and pulled as the daemon's router pulls (batches of twice the
/// concurrency, explicit ack of each message).
async fn consume(
    nats: &async_nats::Client,
    js: &jetstream::Context,
    stream_name: &str,
    plan: &FloorPlan,
) -> anyhow::Result<f64> {
    let stream = js.get_stream(stream_name).await?;
    let consumer: consumer::PullConsumer = stream
        .create_consumer(consumer::pull::Config {
            durable_name: Some("floor".to_owned()),
            ack_policy: consumer::AckPolicy::Explicit,
            ack_wait: Duration::from_secs(30),
            max_deliver: 8,
            max_ack_pending: 10_000,
            ..Default::default()
        })
        .await
        .context("creating the floor consumer")?;
    let concurrency = plan.worker_concurrency.max(1);
    let started = Instant::now();
    let messages = consumer
        .stream()
        .max_messages_per_batch(concurrency * 2)
        .heartbeat(Duration::from_secs(5))
        .expires(Duration::from_secs(30))
        .messages()
        .await?;
    let acked = AtomicUsize::new(0);
    let acked = &acked;
    let all = async {
        messages
            .filter_map(|m| async move { m.ok() })
            .take(plan.messages)
            .for_each_concurrent(concurrency, |m| async move {
                if m.ack().await.is_ok() {
                    acked.fetch_add(1, Ordering::Relaxed);
                }
            })
            .await;
    };
    tokio::time::timeout(Duration::from_secs(300), all).await.context("consuming the floor stream timed out")?;
    nats.flush().await?;
    let elapsed = started.elapsed();
    Ok(per_sec(acked.load(Ordering::Relaxed), elapsed))
}

/// `EVALSHA` round trips over one multiplexed connection (as the daemon's
/// store), `worker_concurrency` calls in flight.
async fn evalsha(redis: &redis::Client, plan: &FloorPlan) -> anyhow::Result<(f64, Latency)> {
    let conn = redis.get_multiplexed_async_connection().await?;
    let script = Arc::new(Script::new("redis.call('SET', KEYS[1], ARGV[1]) return 1"));
    script.prepare_invoke().load_async(&mut conn.clone()).await?;
    let payload: Arc<[u8]> = plan.payload.to_vec().into();
    let prefix = plan.prefix.clone();
    timed_calls(plan.messages, plan.worker_concurrency, "EVALSHA", move |i| {
        let (mut conn, script, payload, key) =
            (conn.clone(), script.clone(), payload.clone(), format!("{{{prefix}}}:floor:{}", i % 1024));
        async move {
            let _: i64 = script.key(key).arg(&*payload).invoke_async(&mut conn).await?;
            Ok(())
        }
    })
    .await
}
