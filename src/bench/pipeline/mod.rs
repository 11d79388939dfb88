//! The pipeline end to end: a daemon runs in this process (`crate::run` on
//! a `127.0.0.1:0` listener with a generated configuration), Twilio-signed
//! webhooks go to it over real HTTP, and a NATS subscriber on
//! `P.agent.*` takes the time each conversation's `assigned` event is
//! delivered to its agent (and on `P.events.conversation.*` the time it
//! was on the log). Latency is from the webhook request's start (closed
//! loop) or intended start (open loop) to that arrival.

mod counts;
mod daemon;
mod load;
mod observer;

use counts::*;
use daemon::*;
use load::*;
use observer::*;

use std::ops::Range;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream;
use async_nats::HeaderMap;
use futures::StreamExt;
use serde::Serialize;

use super::stats::{per_sec, round, Latency};
use super::sys::{reset_peak, CpuTimes, CpuUse, Rss, Servers};
use super::floor_pipeline::{FloorPipeline, FloorPipelinePlan};
use super::traffic::Traffic;

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
