//! Delivery to agents' tools: Standard Webhooks signatures checked with the
//! reference implementation (the `standardwebhooks` crate) for every active
//! secret, retries on 5xx and 429 honouring Retry-After with a stable
//! webhook-id, 410 disabling the target with an event, the Slack format,
//! and dead letters listed, replayed and dropped through the admin API.

use std::time::Duration;

use futures::StreamExt;
use serde_json::Value;

use crate::support::{sms, FakePeer, TestApp};

const TOKEN: &str = "twilio-test-token";
const CURRENT: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const PREVIOUS: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";

fn config(deliver: &str) -> String {
    format!(
        r#"
        [server]
        admin_token = "admin-secret"
        [nats]
        max_deliver = 2
        [delivery]
        max_attempts = 3
        base_delay_ms = 10
        max_delay_ms = 3000
        [channels.sms.shop]
        account_sid = "AC0123456789abcdef0123456789abcdef"
        auth_token = "{TOKEN}"
        from = "+15005550006"
        api_base = "http://127.0.0.1:9"
        [agents.alice]
        token = "alice-token"
        capacity = {{ sms = 5 }}
        deliver = [ {deliver} ]
        "#
    )
}

fn verify(secret: &str, r: &crate::support::Recorded) -> bool {
    let wh = standardwebhooks::Webhook::new(secret).unwrap();
    let mut headers = axum::http::HeaderMap::new();
    for name in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
        headers.insert(name, axum::http::HeaderValue::from_str(r.header(name)).unwrap());
    }
    wh.verify(&r.body, &headers).is_ok()
}

#[tokio::test]
async fn retries_honour_retry_after_and_every_active_secret_verifies() {
    let hook = FakePeer::start(vec![
        (500, vec![], String::new()),
        (429, vec![("retry-after".into(), "1".into())], String::new()),
        (200, vec![], String::new()),
    ])
    .await;
    let deliver = format!(
        r#"{{ kind = "webhook", url = "{}/hook", secret = "{CURRENT}", previous_secrets = ["{PREVIOUS}"] }}"#,
        hook.base()
    );
    let app = TestApp::spawn_ready(&config(&deliver)).await;
    sms(&app, "SM1", "+14155550001", "hello").await;
    let seen = hook.wait_for(3, Duration::from_secs(15)).await;
    let ids: Vec<&str> = seen.iter().map(|r| r.header("webhook-id")).collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "webhook-id is stable across retries: {ids:?}");
    for r in &seen {
        assert!(verify(CURRENT, r), "signed with the current secret");
        assert!(verify(PREVIOUS, r), "and with the one being rotated out");
        assert!(!verify("whsec_dGhpcyBpcyBub3QgdGhlIHNlY3JldA==", r));
        assert_eq!(r.header("webhook-signature").split(' ').count(), 2);
    }
    let gap = seen[2].at.duration_since(seen[1].at);
    assert!(gap >= Duration::from_millis(900), "Retry-After 1 s honoured, waited {gap:?}");
    let event: Value = serde_json::from_slice(&seen[2].body).unwrap();
    assert_eq!(event["type"], "switchboard.conversation.assigned");
    app.stop().await;
}

#[tokio::test]
async fn a_410_disables_the_target_with_an_event_and_slack_gets_blocks() {
    let gone = FakePeer::start(vec![(410, vec![], String::new())]).await;
    let slack = FakePeer::start(vec![(200, vec![], "ok".into())]).await;
    let deliver = format!(
        r#"{{ kind = "webhook", url = "{}/hook", secret = "{CURRENT}" }}, {{ kind = "slack", url = "{}/services/T0/B0/x" }}"#,
        gone.base(),
        slack.base()
    );
    let app = TestApp::spawn_ready(&config(&deliver)).await;
    let nats = async_nats::connect("127.0.0.1:4222").await.unwrap();
    let mut events = nats.subscribe(format!("{}.events.>", app.prefix)).await.unwrap();
    nats.flush().await.unwrap();
    sms(&app, "SM1", "+14155550001", "where is my order?").await;
    let disabled = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            let e: Value = serde_json::from_slice(&events.next().await.unwrap().payload).unwrap();
            if e["type"] == "switchboard.delivery.disabled" {
                return e;
            }
        }
    })
    .await
    .expect("a delivery.disabled event");
    assert_eq!(disabled["data"]["agent"], "alice");
    assert!(disabled["data"]["reason"].as_str().unwrap().contains("410"));
    // More events: Slack gets them, the disabled webhook nothing more.
    sms(&app, "SM2", "+14155550001", "hello again").await;
    let posts = slack.wait_for(3, Duration::from_secs(15)).await;
    // The first message's event and the `disabled` event it caused race to
    // Slack (they are of different scopes): find the message's.
    let body: Value = posts
        .iter()
        .map(|p| serde_json::from_slice::<Value>(&p.body).unwrap())
        .find(|b| b["text"].as_str().unwrap_or_default().contains("where is my order?"))
        .expect("the first message's event reached Slack");
    let blocks = body["blocks"].as_array().unwrap();
    assert_eq!(blocks[0]["type"], "header");
    assert!(body.to_string().contains("/accept"), "links to act through the API: {body}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(gone.seen().len(), 1, "a disabled target gets nothing more");
    app.stop().await;
}

