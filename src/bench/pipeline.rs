//! The pipeline end to end: a daemon runs in this process (`crate::run` on
//! a `127.0.0.1:0` listener with a generated configuration), Twilio-signed
//! webhooks go to it over real HTTP, and a NATS subscriber on
//! `P.agent.*` takes the time each conversation's `assigned` event is
//! delivered to its agent (and on `P.events.conversation.*` the time it
//! was on the log). Latency is from the webhook request's start (closed
//! loop) or intended start (open loop) to that arrival.

use std::ops::Range;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use async_nats::jetstream;
use async_nats::HeaderMap;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;

use super::stats::{per_sec, round, Latency};
use super::sys::{reset_peak, CpuTimes, CpuUse, Rss, Servers, LOAD_THREADS};
use super::floor_pipeline::{FloorPipeline, FloorPipelinePlan};
use super::traffic::Traffic;
use crate::config::{Loader, Settings};

/// Agents of the generated configuration (more if their capacity of at
/// most 1,000 each would not hold every conversation).
const AGENTS: usize = 100;

/// What the pipeline runs are made of.
#[derive(Clone, Debug)]
pub struct PipelinePlan {
    /// `nats.prefix` and `redis.prefix` of the daemon.
    pub prefix: String,
    /// NATS URL.
    pub nats_url: String,
    /// Redis URL.
    pub redis_url: String,
    /// Webhooks of the maximum-throughput run.
    pub messages: usize,
    /// Webhooks sent (and awaited) before it, not measured.
    pub warmup: usize,
    /// Webhook requests in flight at once.
    pub concurrency: usize,
    /// Length of the half-load run.
    pub half_load: Duration,
    /// Its rate, as a fraction of the maximum run's throughput.
    pub load_fraction: f64,
    /// Conversations to open for the RSS reading.
    pub open: usize,
}

/// Results of the end-to-end runs.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Pipeline {
    /// Agents configured.
    pub agents: usize,
    /// SMS capacity of each.
    pub agent_sms_capacity: usize,
    /// The router's `routing.workers`.
    pub router_workers: usize,
    /// Warm-up webhooks (not measured).
    pub warmup: usize,
    /// The closed-loop run at maximum throughput.
    pub max: Run,
    /// The open-loop run at half (`--load-fraction`) of `max`'s throughput.
    pub half_load: Run,
    /// This process's memory over both runs (`VmHWM` reset before them).
    pub rss: Rss,
    /// What the RSS figure includes.
    pub rss_note: String,
}

/// One run of webhooks.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Run {
    /// Webhooks sent (each from a new customer: a new conversation).
    pub messages: usize,
    /// Closed loop: requests in flight. Open loop: 0.
    pub concurrency: usize,
    /// Open loop: the rate requests were started at (0 for a closed loop).
    pub offered_per_sec: f64,
    /// Conversations assigned per second, first request start to the last
    /// `assigned` event delivered to its agent.
    pub messages_per_sec: f64,
    /// Webhook request start to the `assigned` event received on the
    /// agent's subject `P.agent.<id>` (delivered by the delivery worker).
    pub latency: Latency,
    /// Webhook request start to the `assigned` event on the log
    /// (`P.events.conversation.assigned`, published by the router): the
    /// routing part of `latency`.
    pub logged: Latency,
    /// Webhook request start to its answer (`200` after the JetStream ack):
    /// the intake part of `latency`.
    pub intake: Latency,
    /// Where the CPU went during the run.
    pub cpu: CpuUse,
    /// Commands redis-server processed during the run per message (its
    /// `total_commands_processed`; whatever else uses that Redis counts
    /// too, so read it on a quiet machine). 0 when it could not be read.
    pub redis_commands_per_message: f64,
    /// Of those, the script calls (`EVALSHA`…) per message.
    pub redis_script_calls_per_message: f64,
    /// Round trips to Redis per message, as the daemon counted them (one per
    /// command sent on its own or script call, one per pipeline).
    pub redis_round_trips_per_message: f64,
}

