//! Provider sends are never repeated: the send claim in Redis (first claim
//! wins, a live claim is refused, an expired one is settled once), and the
//! sender end to end: a reply redelivered after `sent` is not sent again, a
//! crash-window SMS is marked `uncertain` instead of resent, a crash-window
//! web chat reply is resent into the same slot, and a 2xx whose body
//! stalls is a send.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use redis::AsyncCommands;
use serde_json::Value;
use switchboard::store::sending::{SendClaim, Unclaim};
use switchboard::store::Store;
use switchboard_core::{Channel, OutboundMessage};

use crate::support::{unique_prefix, wait_until, FakePeer, TestApp, TWILIO_TOKEN};

const WAIT: Duration = Duration::from_secs(15);
const TTL: Duration = Duration::from_secs(600);
const MINUTE: Duration = Duration::from_secs(60);

fn store(prefix: &str) -> Store {
    let settings = switchboard::config::Loader::new()
        .without_env()
        .overlay(format!("[redis]\nprefix = \"{prefix}\"\n[nats]\nprefix = \"{prefix}\"\n"))
        .load()
        .unwrap();
    Store::new(&settings.redis).unwrap()
}

fn outbound(id: &str, channel: Channel, to: &str) -> OutboundMessage {
    OutboundMessage {
        id: id.into(),
        conversation_id: "C1".into(),
        channel,
        account: "shop".into(),
        to: to.into(),
        text: "It ships today.".into(),
        media_urls: vec![],
        media_ids: vec![],
        agent: Some("alice".into()),
        automated: None,
        created_at: chrono::Utc::now(),
    }
}

/// Makes `id` look like the crash window: claimed a minute ago by a sender
/// whose lease ran out, no answer recorded.
async fn dead_claim(store: &Store, id: &str) {
    let mut c = store.conn().await.unwrap();
    let now = chrono::Utc::now().timestamp_millis();
    let key = store.keys().outbound(id);
    let fields = [("state", "sending".to_owned()), ("claim", "dead".into()), ("claimed_at", (now - 60_000).to_string()), ("lease_until", (now - 1).to_string())];
    let () = c.hset_multiple(&key, &fields).await.unwrap();
    let () = c.expire(&key, 600).await.unwrap();
}

#[tokio::test]
async fn the_first_claim_wins_and_an_expired_one_is_settled_once() {
    let prefix = unique_prefix();
    let store = store(&prefix);
    let msg = outbound("O1", Channel::Sms, "+14155550100");

    assert_eq!(store.claim_send(&msg, "a", MINUTE, false, TTL).await.unwrap(), SendClaim::Claimed);
    let SendClaim::Busy(left) = store.claim_send(&msg, "b", MINUTE, false, TTL).await.unwrap() else {
        panic!("a live claim is refused");
    };
    assert!(left > Duration::from_secs(55) && left <= MINUTE, "{left:?}");
    // Someone else's token cannot end it.
    assert!(!store.unclaim_send("O1", "b", Unclaim::Release).await.unwrap());
    store.mark_outbound(&msg, "sent", Some("SM1"), TTL).await.unwrap();
    assert_eq!(store.claim_send(&msg, "c", MINUTE, true, TTL).await.unwrap(), SendClaim::Done("sent".into()));
    assert!(!store.unclaim_send("O1", "a", Unclaim::Release).await.unwrap(), "recorded: no longer a claim");

    // An expired claim, not to be resent: marked uncertain, final.
    let sms = outbound("O2", Channel::Sms, "+14155550100");
    dead_claim(&store, "O2").await;
    let SendClaim::MarkedUncertain { claimed_at_ms } = store.claim_send(&sms, "d", MINUTE, false, TTL).await.unwrap() else {
        panic!("an expired claim is settled");
    };
    assert!((chrono::Utc::now().timestamp_millis() - claimed_at_ms - 60_000).abs() < 5_000);
    assert_eq!(store.outbound("O2").await.unwrap()["state"], "uncertain");
    assert_eq!(store.claim_send(&sms, "e", MINUTE, false, TTL).await.unwrap(), SendClaim::Done("uncertain".into()));

    // An expired claim that may be resent: taken over by exactly one of
    // many redeliveries racing for it.
    let mail = outbound("O3", Channel::Email, "jane@customer.example");
    dead_claim(&store, "O3").await;
    let racers = (0..16).map(|i| {
        let (store, mail) = (store.clone(), mail.clone());
        tokio::spawn(async move { store.claim_send(&mail, &format!("r{i}"), MINUTE, true, TTL).await.unwrap() })
    });
    let verdicts: Vec<SendClaim> = futures::future::join_all(racers).await.into_iter().map(Result::unwrap).collect();
    let taken = verdicts.iter().filter(|v| matches!(v, SendClaim::TakenOver { .. })).count();
    let busy = verdicts.iter().filter(|v| matches!(v, SendClaim::Busy(_))).count();
    assert_eq!((taken, busy), (1, 15), "{verdicts:?}");
    assert_eq!(store.outbound("O3").await.unwrap()["claims"], "1");

    // A claim released after a failure that sent nothing is claimed afresh;
    // an abandoned one becomes uncertain.
    let fresh = outbound("O4", Channel::Sms, "+14155550100");
    assert_eq!(store.claim_send(&fresh, "f", MINUTE, false, TTL).await.unwrap(), SendClaim::Claimed);
    assert!(store.unclaim_send("O4", "f", Unclaim::Release).await.unwrap());
    assert_eq!(store.claim_send(&fresh, "g", MINUTE, false, TTL).await.unwrap(), SendClaim::Claimed);
    assert!(store.unclaim_send("O4", "g", Unclaim::Uncertain).await.unwrap());
    assert_eq!(store.claim_send(&fresh, "h", MINUTE, false, TTL).await.unwrap(), SendClaim::Done("uncertain".into()));
    let record = store.outbound("O4").await.unwrap();
    assert_eq!((record["claims"].as_str(), record["conversation"].as_str()), ("2", "C1"));
}

