//! The table printed for people: each section's figures, one line each, and
//! the targets with pass/fail.

use std::fmt::Write as _;

use super::Report;
use crate::bench::pipeline::{FloorPipelineFigures, Run};
use crate::bench::stats::Latency;
use crate::bench::sys::CpuUse;
use crate::bench::Section;

impl Report {
    /// The table printed for people.
    pub fn table(&self) -> String {
        let mut s = String::new();
        let m = &self.machine;
        let quick = if self.quick { " (--quick sizes: targets indicative only)" } else { "" };
        let _ = writeln!(s, "switchboard bench {} — prefix {}{quick}", self.version, self.prefix);
        let _ = writeln!(
            s,
            "machine: {} CPUs ({}), {} MiB, kernel {}, nats-server {}, redis-server {}",
            m.cpus, m.cpu_model, m.memory_mib, m.kernel, m.nats_server, m.redis_server
        );
        let ran = |section: Section| self.sizes.sections.contains(&section);
        if ran(Section::Floor) {
            self.floor_table(&mut s);
        }
        if ran(Section::Pipeline) {
            self.pipeline_table(&mut s);
        }
        if let Some(fp) = &self.floor_pipeline {
            floor_pipeline_table(&mut s, fp);
        }
        if ran(Section::Assignment) {
            self.assignment_table(&mut s);
        }
        if ran(Section::Timers) {
            let t = &self.timers;
            let _ = writeln!(s, "\n4. SLA timers");
            let _ = writeln!(
                s,
                "  {} open, scheduled at {:.0}/s; Redis {:.1} MB = {:.1} B/timer; {} fired at {:.0}/s: \
                 lateness p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
                t.open_timers,
                t.scheduled_per_sec,
                t.redis_bytes as f64 / 1e6,
                t.bytes_per_timer,
                t.fired,
                t.firing_per_sec,
                t.lateness.p50_ms,
                t.lateness.p99_ms,
                t.lateness.max_ms
            );
        }
        if ran(Section::Pipeline) {
            let o = &self.open_conversations;
            let _ =
                writeln!(s, "\n5. daemon memory with open conversations (in-process: includes the benchmark client)");
            let _ = writeln!(
                s,
                "  {} conversations ({} assigned, {} queued) routed at {:.0}/s: RSS {:.1} MB before, \
                 {:.1} MB after (peak {:.1} MB)",
                o.conversations,
                o.assigned,
                o.queued,
                o.routed_per_sec,
                o.rss_before.rss_mb,
                o.rss_after.rss_mb,
                o.rss_after.peak_mb
            );
        }
        let _ = writeln!(s, "\n6. ratios");
        for (name, value) in &self.ratios {
            let _ = writeln!(s, "  {name:<58} {value:>8.3}");
        }
        if let Some(b) = &self.cpu_budget {
            let _ = writeln!(
                s,
                "\n7. CPU per message at maximum throughput ({} cores shared by all processes; {:.2} idle)\n  \
                 daemon {:.0} + nats-server {:.0} + redis-server {:.0} + load generator {:.0} = {:.0} µs; \
                 all cores at that cost: {:.0} msg/s = {:.3} x the publish floor\n  \
                 floor CPU per operation: JetStream publish+ack {:.0} µs, consume+ack {:.0} µs, EVALSHA {:.0} µs; \
                 a message's four JetStream operations alone: {:.0} µs\n  \
                 0.20 x the publish floor leaves {:.0} µs per message on this machine",
                b.cores,
                b.idle_cores,
                b.daemon_us,
                b.nats_server_us,
                b.redis_server_us,
                b.load_generator_us,
                b.total_us,
                b.cpu_ceiling_msgs_per_sec,
                b.cpu_ceiling_ratio,
                b.publish_ack_us,
                b.consume_ack_us,
                b.evalsha_us,
                b.jetstream_minimum_us,
                b.budget_at_target_us,
            );
        }
        let _ = writeln!(s, "\ntargets");
        for t in &self.targets {
            let verdict = if t.pass { "PASS" } else { "FAIL" };
            let _ = writeln!(s, "  [{verdict}] {}: {} {} (required {})", t.name, t.measured, t.unit, t.requirement);
        }
        let _ = writeln!(
            s,
            "\ncleanup: {} Redis keys, {} streams removed; {:.0} s in all",
            self.cleanup.redis_keys,
            self.cleanup.streams.len(),
            self.elapsed_secs
        );
        s
    }

    fn floor_table(&self, s: &mut String) {
        let f = &self.floor;
        let _ = writeln!(s, "\n1. floor ({} B messages, {} each)", f.message_bytes, f.messages);
        let _ = writeln!(
            s,
            "  JetStream publish+ack   {:>10.0} msg/s   (concurrency {}; {})",
            f.jetstream_publish_ack_per_sec,
            f.publish_concurrency,
            lat(&f.publish_ack_latency)
        );
        let _ = writeln!(s, "    {}", cpu(&f.publish_cpu, "client"));
        let _ = writeln!(
            s,
            "  JetStream consume+ack   {:>10.0} msg/s   (durable pull, concurrency {})",
            f.jetstream_consume_ack_per_sec, f.consume_concurrency
        );
        let _ = writeln!(s, "    {}", cpu(&f.consume_cpu, "client"));
        let _ = writeln!(
            s,
            "  Redis EVALSHA           {:>10.0} call/s  (concurrency {}; {})",
            f.redis_evalsha_per_sec,
            f.script_concurrency,
            lat(&f.evalsha_latency)
        );
        let _ = writeln!(s, "    {}", cpu(&f.evalsha_cpu, "client"));
    }