/// redis-server's counters at one moment.
#[derive(Clone, Copy, Debug)]
struct RedisCounts {
    /// `total_commands_processed`: every command, those run inside
    /// scripts included.
    commands: u64,
    /// Script calls (`EVALSHA`, `EVAL`, `FCALL` and their `_RO` forms),
    /// from `INFO commandstats`.
    scripts: u64,
}

/// redis-server's counters, or `None`.
async fn redis_commands(url: &str) -> Option<RedisCounts> {
    let client = redis::Client::open(url).ok()?;
    let mut conn = client.get_multiplexed_async_connection().await.ok()?;
    let stats: String = redis::cmd("INFO").arg("stats").query_async(&mut conn).await.ok()?;
    let commands = stats.lines().find_map(|l| l.strip_prefix("total_commands_processed:")).and_then(|v| v.trim().parse().ok())?;
    let commandstats: String = redis::cmd("INFO").arg("commandstats").query_async(&mut conn).await.ok()?;
    Some(RedisCounts { commands, scripts: script_calls(&commandstats) })
}

/// The script calls in an `INFO commandstats` text.
fn script_calls(commandstats: &str) -> u64 {
    const SCRIPT_COMMANDS: [&str; 6] = ["evalsha", "eval", "fcall", "evalsha_ro", "eval_ro", "fcall_ro"];
    commandstats
        .lines()
        .filter_map(|l| l.strip_prefix("cmdstat_")?.split_once(':'))
        .filter(|(name, _)| SCRIPT_COMMANDS.contains(name))
        .filter_map(|(_, fields)| fields.split(',').find_map(|f| f.strip_prefix("calls="))?.parse::<u64>().ok())
        .sum()
}

/// Commands and script calls per message between two readings (the
/// readings' own two `INFO` commands excluded).
fn per_message(before: Option<RedisCounts>, after: Option<RedisCounts>, messages: usize) -> (f64, f64) {
    match (before, after) {
        (Some(b), Some(a)) if messages > 0 => (
            a.commands.saturating_sub(b.commands).saturating_sub(2) as f64 / messages as f64,
            a.scripts.saturating_sub(b.scripts) as f64 / messages as f64,
        ),
        _ => (0.0, 0.0),
    }
}

/// The daemon's round trips to Redis since `before`, per message (its
/// background work during the run included: the SLA timers' polls, the
/// relay's and the sweep's).
fn trips_per_message(before: u64, messages: usize) -> f64 {
    crate::store::conn::round_trips().saturating_sub(before) as f64 / messages.max(1) as f64
}

/// Memory with many open conversations.
#[derive(Clone, Debug, Default, Serialize)]
pub struct OpenConversations {
    /// Conversations opened (distinct customers) through the router.
    pub conversations: usize,
    /// Of those, assigned to an agent.
    pub assigned: usize,
    /// Of those, waiting in the queue (agents full).
    pub queued: usize,
    /// Routed per second (published to the inbound stream directly).
    pub routed_per_sec: f64,
    /// This process before opening them.
    pub rss_before: Rss,
    /// This process with all of them open (`peak_mb`: the peak while
    /// they were routed).
    pub rss_after: Rss,
}

/// The in-process daemon.
struct Daemon {
    addr: std::net::SocketAddr,
    settings: Settings,
    shutdown: CancellationToken,
    handle: JoinHandle<Result<(), crate::daemon::StartError>>,
}

