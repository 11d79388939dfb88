//! Durable timers in Redis that many daemon replicas fire together, each
//! timer handled to completion once per schedule (see the contract below).
//!
//! The SLA engine schedules, per open conversation, timers such as "first
//! response warning at T1" or "breach at T2". They live in Redis, so they
//! survive restarts, and every replica runs [`Timers::run`]: a poller that
//! claims due timers atomically, hands them to an async handler, and
//! acknowledges them when the handler succeeds.
//!
//! # Redis keys
//! All keys start with the prefix given to [`Timers::new`]; the daemon passes
//! `{P}:timers:<name>`. The `{…}` part is a Redis Cluster hash tag: every
//! script touches several of these keys, so they must hash to one slot, and
//! they do when the prefix carries a hash tag (on a single Redis any prefix
//! works).
//!
//! * `<prefix>:due`, zset: timer id → next attempt time (ms since epoch);
//! * `<prefix>:inflight`, zset: timer id → lease deadline (ms since epoch);
//! * `<prefix>:data`, hash: timer id → `"<generation>|<due_ms>|<payload>"`
//!   (the payload may contain `|`);
//! * `<prefix>:gen`, string: counter, the last generation handed out.
//!
//! Invariants, kept by doing every change in one Lua script or `MULTI`:
//! * an id is in `:data` exactly when the timer is open (scheduled, not yet
//!   acknowledged or cancelled), and then it is in exactly one of `:due`
//!   (waiting) and `:inflight` (claimed by a poller until the lease deadline);
//! * the next attempt time in `:due` is the scheduled due time, or later
//!   after a failed attempt (retry backoff); the due time in `:data` never
//!   changes except by a new schedule;
//! * every schedule that changes a timer takes a fresh *generation* from the
//!   `:gen` counter, so generations are unique per prefix, forever (across
//!   cancels and re-creations of the same id too) as long as `:gen` is kept.
//!   Never delete `:gen` while timers may still be scheduled.
//!
//! # Firing and the exactly-once contract
//! Delivery is **at least once**, per generation:
//! * a poller claims up to `batch` due timers in one script call (earliest
//!   first), moving them to `:inflight` with deadline `now + lease`, and runs
//!   the handler on each ([`Fired`]);
//! * handler `Ok` → ack: the timer is deleted, **unless** it was re-scheduled
//!   (new generation) or cancelled meanwhile, in which case the ack changes
//!   nothing (a re-schedule or cancel always wins over an old firing);
//! * handler `Err` → the timer goes back to `:due` for a retry after a
//!   backoff that doubles with each failure (`retry_min` up to `retry_max`),
//!   forever: a handler that wants to give up returns `Ok`;
//! * the replica dies, or the handler outlives the lease → the lease
//!   expires, the next claim by any replica moves the timer back to `:due`
//!   and it fires again.
//!
//! So a handler may run more than once for the same schedule, possibly
//! concurrently on two replicas when a lease ran out. Every run for one
//! schedule carries the same [`Fired::firing_id`], `"<id>:<generation>"`;
//! a new schedule of the id gets a new one. **Handlers must make their
//! effects idempotent on `firing_id`**; the daemon publishes the SLA event to
//! JetStream with `Nats-Msg-Id: <firing_id>`, which makes the event exactly
//! once as long as the stream's duplicate window is longer than the time
//! between two attempts (lease + `retry_max` is a safe bound; JetStream's
//! default of 2 min covers the defaults). A cancel cannot stop a handler
//! that is already running; it only prevents further attempts.
//!
//! Scheduling is an upsert by id: the same id, due time and payload again is
//! a no-op (safe to retry); anything else replaces the timer under a new
//! generation. Once a timer has been acknowledged it is gone, so scheduling
//! it again creates a new timer that fires again: callers cancel or stop
//! re-scheduling timers whose event has happened.
//!
//! Leases compare the claiming replica's clock with later claimers' clocks:
//! the lease must exceed the handler's worst-case run time plus the clock
//! skew between replicas. Handlers are dropped when their lease runs out.
//!
//! # Lateness
//! The poller does not poll at a fixed interval: after each claim it sleeps
//! until the earliest next attempt time or lease deadline left in Redis
//! (returned by the claim script), at most `max_idle`, and it is woken early
//! when this process schedules a timer earlier than that. A timer scheduled
//! by another process is seen within `max_idle`. All scripts are
//! O(log n) per timer touched, so lateness does not grow with the number of
//! open timers, only with the firing rate versus handler throughput.

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redis::aio::MultiplexedConnection;

