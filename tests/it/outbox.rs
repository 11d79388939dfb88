//! The event outbox against the real Redis: what the scripts append, the
//! relay's leased claims, once-per-cause events, the delivery mark, and the
//! reply step that records a reply with its event and outbound messages.

use serde_json::Value;
use switchboard::store::{EmitRequest, OutboxTarget, ReplyOutcome, ReplyRecord, Store};

async fn store(prefix: &str) -> Store {
    let settings = switchboard::config::Loader::new()
        .without_env()
        .overlay(format!("[redis]\nprefix = \"{prefix}\"\n[nats]\nprefix = \"{prefix}\"\n"))
        .load()
        .unwrap();
    Store::new(&settings.redis).unwrap()
}

async fn cleanup(prefix: &str) {
    let client = redis::Client::open("redis://127.0.0.1:6379").unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS").arg(format!("{{{prefix}}}*")).query_async(&mut conn).await.unwrap_or_default();
    if !keys.is_empty() {
        let _: Result<(), _> = redis::cmd("DEL").arg(&keys).query_async(&mut conn).await;
    }
}

/// A conversation hash as routing writes it, enough for events.
async fn conversation(prefix: &str, id: &str) {
    let client = redis::Client::open("redis://127.0.0.1:6379").unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("HSET")
        .arg(format!("{{{prefix}}}:conv:{id}"))
        .arg(&["id", id, "state", "assigned", "channel", "sms", "account", "shop", "customer", "K1", "address", "+14155550001", "queue", "general", "agent", "alice", "created_at", "1700000000000"])
        .query_async(&mut conn)
        .await
        .unwrap();
}