impl Daemon {
    async fn start(plan: &PipelinePlan, token: &str, agents: usize, capacity: usize) -> anyhow::Result<Daemon> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let q = |s: &str| serde_json::to_string(s).unwrap_or_default();
        let mut toml = format!(
            "[server]\nlisten = {listen}\npublic_url = {public}\n\
             [log]\nlevel = \"warn\"\n\
             [nats]\nurl = {nats}\nprefix = {prefix}\n\
             [redis]\nurl = {redis}\nprefix = {prefix}\n\
             [channels.sms.bench]\naccount_sid = \"AC0123456789abcdef0123456789abcdef\"\nauth_token = {token}\n\
             from = \"+15005550006\"\napi_base = \"http://127.0.0.1:9\"\n",
            listen = q(&addr.to_string()),
            public = q(&format!("http://{addr}")),
            nats = q(&plan.nats_url),
            redis = q(&plan.redis_url),
            prefix = q(&plan.prefix),
            token = q(token),
        );
        for a in 0..agents {
            toml.push_str(&format!("[agents.a{a:05}]\ntoken = \"bench-a{a:05}\"\ncapacity = {{ sms = {capacity} }}\n"));
        }
        let settings = Loader::new()
            .without_env()
            .overlay(toml)
            .load()
            .map_err(|p| anyhow::anyhow!("generated configuration: {p}"))?;
        let shutdown = CancellationToken::new();
        let handle = tokio::spawn(crate::run(settings.clone(), listener, shutdown.clone()));
        let daemon = Daemon { addr, settings, shutdown, handle };
        daemon.ready().await?;
        Ok(daemon)
    }

    async fn ready(&self) -> anyhow::Result<()> {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(2)).build()?;
        let url = format!("http://{}/readyz", self.addr);
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if self.handle.is_finished() {
                bail!("the daemon stopped during start-up");
            }
            if http.get(&url).send().await.is_ok_and(|r| r.status() == 200) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("the daemon did not become ready within 30 s")
    }

    async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        let bound = self.settings.shutdown.timeout() + Duration::from_secs(5);
        match tokio::time::timeout(bound, self.handle).await {
            Ok(Ok(Ok(()))) => Ok(()),
            Ok(Ok(Err(e))) => Err(e.into()),
            Ok(Err(e)) => Err(e.into()),
            Err(_) => bail!("the daemon did not stop within {} s", bound.as_secs()),
        }
    }
}

/// The part of an event the observer reads.
#[derive(Deserialize)]
struct Probe {
    #[serde(rename = "type")]
    kind: String,
    data: ProbeData,
}

#[derive(Deserialize)]
struct ProbeData {
    customer: ProbeCustomer,
}

#[derive(Deserialize)]
struct ProbeCustomer {
    address: String,
}

