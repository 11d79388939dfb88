//! The supervisor's live view: the snapshot and the Prometheus gauges after
//! a known set of conversations and agent statuses, the same from two
//! replicas; the SLA clocks at risk coming and going; the stream (bearer
//! header and `?token=`); who may watch; a Redis outage (metrics still
//! served, the snapshot 503, the stream stale); and a peak alert that fires
//! once and resolves once with two replicas evaluating.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::StreamExt;
use serde_json::Value;

use crate::support::{sms, unique_prefix, wait_until, FakePeer, TestApp, TWILIO_TOKEN};

const WAIT: Duration = Duration::from_secs(20);

fn config(extra: &str) -> String {
    format!(
        r#"
        [server]
        admin_token = "admin-secret"
        supervisor_token = "sup-secret"
        [channels.sms.shop]
        account_sid = "AC0123456789abcdef0123456789abcdef"
        auth_token = "{TWILIO_TOKEN}"
        from = "+15005550006"
        api_base = "http://127.0.0.1:9"
        [sla.policies.slow]
        first_response_secs = 60
        warn_at = 0.02
        [queues.general]
        sla = "slow"
        [queues.returns]
        [routing]
        default_queue = "general"
        [[rules]]
        name = "refund"
        when = {{ text = "refund" }}
        then = {{ queue = "returns" }}
        [agents.alice]
        token = "alice-token"
        capacity = {{ sms = 1, chat = 2 }}
        [agents.bob]
        token = "bob-token"
        capacity = {{ sms = 3 }}
        [agents.carol]
        token = "carol-token"
        status = "offline"
        capacity = {{ email = 2 }}
        {extra}
        "#
    )
}

async fn get(app: &TestApp, path: &str, token: Option<&str>) -> (u16, Value) {
    let mut req = reqwest::Client::new().get(app.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

async fn snapshot(app: &TestApp) -> Value {
    let (status, body) = get(app, "/api/v1/supervisor/snapshot", Some("sup-secret")).await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn set_status(app: &TestApp, agent: &str, status: &str) {
    let r = reqwest::Client::new()
        .put(app.url(&format!("/api/v1/agents/{agent}/status")))
        .bearer_auth("admin-secret")
        .json(&serde_json::json!({ "status": status }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

fn queue<'a>(snap: &'a Value, name: &str) -> &'a Value {
    snap["queues"].as_array().unwrap().iter().find(|q| q["queue"] == name).unwrap_or_else(|| panic!("no queue {name} in {snap}"))
}

/// The `switchboard_*` samples of `/metrics`: series (name and labels) → value.
async fn gauges(app: &TestApp) -> BTreeMap<String, f64> {
    let text = reqwest::get(app.url("/metrics")).await.unwrap().text().await.unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series.to_owned(), value.parse().ok()?))
        })
        .collect()
}

const LIVE: &[&str] = &[
    "switchboard_queue_waiting",
    "switchboard_queue_longest_wait_seconds",
    "switchboard_agents",
    "switchboard_agent_load",
    "switchboard_agent_capacity",
    "switchboard_sla_at_risk",
    "switchboard_live_figures_up",
];

/// The live gauges only (the longest wait without its value, which moves
/// with time between two scrapes).
fn live_series(all: &BTreeMap<String, f64>) -> BTreeMap<String, f64> {
    all.iter()
        .filter(|(k, _)| LIVE.iter().any(|m| k.split('{').next() == Some(*m)))
        .map(|(k, v)| (k.clone(), if k.starts_with("switchboard_queue_longest_wait_seconds") { 0.0 } else { *v }))
        .collect()
}

