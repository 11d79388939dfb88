//! Tests for the durable timers, against the real Redis at `REDIS_URL`
//! (default `redis://127.0.0.1:6379`). Every test uses its own random key
//! prefix and deletes its keys when it ends, even on a panic.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::*;

fn client() -> redis::Client {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    redis::Client::open(url).unwrap()
}

/// A fresh prefix with a hash tag, as the daemon's `{P}:timers:<name>`.
fn unique_prefix() -> String {
    format!(
        "{{sbtest-{}-{:016x}}}:timers:sla",
        std::process::id(),
        rand::random::<u64>()
    )
}

/// Deletes a test's keys when dropped (UNLINK: big sets are freed in the
/// background, so a shared Redis is not blocked).
struct Cleanup(String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let k = Keys::new(&self.0);
        if let Ok(mut c) = client().get_connection() {
            let _: Result<i64, _> = redis::cmd("UNLINK")
                .arg(&k.due)
                .arg(&k.inflight)
                .arg(&k.data)
                .arg(&k.gen)
                .query(&mut c);
        }
    }
}

/// A clock the test moves by hand.
fn manual_clock(start: i64) -> (Clock, Arc<AtomicI64>) {
    let now = Arc::new(AtomicI64::new(start));
    let read = Arc::clone(&now);
    (Arc::new(move || read.load(Ordering::SeqCst)), now)
}

fn opts_with(clock: Clock) -> TimerOptions {
    TimerOptions {
        clock,
        ..fast_opts()
    }
}

/// Short idle and retry times so the tests run quickly.
fn fast_opts() -> TimerOptions {
    TimerOptions {
        max_idle: Duration::from_millis(50),
        retry_min: Duration::from_millis(100),
        retry_max: Duration::from_millis(400),
        ..TimerOptions::default()
    }
}

fn setup(opts: TimerOptions) -> (Timers, String, Cleanup) {
    let prefix = unique_prefix();
    (
        Timers::new(client(), &prefix, opts),
        prefix.clone(),
        Cleanup(prefix),
    )
}

fn now_ms() -> i64 {
    (system_clock())()
}

/// Polls `cond` every 10 ms for up to `secs` seconds.
async fn eventually(secs: u64, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    cond()
}