/// Takes the arrival time of the `assigned` (or `queued`) event of each
/// message index of a range.
struct Observer {
    range: Range<u64>,
    /// Arrival of the `assigned` event at the agent (`P.agent.<id>`, after
    /// delivery) or of `queued` on the log, ns since the epoch + 1 (0: not
    /// yet).
    arrived: Arc<Vec<AtomicU64>>,
    /// Arrival of the `assigned` or `queued` event on the log.
    logged: Arc<Vec<AtomicU64>>,
    assigned: Arc<AtomicUsize>,
    queued: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl Observer {
    async fn start(
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

    fn len(&self) -> usize {
        self.arrived.len()
    }

    /// Waits until every message of the range has its event: `assigned`
    /// only, or (`queued_ok`) `assigned` or `queued`.
    async fn wait_all(&self, queued_ok: bool, bound: Duration) -> anyhow::Result<()> {
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
    fn run(&self, times: &Times, concurrency: usize, offered: f64) -> Run {
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

    fn stop(self) {
        self.task.abort();
    }
}

/// Sends one webhook and checks it was accepted.
async fn post(http: &reqwest::Client, traffic: &Traffic, body: String, signature: String) -> anyhow::Result<()> {
    let resp = http
        .post(&traffic.url)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-twilio-signature", signature)
        .body(body)
        .send()
        .await
        .context("webhook request")?;
    if resp.status() != 200 {
        bail!("webhook answered {}", resp.status());
    }
    Ok(())
}

fn nanos_since(epoch: Instant, t: Instant) -> u64 {
    u64::try_from(t.saturating_duration_since(epoch).as_nanos()).unwrap_or(u64::MAX)
}

/// `concurrency` clients, each sending the next webhook of `range` as soon
/// as its previous one was answered.
async fn closed_loop(
    http: reqwest::Client,
    traffic: Arc<Traffic>,
    range: Range<u64>,
    concurrency: usize,
    epoch: Instant,
    times: Arc<Times>,
) -> anyhow::Result<()> {
    let next = Arc::new(AtomicU64::new(range.start));
    let mut tasks = JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let (http, traffic, next, times, range) =
            (http.clone(), traffic.clone(), next.clone(), times.clone(), range.clone());
        tasks.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= range.end {
                    return Ok::<_, anyhow::Error>(());
                }
                let (body, signature) = traffic.request(i);
                let k = usize::try_from(i - range.start)?;
                Times::set(&times.started, k, epoch, Instant::now());
                post(&http, &traffic, body, signature).await?;
                Times::set(&times.answered, k, epoch, Instant::now());
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    Ok(())
}

/// Starts the webhooks of `range` at a fixed `rate`, whether or not the
/// earlier ones were answered (open loop: no coordinated omission). The
/// intended start times are recorded as the start.
async fn open_loop(
    http: reqwest::Client,
    traffic: Arc<Traffic>,
    range: Range<u64>,
    rate: f64,
    epoch: Instant,
    times: Arc<Times>,
) -> anyhow::Result<()> {
    let interval = Duration::from_secs_f64(1.0 / rate.max(1.0));
    let t0 = tokio::time::Instant::now() + Duration::from_millis(5);
    let mut tasks = JoinSet::new();
    for (k, i) in range.enumerate() {
        let at = t0 + interval.mul_f64(k as f64);
        tokio::time::sleep_until(at).await;
        Times::set(&times.started, k, epoch, at.into_std());
        let (http, traffic, times) = (http.clone(), traffic.clone(), times.clone());
        tasks.spawn(async move {
            let (body, signature) = traffic.request(i);
            post(&http, &traffic, body, signature).await?;
            Times::set(&times.answered, k, epoch, Instant::now());
            Ok::<_, anyhow::Error>(())
        });
        while let Some(done) = tasks.try_join_next() {
            done??;
        }
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    Ok(())
}

/// When each webhook of a run started and was answered, ns since the epoch.
struct Times {
    started: Vec<AtomicU64>,
    answered: Vec<AtomicU64>,
}

impl Times {
    fn new(n: usize) -> Arc<Times> {
        let zeros = || (0..n).map(|_| AtomicU64::new(0)).collect();
        Arc::new(Times { started: zeros(), answered: zeros() })
    }

    fn set(slots: &[AtomicU64], k: usize, epoch: Instant, t: Instant) {
        if let Some(slot) = slots.get(k) {
            slot.store(nanos_since(epoch, t), Ordering::Relaxed);
        }
    }
}

/// A bound for routing `n` messages: generous, so that only a stall fails.
fn bound(n: usize) -> Duration {
    Duration::from_secs(60 + (n / 200) as u64)
}

/// The load generator: the HTTP client, the NATS observer and the inbound
/// publisher run on their own runtime and threads ([`LOAD_THREADS`]), so
/// that their CPU is measured apart from the daemon's.
struct Load {
    rt: tokio::runtime::Runtime,
    nats: async_nats::Client,
}

impl Load {
    async fn start(nats_url: &str) -> anyhow::Result<Load> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name(LOAD_THREADS)
            .enable_all()
            .build()?;
        let url = nats_url.to_owned();
        let nats = rt
            .spawn(async move {
                // The observer must not drop events while the machine is busy.
                async_nats::ConnectOptions::new().subscription_capacity(1 << 20).connect(url).await
            })
            .await??;
        Ok(Load { rt, nats })
    }

    /// Runs `work` on the load generator's threads.
    async fn run<T: Send + 'static>(
        &self,
        work: impl std::future::Future<Output = anyhow::Result<T>> + Send + 'static,
    ) -> anyhow::Result<T> {
        self.rt.spawn(work).await?
    }

    async fn observe(&self, prefix: &str, epoch: Instant, range: Range<u64>) -> anyhow::Result<Observer> {
        let (nats, prefix) = (self.nats.clone(), prefix.to_owned());
        self.run(async move { Observer::start(&nats, &prefix, epoch, range).await }).await
    }

    fn stop(self) {
        // A runtime may not be dropped from async code; its threads finish alone.
        self.rt.shutdown_background();
    }
}

/// The floor pipeline's runs, beside the pipeline's.
#[derive(Clone, Debug, Default, Serialize)]
pub struct FloorPipelineFigures {
    /// The closed-loop run at maximum throughput (same size and
    /// concurrency as the pipeline's).
    pub max: Run,
    /// The open-loop run at the pipeline's half-load rate (so the two p99s
    /// are at the same offered rate).
    pub half_load: Run,
}

/// The end-to-end runs and the open-conversations reading, against one
/// in-process daemon that is stopped at the end; with `floor`, the floor
/// pipeline's runs too: its maximum before the daemon starts, its half
/// load (at the daemon's half-load rate) after the daemon stopped, so the
/// two never share the machine.
pub async fn measure(
    plan: &PipelinePlan,
    servers: Servers,
    floor: Option<&FloorPipelinePlan>,
) -> anyhow::Result<(Pipeline, OpenConversations, Option<FloorPipelineFigures>)> {
    let token = format!("tok-{}", ulid::Ulid::new());
    // Every conversation of the three runs is assigned: the half-load run
    // sends at most as many as the maximum run.
    let conversations = plan.warmup + 2 * plan.messages;
    let agents = AGENTS.max(conversations.div_ceil(1000));
    let capacity = (conversations.div_ceil(agents) + 1).min(1000);
    let load = Load::start(&plan.nats_url).await?;
    let result = async {
        let floor = match floor {
            Some(f) => Some(FloorRuns::start(&load, plan, f, &token, servers).await?),
            None => None,
        };
        let daemon = Daemon::start(plan, &token, agents, capacity).await?;
        let result = runs(&load, plan, servers, &daemon, &token, agents, capacity).await;
        let stopped = daemon.stop().await;
        let (pipeline, open) = result?;
        stopped?;
        let floor = match floor {
            Some(f) => Some(f.finish(&load, plan, &pipeline.half_load, servers).await?),
            None => None,
        };
        Ok((pipeline, open, floor))
    }
    .await;
    load.stop();
    result
}

/// The floor pipeline between its two runs.
struct FloorRuns {
    floor: FloorPipeline,
    traffic: Arc<Traffic>,
    http: reqwest::Client,
    prefix: String,
    epoch: Instant,
    max: Run,
    next: u64,
}

impl FloorRuns {
    /// Starts the floor pipeline, warms it up and measures its maximum.
    async fn start(load: &Load, plan: &PipelinePlan, f: &FloorPipelinePlan, token: &str, servers: Servers) -> anyhow::Result<FloorRuns> {
        let floor = FloorPipeline::start(&FloorPipelinePlan { token: token.to_owned(), ..f.clone() }).await?;
        let traffic = Arc::new(Traffic { account: "bench".to_owned(), token: token.to_owned(), url: floor.url(), run: f.prefix.clone() });
        let http = client(plan.concurrency)?;
        let epoch = Instant::now();
        let sink = Sink { load, http: &http, traffic: &traffic, prefix: &f.prefix, epoch, servers, redis_url: &plan.redis_url };
        let warm = 0..plan.warmup as u64;
        sink.warm_up(warm.clone(), plan.concurrency).await?;
        let range = warm.end..warm.end + plan.messages as u64;
        let next = range.end;
        let max = sink.measured(range, Offer::Closed(plan.concurrency)).await?;
        Ok(FloorRuns { floor, traffic, http, prefix: f.prefix.clone(), epoch, max, next })
    }

    /// Measures the half load at the pipeline's rate, then stops it.
    async fn finish(self, load: &Load, plan: &PipelinePlan, pipeline_half: &Run, servers: Servers) -> anyhow::Result<FloorPipelineFigures> {
        let n = pipeline_half.messages.max(1) as u64;
        let sink = Sink {
            load,
            http: &self.http,
            traffic: &self.traffic,
            prefix: &self.prefix,
            epoch: self.epoch,
            servers,
            redis_url: &plan.redis_url,
        };
        let half = sink.measured(self.next..self.next + n, Offer::Open(pipeline_half.offered_per_sec)).await;
        let stopped = self.floor.stop().await;
        let half_load = half?;
        stopped?;
        Ok(FloorPipelineFigures { max: self.max, half_load })
    }
}

/// How a run offers its webhooks.
#[derive(Clone, Copy, Debug)]
enum Offer {
    /// This many requests in flight, each sent when the one before it was
    /// answered.
    Closed(usize),
    /// At this rate, from the intended start times.
    Open(f64),
}

/// Where a measured run's webhooks go and how it is observed.
struct Sink<'a> {
    load: &'a Load,
    http: &'a reqwest::Client,
    traffic: &'a Arc<Traffic>,
    /// The subjects' prefix the observer listens under.
    prefix: &'a str,
    epoch: Instant,
    servers: Servers,
    redis_url: &'a str,
}

impl Sink<'_> {
    /// Unmeasured webhooks first: connections opened, scripts loaded,
    /// code paths touched.
    async fn warm_up(&self, range: Range<u64>, concurrency: usize) -> anyhow::Result<()> {
        let n = usize::try_from(range.end - range.start)?;
        let observer = self.load.observe(self.prefix, self.epoch, range.clone()).await?;
        let (http, traffic) = (self.http.clone(), self.traffic.clone());
        self.load.run(closed_loop(http, traffic, range, concurrency, self.epoch, Times::new(n))).await?;
        let waited = observer.wait_all(false, bound(n)).await;
        observer.stop();
        waited
    }

    /// One measured run of the webhooks of `range`: latencies, throughput,
    /// CPU by process and Redis counts.
    async fn measured(&self, range: Range<u64>, offer: Offer) -> anyhow::Result<Run> {
        let n = usize::try_from(range.end - range.start)?;
        let observer = self.load.observe(self.prefix, self.epoch, range.clone()).await?;
        let times = Times::new(n);
        let cpu = CpuTimes::read(self.servers);
        let commands = redis_commands(self.redis_url).await;
        let trips = crate::store::conn::round_trips();
        let (http, traffic, epoch) = (self.http.clone(), self.traffic.clone(), self.epoch);
        let sent = match offer {
            Offer::Closed(c) => self.load.run(closed_loop(http, traffic, range, c, epoch, times.clone())).await,
            Offer::Open(rate) => self.load.run(open_loop(http, traffic, range, rate, epoch, times.clone())).await,
        };
        let waited = match sent {
            Ok(()) => observer.wait_all(false, bound(n)).await,
            Err(e) => Err(e),
        };
        if let Err(e) = waited {
            observer.stop();
            return Err(e);
        }
        let (concurrency, offered) = match offer {
            Offer::Closed(c) => (c, 0.0),
            Offer::Open(rate) => (0, rate),
        };
        let mut run = observer.run(&times, concurrency, offered);
        run.cpu = cpu.until(&CpuTimes::read(self.servers), n);
        (run.redis_commands_per_message, run.redis_script_calls_per_message) =
            per_message(commands, redis_commands(self.redis_url).await, n);
        run.redis_round_trips_per_message = round(trips_per_message(trips, n));
        observer.stop();
        Ok(run)
    }
}

/// The load generator's HTTP client.
fn client(concurrency: usize) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(concurrency * 4)
        .tcp_nodelay(true)
        .build()?)
}

