//! Customer data protection: a customer erased leaves nothing of theirs in
//! Redis or on the JetStream streams (their phone, email, texts), the open
//! conversation is withdrawn from its agent, a STOP stays honoured, a
//! second erase removes nothing; the export shows what the API shows.

use std::time::Duration;

use futures::{SinkExt, StreamExt, TryStreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message as Frame;

use crate::support::{sms, wait_until, FakePeer, TestApp};

const WAIT: Duration = Duration::from_secs(15);
const ADMIN: &str = "admin-secret";

fn config(twilio: &str) -> String {
    format!(
        r#"
        [server]
        admin_token = "{ADMIN}"
        [routing]
        reopen_window_secs = 0
        [channels.sms.shop]
        account_sid = "AC0123456789abcdef0123456789abcdef"
        auth_token = "twilio-test-token"
        from = "+15005550006"
        api_base = "{twilio}"
        [channels.webchat]
        session_secret = "a-session-secret-of-32-bytes!!!!"
        [agents.alice]
        token = "alice-token"
        capacity = {{ sms = 2, chat = 2 }}
        deliver = [ {{ kind = "nats" }} ]
        "#
    )
}

async fn api(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .request(method, app.url(path))
        .bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn get(app: &TestApp, path: &str, token: &str) -> (u16, Value) {
    api(app, reqwest::Method::GET, path, token, None).await
}

/// Alice's open conversations once there are `n`.
async fn alice_has(app: &TestApp, n: usize) -> Value {
    let found = wait_until(WAIT, || async {
        let (_, v) = get(app, "/api/v1/agents/alice/conversations", "alice-token").await;
        (v["conversations"].as_array()?.len() == n).then_some(v)
    })
    .await;
    found.unwrap_or_else(|| panic!("alice holds {n} conversations"))
}

/// Every key under the prefix with every value in it (strings, hashes,
/// lists, sets, zsets), as one text per key.
async fn redis_dump(prefix: &str) -> Vec<String> {
    let client = redis::Client::open("redis://127.0.0.1:6379").unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    let mut keys: Vec<String> = Vec::new();
    let mut cursor = 0u64;
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("\\{{{prefix}\\}}:*"))
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut c)
            .await
            .unwrap();
        keys.extend(batch);
        cursor = next;
        if cursor == 0 {
            break;
        }
    }
    assert!(!keys.is_empty(), "the scan finds the instance's keys");
    let mut out = Vec::new();
    for key in keys {
        let kind: String = redis::cmd("TYPE")
            .arg(&key)
            .query_async(&mut c)
            .await
            .unwrap();
        let values: Vec<String> = match kind.as_str() {
            "string" => vec![redis::cmd("GET")
                .arg(&key)
                .query_async::<Option<String>>(&mut c)
                .await
                .unwrap()
                .unwrap_or_default()],
            "hash" => redis::cmd("HGETALL")
                .arg(&key)
                .query_async(&mut c)
                .await
                .unwrap(),
            "list" => redis::cmd("LRANGE")
                .arg(&key)
                .arg(0)
                .arg(-1)
                .query_async(&mut c)
                .await
                .unwrap(),
            "set" => redis::cmd("SMEMBERS")
                .arg(&key)
                .query_async(&mut c)
                .await
                .unwrap(),
            "zset" => redis::cmd("ZRANGE")
                .arg(&key)
                .arg(0)
                .arg(-1)
                .arg("WITHSCORES")
                .query_async(&mut c)
                .await
                .unwrap(),
            _ => Vec::new(),
        };
        out.push(format!("{key} => {}", values.join(" | ")));
    }
    out
}

/// Every message stored on the instance's three streams.
async fn stream_dump(prefix: &str) -> Vec<String> {
    let js = async_nats::jetstream::new(async_nats::connect("127.0.0.1:4222").await.unwrap());
    let mut out = Vec::new();
    for name in ["inbound", "outbound", "events"] {
        let stream = js.get_stream(format!("{prefix}_{name}")).await.unwrap();
        let consumer = stream
            .create_consumer(async_nats::jetstream::consumer::pull::Config {
                deliver_policy: async_nats::jetstream::consumer::DeliverPolicy::All,
                ack_policy: async_nats::jetstream::consumer::AckPolicy::None,
                ..Default::default()
            })
            .await
            .unwrap();
        loop {
            let batch: Vec<_> = consumer
                .fetch()
                .max_messages(1000)
                .expires(Duration::from_millis(300))
                .messages()
                .await
                .unwrap()
                .try_collect()
                .await
                .unwrap();
            if batch.is_empty() {
                break;
            }
            out.extend(
                batch
                    .iter()
                    .map(|m| format!("{} {}", m.subject, String::from_utf8_lossy(&m.payload))),
            );
        }
    }
    out
}

fn containing<'a>(dump: &'a [String], needles: &[&str]) -> Vec<&'a String> {
    dump.iter()
        .filter(|line| needles.iter().any(|n| line.contains(n)))
        .collect()
}

