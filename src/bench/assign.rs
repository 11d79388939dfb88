//! Assignment alone: the routing scripts called directly against Redis
//! (no HTTP, no NATS), with a given number of agents and conversations
//! waiting, to show how the cost of one decision grows with both.
//!
//! Per agent count, under its own prefix:
//! 1. the agents are synced (`Store::sync_agent`) as `away`, and `queued`
//!    messages from distinct customers are routed (`Store::route`): with
//!    nobody available every conversation waits in the queue;
//! 2. the agents turn available; new conversations are routed, each placed
//!    at once: first at the benchmark's concurrency (decisions/s, latency
//!    under load), then one at a time (the latency of one decision);
//! 3. the agents are filled to capacity, then capacity is freed one
//!    conversation at a time (`Store::resolve`, not timed) and
//!    `Store::drain` takes the head of the 100,000-long queue (timed): the
//!    decision made when a queue is long.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use futures::StreamExt;
use rand::Rng;
use serde::Serialize;
use switchboard_core::Channel;

use super::stats::{per_sec, Latency};
use super::sys::{CpuTimes, CpuUse, Servers};
use crate::config::Loader;
use crate::store::{AgentSync, ClassJson, RouteRequest, RouteResult, Store};

/// The queue every benchmark conversation goes to.
const QUEUE: &str = "orders";

/// What one assignment measurement is made of.
#[derive(Clone, Debug)]
pub struct AssignPlan {
    /// Redis URL.
    pub redis_url: String,
    /// The run's prefix; each agent count gets `<prefix>_a<agents>`.
    pub prefix: String,
    /// Conversations waiting in the queue.
    pub queued: usize,
    /// Decisions at `concurrency` (throughput).
    pub concurrent_decisions: usize,
    /// Decisions one at a time (latency), for each of route and drain.
    pub sequential_decisions: usize,
    /// Calls in flight for the throughput part and for seeding.
    pub concurrency: usize,
}

/// One agent count's figures.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Assignment {
    /// Agents available.
    pub agents: usize,
    /// SMS capacity of each (sized so every measured decision finds room).
    pub agent_sms_capacity: usize,
    /// Conversations waiting in the queue while decisions were measured.
    pub queued: usize,
    /// Routing a new conversation to a free agent (`route.lua`).
    pub route: Decisions,
    /// Assigning the head of the long queue after a slot freed (`drain.lua`).
    pub drain: Decisions,
    /// Seconds spent seeding the queue.
    pub seed_secs: f64,
}

/// Decisions of one kind.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Decisions {
    /// Decisions per second: at `concurrency` for route; one at a time for
    /// drain (each drain follows a resolve that frees the slot).
    pub decisions_per_sec: f64,
    /// Calls in flight for `decisions_per_sec`.
    pub concurrency: usize,
    /// One script call at a time: the cost of one decision.
    pub latency: Latency,
    /// Latency of the calls at `concurrency` (includes waiting in Redis
    /// behind the other calls); route only.
    pub latency_under_load: Option<Latency>,
    /// Where the CPU went during the calls at `concurrency` (the `daemon`
    /// figures are the benchmark's client); route only.
    pub cpu: Option<CpuUse>,
}

fn class() -> ClassJson {
    ClassJson {
        queue: QUEUE.to_owned(),
        priority: 0,
        skills: BTreeMap::from([(QUEUE.to_owned(), 2)]),
        tags: Vec::new(),
        rule: "orders".to_owned(),
        mode: "auto".to_owned(),
        offer_timeout_ms: 0,
        language: String::new(),
        deadline_ms: 0,
        sla: String::new(),
        bot: String::new(),
    }
}

