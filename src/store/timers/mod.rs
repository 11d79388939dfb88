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
//!
//! This module holds the types, keys and value parsing; `client` schedules,
//! cancels and reads timers, `worker` claims and fires them.

mod client;
mod worker;

use std::fmt;
use std::sync::atomic::AtomicI64;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redis::Script;
use tokio::sync::Notify;

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
    conn: crate::store::conn::Shared,
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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests;