async fn pending_eventually(t: &Timers, want: u64, secs: u64) -> bool {
    let end = Instant::now() + Duration::from_secs(secs);
    loop {
        if t.pending().await.unwrap() == want {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

type Counts = Arc<StdMutex<HashMap<String, Vec<String>>>>;

/// A handler that records each firing id by timer id, and succeeds.
fn recording(
    counts: &Counts,
) -> impl Fn(Fired) -> std::future::Ready<Result<(), String>> + Send + Sync + 'static {
    let counts = Arc::clone(counts);
    move |f: Fired| {
        counts
            .lock()
            .unwrap()
            .entry(f.id)
            .or_default()
            .push(f.firing_id);
        std::future::ready(Ok(()))
    }
}

fn total(counts: &Counts) -> usize {
    counts.lock().unwrap().values().map(Vec::len).sum()
}

#[tokio::test]
async fn schedule_get_cancel_and_reschedule() {
    let (clock, _) = manual_clock(1_000_000);
    let (t, _p, _c) = setup(opts_with(clock));

    assert_eq!(t.get("a").await.unwrap(), None);
    let g1 = match t.schedule("a", 2_000_000, "p|1").await.unwrap() {
        Scheduled::Created(g) => g,
        other => panic!("{other:?}"),
    };
    let timer = t.get("a").await.unwrap().unwrap();
    assert_eq!(timer.generation, g1);
    assert_eq!(timer.due_ms, 2_000_000);
    assert_eq!(timer.payload, "p|1", "payloads may contain the separator");
    assert_eq!(
        timer.state,
        TimerState::Waiting {
            next_attempt_ms: 2_000_000
        }
    );

    // Same due and payload: a no-op, so retrying a schedule is safe.
    assert_eq!(
        t.schedule("a", 2_000_000, "p|1").await.unwrap(),
        Scheduled::Unchanged(g1)
    );
    // Moved: a new generation.
    let g2 = match t.schedule("a", 1_500_000, "p|1").await.unwrap() {
        Scheduled::Replaced(g) => g,
        other => panic!("{other:?}"),
    };
    assert!(g2 > g1);
    // New payload, same due: also a new generation.
    let g3 = t.schedule("a", 1_500_000, "p2").await.unwrap().generation();
    assert!(g3 > g2);
    let timer = t.get("a").await.unwrap().unwrap();
    assert_eq!(
        (timer.due_ms, timer.payload.as_str(), timer.generation),
        (1_500_000, "p2", g3)
    );
    assert_eq!(t.pending().await.unwrap(), 1);

    assert!(t.cancel("a").await.unwrap());
    assert!(!t.cancel("a").await.unwrap());
    assert_eq!(t.get("a").await.unwrap(), None);
    assert_eq!(t.pending().await.unwrap(), 0);

    // Re-created after a cancel: generations never repeat, so neither do
    // firing ids (a downstream dedupe would otherwise swallow the event).
    let g4 = match t.schedule("a", 1_500_000, "p2").await.unwrap() {
        Scheduled::Created(g) => g,
        other => panic!("{other:?}"),
    };
    assert!(g4 > g3);

    t.schedule("b", 1, "").await.unwrap();
    assert_eq!(t.cancel_many(["a", "b", "zzz"]).await.unwrap(), 2);
    assert_eq!(t.cancel_many(Vec::<String>::new()).await.unwrap(), 0);
    assert_eq!(t.pending().await.unwrap(), 0);

    assert!(matches!(
        t.schedule("c", i64::MAX, "").await,
        Err(TimerError::DueOutOfRange(_))
    ));
    assert!(matches!(
        t.schedule("c", i64::MIN, "").await,
        Err(TimerError::DueOutOfRange(_))
    ));
}

#[tokio::test]
async fn schedule_many_pipelines_upserts() {
    let (clock, _) = manual_clock(0);
    let (t, _p, _c) = setup(opts_with(clock));
    let items: Vec<(String, i64, String)> = (0..2500)
        .map(|i| (format!("t{i}"), 10_000 + i, format!("{{\"n\":{i}}}")))
        .collect();
    let out = t
        .schedule_many(items.iter().map(|(a, d, b)| (a, *d, b)))
        .await
        .unwrap();
    assert_eq!(out.len(), 2500);
    assert!(out.iter().all(|s| matches!(s, Scheduled::Created(_))));
    assert_eq!(t.pending().await.unwrap(), 2500);
    let again = t
        .schedule_many(items.iter().map(|(a, d, b)| (a, *d, b)))
        .await
        .unwrap();
    assert!(again
        .iter()
        .zip(&out)
        .all(|(a, o)| *a == Scheduled::Unchanged(o.generation())));
    let moved = t.schedule_many([("t7", 5, "x")]).await.unwrap();
    assert!(matches!(moved[..], [Scheduled::Replaced(_)]));
    assert_eq!(
        t.get("t1234").await.unwrap().unwrap().payload,
        "{\"n\":1234}"
    );
}

#[tokio::test]
async fn claim_takes_due_timers_in_due_order_up_to_the_limit() {
    let (clock, now) = manual_clock(10_000);
    let (t, _p, _c) = setup(opts_with(clock));
    for (id, due) in [
        ("e", 9_000),
        ("a", 5_000),
        ("d", 8_000),
        ("b", 6_000),
        ("c", 7_000),
        ("later", 20_000),
    ] {
        t.schedule(id, due, id).await.unwrap();
    }
    let first = t.claim(3).await.unwrap();
    let ids: Vec<&str> = first.fired.iter().map(|f| f.id.as_str()).collect();
    assert_eq!(ids, ["a", "b", "c"]);
    assert_eq!(first.next_due, Some(8_000));
    assert_eq!(first.next_lease, Some(10_000 + 30_000));
    let f = &first.fired[0];
    assert_eq!(
        (f.due_ms, f.payload.as_str(), f.lease_until_ms),
        (5_000, "a", 40_000)
    );
    assert_eq!(f.firing_id, format!("a:{}", f.generation));
    assert_eq!(
        t.get("a").await.unwrap().unwrap().state,
        TimerState::InFlight {
            lease_until_ms: 40_000
        }
    );

    let second = t.claim(10).await.unwrap();
    let ids: Vec<&str> = second.fired.iter().map(|f| f.id.as_str()).collect();
    assert_eq!(ids, ["d", "e"]);
    assert_eq!(second.next_due, Some(20_000));
    assert!(t.claim(10).await.unwrap().fired.is_empty());

    now.store(20_000, Ordering::SeqCst);
    let third = t.claim(10).await.unwrap();
    assert_eq!(third.fired.len(), 1);
    assert_eq!(third.next_due, None);
    for f in first.fired.iter().chain(&second.fired).chain(&third.fired) {
        assert!(t.ack(f).await.unwrap());
        assert!(!t.ack(f).await.unwrap(), "a second ack is a no-op");
    }
    assert_eq!(t.pending().await.unwrap(), 0);
}

#[tokio::test]
async fn stale_ack_after_reschedule_keeps_the_new_schedule() {
    let (clock, now) = manual_clock(10_000);
    let (t, _p, _c) = setup(opts_with(clock));
    t.schedule("x", 9_000, "old").await.unwrap();
    let old = t.claim(10).await.unwrap().fired.remove(0);

    // Re-scheduled while the old firing's handler runs.
    let new_gen = t.schedule("x", 50_000, "new").await.unwrap().generation();
    assert!(new_gen > old.generation);
    assert!(
        !t.ack(&old).await.unwrap(),
        "the old firing's ack must not delete the new schedule"
    );
    assert!(
        !t.release(&old, 11_000).await.unwrap(),
        "nor retry the old schedule"
    );
    let timer = t.get("x").await.unwrap().unwrap();
    assert_eq!(
        timer.state,
        TimerState::Waiting {
            next_attempt_ms: 50_000
        }
    );
    assert_eq!((timer.payload.as_str(), timer.generation), ("new", new_gen));

    now.store(50_000, Ordering::SeqCst);
    let new = t.claim(10).await.unwrap().fired.remove(0);
    assert_eq!(new.firing_id, format!("x:{new_gen}"));
    assert_ne!(new.firing_id, old.firing_id);
    assert!(t.ack(&new).await.unwrap());
    assert_eq!(t.pending().await.unwrap(), 0);
}

#[tokio::test]
async fn cancel_while_in_flight_wins() {
    let (clock, now) = manual_clock(10_000);
    let (t, _p, _c) = setup(opts_with(clock));
    t.schedule("x", 9_000, "p").await.unwrap();
    let fired = t.claim(10).await.unwrap().fired.remove(0);
    assert!(t.cancel("x").await.unwrap());
    assert!(!t.ack(&fired).await.unwrap());
    assert!(!t.release(&fired, 10_500).await.unwrap());
    assert_eq!(t.get("x").await.unwrap(), None);
    // Nothing comes back after the lease either.
    now.store(10_000 + 60_000, Ordering::SeqCst);
    assert!(t.claim(10).await.unwrap().fired.is_empty());
    assert_eq!(t.pending().await.unwrap(), 0);
}

#[tokio::test]
async fn expired_lease_is_reclaimed_by_another_replica_with_the_same_firing_id() {
    let (clock, now) = manual_clock(10_000);
    let prefix = unique_prefix();
    let _c = Cleanup(prefix.clone());
    let a = Timers::new(client(), &prefix, opts_with(clock.clone()));
    let b = Timers::new(client(), &prefix, opts_with(clock));
    for i in 0..10 {
        a.schedule(&format!("t{i}"), 9_000 + i, "p").await.unwrap();
    }
    let claimed_by_a = a.claim(256).await.unwrap().fired;
    assert_eq!(claimed_by_a.len(), 10);
    drop(a); // "killed": never acks

    // Lease not yet over: nothing for b.
    now.store(10_000 + 29_999, Ordering::SeqCst);
    assert!(b.claim(256).await.unwrap().fired.is_empty());
    now.store(10_000 + 30_000, Ordering::SeqCst);
    let claimed_by_b = b.claim(256).await.unwrap().fired;
    let ids = |v: &[Fired]| v.iter().map(|f| f.firing_id.clone()).collect::<Vec<_>>();
    assert_eq!(
        ids(&claimed_by_b),
        ids(&claimed_by_a),
        "same firings, in due order"
    );
    assert!(claimed_by_b.iter().all(|f| f.lease_until_ms == 70_000));
    for f in &claimed_by_b {
        assert!(b.ack(f).await.unwrap());
    }
    assert_eq!(b.pending().await.unwrap(), 0);
}

#[tokio::test]
async fn release_only_while_the_claim_still_holds_the_lease() {
    let (clock, now) = manual_clock(10_000);
    let (t, _p, _c) = setup(opts_with(clock));
    t.schedule("x", 9_000, "p").await.unwrap();
    let slow = t.claim(1).await.unwrap().fired.remove(0);
    now.store(45_000, Ordering::SeqCst);
    let taken_over = t.claim(1).await.unwrap().fired.remove(0);
    assert_eq!(taken_over.firing_id, slow.firing_id);
    // The slow claimer fails late: the firing now belongs to the other one.
    assert!(!t.release(&slow, 46_000).await.unwrap());
    assert_eq!(
        t.get("x").await.unwrap().unwrap().state,
        TimerState::InFlight {
            lease_until_ms: 75_000
        }
    );
    assert!(t.release(&taken_over, 46_000).await.unwrap());
    assert_eq!(
        t.get("x").await.unwrap().unwrap().state,
        TimerState::Waiting {
            next_attempt_ms: 46_000
        }
    );
    now.store(46_000, Ordering::SeqCst);
    let retried = t.claim(1).await.unwrap().fired.remove(0);
    assert_eq!(
        (retried.firing_id.as_str(), retried.due_ms),
        (slow.firing_id.as_str(), 9_000)
    );
    // A late ack of a completed firing still deletes it (same generation).
    assert!(t.ack(&slow).await.unwrap());
    assert_eq!(t.pending().await.unwrap(), 0);
}

#[tokio::test]
async fn two_replicas_fire_each_of_1000_timers_once() {
    let prefix = unique_prefix();
    let _c = Cleanup(prefix.clone());
    let counts: Counts = Arc::default();
    let cancel = CancellationToken::new();
    let replicas: Vec<Timers> = (0..2)
        .map(|_| Timers::new(client(), &prefix, fast_opts()))
        .collect();
    let mut pollers = Vec::new();
    for t in &replicas {
        let (t, h, c) = (t.clone(), recording(&counts), cancel.clone());
        pollers.push(tokio::spawn(async move { t.run(h, c).await }));
    }
    let start = now_ms() + 200;
    let items: Vec<(String, i64)> = (0..1000)
        .map(|i| (format!("conv{i}:breach"), start + i))
        .collect();
    // Half scheduled through each replica.
    let (left, right) = items.split_at(500);
    replicas[0]
        .schedule_many(left.iter().map(|(id, due)| (id, *due, "{}")))
        .await
        .unwrap();
    replicas[1]
        .schedule_many(right.iter().map(|(id, due)| (id, *due, "{}")))
        .await
        .unwrap();

    assert!(
        eventually(20, || total(&counts) >= 1000).await,
        "fired {}",
        total(&counts)
    );
    assert!(pending_eventually(&replicas[0], 0, 10).await);
    tokio::time::sleep(Duration::from_millis(300)).await; // room for a duplicate to show
    cancel.cancel();
    for p in pollers {
        p.await.unwrap();
    }
    let counts = counts.lock().unwrap();
    assert_eq!(counts.len(), 1000);
    assert_eq!(counts.values().map(Vec::len).sum::<usize>(), 1000);
    assert!(counts.values().all(|v| v.len() == 1));
}

#[tokio::test]
async fn killed_replica_is_taken_over_after_its_lease() {
    let prefix = unique_prefix();
    let _c = Cleanup(prefix.clone());
    let opts = TimerOptions {
        lease: Duration::from_millis(800),
        ..fast_opts()
    };
    let a = Timers::new(client(), &prefix, opts.clone());
    let b = Timers::new(client(), &prefix, opts);

    // Replica a claims everything and hangs in its handler.
    let seen_by_a: Counts = Arc::default();
    let seen = Arc::clone(&seen_by_a);
    let hang = move |f: Fired| {
        seen.lock()
            .unwrap()
            .entry(f.id)
            .or_default()
            .push(f.firing_id);
        std::future::pending::<Result<(), String>>()
    };
    let ca = CancellationToken::new();
    let (ta, cta) = (a.clone(), ca.clone());
    let poller_a = tokio::spawn(async move { ta.run(hang, cta).await });
    let due = now_ms();
    for i in 0..50 {
        a.schedule(&format!("t{i}"), due, "p").await.unwrap();
    }
    assert!(eventually(10, || total(&seen_by_a) == 50).await);
    poller_a.abort(); // the process dies: its handler tasks go with it
    assert!(poller_a.await.unwrap_err().is_cancelled());

    let done: Counts = Arc::default();
    let cb = CancellationToken::new();
    let (tb, h, ctb) = (b.clone(), recording(&done), cb.clone());
    let poller_b = tokio::spawn(async move { tb.run(h, ctb).await });
    assert!(
        eventually(20, || total(&done) >= 50).await,
        "took over {}",
        total(&done)
    );
    assert!(pending_eventually(&b, 0, 10).await);
    tokio::time::sleep(Duration::from_millis(200)).await;
    cb.cancel();
    poller_b.await.unwrap();

    let done = done.lock().unwrap();
    let seen_by_a = seen_by_a.lock().unwrap();
    assert_eq!(done.len(), 50);
    for (id, firings) in done.iter() {
        assert_eq!(firings.len(), 1, "{id} completed once");
        assert_eq!(
            firings, &seen_by_a[id],
            "{id}: same firing id on both replicas"
        );
    }
}

#[tokio::test]
async fn failed_handler_is_retried_with_the_same_firing_id() {
    let (t, _p, _c) = setup(fast_opts());
    let attempts: Counts = Arc::default();
    let successes = Arc::new(AtomicUsize::new(0));
    let (att, ok) = (Arc::clone(&attempts), Arc::clone(&successes));
    let handler = move |f: Fired| {
        let n = {
            let mut map = att.lock().unwrap();
            let v = map.entry(f.id).or_default();
            v.push(f.firing_id);
            v.len()
        };
        if n >= 3 {
            ok.fetch_add(1, Ordering::SeqCst);
        }
        std::future::ready(if n < 3 {
            Err(format!("attempt {n} fails"))
        } else {
            Ok(())
        })
    };
    let cancel = CancellationToken::new();
    let (tr, c) = (t.clone(), cancel.clone());
    let poller = tokio::spawn(async move { tr.run(handler, c).await });
    let due = now_ms();
    for i in 0..5 {
        t.schedule(&format!("t{i}"), due, "p").await.unwrap();
    }
    assert!(eventually(20, || successes.load(Ordering::SeqCst) >= 5).await);
    assert!(pending_eventually(&t, 0, 10).await);
    tokio::time::sleep(Duration::from_millis(200)).await;
    cancel.cancel();
    poller.await.unwrap();
    let attempts = attempts.lock().unwrap();
    assert_eq!(successes.load(Ordering::SeqCst), 5);
    for (id, firings) in attempts.iter() {
        assert_eq!(firings.len(), 3, "{id}: two failures, then success");
        assert!(
            firings.iter().all(|f| f == &firings[0]),
            "{id}: one firing id"
        );
    }
}

#[tokio::test]
async fn retry_backoff_grows_with_lateness_within_bounds() {
    let (clock, now) = manual_clock(100_000);
    let (t, _p, _c) = setup(opts_with(clock));
    assert_eq!(t.retry_at(100_000), 100_100, "retry_min");
    assert_eq!(t.retry_at(99_750), 100_250, "lateness");
    assert_eq!(t.retry_at(0), 100_400, "retry_max");
    now.store(5, Ordering::SeqCst);
    assert_eq!(t.retry_at(1_000), 105, "early firing still waits retry_min");
}

#[tokio::test]
async fn schedule_wakes_a_sleeping_poller() {
    // The poller would otherwise sleep 30 s between claims.
    let (t, _p, _c) = setup(TimerOptions {
        max_idle: Duration::from_secs(30),
        ..fast_opts()
    });
    let counts: Counts = Arc::default();
    let cancel = CancellationToken::new();
    let (tr, h, c) = (t.clone(), recording(&counts), cancel.clone());
    let poller = tokio::spawn(async move { tr.run(h, c).await });
    tokio::time::sleep(Duration::from_millis(200)).await; // asleep now
    t.schedule("far", now_ms() + 3_600_000, "p").await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    t.schedule("soon", now_ms() + 300, "p").await.unwrap();
    assert!(eventually(10, || total(&counts) == 1).await);
    assert_eq!(counts.lock().unwrap().keys().collect::<Vec<_>>(), ["soon"]);
    cancel.cancel();
    // Cancel is prompt even though the poller sleeps up to 30 s.
    tokio::time::timeout(Duration::from_secs(5), poller)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(t.pending().await.unwrap(), 1);
}

#[tokio::test]
async fn shutdown_waits_for_running_handlers_then_returns() {
    let (t, _p, _c) = setup(fast_opts());
    let started = Arc::new(AtomicUsize::new(0));
    let finished = Arc::new(AtomicUsize::new(0));
    let (s, f) = (Arc::clone(&started), Arc::clone(&finished));
    let handler = move |_: Fired| {
        let (s, f) = (Arc::clone(&s), Arc::clone(&f));
        async move {
            s.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(500)).await;
            f.fetch_add(1, Ordering::SeqCst);
            Ok::<(), String>(())
        }
    };
    let cancel = CancellationToken::new();
    let (tr, c) = (t.clone(), cancel.clone());
    let poller = tokio::spawn(async move { tr.run(handler, c).await });
    t.schedule("x", now_ms(), "p").await.unwrap();
    assert!(eventually(10, || started.load(Ordering::SeqCst) == 1).await);
    cancel.cancel();
    tokio::time::timeout(Duration::from_secs(5), poller)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        finished.load(Ordering::SeqCst),
        1,
        "the running handler finished"
    );
    assert_eq!(t.pending().await.unwrap(), 0, "and was acked");
}