use crate::store::Counted;
use redis::{AsyncConnectionConfig, Script};
use tokio::sync::{Mutex, Notify};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

const SCHEDULE_LUA: &str = include_str!("../lua/timers_schedule.lua");
const CLAIM_LUA: &str = include_str!("../lua/timers_claim.lua");
const ACK_LUA: &str = include_str!("../lua/timers_ack.lua");
const RELEASE_LUA: &str = include_str!("../lua/timers_release.lua");

/// Timers per round trip in [`Timers::schedule_many`] and per `MULTI` in
/// [`Timers::cancel_many`].
const CHUNK: usize = 1000;

/// Timers per schedule script call in [`Timers::schedule_many`]: enough to
/// amortize the per-call cost, few enough to keep each call well under a
/// millisecond of Redis time.
const PER_CALL: usize = 100;

/// Due times must be exact as Redis sorted-set scores (doubles).
const MAX_ABS_DUE_MS: i64 = 1 << 53;

/// A source of "now" in milliseconds since the Unix epoch.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// The system clock, as a [`Clock`].
pub fn system_clock() -> Clock {
    Arc::new(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0)
    })
}

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum TimerError {
    /// Redis did not answer or answered an error.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// The due time cannot be stored exactly (beyond ±2^53 ms).
    #[error("due time {0} ms is out of range")]
    DueOutOfRange(i64),
    /// A stored value is not what this module writes.
    #[error("unexpected stored data for timer {id:?}: {reason}")]
    Corrupt {
        /// The timer id.
        id: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// Tuning of one [`Timers`] handle. [`Default`] suits the daemon.
#[derive(Clone)]
pub struct TimerOptions {
    /// How long a claimed timer is reserved for its poller; a handler still
    /// running then is dropped and the timer fires again. Default 30 s.
    pub lease: Duration,
    /// Timers claimed per script call at most. Default 256.
    pub batch: usize,
    /// Handlers running at once per poller at most. Default 64.
    pub concurrency: usize,
    /// The longest the poller sleeps between claims. Default 250 ms.
    pub max_idle: Duration,
    /// Backoff before the first retry of a failed firing. Default 1 s.
    pub retry_min: Duration,
    /// Backoff cap for retries. Default 60 s.
    pub retry_max: Duration,
    /// How long [`Timers::run`] waits for running handlers after it is
    /// cancelled; the rest are dropped (their leases expire). Default 5 s.
    pub shutdown_grace: Duration,
    /// Connect and response timeout for Redis. Default 2 s.
    pub redis_timeout: Duration,
    /// The clock. Default [`system_clock`].
    pub clock: Clock,
}

impl Default for TimerOptions {
    fn default() -> Self {
        TimerOptions {
            lease: Duration::from_secs(30),
            batch: 256,
            concurrency: 64,
            max_idle: Duration::from_millis(250),
            retry_min: Duration::from_secs(1),
            retry_max: Duration::from_secs(60),
            shutdown_grace: Duration::from_secs(5),
            redis_timeout: Duration::from_secs(2),
            clock: system_clock(),
        }
    }
}

impl fmt::Debug for TimerOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimerOptions")
            .field("lease", &self.lease)
            .field("batch", &self.batch)
            .field("concurrency", &self.concurrency)
            .field("max_idle", &self.max_idle)
            .field("retry_min", &self.retry_min)
            .field("retry_max", &self.retry_max)
            .field("shutdown_grace", &self.shutdown_grace)
            .field("redis_timeout", &self.redis_timeout)
            .finish_non_exhaustive()
    }
}

/// One firing of a timer, given to the handler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fired {
    /// The timer id.
    pub id: String,
    /// `"<id>:<generation>"`: the same for every attempt at this schedule,
    /// different for any other schedule. Deduplicate downstream on it.
    pub firing_id: String,
    /// The schedule's generation.
    pub generation: u64,
    /// The scheduled due time (ms since epoch), not the retry time.
    pub due_ms: i64,
    /// The payload given to [`Timers::schedule`].
    pub payload: String,
    /// When this claim's lease ends (ms since epoch, claimer's clock).
    pub lease_until_ms: i64,
}

