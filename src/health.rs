//! Readiness: NATS connected, streams present, Redis answering, and not
//! draining. A background probe refreshes it, so `/readyz` answers at once
//! and turns 503 within about a second of a dependency going away.

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
    problems: Arc<RwLock<Vec<String>>>,
    streams_ready: Arc<AtomicBool>,
    draining: Arc<AtomicBool>,
}

impl Readiness {
    /// Not ready until the first probe has run.
    pub fn new() -> Self {
        let r = Readiness::default();
        r.set(vec!["starting".into()]);
        r
    }

    /// `Ok` when ready, else every reason.
    pub fn check(&self) -> Result<(), Vec<String>> {
        if self.draining.load(Ordering::SeqCst) {
            return Err(vec!["shutting down".into()]);
        }
        let problems = self.problems.read().map(|p| p.clone()).unwrap_or_default();
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

    /// Turns not-ready for good: the instance is shutting down.
    pub fn drain(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    fn set(&self, problems: Vec<String>) {
        if let Ok(mut p) = self.problems.write() {
            *p = problems;
        }
    }
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
        let mut problems = Vec::new();
        if !bus.is_connected() {
            problems.push("NATS is not connected".to_owned());
        } else if !readiness.streams_ready.load(Ordering::SeqCst) {
            problems.push("JetStream streams are not set up yet".to_owned());
        } else if !bus.streams_exist().await {
            problems.push("JetStream streams are missing".to_owned());
        }
        match tokio::time::timeout(Duration::from_secs(2), store.ping()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => problems.push(format!("Redis is unreachable: {e}")),
            Err(_) => problems.push("Redis did not answer within 2 s".to_owned()),
        }
        metrics.set_ready(problems.is_empty() && !readiness.draining.load(Ordering::SeqCst));
        readiness.set(problems);
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
    }
}
