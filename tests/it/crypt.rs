//! Encryption at rest (`[security] data_keys`): with keys set, a message's
//! text, a reply and a note are found nowhere in plain text in Redis nor on
//! the streams, while the API, the agent's delivery and the provider see
//! them in clear; a key put in front keeps old values readable and `rekey`
//! moves them to it; a value whose key is missing is named, never shown.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use futures::StreamExt;
use serde_json::{json, Value};

use crate::privacy::{containing, redis_dump, stream_dump};
use crate::support::{sms, unique_prefix, wait_until, FakePeer, TestApp};

const WAIT: Duration = Duration::from_secs(15);
const BIN: &str = env!("CARGO_BIN_EXE_switchboard");

/// A key file of 64 hex digits.
fn key_file(byte: u8) -> PathBuf {
    let path = std::env::temp_dir().join(format!("sb-key-{}", ulid::Ulid::new()));
    std::fs::write(&path, format!("{}\n", format!("{byte:02x}").repeat(32))).unwrap();
    path
}

fn keys_toml(keys: &[(&str, &PathBuf)]) -> String {
    let list: Vec<String> =
        keys.iter().map(|(id, path)| format!("{{ id = \"{id}\", key_file = \"{}\" }}", path.display())).collect();
    format!("[security]\ndata_keys = [{}]\n", list.join(", "))
}

fn config(twilio: &str, keys: &[(&str, &PathBuf)]) -> String {
    format!(
        r#"
        [server]
        admin_token = "admin-secret"
        [outbound]
        base_delay_ms = 10
        [channels.sms.shop]
        account_sid = "AC0123456789abcdef0123456789abcdef"
        auth_token = "twilio-test-token"
        from = "+15005550006"
        api_base = "{twilio}"
        [agents.alice]
        token = "alice-token"
        capacity = {{ sms = 2 }}
        deliver = [ {{ kind = "nats" }} ]
        {}
        "#,
        keys_toml(keys)
    )
}

async fn call(app: &TestApp, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = reqwest::Client::new().request(method, app.url(path)).bearer_auth("alice-token");
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn alices_conversation(app: &TestApp) -> String {
    wait_until(WAIT, || async {
        let (_, v) = call(app, reqwest::Method::GET, "/api/v1/agents/alice/conversations", None).await;
        v["conversations"].as_array()?.first()?["id"].as_str().map(str::to_owned)
    })
    .await
    .expect("alice has the conversation")
}

/// The texts of a conversation's history as the API shows them.
async fn texts(app: &TestApp, conv: &str) -> Vec<String> {
    let (status, v) = call(app, reqwest::Method::GET, &format!("/api/v1/conversations/{conv}"), None).await;
    assert_eq!(status, 200, "{v}");
    v["messages"].as_array().unwrap().iter().map(|m| m["text"].as_str().unwrap_or("?").to_owned()).collect()
}

async fn note(app: &TestApp, conv: &str, text: &str) {
    let (status, v) =
        call(app, reqwest::Method::POST, &format!("/api/v1/conversations/{conv}/notes"), Some(json!({ "text": text }))).await;
    assert_eq!(status, 201, "{v}");
}

/// Runs `switchboard rekey` on the instance's prefix with `keys`.
fn rekey(prefix: &str, keys: &[(&str, &PathBuf)]) -> (bool, Value, String) {
    let path = std::env::temp_dir().join(format!("sb-rekey-{}.toml", ulid::Ulid::new()));
    std::fs::write(&path, format!("[redis]\nprefix = \"{prefix}\"\n[nats]\nprefix = \"{prefix}\"\n{}", keys_toml(keys)))
        .unwrap();
    let mut cmd = Command::new(BIN);
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("SWITCHBOARD__")) {
        cmd.env_remove(k);
    }
    let out = cmd.arg("rekey").arg("--config").arg(&path).output().unwrap();
    let stdout: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out.status.success(), stdout, String::from_utf8_lossy(&out.stderr).into_owned())
}