async fn runs(
    load: &Load,
    plan: &PipelinePlan,
    servers: Servers,
    daemon: &Daemon,
    token: &str,
    agents: usize,
    capacity: usize,
) -> anyhow::Result<(Pipeline, OpenConversations)> {
    let traffic = Arc::new(Traffic {
        account: "bench".to_owned(),
        token: token.to_owned(),
        url: format!("http://{}/webhooks/sms/bench", daemon.addr),
        run: plan.prefix.clone(),
    });
    let http = client(plan.concurrency)?;
    let epoch = Instant::now();
    let mut next = 0u64;
    let mut range = |n: usize| {
        let r = next..next + n as u64;
        next = r.end;
        r
    };
    let c = plan.concurrency;

    let sink = Sink { load, http: &http, traffic: &traffic, prefix: &plan.prefix, epoch, servers, redis_url: &plan.redis_url };
    sink.warm_up(range(plan.warmup), c).await?;
    // Maximum throughput: closed loop.
    let peak_reset = reset_peak();
    let max = sink.measured(range(plan.messages), Offer::Closed(c)).await?;

    // Half of that, open loop.
    let rate = max.messages_per_sec * plan.load_fraction;
    let half_n = ((rate * plan.half_load.as_secs_f64()).round() as usize).clamp(20, plan.messages.max(20));
    let half_load = sink.measured(range(half_n), Offer::Open(rate)).await?;
    let rss = Rss::now();

    let pipeline = Pipeline {
        agents,
        agent_sms_capacity: capacity,
        router_workers: daemon.settings.routing.workers,
        warmup: plan.warmup,
        max,
        half_load,
        rss,
        rss_note: format!(
            "VmRSS/VmHWM of the benchmark process, which runs the daemon in-process together with the HTTP client \
             and the NATS observer; peak {} the two runs",
            if peak_reset { "reset before" } else { "since process start, not reset before" }
        ),
    };

    // Many open conversations: routed by the daemon's router from the
    // inbound stream (published as the webhook handler publishes).
    let rss_before = Rss::now();
    reset_peak();
    let open_range = range(plan.open);
    let observer = load.observe(&plan.prefix, epoch, open_range.clone()).await?;
    let t = Instant::now();
    load.run(publish_inbound(load.nats.clone(), traffic.clone(), plan.prefix.clone(), open_range, c)).await?;
    observer.wait_all(true, bound(plan.open)).await?;
    let elapsed = t.elapsed();
    let open = OpenConversations {
        conversations: plan.open,
        assigned: observer.assigned.load(Ordering::Relaxed),
        queued: observer.queued.load(Ordering::Relaxed),
        routed_per_sec: per_sec(plan.open, elapsed),
        rss_before,
        rss_after: Rss::now(),
    };
    observer.stop();
    Ok((pipeline, open))
}

