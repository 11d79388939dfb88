//! SLA timers at scale: a million open timers in Redis
//! ([`crate::store::timers`]), their memory, and how late a steady stream of
//! them fires while the rest wait.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use futures::StreamExt;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::stats::{per_sec, Latency};
use crate::store::timers::{system_clock, Fired, TimerOptions, Timers};

/// What the timer measurement is made of.
#[derive(Clone, Debug)]
pub struct TimerPlan {
    /// The timer set's key prefix (it carries the run's hash tag).
    pub prefix: String,
    /// Open timers in total.
    pub timers: usize,
    /// Of those, due within the firing window (the rest are due hours later).
    pub firing: usize,
    /// The window the firing timers are spread over, evenly.
    pub window: Duration,
    /// `schedule_many` calls in flight while scheduling.
    pub concurrency: usize,
}

/// The timer figures.
#[derive(Clone, Debug, Default, Serialize)]
pub struct TimerFigures {
    /// Timers open when the window started.
    pub open_timers: usize,
    /// Timers scheduled per second (`schedule_many`, in batches of 1,000).
    pub scheduled_per_sec: f64,
    /// `MEMORY USAGE` (exact, `SAMPLES 0`) of the timer set's keys.
    pub redis_bytes: u64,
    /// `redis_bytes / open_timers`.
    pub bytes_per_timer: f64,
    /// Timers in the window.
    pub fired: usize,
    /// Their rate (timers due per second).
    pub firing_per_sec: f64,
    /// Handler start minus due time.
    pub lateness: Latency,
}

/// Schedules, weighs and fires; the keys are removed by the caller.
pub async fn measure(redis: &redis::Client, plan: &TimerPlan) -> anyhow::Result<TimerFigures> {
    let timers = Timers::new(redis.clone(), &plan.prefix, TimerOptions::default());
    let now = (system_clock())();
    let background = plan.timers.saturating_sub(plan.firing);

    // The timers that only wait: due between 1 and 2 hours from now, as
    // open SLA clocks are.
    let t = Instant::now();
    let chunk = 10_000;
    let chunks: Vec<(usize, usize)> =
        (0..background).step_by(chunk).map(|s| (s, (s + chunk).min(background))).collect();
    let results: Vec<anyhow::Result<usize>> = futures::stream::iter(chunks)
        .map(|(start, end)| {
            let timers = timers.clone();
            async move {
                let batch = (start..end).map(|i| {
                    let due = now + 3_600_000 + (i as i64 % 3_600_000);
                    (
                        format!("conv{i:08}:first_response"),
                        due,
                        format!("{{\"conversation\":\"conv{i:08}\",\"kind\":\"breach\"}}"),
                    )
                });
                Ok(timers.schedule_many(batch).await?.len())
            }
        })
        .buffer_unordered(plan.concurrency.max(1))
        .collect()
        .await;
    let mut scheduled = 0;
    for r in results {
        scheduled += r?;
    }

    // The window: `firing` timers evenly over `window`, starting shortly
    // after they are all scheduled.
    let start = (system_clock())() + 1_000;
    let step = plan.window.as_millis() as f64 / plan.firing.max(1) as f64;
    let window = (0..plan.firing).map(|k| {
        let due = start + (k as f64 * step) as i64;
        (format!("fire{k:08}:first_response"), due, format!("{{\"conversation\":\"fire{k:08}\",\"kind\":\"warning\"}}"))
    });
    scheduled += timers.schedule_many(window).await?.len();
    let scheduled_per_sec = per_sec(scheduled, t.elapsed());
    let open = usize::try_from(timers.pending().await?)?;
    if open != plan.timers {
        bail!("{open} timers open, expected {}", plan.timers);
    }

    let mut conn = redis.get_multiplexed_async_connection().await?;
    let mut redis_bytes = 0u64;
    for suffix in ["due", "inflight", "data", "gen"] {
        let bytes: Option<u64> = redis::cmd("MEMORY")
            .arg("USAGE")
            .arg(format!("{}:{suffix}", plan.prefix))
            .arg("SAMPLES")
            .arg(0)
            .query_async(&mut conn)
            .await?;
        redis_bytes += bytes.unwrap_or(0);
    }

    // Fire the window with the daemon's poller; the handler records how late.
    let late: Arc<Mutex<Vec<Duration>>> = Arc::new(Mutex::new(Vec::with_capacity(plan.firing)));
    let cancel = CancellationToken::new();
    let poller = tokio::spawn({
        let (timers, late, cancel) = (timers.clone(), late.clone(), cancel.clone());
        let clock = system_clock();
        async move {
            timers
                .run(
                    move |fired: Fired| {
                        let lateness = (clock)().saturating_sub(fired.due_ms);
                        if let Ok(mut l) = late.lock() {
                            l.push(Duration::from_millis(u64::try_from(lateness).unwrap_or(0)));
                        }
                        async { Ok::<(), std::convert::Infallible>(()) }
                    },
                    cancel,
                )
                .await;
        }
    });
    let deadline = Instant::now() + plan.window + Duration::from_secs(60);
    loop {
        let n = late.lock().map(|l| l.len()).unwrap_or(0);
        if n >= plan.firing {
            break;
        }
        if Instant::now() > deadline {
            cancel.cancel();
            bail!("only {n} of {} timers fired within the window and 60 s more", plan.firing);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    cancel.cancel();
    poller.await.context("the timer poller")?;
    let lateness = late.lock().map(|mut l| std::mem::take(&mut *l)).unwrap_or_default();
    Ok(TimerFigures {
        open_timers: open,
        scheduled_per_sec,
        redis_bytes,
        bytes_per_timer: (redis_bytes as f64 / open.max(1) as f64 * 10.0).round() / 10.0,
        fired: lateness.len(),
        firing_per_sec: per_sec(plan.firing, plan.window),
        lateness: Latency::of(lateness),
    })
}
