//! Messages too large for NATS (issue 15, defect 2): NATS drops the whole
//! connection when one message is over its `max_payload`, which failed
//! requests in flight on every channel. Oversized SMS must get a clear
//! 413, oversized email is cut to fit with a note, and concurrent valid
//! traffic is all answered 200 and routed.

use std::collections::HashSet;
use std::time::Duration;

use futures::StreamExt;
use serde_json::Value;

use crate::support::{form, twilio_signature, wait_until, TestApp, TWILIO_TOKEN};

const CONFIG: &str = r#"
[server]
admin_token = "admin-secret"
[channels.sms.shop]
account_sid = "AC0123456789abcdef0123456789abcdef"
auth_token = "twilio-test-token"
from = "+15005550006"
[channels.email.support]
address = "support@shop.example"
"#;

async fn post_sms(client: &reqwest::Client, app: &TestApp, sid: &str, from: &str, body: &str) -> (u16, String) {
    let url = app.url("/webhooks/sms/shop");
    let params = [("MessageSid", sid), ("From", from), ("To", "+15005550006"), ("Body", body)];
    let r = client
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-twilio-signature", twilio_signature(TWILIO_TOKEN, &url, &params))
        .body(form(&params))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test]
async fn oversized_messages_get_413_or_are_cut_and_never_disturb_valid_traffic() {
    let app = TestApp::spawn_ready(CONFIG).await;
    let nats = async_nats::connect("nats://127.0.0.1:4222").await.unwrap();
    let mut events = nats.subscribe(format!("{}.events.>", app.prefix)).await.unwrap();
    nats.flush().await.unwrap();
    let client = reqwest::Client::new();

    // About 900 KB of form (under server.max_body_bytes) that becomes 1.8 MB
    // of JSON (each %01 is \u0001): before the fix it reached NATS and
    // dropped the daemon's connection.
    let control = "\u{1}".repeat(300_000);
    // 600 KB of `"` as raw MIME: 1.2 MB once JSON-escaped.
    let quotes = format!(
        "From: Big <big@example.com>\r\nTo: support@shop.example\r\nSubject: quotes\r\nMessage-ID: <big-{}@example.com>\r\n\r\n{}\r\n",
        app.prefix,
        "\"".repeat(600_000)
    );

    let valid = 100;
    let mut tasks = Vec::new();
    for i in 0..valid {
        let (client, app) = (client.clone(), &app);
        tasks.push(async move { post_sms(&client, app, &format!("SMok{i}"), &format!("+1415555{i:04}"), "where is my order?").await });
    }
    let oversized = async {
        let mut answers = Vec::new();
        for i in 0..3 {
            answers.push(post_sms(&client, &app, &format!("SMbig{i}"), "+14155559999", &control).await);
            let r = client
                .post(app.url("/webhooks/email/support"))
                .header("content-type", "message/rfc822")
                .body(quotes.clone())
                .send()
                .await
                .unwrap();
            answers.push((r.status().as_u16(), r.text().await.unwrap()));
        }
        answers
    };
    let (answers, big) = futures::future::join(futures::future::join_all(tasks), oversized).await;

    for (status, body) in &answers {
        assert_eq!(*status, 200, "a valid SMS was disturbed: {body}");
    }
    for (i, (status, body)) in big.iter().enumerate() {
        if i % 2 == 0 {
            assert_eq!(*status, 413, "{body}");
            let json: Value = serde_json::from_str(body).unwrap();
            assert_eq!(json["error"]["code"], "too_large", "{body}");
        } else {
            // The same email three times: accepted each time (cut to fit).
            assert_eq!(*status, 200, "{body}");
        }
    }

    // Every valid SMS and the email were routed: one queued conversation each.
    let mut conversations = HashSet::new();
    let mut email = None;
    let done = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(m) = events.next().await {
            let e: Value = serde_json::from_slice(&m.payload).unwrap();
            if e["type"] == "switchboard.conversation.queued" {
                conversations.insert(e["data"]["conversation_id"].as_str().unwrap().to_owned());
                if e["data"]["channel"] == "email" {
                    email = Some(e.clone());
                }
            }
            if conversations.len() > valid {
                break;
            }
        }
    })
    .await;
    assert!(done.is_ok(), "routed {} of {} conversations", conversations.len(), valid + 1);

    // The email's text was cut, with the note.
    let conv = email.unwrap()["data"]["conversation_id"].as_str().unwrap().to_owned();
    let got = wait_until(Duration::from_secs(5), || {
        let req = client.get(app.url(&format!("/api/v1/conversations/{conv}"))).bearer_auth("admin-secret").send();
        async move { req.await.ok().filter(|r| r.status() == 200) }
    })
    .await;
    let body: Value = got.expect("the email's conversation").json().await.unwrap();
    let text = body.to_string();
    assert!(text.contains("message truncated"), "{}", &text[..text.len().min(400)]);
    app.stop().await;
}

