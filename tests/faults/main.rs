//! The fault suite: three replicas as separate processes against their own
//! nats-server and redis-server (AOF on), signed SMS traffic, agents
//! replying and resolving through the API, and faults injected meanwhile:
//! kill -9 and SIGTERM of a replica, SIGSTOP/SIGCONT, kill -9 of
//! nats-server and of redis-server, a kill storm and a long Redis outage.
//! It prints its figures as a table and fails on any loss, duplicate,
//! untold assignment, ordering violation, overrun, double owner or reply
//! sent twice.
//!
//! In the suite it runs small (a few hundred messages, about a minute);
//! `tests/faults/large.sh` runs it at 20,000 messages with a 60 s storm and
//! a 75 s Redis outage.
#![allow(clippy::unwrap_used, clippy::disallowed_methods)] // a test harness: local processes and peers, bounded by its own deadlines


mod peers;
mod procs;
mod suite;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_acknowledged_is_lost_under_faults() {
    let report = suite::run(suite::Size::from_env()).await;
    println!("{}", report.table);
    let failures = report.failures();
    assert!(failures.is_empty(), "fault run failed: {failures:?}\n{}", report.table);
}
