//! Readiness: NATS connected, streams present, Redis answering, and not
//! draining. A background probe refreshes it, so `/readyz` answers at once
//! and turns 503 within about a second of a dependency going away (and
//! back to 200 within about a second of its return).
//!
//! Intake needs NATS alone, so `/readyz/intake` leaves Redis out: it is
//! the probe for whatever sends the providers' webhooks to an instance
//! (a load balancer, a Kubernetes Service), which then keeps taking
//! messages through a Redis outage instead of refusing them all.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::bus::Bus;
use crate::store::Store;
use crate::telemetry::Metrics;

/// The current readiness and its reasons.
#[derive(Clone, Debug, Default)]
pub struct Readiness {
    problems: Arc<RwLock<Problems>>,
    streams_ready: Arc<AtomicBool>,
    workers_started: Arc<AtomicBool>,
    draining: Arc<AtomicBool>,
}

impl Readiness {
    /// Not ready until the first probe has run.
    pub fn new() -> Self {
        let r = Readiness::default();
        r.set(Problems { nats: vec!["starting".into()], redis: Vec::new() });
        r
    }

    /// `Ok` when ready, else every reason.
    pub fn check(&self) -> Result<(), Vec<String>> {
        self.reasons(|p| p.nats.iter().chain(&p.redis).cloned().collect())
    }

    /// `Ok` when intake can take messages (NATS and the streams; Redis
    /// may be away), else every reason.
    pub fn check_intake(&self) -> Result<(), Vec<String>> {
        self.reasons(|p| p.nats.clone())
    }

    fn reasons(&self, pick: impl Fn(&Problems) -> Vec<String>) -> Result<(), Vec<String>> {
        if self.draining.load(Ordering::SeqCst) {
            return Err(vec!["shutting down".into()]);
        }
        let problems = self.problems.read().map(|p| pick(&p)).unwrap_or_default();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    /// Marks the streams as created (after start-up set-up succeeded).
    pub fn streams_ready(&self) {
        self.streams_ready.store(true, Ordering::SeqCst);
    }

    /// Marks the workers as started (agents synchronised with Redis).
    pub fn workers_started(&self) {
        self.workers_started.store(true, Ordering::SeqCst);
    }

    /// Turns not-ready for good: the instance is shutting down.
    pub fn drain(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    fn set(&self, problems: Problems) {
        if let Ok(mut p) = self.problems.write() {
            *p = problems;
        }
    }
}

/// What the last probe found wrong, by dependency.
#[derive(Clone, Debug, Default)]
struct Problems {
    nats: Vec<String>,
    redis: Vec<String>,
}

/// Probes NATS and Redis every `interval` until `cancel` fires.
pub async fn watch(
    readiness: Readiness,
    bus: Bus,
    store: Store,
    metrics: Metrics,
    interval: Duration,
    cancel: CancellationToken,
) {
    loop {
        let mut problems = Problems::default();
        if !bus.is_connected() {
            problems.nats.push("NATS is not connected".to_owned());
        } else if !readiness.streams_ready.load(Ordering::SeqCst) {
            problems.nats.push("JetStream streams are not set up yet".to_owned());
        } else if !bus.streams_exist().await {
            problems.nats.push("JetStream streams are missing".to_owned());
        }
        match tokio::time::timeout(Duration::from_secs(2), store.ping()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => problems.redis.push(format!("Redis is unreachable: {e}")),
            Err(_) => problems.redis.push("Redis did not answer within 2 s".to_owned()),
        }
        if problems.redis.is_empty() && !readiness.workers_started.load(Ordering::SeqCst) {
            problems.redis.push("routing is not started yet".to_owned());
        }
        let ready = problems.nats.is_empty() && problems.redis.is_empty();
        metrics.set_ready(ready && !readiness.draining.load(Ordering::SeqCst));
        readiness.set(problems);
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
    }
}