#[tokio::test]
async fn the_snapshot_and_gauges_show_the_floor_the_same_on_two_replicas() {
    let prefix = unique_prefix();
    let toml = config("[alerts]\ninbound_surge_factor = 0\n");
    let a = TestApp::ready(TestApp::spawn_with_prefix(&toml, prefix.clone()).await).await;
    let b = TestApp::ready(TestApp::spawn_with_prefix(&toml, prefix.clone()).await).await;
    set_status(&a, "bob", "away").await;
    // Alice (one SMS) takes the first; two more wait in general, the
    // refund waits in returns.
    sms(&a, "SMsup1", "+14155550101", "hello").await;
    let first = wait_until(WAIT, || async {
        let s = snapshot(&a).await;
        let alice = s["agents"].as_array().unwrap().iter().find(|x| x["agent"] == "alice").cloned().unwrap();
        (alice["load"]["sms"] == 1).then_some(s)
    })
    .await
    .expect("alice takes the first conversation");
    assert_eq!(queue(&first, "general")["waiting"], 0);
    sms(&a, "SMsup2", "+14155550102", "hello again").await;
    sms(&b, "SMsup3", "+14155550103", "anyone there").await;
    sms(&b, "SMsup4", "+14155550104", "refund please").await;
    // The warnings (1.2 s into the 60 s first response) put the three
    // general conversations at risk; returns has no SLA.
    let settled = |s: &Value| {
        queue(s, "general")["waiting"] == 2 && queue(s, "returns")["waiting"] == 1 && queue(s, "general")["sla_at_risk"] == 3
    };
    let _ = wait_until(WAIT, || async { settled(&snapshot(&b).await).then_some(()) }).await;
    let snap = snapshot(&b).await;
    assert!(settled(&snap), "figures never settled: {snap}");
    assert_eq!(queue(&snap, "returns")["sla_at_risk"], 0);
    assert!(queue(&snap, "general")["longest_wait_secs"].as_u64().unwrap() < 30);
    let names: Vec<&str> = snap["queues"].as_array().unwrap().iter().map(|q| q["queue"].as_str().unwrap()).collect();
    assert_eq!(names, ["general", "returns"]);
    assert_eq!(snap["agents_by_status"], serde_json::json!({"available": 1, "away": 1, "offline": 1}));
    let agents: Vec<&Value> = snap["agents"].as_array().unwrap().iter().collect();
    assert_eq!(agents.iter().map(|x| x["agent"].as_str().unwrap()).collect::<Vec<_>>(), ["alice", "bob", "carol"]);
    assert_eq!(agents[0]["status"], "available");
    assert_eq!(agents[0]["load"], serde_json::json!({"sms": 1, "webchat": 0}));
    assert_eq!(agents[0]["capacity"], serde_json::json!({"sms": 1, "webchat": 2}));
    assert_eq!(agents[1]["status"], "away");
    assert_eq!(agents[2]["capacity"], serde_json::json!({"email": 2}));
    let at_risk = snap["at_risk"].as_array().unwrap();
    assert_eq!(at_risk.len(), 3);
    let dues: Vec<&str> = at_risk.iter().map(|r| r["due_at"].as_str().unwrap()).collect();
    assert!(dues.windows(2).all(|w| w[0] <= w[1]), "oldest due first: {dues:?}");
    assert!(at_risk.iter().all(|r| r["clock"] == "first_response" && r["queue"] == "general"));
    let held: Vec<&Value> = at_risk.iter().filter(|r| r["agent"] == "alice").collect();
    assert_eq!(held.len(), 1, "{at_risk:?}");
    assert_eq!(snap["stale"], false);
    assert!(snap["alerts"].as_array().unwrap().is_empty());

    // The gauges say the same, on both replicas.
    let ga = gauges(&a).await;
    let gb = gauges(&b).await;
    assert_eq!(ga.get("switchboard_live_figures_up"), Some(&1.0));
    assert_eq!(ga.get("switchboard_queue_waiting{queue=\"general\"}"), Some(&2.0));
    assert_eq!(ga.get("switchboard_queue_waiting{queue=\"returns\"}"), Some(&1.0));
    assert_eq!(ga.get("switchboard_sla_at_risk{queue=\"general\"}"), Some(&3.0));
    assert_eq!(ga.get("switchboard_agents{status=\"away\"}"), Some(&1.0));
    assert_eq!(ga.get("switchboard_agent_load{agent=\"alice\",channel=\"sms\"}"), Some(&1.0));
    assert_eq!(ga.get("switchboard_agent_capacity{agent=\"bob\",channel=\"sms\"}"), Some(&3.0));
    assert!(ga.get("switchboard_queue_longest_wait_seconds{queue=\"general\"}").is_some_and(|s| *s > 0.0 && *s < 30.0));
    assert_eq!(ga.get("switchboard_queue_longest_wait_seconds{queue=\"returns\"}").map(|s| *s > 0.0), Some(true));
    assert_eq!(live_series(&ga), live_series(&gb), "two replicas, one floor");

    // Resolving alice's conversation stops its clock (no longer at risk)
    // and frees her: a waiting conversation goes to her.
    let held = held[0]["conversation_id"].as_str().unwrap().to_owned();
    let r = reqwest::Client::new()
        .post(a.url(&format!("/api/v1/conversations/{held}/resolve")))
        .bearer_auth("alice-token")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let after = wait_until(WAIT, || async {
        let s = snapshot(&a).await;
        let waiting = queue(&s, "general")["waiting"].as_u64().unwrap() + queue(&s, "returns")["waiting"].as_u64().unwrap();
        (waiting == 2).then_some(s)
    })
    .await
    .expect("the next conversation is handed to alice");
    let ids: Vec<&str> = after["at_risk"].as_array().unwrap().iter().map(|r| r["conversation_id"].as_str().unwrap()).collect();
    assert!(!ids.contains(&held.as_str()), "a resolved conversation is not at risk: {ids:?}");
    assert_eq!(queue(&after, "general")["sla_at_risk"], 2);
    a.stop().await;
    b.stop().await;
}