#[tokio::test]
async fn an_erased_customer_leaves_nothing_behind_and_a_stop_stays_honoured() {
    let twilio = FakePeer::start(vec![(
        201,
        vec![],
        r#"{"sid": "SMout1", "status": "queued"}"#.into(),
    )])
    .await;
    let app = TestApp::spawn_ready(&config(&twilio.base())).await;
    let tag = ulid::Ulid::new().to_string().to_lowercase();
    let (phone, email) = ("+14155550123", format!("erase-{tag}@customer.example"));
    let (sms_text, chat_text, reply_text, note_text) = (
        format!("sms-text-{tag}"),
        format!("chat-text-{tag}"),
        format!("reply-text-{tag}"),
        format!("note-text-{tag}"),
    );

    // A visitor of the web chat, linked with the phone and the email to
    // the shop's customer 77.
    let session: Value = reqwest::Client::new()
        .post(app.url("/webchat/sessions"))
        .json(&json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (token, visitor) = (
        session["session_token"].as_str().unwrap(),
        session["visitor_id"].as_str().unwrap().to_owned(),
    );
    let profile = json!({"identities": [
        {"kind": "phone", "value": phone}, {"kind": "email", "value": email}, {"kind": "visitor", "value": visitor}
    ], "attributes": {"name": "Erin Example"}});
    let (status, _) = api(
        &app,
        reqwest::Method::PUT,
        "/api/v1/customers/shop-77",
        ADMIN,
        Some(profile),
    )
    .await;
    assert_eq!(status, 201);

    // SMS: a STOP, then a message, a note; resolved.
    sms(&app, &format!("SMa{tag}"), phone, "STOP").await;
    let sms_conv = alice_has(&app, 1).await["conversations"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    sms(&app, &format!("SMb{tag}"), phone, &sms_text).await;
    let joined = wait_until(WAIT, || async {
        let (_, v) = get(&app, &format!("/api/v1/conversations/{sms_conv}"), ADMIN).await;
        (v["messages"].as_array()?.len() == 2).then_some(())
    })
    .await;
    assert!(joined.is_some(), "the second SMS joins the conversation");
    let path = format!("/api/v1/conversations/{sms_conv}");
    let (status, _) = api(
        &app,
        reqwest::Method::POST,
        &format!("{path}/notes"),
        "alice-token",
        Some(json!({"text": note_text})),
    )
    .await;
    assert_eq!(status, 201);
    let (status, _) = api(
        &app,
        reqwest::Method::POST,
        &format!("{path}/resolve"),
        "alice-token",
        None,
    )
    .await;
    assert_eq!(status, 200);
    alice_has(&app, 0).await;

    // Web chat: a message, and alice's reply; the conversation stays open.
    let (mut socket, _) =
        tokio_tungstenite::connect_async(format!("ws://{}/webchat/ws?token={token}", app.addr))
            .await
            .unwrap();
    let frame = json!({"type": "message", "client_id": "m1", "text": chat_text});
    socket
        .send(Frame::Text(frame.to_string().into()))
        .await
        .unwrap();
    let chat_conv = alice_has(&app, 1).await["conversations"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(chat_conv, sms_conv);
    let (status, _) = api(
        &app,
        reqwest::Method::POST,
        &format!("/api/v1/conversations/{chat_conv}/reply"),
        "alice-token",
        Some(json!({"text": reply_text})),
    )
    .await;
    assert_eq!(status, 202);
    let pushed = tokio::time::timeout(WAIT, async {
        while let Some(Ok(f)) = socket.next().await {
            if let Frame::Text(t) = f {
                if t.contains(&reply_text) {
                    return;
                }
            }
        }
    })
    .await;
    assert!(pushed.is_ok(), "the reply reaches the visitor");
    let stored = wait_until(WAIT, || async {
        let dump = redis_dump(&app.prefix).await;
        (!containing(&dump, &[&reply_text]).is_empty()
            && !stream_dump(&app.prefix).await.is_empty())
        .then_some(())
    })
    .await;
    assert!(stored.is_some(), "the reply is stored before the erase");

    // The export holds what the API shows.
    let (status, export) = get(&app, "/api/v1/customers/shop-77/export", ADMIN).await;
    assert_eq!(status, 200, "{export}");
    let customer = export["customer_id"].as_str().unwrap().to_owned();
    assert_eq!(export["profile"]["name"], "Erin Example");
    assert!(
        export["identities"]
            .as_array()
            .unwrap()
            .contains(&json!(format!("phone:{phone}"))),
        "{export}"
    );
    let exported = export["conversations"].as_array().unwrap();
    assert_eq!(exported.len(), 2, "{export}");
    for conv in [&sms_conv, &chat_conv] {
        let (_, shown) = get(&app, &format!("/api/v1/conversations/{conv}"), ADMIN).await;
        let mine = exported
            .iter()
            .find(|c| c["conversation"]["id"] == json!(conv))
            .expect("exported");
        assert_eq!(mine["conversation"], shown["conversation"]);
        assert_eq!(mine["messages"], shown["messages"]);
    }
    let texts: Vec<&str> = exported
        .iter()
        .flat_map(|c| c["messages"].as_array().unwrap())
        .filter_map(|m| m["text"].as_str())
        .collect();
    for t in [&sms_text, &note_text, &chat_text, &reply_text] {
        assert!(texts.contains(&t.as_str()), "{t} exported: {texts:?}");
    }
    let (status, _) = get(&app, "/api/v1/customers/nobody/export", ADMIN).await;
    assert_eq!(status, 404);

    // The erase, by the customer's phone number.
    let (status, receipt) = api(
        &app,
        reqwest::Method::DELETE,
        &format!("/api/v1/customers/phone:{phone}"),
        ADMIN,
        None,
    )
    .await;
    assert_eq!(status, 200, "{receipt}");
    assert_eq!(receipt["customer_id"], json!(customer));
    let removed = &receipt["removed"];
    assert_eq!(removed["conversations"], 2, "{receipt}");
    assert_eq!(removed["withdrawn"], 1, "{receipt}");
    assert_eq!(removed["profile"], 1, "{receipt}");
    assert_eq!(
        removed["identities"], 4,
        "shop, phone, email, visitor: {receipt}"
    );
    assert_eq!(removed["notes"], 1, "{receipt}");
    assert!(removed["messages"].as_u64().unwrap() >= 4, "{receipt}");
    assert!(
        removed["webchat_history"].as_u64().unwrap() >= 2,
        "{receipt}"
    );
    assert!(
        removed["stream_messages"].as_u64().unwrap() >= 8,
        "{receipt}"
    );

    // Alice's capacity is back; the API knows none of it.
    let freed = alice_has(&app, 0).await;
    assert_eq!(freed["state"]["load"], 0, "{freed}");
    for path in [
        format!("/api/v1/conversations/{sms_conv}"),
        format!("/api/v1/conversations/{chat_conv}"),
        "/api/v1/customers/shop-77".to_owned(),
        "/api/v1/customers/shop-77/export".to_owned(),
        format!("/api/v1/customers/{customer}/export"),
    ] {
        let (status, body) = get(&app, &path, ADMIN).await;
        assert_eq!(status, 404, "{path}: {body}");
    }

    // Nothing of the customer in Redis or on the streams (once the
    // erase's own events are published and delivered).
    let needles = [
        phone,
        &phone[1..],
        &email,
        &sms_text,
        &chat_text,
        &reply_text,
        &note_text,
    ];
    let clean = wait_until(WAIT, || async {
        let dump = redis_dump(&app.prefix).await;
        let streams = stream_dump(&app.prefix).await;
        let found: Vec<String> = containing(&dump, &needles)
            .into_iter()
            .chain(containing(&streams, &needles))
            .cloned()
            .collect();
        found.is_empty().then_some(streams)
    })
    .await;
    let Some(streams) = clean else {
        let dump = redis_dump(&app.prefix).await;
        let streams = stream_dump(&app.prefix).await;
        panic!(
            "left behind:\n{:#?}\n{:#?}",
            containing(&dump, &needles),
            containing(&streams, &needles)
        );
    };
    // The erase's events: the withdrawn conversation's `resolved` (no
    // customer in it) and `customer.erased` with the customer id only.
    let events: Vec<Value> = streams
        .iter()
        .filter_map(|l| l.split_once(' '))
        .filter_map(|(_, p)| serde_json::from_str(p).ok())
        .collect();
    let resolved = events
        .iter()
        .find(|e| {
            e["type"] == "switchboard.conversation.resolved" && e["data"]["reason"] == "erased"
        })
        .expect("the erased conversation's resolved event");
    assert_eq!(resolved["subject"], json!(chat_conv));
    assert_eq!(
        resolved["data"]["customer"],
        json!({"id": "", "address": ""})
    );
    let erased = events
        .iter()
        .find(|e| e["type"] == "switchboard.customer.erased")
        .expect("customer.erased");
    assert_eq!(erased["data"]["customer"]["id"], json!(customer));

    // The STOP still holds for the number.
    let store = switchboard::store::Store::new(&app.settings.redis).unwrap();
    assert!(
        store.is_opted_out("shop", phone).await.unwrap(),
        "the opt-out survives the erase"
    );
    assert!(!store.is_opted_out("shop", "+14155550999").await.unwrap());

    // Again: the same receipt, nothing removed.
    let (status, again) = api(
        &app,
        reqwest::Method::DELETE,
        &format!("/api/v1/customers/phone:{phone}"),
        ADMIN,
        None,
    )
    .await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["customer_id"], json!(customer));
    let counts = again["removed"].as_object().unwrap();
    assert_eq!(
        counts.keys().collect::<Vec<_>>(),
        receipt["removed"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>()
    );
    assert!(counts.values().all(|v| v == 0), "{again}");
    let (status, again) = api(
        &app,
        reqwest::Method::DELETE,
        "/api/v1/customers/shop-77",
        ADMIN,
        None,
    )
    .await;
    assert_eq!(
        (status, &again["customer_id"]),
        (200, &json!(customer)),
        "by the shop's id too: {again}"
    );
    let (status, _) = api(
        &app,
        reqwest::Method::DELETE,
        "/api/v1/customers/phone:+14155550999",
        ADMIN,
        None,
    )
    .await;
    assert_eq!(status, 404, "a number never known");
    app.stop().await;
}
