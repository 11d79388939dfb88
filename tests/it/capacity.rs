//! Capacity: a full agent leaves conversations waiting; resolving frees
//! the capacity and the oldest waiting conversation is assigned at once;
//! an agent turning available takes what waits.

use std::time::Duration;

use serde_json::Value;

use crate::support::{sms, FakePeer, TestApp};

const TOKEN: &str = "twilio-test-token";

async fn post(app: &TestApp, path: &str, token: &str, body: Value) -> u16 {
    reqwest::Client::new().request(if path.ends_with("/status") { reqwest::Method::PUT } else { reqwest::Method::POST }, app.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn freed_capacity_is_taken_at_once() {
    let twilio = FakePeer::start(vec![(201, vec![], "{}".into())]).await;
    let hook = FakePeer::start(vec![(200, vec![], String::new())]).await;
    let hook_url = format!("{}/hook", hook.base());
    let app = TestApp::spawn_ready(&format!(
        r#"
        [server]
        admin_token = "admin-secret"
        [routing]
        reopen_window_secs = 0
        [channels.sms.shop]
        account_sid = "AC0123456789abcdef0123456789abcdef"
        auth_token = "{TOKEN}"
        from = "+15005550006"
        api_base = "{twilio}"
        [agents.alice]
        token = "alice-token"
        capacity = {{ sms = 1 }}
        deliver = [ {{ kind = "webhook", url = "{hook_url}", secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" }} ]
        [agents.bob]
        token = "bob-token"
        status = "away"
        capacity = {{ sms = 1 }}
        deliver = [ {{ kind = "webhook", url = "{hook_url}", secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" }} ]
        "#,
        twilio = twilio.base()
    ))
    .await;

    sms(&app, "SM1", "+14155550001", "hello").await;
    let first = hook.wait_event(|e| e["type"] == "switchboard.conversation.assigned").await;
    assert_eq!(first["data"]["agent"], "alice");
    let first_conv = first["data"]["conversation_id"].as_str().unwrap().to_owned();
    // Alice is full and Bob away: the second and third customers wait.
    sms(&app, "SM2", "+14155550002", "hello").await;
    sms(&app, "SM3", "+14155550003", "hello").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let queued: Vec<Value> = hook
        .seen()
        .iter()
        .map(|r| serde_json::from_slice::<Value>(&r.body).unwrap())
        .filter(|e| e["type"] == "switchboard.conversation.queued")
        .collect();
    assert!(queued.is_empty(), "queued events go to the queue subject, not an agent's webhook");

    // Alice resolves: the oldest waiting conversation (the second) is hers.
    assert_eq!(post(&app, &format!("/api/v1/conversations/{first_conv}/resolve"), "alice-token", Value::Null).await, 200);
    assert_eq!(post(&app, &format!("/api/v1/conversations/{first_conv}/resolve"), "alice-token", Value::Null).await, 409);
    let second = hook.wait_event(|e| {
        e["type"] == "switchboard.conversation.assigned" && e["data"]["customer"]["address"] == "+14155550002"
    })
    .await;
    assert_eq!(second["data"]["agent"], "alice");
    hook.wait_event(|e| e["type"] == "switchboard.conversation.resolved").await;

    // Bob comes back: he takes the third.
    assert_eq!(post(&app, "/api/v1/agents/bob/status", "bob-token", serde_json::json!({"status": "available"})).await, 200);
    let third = hook.wait_event(|e| {
        e["type"] == "switchboard.conversation.assigned" && e["data"]["customer"]["address"] == "+14155550003"
    })
    .await;
    assert_eq!(third["data"]["agent"], "bob");

    // Loads match open conversations.
    let alice: Value = reqwest::Client::new()
        .get(app.url("/api/v1/agents/alice/conversations"))
        .bearer_auth("alice-token")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(alice["state"]["load_by_channel"]["sms"], 1);
    assert_eq!(alice["conversations"].as_array().unwrap().len(), 1);
    // The first customer writes again: with no reopen window, a new
    // conversation (the old one stays resolved).
    sms(&app, "SM4", "+14155550001", "hello").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let c: Value = reqwest::Client::new()
        .get(app.url(&format!("/api/v1/conversations/{first_conv}")))
        .bearer_auth("admin-secret")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(c["conversation"]["state"], "resolved");
    assert_eq!(c["messages"].as_array().unwrap().len(), 1);
    app.stop().await;
}
