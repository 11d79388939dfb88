//! The firing side: claiming due timers under a lease, acknowledging or
//! releasing them for a retry, and the `run` loop that hands them to a handler.

use std::fmt;
use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::*;

impl Timers {

    /// Claims up to `limit` due timers (and reclaims expired leases) at the
    /// clock's now; see `lua/timers_claim.lua`.
    pub(super) async fn claim(&self, limit: usize) -> Result<Claim, TimerError> {
        let k = &self.inner.keys;
        let now = self.now();
        let lease_until = now.saturating_add(millis(self.inner.opts.lease));
        let mut inv = self.inner.claim.key(&k.due);
        inv.key(&k.inflight)
            .key(&k.data)
            .arg(now)
            .arg(lease_until)
            .arg(limit.max(1));
        let mut c = self.conn().await?;
        let r: Result<Vec<Vec<u8>>, _> = inv.invoke_async(&mut c).await;
        let reply = self.check(r).await?;
        let mut items = reply.into_iter();
        let next_due = items.next().as_deref().and_then(parse_score);
        let next_lease = items.next().as_deref().and_then(parse_score);
        let mut fired = Vec::new();
        while let (Some(id), Some(value)) = (items.next(), items.next()) {
            let id = String::from_utf8(id).map_err(|_| corrupt("?", "id not UTF-8"))?;
            let (generation, due_ms, payload) = parse_value(&id, value)?;
            fired.push(Fired {
                firing_id: format!("{id}:{generation}"),
                id,
                generation,
                due_ms,
                payload,
                lease_until_ms: lease_until,
            });
        }
        Ok(Claim {
            fired,
            next_due,
            next_lease,
        })
    }

    /// Acknowledges a successful firing: deletes the timer unless it was
    /// re-scheduled or cancelled since. True if deleted.
    pub(super) async fn ack(&self, fired: &Fired) -> Result<bool, TimerError> {
        let k = &self.inner.keys;
        let mut inv = self.inner.ack.key(&k.due);
        inv.key(&k.inflight)
            .key(&k.data)
            .arg(&fired.id)
            .arg(fired.generation);
        let mut c = self.conn().await?;
        let r: Result<i64, _> = inv.invoke_async(&mut c).await;
        Ok(self.check(r).await? == 1)
    }

    /// Gives a failed firing back for a retry at `retry_at_ms`, if this
    /// claim still holds it. True if released.
    pub(super) async fn release(&self, fired: &Fired, retry_at_ms: i64) -> Result<bool, TimerError> {
        let k = &self.inner.keys;
        let mut inv = self.inner.release.key(&k.due);
        inv.key(&k.inflight)
            .key(&k.data)
            .arg(&fired.id)
            .arg(fired.generation)
            .arg(fired.lease_until_ms)
            .arg(retry_at_ms);
        let mut c = self.conn().await?;
        let r: Result<i64, _> = inv.invoke_async(&mut c).await;
        if self.check(r).await? == 1 {
            self.nudge(retry_at_ms);
            return Ok(true);
        }
        Ok(false)
    }

    /// The retry time of a firing that failed now: the backoff is the
    /// firing's lateness, kept within `retry_min..=retry_max`, so it about
    /// doubles with every failure without storing an attempt count.
    pub(super) fn retry_at(&self, due_ms: i64) -> i64 {
        let now = self.now();
        let lo = millis(self.inner.opts.retry_min);
        let hi = millis(self.inner.opts.retry_max).max(lo);
        now.saturating_add(now.saturating_sub(due_ms).clamp(lo, hi))
    }

