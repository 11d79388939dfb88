//! Replay of the dead letters that are not deliveries to a target: an
//! inbound message whose routing failed on its last delivery (routed once
//! when replayed, however often), and an outbox entry (refused with 422
//! `too_large` while it is still over NATS's `max_payload`, published and
//! delivered once it fits); entries of unknown kinds or lacking what their
//! kind needs are 422, never 5xx.

use std::time::Duration;

use futures::StreamExt;
use serde_json::Value;
use switchboard::store::Store;

use crate::support::{sms, wait_until, FakePeer, TestApp, TWILIO_TOKEN};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const WAIT: Duration = Duration::from_secs(15);
const CUSTOMER: &str = "+14155550123";

fn config(hook: &FakePeer) -> String {
    format!(
        r#"
        [server]
        admin_token = "admin-secret"
        [nats]
        max_deliver = 2
        [outbox]
        relay_after_ms = 100
        relay_interval_ms = 50
        [channels.sms.shop]
        account_sid = "AC0123456789abcdef0123456789abcdef"
        auth_token = "{TWILIO_TOKEN}"
        from = "+15005550006"
        api_base = "http://127.0.0.1:9"
        [agents.alice]
        token = "alice-token"
        capacity = {{ sms = 5 }}
        deliver = [ {{ kind = "webhook", url = "{}/hook", secret = "{SECRET}" }} ]
        "#,
        hook.base()
    )
}

async fn spawn(hook: &FakePeer) -> TestApp {
    let prefix = crate::support::unique_prefix();
    TestApp::ready(TestApp::spawn_with_prefix(&config(hook), prefix).await).await
}

async fn redis() -> redis::aio::MultiplexedConnection {
    redis::Client::open("redis://127.0.0.1:6379").unwrap().get_multiplexed_async_connection().await.unwrap()
}