#[tokio::test]
async fn shutdown_drops_handlers_past_the_grace_and_they_fire_again() {
    let opts = TimerOptions {
        lease: Duration::from_millis(600),
        shutdown_grace: Duration::from_millis(100),
        ..fast_opts()
    };
    let (t, _p, _c) = setup(opts);
    let firings: Counts = Arc::default();
    let seen = Arc::clone(&firings);
    let hang = move |f: Fired| {
        seen.lock()
            .unwrap()
            .entry(f.id)
            .or_default()
            .push(f.firing_id);
        std::future::pending::<Result<(), String>>()
    };
    let cancel = CancellationToken::new();
    let (tr, c) = (t.clone(), cancel.clone());
    let poller = tokio::spawn(async move { tr.run(hang, c).await });
    t.schedule("x", now_ms(), "p").await.unwrap();
    assert!(eventually(10, || total(&firings) == 1).await);
    cancel.cancel();
    tokio::time::timeout(Duration::from_secs(5), poller)
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(
        t.get("x").await.unwrap().unwrap().state,
        TimerState::InFlight { .. }
    ));

    let done: Counts = Arc::default();
    let cancel = CancellationToken::new();
    let (tr, h, c) = (t.clone(), recording(&done), cancel.clone());
    let poller = tokio::spawn(async move { tr.run(h, c).await });
    assert!(eventually(10, || total(&done) == 1).await);
    cancel.cancel();
    poller.await.unwrap();
    assert_eq!(done.lock().unwrap()["x"], firings.lock().unwrap()["x"]);
    assert_eq!(t.pending().await.unwrap(), 0);
}

