//! The load generator: signed webhooks posted in a closed loop (maximum
//! throughput) or an open loop (a fixed offered rate), with the send times.

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use anyhow::{bail, Context};
use tokio::task::JoinSet;
use crate::bench::sys::LOAD_THREADS;
use crate::bench::traffic::Traffic;

use super::*;

/// Sends one webhook and checks it was accepted.
pub(super) async fn post(http: &reqwest::Client, traffic: &Traffic, body: String, signature: String) -> anyhow::Result<()> {
    let resp = http
        .post(&traffic.url)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-twilio-signature", signature)
        .body(body)
        .send()
        .await
        .context("webhook request")?;
    if resp.status() != 200 {
        bail!("webhook answered {}", resp.status());
    }
    Ok(())
}

pub(super) fn nanos_since(epoch: Instant, t: Instant) -> u64 {
    u64::try_from(t.saturating_duration_since(epoch).as_nanos()).unwrap_or(u64::MAX)
}

/// `concurrency` clients, each sending the next webhook of `range` as soon
/// as its previous one was answered.
pub(super) async fn closed_loop(
    http: reqwest::Client,
    traffic: Arc<Traffic>,
    range: Range<u64>,
    concurrency: usize,
    epoch: Instant,
    times: Arc<Times>,
) -> anyhow::Result<()> {
    let next = Arc::new(AtomicU64::new(range.start));
    let mut tasks = JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let (http, traffic, next, times, range) =
            (http.clone(), traffic.clone(), next.clone(), times.clone(), range.clone());
        tasks.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= range.end {
                    return Ok::<_, anyhow::Error>(());
                }
                let (body, signature) = traffic.request(i);
                let k = usize::try_from(i - range.start)?;
                Times::set(&times.started, k, epoch, Instant::now());
                post(&http, &traffic, body, signature).await?;
                Times::set(&times.answered, k, epoch, Instant::now());
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    Ok(())
}

/// Starts the webhooks of `range` at a fixed `rate`, whether or not the
/// earlier ones were answered (open loop: no coordinated omission). The
/// intended start times are recorded as the start.
pub(super) async fn open_loop(
    http: reqwest::Client,
    traffic: Arc<Traffic>,
    range: Range<u64>,
    rate: f64,
    epoch: Instant,
    times: Arc<Times>,
) -> anyhow::Result<()> {
    let interval = Duration::from_secs_f64(1.0 / rate.max(1.0));
    let t0 = tokio::time::Instant::now() + Duration::from_millis(5);
    let mut tasks = JoinSet::new();
    for (k, i) in range.enumerate() {
        let at = t0 + interval.mul_f64(k as f64);
        tokio::time::sleep_until(at).await;
        Times::set(&times.started, k, epoch, at.into_std());
        let (http, traffic, times) = (http.clone(), traffic.clone(), times.clone());
        tasks.spawn(async move {
            let (body, signature) = traffic.request(i);
            post(&http, &traffic, body, signature).await?;
            Times::set(&times.answered, k, epoch, Instant::now());
            Ok::<_, anyhow::Error>(())
        });
        while let Some(done) = tasks.try_join_next() {
            done??;
        }
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    Ok(())
}

/// When each webhook of a run started and was answered, ns since the epoch.
pub(super) struct Times {
    pub(super) started: Vec<AtomicU64>,
    pub(super) answered: Vec<AtomicU64>,
}

impl Times {
    pub(super) fn new(n: usize) -> Arc<Times> {
        let zeros = || (0..n).map(|_| AtomicU64::new(0)).collect();
        Arc::new(Times { started: zeros(), answered: zeros() })
    }

    pub(super) fn set(slots: &[AtomicU64], k: usize, epoch: Instant, t: Instant) {
        if let Some(slot) = slots.get(k) {
            slot.store(nanos_since(epoch, t), Ordering::Relaxed);
        }
    }
}

/// A bound for routing `n` messages: generous, so that only a stall fails.
pub(super) fn bound(n: usize) -> Duration {
    Duration::from_secs(60 + (n / 200) as u64)
}

/// The load generator: the HTTP client, the NATS observer and the inbound
/// publisher run on their own runtime and threads ([`LOAD_THREADS`]), so
/// that their CPU is measured apart from the daemon's.
pub(super) struct Load {
    pub(super) rt: tokio::runtime::Runtime,
    pub(super) nats: async_nats::Client,
}

impl Load {
    pub(super) async fn start(nats_url: &str) -> anyhow::Result<Load> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name(LOAD_THREADS)
            .enable_all()
            .build()?;
        let url = nats_url.to_owned();
        let nats = rt
            .spawn(async move {
                // The observer must not drop events while the machine is busy.
                async_nats::ConnectOptions::new().subscription_capacity(1 << 20).connect(url).await
            })
            .await??;
        Ok(Load { rt, nats })
    }

    /// Runs `work` on the load generator's threads.
    pub(super) async fn run<T: Send + 'static>(
        &self,
        work: impl std::future::Future<Output = anyhow::Result<T>> + Send + 'static,
    ) -> anyhow::Result<T> {
        self.rt.spawn(work).await?
    }

    pub(super) async fn observe(&self, prefix: &str, epoch: Instant, range: Range<u64>) -> anyhow::Result<Observer> {
        let (nats, prefix) = (self.nats.clone(), prefix.to_owned());
        self.run(async move { Observer::start(&nats, &prefix, epoch, range).await }).await
    }

    pub(super) fn stop(self) {
        // A runtime may not be dropped from async code; its threads finish alone.
        self.rt.shutdown_background();
    }
}

/// Publishes the messages of `range` to the daemon's inbound stream, as
/// its webhook handler does, `concurrency` awaiting their ack at once.
pub(super) async fn publish_inbound(
    nats: async_nats::Client,
    traffic: Arc<Traffic>,
    prefix: String,
    range: Range<u64>,
    concurrency: usize,
) -> anyhow::Result<()> {
    let js = jetstream::new(nats);
    let subject = format!("{prefix}.inbound.sms");
    futures::stream::iter(range)
        .map(|i| {
            let (js, subject, traffic) = (js.clone(), subject.clone(), traffic.clone());
            async move {
                let (id, payload) = traffic.inbound(i)?;
                let mut headers = HeaderMap::new();
                headers.insert("Nats-Msg-Id", id.as_str());
                js.publish_with_headers(subject, headers, payload.into()).await?.await?;
                Ok::<_, anyhow::Error>(())
            }
        })
        .buffer_unordered(concurrency.max(1))
        .fold(Ok(()), |acc, r| async move { acc.and(r) })
        .await
}