fn sms_config(api_base: &str, hook: &str) -> String {
    format!(
        r#"
        [server]
        admin_token = "admin-secret"
        [outbound]
        base_delay_ms = 10
        max_delay_ms = 200
        request_timeout_ms = 300
        [channels.sms.shop]
        account_sid = "AC0123456789abcdef0123456789abcdef"
        auth_token = "{TWILIO_TOKEN}"
        from = "+15005550006"
        api_base = "{api_base}"
        [agents.alice]
        token = "alice-token"
        capacity = {{ sms = 4 }}
        deliver = [ {{ kind = "webhook", url = "{hook}/hook", secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" }} ]
        "#
    )
}

/// Publishes `msg` on the outbound stream under JetStream id `nats_id`
/// (a new id is a new delivery of the same outbound message).
async fn publish(app: &TestApp, msg: &OutboundMessage, nats_id: &str) {
    let js = async_nats::jetstream::new(async_nats::connect(&app.settings.nats.url).await.unwrap());
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Nats-Msg-Id", nats_id);
    let subject = format!("{}.outbound.{}", app.prefix, msg.channel);
    let payload = serde_json::to_vec(msg).unwrap();
    js.publish_with_headers(subject, headers, payload.into()).await.unwrap().await.unwrap();
}

async fn metrics(app: &TestApp) -> String {
    reqwest::Client::new().get(app.url("/metrics")).send().await.unwrap().text().await.unwrap()
}

/// Waits until the `/metrics` text has `line`.
async fn wait_metric(app: &TestApp, line: &str) {
    let found = wait_until(WAIT, || async { metrics(app).await.contains(line).then_some(()) }).await;
    assert!(found.is_some(), "no `{line}` in:\n{}", metrics(app).await);
}

/// Waits until the outbound record of `id` has state `state`.
async fn wait_state(store: &Store, id: &str, state: &str) -> std::collections::HashMap<String, String> {
    let found = wait_until(WAIT, || async {
        let record = store.outbound(id).await.unwrap();
        (record.get("state").map(String::as_str) == Some(state)).then_some(record)
    })
    .await;
    match found {
        Some(record) => record,
        None => panic!("{id} never {state}: {:?}", store.outbound(id).await),
    }
}

#[tokio::test]
async fn a_reply_redelivered_after_sent_is_not_sent_again() {
    let twilio = FakePeer::start(vec![(201, vec![], r#"{"sid":"SMout1","status":"queued"}"#.into())]).await;
    let hook = FakePeer::start(vec![(200, vec![], String::new())]).await;
    let app = TestApp::spawn_ready(&sms_config(&twilio.base(), &hook.base())).await;
    let store = store(&app.prefix);
    crate::support::sms(&app, "SM00000000000000000000000000000001", "+14155550100", "Where is my order?").await;
    let assigned = hook.wait_event(|e| e["type"] == "switchboard.conversation.assigned").await;
    let conv = assigned["data"]["conversation_id"].as_str().unwrap();
    let resp = reqwest::Client::new()
        .post(app.url(&format!("/api/v1/conversations/{conv}/reply")))
        .bearer_auth("alice-token")
        .json(&serde_json::json!({"text": "It ships today."}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    let id = resp.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    twilio.wait_for(1, WAIT).await;
    let record = wait_state(&store, &id, "sent").await;
    assert_eq!(record["provider_id"], "SMout1");

    // The very message the API queued, delivered again (as after a crash
    // between the record and the JetStream ack).
    let js = async_nats::jetstream::new(async_nats::connect(&app.settings.nats.url).await.unwrap());
    let stream = js.get_stream(format!("{}_outbound", app.prefix)).await.unwrap();
    let queued = stream.get_last_raw_message_by_subject(&format!("{}.outbound.sms", app.prefix)).await.unwrap();
    let msg: OutboundMessage = serde_json::from_slice(&queued.payload).unwrap();
    assert_eq!(msg.id, id);
    publish(&app, &msg, "redelivery").await;
    wait_metric(&app, r#"switchboard_egress_messages_total{channel="sms",account="shop",outcome="duplicate"} 1"#).await;
    assert_eq!(twilio.seen().len(), 1, "sent once");
    app.stop().await;
}

#[tokio::test]
async fn a_crash_window_sms_is_marked_uncertain_not_resent() {
    let twilio = FakePeer::start(vec![(201, vec![], r#"{"sid":"SMx","status":"queued"}"#.into())]).await;
    let app = TestApp::spawn_ready(&sms_config(&twilio.base(), "http://127.0.0.1:9")).await;
    let store = store(&app.prefix);
    let msg = outbound(&ulid::Ulid::new().to_string(), Channel::Sms, "+14155550100");
    dead_claim(&store, &msg.id).await;
    publish(&app, &msg, "first").await;
    wait_state(&store, &msg.id, "uncertain").await;
    wait_metric(&app, r#"switchboard_outbound_uncertain_total{channel="sms"} 1"#).await;

    // A live claim (another replica mid-call) is waited out, not sent:
    // once its lease ends, it is the crash window too.
    let live = outbound(&ulid::Ulid::new().to_string(), Channel::Sms, "+14155550100");
    assert_eq!(store.claim_send(&live, "elsewhere", Duration::from_millis(1500), false, TTL).await.unwrap(), SendClaim::Claimed);
    let started = std::time::Instant::now();
    publish(&app, &live, "second").await;
    wait_state(&store, &live.id, "uncertain").await;
    assert!(started.elapsed() >= Duration::from_millis(1300), "{:?}", started.elapsed());
    wait_metric(&app, r#"switchboard_outbound_uncertain_total{channel="sms"} 2"#).await;
    assert!(twilio.seen().is_empty(), "never sent");
    app.stop().await;
}

#[tokio::test]
async fn the_agent_is_told_when_a_send_is_marked_uncertain() {
    let twilio = FakePeer::start(vec![(201, vec![], r#"{"sid":"SMx","status":"queued"}"#.into())]).await;
    let hook = FakePeer::start(vec![(200, vec![], String::new())]).await;
    let app = TestApp::spawn_ready(&sms_config(&twilio.base(), &hook.base())).await;
    let store = store(&app.prefix);
    crate::support::sms(&app, "SM00000000000000000000000000000002", "+14155550100", "Where is my order?").await;
    let assigned = hook.wait_event(|e| e["type"] == "switchboard.conversation.assigned").await;
    let conv = assigned["data"]["conversation_id"].as_str().unwrap();

    // A reply of this conversation whose sender died mid-call (its claim
    // runs out 1 s from now, with no answer recorded).
    let mut msg = outbound(&ulid::Ulid::new().to_string(), Channel::Sms, "+14155550100");
    msg.conversation_id = conv.to_owned();
    assert_eq!(store.claim_send(&msg, "elsewhere", Duration::from_secs(1), false, TTL).await.unwrap(), SendClaim::Claimed);
    publish(&app, &msg, "after-the-crash").await;
    let told = hook.wait_event(|e| e["type"] == "switchboard.conversation.send_failed").await;
    assert_eq!(told["data"]["conversation_id"], conv);
    assert_eq!(told["data"]["agent"], "alice");
    assert_eq!(told["data"]["reason"], "uncertain");
    assert_eq!(told["data"]["message"]["id"], msg.id.as_str());
    assert!(told["data"]["error"].as_str().unwrap().contains("may or may not have reached the customer"));
    wait_state(&store, &msg.id, "uncertain").await;

    // Redelivered once more: absorbed, told once, never sent.
    publish(&app, &msg, "once-more").await;
    wait_metric(&app, r#"switchboard_outbound_uncertain_total{channel="sms"} 1"#).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let told = hook.events().into_iter().filter(|e| e["type"] == "switchboard.conversation.send_failed").count();
    assert_eq!(told, 1);
    assert!(twilio.seen().is_empty(), "never sent");
    app.stop().await;
}

#[tokio::test]
async fn a_crash_window_web_chat_reply_is_resent_into_the_same_slot() {
    let app = TestApp::spawn_ready("").await;
    let store = store(&app.prefix);
    let visitor = format!("v_{}", ulid::Ulid::new());
    let msg = outbound(&ulid::Ulid::new().to_string(), Channel::Webchat, &visitor);
    publish(&app, &msg, "first").await;
    wait_state(&store, &msg.id, "sent").await;
    assert_eq!(store.chat_history(&visitor, 0, 10).await.unwrap().0.len(), 1);

    // As if the sender had died after storing the reply, before recording.
    dead_claim(&store, &msg.id).await;
    publish(&app, &msg, "again").await;
    wait_metric(&app, r#"switchboard_outbound_uncertain_total{channel="webchat"} 1"#).await;
    let record = wait_state(&store, &msg.id, "sent").await;
    assert_eq!(record["claims"], "2", "taken over and resent");
    let (log, _) = store.chat_history(&visitor, 0, 10).await.unwrap();
    assert_eq!(log.len(), 1, "the visitor's slot holds it once: {log:?}");
    app.stop().await;
}

/// A Messages API that answers every request with 201 and the start of a
/// body, then stalls (a provider stopped right after answering). Returns
/// the request count and its base URL.
async fn stalling_provider() -> (Arc<AtomicUsize>, String) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let text = String::from_utf8_lossy(&buf).to_ascii_lowercase();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let length = text[..end]
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        if buf.len() >= end + 4 + length {
                            break;
                        }
                    }
                    match stream.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                seen.fetch_add(1, Ordering::SeqCst);
                let head = "HTTP/1.1 201 Created\r\ncontent-type: application/json\r\ncontent-length: 4096\r\n\r\n{\"sid\":\"SM";
                let _ = stream.write_all(head.as_bytes()).await;
                tokio::time::sleep(Duration::from_secs(60)).await;
            });
        }
    });
    (count, base)
}

#[tokio::test]
async fn a_success_whose_body_stalls_is_sent_once() {
    let (count, base) = stalling_provider().await;
    let app = TestApp::spawn_ready(&sms_config(&base, "http://127.0.0.1:9")).await;
    let store = store(&app.prefix);
    let msg = outbound(&ulid::Ulid::new().to_string(), Channel::Sms, "+14155550100");
    publish(&app, &msg, "first").await;
    let record = wait_state(&store, &msg.id, "sent").await;
    assert!(!record.contains_key("provider_id"), "no sid was read: {record:?}");
    // Well past the request timeout and the retry backoff: still once.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(count.load(Ordering::SeqCst), 1);
    wait_metric(&app, r#"switchboard_egress_messages_total{channel="sms",account="shop",outcome="ok"} 1"#).await;
    app.stop().await;
}
