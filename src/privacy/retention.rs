//! The retention sweep (`[retention]`): conversations resolved longer ago
//! than `resolved_days` are removed with their data and stream messages
//! (the profile stays), dead letters older than `dead_letter_days` are
//! dropped. Every replica runs [`run`]; a Redis lock lets one sweep at a
//! time. [`sweep_at`] takes the time as an argument, so a test can move it.
//! The streams' and the audit trail's age limits and the web chat
//! histories' lifetime are set where those are written, not here.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use super::PrivacyError;
use crate::app::App;
use crate::bus::Bus;
use crate::config::Settings;
use crate::store::Store;

/// How often a replica tries to sweep.
const EVERY: Duration = Duration::from_secs(300);
/// Conversations looked at per script call.
const BATCH: usize = 200;
/// Script calls per sweep at most (the next sweep carries on).
const MAX_STEPS: usize = 500;

/// One sweep as if the time were `now`: what it removed, by kind.
pub async fn sweep_at(
    store: &Store,
    bus: &Bus,
    settings: &Settings,
    now: DateTime<Utc>,
) -> Result<BTreeMap<String, u64>, PrivacyError> {
    let r = &settings.retention;
    let before = |days: u32| {
        if days == 0 {
            0
        } else {
            (now - chrono::Duration::days(i64::from(days))).timestamp_millis()
        }
    };
    let (resolved_before, dead_before) = (before(r.resolved_days), before(r.dead_letter_days));
    let mut removed = BTreeMap::new();
    if resolved_before == 0 && dead_before == 0 {
        return Ok(removed);
    }
    for _ in 0..MAX_STEPS {
        let (step, done) = store
            .retention_step(resolved_before, now.timestamp_millis(), BATCH, dead_before)
            .await?;
        for (kind, n) in step.counts.into_iter().filter(|(_, n)| *n > 0) {
            *removed.entry(kind).or_default() += n;
        }
        if !step.streams.is_empty() {
            *removed.entry("stream_messages".into()).or_default() +=
                bus.delete_messages(&step.streams).await?;
        }
        if done {
            break;
        }
    }
    Ok(removed)
}

/// Sweeps every [`EVERY`] on whichever replica takes the lock, until
/// `cancel` fires.
pub async fn run(app: Arc<App>, cancel: CancellationToken) {
    loop {
        let jitter = Duration::from_millis(rand::random::<u64>() % 10_000);
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(EVERY + jitter) => {}
        }
        let lease = u64::try_from(EVERY.as_millis()).unwrap_or(u64::MAX) - 1000;
        match app.store.try_lock("lock", lease).await {
            Ok(true) => match sweep_at(&app.store, &app.bus, &app.settings, Utc::now()).await {
                Ok(removed) if !removed.is_empty() => {
                    tracing::info!(?removed, "retention sweep removed expired data")
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "retention sweep failed; the next one carries on")
                }
            },
            Ok(false) => {}
            Err(e) => tracing::debug!(error = %e, "retention sweep: Redis unavailable"),
        }
    }
}
