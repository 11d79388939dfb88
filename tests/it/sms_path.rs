//! The foundation path, end to end: signed SMS webhook → JetStream →
//! router → Redis → assigned event on NATS and at the agent's signed
//! webhook → agent reply through the API → fake Twilio Messages API.

use std::time::Duration;

use base64::Engine;
use futures::StreamExt;
use hmac::Mac;
use serde_json::Value;

use crate::support::{form, twilio_signature, FakePeer, TestApp};

const TOKEN: &str = "twilio-test-token";
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const WAIT: Duration = Duration::from_secs(15);

fn config(twilio: &FakePeer, hook: &FakePeer) -> String {
    format!(
        r#"
        [server]
        admin_token = "admin-secret"
        [outbound]
        base_delay_ms = 10
        max_delay_ms = 2000
        [channels.sms.shop]
        account_sid = "AC0123456789abcdef0123456789abcdef"
        auth_token = "{TOKEN}"
        from = "+15005550006"
        api_base = "{twilio}"
        [agents.alice]
        token = "alice-token"
        capacity = {{ sms = 4 }}
        deliver = [ {{ kind = "webhook", url = "{hook}/hook", secret = "{SECRET}" }}, {{ kind = "nats" }} ]
        [agents.bob]
        token = "bob-token"
        capacity = {{ sms = 0, chat = 2 }}
        "#,
        twilio = twilio.base(),
        hook = hook.base(),
    )
}

fn sms<'a>(sid: &'a str, body: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("MessageSid", sid),
        ("AccountSid", "AC0123456789abcdef0123456789abcdef"),
        ("From", "+14155550100"),
        ("To", "+15005550006"),
        ("Body", body),
        ("NumMedia", "0"),
        ("SmsStatus", "received"),
    ]
}

async fn post_sms(app: &TestApp, params: &[(&str, &str)]) -> reqwest::Response {
    let url = app.url("/webhooks/sms/shop");
    reqwest::Client::new()
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-twilio-signature", twilio_signature(TOKEN, &url, params))
        .body(form(params))
        .send()
        .await
        .unwrap()
}

async fn get_json(app: &TestApp, path: &str, token: &str) -> (u16, Value) {
    let r = reqwest::Client::new().get(app.url(path)).bearer_auth(token).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

fn inbound_count(conv: &Value) -> usize {
    conv["messages"].as_array().unwrap().iter().filter(|m| m["direction"] == "inbound").count()
}

/// Verifies a Standard Webhooks request independently of the daemon's code.
fn verify_standard_webhook(req: &crate::support::Recorded) {
    let id = req.header("webhook-id");
    let ts = req.header("webhook-timestamp");
    let key = base64::engine::general_purpose::STANDARD.decode(SECRET.trim_start_matches("whsec_")).unwrap();
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{ts}.").as_bytes());
    mac.update(&req.body);
    let expected = format!("v1,{}", base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes()));
    assert!(!id.is_empty());
    assert!((chrono::Utc::now().timestamp() - ts.parse::<i64>().unwrap()).abs() < 60);
    assert!(req.header("webhook-signature").split(' ').any(|s| s == expected), "signature mismatch");
}