/// `POST …/replay` of dead letter `id`: the status and the JSON body.
async fn replay(app: &TestApp, id: &str) -> (u16, Value) {
    let url = app.url(&format!("/api/v1/admin/dead-letters/{id}/replay"));
    let r = reqwest::Client::new().post(url).bearer_auth("admin-secret").send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

async fn dead_letters(app: &TestApp) -> Vec<Value> {
    let r = reqwest::Client::new().get(app.url("/api/v1/admin/dead-letters")).bearer_auth("admin-secret").send().await.unwrap();
    let body: Value = r.json().await.unwrap();
    body["dead_letters"].as_array().cloned().unwrap_or_default()
}

async fn inbound_messages(app: &TestApp, conversation: &str) -> usize {
    let url = app.url(&format!("/api/v1/conversations/{conversation}"));
    let conv: Value = reqwest::Client::new().get(url).bearer_auth("admin-secret").send().await.unwrap().json().await.unwrap();
    conv["messages"].as_array().unwrap().iter().filter(|m| m["direction"] == "inbound").count()
}

/// How many messages the router counted with `outcome` (any queue).
async fn routed(app: &TestApp, outcome: &str) -> u64 {
    let metrics = reqwest::get(app.url("/metrics")).await.unwrap().text().await.unwrap();
    metrics
        .lines()
        .filter(|l| l.starts_with("switchboard_routed_messages_total{") && l.contains(&format!("outcome=\"{outcome}\"")))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

#[tokio::test]
async fn an_inbound_dead_letter_is_routed_once_when_replayed() {
    let hook = FakePeer::start(vec![(200, vec![], String::new())]).await;
    let app = spawn(&hook).await;
    let mut c = redis().await;
    // A real routing failure that is not an outage: the customer's identity
    // key holds the wrong type (say, an operator's mistake), so routing
    // fails on every delivery and the message is dead-lettered.
    let identity = format!("{{{}}}:ident:phone:{CUSTOMER}", app.prefix);
    let _: () = redis::cmd("HSET").arg(&identity).arg("oops").arg("1").query_async(&mut c).await.unwrap();
    sms(&app, "SM00000000000000000000000000000R01", CUSTOMER, "my parcel is late").await;
    let letter = wait_until(WAIT, || async {
        dead_letters(&app).await.into_iter().find(|l| l["kind"] == "inbound")
    })
    .await
    .expect("the message is dead-lettered after nats.max_deliver");
    assert_eq!(letter["message"]["text"], "my parcel is late");
    let id = letter["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("inbound~"), "{id}");
    assert!(hook.seen().is_empty(), "nothing was routed");

    // The operator repairs the key and replays: routed, and the agent told.
    let _: () = redis::cmd("DEL").arg(&identity).query_async(&mut c).await.unwrap();
    let (status, body) = replay(&app, &id).await;
    assert_eq!((status, &body), (200, &serde_json::json!({ "id": id, "replayed": true })));
    let assigned = hook.wait_event(|e| e["type"] == "switchboard.conversation.assigned").await;
    let conversation = assigned["data"]["conversation_id"].as_str().unwrap().to_owned();
    assert_eq!(assigned["data"]["message"]["text"], "my parcel is late");
    assert_eq!(inbound_messages(&app, &conversation).await, 1);
    assert!(dead_letters(&app).await.is_empty(), "dropped once replayed");

    // Replayed already: there is nothing to replay.
    let (status, body) = replay(&app, &id).await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "not_found");

    // A message whose routing had been stored before a later step failed
    // (the same dead letter again): replayed, and not stored twice.
    let store = Store::new(&app.settings.redis).unwrap();
    store.dead_letter(&id, &letter, chrono::Utc::now().timestamp_millis()).await.unwrap();
    assert_eq!(replay(&app, &id).await.0, 200);
    let duplicate = wait_until(WAIT, || async { (routed(&app, "duplicate").await >= 1).then_some(()) }).await;
    assert!(duplicate.is_some(), "the replayed message reached the router again");
    assert_eq!(inbound_messages(&app, &conversation).await, 1);
    let assigned = hook.events().iter().filter(|e| e["type"] == "switchboard.conversation.assigned").count();
    assert_eq!(assigned, 1, "the agent is told once");
    app.stop().await;
}

/// An outbox dead letter of event `C1:<seq>` of conversation `C1` for
/// alice, with `pad` bytes of padding.
fn outbox_letter(app: &TestApp, seq: u64, pad: usize) -> Value {
    let event = serde_json::json!({
        "specversion": "1.0", "id": format!("C1:{seq}"), "source": format!("/switchboard/{}", app.prefix),
        "type": "switchboard.sla.warning", "subject": "C1", "time": chrono::Utc::now(),
        "datacontenttype": "application/json", "seq": seq,
        "data": {
            "conversation_id": "C1", "channel": "sms", "account": "shop",
            "customer": { "id": "K1", "address": "+14155550001" }, "queue": "general", "agent": "alice",
            "sla": { "clock": "first_response", "pad": "x".repeat(pad) }
        }
    });
    serde_json::json!({
        "id": format!("outbox~C1:{seq}"), "kind": "outbox", "entry": format!("C1:{seq}"),
        "target": format!("{}.events.sla.warning", app.prefix), "reason": "over max_payload",
        "payload": event.to_string(), "at": chrono::Utc::now(),
    })
}

#[tokio::test]
async fn an_outbox_dead_letter_is_published_once_it_fits_and_refused_while_it_does_not() {
    use switchboard::store::EmitRequest;
    let hook = FakePeer::start(vec![(200, vec![], String::new())]).await;
    let app = spawn(&hook).await;
    let store = Store::new(&app.settings.redis).unwrap();
    let mut c = redis().await;
    let _: () = redis::cmd("HSET")
        .arg(format!("{{{}}}:conv:C1", app.prefix))
        .arg(&["id", "C1", "state", "assigned", "channel", "sms", "account", "shop", "customer", "K1", "address", "+14155550001", "queue", "general", "agent", "alice"])
        .query_async(&mut c)
        .await
        .unwrap();
    // A 2 MB event, left for the relay, which dead-letters it.
    let big = format!(r#"{{"clock":"first_response","pad":"{}"}}"#, "x".repeat(2 << 20));
    let first = EmitRequest { event_type: "switchboard.sla.warning", conversation: "C1", cause: "big", sla: Some(big), ..Default::default() };
    store.emit(&first, chrono::Utc::now().timestamp_millis()).await.unwrap().unwrap();
    let letter = wait_until(WAIT, || async { dead_letters(&app).await.into_iter().find(|l| l["id"] == "outbox~C1:1") }).await;
    assert!(letter.is_some(), "the large event is dead-lettered");
    let (status, body) = replay(&app, "outbox~C1:1").await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "too_large");
    assert!(body["error"]["message"].as_str().unwrap().contains("max_payload"), "{body}");
    assert!(dead_letters(&app).await.iter().any(|l| l["id"] == "outbox~C1:1"), "kept");

    // One that fits now (as after the server's max_payload was raised): on
    // the log under its outbox id and delivered to alice, although the
    // conversation's delivery mark moved past it when it was dead-lettered.
    let nats = async_nats::connect("nats://127.0.0.1:4222").await.unwrap();
    let mut log = nats.subscribe(format!("{}.events.>", app.prefix)).await.unwrap();
    nats.flush().await.unwrap();
    store.dead_letter("outbox~C1:2", &outbox_letter(&app, 2, 10), chrono::Utc::now().timestamp_millis()).await.unwrap();
    store.mark_delivered_seq("C1", 2).await.unwrap();
    let (status, body) = replay(&app, "outbox~C1:2").await;
    assert_eq!(status, 200, "{body}");
    let published = tokio::time::timeout(WAIT, log.next()).await.expect("on the log").unwrap();
    let event: Value = serde_json::from_slice(&published.payload).unwrap();
    assert_eq!(event["id"], "C1:2");
    let delivered = hook.wait_event(|e| e["id"] == "C1:2").await;
    assert_eq!(delivered["type"], "switchboard.sla.warning");
    assert!(!dead_letters(&app).await.iter().any(|l| l["id"] == "outbox~C1:2"), "dropped once published");
    app.stop().await;
}

#[tokio::test]
async fn dead_letters_that_cannot_be_replayed_are_422() {
    let hook = FakePeer::start(vec![(200, vec![], String::new())]).await;
    let app = spawn(&hook).await;
    let store = Store::new(&app.settings.redis).unwrap();
    let now = chrono::Utc::now().timestamp_millis();
    let mut outside = outbox_letter(&app, 3, 1);
    outside["target"] = Value::from("elsewhere.events.sla.warning");
    let entries = [
        ("mystery~1", serde_json::json!({ "id": "mystery~1", "kind": "mystery" })),
        ("inbound~1", serde_json::json!({ "id": "inbound~1", "kind": "inbound", "message": 5 })),
        ("outbox~C1:3", outside),
        ("outbox~C1:4", serde_json::json!({ "id": "outbox~C1:4", "kind": "outbox", "target": format!("{}.events.x", app.prefix) })),
        ("E1~alice-0", serde_json::json!({ "id": "E1~alice-0", "kind": "webhook", "target": "alice", "event": {} })),
    ];
    for (id, entry) in &entries {
        store.dead_letter(id, entry, now).await.unwrap();
        let (status, body) = replay(&app, id).await;
        assert_eq!(status, 422, "{id}: {body}");
        assert_eq!(body["error"]["code"], "not_replayable", "{id}: {body}");
    }
    assert_eq!(dead_letters(&app).await.len(), entries.len(), "all kept");
    app.stop().await;
}

#[tokio::test]
async fn a_message_at_fault_fails_alone_among_those_routed_with_it() {
    let hook = FakePeer::start(vec![(200, vec![], String::new())]).await;
    let app = spawn(&hook).await;
    let mut c = redis().await;
    let identity = format!("{{{}}}:ident:phone:{CUSTOMER}", app.prefix);
    let _: () = redis::cmd("HSET").arg(&identity).arg("oops").arg("1").query_async(&mut c).await.unwrap();
    // The one at fault and four others at once, so that the router's Redis
    // calls go together (store::coalesce): only the one at fault fails.
    let others = (1..=4).map(|i| format!("+1415555020{i}"));
    let sends = futures::future::join_all(
        std::iter::once(CUSTOMER.to_owned())
            .chain(others)
            .enumerate()
            .map(|(i, from)| {
                let app = &app;
                async move { sms(app, &format!("SM0000000000000000000000000000B{i:02}"), &from, "where is my parcel?").await }
            }),
    );
    sends.await;
    let letter = wait_until(WAIT, || async { dead_letters(&app).await.into_iter().find(|l| l["kind"] == "inbound") }).await;
    assert_eq!(letter.expect("the message at fault is dead-lettered")["message"]["customer"], CUSTOMER);
    let assigned = wait_until(WAIT, || async {
        let n = hook.events().iter().filter(|e| e["type"] == "switchboard.conversation.assigned").count();
        (n == 4).then_some(n)
    })
    .await;
    assert_eq!(assigned, Some(4), "the other four are assigned: {:?}", hook.events());
    assert_eq!(dead_letters(&app).await.len(), 1);
    app.stop().await;
}
