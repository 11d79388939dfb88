//! The report: every figure, the pipeline/floor ratios, the targets with
//! pass/fail, and the table printed for people.
//!
//! This module holds the figures and their evaluation (ratios, targets);
//! `table` renders them for people.

mod table;

use std::collections::BTreeMap;

use serde::Serialize;

use super::assign::Assignment;
use super::floor::Floor;
use super::pipeline::{FloorPipelineFigures, OpenConversations, Pipeline, Run};
use super::stats::{ratio, round};
use super::sys::{CpuUse, Machine};
use super::timers::TimerFigures;
use super::{Section, Sizes};

/// One benchmark run.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    /// switchboard's version.
    pub version: String,
    /// The run's unique prefix (every stream and key it made started with it).
    pub prefix: String,
    /// Whether `--quick` sizes were used (targets are then indicative only).
    pub quick: bool,
    /// The sizes used.
    pub sizes: Sizes,
    /// The machine.
    pub machine: Machine,
    /// 1. NATS and Redis alone.
    pub floor: Floor,
    /// 2. Webhook to `assigned`, through the in-process daemon.
    pub pipeline: Pipeline,
    /// 2b. The floor pipeline beside the pipeline (when both ran).
    pub floor_pipeline: Option<FloorPipelineFigures>,
    /// 5. The daemon's memory with many open conversations.
    pub open_conversations: OpenConversations,
    /// 3. One routing decision, by agent count.
    pub assignment: Vec<Assignment>,
    /// 4. SLA timers.
    pub timers: TimerFigures,
    /// Pipeline figures over floor figures (and growth ratios), by name.
    pub ratios: BTreeMap<String, f64>,
    /// The published targets.
    pub targets: Vec<Target>,
    /// Where the CPU of a message goes, against the floor's costs (when the
    /// floor and the pipeline ran).
    pub cpu_budget: Option<CpuBudget>,
    /// What the run removed at the end.
    pub cleanup: Cleanup,
    /// Wall time of the whole run, seconds.
    pub elapsed_secs: f64,
}

/// What was removed at the end of the run.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Cleanup {
    /// Redis keys unlinked (over the whole run).
    pub redis_keys: u64,
    /// JetStream streams deleted (over the whole run).
    pub streams: Vec<String>,
}

/// One target and how the run fared.
#[derive(Clone, Debug, Serialize)]
pub struct Target {
    /// What is measured.
    pub name: String,
    /// The requirement, as published.
    pub requirement: String,
    /// The measured value, in `unit`.
    pub measured: f64,
    /// Unit of `measured`.
    pub unit: String,
    /// Whether the requirement holds.
    pub pass: bool,
}

/// The CPU cost of one end-to-end message against the floor's costs and the
/// machine: shows whether the throughput target is within what the CPU
/// allows, and which process spends it.
#[derive(Clone, Debug, Default, Serialize)]
pub struct CpuBudget {
    /// CPUs of the machine (shared by the daemon, NATS, Redis and the load
    /// generator).
    pub cores: f64,
    /// CPU per message at maximum throughput, µs: the daemon.
    pub daemon_us: f64,
    /// `nats-server`.
    pub nats_server_us: f64,
    /// `redis-server`.
    pub redis_server_us: f64,
    /// The benchmark's HTTP client and observer.
    pub load_generator_us: f64,
    /// All four.
    pub total_us: f64,
    /// Cores left idle during the maximum-throughput run.
    pub idle_cores: f64,
    /// CPU (client and server) of one JetStream publish+ack in the floor, µs.
    pub publish_ack_us: f64,
    /// CPU of one JetStream durable consume+ack in the floor, µs.
    pub consume_ack_us: f64,
    /// CPU of one EVALSHA round trip in the floor, µs.
    pub evalsha_us: f64,
    /// The JetStream work no message can avoid at the floor's cost: the
    /// webhook's publish, the router's consume, the event's publish and the
    /// delivery's consume, µs.
    pub jetstream_minimum_us: f64,
    /// The CPU per message that 0.20 × the publish floor would leave on
    /// this machine, µs.
    pub budget_at_target_us: f64,
    /// Messages/s if all the machine's CPU went to messages at `total_us`.
    pub cpu_ceiling_msgs_per_sec: f64,
    /// That ceiling over the publish floor.
    pub cpu_ceiling_ratio: f64,
}

