//! Faults at a small size in the suite: Redis or NATS goes away (a proxy in
//! front of the shared server stops forwarding and refuses connections)
//! while traffic and agents' actions go on, and comes back. Nothing that
//! was acknowledged is lost; it only waits.

use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::Value;
use tokio::net::TcpListener;

use crate::support::{wait_until, TestApp, TWILIO_TOKEN};

fn config(nats_port: Option<u16>, redis_port: Option<u16>) -> String {
    let nats = nats_port.map(|p| format!("[nats]\nurl = \"nats://127.0.0.1:{p}\"\nmax_deliver = 2\n")).unwrap_or_else(|| "[nats]\nmax_deliver = 2\n".into());
    let redis = redis_port.map(|p| format!("[redis]\nurl = \"redis://127.0.0.1:{p}\"\ntimeout_ms = 300\n")).unwrap_or_default();
    format!(
        r#"
        {nats}
        {redis}
        [server]
        admin_token = "admin-secret"
        [channels.sms.shop]
        account_sid = "AC0123456789abcdef0123456789abcdef"
        auth_token = "{TWILIO_TOKEN}"
        from = "+15005550006"
        api_base = "http://127.0.0.1:9"
        [agents.alice]
        token = "alice-token"
        capacity = {{ sms = 4 }}
        deliver = [ {{ kind = "nats" }} ]
        "#
    )
}

/// Events of the shared NATS server's event log of `prefix`, as they come.
async fn event_log(prefix: &str) -> async_nats::Subscriber {
    let nats = async_nats::connect("127.0.0.1:4222").await.unwrap();
    nats.subscribe(format!("{prefix}.events.>")).await.unwrap()
}

async fn next_event(sub: &mut async_nats::Subscriber, kind: &str, within: Duration) -> Option<Value> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let msg = tokio::time::timeout_at(deadline, sub.next()).await.ok()??;
        let e: Value = serde_json::from_slice(&msg.payload).ok()?;
        if e["type"] == kind {
            return Some(e);
        }
    }
}

/// With Redis gone for longer than the message's whole delivery budget
/// (`max_deliver = 2`, with backoff: about 1.5 s), an inbound message the
/// webhook answered 200 still waits for Redis and is routed once it is
/// back — before, it ran out of deliveries and was gone.
#[tokio::test]
async fn an_acknowledged_message_waits_out_a_redis_outage() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut outage = crate::support::proxy(listener, "127.0.0.1:6379");
    let app = TestApp::spawn_ready(&config(None, Some(port))).await;
    let mut log = event_log(&app.prefix).await;

    outage.cancel();
    crate::support::sms(&app, "SM00000000000000000000000000000F01", "+14155550101", "during the outage").await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    outage = crate::support::proxy(TcpListener::bind(("127.0.0.1", port)).await.unwrap(), "127.0.0.1:6379");
    let back = Instant::now();
    let assigned = next_event(&mut log, "switchboard.conversation.assigned", Duration::from_secs(15)).await;
    let assigned = assigned.expect("the message was routed after Redis returned");
    eprintln!("routed {:?} after Redis returned", back.elapsed());
    assert_eq!(assigned["data"]["agent"], "alice");
    assert_eq!(assigned["data"]["message"]["text"], "during the outage");
    app.stop().await;
    outage.cancel();
}

/// An API action answered 2xx while NATS is away has its event on the log
/// once NATS is back (the outbox), without any retry by the caller.
#[tokio::test]
async fn an_action_taken_while_nats_is_away_reaches_the_log_when_it_returns() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut outage = crate::support::proxy(listener, "127.0.0.1:4222");
    let app = TestApp::spawn_ready(&config(Some(port), None)).await;
    let mut log = event_log(&app.prefix).await;
    crate::support::sms(&app, "SM00000000000000000000000000000F02", "+14155550102", "hello").await;
    let assigned = next_event(&mut log, "switchboard.conversation.assigned", Duration::from_secs(10)).await.unwrap();
    let conversation = assigned["data"]["conversation_id"].as_str().unwrap().to_owned();
    assert_eq!(assigned["seq"], 1);

    outage.cancel();
    let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    let answered = wait_until(Duration::from_secs(10), || async {
        let r = client
            .post(app.url(&format!("/api/v1/conversations/{conversation}/reply")))
            .bearer_auth("alice-token")
            .header("idempotency-key", "reply-1")
            .json(&serde_json::json!({"text": "on its way"}))
            .send()
            .await
            .ok()?;
        Some(r.status().as_u16())
    })
    .await;
    assert_eq!(answered, Some(202), "the reply is queued while NATS is away");
    // The agent's tool retries (it never saw the answer): the same reply.
    let retry = client
        .post(app.url(&format!("/api/v1/conversations/{conversation}/reply")))
        .bearer_auth("alice-token")
        .header("idempotency-key", "reply-1")
        .json(&serde_json::json!({"text": "on its way"}))
        .send()
        .await
        .unwrap();
    assert_eq!(retry.status(), 202);
    let resolved = client
        .post(app.url(&format!("/api/v1/conversations/{conversation}/resolve")))
        .bearer_auth("alice-token")
        .send()
        .await
        .unwrap();
    assert_eq!(resolved.status(), 200, "resolved while NATS is away");

    tokio::time::sleep(Duration::from_secs(2)).await;
    outage = crate::support::proxy(TcpListener::bind(("127.0.0.1", port)).await.unwrap(), "127.0.0.1:4222");
    let replied = next_event(&mut log, "switchboard.conversation.replied", Duration::from_secs(15)).await.expect("replied on the log");
    let resolved = next_event(&mut log, "switchboard.conversation.resolved", Duration::from_secs(15)).await.expect("resolved on the log");
    assert_eq!(replied["seq"], 2);
    assert_eq!(resolved["seq"], 3);
    assert_eq!(resolved["id"], format!("{conversation}:3"));
    // One reply, however many times it was asked for.
    assert!(next_event(&mut log, "switchboard.conversation.replied", Duration::from_secs(2)).await.is_none(), "one replied event");
    let view: Value = client
        .get(app.url(&format!("/api/v1/conversations/{conversation}")))
        .bearer_auth("alice-token")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let outbound = view["messages"].as_array().unwrap().iter().filter(|m| m["direction"] == "outbound").count();
    assert_eq!(outbound, 1, "{view}");
    app.stop().await;
    outage.cancel();
}
