//! SLA end to end with short targets: warning and breach fire once each
//! across two replicas at the right times, the breach escalation re-routes
//! the waiting conversation to the overflow queue where an agent takes it;
//! a reply before the warning stops the clock and nothing fires.

use std::time::Duration;

use futures::StreamExt;
use serde_json::{json, Value};

use crate::support::{sms, unique_prefix, TestApp};


fn config() -> String {
    r#"
    [server]
    admin_token = "admin-secret"
    [channels.sms.shop]
    account_sid = "AC0123456789abcdef0123456789abcdef"
    auth_token = "twilio-test-token"
    from = "+15005550006"
    api_base = "http://127.0.0.1:9"
    [sla.policies.fast]
    first_response_secs = 2
    resolution_secs = 3600
    warn_at = 0.5
    on_warning = [ { action = "raise_priority", by = 5 } ]
    on_breach = [ { action = "reroute" } ]
    [queues.chat]
    skills = { chat = 1 }
    overflow = "backup"
    sla = "fast"
    [queues.backup]
    [[rules]]
    name = "chat"
    when = { text = "help" }
    then = { queue = "chat" }
    [[rules]]
    name = "quick"
    when = { text = "quick" }
    then = { queue = "backup" }
    [[sla.overrides]]
    queue = "backup"
    policy = "fast"
    [agents.alice]
    token = "alice-token"
    capacity = { sms = 5 }
    "#
    .to_owned()
}

async fn collect(sub: &mut async_nats::Subscriber, until: Duration) -> Vec<(Duration, Value)> {
    collect_since(sub, tokio::time::Instant::now(), until).await
}

/// The events seen for `until` from now, each with the time since `since`.
/// Stamped from before the message was sent, an event's time is a sound
/// lower bound on its delay: the webhook may answer after the router has
/// already started the clock, so a stamp taken after the answer is not.
async fn collect_since(sub: &mut async_nats::Subscriber, since: tokio::time::Instant, until: Duration) -> Vec<(Duration, Value)> {
    let end = tokio::time::Instant::now() + until;
    let mut seen = Vec::new();
    while let Ok(Some(msg)) = tokio::time::timeout_at(end, sub.next()).await {
        seen.push((since.elapsed(), serde_json::from_slice(&msg.payload).unwrap()));
    }
    seen
}