#[tokio::test]
async fn sms_to_agent_and_reply_back() {
    let twilio = FakePeer::start(vec![(201, vec![], r#"{"sid":"SMout1","status":"queued"}"#.into())]).await;
    let hook = FakePeer::start(vec![(200, vec![], String::new())]).await;
    let app = TestApp::spawn_ready(&config(&twilio, &hook)).await;
    let nats = async_nats::connect(&app.settings.nats.url).await.unwrap();
    let mut agent_sub = nats.subscribe(format!("{}.agent.alice", app.prefix)).await.unwrap();

    // 1-2: signed webhook, answered with empty TwiML after the publish ack.
    let resp = post_sms(&app, &sms("SM00000000000000000000000000000001", "Where is my order?")).await;
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/xml"));
    assert_eq!(resp.text().await.unwrap(), r#"<?xml version="1.0" encoding="UTF-8"?><Response/>"#);

    // 3-4: assigned to alice (bob has no SMS capacity), signed webhook delivered.
    let seen = hook.wait_for(1, WAIT).await;
    let req = &seen[0];
    assert_eq!(req.uri.path(), "/hook");
    verify_standard_webhook(req);
    let event: Value = serde_json::from_slice(&req.body).unwrap();
    assert_eq!(event["specversion"], "1.0");
    assert_eq!(event["type"], "switchboard.conversation.assigned");
    assert_eq!(event["data"]["agent"], "alice");
    assert_eq!(event["data"]["channel"], "sms");
    assert_eq!(event["data"]["customer"]["address"], "+14155550100");
    assert_eq!(event["data"]["message"]["text"], "Where is my order?");
    let candidates = event["data"]["decision"]["candidates"].as_array().unwrap();
    assert_eq!(candidates.len(), 1, "bob has no SMS capacity and is not a candidate");
    assert_eq!(req.header("webhook-id"), event["id"].as_str().unwrap());
    let conv_id = event["data"]["conversation_id"].as_str().unwrap().to_owned();

    let on_nats = tokio::time::timeout(WAIT, agent_sub.next()).await.unwrap().unwrap();
    let nats_event: Value = serde_json::from_slice(&on_nats.payload).unwrap();
    assert_eq!(nats_event["id"], event["id"]);

    // The conversation is in Redis, visible to alice, not to bob.
    let (status, conv) = get_json(&app, &format!("/api/v1/conversations/{conv_id}"), "alice-token").await;
    assert_eq!(status, 200);
    assert_eq!(conv["conversation"]["state"], "assigned");
    assert_eq!(inbound_count(&conv), 1);
    let (status, err) = get_json(&app, &format!("/api/v1/conversations/{conv_id}"), "bob-token").await;
    assert_eq!(status, 403);
    assert_eq!(err["error"]["code"], "forbidden");

    // The same MessageSid again (a provider retry) → still one message.
    let resp = post_sms(&app, &sms("SM00000000000000000000000000000001", "Where is my order?")).await;
    assert_eq!(resp.status(), 200);
    // A new message continues the same conversation.
    let resp = post_sms(&app, &sms("SM00000000000000000000000000000002", "Order 1234")).await;
    assert_eq!(resp.status(), 200);
    let conv = crate::support::wait_until(WAIT, || async {
        let (_, c) = get_json(&app, &format!("/api/v1/conversations/{conv_id}"), "alice-token").await;
        (inbound_count(&c) >= 2).then_some(c)
    })
    .await
    .expect("second message joins the conversation");
    assert_eq!(inbound_count(&conv), 2);

    // 5: alice replies; the fake Messages API gets it with Basic auth.
    let bob_reply = reqwest::Client::new()
        .post(app.url(&format!("/api/v1/conversations/{conv_id}/reply")))
        .bearer_auth("bob-token")
        .json(&serde_json::json!({"text": "not mine"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bob_reply.status(), 403);
    let resp = reqwest::Client::new()
        .post(app.url(&format!("/api/v1/conversations/{conv_id}/reply")))
        .bearer_auth("alice-token")
        .json(&serde_json::json!({"text": "It ships today."}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    let resp_json: Value = resp.json().await.unwrap();
    let sent = twilio.wait_for(1, WAIT).await;
    let req = &sent[0];
    assert_eq!(req.method, "POST");
    assert_eq!(req.uri.path(), "/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages.json");
    let basic = base64::engine::general_purpose::STANDARD
        .encode(format!("AC0123456789abcdef0123456789abcdef:{TOKEN}"));
    assert_eq!(req.header("authorization"), format!("Basic {basic}"));
    assert_eq!(req.form_value("To").as_deref(), Some("+14155550100"));
    assert_eq!(req.form_value("From").as_deref(), Some("+15005550006"));
    assert_eq!(req.form_value("Body").as_deref(), Some("It ships today."));
    let reply_id: Value = resp_json.clone();
    assert_eq!(
        req.form_value("StatusCallback"),
        Some(app.url(&format!("/webhooks/sms/shop/status?outbound={}", reply_id["id"].as_str().unwrap())))
    );
    // Nothing is sent twice.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(twilio.seen().len(), 1);
    let (_, conv) = get_json(&app, &format!("/api/v1/conversations/{conv_id}"), "admin-secret").await;
    assert_eq!(conv["conversation"]["state"], "waiting");
    app.stop().await;
}

#[tokio::test]
async fn bad_webhooks_are_refused_and_never_published() {
    let twilio = FakePeer::start(vec![(201, vec![], "{}".into())]).await;
    let hook = FakePeer::start(vec![(200, vec![], String::new())]).await;
    let app = TestApp::spawn_ready(&config(&twilio, &hook)).await;
    let url = app.url("/webhooks/sms/shop");
    let client = reqwest::Client::new();
    let params = sms("SM00000000000000000000000000000009", "hello");

    // Wrong signature (signed with another token) → 403.
    let r = client
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-twilio-signature", twilio_signature("other", &url, &params))
        .body(form(&params))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // Tampered body with the original signature → 403.
    let mut tampered = params.clone();
    tampered[4] = ("Body", "hello!");
    let r = client
        .post(&url)
        .header("x-twilio-signature", twilio_signature(TOKEN, &url, &params))
        .body(form(&tampered))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // No signature → 403.
    let r = client.post(&url).body(form(&params)).send().await.unwrap();
    assert_eq!(r.status(), 403);
    // Malformed form (bad percent-escape), correctly signed over nothing → 400.
    let r = client.post(&url).header("x-twilio-signature", "x").body("Body=%ZZ&From=%").send().await.unwrap();
    assert_eq!(r.status(), 400);
    // Signed but missing From → 400.
    let missing: Vec<_> = params.iter().copied().filter(|(k, _)| *k != "From").collect();
    let r = client
        .post(&url)
        .header("x-twilio-signature", twilio_signature(TOKEN, &url, &missing))
        .body(form(&missing))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // Over the size cap → 413.
    let r = client.post(&url).body(vec![b'a'; 2 << 20]).send().await.unwrap();
    assert_eq!(r.status(), 413);
    // Unknown account → 404.
    let r = client.post(app.url("/webhooks/sms/nope")).body(form(&params)).send().await.unwrap();
    assert_eq!(r.status(), 404);

    // Nothing reached the agent.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(hook.seen().is_empty());
    let metrics = client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("switchboard_ingress_messages_total{channel=\"sms\",account=\"shop\",outcome=\"rejected\"}"));
    app.stop().await;
}

#[tokio::test]
async fn a_redelivered_inbound_message_is_routed_once() {
    let twilio = FakePeer::start(vec![(201, vec![], "{}".into())]).await;
    let hook = FakePeer::start(vec![(200, vec![], String::new())]).await;
    let app = TestApp::spawn_ready(&config(&twilio, &hook)).await;
    let nats = async_nats::connect(&app.settings.nats.url).await.unwrap();
    let js = async_nats::jetstream::new(nats);
    // The same provider message published twice under different JetStream
    // ids, as after a crash between routing and ack: only Redis can tell.
    let msg = serde_json::json!({
        "id": "01J00000000000000000000000", "channel": "sms", "account": "shop",
        "provider_message_id": "SMdup", "customer": "+14155550199", "text": "hi",
        "received_at": "2026-11-23T10:00:00Z", "metadata": {}
    });
    for n in 0..2 {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", format!("attempt-{n}").as_str());
        js.publish_with_headers(format!("{}.inbound.sms", app.prefix), headers, msg.to_string().into())
            .await
            .unwrap()
            .await
            .unwrap();
    }
    let seen = hook.wait_for(1, WAIT).await;
    let event: Value = serde_json::from_slice(&seen[0].body).unwrap();
    let conv_id = event["data"]["conversation_id"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_millis(700)).await;
    let (_, conv) = get_json(&app, &format!("/api/v1/conversations/{conv_id}"), "admin-secret").await;
    assert_eq!(inbound_count(&conv), 1);
    assert_eq!(hook.seen().len(), 1, "the agent is told once");
    // An undecodable message is terminated, not retried forever.
    js.publish(format!("{}.inbound.sms", app.prefix), "not json".into()).await.unwrap().await.unwrap();
    let metrics = crate::support::wait_until(WAIT, || async {
        let m = reqwest::get(app.url("/metrics")).await.ok()?.text().await.ok()?;
        m.contains("switchboard_poison_messages_total{stage=\"router\"} 1").then_some(m)
    })
    .await;
    assert!(metrics.is_some());
    app.stop().await;
}