/// Reads the first SSE event of a response: (event name, data JSON).
async fn first_event(mut resp: reqwest::Response) -> (String, Value) {
    let mut text = String::new();
    let read = tokio::time::timeout(WAIT, async {
        while let Some(chunk) = resp.chunk().await.unwrap() {
            text.push_str(&String::from_utf8_lossy(&chunk));
            if let Some(end) = text.find("\n\n") {
                return text[..end].to_owned();
            }
        }
        panic!("the stream ended before an event: {text}");
    })
    .await
    .expect("an event within the deadline");
    let field = |name: &str| read.lines().find_map(|l| l.strip_prefix(name)).map(|v| v.trim().to_owned()).unwrap_or_default();
    (field("event:"), serde_json::from_str(&field("data:")).unwrap())
}

#[tokio::test]
async fn only_watchers_see_the_floor_and_the_stream_sends_snapshots() {
    let app = TestApp::spawn_ready(&config("")).await;
    for token in [None, Some("nope"), Some("alice-token")] {
        for path in ["/api/v1/supervisor/snapshot", "/api/v1/supervisor/stream"] {
            let (status, body) = get(&app, path, token).await;
            assert_eq!(status, 401, "{path} with {token:?}");
            assert_eq!(body["error"]["code"], "unauthorized");
        }
    }
    let (status, body) = get(&app, "/api/v1/supervisor/snapshot?token=sup-secret", None).await;
    assert_eq!(status, 401, "the snapshot takes no token in its URL: {body}");
    assert_eq!(get(&app, "/api/v1/supervisor/snapshot", Some("admin-secret")).await.0, 200);
    assert_eq!(get(&app, "/api/v1/supervisor/stream?token=wrong", None).await.0, 401);

    let client = reqwest::Client::new();
    for req in [
        client.get(app.url("/api/v1/supervisor/stream")).bearer_auth("sup-secret"),
        client.get(app.url("/api/v1/supervisor/stream?token=sup-secret")),
        client.get(app.url("/api/v1/supervisor/stream")).bearer_auth("admin-secret"),
    ] {
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 200);
        assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
        let (event, data) = first_event(resp).await;
        assert_eq!(event, "snapshot");
        assert_eq!(data["stale"], false);
        assert_eq!(data["queues"].as_array().unwrap().len(), 2, "{data}");
        assert_eq!(data["agents_by_status"]["offline"], 1);
    }
    app.stop().await;
}

