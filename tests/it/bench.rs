//! The benchmark's smoke run: `switchboard bench --quick` in-process, the
//! report has every section with sane non-zero figures, and the run left
//! nothing behind in NATS or Redis. No timing thresholds: a benchmark is
//! not a test.

use futures::StreamExt;
use switchboard::bench::{run, Options};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quick_run_reports_every_section_and_cleans_up() {
    let options = Options {
        quick: true,
        nats_url: "nats://127.0.0.1:4222".into(),
        redis_url: "redis://127.0.0.1:6379".into(),
        ..Options::default()
    };
    let report = run(&options).await.unwrap();
    let sizes = &report.sizes;

    let f = &report.floor;
    assert!(f.message_bytes > 200, "the floor uses a normalized SMS: {} B", f.message_bytes);
    assert!(
        f.jetstream_publish_ack_per_sec > 0.0 && f.jetstream_consume_ack_per_sec > 0.0 && f.redis_evalsha_per_sec > 0.0
    );
    assert_eq!(f.publish_ack_latency.samples, sizes.floor_messages);
    assert_eq!(f.evalsha_latency.samples, sizes.floor_messages);

    let p = &report.pipeline;
    assert_eq!(p.max.messages, sizes.messages);
    assert_eq!(p.max.latency.samples, sizes.messages);
    assert!(p.max.messages_per_sec > 0.0);
    let l = p.max.latency;
    assert!(l.p50_ms > 0.0 && l.p50_ms <= l.p90_ms && l.p90_ms <= l.p99_ms && l.p99_ms <= l.max_ms, "{l:?}");
    assert!(p.half_load.messages > 0 && p.half_load.offered_per_sec > 0.0 && p.half_load.latency.p99_ms > 0.0);
    assert!(p.rss.peak_mb > 0.0 && p.rss.rss_mb > 0.0);
    assert!(p.max.cpu.wall_secs > 0.0 && p.half_load.cpu.wall_secs > 0.0, "{:?}", p.max.cpu);
    // The latency runs to the agent's delivery, which comes after the log.
    assert_eq!(p.max.logged.samples, sizes.messages);
    assert!(p.max.logged.p50_ms > 0.0 && p.max.logged.p50_ms <= l.p50_ms, "{:?} vs {l:?}", p.max.logged);
    assert!(f.publish_cpu.wall_secs > 0.0 && f.evalsha_cpu.wall_secs > 0.0);

    // The floor pipeline, in the same run: the same sizes, its half load
    // at the pipeline's rate, one Redis script call per message.
    let fp = report.floor_pipeline.as_ref().expect("the floor pipeline ran beside the pipeline");
    assert_eq!(fp.max.messages, sizes.messages);
    assert_eq!(fp.max.latency.samples, sizes.messages);
    assert!(fp.max.messages_per_sec > 0.0 && fp.max.latency.p99_ms > 0.0);
    assert_eq!(fp.half_load.offered_per_sec, p.half_load.offered_per_sec);
    assert_eq!(fp.half_load.messages, p.half_load.messages);
    assert!(fp.half_load.latency.p99_ms > 0.0);
    // One script call per message (the count is the floor's own; the
    // server-side count also sees whatever else uses the shared Redis).
    assert_eq!(fp.max.redis_round_trips_per_message, 1.0, "{:?}", fp.max);
    assert!(fp.max.redis_script_calls_per_message >= 1.0, "{:?}", fp.max);
    assert!(p.max.redis_round_trips_per_message > 0.0, "the daemon counts its round trips: {:?}", p.max);
    for name in [
        "e2e_msgs_per_sec / floor_pipeline_msgs_per_sec",
        "half_load_p99_ms / floor_pipeline_half_load_p99_ms",
        "daemon_us_per_message / floor_pipeline_daemon_us_per_message",
        "redis_commands_per_message / floor_pipeline_redis_commands_per_message",
    ] {
        assert!(report.ratios.get(name).is_some_and(|r| *r > 0.0), "no ratio {name}: {:?}", report.ratios);
    }
    assert!(report.table().contains("2b. floor pipeline"));

    let o = &report.open_conversations;
    assert_eq!(o.conversations, sizes.open);
    assert_eq!(o.assigned + o.queued, sizes.open);
    assert!(o.rss_after.rss_mb > 0.0 && o.routed_per_sec > 0.0);

    assert_eq!(report.assignment.len(), sizes.agents.len());
    for a in &report.assignment {
        assert!(a.queued >= sizes.queued, "{a:?}");
        assert!(a.route.decisions_per_sec > 0.0 && a.drain.decisions_per_sec > 0.0, "{a:?}");
        assert_eq!(a.route.latency.samples, sizes.sequential_decisions);
        assert_eq!(a.drain.latency.samples, sizes.sequential_decisions);
        assert!(a.route.latency.p99_ms > 0.0 && a.drain.latency.p99_ms > 0.0);
    }

    let t = &report.timers;
    assert_eq!(t.open_timers, sizes.timers);
    assert_eq!(t.fired, sizes.firing_timers);
    assert!(t.redis_bytes > 0 && t.bytes_per_timer > 0.0 && t.scheduled_per_sec > 0.0);

    assert!(
        report.machine.cpus > 0 && !report.machine.nats_server.is_empty() && !report.machine.redis_server.is_empty()
    );
    assert!(report.ratios.len() >= 10, "{:?}", report.ratios);
    assert!(report.ratios.values().all(|r| r.is_finite() && *r > 0.0), "{:?}", report.ratios);
    assert_eq!(report.targets.len(), 11, "{:?}", report.targets);

    let json = serde_json::to_value(&report).unwrap();
    for section in ["machine", "floor", "pipeline", "floor_pipeline", "open_conversations", "assignment", "timers", "ratios", "targets"] {
        assert!(!json[section].is_null(), "no {section} in the JSON report");
    }
    assert!(json["targets"].as_array().unwrap().iter().all(|t| t["pass"].is_boolean()));
    assert!(report.table().contains("targets"));
    // The CPU budget of a message, against the floor's costs.
    let b = report.cpu_budget.as_ref().expect("a CPU budget when the floor and the pipeline ran");
    assert!(b.cores >= 1.0 && b.total_us > 0.0 && b.cpu_ceiling_msgs_per_sec > 0.0, "{b:?}");
    assert!(b.jetstream_minimum_us > 0.0 && b.budget_at_target_us > 0.0, "{b:?}");
    assert!(!json["cpu_budget"].is_null());
    assert!(report.table().contains("CPU per message at maximum throughput"));

    // Nothing is left behind: no key, no stream under the run's prefix.
    assert!(report.cleanup.redis_keys > 0 && report.cleanup.streams.len() >= 6, "{:?}", report.cleanup);
    let redis = redis::Client::open("redis://127.0.0.1:6379").unwrap();
    let mut conn = redis.get_multiplexed_async_connection().await.unwrap();
    let mut cursor = 0u64;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{{{}*", report.prefix))
            .arg("COUNT")
            .arg(5000)
            .query_async(&mut conn)
            .await
            .unwrap();
        assert!(keys.is_empty(), "keys left behind: {keys:?}");
        cursor = next;
        if cursor == 0 {
            break;
        }
    }
    let nats = async_nats::connect("127.0.0.1:4222").await.unwrap();
    let names: Vec<String> = async_nats::jetstream::new(nats).stream_names().map(|n| n.unwrap()).collect().await;
    assert!(!names.iter().any(|n| n.starts_with(&report.prefix)), "streams left behind: {names:?}");
}