/// Publishes the messages of `range` to the daemon's inbound stream, as
/// its webhook handler does, `concurrency` awaiting their ack at once.
async fn publish_inbound(
    nats: async_nats::Client,
    traffic: Arc<Traffic>,
    prefix: String,
    range: Range<u64>,
    concurrency: usize,
) -> anyhow::Result<()> {
    let js = jetstream::new(nats);
    let subject = format!("{prefix}.inbound.sms");
    futures::stream::iter(range)
        .map(|i| {
            let (js, subject, traffic) = (js.clone(), subject.clone(), traffic.clone());
            async move {
                let (id, payload) = traffic.inbound(i)?;
                let mut headers = HeaderMap::new();
                headers.insert("Nats-Msg-Id", id.as_str());
                js.publish_with_headers(subject, headers, payload.into()).await?.await?;
                Ok::<_, anyhow::Error>(())
            }
        })
        .buffer_unordered(concurrency.max(1))
        .fold(Ok(()), |acc, r| async move { acc.and(r) })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_script_calls_in_commandstats() {
        let text = "# Commandstats\r\n\
            cmdstat_evalsha:calls=120,usec=900,usec_per_call=7.50,rejected_calls=0,failed_calls=0\r\n\
            cmdstat_hget:calls=400,usec=100,usec_per_call=0.25,rejected_calls=0,failed_calls=0\r\n\
            cmdstat_eval:calls=3,usec=30,usec_per_call=10.00,rejected_calls=0,failed_calls=0\r\n\
            cmdstat_fcall_ro:calls=2,usec=8,usec_per_call=4.00,rejected_calls=0,failed_calls=0\r\n";
        assert_eq!(script_calls(text), 125);
        assert_eq!(script_calls("garbage\ncmdstat_evalsha:calls=x\n"), 0);
    }

    #[test]
    fn per_message_leaves_out_the_readings() {
        let before = RedisCounts { commands: 1000, scripts: 10 };
        let after = RedisCounts { commands: 1102, scripts: 30 };
        assert_eq!(per_message(Some(before), Some(after), 10), (10.0, 2.0));
        assert_eq!(per_message(None, Some(after), 10), (0.0, 0.0));
    }
}