impl CpuBudget {
    fn of(cores: usize, f: &Floor, max: &Run) -> Option<CpuBudget> {
        let per = |c: &CpuUse| {
            c.daemon_us_per_message
                + c.load_generator_us_per_message
                + c.nats_server_us_per_message.unwrap_or(0.0)
                + c.redis_server_us_per_message.unwrap_or(0.0)
        };
        let c = &max.cpu;
        let total = per(c);
        if total <= 0.0 || f.jetstream_publish_ack_per_sec <= 0.0 || cores == 0 {
            return None;
        }
        let cores = cores as f64;
        let (publish, consume) = (per(&f.publish_cpu), per(&f.consume_cpu));
        let ceiling = cores * 1e6 / total;
        Some(CpuBudget {
            cores,
            daemon_us: c.daemon_us_per_message,
            nats_server_us: c.nats_server_us_per_message.unwrap_or(0.0),
            redis_server_us: c.redis_server_us_per_message.unwrap_or(0.0),
            load_generator_us: c.load_generator_us_per_message,
            total_us: round(total),
            idle_cores: c.idle_cores,
            publish_ack_us: round(publish),
            consume_ack_us: round(consume),
            evalsha_us: round(per(&f.evalsha_cpu)),
            jetstream_minimum_us: round(2.0 * publish + 2.0 * consume),
            budget_at_target_us: round(cores * 1e6 / (0.20 * f.jetstream_publish_ack_per_sec)),
            cpu_ceiling_msgs_per_sec: round(ceiling),
            cpu_ceiling_ratio: ratio(ceiling, f.jetstream_publish_ack_per_sec),
        })
    }
}

impl Report {
    /// Fills in the ratios and the targets from the figures.
    pub fn evaluate(&mut self) {
        let f = &self.floor;
        let e2e = self.pipeline.max.messages_per_sec;
        let mut r = BTreeMap::new();
        r.insert(
            "e2e_msgs_per_sec / jetstream_publish_ack_per_sec".to_owned(),
            ratio(e2e, f.jetstream_publish_ack_per_sec),
        );
        r.insert(
            "e2e_msgs_per_sec / jetstream_consume_ack_per_sec".to_owned(),
            ratio(e2e, f.jetstream_consume_ack_per_sec),
        );
        r.insert("e2e_msgs_per_sec / redis_evalsha_per_sec".to_owned(), ratio(e2e, f.redis_evalsha_per_sec));
        r.insert(
            "e2e_p50_ms / jetstream_publish_ack_p50_ms".to_owned(),
            ratio(self.pipeline.max.latency.p50_ms, f.publish_ack_latency.p50_ms),
        );
        r.insert(
            "half_load_p99_ms / jetstream_publish_ack_p99_ms".to_owned(),
            ratio(self.pipeline.half_load.latency.p99_ms, f.publish_ack_latency.p99_ms),
        );
        for a in &self.assignment {
            r.insert(
                format!("route_decisions_per_sec@{} / redis_evalsha_per_sec", a.agents),
                ratio(a.route.decisions_per_sec, f.redis_evalsha_per_sec),
            );
            r.insert(
                format!("route_p50_ms@{} / redis_evalsha_p50_ms", a.agents),
                ratio(a.route.latency_under_load.unwrap_or_default().p50_ms, f.evalsha_latency.p50_ms),
            );
        }
        if let (Some(small), Some(large)) = (self.assignment.first(), self.assignment.last()) {
            let (s, l) = (small.agents, large.agents);
            r.insert(
                format!("route_p99@{l} / route_p99@{s}"),
                ratio(large.route.latency.p99_ms, small.route.latency.p99_ms),
            );
            r.insert(
                format!("drain_p99@{l} / drain_p99@{s}"),
                ratio(large.drain.latency.p99_ms, small.drain.latency.p99_ms),
            );
        }
        if let Some(fp) = &self.floor_pipeline {
            floor_pipeline_ratios(&mut r, &self.pipeline, fp);
        }
        let o = &self.open_conversations;
        r.insert(
            "open_conversations_rss_after / rss_before".to_owned(),
            ratio(o.rss_after.rss_mb, o.rss_before.rss_mb),
        );
        // Ratios of sections that did not run (`--sections`) are left out.
        r.retain(|_, v| *v > 0.0);
        self.ratios = r;
        self.cpu_budget = CpuBudget::of(self.machine.cpus, f, &self.pipeline.max);
        self.targets = self.targets();
    }

