//! `switchboard bench`: the performance envelope of this machine, measured
//! against the raw floor of the same NATS and Redis in the same run.
//!
//! Sections, in the order they run (each under the run's unique prefix,
//! everything it creates removed at the end):
//! 1. [`floor`]: JetStream publish-with-ack, durable pull consume-with-ack,
//!    Redis `EVALSHA`, with the pipeline's message size and concurrency;
//! 2. [`pipeline`]: signed SMS webhooks over HTTP into a daemon running in
//!    this process, until every conversation's `assigned` event is seen on
//!    NATS, at full speed (closed loop) and at half of it (open loop);
//! 5. the same daemon with many open conversations: its RSS;
//! 3. [`assign`]: one routing decision against Redis with 100 to 10,000
//!    agents and 100,000 conversations waiting;
//! 4. [`timers`]: a million SLA timers, their memory and firing lateness.
//!
//! [`Report`] holds every figure, the pipeline/floor ratios and the
//! targets. Benchmarks are not tests: nothing here asserts a timing.

mod assign;
mod cleanup;
mod floor;
mod floor_pipeline;
mod pipeline;
mod report;
mod stats;
mod sys;
mod timers;
mod traffic;

use std::time::{Duration, Instant};

use anyhow::Context;
use serde::Serialize;

pub use assign::{Assignment, Decisions};
pub use floor::Floor;
pub use pipeline::{FloorPipelineFigures, OpenConversations, Pipeline, Run};
pub use report::{Cleanup, Report, Target};
pub use stats::Latency;
pub use sys::{Machine, Rss};
pub use timers::TimerFigures;

/// Command-line options of `switchboard bench`. Sizes left out take the
/// full defaults, or the `--quick` ones.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct Options {
    /// Webhooks in the maximum-throughput run [default: 20000; quick: 200].
    #[arg(long)]
    pub messages: Option<usize>,
    /// Webhook requests in flight (and JetStream publishes in the floor)
    /// [default: 64; quick: 16].
    #[arg(long)]
    pub concurrency: Option<usize>,
    /// Agent counts of the assignment measurement, comma-separated
    /// [default: 100,1000,10000; quick: 10,50].
    #[arg(long, value_delimiter = ',')]
    pub agents: Option<Vec<usize>>,
    /// Conversations waiting in the queue during the assignment
    /// measurement [default: 100000; quick: 500].
    #[arg(long)]
    pub queued: Option<usize>,
    /// Open SLA timers [default: 1000000; quick: 5000].
    #[arg(long)]
    pub timers: Option<usize>,
    /// Open conversations for the RSS reading [default: 100000; quick: 500].
    #[arg(long)]
    pub open: Option<usize>,
    /// Messages per floor measurement [default: 50000; quick: 1000].
    #[arg(long)]
    pub floor_messages: Option<usize>,
    /// The open-loop latency run's rate, as a fraction of the measured
    /// maximum throughput (the target is stated at 0.5).
    #[arg(long, default_value_t = 0.5)]
    pub load_fraction: f64,
    /// Tiny sizes: a smoke run of a few seconds.
    #[arg(long)]
    pub quick: bool,
    /// Run only these sections, comma-separated (to profile one); the
    /// targets of the others are left out of the report [default: all].
    #[arg(long, value_delimiter = ',', value_enum)]
    pub sections: Option<Vec<Section>>,
    /// The NATS server (JetStream enabled).
    #[arg(long, default_value = "nats://127.0.0.1:4222")]
    pub nats_url: String,
    /// The Redis server.
    #[arg(long, default_value = "redis://127.0.0.1:6379")]
    pub redis_url: String,
    /// Print the JSON report on stdout (the table then goes to stderr).
    #[arg(long)]
    pub json: bool,
}

/// A part of the benchmark.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Section {
    /// 1. NATS and Redis alone.
    Floor,
    /// 2. and 5. Webhook to `assigned`; RSS with open conversations.
    Pipeline,
    /// 2b. The floor pipeline: the same webhooks through only the
    /// unavoidable work, in the same run as `pipeline` (which it implies).
    #[serde(rename = "floor_pipeline")]
    #[value(name = "floor_pipeline")]
    FloorPipeline,
    /// 3. Routing decisions by agent count.
    Assignment,
    /// 4. SLA timers.
    Timers,
}

impl Section {
    /// Every section, in the order they run.
    pub const ALL: [Section; 5] = [Section::Floor, Section::Pipeline, Section::FloorPipeline, Section::Assignment, Section::Timers];
}