#[tokio::test]
async fn a_body_over_the_webhook_cap_is_413_before_anything_else() {
    let app = TestApp::spawn_ready(CONFIG).await;
    let client = reqwest::Client::new();
    // 100 KB of text: over the 64 KiB cap of provider webhooks, with or
    // without a valid signature.
    let (status, body) = post_sms(&client, &app, "SMcap", "+14155550100", &"a".repeat(100_000)).await;
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("at most 65536"), "{body}");
    let (status, _) = post_sms(&client, &app, "SMfine", "+14155550101", &"a".repeat(1600)).await;
    assert_eq!(status, 200);
    app.stop().await;
}

#[tokio::test]
async fn an_outbox_entry_too_large_for_nats_is_dead_lettered_and_the_rest_published() {
    use switchboard::store::{EmitRequest, Store};
    let prefix = crate::support::unique_prefix();
    let app = TestApp::ready(
        TestApp::spawn_with_prefix("[server]\nadmin_token = \"admin-secret\"\n[outbox]\nrelay_after_ms = 100\nrelay_interval_ms = 50\n", prefix.clone())
            .await,
    )
    .await;
    let nats = async_nats::connect("nats://127.0.0.1:4222").await.unwrap();
    let mut events = nats.subscribe(format!("{prefix}.events.>")).await.unwrap();
    nats.flush().await.unwrap();
    let store = Store::new(&app.settings.redis).unwrap();
    let redis = redis::Client::open("redis://127.0.0.1:6379").unwrap();
    let mut c = redis.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("HSET")
        .arg(format!("{{{prefix}}}:conv:C1"))
        .arg(&["id", "C1", "state", "assigned", "channel", "sms", "account", "shop", "customer", "K1", "address", "+14155550001", "queue", "general", "agent", "alice"])
        .query_async(&mut c)
        .await
        .unwrap();
    // Left for the relay (nobody flushes them): a 2 MB event first, then a
    // small one of the same conversation, which must not wait behind it.
    let now = chrono::Utc::now().timestamp_millis();
    let big = format!(r#"{{"clock":"first_response","pad":"{}"}}"#, "x".repeat(2 << 20));
    let first = EmitRequest { event_type: "switchboard.sla.warning", conversation: "C1", cause: "big", sla: Some(big), ..Default::default() };
    let second = EmitRequest { event_type: "switchboard.sla.warning", conversation: "C1", cause: "small", sla: Some(r#"{"clock":"first_response"}"#.into()), ..Default::default() };
    store.emit(&first, now).await.unwrap().unwrap();
    store.emit(&second, now).await.unwrap().unwrap();
    let published = tokio::time::timeout(Duration::from_secs(15), async {
        while let Some(m) = events.next().await {
            let e: Value = serde_json::from_slice(&m.payload).unwrap();
            if e["id"] == "C1:2" {
                return e;
            }
        }
        Value::Null
    })
    .await
    .expect("the small event is published past the large one");
    assert_eq!(published["id"], "C1:2");
    let r = reqwest::Client::new().get(app.url("/api/v1/admin/dead-letters")).bearer_auth("admin-secret").send().await.unwrap();
    let body: Value = r.json().await.unwrap();
    let letters = body["dead_letters"].as_array().unwrap();
    let letter = letters.iter().find(|l| l["id"] == "outbox~C1:1").unwrap_or_else(|| panic!("{body:.300}"));
    assert!(letter["reason"].as_str().unwrap().contains("max_payload"), "{}", letter["reason"]);
    let ready = reqwest::get(app.url("/readyz")).await.unwrap().status();
    assert_eq!(ready, 200, "the NATS connection stayed up");
    app.stop().await;
}