#[tokio::test]
async fn dead_letters_are_listed_replayed_and_dropped_and_stats_show_the_floor() {
    let hook = FakePeer::start(vec![(500, vec![], String::new()), (500, vec![], String::new()), (200, vec![], String::new())]).await;
    let deliver = format!(r#"{{ kind = "webhook", url = "{}/hook", secret = "{CURRENT}" }}"#, hook.base());
    let app = TestApp::spawn_ready(&config(&deliver).replace("max_attempts = 3", "max_attempts = 1")).await;
    sms(&app, "SM1", "+14155550001", "hello").await;
    let client = reqwest::Client::new();
    let list = || client.get(app.url("/api/v1/admin/dead-letters")).bearer_auth("admin-secret").send();
    let listed = crate::support::wait_until(Duration::from_secs(15), || {
        let req = list();
        async move {
            let v: Value = req.await.ok()?.json().await.ok()?;
            (v["total"] == 1).then_some(v)
        }
    })
    .await
    .expect("the delivery is dead-lettered after nats.max_deliver");
    let letter = &listed["dead_letters"][0];
    assert_eq!(letter["target"], "alice#0");
    assert_eq!(letter["event"]["type"], "switchboard.conversation.assigned");
    assert!(letter["reason"].as_str().unwrap().contains("500"));
    let id = letter["id"].as_str().unwrap().to_owned();
    assert_eq!(client.get(app.url("/api/v1/admin/dead-letters")).bearer_auth("alice-token").send().await.unwrap().status(), 403);

    let replay = client.post(app.url(&format!("/api/v1/admin/dead-letters/{id}/replay"))).bearer_auth("admin-secret").send().await.unwrap();
    assert_eq!(replay.status(), 200);
    let seen = hook.seen();
    assert_eq!(seen.len(), 3);
    assert!(verify(CURRENT, &seen[2]));
    assert_eq!(seen[2].header("webhook-id"), seen[0].header("webhook-id"), "the replay is the same message");
    let after: Value = list().await.unwrap().json().await.unwrap();
    assert_eq!(after["total"], 0);
    let again = client.post(app.url(&format!("/api/v1/admin/dead-letters/{id}/replay"))).bearer_auth("admin-secret").send().await.unwrap();
    assert_eq!(again.status(), 404);
    let drop = client.delete(app.url(&format!("/api/v1/admin/dead-letters/{id}"))).bearer_auth("admin-secret").send().await.unwrap();
    assert_eq!(drop.status(), 404);

    let stats: Value = client.get(app.url("/api/v1/admin/stats")).bearer_auth("admin-secret").send().await.unwrap().json().await.unwrap();
    assert_eq!(stats["agents"]["alice"]["load_by_channel"]["sms"], 1, "{stats}");
    assert_eq!(stats["agents"]["alice"]["status"], "available");
    assert_eq!(stats["queues"]["general"]["waiting"], 0);
    assert_eq!(stats["dead_letters"], 0);
    app.stop().await;
}

#[tokio::test]
async fn a_conversations_events_reach_a_target_in_sequence_order_across_replicas() {
    let hook = FakePeer::start(vec![(200, vec![], String::new())]).await;
    let deliver = format!(r#"{{ kind = "webhook", url = "{}/hook", secret = "{CURRENT}" }}"#, hook.base());
    let config = config(&deliver).replace("[delivery]", "[delivery]\nworkers = 8");
    let prefix = crate::support::unique_prefix();
    let a = TestApp::ready(TestApp::spawn_with_prefix(&config, prefix.clone()).await).await;
    let b = TestApp::ready(TestApp::spawn_with_prefix(&config, prefix.clone()).await).await;
    let sends = (0..16).map(|i| {
        let app = if i % 2 == 0 { &a } else { &b };
        async move { crate::support::sms(app, &format!("SM{i}"), "+14155550001", &format!("message {i}")).await }
    });
    futures::future::join_all(sends).await;
    let received = hook.wait_for(16, Duration::from_secs(15)).await;
    let got: Vec<(String, u64)> = received
        .iter()
        .map(|r| {
            let e: Value = serde_json::from_slice(&r.body).unwrap();
            (e["subject"].as_str().unwrap().to_owned(), e["seq"].as_u64().unwrap())
        })
        .collect();
    // One conversation; its events numbered 1.. and received in that order,
    // whichever replica published or delivered each.
    assert!(got.iter().all(|(c, _)| *c == got[0].0), "{got:?}");
    let seqs: Vec<u64> = got.iter().map(|(_, s)| *s).collect();
    assert_eq!(seqs, (1..=16).collect::<Vec<u64>>(), "the target saw the conversation's events in sequence order");
    a.stop().await;
    b.stop().await;
}