#[tokio::test]
async fn without_redis_the_metrics_are_still_served_and_the_view_says_so() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let cut = crate::support::proxy(listener, "127.0.0.1:6379");
    let app = TestApp::spawn_ready(&config(&format!(
        "[supervisor]\nstream_every_secs = 1\n[redis]\nurl = \"redis://127.0.0.1:{port}\"\ntimeout_ms = 300\n"
    )))
    .await;
    assert_eq!(gauges(&app).await.get("switchboard_live_figures_up"), Some(&1.0));
    let mut resp = reqwest::Client::new().get(app.url("/api/v1/supervisor/stream")).bearer_auth("sup-secret").send().await.unwrap();
    cut.cancel();
    let (status, body503) = get(&app, "/api/v1/supervisor/snapshot", Some("sup-secret")).await;
    assert_eq!(status, 503, "{body503}");
    assert_eq!(body503["error"]["code"], "unavailable");
    let metrics = gauges(&app).await;
    assert_eq!(metrics.get("switchboard_live_figures_up"), Some(&0.0));
    assert!(!metrics.keys().any(|k| k.starts_with("switchboard_queue_waiting")), "no figures from a failed read");
    assert!(metrics.keys().any(|k| k.starts_with("switchboard_http_request_duration_seconds")), "the other metrics stay");
    // The stream stays open and says its figures are stale.
    let mut text = String::new();
    let stale = tokio::time::timeout(WAIT, async {
        while let Ok(Some(chunk)) = resp.chunk().await {
            text.push_str(&String::from_utf8_lossy(&chunk));
            if text.contains("\"stale\":true") {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(stale, Ok(true), "{text}");
    app.stop().await;
}

#[tokio::test]
async fn a_waiting_peak_fires_once_and_resolves_once_across_replicas() {
    let prefix = unique_prefix();
    let hook = FakePeer::start(vec![(200, vec![], String::new())]).await;
    let toml = config(&format!(
        "[alerts]\nevaluate_every_secs = 1\nqueue_waiting_max = 1\ninbound_surge_factor = 0\nclear_after_secs = 2\n\
         [sla]\nsupervisors = [ {{ kind = \"webhook\", url = \"{}/sup\", secret = \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\" }} ]\n",
        hook.base()
    ));
    let a = TestApp::ready(TestApp::spawn_with_prefix(&toml, prefix.clone()).await).await;
    let b = TestApp::ready(TestApp::spawn_with_prefix(&toml, prefix.clone()).await).await;
    for agent in ["alice", "bob"] {
        set_status(&a, agent, "away").await;
    }
    let nats = async_nats::connect("127.0.0.1:4222").await.unwrap();
    let mut sub = nats.subscribe(format!("{prefix}.events.ops.alert")).await.unwrap();
    nats.flush().await.unwrap();
    sms(&a, "SMpeak1", "+14155550201", "hello").await;
    sms(&b, "SMpeak2", "+14155550202", "hello").await;
    let firing = wait_until(WAIT, || async {
        let s = snapshot(&b).await;
        s["alerts"].as_array().unwrap().first().cloned()
    })
    .await
    .expect("the alert fires");
    assert_eq!((firing["alert"].as_str(), firing["scope"].as_str(), firing["state"].as_str()), (Some("queue_waiting"), Some("general"), Some("firing")));
    assert_eq!((firing["figure"].as_f64(), firing["threshold"].as_f64()), (Some(2.0), Some(1.0)));
    // Several evaluations by both replicas while it stays over.
    tokio::time::sleep(Duration::from_secs(4)).await;
    set_status(&b, "bob", "available").await;
    let resolved = wait_until(WAIT, || async { snapshot(&a).await["alerts"].as_array().unwrap().is_empty().then_some(()) }).await;
    assert!(resolved.is_some(), "the alert resolves once the queue drains");
    tokio::time::sleep(Duration::from_secs(4)).await;

    let mut events = Vec::new();
    while let Ok(Some(msg)) = tokio::time::timeout(Duration::from_millis(500), sub.next()).await {
        events.push(serde_json::from_slice::<Value>(&msg.payload).unwrap());
    }
    let states: Vec<&str> = events.iter().map(|e| e["data"]["alert"]["state"].as_str().unwrap()).collect();
    assert_eq!(states, ["firing", "resolved"], "{events:?}");
    for e in &events {
        assert_eq!(e["type"], "switchboard.ops.alert");
        assert_eq!(e["data"]["supervisors"], true);
        let alert = &e["data"]["alert"];
        assert_eq!((alert["alert"].as_str(), alert["scope"].as_str()), (Some("queue_waiting"), Some("general")));
        assert_eq!(alert["threshold"].as_f64(), Some(1.0));
        assert_eq!(alert["since"], events[0]["data"]["alert"]["since"], "the resolution names the firing it ends");
    }
    assert_ne!(events[0]["id"], events[1]["id"]);
    // The supervisors' target got each once.
    let delivered = wait_until(WAIT, || async {
        let got: Vec<Value> = hook.events().into_iter().filter(|e| e["type"] == "switchboard.ops.alert").collect();
        (got.len() >= 2).then_some(got)
    })
    .await
    .expect("both delivered to the supervisors");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let got: Vec<String> =
        hook.events().iter().filter(|e| e["type"] == "switchboard.ops.alert").map(|e| e["data"]["alert"]["state"].as_str().unwrap().to_owned()).collect();
    assert_eq!(got, ["firing", "resolved"], "{delivered:?}");
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn a_figure_back_under_its_threshold_resolves_only_after_the_clear_delay() {
    // The queue drains at once, but the alert waits out `clear_after_secs`
    // (10 minutes here) before it resolves: several evaluations later it
    // still fires, and only its firing was sent.
    let prefix = unique_prefix();
    let toml = config("[alerts]\nevaluate_every_secs = 1\nqueue_waiting_max = 1\ninbound_surge_factor = 0\nclear_after_secs = 600\n");
    let app = TestApp::ready(TestApp::spawn_with_prefix(&toml, prefix.clone()).await).await;
    for agent in ["alice", "bob"] {
        set_status(&app, agent, "away").await;
    }
    let nats = async_nats::connect("127.0.0.1:4222").await.unwrap();
    let mut sub = nats.subscribe(format!("{prefix}.events.ops.alert")).await.unwrap();
    nats.flush().await.unwrap();
    sms(&app, "SMhover1", "+14155550401", "hello").await;
    sms(&app, "SMhover2", "+14155550402", "hello").await;
    let fired = wait_until(WAIT, || async { snapshot(&app).await["alerts"].as_array().unwrap().first().cloned() }).await;
    assert!(fired.is_some(), "the alert fires");
    set_status(&app, "bob", "available").await;
    let drained = wait_until(WAIT, || async {
        let s = snapshot(&app).await;
        (s["queues"].as_array().unwrap().iter().map(|q| q["waiting"].as_u64().unwrap()).sum::<u64>() <= 1).then_some(())
    })
    .await;
    assert!(drained.is_some(), "the queue drains under the threshold");
    tokio::time::sleep(Duration::from_secs(4)).await;
    let alerts = snapshot(&app).await["alerts"].clone();
    assert_eq!(alerts.as_array().unwrap().len(), 1, "still firing within the clear delay: {alerts}");
    let mut states = Vec::new();
    while let Ok(Some(msg)) = tokio::time::timeout(Duration::from_millis(500), sub.next()).await {
        let e: Value = serde_json::from_slice(&msg.payload).unwrap();
        states.push(e["data"]["alert"]["state"].as_str().unwrap().to_owned());
    }
    assert_eq!(states, ["firing"]);
    app.stop().await;
}

#[tokio::test]
async fn an_alert_of_a_queue_removed_since_resolves() {
    // A firing alert left by a configuration that had a `gone` queue.
    let prefix = unique_prefix();
    let redis = redis::Client::open("redis://127.0.0.1:6379").unwrap();
    let mut conn = redis.get_multiplexed_async_connection().await.unwrap();
    let since = chrono::Utc::now().timestamp_millis() - 60_000;
    let left = serde_json::json!({"alert": "queue_waiting", "scope": "gone", "figure": 9, "threshold": 5, "state": "firing", "since": since});
    let _: () = redis::cmd("HSET").arg(format!("{{{prefix}}}:alerts")).arg("queue_waiting|gone").arg(left.to_string()).query_async(&mut conn).await.unwrap();
    let nats = async_nats::connect("127.0.0.1:4222").await.unwrap();
    let mut sub = nats.subscribe(format!("{prefix}.events.ops.alert")).await.unwrap();
    nats.flush().await.unwrap();
    let toml = config("[alerts]\nevaluate_every_secs = 1\ninbound_surge_factor = 0\n");
    let app = TestApp::ready(TestApp::spawn_with_prefix(&toml, prefix.clone()).await).await;
    let msg = tokio::time::timeout(WAIT, sub.next()).await.expect("a resolution is published").unwrap();
    let event: Value = serde_json::from_slice(&msg.payload).unwrap();
    let alert = &event["data"]["alert"];
    assert_eq!((alert["alert"].as_str(), alert["scope"].as_str(), alert["state"].as_str()), (Some("queue_waiting"), Some("gone"), Some("resolved")));
    let cleared: Option<String> = redis::cmd("HGET").arg(format!("{{{prefix}}}:alerts")).arg("queue_waiting|gone").query_async(&mut conn).await.unwrap();
    assert_eq!(cleared, None);
    app.stop().await;
}

#[tokio::test]
async fn an_inbound_surge_counts_each_message_once_fires_once_and_resolves_once_across_replicas() {
    // From a quiet hour, 2 messages in the last 5 minutes (0.4 a minute)
    // are a surge at a 0.4 minimum (a retried webhook is not counted
    // again), once the deployment has counted a whole baseline.
    // Two replicas evaluate every second.
    let prefix = unique_prefix();
    let toml = config(
        "[alerts]\nevaluate_every_secs = 1\ninbound_surge_factor = 1\nsurge_baseline_hours = 1\nsurge_min_per_minute = 0.4\nclear_after_secs = 0\n",
    );
    let a = TestApp::ready(TestApp::spawn_with_prefix(&toml, prefix.clone()).await).await;
    let b = TestApp::ready(TestApp::spawn_with_prefix(&toml, prefix.clone()).await).await;
    let nats = async_nats::connect("127.0.0.1:4222").await.unwrap();
    let mut sub = nats.subscribe(format!("{prefix}.events.ops.alert")).await.unwrap();
    nats.flush().await.unwrap();
    sms(&a, "SMsurge1", "+14155550301", "hello").await;
    sms(&b, "SMsurge1", "+14155550301", "hello").await;
    sms(&b, "SMsurge2", "+14155550302", "hello").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        snapshot(&a).await["alerts"].as_array().unwrap().is_empty(),
        "a new deployment judges no surge before it has counted a whole baseline"
    );
    // As if the deployment had been evaluating for two hours already.
    let redis = redis::Client::open("redis://127.0.0.1:6379").unwrap();
    let mut conn = redis.get_multiplexed_async_connection().await.unwrap();
    let started = chrono::Utc::now().timestamp_millis() - 2 * 3_600_000;
    let _: () = redis::cmd("SET").arg(format!("{{{prefix}}}:alerts:since")).arg(started).query_async(&mut conn).await.unwrap();
    let surge = wait_until(WAIT, || async {
        let s = snapshot(&a).await;
        s["alerts"].as_array().unwrap().iter().find(|a| a["alert"] == "inbound_surge").cloned()
    })
    .await
    .expect("the surge fires");
    assert_eq!((surge["scope"].as_str(), surge["figure"].as_f64(), surge["threshold"].as_f64()), (Some("all"), Some(0.4), Some(0.4)));
    // Several evaluations by both replicas while it lasts.
    tokio::time::sleep(Duration::from_secs(3)).await;

    // The hour before turns out busy (as if the floor had been at 10 a
    // minute): 0.4 a minute is no surge against that, and it resolves.
    let minute = chrono::Utc::now().timestamp() / 60 - 30;
    let _: () = redis::cmd("SET").arg(format!("{{{prefix}}}:inbound:{minute}")).arg(600).arg("EX").arg(3600).query_async(&mut conn).await.unwrap();
    let resolved = wait_until(WAIT, || async { snapshot(&b).await["alerts"].as_array().unwrap().is_empty().then_some(()) }).await;
    assert!(resolved.is_some(), "the surge resolves against the busier baseline");
    tokio::time::sleep(Duration::from_secs(3)).await;

    let mut events = Vec::new();
    while let Ok(Some(msg)) = tokio::time::timeout(Duration::from_millis(500), sub.next()).await {
        events.push(serde_json::from_slice::<Value>(&msg.payload).unwrap());
    }
    let seen: Vec<(&str, &str)> = events
        .iter()
        .map(|e| (e["data"]["alert"]["alert"].as_str().unwrap(), e["data"]["alert"]["state"].as_str().unwrap()))
        .collect();
    assert_eq!(seen, [("inbound_surge", "firing"), ("inbound_surge", "resolved")], "{events:?}");
    assert_eq!(events[1]["data"]["alert"]["since"], events[0]["data"]["alert"]["since"], "the resolution names the firing it ends");
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn the_stream_outlives_the_request_timeout_and_keeps_sending() {
    let loader = switchboard::config::Loader::new().without_env().overlay(config("[supervisor]\nstream_every_secs = 1\n"));
    let toml = "[server]\nrequest_timeout_secs = 1\nbody_read_timeout_secs = 1\n";
    let app = TestApp::ready(TestApp::spawn_loader(loader, toml, unique_prefix()).await).await;
    let mut resp = reqwest::Client::new().get(app.url("/api/v1/supervisor/stream")).bearer_auth("sup-secret").send().await.unwrap();
    let mut text = String::new();
    let events = tokio::time::timeout(WAIT, async {
        while let Ok(Some(chunk)) = resp.chunk().await {
            text.push_str(&String::from_utf8_lossy(&chunk));
            if text.matches("event: snapshot").count() >= 4 {
                break;
            }
        }
        text.matches("event: snapshot").count()
    })
    .await;
    assert_eq!(events, Ok(4), "a stream open 3 s past a 1 s request timeout: {text}");
    app.stop().await;
}