    /// Runs a poller until `cancel` fires: claims due timers, runs `handler`
    /// on each (up to `concurrency` at once, started in due order), acks on
    /// `Ok`, releases for a retry on `Err`. Redis errors are logged and
    /// retried with backoff; this never returns early on its own.
    ///
    /// On cancel it stops claiming at once, waits up to `shutdown_grace` for
    /// running handlers to finish (and be acked), drops the rest (their
    /// leases expire, then another replica fires them), and returns. Run one
    /// poller per handle: the early wake-up tracks one poller.
    pub async fn run<H, F, E>(&self, handler: H, cancel: CancellationToken)
    where
        H: Fn(Fired) -> F + Send + Sync + 'static,
        F: Future<Output = Result<(), E>> + Send + 'static,
        E: fmt::Display + Send + 'static,
    {
        let handler = Arc::new(handler);
        let opts = &self.inner.opts;
        let concurrency = opts.concurrency.max(1);
        let batch = opts.batch.max(1);
        let mut tasks: JoinSet<()> = JoinSet::new();
        let mut backoff = Duration::from_millis(100);
        loop {
            while let Some(done) = tasks.try_join_next() {
                log_join(done);
            }
            if cancel.is_cancelled() {
                break;
            }
            let free = concurrency.saturating_sub(tasks.len());
            if free == 0 {
                tokio::select! {
                    _ = cancel.cancelled() => break,
                    done = tasks.join_next() => {
                        if let Some(done) = done {
                            log_join(done);
                        }
                        continue;
                    }
                }
            }
            let limit = free.min(batch);
            // Busy: any schedule from now on notifies, and the wake-up is
            // registered before the claim reads Redis, so none is lost.
            self.inner.next_wake.store(i64::MAX, Ordering::SeqCst);
            let notified = self.inner.wake.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let started = Instant::now();
            // Not raced with `cancel`: a claim dropped after Redis ran it
            // would strand its timers until their leases expire. It is
            // bounded by `redis_timeout`.
            let claim = match self.claim(limit).await {
                Ok(claim) => claim,
                Err(e) => {
                    tracing::warn!(error = %e, keys = %self.inner.keys.due, "claiming timers failed; retrying");
                    tokio::select! {
                        _ = cancel.cancelled() => break,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    continue;
                }
            };
            backoff = Duration::from_millis(100);
            let full = claim.fired.len() >= limit;
            if !claim.fired.is_empty() {
                tracing::debug!(count = claim.fired.len(), "claimed timers");
            }
            let deadline = started + opts.lease;
            for fired in claim.fired {
                tasks.spawn(fire(self.clone(), Arc::clone(&handler), fired, deadline));
            }
            if full {
                continue;
            }
            let now = self.now();
            let mut wake_at = now.saturating_add(millis(opts.max_idle));
            for next in [claim.next_due, claim.next_lease].into_iter().flatten() {
                wake_at = wake_at.min(next);
            }
            self.inner.next_wake.store(wake_at, Ordering::SeqCst);
            let nap =
                Duration::from_millis(u64::try_from(wake_at.saturating_sub(now)).unwrap_or(0));
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = &mut notified => {}
                _ = tokio::time::sleep(nap) => {}
            }
        }
        self.inner.next_wake.store(i64::MAX, Ordering::SeqCst);
        let drain = async {
            while let Some(done) = tasks.join_next().await {
                log_join(done);
            }
        };
        if tokio::time::timeout(opts.shutdown_grace, drain)
            .await
            .is_err()
        {
            tracing::warn!(
                running = tasks.len(),
                "timer handlers still running at shutdown were dropped; their leases will expire"
            );
            tasks.shutdown().await;
        }
    }
}

fn log_join(done: Result<(), tokio::task::JoinError>) {
    if let Err(e) = done {
        if e.is_panic() {
            tracing::error!("timer handler panicked; the timer fires again when its lease expires");
        }
    }
}

/// Runs the handler on one firing until the lease deadline, then acks or
/// releases it.
async fn fire<H, F, E>(timers: Timers, handler: Arc<H>, fired: Fired, deadline: Instant)
where
    H: Fn(Fired) -> F + Send + Sync + 'static,
    F: Future<Output = Result<(), E>> + Send + 'static,
    E: fmt::Display + Send + 'static,
{
    let result = tokio::time::timeout_at(deadline, handler(fired.clone())).await;
    match result {
        Ok(Ok(())) => {
            // A lost ack only costs a duplicate firing (same firing id)
            // after the lease, so a few quick tries are enough.
            for pause in [50, 200, 0] {
                match timers.ack(&fired).await {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::debug!(firing = %fired.firing_id, "stale ack: timer re-scheduled or cancelled")
                    }
                    Err(e) => {
                        tracing::warn!(firing = %fired.firing_id, error = %e, "acking a timer failed");
                        if pause > 0 {
                            tokio::time::sleep(Duration::from_millis(pause)).await;
                            continue;
                        }
                    }
                }
                break;
            }
        }
        Ok(Err(e)) => {
            let retry_at = timers.retry_at(fired.due_ms);
            tracing::warn!(firing = %fired.firing_id, error = %e, retry_at, "timer handler failed; will retry");
            if let Err(e) = timers.release(&fired, retry_at).await {
                tracing::warn!(firing = %fired.firing_id, error = %e, "releasing a timer failed; it retries when its lease expires");
            }
        }
        Err(_) => {
            tracing::warn!(firing = %fired.firing_id, "timer handler outlived its lease; dropped, it fires again");
        }
    }
}