/// What [`Timers::schedule`] did; each carries the generation now stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheduled {
    /// There was no such timer.
    Created(u64),
    /// The timer had another due time or payload: it got a new generation
    /// and waits for the new due time; a firing of the old one in flight
    /// will not delete it.
    Replaced(u64),
    /// The same due time and payload were already stored: nothing changed
    /// (a firing in flight stays in flight), so retrying a schedule is safe.
    Unchanged(u64),
}

impl Scheduled {
    /// The generation now stored.
    pub fn generation(self) -> u64 {
        match self {
            Scheduled::Created(g) | Scheduled::Replaced(g) | Scheduled::Unchanged(g) => g,
        }
    }
}

/// Where an open timer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimerState {
    /// Waiting to be claimed at `next_attempt_ms` (the due time, or a retry).
    Waiting {
        /// Next attempt, ms since epoch.
        next_attempt_ms: i64,
    },
    /// Claimed by a poller until `lease_until_ms`.
    InFlight {
        /// Lease deadline, ms since epoch.
        lease_until_ms: i64,
    },
}

/// An open timer, as [`Timers::get`] reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timer {
    /// The timer id.
    pub id: String,
    /// The current schedule's generation.
    pub generation: u64,
    /// The scheduled due time, ms since epoch.
    pub due_ms: i64,
    /// The payload.
    pub payload: String,
    /// Waiting or in flight.
    pub state: TimerState,
}

/// The key names; see the module docs.
#[derive(Debug, Clone)]
struct Keys {
    due: String,
    inflight: String,
    data: String,
    gen: String,
}

impl Keys {
    fn new(prefix: &str) -> Keys {
        Keys {
            due: format!("{prefix}:due"),
            inflight: format!("{prefix}:inflight"),
            data: format!("{prefix}:data"),
            gen: format!("{prefix}:gen"),
        }
    }
}

/// One claim: the timers claimed and what to sleep until.
#[derive(Debug)]
struct Claim {
    fired: Vec<Fired>,
    next_due: Option<i64>,
    next_lease: Option<i64>,
}

/// A handle on one timer set. Cloning is cheap; clones share the Redis
/// connection and the poller wake-up.
#[derive(Clone)]
pub struct Timers {
    inner: Arc<Inner>,
}

struct Inner {
    client: redis::Client,
    conn: Mutex<Option<MultiplexedConnection>>,
    keys: Keys,
    opts: TimerOptions,
    schedule: Script,
    claim: Script,
    ack: Script,
    release: Script,
    /// Wakes this handle's poller when a timer earlier than its planned
    /// wake-up is scheduled through this handle.
    wake: Notify,
    /// When the poller plans to wake (ms); `i64::MAX` while it is busy, so
    /// that every schedule then notifies.
    next_wake: AtomicI64,
}

impl fmt::Debug for Timers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timers")
            .field("keys", &self.inner.keys)
            .field("opts", &self.inner.opts)
            .finish_non_exhaustive()
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn check_due(due_ms: i64) -> Result<(), TimerError> {
    if due_ms.checked_abs().is_some_and(|a| a <= MAX_ABS_DUE_MS) {
        Ok(())
    } else {
        Err(TimerError::DueOutOfRange(due_ms))
    }
}

fn corrupt(id: &str, reason: impl Into<String>) -> TimerError {
    TimerError::Corrupt {
        id: id.to_owned(),
        reason: reason.into(),
    }
}

/// Splits a `:data` value into generation, due time and payload.
fn parse_value(id: &str, value: Vec<u8>) -> Result<(u64, i64, String), TimerError> {
    let text = String::from_utf8(value).map_err(|_| corrupt(id, "not UTF-8"))?;
    let mut parts = text.splitn(3, '|');
    let generation = parts.next().and_then(|g| g.parse::<u64>().ok());
    let due = parts.next().and_then(|d| d.parse::<i64>().ok());
    match (generation, due, parts.next()) {
        (Some(g), Some(d), Some(p)) => Ok((g, d, p.to_owned())),
        _ => Err(corrupt(id, "not <generation>|<due_ms>|<payload>")),
    }
}

/// A score as Redis prints it (an integer, or a double for odd inputs).
fn parse_score(text: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(text).ok()?;
    text.parse::<i64>()
        .ok()
        .or_else(|| text.parse::<f64>().ok().map(|f| f as i64))
}