/// Scale smoke check, by hand:
/// `cargo test timers_scale_smoke -- --ignored --nocapture`
/// (`TIMERS_SMOKE_N` timers, default 100,000). Prints the schedule
/// throughput and Redis memory per timer; asserts nothing about time.
#[tokio::test]
#[ignore]
async fn timers_scale_smoke() {
    let n: usize = std::env::var("TIMERS_SMOKE_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let (t, prefix, _c) = setup(TimerOptions::default());
    let base = now_ms() + 86_400_000;
    // Realistic sizes: a ULID conversation id plus the timer kind, and a
    // small JSON payload.
    let items: Vec<(String, i64, String)> = (0..n)
        .map(|i| {
            let conv = format!("01JZ{i:022}");
            let kind = ["first_response_warning", "breach", "offer_timeout"][i % 3];
            (
                format!("{conv}:{kind}"),
                base + (i as i64 % 3_600_000),
                format!("{{\"conversation\":\"{conv}\",\"kind\":\"{kind}\"}}"),
            )
        })
        .collect();
    let started = std::time::Instant::now();
    t.schedule_many(items.iter().map(|(a, d, b)| (a, *d, b)))
        .await
        .unwrap();
    let took = started.elapsed();
    assert_eq!(t.pending().await.unwrap(), n as u64);
    let k = Keys::new(&prefix);
    let mut c = client().get_multiplexed_async_connection().await.unwrap();
    let mut bytes = 0i64;
    for key in [&k.due, &k.inflight, &k.data, &k.gen] {
        let used: Option<i64> = redis::cmd("MEMORY")
            .arg("USAGE")
            .arg(key)
            .arg("SAMPLES")
            .arg(0)
            .query_async(&mut c)
            .await
            .unwrap();
        println!("MEMORY USAGE {key}: {} bytes", used.unwrap_or(0));
        bytes += used.unwrap_or(0);
    }
    println!(
        "scheduled {n} timers in {took:?} ({:.0}/s); {:.1} bytes per timer (id {} B, payload {} B)",
        n as f64 / took.as_secs_f64(),
        bytes as f64 / n as f64,
        items[0].0.len(),
        items[0].2.len()
    );
    let started = std::time::Instant::now();
    t.cancel_many(items.iter().map(|(a, _, _)| a))
        .await
        .unwrap();
    println!("cancelled {n} timers in {:?}", started.elapsed());
}

/// Lateness with many open timers, by hand:
/// `cargo test timers_lateness_smoke -- --ignored --nocapture`.
/// `TIMERS_SMOKE_N` (default 1,000,000) timers are open, of which
/// `TIMERS_SMOKE_FIRE` (default 10,000) come due over 10 s, fired by two
/// replicas; prints the lateness percentiles, asserts nothing about time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn timers_lateness_smoke() {
    let env = |k: &str, d: usize| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let n = env("TIMERS_SMOKE_N", 1_000_000);
    let fire = env("TIMERS_SMOKE_FIRE", 10_000).min(n);
    let prefix = unique_prefix();
    let _c = Cleanup(prefix.clone());
    let replicas: Vec<Timers> = (0..2)
        .map(|_| Timers::new(client(), &prefix, TimerOptions::default()))
        .collect();
    let far = now_ms() + 86_400_000;
    let started = std::time::Instant::now();
    replicas[0]
        .schedule_many((0..n - fire).map(|i| {
            (
                format!("far{i}:breach"),
                far + i as i64,
                "{\"kind\":\"breach\"}",
            )
        }))
        .await
        .unwrap();
    println!(
        "scheduled {} far timers in {:?}",
        n - fire,
        started.elapsed()
    );

    let lateness = Arc::new(StdMutex::new(Vec::with_capacity(fire)));
    let cancel = CancellationToken::new();
    let mut pollers = Vec::new();
    for t in &replicas {
        let late = Arc::clone(&lateness);
        let handler = move |f: Fired| {
            late.lock().unwrap().push(now_ms() - f.due_ms);
            async { Ok::<(), String>(()) }
        };
        let (t, c) = (t.clone(), cancel.clone());
        pollers.push(tokio::spawn(async move { t.run(handler, c).await }));
    }
    let start = now_ms() + 2_000;
    let window = 10_000i64;
    let soon: Vec<(String, i64)> = (0..fire)
        .map(|i| {
            (
                format!("soon{i}:warn"),
                start + (i as i64 * window) / fire as i64,
            )
        })
        .collect();
    for (i, chunk) in soon.chunks(1000).enumerate() {
        replicas[i % 2]
            .schedule_many(chunk.iter().map(|(a, d)| (a, *d, "{\"kind\":\"warn\"}")))
            .await
            .unwrap();
    }
    let end = std::time::Instant::now() + Duration::from_millis(window as u64 + 30_000);
    while lateness.lock().unwrap().len() < fire && std::time::Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    cancel.cancel();
    for p in pollers {
        p.await.unwrap();
    }
    let mut late = lateness.lock().unwrap().clone();
    late.sort_unstable();
    let pct = |p: f64| {
        late.get(((late.len() as f64 * p) as usize).min(late.len().saturating_sub(1)))
            .copied()
            .unwrap_or(-1)
    };
    println!(
        "{} open, {} fired of {fire} over {window} ms: lateness ms p50 {} p99 {} max {}",
        n,
        late.len(),
        pct(0.50),
        pct(0.99),
        late.last().copied().unwrap_or(-1)
    );
}