#[tokio::test]
async fn sealed_in_redis_and_on_the_streams_clear_in_the_api_and_to_the_agent() {
    let twilio = FakePeer::start(vec![(201, vec![], r#"{"sid":"SMout1","status":"queued"}"#.into())]).await;
    let k1 = key_file(0x11);
    let app = TestApp::spawn_ready(&config(&twilio.base(), &[("k1", &k1)])).await;
    let tag = ulid::Ulid::new().to_string().to_lowercase();
    let (text, note_text, reply_text) = (format!("sms-text-{tag}"), format!("note-text-{tag}"), format!("reply-text-{tag}"));
    let nats = async_nats::connect("127.0.0.1:4222").await.unwrap();
    let mut agent = nats.subscribe(format!("{}.agent.alice", app.prefix)).await.unwrap();

    sms(&app, &format!("SM{tag}"), "+14155550177", &text).await;
    let conv = alices_conversation(&app).await;
    // The agent's tools get the event in clear.
    let delivered = tokio::time::timeout(WAIT, async {
        while let Some(m) = agent.next().await {
            if String::from_utf8_lossy(&m.payload).contains(&text) {
                return;
            }
        }
    })
    .await;
    assert!(delivered.is_ok(), "the agent's delivery carries the text in clear");
    note(&app, &conv, &note_text).await;
    let (status, v) =
        call(&app, reqwest::Method::POST, &format!("/api/v1/conversations/{conv}/reply"), Some(json!({ "text": reply_text })))
            .await;
    assert_eq!(status, 202, "{v}");
    // The provider gets the reply in clear.
    let sent = twilio.wait_for(1, WAIT).await;
    assert_eq!(sent[0].form_value("Body").as_deref(), Some(reply_text.as_str()));
    // The API shows all three in clear.
    let shown = wait_until(WAIT, || async {
        let t = texts(&app, &conv).await;
        (t.len() == 3).then_some(t)
    })
    .await
    .expect("three entries");
    assert_eq!(shown, [text.clone(), note_text.clone(), reply_text.clone()]);

    // Redis, every key of every type: sealed values, no plaintext (the
    // outbox entries, which hold events until they are published, drain).
    let needles = [text.as_str(), note_text.as_str(), reply_text.as_str()];
    let clean = wait_until(WAIT, || async {
        let dump = redis_dump(&app.prefix).await;
        containing(&dump, &needles).is_empty().then_some(dump)
    })
    .await;
    let dump = match clean {
        Some(dump) => dump,
        None => {
            let dump = redis_dump(&app.prefix).await;
            panic!("plaintext in Redis: {:?}", containing(&dump, &needles))
        }
    };
    let history = dump.iter().find(|l| l.contains(":messages =>")).expect("the history");
    assert_eq!(history.matches("enc:v1:k1:").count(), 3, "{history}");
    // The streams: every stored message sealed whole, none in clear.
    let streamed = stream_dump(&app.prefix).await;
    assert!(containing(&streamed, &needles).is_empty(), "plaintext on a stream: {:?}", containing(&streamed, &needles));
    let inbound: Vec<_> = streamed.iter().filter(|l| l.contains(".inbound.sms ")).collect();
    assert!(!inbound.is_empty() && inbound.iter().all(|l| l.contains(" enc:v1:k1:")), "{inbound:?}");
    assert!(streamed.iter().any(|l| l.contains(".outbound.sms enc:v1:k1:")), "{streamed:?}");
    assert!(streamed.iter().any(|l| l.contains(".events.") && l.contains(" enc:v1:k1:")), "{streamed:?}");
    app.stop().await;
}

#[tokio::test]
async fn a_key_put_in_front_keeps_old_values_readable_and_rekey_moves_them() {
    let twilio = FakePeer::start(vec![(201, vec![], r#"{"sid":"SMout1","status":"queued"}"#.into())]).await;
    let (k1, k2) = (key_file(0x11), key_file(0x22));
    let prefix = unique_prefix();
    let tag = ulid::Ulid::new().to_string().to_lowercase();
    let (text, note_text) = (format!("old-text-{tag}"), format!("old-note-{tag}"));

    // Written with k1 alone.
    let app = TestApp::ready(TestApp::spawn_with_prefix(&config(&twilio.base(), &[("k1", &k1)]), prefix.clone()).await).await;
    sms(&app, &format!("SM{tag}"), "+14155550178", &text).await;
    let conv = alices_conversation(&app).await;
    note(&app, &conv, &note_text).await;
    assert_eq!(texts(&app, &conv).await, [text.clone(), note_text.clone()]);
    app.stop().await;

    // k2 in front: the old values still read.
    let rotated = [("k2", &k2), ("k1", &k1)];
    let app = TestApp::ready(TestApp::spawn_with_prefix(&config(&twilio.base(), &rotated), prefix.clone()).await).await;
    assert_eq!(texts(&app, &conv).await, [text.clone(), note_text.clone()], "old values open with k1");
    let history = |dump: Vec<String>| dump.into_iter().find(|l| l.contains(&format!(":conv:{conv}:messages =>"))).expect("history");
    let before = history(redis_dump(&prefix).await);
    assert_eq!((before.matches("enc:v1:k1:").count(), before.matches("enc:v1:k2:").count()), (2, 0), "{before}");

    // rekey moves them to k2, and says how many.
    let (ok, out, err) = rekey(&prefix, &rotated);
    assert!(ok, "{err}");
    assert_eq!(out["counts"]["rekeyed"], 2, "{out}");
    assert_eq!(out["counts"]["failed"], 0, "{out}");
    let after = history(redis_dump(&prefix).await);
    assert_eq!((after.matches("enc:v1:k1:").count(), after.matches("enc:v1:k2:").count()), (0, 2), "{after}");
    assert_eq!(texts(&app, &conv).await, [text.clone(), note_text.clone()]);
    // A second run finds nothing to do.
    let (ok, out, err) = rekey(&prefix, &rotated);
    assert!(ok, "{err}");
    assert_eq!((out["counts"]["rekeyed"].as_u64(), out["counts"]["current"].as_u64()), (Some(0), Some(2)), "{out}");
    app.stop().await;

    // k2 dropped from the configuration: its values are named, not shown.
    let k3 = key_file(0x33);
    let (ok, out, err) = rekey(&prefix, &[("k3", &k3)]);
    assert!(ok, "{err}");
    assert_eq!(out["counts"]["failed"], 2, "{out}");
    assert!(err.contains("k2") && err.contains("not configured"), "the error names the key id: {err}");
    let app = TestApp::ready(TestApp::spawn_with_prefix(&config(&twilio.base(), &[("k3", &k3)]), prefix.clone()).await).await;
    assert_eq!(texts(&app, &conv).await, ["", ""], "blank, never ciphertext");
    let untouched = history(redis_dump(&prefix).await);
    assert_eq!(untouched.matches("enc:v1:k2:").count(), 2, "left as they are: {untouched}");
    app.stop().await;
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn send(socket: &mut Socket, frame: Value) {
    use futures::SinkExt;
    socket.send(tokio_tungstenite::tungstenite::Message::Text(frame.to_string().into())).await.unwrap();
}

/// The next text frame of `kind`, skipping others.
async fn next_of(socket: &mut Socket, kind: &str) -> Value {
    loop {
        let frame = tokio::time::timeout(WAIT, socket.next()).await.expect("a frame").expect("open").unwrap();
        if let tokio_tungstenite::tungstenite::Message::Text(t) = frame {
            let v: Value = serde_json::from_str(&t).unwrap();
            if v["type"] == kind {
                return v;
            }
        }
    }
}

#[tokio::test]
async fn web_chat_history_and_csat_comments_are_sealed_and_shown_in_clear() {
    let k1 = key_file(0x44);
    let toml = format!(
        r#"
        [server]
        admin_token = "admin-secret"
        [channels.webchat]
        session_secret = "a-session-secret-of-32-bytes!!!!"
        [agents.alice]
        token = "alice-token"
        capacity = {{ chat = 2 }}
        [csat]
        enabled = true
        delay_secs = 0
        comment = true
        question = {{ en = "How did we do?", zh = "请评价" }}
        {}
        "#,
        keys_toml(&[("k1", &k1)])
    );
    let app = TestApp::spawn_ready(&toml).await;
    let tag = ulid::Ulid::new().to_string().to_lowercase();
    let (chat_text, comment) = (format!("chat-text-{tag}"), format!("comment-{tag}"));
    let session: Value =
        reqwest::Client::new().post(app.url("/webchat/sessions")).json(&json!({})).send().await.unwrap().json().await.unwrap();
    let url = format!("ws://{}/webchat/ws?token={}", app.addr, session["session_token"].as_str().unwrap());
    let (mut socket, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    send(&mut socket, json!({ "type": "message", "client_id": "m1", "text": chat_text })).await;
    next_of(&mut socket, "ack").await;
    let conv = alices_conversation(&app).await;
    let (status, v) = call(&app, reqwest::Method::POST, &format!("/api/v1/conversations/{conv}/resolve"), None).await;
    assert_eq!(status, 200, "{v}");
    next_of(&mut socket, "csat").await;
    send(&mut socket, json!({ "type": "csat", "score": 4, "comment": comment })).await;
    assert_eq!(next_of(&mut socket, "csat_done").await["score"], 4);

    // In clear: the widget's history and the API's score.
    send(&mut socket, json!({ "type": "history", "after": 0 })).await;
    let history = next_of(&mut socket, "history").await;
    assert!(history["messages"].as_array().unwrap().iter().any(|m| m["text"] == json!(chat_text)), "{history}");
    let (_, detail) = call(&app, reqwest::Method::GET, &format!("/api/v1/conversations/{conv}"), None).await;
    assert_eq!(detail["conversation"]["csat"]["comment"], json!(comment), "{detail}");

    // Sealed in Redis and on the streams.
    let needles = [chat_text.as_str(), comment.as_str()];
    let clean = wait_until(WAIT, || async {
        let dump = redis_dump(&app.prefix).await;
        containing(&dump, &needles).is_empty().then_some(dump)
    })
    .await;
    let dump = match clean {
        Some(dump) => dump,
        None => {
            let dump = redis_dump(&app.prefix).await;
            panic!("plaintext in Redis: {:?}", containing(&dump, &needles))
        }
    };
    assert!(dump.iter().any(|l| l.contains(":log => enc:v1:k1:")), "the chat log is sealed: {dump:?}");
    assert!(dump.iter().any(|l| l.contains("csat_comment | enc:v1:k1:")), "the comment is sealed: {dump:?}");
    let streamed = stream_dump(&app.prefix).await;
    assert!(containing(&streamed, &needles).is_empty(), "plaintext on a stream: {:?}", containing(&streamed, &needles));
    app.stop().await;
}