    fn targets(&self) -> Vec<Target> {
        let mut t = Vec::new();
        let target = |name: String, requirement: &str, measured: f64, unit: &str, pass: bool| Target {
            name,
            requirement: requirement.to_owned(),
            measured,
            unit: unit.to_owned(),
            pass,
        };
        let ran = |section: Section| self.sizes.sections.contains(&section);
        let e2e = ratio(self.pipeline.max.messages_per_sec, self.floor.jetstream_publish_ack_per_sec);
        if ran(Section::Floor) && ran(Section::Pipeline) {
            t.push(target(
                "end-to-end throughput / raw JetStream publish-with-ack rate".to_owned(),
                ">= 0.20",
                e2e,
                "ratio",
                e2e >= 0.20,
            ));
        }
        let p99 = self.pipeline.half_load.latency.p99_ms;
        if ran(Section::Pipeline) {
            t.push(target(
                format!(
                    "p99 webhook -> assigned delivered to the agent at {} of the maximum throughput ({} msg/s)",
                    self.sizes.load_fraction, self.pipeline.half_load.offered_per_sec
                ),
                "< 10 ms",
                p99,
                "ms",
                p99 > 0.0 && p99 < 10.0,
            ));
        }
        if let (Some(small), Some(large)) = (self.assignment.first(), self.assignment.last()) {
            let worst = |a: &Assignment| a.route.latency.p99_ms.max(a.drain.latency.p99_ms);
            let p = worst(large);
            t.push(target(
                format!(
                    "assignment p99 at {} agents, {} queued (worst of route and drain)",
                    large.agents, large.queued
                ),
                "< 2 ms",
                p,
                "ms",
                p > 0.0 && p < 2.0,
            ));
            let growth = ratio(large.route.latency.p99_ms, small.route.latency.p99_ms)
                .max(ratio(large.drain.latency.p99_ms, small.drain.latency.p99_ms));
            t.push(target(
                format!(
                    "assignment p99 at {} agents / at {} agents (worst of route and drain)",
                    large.agents, small.agents
                ),
                "<= 1.5",
                growth,
                "ratio",
                growth > 0.0 && growth <= 1.5,
            ));
        }
        if let Some(fp) = &self.floor_pipeline {
            floor_pipeline_targets(&mut t, &self.pipeline, fp);
        }
        let late = self.timers.lateness.p99_ms;
        if ran(Section::Timers) {
            t.push(target(
                format!("SLA timer firing lateness p99 with {} open timers", self.timers.open_timers),
                "< 1000 ms",
                late,
                "ms",
                self.timers.fired > 0 && late < 1000.0,
            ));
        }
        let rss = self.open_conversations.rss_after.rss_mb;
        if ran(Section::Pipeline) {
            t.push(target(
                format!("daemon RSS with {} open conversations", self.open_conversations.conversations),
                "< 150 MB",
                rss,
                "MB",
                rss > 0.0 && rss < 150.0,
            ));
        }
        t
    }
}

/// The CPU of one process per message over the floor pipeline's.
fn cpu_ratio(p: Option<f64>, f: Option<f64>) -> f64 {
    ratio(p.unwrap_or(0.0), f.unwrap_or(0.0))
}

/// The pipeline over the floor pipeline, in the same run.
fn floor_pipeline_ratios(r: &mut BTreeMap<String, f64>, p: &Pipeline, fp: &FloorPipelineFigures) {
    let (m, f) = (&p.max, &fp.max);
    r.insert("e2e_msgs_per_sec / floor_pipeline_msgs_per_sec".to_owned(), ratio(m.messages_per_sec, f.messages_per_sec));
    r.insert(
        "half_load_p99_ms / floor_pipeline_half_load_p99_ms".to_owned(),
        ratio(p.half_load.latency.p99_ms, fp.half_load.latency.p99_ms),
    );
    r.insert(
        "daemon_us_per_message / floor_pipeline_daemon_us_per_message".to_owned(),
        ratio(m.cpu.daemon_us_per_message, f.cpu.daemon_us_per_message),
    );
    r.insert(
        "nats_server_us_per_message / floor_pipeline_nats_server_us_per_message".to_owned(),
        cpu_ratio(m.cpu.nats_server_us_per_message, f.cpu.nats_server_us_per_message),
    );
    r.insert(
        "redis_server_us_per_message / floor_pipeline_redis_server_us_per_message".to_owned(),
        cpu_ratio(m.cpu.redis_server_us_per_message, f.cpu.redis_server_us_per_message),
    );
    r.insert(
        "redis_commands_per_message / floor_pipeline_redis_commands_per_message".to_owned(),
        ratio(m.redis_commands_per_message, f.redis_commands_per_message),
    );
}

/// Issue 16's targets: the pipeline against the floor pipeline.
fn floor_pipeline_targets(t: &mut Vec<Target>, p: &Pipeline, fp: &FloorPipelineFigures) {
    let mut push = |name: &str, requirement: &str, measured: f64, unit: &str, pass: bool| {
        t.push(Target { name: name.to_owned(), requirement: requirement.to_owned(), measured, unit: unit.to_owned(), pass });
    };
    let (m, f) = (&p.max, &fp.max);
    let tput = ratio(m.messages_per_sec, f.messages_per_sec);
    push("max throughput / floor pipeline's", ">= 1.0", tput, "ratio", tput >= 1.0);
    let p99 = ratio(p.half_load.latency.p99_ms, fp.half_load.latency.p99_ms);
    push("half-load p99 webhook -> agent / floor pipeline's at the same offered rate", "<= 1.5", p99, "ratio", p99 > 0.0 && p99 <= 1.5);
    let redis = cpu_ratio(m.cpu.redis_server_us_per_message, f.cpu.redis_server_us_per_message);
    push("redis-server CPU per message / floor pipeline's", "<= 1.5", redis, "ratio", redis > 0.0 && redis <= 1.5);
    let trips = m.redis_round_trips_per_message;
    push("Redis round trips per routed message (hot path)", "<= 3", trips, "calls", trips > 0.0 && trips <= 3.0);
    let daemon = ratio(m.cpu.daemon_us_per_message, f.cpu.daemon_us_per_message);
    push("daemon CPU per message / floor pipeline process's", "<= 1.3", daemon, "ratio", daemon > 0.0 && daemon <= 1.3);
}
