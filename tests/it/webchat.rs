//! Web chat end to end: sessions (with the shop's signed identity, CORS and
//! the origin allow-list), the WebSocket frame protocol (ack after the
//! JetStream ack, resend de-duplication, history, error frames, rate
//! limit), agent replies pushed live across replicas and caught up through
//! `history`, typing both ways, and sockets closed on shutdown.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use crate::support::{unique_prefix, wait_until, TestApp};

const WAIT: Duration = Duration::from_secs(15);
const IDENTITY_SECRET: &str = "shop-identity-secret-0123456789";

fn config(extra: &str) -> String {
    format!(
        r#"
        [server]
        admin_token = "admin-secret"
        [channels.webchat]
        session_secret = "a-session-secret-of-32-bytes!!!!"
        identity_secret = "{IDENTITY_SECRET}"
        allowed_origins = ["https://shop.example"]
        [agents.alice]
        name = "Alice"
        token = "alice-token"
        capacity = {{ chat = 3 }}
        deliver = [ {{ kind = "nats" }} ]
        {extra}
        "#
    )
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn open_session(app: &TestApp, body: Value) -> Value {
    let resp = reqwest::Client::new().post(app.url("/webchat/sessions")).json(&body).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

async fn connect(app: &TestApp, token: &str) -> Socket {
    let url = format!("ws://{}/webchat/ws?token={token}", app.addr);
    let (socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    socket
}

async fn send(socket: &mut Socket, frame: Value) {
    socket.send(Message::Text(frame.to_string().into())).await.unwrap();
}

/// The next text frame as JSON (pings and pongs skipped).
async fn next(socket: &mut Socket) -> Value {
    loop {
        let frame = tokio::time::timeout(WAIT, socket.next()).await.expect("a frame within 15 s");
        match frame.expect("the socket is open").unwrap() {
            Message::Text(t) => return serde_json::from_str(&t).unwrap(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected frame {other:?}"),
        }
    }
}

/// The next frame of `kind`, skipping others (live pushes may interleave).
async fn next_of(socket: &mut Socket, kind: &str) -> Value {
    loop {
        let frame = next(socket).await;
        if frame["type"] == kind {
            return frame;
        }
    }
}

async fn alice_conversation(app: &TestApp) -> String {
    let client = reqwest::Client::new();
    let found = wait_until(WAIT, || {
        let req = client.get(app.url("/api/v1/agents/alice/conversations")).bearer_auth("alice-token").send();
        async move {
            let body: Value = req.await.ok()?.json().await.ok()?;
            body["conversations"].as_array()?.first()?["id"].as_str().map(str::to_owned)
        }
    })
    .await;
    found.expect("the chat is assigned to alice")
}

async fn reply(app: &TestApp, conversation: &str, text: &str) {
    let resp = reqwest::Client::new()
        .post(app.url(&format!("/api/v1/conversations/{conversation}/reply")))
        .bearer_auth("alice-token")
        .json(&json!({ "text": text }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202, "{}", resp.text().await.unwrap());
}

#[tokio::test]
async fn the_widget_and_its_demo_page_are_served() {
    let app = TestApp::spawn("").await;
    let js = reqwest::get(app.url("/webchat/widget.js")).await.unwrap();
    assert_eq!(js.status(), 200);
    assert!(js.headers()["content-type"].to_str().unwrap().starts_with("text/javascript"));
    assert!(js.text().await.unwrap().contains("/webchat/sessions"));
    let page = reqwest::get(app.url("/webchat/")).await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("widget.js"));
    app.stop().await;
}

#[tokio::test]
async fn a_visitor_chats_with_an_agent_and_catches_up_after_a_reconnect() {
    let app = TestApp::spawn_ready(&config("")).await;
    let session = open_session(&app, json!({ "name": "Li Lei" })).await;
    let (token, visitor) = (session["session_token"].as_str().unwrap(), session["visitor_id"].as_str().unwrap());
    assert!(visitor.starts_with("v_"));
    let mut socket = connect(&app, token).await;

    send(&mut socket, json!({ "type": "history", "after": 0 })).await;
    assert_eq!(next(&mut socket).await, json!({ "type": "history", "messages": [], "more": false }));

    send(&mut socket, json!({ "type": "message", "client_id": "m1", "text": "我的快递到哪里了？" })).await;
    let ack = next_of(&mut socket, "ack").await;
    assert_eq!((ack["client_id"].as_str(), ack["seq"].as_u64()), (Some("m1"), Some(1)));
    // A resend after a lost ack is acked again with the original id and seq.
    send(&mut socket, json!({ "type": "message", "client_id": "m1", "text": "我的快递到哪里了？" })).await;
    assert_eq!(next_of(&mut socket, "ack").await, ack);

    let conversation = alice_conversation(&app).await;
    reply(&app, &conversation, "It ships today.").await;
    let pushed = next_of(&mut socket, "message").await;
    assert_eq!(pushed["from"], "agent");
    assert_eq!(pushed["agent"], "Alice");
    assert_eq!(pushed["text"], "It ships today.");
    assert_eq!(pushed["seq"], 2);

    // The conversation holds the visitor's message once.
    let detail: Value = reqwest::Client::new()
        .get(app.url(&format!("/api/v1/conversations/{conversation}")))
        .bearer_auth("alice-token")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let inbound = detail["messages"].as_array().unwrap().iter().filter(|m| m["direction"] == "inbound").count();
    assert_eq!(inbound, 1, "{detail}");

    // Offline: the reply waits in history for the next connect.
    socket.close(None).await.unwrap();
    reply(&app, &conversation, "Tracking: SF123").await;
    let mut socket = connect(&app, token).await;
    let deadline = tokio::time::Instant::now() + WAIT;
    let history = loop {
        send(&mut socket, json!({ "type": "history", "after": 1 })).await;
        let h = next_of(&mut socket, "history").await;
        if h["messages"].as_array().unwrap().len() == 2 {
            break h;
        }
        assert!(tokio::time::Instant::now() < deadline, "both replies in history: {h}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let texts: Vec<&str> = history["messages"].as_array().unwrap().iter().map(|m| m["text"].as_str().unwrap()).collect();
    assert_eq!(texts, ["It ships today.", "Tracking: SF123"]);
    assert_eq!(history["messages"][1]["seq"], 3);

    // From the start, the visitor's own message carries its client id.
    send(&mut socket, json!({ "type": "history", "after": 0 })).await;
    let all = next_of(&mut socket, "history").await;
    assert_eq!(all["messages"][0]["client_id"], "m1");
    assert_eq!(all["messages"][0]["from"], "visitor");
    assert_eq!(all["messages"][0]["text"], "我的快递到哪里了？");
    app.stop().await;
}

#[tokio::test]
async fn replies_reach_a_socket_held_by_another_replica() {
    let prefix = unique_prefix();
    let a = TestApp::ready(TestApp::spawn_with_prefix(&config(""), prefix.clone()).await).await;
    let b = TestApp::ready(TestApp::spawn_with_prefix(&config(""), prefix).await).await;
    // The session comes from replica B, the socket is held by replica A.
    let session = open_session(&b, json!({})).await;
    let token = session["session_token"].as_str().unwrap();
    let mut socket = connect(&a, token).await;
    // A second tab on replica B sees the visitor's own message.
    let mut other_tab = connect(&b, token).await;
    send(&mut socket, json!({ "type": "message", "client_id": "x1", "text": "hello" })).await;
    next_of(&mut socket, "ack").await;
    let echoed = next_of(&mut other_tab, "message").await;
    assert_eq!((echoed["from"].as_str(), echoed["client_id"].as_str()), (Some("visitor"), Some("x1")));

    let conversation = alice_conversation(&b).await;
    // Agent typing through replica B shows on replica A's socket.
    let typing = reqwest::Client::new()
        .post(b.url(&format!("/api/v1/conversations/{conversation}/typing")))
        .bearer_auth("alice-token")
        .json(&json!({ "on": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(typing.status(), 204);
    assert_eq!(next_of(&mut socket, "typing").await, json!({ "type": "typing", "from": "agent", "on": true }));
    for _ in 0..3 {
        reply(&b, &conversation, "pushed across replicas").await;
    }
    for _ in 0..3 {
        assert_eq!(next_of(&mut socket, "message").await["text"], "pushed across replicas");
    }
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn visitor_typing_reaches_the_agents_subject() {
    let app = TestApp::spawn_ready(&config("")).await;
    let nats = async_nats::connect("127.0.0.1:4222").await.unwrap();
    let mut agent = nats.subscribe(format!("{}.agent.alice", app.prefix)).await.unwrap();
    let session = open_session(&app, json!({})).await;
    let mut socket = connect(&app, session["session_token"].as_str().unwrap()).await;
    send(&mut socket, json!({ "type": "message", "client_id": "t1", "text": "hi" })).await;
    next_of(&mut socket, "ack").await;
    alice_conversation(&app).await;
    send(&mut socket, json!({ "type": "typing", "on": true })).await;
    let typing = tokio::time::timeout(WAIT, async {
        loop {
            let m = agent.next().await.unwrap();
            let event: Value = serde_json::from_slice(&m.payload).unwrap();
            if event["type"] == "switchboard.conversation.typing" {
                return event;
            }
        }
    })
    .await
    .expect("a typing event for alice");
    assert_eq!(typing["data"]["typing"], true);
    assert_eq!(typing["data"]["agent"], "alice");
    app.stop().await;
}

#[tokio::test]
async fn bad_frames_get_error_frames_and_the_socket_stays_open() {
    let app = TestApp::spawn_ready(&config("")).await;
    let session = open_session(&app, json!({})).await;
    let mut socket = connect(&app, session["session_token"].as_str().unwrap()).await;
    let cases = [
        ("not json".to_owned(), "malformed"),
        (json!({ "type": "shout" }).to_string(), "malformed"),
        (json!({ "type": "message", "client_id": "bad id!", "text": "x" }).to_string(), "malformed"),
        (json!({ "type": "message", "client_id": "e1", "text": "   " }).to_string(), "rejected"),
        (json!({ "type": "message", "client_id": "e2", "text": "x".repeat(4001) }).to_string(), "rejected"),
        (json!({ "type": "message", "client_id": "e3", "text": "y".repeat(20_000) }).to_string(), "too_large"),
    ];
    for (frame, code) in cases {
        socket.send(Message::Text(frame.clone().into())).await.unwrap();
        let answer = next(&mut socket).await;
        assert_eq!((answer["type"].as_str(), answer["code"].as_str()), (Some("error"), Some(code)), "{frame:.60}");
    }
    socket.send(Message::Binary(vec![1, 2, 3].into())).await.unwrap();
    assert_eq!(next(&mut socket).await["code"], "malformed");
    send(&mut socket, json!({ "type": "ping" })).await;
    assert_eq!(next(&mut socket).await, json!({ "type": "pong" }));
    app.stop().await;
}

#[tokio::test]
async fn new_messages_over_the_rate_are_refused_but_resends_are_acked() {
    let app = TestApp::spawn_ready(&config("").replace(
        "allowed_origins = [\"https://shop.example\"]",
        "allowed_origins = [\"https://shop.example\"]\nmessages_per_minute = 2",
    ))
    .await;
    let session = open_session(&app, json!({})).await;
    let mut socket = connect(&app, session["session_token"].as_str().unwrap()).await;
    for id in ["r1", "r2"] {
        send(&mut socket, json!({ "type": "message", "client_id": id, "text": "hi" })).await;
        assert_eq!(next_of(&mut socket, "ack").await["client_id"], id);
    }
    send(&mut socket, json!({ "type": "message", "client_id": "r3", "text": "hi" })).await;
    let refused = next(&mut socket).await;
    assert_eq!((refused["code"].as_str(), refused["client_id"].as_str()), (Some("rate_limited"), Some("r3")));
    send(&mut socket, json!({ "type": "message", "client_id": "r1", "text": "hi" })).await;
    assert_eq!(next(&mut socket).await["type"], "ack");
    app.stop().await;
}

fn identity(customer_id: &str, tier: &str, timestamp: i64, secret: &str) -> Value {
    let signature = switchboard_webchat::identity_signature(secret, customer_id, None, Some(tier), timestamp);
    json!({ "customer_id": customer_id, "tier": tier, "timestamp": timestamp, "signature": signature })
}

#[tokio::test]
async fn sessions_check_the_identity_the_origin_and_the_body() {
    let app = TestApp::spawn_ready(&config("")).await;
    let client = reqwest::Client::new();
    let now = chrono::Utc::now().timestamp();
    let post = |body: String, origin: Option<&'static str>| {
        let mut req = client.post(app.url("/webchat/sessions")).header("content-type", "application/json").body(body);
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        req.send()
    };

    // A signed identity is accepted and travels in the token.
    let ok = post(json!({ "identity": identity("c-1001", "vip", now, IDENTITY_SECRET) }).to_string(), Some("https://shop.example"))
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.headers()["access-control-allow-origin"], "https://shop.example");
    let issued: Value = ok.json().await.unwrap();
    let token = issued["session_token"].as_str().unwrap();
    let claims = base64::Engine::decode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        token.split('.').next().unwrap(),
    )
    .unwrap();
    let claims: Value = serde_json::from_slice(&claims).unwrap();
    assert_eq!(claims["customer"]["customer_id"], "c-1001");
    assert_eq!(claims["customer"]["tier"], "vip");

    let cases: Vec<(String, Option<&'static str>, u16)> = vec![
        (json!({ "identity": identity("c-1001", "vip", now, "a-forger-guessing-the-secret") }).to_string(), None, 403),
        (json!({ "identity": identity("c-1001", "vip", now - 3600, IDENTITY_SECRET) }).to_string(), None, 403),
        ("{}".into(), Some("https://evil.example"), 403),
        ("{\"visitor_id\": 5}".into(), None, 400),
        ("{\"unknown\": true}".into(), None, 400),
        ("[1,2]".into(), None, 400),
        (format!("{{\"name\": \"{}\"}}", "n".repeat(9000)), None, 413),
    ];
    for (body, origin, status) in cases {
        let resp = post(body.clone(), origin).await.unwrap();
        assert_eq!(resp.status(), status, "{body:.80}");
        let error: Value = resp.json().await.unwrap();
        assert!(error["error"]["message"].is_string(), "{error}");
    }

    // The preflight answers the allowed origin only.
    let preflight = |origin: &'static str| {
        client
            .request(reqwest::Method::OPTIONS, app.url("/webchat/sessions"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .send()
    };
    let allowed = preflight("https://shop.example").await.unwrap();
    assert_eq!(allowed.status(), 204);
    assert_eq!(allowed.headers()["access-control-allow-origin"], "https://shop.example");
    assert_eq!(preflight("https://evil.example").await.unwrap().status(), 403);

    // The socket: a missing, forged or foreign-origin request is refused before the upgrade.
    let refused = |query: String, origin: Option<&'static str>| {
        let mut req = format!("ws://{}/webchat/ws{query}", app.addr).into_client_request().unwrap();
        if let Some(o) = origin {
            req.headers_mut().insert("origin", o.parse().unwrap());
        }
        async move {
            match tokio_tungstenite::connect_async(req).await {
                Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => resp.status().as_u16(),
                other => panic!("expected a refusal, got {:?}", other.map(|_| ())),
            }
        }
    };
    assert_eq!(refused(String::new(), None).await, 403);
    assert_eq!(refused(format!("?token={}x", &token[..token.len() - 1]), None).await, 403);
    assert_eq!(refused(format!("?token={token}"), Some("https://evil.example")).await, 403);
    let mut own = format!("ws://{}/webchat/ws?token={token}", app.addr).into_client_request().unwrap();
    own.headers_mut().insert("origin", format!("http://{}", app.addr).parse().unwrap());
    assert!(tokio_tungstenite::connect_async(own).await.is_ok(), "the daemon's own origin (demo page) is allowed");
    app.stop().await;
}

#[tokio::test]
async fn identities_are_refused_when_no_identity_secret_is_configured() {
    let app = TestApp::spawn_ready(&config("").replace(&format!("identity_secret = \"{IDENTITY_SECRET}\""), "")).await;
    let now = chrono::Utc::now().timestamp();
    let resp = reqwest::Client::new()
        .post(app.url("/webchat/sessions"))
        .json(&json!({ "identity": identity("c-1", "vip", now, "") }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    app.stop().await;
}

#[tokio::test]
async fn shutdown_closes_open_sockets() {
    let app = TestApp::spawn_ready(&config("")).await;
    let session = open_session(&app, json!({})).await;
    let mut socket = connect(&app, session["session_token"].as_str().unwrap()).await;
    let stopping = tokio::spawn(app.stop());
    let closed = tokio::time::timeout(WAIT, async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)),
                Some(Ok(_)) => continue,
                _ => return None,
            }
        }
    })
    .await
    .expect("the socket is closed");
    assert_eq!(closed, Some(1001));
    tokio::time::timeout(WAIT, stopping).await.expect("the instance stops").unwrap();
}

/// A visitor's sockets are capped (`max_sockets_per_visitor`), and so are
/// the instance's (`max_sockets`): one more is refused before the upgrade
/// with 429 `too_many_sockets`; a closed socket gives its place back.
#[tokio::test]
async fn sockets_are_capped_per_visitor_and_in_all() {
    let app = TestApp::spawn_ready(&config("").replace(
        "allowed_origins = [\"https://shop.example\"]",
        "allowed_origins = [\"https://shop.example\"]\nmax_sockets_per_visitor = 3\nmax_sockets = 5",
    ))
    .await;
    let refused = |token: String| {
        let url = format!("ws://{}/webchat/ws?token={token}", app.addr);
        async move {
            match tokio_tungstenite::connect_async(url).await {
                Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
                    let body: Value = serde_json::from_slice(resp.body().as_deref().unwrap_or_default()).unwrap();
                    (resp.status().as_u16(), body["error"]["code"].as_str().unwrap_or("").to_owned())
                }
                other => panic!("expected a refusal, got {:?}", other.map(|_| ())),
            }
        }
    };
    let one = open_session(&app, json!({})).await["session_token"].as_str().unwrap().to_owned();
    let mut mine = Vec::new();
    for _ in 0..3 {
        mine.push(connect(&app, &one).await);
    }
    assert_eq!(refused(one.clone()).await, (429, "too_many_sockets".to_owned()));
    // Another visitor still gets in, up to the instance's cap of 5.
    let two = open_session(&app, json!({})).await["session_token"].as_str().unwrap().to_owned();
    let mut theirs = vec![connect(&app, &two).await, connect(&app, &two).await];
    assert_eq!(refused(two.clone()).await, (429, "too_many_sockets".to_owned()));
    // A closed socket gives its place back.
    let mut closing = theirs.pop().unwrap();
    closing.close(None).await.unwrap();
    while closing.next().await.is_some() {}
    let back = wait_until(WAIT, || {
        let url = format!("ws://{}/webchat/ws?token={two}", app.addr);
        async move { tokio_tungstenite::connect_async(url).await.ok().map(|(s, _)| s) }
    })
    .await;
    assert!(back.is_some(), "the closed socket's place did not come back");
    drop((mine, theirs, back));
    app.stop().await;
}

#[tokio::test]
async fn the_satisfaction_survey_is_a_csat_frame_answered_with_stars_and_a_comment() {
    let app = TestApp::spawn_ready(&config(
        "[csat]\nenabled = true\ndelay_secs = 0\nscale = 5\ncomment = true\nquestion = { en = \"How did we do?\", zh = \"请评价\" }\n",
    ))
    .await;
    let session = open_session(&app, json!({ "name": "Li Lei" })).await;
    let mut socket = connect(&app, session["session_token"].as_str().unwrap()).await;
    send(&mut socket, json!({ "type": "message", "client_id": "m1", "text": "Where is my parcel?" })).await;
    next_of(&mut socket, "ack").await;
    let conversation = alice_conversation(&app).await;
    let resp = reqwest::Client::new()
        .post(app.url(&format!("/api/v1/conversations/{conversation}/resolve")))
        .bearer_auth("alice-token")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    let survey = next_of(&mut socket, "csat").await;
    assert_eq!((survey["scale"].as_u64(), survey["comment"].as_bool()), (Some(5), Some(true)), "{survey}");
    assert!(survey["question"].as_str().unwrap().contains("How did we do?"), "{survey}");
    // Out of the scale: refused, nothing recorded.
    send(&mut socket, json!({ "type": "csat", "score": 6 })).await;
    assert_eq!(next_of(&mut socket, "error").await["code"], "rejected");
    send(&mut socket, json!({ "type": "csat", "score": 4, "comment": "Quick, thanks\u{0007}" })).await;
    assert_eq!(next_of(&mut socket, "csat_done").await, json!({ "type": "csat_done", "score": 4 }));
    // The same answer resent is absorbed; another score is refused.
    send(&mut socket, json!({ "type": "csat", "score": 4, "comment": "Quick, thanks" })).await;
    assert_eq!(next_of(&mut socket, "csat_done").await["score"], 4);
    send(&mut socket, json!({ "type": "csat", "score": 1 })).await;
    assert_eq!(next_of(&mut socket, "error").await["code"], "rejected");

    let detail: Value = reqwest::Client::new()
        .get(app.url(&format!("/api/v1/conversations/{conversation}")))
        .bearer_auth("admin-secret")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let csat = &detail["conversation"]["csat"];
    assert_eq!((csat["score"].as_u64(), csat["comment"].as_str()), (Some(4), Some("Quick, thanks")), "{detail}");
    assert_eq!(detail["conversation"]["state"], "resolved");
    app.stop().await;
}

#[tokio::test]
async fn waiting_visitors_get_their_place_in_line_and_the_waiting_reply() {
    let extra = r#"
        [queues.general]
        waiting_reply = { en = "You are number {position} in line, the wait is {wait}.", zh = "您排在第 {position} 位。" }
        waiting_reply_after_secs = 1
    "#;
    let app = TestApp::spawn_ready(&config(extra)).await;
    // Alice takes three chats; the fourth and fifth visitors wait.
    let mut sockets = Vec::new();
    for i in 0..5 {
        let session = open_session(&app, json!({})).await;
        let mut socket = connect(&app, session["session_token"].as_str().unwrap()).await;
        send(&mut socket, json!({ "type": "message", "client_id": format!("m{i}"), "text": "hello, is anyone there?" })).await;
        next_of(&mut socket, "ack").await;
        sockets.push(socket);
    }
    let (fourth, fifth) = sockets.split_at_mut(4);
    let (fourth, fifth) = (&mut fourth[3], &mut fifth[0]);
    assert_eq!(next_of(fourth, "queue").await, json!({ "type": "queue", "position": 1 }));
    // The fifth: its place, and the waiting reply on its socket like an
    // agent's, in either order.
    let (mut place, mut told) = (None, None);
    while place.is_none() || told.is_none() {
        let frame = next(fifth).await;
        match frame["type"].as_str() {
            Some("queue") => place = Some(frame),
            Some("message") => told = Some(frame),
            _ => {}
        }
    }
    assert_eq!(place.unwrap(), json!({ "type": "queue", "position": 2 }));
    // Alice took three in the last 15 minutes: one per 5 minutes, second in line.
    let told = told.unwrap();
    assert_eq!(told["text"], "You are number 2 in line, the wait is about 10 minutes.");
    assert_eq!(told["from"], "system", "the service's own notice, not an agent's: {told}");

    // Alice resolves one: the fourth is placed, the fifth moves up.
    let conversation = alice_conversation(&app).await;
    let resp = reqwest::Client::new()
        .post(app.url(&format!("/api/v1/conversations/{conversation}/resolve")))
        .bearer_auth("alice-token")
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
    assert_eq!(next_of(fourth, "queue").await, json!({ "type": "queue", "position": 0 }));
    assert_eq!(next_of(fifth, "queue").await, json!({ "type": "queue", "position": 1 }));
    app.stop().await;
}