    fn pipeline_table(&self, s: &mut String) {
        let p = &self.pipeline;
        let _ = writeln!(
            s,
            "\n2. pipeline: signed SMS webhook over HTTP -> JetStream -> router -> Redis -> `assigned` on the log -> \
             delivery -> P.agent.<id> on NATS \
             ({} agents, SMS capacity {}, router workers {}, {} warm-up)",
            p.agents, p.agent_sms_capacity, p.router_workers, p.warmup
        );
        let _ = writeln!(
            s,
            "  max (closed loop, {} in flight) {:>8.0} msg/s over {} msgs; latency {}",
            p.max.concurrency,
            p.max.messages_per_sec,
            p.max.messages,
            lat(&p.max.latency)
        );
        run_details(s, &p.max);
        let _ = writeln!(
            s,
            "  half load (open loop, {:.0}/s)  {:>8.0} msg/s over {} msgs; latency {}",
            p.half_load.offered_per_sec,
            p.half_load.messages_per_sec,
            p.half_load.messages,
            lat(&p.half_load.latency)
        );
        run_details(s, &p.half_load);
        let _ = writeln!(s, "  process RSS during the runs: peak {:.1} MB, now {:.1} MB", p.rss.peak_mb, p.rss.rss_mb);
    }

    fn assignment_table(&self, s: &mut String) {
        let _ = writeln!(s, "\n3. assignment alone (Redis scripts, no HTTP/NATS; p50/p99 one call at a time)");
        let _ = writeln!(
            s,
            "  {:>7} {:>8} {:>5} | {:>11} {:>8} {:>8} {:>9} {:>10} | {:>11} {:>8} {:>8}",
            "agents",
            "queued",
            "cap",
            "route dec/s",
            "p50 ms",
            "p99 ms",
            "p99@load",
            "redis µs",
            "drain dec/s",
            "p50 ms",
            "p99 ms"
        );
        for a in &self.assignment {
            let redis = a.route.cpu.as_ref().and_then(|c| c.redis_server_us_per_message);
            let _ = writeln!(
                s,
                "  {:>7} {:>8} {:>5} | {:>11.0} {:>8.3} {:>8.3} {:>9.3} {:>10} | {:>11.0} {:>8.3} {:>8.3}",
                a.agents,
                a.queued,
                a.agent_sms_capacity,
                a.route.decisions_per_sec,
                a.route.latency.p50_ms,
                a.route.latency.p99_ms,
                a.route.latency_under_load.unwrap_or_default().p99_ms,
                redis.map_or_else(|| "n/a".to_owned(), |r| r.to_string()),
                a.drain.decisions_per_sec,
                a.drain.latency.p50_ms,
                a.drain.latency.p99_ms
            );
        }
        let _ = writeln!(s, "  (redis µs: redis-server CPU per route decision, from /proc, at the concurrency)");
    }
}

fn cpu(c: &CpuUse, client: &str) -> String {
    let opt = |v: Option<f64>, unit: &str| v.map_or_else(|| "n/a".to_owned(), |v| format!("{v}{unit}"));
    format!(
        "CPU cores: {client} {}, load generator {}, nats-server {}, redis-server {}, other processes {}, idle {}; \
         per message: {client} {} µs, nats-server {}, redis-server {}",
        c.daemon_cores,
        c.load_generator_cores,
        opt(c.nats_server_cores, ""),
        opt(c.redis_server_cores, ""),
        c.other_processes_cores,
        c.idle_cores,
        c.daemon_us_per_message,
        opt(c.nats_server_us_per_message, " µs"),
        opt(c.redis_server_us_per_message, " µs"),
    )
}

fn lat(l: &Latency) -> String {
    format!("p50 {:.2} / p90 {:.2} / p99 {:.2} / max {:.2} ms", l.p50_ms, l.p90_ms, l.p99_ms, l.max_ms)
}

/// The floor pipeline's lines.
fn floor_pipeline_table(s: &mut String, fp: &FloorPipelineFigures) {
    let _ = writeln!(
        s,
        "\n2b. floor pipeline: the same webhooks through only the unavoidable work (signature, JetStream publish+ack, \
         one Redis script per message, one event publish+ack, fan-out to P.agent.<id>, acks; no batching)"
    );
    let (m, h) = (&fp.max, &fp.half_load);
    let _ = writeln!(
        s,
        "  max (closed loop, {} in flight) {:>8.0} msg/s over {} msgs; latency {}",
        m.concurrency,
        m.messages_per_sec,
        m.messages,
        lat(&m.latency)
    );
    run_details(s, m);
    let _ = writeln!(
        s,
        "  half load (open loop, {:.0}/s: the pipeline's rate)  {:>8.0} msg/s over {} msgs; latency {}",
        h.offered_per_sec,
        h.messages_per_sec,
        h.messages,
        lat(&h.latency)
    );
    run_details(s, h);
}

/// The lines under a pipeline run: the parts of its latency and its CPU.
fn run_details(s: &mut String, run: &Run) {
    let _ = writeln!(s, "    on the log (router published `assigned`) {}", lat(&run.logged));
    let _ = writeln!(s, "    intake (webhook answered after the JetStream ack) {}", lat(&run.intake));
    let _ = writeln!(s, "    {}", cpu(&run.cpu, "daemon"));
    let _ = writeln!(
        s,
        "    Redis per message: {:.2} round trips (the daemon's count), {:.2} of them script calls; {:.1} commands, \
         inside scripts included (redis-server's count)",
        run.redis_round_trips_per_message, run.redis_script_calls_per_message, run.redis_commands_per_message
    );
}