#[tokio::test]
async fn an_emitted_event_is_a_cloudevent_numbered_in_its_conversation_and_once_per_cause() {
    let prefix = crate::support::unique_prefix();
    let store = store(&prefix).await;
    conversation(&prefix, "C1").await;
    let now = chrono::Utc::now().timestamp_millis();
    let req = EmitRequest {
        event_type: "switchboard.sla.warning",
        conversation: "C1",
        cause: "firing-1",
        supervisors: true,
        sla: Some(r#"{"clock":"first_response"}"#.into()),
        ..Default::default()
    };
    let first = store.emit(&req, now).await.unwrap().unwrap();
    assert_eq!(first.result, "C1:1");
    assert_eq!(first.entries.len(), 1);
    let e = &first.entries[0];
    assert_eq!(e.target, OutboxTarget::Event("switchboard.sla.warning".into()));
    // The payload is what Rust's own type reads, with every field in place.
    let event: switchboard::events::Event = serde_json::from_slice(&e.payload).unwrap();
    assert_eq!(event.id, "C1:1");
    assert_eq!(event.seq, Some(1));
    assert_eq!(event.subject, "C1");
    assert_eq!(event.data.agent.as_deref(), Some("alice"));
    assert_eq!(event.data.customer.address, "+14155550001");
    assert!(event.data.supervisors);
    assert_eq!(event.data.sla.unwrap()["clock"], "first_response");
    assert!((event.time.timestamp_millis() - now).abs() < 1, "time {} vs {now}", event.time);
    // The same cause again: nothing new.
    let again = store.emit(&req, now).await.unwrap().unwrap();
    assert_eq!(again.result, "C1:1");
    assert!(again.entries.is_empty());
    // Another cause: the next number.
    let next = store.emit(&EmitRequest { cause: "firing-2", ..req }, now).await.unwrap().unwrap();
    assert_eq!(next.result, "C1:2");
    // No such conversation: nothing.
    let none = EmitRequest { event_type: "switchboard.sla.warning", conversation: "C404", ..Default::default() };
    assert!(store.emit(&none, now).await.unwrap().is_none());
    // An event of no conversation is numbered in its scope.
    let away = EmitRequest { event_type: "switchboard.agent.away", scope: "agent:bob", agent: Some("bob"), ..Default::default() };
    let a = store.emit(&away, now).await.unwrap().unwrap();
    assert_eq!(a.result, "agent:bob:1");
    let ev: Value = serde_json::from_slice(&a.entries[0].payload).unwrap();
    assert_eq!(ev["data"]["agent"], "bob");
    assert_eq!(store.outbox_depth().await.unwrap().0, 3);
    cleanup(&prefix).await;
}

#[tokio::test]
async fn the_relay_claims_only_what_is_left_behind_and_leases_it() {
    let prefix = crate::support::unique_prefix();
    let store = store(&prefix).await;
    conversation(&prefix, "C1").await;
    let t0 = chrono::Utc::now().timestamp_millis();
    for cause in ["a", "b", "c"] {
        let req = EmitRequest { event_type: "switchboard.sla.breached", conversation: "C1", cause, ..Default::default() };
        store.emit(&req, t0).await.unwrap();
    }
    // Fresh entries belong to their step's fast path.
    assert!(store.outbox_claim(t0 + 500, 2000, 10_000, 10).await.unwrap().is_empty());
    // Left behind: claimed, oldest first, at most the batch.
    let claimed = store.outbox_claim(t0 + 2500, 2000, 10_000, 2).await.unwrap();
    assert_eq!(claimed.len(), 2);
    // Leased: another relay does not get them, only the third.
    let other = store.outbox_claim(t0 + 2600, 2000, 10_000, 10).await.unwrap();
    assert_eq!(other.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(), ["C1:3"]);
    // The lease over (the claimer died): due again.
    let later = store.outbox_claim(t0 + 2500 + 10_001, 2000, 10_000, 10).await.unwrap();
    assert_eq!(later.len(), 2);
    // Published: removed for good.
    let ids: Vec<String> = claimed.iter().chain(other.iter()).map(|e| e.id.clone()).collect();
    assert!(store.outbox_done(&ids, None).await.unwrap());
    assert_eq!(store.outbox_depth().await.unwrap().0, 0);
    assert!(store.outbox_claim(t0 + 60_000, 2000, 10_000, 10).await.unwrap().is_empty());
    cleanup(&prefix).await;
}

#[tokio::test]
async fn the_delivery_mark_only_moves_forward() {
    let prefix = crate::support::unique_prefix();
    let store = store(&prefix).await;
    assert_eq!(store.delivered_seq("C1").await.unwrap(), 0);
    store.mark_delivered_seq("C1", 2).await.unwrap();
    store.mark_delivered_seq("C1", 1).await.unwrap();
    assert_eq!(store.delivered_seq("C1").await.unwrap(), 2);
    store.mark_delivered_seq("C1", 3).await.unwrap();
    assert_eq!(store.delivered_seq("C1").await.unwrap(), 3);
    cleanup(&prefix).await;
}

#[tokio::test]
async fn a_reply_is_recorded_with_its_event_and_outbound_messages_once() {
    let prefix = crate::support::unique_prefix();
    let store = store(&prefix).await;
    conversation(&prefix, "C1").await;
    let record = |id: &'static str| ReplyRecord {
        conversation: "C1",
        id,
        agent: "alice",
        channel: switchboard_core::Channel::Sms,
        stored: r#"{"id":"R1","direction":"outbound","text":"hi"}"#.into(),
        message: r#"{"id":"R1","direction":"outbound","text":"hi"}"#.into(),
        outbound: vec![(id.to_owned(), r#"{"id":"R1"}"#.to_owned())],
        ttl_secs: 60,
        now_ms: chrono::Utc::now().timestamp_millis(),
    };
    let (outcome, entries) = store.record_reply(&record("R1")).await.unwrap();
    assert_eq!(outcome, ReplyOutcome::Queued);
    let targets: Vec<&OutboxTarget> = entries.iter().map(|e| &e.target).collect();
    assert_eq!(
        targets,
        [&OutboxTarget::Event("switchboard.conversation.replied".into()), &OutboxTarget::Outbound(switchboard_core::Channel::Sms)]
    );
    let conv = store.conversation("C1").await.unwrap().unwrap();
    assert_eq!(conv.state, switchboard::model::ConversationState::Waiting);
    assert_eq!(store.messages("C1").await.unwrap().len(), 1);
    // The same reply id again (a retry with the same idempotency key).
    let (again, none) = store.record_reply(&record("R1")).await.unwrap();
    assert_eq!(again, ReplyOutcome::Duplicate);
    assert!(none.is_empty());
    assert_eq!(store.messages("C1").await.unwrap().len(), 1, "recorded once");
    // A resolved conversation takes no reply, and nothing is queued.
    let client = redis::Client::open("redis://127.0.0.1:6379").unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("HSET").arg(format!("{{{prefix}}}:conv:C1")).arg("state").arg("resolved").query_async(&mut conn).await.unwrap();
    let (refused, nothing) = store.record_reply(&record("R2")).await.unwrap();
    assert_eq!(refused, ReplyOutcome::Resolved);
    assert!(nothing.is_empty());
    assert_eq!(store.outbox_depth().await.unwrap().0, 2);
    cleanup(&prefix).await;
}