/// Routes one new SMS conversation from customer `i`.
async fn route(store: &Store, i: u64) -> anyhow::Result<RouteResult> {
    let phone = super::traffic::Traffic::phone(i);
    let sid = format!("SMA{i:012}");
    let message_id = ulid::Ulid::new().to_string();
    let stored = serde_json::json!({
        "id": message_id, "direction": "inbound", "channel": "sms", "account": "bench",
        "provider_message_id": sid, "text": "Where is my order? 我的快递到哪里了？",
        "attachments": [], "at": chrono::Utc::now(),
    })
    .to_string();
    let result = store
        .route(RouteRequest {
            channel: Channel::Sms,
            account: "bench",
            provider_message_id: &sid,
            identity: ("phone", &phone),
            shop_customer: None,
            profile: Vec::new(),
            address: &phone,
            message_id: &message_id,
            stored_message: stored,
            class: class(),
            hint: None,
            new_customer_id: ulid::Ulid::new().to_string(),
            new_conversation_id: ulid::Ulid::new().to_string(),
            now_ms: chrono::Utc::now().timestamp_millis(),
            dedupe_ttl_secs: 3600,
            join_window_ms: 604_800_000,
            reopen_window_ms: 86_400_000,
            event_message: r#"{"id":"m","direction":"inbound","text":"bench"}"#.to_owned(),
            stream_seq: 0,
        })
        .await?;
    Ok(result)
}

