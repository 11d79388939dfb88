//! The fault suite: three replicas as separate processes against their own
//! nats-server and redis-server (AOF on), signed SMS and WeChat (safe mode)
//! traffic, agents replying and resolving through the API, and faults
//! injected meanwhile: kill -9 and SIGTERM of a replica, SIGSTOP/SIGCONT,
//! kill -9 of nats-server and of redis-server, a kill storm and a long
//! Redis outage; and the cluster case, three nats-servers with the streams
//! replicated three times and the streams' leader killed -9. Each prints
//! its figures as a table and fails on any loss, duplicate, untold
//! assignment, ordering violation, overrun, double owner or reply sent
//! twice.
//!
//! In the suite they run small (a few hundred messages, about a minute
//! each); `tests/faults/large.sh` runs the fault schedule at 20,000
//! messages with a 60 s storm and a 75 s Redis outage.
#![allow(clippy::unwrap_used, clippy::disallowed_methods)] // a test harness: local processes and peers, bounded by its own deadlines

mod peers;
mod procs;
mod report;
mod suite;
mod traffic;

use suite::{Plan, Size};

/// Runs one plan, prints its table, fails on any check that is not zero.
async fn check(size: Size, plan: Plan) {
    let report = suite::run(size, plan).await;
    println!("{}", report.table);
    let failures = report.failures();
    assert!(failures.is_empty(), "fault run failed: {failures:?}\n{}", report.table);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_acknowledged_is_lost_under_faults() {
    check(Size::from_env(), Plan::Faults).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_leader_killed_in_a_nats_cluster_loses_nothing() {
    check(Size::cluster_from_env(), Plan::LeaderKill).await;
}