impl Timers {
    /// A handle on the timers under `prefix` (see the module docs for the
    /// keys); does not connect yet.
    pub fn new(client: redis::Client, prefix: &str, opts: TimerOptions) -> Timers {
        Timers {
            inner: Arc::new(Inner {
                client,
                conn: Mutex::new(None),
                keys: Keys::new(prefix),
                opts,
                schedule: Script::new(SCHEDULE_LUA),
                claim: Script::new(CLAIM_LUA),
                ack: Script::new(ACK_LUA),
                release: Script::new(RELEASE_LUA),
                wake: Notify::new(),
                next_wake: AtomicI64::new(i64::MAX),
            }),
        }
    }

    /// The shared connection, connecting if there is none.
    async fn conn(&self) -> Result<Counted, TimerError> {
        let mut slot = self.inner.conn.lock().await;
        if let Some(c) = slot.as_ref() {
            return Ok(Counted(c.clone()));
        }
        let timeout = self.inner.opts.redis_timeout;
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(timeout)
            .set_response_timeout(timeout);
        let c = self
            .inner
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await?;
        *slot = Some(c.clone());
        Ok(Counted(c))
    }

    /// Drops the shared connection after an error that may mean it is dead,
    /// so the next call reconnects.
    async fn check<T>(&self, r: Result<T, redis::RedisError>) -> Result<T, TimerError> {
        if let Err(e) = &r {
            if e.is_io_error()
                || e.is_connection_dropped()
                || e.is_timeout()
                || e.is_connection_refusal()
            {
                *self.inner.conn.lock().await = None;
            }
        }
        Ok(r?)
    }

    fn now(&self) -> i64 {
        (self.inner.opts.clock)()
    }

    /// Wakes the poller if `due_ms` is before its planned wake-up.
    fn nudge(&self, due_ms: i64) {
        if due_ms < self.inner.next_wake.load(Ordering::SeqCst) {
            self.inner.wake.notify_waiters();
        }
    }

    /// Schedules timer `id` at `due_ms` (ms since epoch) with `payload`,
    /// replacing any open timer with that id (idempotent upsert; see
    /// [`Scheduled`]). A due time in the past fires at once.
    pub async fn schedule(
        &self,
        id: &str,
        due_ms: i64,
        payload: &str,
    ) -> Result<Scheduled, TimerError> {
        check_due(due_ms)?;
        let k = &self.inner.keys;
        let mut inv = self.inner.schedule.key(&k.due);
        inv.key(&k.inflight)
            .key(&k.data)
            .key(&k.gen)
            .arg(id)
            .arg(due_ms)
            .arg(payload);
        let mut c = self.conn().await?;
        let r: Result<Vec<i64>, _> = inv.invoke_async(&mut c).await;
        let reply = self.check(r).await?;
        let out = outcomes(&reply)
            .next()
            .ok_or_else(|| corrupt(id, "empty schedule reply"))?;
        if !matches!(out, Scheduled::Unchanged(_)) {
            self.nudge(due_ms);
        }
        Ok(out)
    }

    /// [`Timers::schedule`] for many timers: 100 per script call, 1,000 per
    /// round trip. Each timer is upserted atomically, the whole set is not:
    /// on an error, an unknown part was stored, and calling again with the
    /// same input is safe. Outcomes are in input order.
    pub async fn schedule_many<I, A, B>(&self, timers: I) -> Result<Vec<Scheduled>, TimerError>
    where
        I: IntoIterator<Item = (A, i64, B)>,
        A: AsRef<str>,
        B: AsRef<str>,
    {
        let k = &self.inner.keys;
        let sha = self.inner.schedule.get_hash();
        let mut out = Vec::new();
        let mut iter = timers.into_iter().peekable();
        let mut earliest = i64::MAX;
        while iter.peek().is_some() {
            let mut pipe = redis::pipe();
            // Loaded in the same pipeline, so EVALSHA below cannot meet
            // NOSCRIPT (e.g. after a Redis restart).
            pipe.cmd("SCRIPT").arg("LOAD").arg(SCHEDULE_LUA).ignore();
            let mut calls = 0;
            while calls < CHUNK / PER_CALL && iter.peek().is_some() {
                let cmd = pipe
                    .cmd("EVALSHA")
                    .arg(sha)
                    .arg(4)
                    .arg(&k.due)
                    .arg(&k.inflight)
                    .arg(&k.data)
                    .arg(&k.gen);
                for (id, due_ms, payload) in iter.by_ref().take(PER_CALL) {
                    check_due(due_ms)?;
                    earliest = earliest.min(due_ms);
                    cmd.arg(id.as_ref()).arg(due_ms).arg(payload.as_ref());
                }
                calls += 1;
            }
            let mut c = self.conn().await?;
            let r: Result<Vec<Vec<i64>>, _> = pipe.query_async(&mut c).await;
            for reply in self.check(r).await? {
                out.extend(outcomes(&reply));
            }
        }
        self.nudge(earliest);
        Ok(out)
    }