/// Routes customers `range` with `concurrency` calls in flight; the
/// results with each call's latency.
async fn route_many(
    store: &Store,
    range: std::ops::Range<u64>,
    concurrency: usize,
) -> anyhow::Result<Vec<(RouteResult, Duration)>> {
    let results: Vec<anyhow::Result<(RouteResult, Duration)>> = futures::stream::iter(range)
        .map(|i| {
            let store = store.clone();
            async move {
                let t = Instant::now();
                let r = route(&store, i).await?;
                Ok((r, t.elapsed()))
            }
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    results.into_iter().collect()
}

/// Runs `f` on each agent index with `concurrency` calls in flight.
async fn each_agent<F, Fut>(agents: usize, concurrency: usize, f: F) -> anyhow::Result<()>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    futures::stream::iter(0..agents)
        .map(f)
        .buffer_unordered(concurrency.max(1))
        .fold(Ok(()), |acc, r| async move { acc.and(r) })
        .await
}

fn agent_id(a: usize) -> String {
    format!("a{a:05}")
}

/// Measures one agent count; its keys are removed by the caller.
pub async fn measure(plan: &AssignPlan, agents: usize, servers: Servers) -> anyhow::Result<Assignment> {
    let prefix = format!("{}_a{agents}", plan.prefix);
    let q = |s: &str| serde_json::to_string(s).unwrap_or_default();
    let toml = format!("[redis]\nurl = {}\nprefix = {}\n", q(&plan.redis_url), q(&prefix));
    let settings =
        Loader::new().without_env().overlay(toml).load().map_err(|p| anyhow::anyhow!("configuration: {p}"))?;
    let store = Store::new(&settings.redis)?;
    let routing = &settings.routing;
    store
        .set_routing_config(i64::try_from(routing.sticky_window_secs * 1000)?, routing.offer_misses_away, "/switchboard/bench", &BTreeMap::new())
        .await?;

    let placed_total = plan.concurrent_decisions + plan.sequential_decisions;
    let capacity = placed_total.div_ceil(agents.max(1)).saturating_add(1).clamp(4, 1000);
    if agents * capacity < placed_total {
        bail!("{agents} agents of capacity {capacity} cannot take {placed_total} decisions");
    }
    let skills = Arc::new(BTreeMap::from([(QUEUE.to_owned(), 3u8)]));
    each_agent(agents, plan.concurrency, |a| {
        let (store, skills) = (store.clone(), skills.clone());
        async move {
            let id = agent_id(a);
            let capacity = u32::try_from(capacity)?;
            let caps = Channel::ALL.map(|ch| (ch, if ch == Channel::Sms { capacity } else { 0 }));
            store
                .sync_agent(&AgentSync {
                    id: &id,
                    status: "away",
                    force: true,
                    total: capacity,
                    capacity: caps,
                    skills: &skills,
                    languages: &[],
                })
                .await?;
            Ok(())
        }
    })
    .await?;

    // 1. The long queue, while nobody is available.
    let seed = Instant::now();
    let mut next = 0u64;
    let mut take = |n: usize| {
        let r = next..next + n as u64;
        next = r.end;
        r
    };
    let seeded = route_many(&store, take(plan.queued), plan.concurrency * 2).await?;
    if let Some((r, _)) = seeded.iter().find(|(r, _)| r.placed) {
        bail!("conversation {} was placed while every agent was away", r.conversation);
    }
    let seed_secs = seed.elapsed().as_secs_f64();
    let mut conn = store.conn().await?;
    let waiting_key = store.keys().waiting(QUEUE, switchboard_core::Channel::Sms);
    let queued: usize = redis::cmd("ZCARD").arg(&waiting_key).query_async(&mut conn).await?;

    // 2. Agents available: new conversations are placed on arrival.
    each_agent(agents, plan.concurrency, |a| {
        let store = store.clone();
        async move { Ok(store.set_agent_status(&agent_id(a), "available").await?) }
    })
    .await?;
    let (t, cpu) = (Instant::now(), CpuTimes::read(servers));
    let under_load = route_many(&store, take(plan.concurrent_decisions), plan.concurrency).await?;
    let elapsed = t.elapsed();
    let cpu = cpu.until(&CpuTimes::read(servers), plan.concurrent_decisions);
    let mut held: Vec<String> = Vec::with_capacity(agents * capacity);
    let mut load_latencies = Vec::with_capacity(under_load.len());
    for (r, d) in under_load {
        if !r.placed {
            bail!("a new conversation was queued although agents had free capacity");
        }
        held.push(r.conversation);
        load_latencies.push(d);
    }
    let mut one_latencies = Vec::with_capacity(plan.sequential_decisions);
    for i in take(plan.sequential_decisions) {
        let t = Instant::now();
        let r = route(&store, i).await?;
        one_latencies.push(t.elapsed());
        if !r.placed {
            bail!("a new conversation was queued although agents had free capacity");
        }
        held.push(r.conversation);
    }
    let route_figures = Decisions {
        decisions_per_sec: per_sec(plan.concurrent_decisions, elapsed),
        concurrency: plan.concurrency,
        latency: Latency::of(one_latencies),
        latency_under_load: Some(Latency::of(load_latencies)),
        cpu: Some(cpu),
    };

    // 3. Every agent full, the queue long: free one slot, drain.
    let room = agents * capacity - held.len();
    for (r, _) in route_many(&store, take(room), plan.concurrency * 2).await? {
        if r.placed {
            held.push(r.conversation);
        }
    }
    let avail: usize = redis::cmd("ZCARD").arg(store.keys().available(Channel::Sms)).query_async(&mut conn).await?;
    if avail != 0 {
        bail!("{avail} agents still had free capacity after filling");
    }
    let depth = routing.drain_depth;
    // Each drain takes one conversation off the queue.
    let drains = plan.sequential_decisions.min(queued);
    let mut drain_latencies = Vec::with_capacity(drains);
    let mut placed = 0;
    let mut drain_time = Duration::ZERO;
    for _ in 0..drains {
        let k = rand::thread_rng().gen_range(0..held.len());
        let conversation = held.swap_remove(k);
        let now = chrono::Utc::now().timestamp_millis();
        store.resolve(&conversation, now, 0, "bench").await?.0.context("a held conversation was not open")?;
        // As the resolve route does once the event is out: the slot frees.
        store.release_resolved(&conversation, now).await?;
        let t = Instant::now();
        let (placements, _events) = store.drain(now, depth).await?;
        let d = t.elapsed();
        drain_time += d;
        drain_latencies.push(d);
        placed += placements.len();
        held.extend(placements.into_iter().map(|p| p.conversation));
    }
    if placed != drains {
        bail!("{placed} of {drains} drains placed a conversation");
    }
    let drain_figures = Decisions {
        decisions_per_sec: per_sec(placed, drain_time),
        concurrency: 1,
        latency: Latency::of(drain_latencies),
        latency_under_load: None,
        cpu: None,
    };
    Ok(Assignment {
        agents,
        agent_sms_capacity: capacity,
        queued,
        route: route_figures,
        drain: drain_figures,
        seed_secs,
    })
}