/// The sizes a run used, all resolved.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Sizes {
    /// Webhooks in the maximum-throughput run.
    pub messages: usize,
    /// Webhooks before it, not measured.
    pub warmup: usize,
    /// Webhook requests in flight.
    pub concurrency: usize,
    /// Length of the half-load run, seconds.
    pub half_load_secs: f64,
    /// Its rate as a fraction of the maximum throughput.
    pub load_fraction: f64,
    /// Messages per floor measurement.
    pub floor_messages: usize,
    /// Agent counts.
    pub agents: Vec<usize>,
    /// Conversations waiting during the assignment measurement.
    pub queued: usize,
    /// Route decisions at `concurrency`, per agent count.
    pub concurrent_decisions: usize,
    /// Route and drain decisions one at a time, per agent count.
    pub sequential_decisions: usize,
    /// Open SLA timers.
    pub timers: usize,
    /// Of those, fired during the window.
    pub firing_timers: usize,
    /// The firing window, seconds.
    pub firing_window_secs: f64,
    /// Open conversations for the RSS reading.
    pub open: usize,
    /// The sections run.
    pub sections: Vec<Section>,
}

impl Sizes {
    /// Resolves `options` over the full or quick defaults.
    pub fn of(o: &Options) -> Sizes {
        let quick = o.quick;
        let pick =
            |given: Option<usize>, full: usize, small: usize| given.unwrap_or(if quick { small } else { full }).max(1);
        let messages = pick(o.messages, 20_000, 200);
        let timers = pick(o.timers, 1_000_000, 5_000);
        Sizes {
            messages,
            warmup: (messages / 10).clamp(10, 1_000),
            concurrency: pick(o.concurrency, 64, 16),
            half_load_secs: if quick { 1.0 } else { 10.0 },
            load_fraction: if o.load_fraction > 0.0 && o.load_fraction <= 1.0 { o.load_fraction } else { 0.5 },
            floor_messages: pick(o.floor_messages, 50_000, 1_000),
            agents: o.agents.clone().filter(|a| !a.is_empty()).unwrap_or_else(|| {
                if quick {
                    vec![10, 50]
                } else {
                    vec![100, 1_000, 10_000]
                }
            }),
            queued: pick(o.queued, 100_000, 500),
            concurrent_decisions: if quick { 100 } else { 5_000 },
            sequential_decisions: if quick { 50 } else { 2_000 },
            timers,
            firing_timers: (timers / 50).clamp(1, 20_000),
            firing_window_secs: if quick { 1.0 } else { 10.0 },
            open: pick(o.open, 100_000, 500),
            sections: match &o.sections {
                // The floor pipeline's half load runs at the pipeline's rate.
                Some(given) if !given.is_empty() => Section::ALL
                    .into_iter()
                    .filter(|s| given.contains(s) || (*s == Section::Pipeline && given.contains(&Section::FloorPipeline)))
                    .collect(),
                _ => Section::ALL.to_vec(),
            },
        }
    }
}

/// Runs every section and removes what it created, also when a section
/// fails or the run is interrupted (Ctrl-C).
pub async fn run(options: &Options) -> anyhow::Result<Report> {
    let started = Instant::now();
    let sizes = Sizes::of(options);
    let prefix = format!("bench{}", ulid::Ulid::new().to_string().to_lowercase());
    let nats = async_nats::ConnectOptions::new()
        .name(format!("switchboard-bench/{prefix}"))
        // The observer must not drop events while the runtime is busy.
        .subscription_capacity(1 << 20)
        .connect(options.nats_url.as_str())
        .await
        .with_context(|| format!("cannot connect to NATS at {}", options.nats_url))?;
    let redis = redis::Client::open(options.redis_url.as_str()).context("invalid Redis URL")?;
    let mut conn = redis.get_multiplexed_async_connection().await.context("cannot connect to Redis")?;
    let js = async_nats::jetstream::new(nats.clone());

    let mut report = Report {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        prefix: prefix.clone(),
        quick: options.quick,
        sizes: sizes.clone(),
        ..Report::default()
    };
    let redis_pid;
    (report.machine, redis_pid) = machine(&nats, &mut conn).await;
    let servers = sys::Servers::find(redis_pid);
    let outcome = tokio::select! {
        r = sections(options, &sizes, &prefix, &nats, &redis, servers, &mut report) => r,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
    };
    let removed = async {
        report.cleanup.redis_keys += cleanup::redis_keys(&mut conn, &prefix).await?;
        report.cleanup.streams.extend(cleanup::streams(&js, &prefix).await?);
        Ok::<_, anyhow::Error>(())
    }
    .await;
    outcome?;
    removed.context("cleaning up")?;
    report.elapsed_secs = (started.elapsed().as_secs_f64() * 10.0).round() / 10.0;
    report.evaluate();
    Ok(report)
}