#[tokio::test]
async fn warning_and_breach_fire_once_across_replicas_and_the_breach_reroutes() {
    let prefix = unique_prefix();
    let a = TestApp::ready(TestApp::spawn_with_prefix(&config(), prefix.clone()).await).await;
    let b = TestApp::ready(TestApp::spawn_with_prefix(&config(), prefix.clone()).await).await;
    let nats = async_nats::connect("127.0.0.1:4222").await.unwrap();
    let mut sub = nats.subscribe(format!("{prefix}.events.>")).await.unwrap();
    nats.flush().await.unwrap();
    let sent = tokio::time::Instant::now();
    sms(&a, "SM1", "+14155550001", "help me").await;
    let seen = collect_since(&mut sub, sent, Duration::from_secs(4)).await;
    let of = |t: &str| seen.iter().filter(|(_, e)| e["type"] == t).collect::<Vec<_>>();
    let warnings = of("switchboard.sla.warning");
    let breaches = of("switchboard.sla.breached");
    assert_eq!((warnings.len(), breaches.len()), (1, 1), "{:#?}", seen.iter().map(|(t, e)| (t, &e["type"])).collect::<Vec<_>>());
    let (warned_at, warning) = warnings[0];
    let (breached_at, breach) = breaches[0];
    assert!(*warned_at >= Duration::from_millis(900) && *breached_at >= Duration::from_millis(1900), "{warned_at:?} {breached_at:?}");
    assert!(warned_at < breached_at);
    assert_eq!(warning["data"]["sla"]["clock"], "first_response");
    assert_eq!(warning["data"]["sla"]["policy"], "fast");
    assert_eq!(breach["data"]["sla"]["escalations"], json!(["reroute overflow"]));
    // The breach moved it to the overflow queue, where alice takes it.
    let moved = of("switchboard.conversation.transferred");
    assert_eq!(moved.len(), 1);
    assert_eq!(moved[0].1["data"]["queue"], "backup");
    let assigned = of("switchboard.conversation.assigned");
    assert_eq!(assigned.len(), 1);
    assert_eq!(assigned[0].1["data"]["agent"], "alice");
    let conv = assigned[0].1["data"]["conversation_id"].as_str().unwrap().to_owned();
    // The warning raised its priority; the clock shows the breach.
    let detail: Value = reqwest::Client::new()
        .get(b.url(&format!("/api/v1/conversations/{conv}")))
        .bearer_auth("admin-secret")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(detail["conversation"]["priority"], 5);
    let first = detail["sla"].as_array().unwrap().iter().find(|c| c["clock"] == "first_response").unwrap().clone();
    assert_eq!((first["outcome"].as_str(), first["target_secs"].as_f64()), (Some("breached"), Some(2.0)));
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn a_reply_before_the_warning_stops_the_clock() {
    let app = TestApp::spawn_ready(&config()).await;
    let nats = async_nats::connect("127.0.0.1:4222").await.unwrap();
    let mut sub = nats.subscribe(format!("{}.events.>", app.prefix)).await.unwrap();
    nats.flush().await.unwrap();
    sms(&app, "SM1", "+14155550002", "quick question").await;
    let assigned = loop {
        let msg = tokio::time::timeout(Duration::from_secs(15), sub.next()).await.unwrap().unwrap();
        let e: Value = serde_json::from_slice(&msg.payload).unwrap();
        if e["type"] == "switchboard.conversation.assigned" {
            break e;
        }
    };
    let conv = assigned["data"]["conversation_id"].as_str().unwrap().to_owned();
    let reply = reqwest::Client::new()
        .post(app.url(&format!("/api/v1/conversations/{conv}/reply")))
        .bearer_auth("alice-token")
        .json(&json!({ "text": "on it" }))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 202);
    let seen = collect(&mut sub, Duration::from_millis(2600)).await;
    assert!(!seen.iter().any(|(_, e)| e["type"].as_str().unwrap_or("").starts_with("switchboard.sla.")), "{seen:?}");
    let detail: Value = reqwest::Client::new()
        .get(app.url(&format!("/api/v1/conversations/{conv}")))
        .bearer_auth("admin-secret")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let clocks = detail["sla"].as_array().unwrap();
    let first = clocks.iter().find(|c| c["clock"] == "first_response").unwrap();
    assert_eq!(first["outcome"], "met");
    let resolution = clocks.iter().find(|c| c["clock"] == "resolution").unwrap();
    assert_eq!(resolution["state"], "paused", "waiting on the customer");
    let metrics = reqwest::get(app.url("/metrics")).await.unwrap().text().await.unwrap();
    assert!(
        metrics.lines().any(|l| l.starts_with("switchboard_sla_clocks_total{") && l.contains("clock=\"first_response\"") && l.contains("outcome=\"met\"")),
        "{metrics}"
    );
    let _ = unique_prefix();
    app.stop().await;
}

#[tokio::test]
async fn a_reload_replans_running_clocks() {
    let dir = std::env::temp_dir().join(format!("sb-sla-reload-{}", unique_prefix()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("switchboard.toml");
    let with_target = |secs: u64| config().replace("first_response_secs = 2", &format!("first_response_secs = {secs}"));
    std::fs::write(&file, with_target(3600)).unwrap();
    let loader = switchboard::config::Loader::new().without_env().file(&file);
    let app = TestApp::ready(TestApp::spawn_loader(loader, "", unique_prefix()).await).await;
    let nats = async_nats::connect("127.0.0.1:4222").await.unwrap();
    let mut sub = nats.subscribe(format!("{}.events.>", app.prefix)).await.unwrap();
    nats.flush().await.unwrap();
    sms(&app, "SM1", "+14155550003", "help please").await;
    // An hour's target: nothing fires for a while.
    let quiet = collect(&mut sub, Duration::from_millis(1500)).await;
    assert!(!quiet.iter().any(|(_, e)| e["type"] == "switchboard.sla.breached"));
    // The policy becomes 2 s: the clock, 1.5 s in, breaches about half a second later.
    std::fs::write(&file, with_target(2)).unwrap();
    let reload = reqwest::Client::new().post(app.url("/api/v1/admin/reload")).bearer_auth("admin-secret").send().await.unwrap();
    assert_eq!(reload.status(), 200);
    let seen = collect(&mut sub, Duration::from_secs(3)).await;
    let breaches: Vec<_> = seen.iter().filter(|(_, e)| e["type"] == "switchboard.sla.breached").collect();
    assert_eq!(breaches.len(), 1, "{seen:?}");
    assert_eq!(breaches[0].1["data"]["sla"]["target_secs"], 2.0);
    app.stop().await;
    std::fs::remove_dir_all(&dir).ok();
}
