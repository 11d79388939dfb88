//! The handle's client side: connecting, and scheduling, cancelling and
//! reading timers (each a Lua script or a plain read under the keys).

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use redis::Script;
use tokio::sync::Notify;

use super::*;
use crate::store::Counted;

impl Timers {
    /// A handle on the timers under `prefix` (see the module docs for the
    /// keys); does not connect yet.
    pub fn new(client: redis::Client, prefix: &str, opts: TimerOptions) -> Timers {
        Timers {
            inner: Arc::new(Inner {
                conn: crate::store::conn::Shared::new(client, opts.redis_timeout),
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
    pub(super) async fn conn(&self) -> Result<Counted, TimerError> {
        Ok(self.inner.conn.get().await?)
    }

    /// Passes `r` on, dropping the connection after an error that may mean
    /// it is dead, so the next call reconnects.
    pub(super) async fn check<T>(&self, r: Result<T, redis::RedisError>) -> Result<T, TimerError> {
        Ok(self.inner.conn.check(r).await?)
    }

    pub(super) fn now(&self) -> i64 {
        (self.inner.opts.clock)()
    }

    /// Wakes the poller if `due_ms` is before its planned wake-up.
    pub(super) fn nudge(&self, due_ms: i64) {
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