    /// Cancels timer `id`; true if it was open. A firing of it in flight
    /// can no longer delete or retry anything (its ack is a no-op), but its
    /// handler is not stopped.
    pub async fn cancel(&self, id: &str) -> Result<bool, TimerError> {
        Ok(self.cancel_many([id]).await? > 0)
    }

    /// Cancels many timers (atomically per 1,000); how many were open.
    pub async fn cancel_many<I, S>(&self, ids: I) -> Result<u64, TimerError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let k = &self.inner.keys;
        let ids: Vec<S> = ids.into_iter().collect();
        let mut cancelled = 0;
        for chunk in ids.chunks(CHUNK) {
            let members: Vec<&str> = chunk.iter().map(AsRef::as_ref).collect();
            let mut pipe = redis::pipe();
            pipe.atomic()
                .cmd("ZREM")
                .arg(&k.due)
                .arg(&members)
                .ignore()
                .cmd("ZREM")
                .arg(&k.inflight)
                .arg(&members)
                .ignore()
                .cmd("HDEL")
                .arg(&k.data)
                .arg(&members);
            let mut c = self.conn().await?;
            let r: Result<(u64,), _> = pipe.query_async(&mut c).await;
            cancelled += self.check(r).await?.0;
        }
        Ok(cancelled)
    }

    /// The open timer `id`, if any.
    pub async fn get(&self, id: &str) -> Result<Option<Timer>, TimerError> {
        let k = &self.inner.keys;
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("HGET")
            .arg(&k.data)
            .arg(id)
            .cmd("ZSCORE")
            .arg(&k.due)
            .arg(id)
            .cmd("ZSCORE")
            .arg(&k.inflight)
            .arg(id);
        let mut c = self.conn().await?;
        type Row = (Option<Vec<u8>>, Option<Vec<u8>>, Option<Vec<u8>>);
        let r: Result<Row, _> = pipe.query_async(&mut c).await;
        let (value, due, inflight) = self.check(r).await?;
        let Some(value) = value else { return Ok(None) };
        let (generation, due_ms, payload) = parse_value(id, value)?;
        let score = |s: Option<Vec<u8>>| s.as_deref().and_then(parse_score);
        let state = match (score(due), score(inflight)) {
            (Some(next_attempt_ms), None) => TimerState::Waiting { next_attempt_ms },
            (None, Some(lease_until_ms)) => TimerState::InFlight { lease_until_ms },
            _ => {
                return Err(corrupt(
                    id,
                    "not in exactly one of the due and inflight sets",
                ))
            }
        };
        Ok(Some(Timer {
            id: id.to_owned(),
            generation,
            due_ms,
            payload,
            state,
        }))
    }

    /// How many timers are open (waiting or in flight).
    pub async fn pending(&self) -> Result<u64, TimerError> {
        let mut c = self.conn().await?;
        let r = redis::cmd("HLEN")
            .arg(&self.inner.keys.data)
            .query_async(&mut c)
            .await;
        self.check(r).await
    }

    /// Claims up to `limit` due timers (and reclaims expired leases) at the
    /// clock's now; see `lua/timers_claim.lua`.
    async fn claim(&self, limit: usize) -> Result<Claim, TimerError> {
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
    async fn ack(&self, fired: &Fired) -> Result<bool, TimerError> {
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
    async fn release(&self, fired: &Fired, retry_at_ms: i64) -> Result<bool, TimerError> {
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
    fn retry_at(&self, due_ms: i64) -> i64 {
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

/// Reads the schedule script's `{outcome, generation, ...}` reply.
fn outcomes(reply: &[i64]) -> impl Iterator<Item = Scheduled> + '_ {
    reply.chunks_exact(2).map(|pair| {
        let generation = u64::try_from(pair[1]).unwrap_or(0);
        match pair[0] {
            0 => Scheduled::Unchanged(generation),
            1 => Scheduled::Created(generation),
            _ => Scheduled::Replaced(generation),
        }
    })
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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests;
