//! The observer: subscribes to the agents' subjects, stamps each
//! assignment's arrival and matches it to the webhook that caused it.

use std::ops::Range;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use anyhow::bail;
use futures::StreamExt;
use serde::Deserialize;
use tokio::task::JoinHandle;
use crate::bench::stats::{per_sec, round, Latency};
use crate::bench::sys::CpuUse;
use crate::bench::traffic::Traffic;

use super::*;

/// The part of an event the observer reads.
#[derive(Deserialize)]
pub(super) struct Probe {
    #[serde(rename = "type")]
    pub(super) kind: String,
    pub(super) data: ProbeData,
}

#[derive(Deserialize)]
pub(super) struct ProbeData {
    pub(super) customer: ProbeCustomer,
}

#[derive(Deserialize)]
pub(super) struct ProbeCustomer {
    pub(super) address: String,
}

/// Takes the arrival time of the `assigned` (or `queued`) event of each
/// message index of a range.
pub(super) struct Observer {
    pub(super) range: Range<u64>,
    /// Arrival of the `assigned` event at the agent (`P.agent.<id>`, after
    /// delivery) or of `queued` on the log, ns since the epoch + 1 (0: not
    /// yet).
    pub(super) arrived: Arc<Vec<AtomicU64>>,
    /// Arrival of the `assigned` or `queued` event on the log.
    pub(super) logged: Arc<Vec<AtomicU64>>,
    pub(super) assigned: Arc<AtomicUsize>,
    pub(super) queued: Arc<AtomicUsize>,
    pub(super) task: JoinHandle<()>,
}

impl Observer {
    pub(super) async fn start(
        nats: &async_nats::Client,
        prefix: &str,
        epoch: Instant,
        range: Range<u64>,
    ) -> anyhow::Result<Observer> {
        let log = nats.subscribe(format!("{prefix}.events.conversation.*")).await?;
        let agents = nats.subscribe(format!("{prefix}.agent.*")).await?;
        // The subscriptions are on the server before the first request goes out.
        nats.flush().await?;
        let agent_prefix = format!("{prefix}.agent.");
        let len = usize::try_from(range.end - range.start)?;
        let slots = || -> Arc<Vec<AtomicU64>> { Arc::new((0..len).map(|_| AtomicU64::new(0)).collect()) };
        let (arrived, logged) = (slots(), slots());
        let (assigned, queued) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let task = tokio::spawn({
            let (arrived, logged, assigned, queued, range) =
                (arrived.clone(), logged.clone(), assigned.clone(), queued.clone(), range.clone());
            async move {
                let mut both = futures::stream::select(log, agents);
                while let Some(msg) = both.next().await {
                    let at = u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX - 1) + 1;
                    let Ok(event) = serde_json::from_slice::<Probe>(&msg.payload) else { continue };
                    let at_agent = msg.subject.as_str().starts_with(&agent_prefix);
                    let Some(i) = Traffic::index_of(&event.data.customer.address).filter(|i| range.contains(i)) else {
                        continue;
                    };
                    let Ok(k) = usize::try_from(i - range.start) else { continue };
                    let (Some(slot), Some(log_slot)) = (arrived.get(k), logged.get(k)) else { continue };
                    // The first arrival counts (a re-published or re-delivered event counts once).
                    let first = |slot: &AtomicU64| slot.compare_exchange(0, at, Ordering::Relaxed, Ordering::Relaxed).is_ok();
                    match (event.kind.as_str(), at_agent) {
                        (crate::events::ASSIGNED, true) if first(slot) => {
                            assigned.fetch_add(1, Ordering::Relaxed);
                        }
                        (crate::events::ASSIGNED | crate::events::QUEUED, false) => {
                            first(log_slot);
                            if event.kind == crate::events::QUEUED && first(slot) {
                                queued.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        _ => {}
                    }
                }
            }
        });
        Ok(Observer { range, arrived, logged, assigned, queued, task })
    }

    pub(super) fn len(&self) -> usize {
        self.arrived.len()
    }

    /// Waits until every message of the range has its event: `assigned`
    /// only, or (`queued_ok`) `assigned` or `queued`.
    pub(super) async fn wait_all(&self, queued_ok: bool, bound: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + bound;
        loop {
            let (a, q) = (self.assigned.load(Ordering::Relaxed), self.queued.load(Ordering::Relaxed));
            if !queued_ok && q > 0 {
                bail!("{q} conversations were queued instead of assigned: agents ran out of capacity");
            }
            if a + q >= self.len() {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "only {} of {} conversations of messages {:?} were routed within {} s",
                    a + q,
                    self.len(),
                    self.range,
                    bound.as_secs()
                );
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// The latencies from the start of each webhook and the throughput from
    /// the first start to the last arrival.
    pub(super) fn run(&self, times: &Times, concurrency: usize, offered: f64) -> Run {
        let mut latencies = Vec::with_capacity(self.len());
        let mut logged = Vec::with_capacity(self.len());
        let mut intake = Vec::with_capacity(self.len());
        let (mut first, mut last) = (u64::MAX, 0);
        let arrivals = self.arrived.iter().zip(self.logged.iter());
        for ((s, (a, l)), r) in times.started.iter().zip(arrivals).zip(times.answered.iter()) {
            let at = |slot: &AtomicU64| slot.load(Ordering::Relaxed).saturating_sub(1);
            let (s, a, l, r) = (s.load(Ordering::Relaxed), at(a), at(l), r.load(Ordering::Relaxed));
            first = first.min(s);
            last = last.max(a);
            latencies.push(Duration::from_nanos(a.saturating_sub(s)));
            logged.push(Duration::from_nanos(l.saturating_sub(s)));
            intake.push(Duration::from_nanos(r.saturating_sub(s)));
        }
        Run {
            messages: self.len(),
            concurrency,
            offered_per_sec: round(offered),
            messages_per_sec: per_sec(self.len(), Duration::from_nanos(last.saturating_sub(first))),
            latency: Latency::of(latencies),
            logged: Latency::of(logged),
            intake: Latency::of(intake),
            cpu: CpuUse::default(),
            redis_commands_per_message: 0.0,
            redis_script_calls_per_message: 0.0,
            redis_round_trips_per_message: 0.0,
        }
    }

    pub(super) fn stop(self) {
        self.task.abort();
    }
}
