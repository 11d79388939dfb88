//! Quiet conversations: an agent's reply left unanswered for
//! `routing.pending_after_secs` stops counting toward the agent's capacity
//! (a waiting conversation takes the place; the customer's next message
//! counts it again, over capacity for a moment), and after
//! `routing.auto_close_after_secs` it resolves with reason `inactive`, the
//! closing reply sent and the capacity given to whoever waits.

use std::time::Duration;

use serde_json::Value;

use crate::support::{admin_get as get, sms, wait_until, FakePeer, TestApp};

const WAIT: Duration = Duration::from_secs(15);

fn config(twilio: &FakePeer, hook: &FakePeer, routing: &str) -> String {
    format!(
        r#"
        [server]
        admin_token = "admin-secret"
        [outbound]
        base_delay_ms = 10
        [routing]
        {routing}
        [channels.sms.shop]
        account_sid = "AC0123456789abcdef0123456789abcdef"
        auth_token = "twilio-test-token"
        from = "+15005550006"
        api_base = "{twilio}"
        [agents.alice]
        token = "alice-token"
        capacity = {{ sms = 1 }}
        deliver = [ {{ kind = "webhook", url = "{hook}/alice", secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" }} ]
        "#,
        twilio = twilio.base(),
        hook = hook.base(),
    )
}

/// The conversation of `address` (the newest), once routed.
async fn conversation_of(app: &TestApp, address: &str) -> Value {
    wait_until(WAIT, || async {
        let v = get(app, "/api/v1/conversations").await;
        v["conversations"].as_array()?.iter().find(|c| c["address"] == address).cloned()
    })
    .await
    .expect("the conversation is routed")
}

async fn until(app: &TestApp, id: &str, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    wait_until(WAIT, || async {
        let c = get(app, &format!("/api/v1/conversations/{id}")).await["conversation"].clone();
        pred(&c).then_some(c)
    })
    .await
    .unwrap_or_else(|| panic!("{what}"))
}

async fn reply(app: &TestApp, id: &str, text: &str) {
    let r = reqwest::Client::new()
        .post(app.url(&format!("/api/v1/conversations/{id}/reply")))
        .bearer_auth("alice-token")
        .json(&serde_json::json!({ "text": text }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
}

async fn alices_load(app: &TestApp) -> Value {
    get(app, "/api/v1/admin/stats").await["agents"]["alice"]["load"].clone()
}

#[tokio::test]
async fn a_pending_conversation_frees_capacity_until_the_customer_writes_again() {
    let twilio = FakePeer::start(vec![(201, vec![], "{}".into())]).await;
    let hook = FakePeer::start(vec![(200, vec![], String::new())]).await;
    let app = TestApp::spawn_ready(&config(&twilio, &hook, "pending_after_secs = 1")).await;

    sms(&app, "SMquiet000000000000000000000001", "+14155550201", "Where is my order?").await;
    let a = conversation_of(&app, "+14155550201").await["id"].as_str().unwrap().to_owned();
    until(&app, &a, "alice has the first", |c| c["agent"] == "alice").await;
    sms(&app, "SMquiet000000000000000000000002", "+14155550202", "Hello?").await;
    let b = conversation_of(&app, "+14155550202").await;
    assert_eq!(b["state"], "queued", "alice is full: {b}");
    let b = b["id"].as_str().unwrap().to_owned();

    // Alice answers; unanswered for a second, it stops counting and the waiting one is placed.
    reply(&app, &a, "It ships today").await;
    let placed = until(&app, &b, "the waiting conversation is placed", |c| c["agent"] == "alice").await;
    assert_eq!(placed["state"], "assigned");
    let pending = until(&app, &a, "the first is pending", |c| c["pending_since"].is_string()).await;
    assert_eq!(pending["agent"], "alice", "it stays alice's: {pending}");
    assert_eq!(pending["state"], "waiting");
    assert_eq!(alices_load(&app).await, 1, "only the placed one counts");

    // The customer writes again: it counts again, over capacity for a moment.
    sms(&app, "SMquiet000000000000000000000003", "+14155550201", "Thanks, which carrier?").await;
    let back = until(&app, &a, "the customer's message counts it again", |c| c["pending_since"].is_null()).await;
    assert_eq!(back["state"], "assigned");
    assert_eq!(back["agent"], "alice");
    assert_eq!(alices_load(&app).await, 2, "over capacity for a moment");
    // Nothing new while over: a third customer waits.
    sms(&app, "SMquiet000000000000000000000004", "+14155550203", "Hi").await;
    let c = conversation_of(&app, "+14155550203").await;
    assert_eq!(c["state"], "queued", "{c}");
    app.stop().await;
}

#[tokio::test]
async fn a_quiet_conversation_auto_closes_and_its_agent_takes_the_next_waiting_one() {
    let twilio = FakePeer::start(vec![(201, vec![], "{}".into())]).await;
    let hook = FakePeer::start(vec![(200, vec![], String::new())]).await;
    let routing = r#"auto_close_after_secs = 2
        auto_close_reply = { en = "We are closing this chat; write again any time.", zh = "本次会话已结束。" }"#;
    let app = TestApp::spawn_ready(&config(&twilio, &hook, routing)).await;

    sms(&app, "SMquiet000000000000000000000011", "+14155550211", "Where is my order?").await;
    let a = conversation_of(&app, "+14155550211").await["id"].as_str().unwrap().to_owned();
    until(&app, &a, "alice has the first", |c| c["agent"] == "alice").await;
    sms(&app, "SMquiet000000000000000000000012", "+14155550212", "Hello?").await;
    let b = conversation_of(&app, "+14155550212").await;
    assert_eq!(b["state"], "queued");
    let b = b["id"].as_str().unwrap().to_owned();
    reply(&app, &a, "It ships today").await;

    let closed = until(&app, &a, "the quiet conversation auto-closes", |c| c["state"] == "resolved").await;
    assert_eq!(closed["resolved_by"], "inactive", "{closed}");
    let event = hook.wait_event(|e| e["type"] == "switchboard.conversation.resolved" && e["data"]["conversation_id"] == a.as_str()).await;
    assert_eq!(event["data"]["reason"], "inactive", "{event}");
    let placed = until(&app, &b, "the waiting conversation takes the freed place", |c| c["agent"] == "alice").await;
    assert_eq!(placed["state"], "assigned");
    let closing = wait_until(WAIT, || {
        let bodies: Vec<String> = twilio.seen().iter().filter(|r| r.form_value("To").as_deref() == Some("+14155550211")).filter_map(|r| r.form_value("Body")).collect();
        async move { bodies.iter().any(|t| t.starts_with("We are closing")).then_some(bodies) }
    })
    .await
    .expect("the closing reply reached the customer");
    assert_eq!(closing.iter().filter(|t| t.starts_with("We are closing")).count(), 1, "once: {closing:?}");

    // A later message reopens it as after any resolve.
    sms(&app, "SMquiet000000000000000000000013", "+14155550211", "One more question").await;
    let reopened = until(&app, &a, "a later message reopens", |c| c["reopen_count"] == 1).await;
    assert_ne!(reopened["state"], "resolved");
    app.stop().await;
}
