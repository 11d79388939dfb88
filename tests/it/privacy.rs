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
pub(crate) async fn redis_dump(prefix: &str) -> Vec<String> {
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

/// Every message stored on the instance's streams (the audit trail's too).
pub(crate) async fn stream_dump(prefix: &str) -> Vec<String> {
    let js = async_nats::jetstream::new(async_nats::connect("127.0.0.1:4222").await.unwrap());
    let mut out = Vec::new();
    for name in ["inbound", "outbound", "events", "audit"] {
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

pub(crate) fn containing<'a>(dump: &'a [String], needles: &[&str]) -> Vec<&'a String> {
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

    // The audit trail has each of those actions, who did it and from
    // where, and none of the customer's texts or addresses.
    let audit = audit_trail(&app.prefix).await;
    let of = |kind: &str| {
        audit
            .iter()
            .filter(|e| e["type"] == format!("switchboard.audit.{kind}"))
            .collect::<Vec<_>>()
    };
    let update = of("customer.update");
    assert_eq!(update.len(), 1, "{audit:?}");
    assert_eq!(
        update[0]["data"]["actor"],
        json!({"kind": "admin", "id": "admin"})
    );
    assert_eq!(update[0]["data"]["target"]["id"], "shop-77");
    assert!(
        update[0]["data"]["client"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:"),
        "{:?}",
        update[0]
    );
    let reads = of("conversation.read");
    assert!(reads
        .iter()
        .any(|e| e["data"]["target"]["id"] == json!(sms_conv) && e["data"]["status"] == 200));
    assert!(
        reads
            .iter()
            .any(|e| e["data"]["target"]["id"] == json!(chat_conv) && e["data"]["status"] == 404),
        "the read after the erase"
    );
    assert!(of("conversation.list")
        .iter()
        .any(|e| e["data"]["actor"] == json!({"kind": "agent", "id": "alice"})));
    assert_eq!(
        of("customer.export").len(),
        4,
        "shop-77 before and after, nobody, the customer id"
    );
    let erases = of("customer.erase");
    let statuses: Vec<u64> = erases
        .iter()
        .map(|e| e["data"]["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, [200, 200, 200, 404]);
    assert!(
        erases[0]["data"]["target"]["id"]
            .as_str()
            .unwrap()
            .starts_with("h:"),
        "an identity is recorded hashed: {:?}",
        erases[0]
    );
    assert!(of("customer.read")
        .iter()
        .any(|e| e["data"]["status"] == 404));
    let text = serde_json::to_string(&audit).unwrap();
    for needle in needles {
        assert!(!text.contains(needle), "{needle} in the audit trail");
    }
    app.stop().await;
}

/// The events of the instance's audit trail, in order.
async fn audit_trail(prefix: &str) -> Vec<Value> {
    let js = async_nats::jetstream::new(async_nats::connect("127.0.0.1:4222").await.unwrap());
    let stream = js.get_stream(format!("{prefix}_audit")).await.unwrap();
    let consumer = stream
        .create_consumer(async_nats::jetstream::consumer::pull::Config {
            deliver_policy: async_nats::jetstream::consumer::DeliverPolicy::All,
            ack_policy: async_nats::jetstream::consumer::AckPolicy::None,
            ..Default::default()
        })
        .await
        .unwrap();
    let mut out = Vec::new();
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
            return out;
        }
        out.extend(
            batch
                .iter()
                .map(|m| serde_json::from_slice::<Value>(&m.payload).unwrap()),
        );
    }
}

/// The admin actions on the configuration and the dead letters are on
/// the audit trail, with the status each answered.
#[tokio::test]
async fn admin_actions_are_on_the_audit_trail() {
    let app = TestApp::spawn_ready(&config("http://127.0.0.1:9")).await;
    let calls = [
        (reqwest::Method::POST, "/api/v1/admin/reload", None),
        (
            reqwest::Method::PUT,
            "/api/v1/admin/queues/extra",
            Some(json!({"priority": 1})),
        ),
        (reqwest::Method::DELETE, "/api/v1/admin/queues/extra", None),
        (reqwest::Method::GET, "/api/v1/admin/dead-letters", None),
        (
            reqwest::Method::POST,
            "/api/v1/admin/dead-letters/none/replay",
            None,
        ),
        (
            reqwest::Method::DELETE,
            "/api/v1/admin/dead-letters/none",
            None,
        ),
    ];
    let mut statuses = Vec::new();
    for (method, path, body) in calls {
        let req = reqwest::Client::new()
            .request(method, app.url(path))
            .bearer_auth(ADMIN)
            .header("x-forwarded-for", "203.0.113.9");
        let req = match body {
            Some(b) => req.json(&b),
            None => req,
        };
        statuses.push(req.send().await.unwrap().status().as_u16());
    }
    // Not audited: a token nobody has (no one to name).
    let resp = reqwest::Client::new()
        .post(app.url("/api/v1/admin/reload"))
        .bearer_auth("nobody")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let audit = audit_trail(&app.prefix).await;
    let seen: Vec<(String, u64)> = audit
        .iter()
        .map(|e| {
            (
                e["type"].as_str().unwrap().to_owned(),
                e["data"]["status"].as_u64().unwrap(),
            )
        })
        .collect();
    let actions = [
        "config.reload",
        "config.change",
        "config.change",
        "dead_letter.list",
        "dead_letter.replay",
        "dead_letter.drop",
    ];
    let expected: Vec<(String, u64)> = actions
        .iter()
        .zip(&statuses)
        .map(|(a, s)| (format!("switchboard.audit.{a}"), u64::from(*s)))
        .collect();
    assert_eq!(seen, expected);
    assert_eq!(
        audit[1]["data"]["target"],
        json!({"kind": "queues", "name": "extra"})
    );
    assert_eq!(audit[2]["data"]["method"], "DELETE");
    assert!(audit
        .iter()
        .all(|e| e["data"]["forwarded_for"] == "203.0.113.9"
            && e["data"]["actor"]["kind"] == "admin"));
    assert!(audit
        .iter()
        .all(|e| e["source"].as_str().is_some_and(|s| !s.is_empty())));
    app.stop().await;
}

/// The retention sweep with its clock moved: a resolved conversation stays
/// while younger than `resolved_days` and goes (with its stream messages)
/// once older; an open one stays; dead letters go after `dead_letter_days`.
#[tokio::test]
async fn retention_removes_what_is_past_its_limit_when_the_clock_moves() {
    let toml = format!(
        "{}\n[retention]\nresolved_days = 30\ndead_letter_days = 10\n",
        config("http://127.0.0.1:9")
    );
    let app = TestApp::spawn_ready(&toml).await;
    let tag = ulid::Ulid::new().to_string().to_lowercase();
    let (old_text, open_text) = (format!("old-{tag}"), format!("open-{tag}"));
    sms(&app, &format!("SMr1{tag}"), "+14155550201", &old_text).await;
    let old = alice_has(&app, 1).await["conversations"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _) = api(
        &app,
        reqwest::Method::POST,
        &format!("/api/v1/conversations/{old}/resolve"),
        "alice-token",
        None,
    )
    .await;
    assert_eq!(status, 200);
    alice_has(&app, 0).await;
    sms(&app, &format!("SMr2{tag}"), "+14155550202", &open_text).await;
    let open = alice_has(&app, 1).await["conversations"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let on_log = wait_until(WAIT, || async {
        let s = stream_dump(&app.prefix).await;
        (!containing(&s, &[&old_text]).is_empty() && !containing(&s, &[&open_text]).is_empty())
            .then_some(())
    })
    .await;
    assert!(on_log.is_some(), "both texts on the streams");

    let store = switchboard::store::Store::new(&app.settings.redis).unwrap();
    let bus = switchboard::bus::Bus::connect(&app.settings.nats)
        .await
        .unwrap();
    let now = chrono::Utc::now();
    let ms = |d: chrono::Duration| (now + d).timestamp_millis();
    let record =
        |id: &str| json!({"id": id, "kind": "webhook", "target": "alice#0", "reason": "gone"});
    store
        .dead_letter("dl-old", &record("dl-old"), ms(chrono::Duration::days(-11)))
        .await
        .unwrap();
    store
        .dead_letter("dl-new", &record("dl-new"), ms(chrono::Duration::zero()))
        .await
        .unwrap();
    let dead_letters = || async {
        let (_, page) = get(&app, "/api/v1/admin/dead-letters", ADMIN).await;
        page["dead_letters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["id"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(dead_letters().await, ["dl-old", "dl-new"]);

    // Five days on: the resolved conversation is younger than 30 days.
    let sweep = |days: i64| {
        switchboard::privacy::retention::sweep_at(
            &store,
            &bus,
            &app.settings,
            now + chrono::Duration::days(days),
        )
    };
    let removed = sweep(5).await.unwrap();
    assert_eq!(removed.get("conversations"), None, "{removed:?}");
    assert_eq!(removed.get("dead_letters"), Some(&1), "{removed:?}");
    assert_eq!(dead_letters().await, ["dl-new"]);
    assert_eq!(
        get(&app, &format!("/api/v1/conversations/{old}"), ADMIN)
            .await
            .0,
        200
    );

    // Thirty-one days on: it goes, with its messages on the streams; the
    // open one stays.
    let removed = sweep(31).await.unwrap();
    assert_eq!(removed.get("conversations"), Some(&1), "{removed:?}");
    assert!(
        removed.get("stream_messages").is_some_and(|n| *n >= 2),
        "{removed:?}"
    );
    assert_eq!(
        get(&app, &format!("/api/v1/conversations/{old}"), ADMIN)
            .await
            .0,
        404
    );
    let (status, kept) = get(&app, &format!("/api/v1/conversations/{open}"), ADMIN).await;
    assert_eq!(status, 200);
    assert_eq!(kept["messages"][0]["text"], json!(open_text));
    assert!(dead_letters().await.is_empty());
    let streams = stream_dump(&app.prefix).await;
    assert!(
        containing(&streams, &[&old_text]).is_empty(),
        "the old text is off the streams"
    );
    assert!(
        !containing(&streams, &[&open_text]).is_empty(),
        "the open one's is kept"
    );
    let dump = redis_dump(&app.prefix).await;
    assert!(
        containing(&dump, &[&old_text]).is_empty() && !containing(&dump, &[&open_text]).is_empty()
    );
    // A sweep with nothing past its limit removes nothing.
    assert!(sweep(31).await.unwrap().is_empty());
    app.stop().await;
}

/// `check-config` refuses a retention that would break reopening, with
/// the reason.
#[test]
fn a_retention_shorter_than_the_reopen_window_is_refused() {
    let toml = "[routing]\nreopen_window_secs = 864000\n[retention]\nresolved_days = 5\nwebchat_history_days = 0\n";
    let problems = switchboard::config::Loader::new()
        .without_env()
        .overlay(toml)
        .load()
        .unwrap_err()
        .to_string();
    assert!(
        problems.contains("retention.resolved_days") && problems.contains("reopen_window_secs"),
        "{problems}"
    );
    assert!(
        problems.contains("retention.webchat_history_days"),
        "{problems}"
    );
    let fine = "[routing]\nreopen_window_secs = 864000\n[retention]\nresolved_days = 10\n";
    assert!(switchboard::config::Loader::new()
        .without_env()
        .overlay(fine)
        .load()
        .is_ok());
}
