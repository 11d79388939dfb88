//! SMS beyond the happy path: delivery status callbacks (out of order,
//! never backwards, failures reach the agent), opt-out keywords, and a
//! permanent provider refusal.

use std::time::Duration;

use redis::AsyncCommands;
use serde_json::Value;

use crate::support::{form, twilio_signature, wait_until, FakePeer, TestApp};

const TOKEN: &str = "twilio-test-token";
const WAIT: Duration = Duration::from_secs(15);

fn config(twilio: &FakePeer, hook: &FakePeer) -> String {
    format!(
        r#"
        [server]
        admin_token = "admin-secret"
        [outbound]
        base_delay_ms = 10
        [channels.sms.shop]
        account_sid = "AC0123456789abcdef0123456789abcdef"
        auth_token = "{TOKEN}"
        from = "+15005550006"
        api_base = "{twilio}"
        [agents.alice]
        token = "alice-token"
        capacity = {{ sms = 4 }}
        deliver = [ {{ kind = "webhook", url = "{hook}/hook", secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" }} ]
        "#,
        twilio = twilio.base(),
        hook = hook.base(),
    )
}

async fn signed_post(url: &str, params: &[(&str, &str)]) -> u16 {
    reqwest::Client::new()
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-twilio-signature", twilio_signature(TOKEN, url, params))
        .body(form(params))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn inbound(app: &TestApp, sid: &str, body: &str) {
    let params =
        [("MessageSid", sid), ("From", "+14155550123"), ("To", "+15005550006"), ("Body", body), ("NumMedia", "0")];
    assert_eq!(signed_post(&app.url("/webhooks/sms/shop"), &params).await, 200);
}

async fn reply(app: &TestApp, conv: &str, text: &str) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(app.url(&format!("/api/v1/conversations/{conv}/reply")))
        .bearer_auth("alice-token")
        .json(&serde_json::json!({ "text": text }))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

async fn delivery(app: &TestApp, outbound: &str) -> Option<String> {
    let client = redis::Client::open("redis://127.0.0.1:6379").unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    c.hget(format!("{{{}}}:outbound:{outbound}", app.prefix), "delivery").await.unwrap()
}

/// How many providers' notices the router has applied (`/metrics`).
async fn notices_applied(app: &TestApp) -> u64 {
    let text = reqwest::get(app.url("/metrics")).await.unwrap().text().await.unwrap();
    text.lines()
        .filter(|l| l.starts_with("switchboard_notices_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// Waits until the router has applied `n` notices: a status callback is
/// answered once it is on the bus, and recorded just after.
async fn wait_notices(app: &TestApp, n: u64) {
    let done = wait_until(WAIT, || async { (notices_applied(app).await >= n).then_some(()) }).await;
    assert!(done.is_some(), "{n} notices applied; {} so far", notices_applied(app).await);
}

#[tokio::test]
async fn status_callbacks_never_move_backwards_and_failures_reach_the_agent() {
    let twilio = FakePeer::start(vec![(201, vec![], r#"{"sid":"SMo","status":"queued"}"#.into())]).await;
    let hook = FakePeer::start(vec![(200, vec![], String::new())]).await;
    let app = TestApp::spawn_ready(&config(&twilio, &hook)).await;
    inbound(&app, "SMin1", "hello").await;
    let assigned = hook.wait_event(|e| e["type"] == "switchboard.conversation.assigned").await;
    let conv = assigned["data"]["conversation_id"].as_str().unwrap().to_owned();

    let (status, first) = reply(&app, &conv, "one").await;
    assert_eq!(status, 202);
    let first = first["id"].as_str().unwrap().to_owned();
    let sent = twilio.wait_for(1, WAIT).await;
    let callback = sent[0].form_value("StatusCallback").unwrap();
    assert!(callback.ends_with(&format!("?outbound={first}")));

    let cb = |status: &'static str| vec![("MessageSid", "SMo"), ("MessageStatus", status), ("AccountSid", "AC0")];
    assert_eq!(signed_post(&callback, &cb("sent")).await, 204);
    assert_eq!(signed_post(&callback, &cb("delivered")).await, 204);
    wait_notices(&app, 2).await;
    assert_eq!(delivery(&app, &first).await.as_deref(), Some("delivered"));
    // A late `sent` and a later `undelivered` do not overwrite `delivered`.
    assert_eq!(signed_post(&callback, &cb("sent")).await, 204);
    assert_eq!(signed_post(&callback, &[("MessageSid", "SMo"), ("MessageStatus", "undelivered"), ("ErrorCode", "30003")]).await, 204);
    // (The late `sent` is the first one again to the bus, which drops it.)
    wait_notices(&app, 3).await;
    assert_eq!(delivery(&app, &first).await.as_deref(), Some("delivered"));
    // Unsigned or wrongly signed callbacks are refused.
    let r = reqwest::Client::new().post(&callback).body(form(&cb("failed"))).send().await.unwrap();
    assert_eq!(r.status(), 403);

    // A second reply fails at the carrier: the agent is told, with the code.
    let (_, second) = reply(&app, &conv, "two").await;
    let second = second["id"].as_str().unwrap().to_owned();
    let sent = twilio.wait_for(2, WAIT).await;
    let callback2 = sent[1].form_value("StatusCallback").unwrap();
    assert!(callback2.ends_with(&second));
    assert_eq!(signed_post(&callback2, &[("MessageSid", "SMo2"), ("MessageStatus", "undelivered"), ("ErrorCode", "30003")]).await, 204);
    let failed = hook.wait_event(|e| e["type"] == "switchboard.conversation.send_failed").await;
    assert_eq!(failed["data"]["conversation_id"], conv.as_str());
    assert_eq!(failed["data"]["agent"], "alice");
    assert_eq!(failed["data"]["message"]["id"], second.as_str());
    assert!(failed["data"]["error"].as_str().unwrap().contains("30003"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let failures = hook.events().iter().filter(|e| e["type"] == "switchboard.conversation.send_failed").count();
    assert_eq!(failures, 1, "the delivered first reply raised no failure");
    app.stop().await;
}

#[tokio::test]
async fn opted_out_numbers_are_never_sent_to() {
    let twilio = FakePeer::start(vec![(201, vec![], r#"{"sid":"SMo","status":"queued"}"#.into())]).await;
    let hook = FakePeer::start(vec![(200, vec![], String::new())]).await;
    let app = TestApp::spawn_ready(&config(&twilio, &hook)).await;
    inbound(&app, "SMa", "  Stop ").await;
    let assigned = hook.wait_event(|e| e["type"] == "switchboard.conversation.assigned").await;
    let conv = assigned["data"]["conversation_id"].as_str().unwrap().to_owned();
    let (status, err) = reply(&app, &conv, "are you sure?").await;
    assert_eq!(status, 409);
    assert_eq!(err["error"]["code"], "opted_out");

    // A reply that reaches the sender anyway (accepted just before STOP)
    // is refused there with an event, never sent.
    let out = serde_json::json!({
        "id": "01J0OUT0000000000000000000", "conversation_id": conv, "channel": "sms", "account": "shop",
        "to": "+14155550123", "text": "late", "agent": "alice", "created_at": "2026-11-23T10:00:00Z"
    });
    let nats = async_nats::connect("nats://127.0.0.1:4222").await.unwrap();
    let js = async_nats::jetstream::new(nats);
    js.publish(format!("{}.outbound.sms", app.prefix), out.to_string().into()).await.unwrap().await.unwrap();
    let failed = hook.wait_event(|e| e["type"] == "switchboard.conversation.send_failed").await;
    assert!(failed["data"]["error"].as_str().unwrap().contains("opted out"));
    assert!(twilio.seen().is_empty());

    // START opts back in.
    inbound(&app, "SMb", "start").await;
    let back = wait_until(WAIT, || async { (reply(&app, &conv, "welcome back").await.0 == 202).then_some(()) }).await;
    assert!(back.is_some());
    let sent = twilio.wait_for(1, WAIT).await;
    assert_eq!(sent[0].form_value("Body").as_deref(), Some("welcome back"));
    app.stop().await;
}

#[tokio::test]
async fn a_permanent_refusal_becomes_a_failure_event_without_retries() {
    let refusal = r#"{"code":21211,"message":"Invalid 'To' Phone Number","status":400}"#;
    let twilio = FakePeer::start(vec![(400, vec![], refusal.into())]).await;
    let hook = FakePeer::start(vec![(200, vec![], String::new())]).await;
    let app = TestApp::spawn_ready(&config(&twilio, &hook)).await;
    inbound(&app, "SMp", "hi").await;
    let assigned = hook.wait_event(|e| e["type"] == "switchboard.conversation.assigned").await;
    let conv = assigned["data"]["conversation_id"].as_str().unwrap().to_owned();
    assert_eq!(reply(&app, &conv, "hello").await.0, 202);
    let failed = hook.wait_event(|e| e["type"] == "switchboard.conversation.send_failed").await;
    assert!(failed["data"]["error"].as_str().unwrap().contains("21211"));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(twilio.seen().len(), 1, "a permanent refusal is not retried");
    app.stop().await;
}