async fn sections(
    options: &Options,
    sizes: &Sizes,
    prefix: &str,
    nats: &async_nats::Client,
    redis: &redis::Client,
    servers: sys::Servers,
    report: &mut Report,
) -> anyhow::Result<()> {
    let mut conn = redis.get_multiplexed_async_connection().await?;
    let js = async_nats::jetstream::new(nats.clone());
    let settings = crate::config::Loader::new().without_env().load().map_err(|p| anyhow::anyhow!("{p}"))?;
    let pipeline_prefix = format!("{prefix}_d");

    // The payload the pipeline publishes, for the floor.
    let sample = traffic::Traffic {
        account: "bench".to_owned(),
        token: "token".to_owned(),
        url: "http://127.0.0.1:8080/webhooks/sms/bench".to_owned(),
        run: pipeline_prefix.clone(),
    };
    let (_, payload) = sample.inbound(0)?;
    let floor_prefix = format!("{prefix}_f");
    let run = |s: Section| sizes.sections.contains(&s);
    if run(Section::Floor) {
        report.floor = floor::measure(
            nats,
            redis,
            &floor::FloorPlan {
                prefix: floor_prefix.clone(),
                payload: payload.into(),
                messages: sizes.floor_messages,
                publish_concurrency: sizes.concurrency,
                worker_concurrency: settings.routing.workers,
            },
            servers,
        )
        .await
        .context("floor")?;
        report.cleanup.streams.extend(cleanup::streams(&js, &floor_prefix).await?);
        report.cleanup.redis_keys += cleanup::redis_keys(&mut conn, &floor_prefix).await?;
    }

    if run(Section::Pipeline) {
        let floor_pipeline_prefix = format!("{prefix}_p");
        let floor_pipeline = floor_pipeline::FloorPipelinePlan {
            prefix: floor_pipeline_prefix.clone(),
            nats_url: options.nats_url.clone(),
            redis_url: options.redis_url.clone(),
            token: String::new(),
            agents: 100,
            concurrency: settings.routing.workers,
        };
        let floor_plan = run(Section::FloorPipeline).then_some(&floor_pipeline);
        let (pipeline, open, floor) = pipeline::measure(
            &pipeline::PipelinePlan {
                prefix: pipeline_prefix.clone(),
                nats_url: options.nats_url.clone(),
                redis_url: options.redis_url.clone(),
                messages: sizes.messages,
                warmup: sizes.warmup,
                concurrency: sizes.concurrency,
                half_load: Duration::from_secs_f64(sizes.half_load_secs),
                load_fraction: sizes.load_fraction,
                open: sizes.open,
            },
            servers,
            floor_plan,
        )
        .await
        .context("pipeline")?;
        report.pipeline = pipeline;
        report.open_conversations = open;
        report.floor_pipeline = floor;
        report.cleanup.streams.extend(cleanup::streams(&js, &floor_pipeline_prefix).await?);
        report.cleanup.redis_keys += cleanup::redis_keys(&mut conn, &floor_pipeline_prefix).await?;
        report.cleanup.streams.extend(cleanup::streams(&js, &pipeline_prefix).await?);
        report.cleanup.redis_keys += cleanup::redis_keys(&mut conn, &pipeline_prefix).await?;
    }

    if run(Section::Assignment) {
        let plan = assign::AssignPlan {
            redis_url: options.redis_url.clone(),
            prefix: prefix.to_owned(),
            queued: sizes.queued,
            concurrent_decisions: sizes.concurrent_decisions,
            sequential_decisions: sizes.sequential_decisions,
            concurrency: sizes.concurrency,
        };
        for &agents in &sizes.agents {
            let measured = assign::measure(&plan, agents, servers)
                .await
                .with_context(|| format!("assignment with {agents} agents"));
            // The next size starts from a Redis without this one's 100,000 conversations.
            report.cleanup.redis_keys += cleanup::redis_keys(&mut conn, &format!("{prefix}_a{agents}}}")).await?;
            report.assignment.push(measured?);
        }
    }

    if run(Section::Timers) {
        let timer_head = format!("{prefix}_t");
        let measured = timers::measure(
            redis,
            &timers::TimerPlan {
                prefix: format!("{{{timer_head}}}:timers:sla"),
                timers: sizes.timers,
                firing: sizes.firing_timers,
                window: Duration::from_secs_f64(sizes.firing_window_secs),
                concurrency: 4,
            },
        )
        .await
        .context("SLA timers");
        report.cleanup.redis_keys += cleanup::redis_keys(&mut conn, &timer_head).await?;
        report.timers = measured?;
    }
    Ok(())
}

/// The machine, the servers' versions, and Redis's process id.
async fn machine(nats: &async_nats::Client, conn: &mut redis::aio::MultiplexedConnection) -> (Machine, Option<u32>) {
    let mut m = Machine::local();
    m.nats_server = nats.server_info().version;
    let info: String = redis::cmd("INFO").arg("server").query_async(conn).await.unwrap_or_default();
    let field = |name: &str| info.lines().find_map(|l| l.strip_prefix(name)).unwrap_or_default().trim().to_owned();
    m.redis_server = field("redis_version:");
    (m, field("process_id:").parse().ok())
}
