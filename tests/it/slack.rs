//! The Slack app, end to end: a fake Slack Web API (records
//! `chat.postMessage`/`chat.update`, checks the bot token, answers `ts`
//! values, rate-limits once by HTTP 429 and once by `ratelimited`); a
//! conversation routed to an agent whose target is `slack_app` gets one
//! parent, its later events in the thread, and the parent updated on
//! resolve. The events endpoint, signed here by an HMAC of our own:
//! `url_verification`, an agent's thread reply reaching the fake Twilio
//! API as the customer's SMS, and a foreign user, a bot message, a
//! replayed event, a stale timestamp and a bad signature changing nothing.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use hmac::Mac;
use serde_json::{json, Value};

use crate::support::{sms, wait_until, FakePeer, TestApp};

const BOT_TOKEN: &str = "xoxb-test-bot-token";
const SIGNING: &str = "slack-signing-secret-for-tests";
const WAIT: Duration = Duration::from_secs(20);

/// One Web API call the fake received, and whether it answered `ok`.
#[derive(Clone, Debug)]
struct Call {
    method: String,
    body: Value,
    ok: bool,
}

#[derive(Default)]
struct SlackState {
    calls: Vec<Call>,
    posts: u32,
}

#[derive(Clone)]
struct FakeSlack {
    base: String,
    state: Arc<Mutex<SlackState>>,
}

impl FakeSlack {
    async fn start() -> FakeSlack {
        let state = Arc::new(Mutex::new(SlackState::default()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}/api", listener.local_addr().unwrap());
        let app = axum::Router::new().fallback(answer).with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        FakeSlack { base, state }
    }

    fn calls(&self) -> Vec<Call> {
        self.state.lock().unwrap().calls.clone()
    }

    async fn wait(&self, what: &str, pred: impl Fn(&[Call]) -> bool) -> Vec<Call> {
        let found = wait_until(WAIT, || {
            let calls = self.calls();
            let ok = pred(&calls);
            async move { ok.then_some(calls) }
        })
        .await;
        found.unwrap_or_else(|| panic!("{what}; Slack saw {:#?}", self.calls()))
    }
}

/// Slack's answers: the first `chat.postMessage` is a 429 with
/// `Retry-After: 1`, the second a `ratelimited` error; then each post gets
/// its own `ts`. A wrong bearer token is `invalid_auth`.
async fn answer(State(state): State<Arc<Mutex<SlackState>>>, uri: Uri, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let method = uri.path().trim_start_matches("/api/").to_owned();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let authorized = headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {BOT_TOKEN}"));
    let mut s = state.lock().unwrap();
    let retry = [("retry-after", "1")];
    let (status, answer) = if !authorized {
        (StatusCode::OK, json!({ "ok": false, "error": "invalid_auth" }))
    } else if method == "chat.postMessage" {
        s.posts += 1;
        match s.posts {
            1 => (StatusCode::TOO_MANY_REQUESTS, json!({ "ok": false, "error": "ratelimited" })),
            2 => (StatusCode::OK, json!({ "ok": false, "error": "ratelimited" })),
            n => (StatusCode::OK, json!({ "ok": true, "channel": body["channel"], "ts": format!("1700000000.{n:06}") })),
        }
    } else if method == "chat.postEphemeral" {
        (StatusCode::OK, json!({ "ok": true, "message_ts": "1700000001.000001" }))
    } else if method == "chat.update" {
        (StatusCode::OK, json!({ "ok": true, "channel": body["channel"], "ts": body["ts"] }))
    } else {
        (StatusCode::OK, json!({ "ok": false, "error": "unknown_method" }))
    };
    let ok = answer["ok"] == json!(true);
    s.calls.push(Call { method, body, ok });
    let mut resp = (status, axum::Json(answer)).into_response();
    if !ok {
        for (k, v) in retry {
            resp.headers_mut().insert(k, v.parse().unwrap());
        }
    }
    resp
}

fn config(twilio: &FakePeer, slack: &FakeSlack) -> String {
    format!(
        r#"
        [server]
        admin_token = "admin-secret"
        [outbound]
        base_delay_ms = 10
        max_delay_ms = 2000
        [delivery]
        base_delay_ms = 10
        max_delay_ms = 200
        [integrations.slack]
        bot_token = "{BOT_TOKEN}"
        signing_secret = "{SIGNING}"
        api_base = "{slack}"
        [channels.sms.shop]
        account_sid = "AC0123456789abcdef0123456789abcdef"
        auth_token = "{token}"
        from = "+15005550006"
        api_base = "{twilio}"
        [agents.alice]
        token = "alice-token"
        slack_user = "U0ALICE"
        capacity = {{ sms = 4 }}
        deliver = [ {{ kind = "slack_app", channel = "C0TEAM" }} ]
        [agents.bob]
        token = "bob-token"
        slack_user = "U0BOB"
        capacity = {{ chat = 2 }}
        "#,
        token = crate::support::TWILIO_TOKEN,
        twilio = twilio.base(),
        slack = slack.base,
    )
}

/// Slack's signature, computed here with the hmac crate directly.
fn signature(ts: &str, body: &str) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(SIGNING.as_bytes()).unwrap();
    mac.update(format!("v0:{ts}:{body}").as_bytes());
    let bytes = mac.finalize().into_bytes();
    format!("v0={}", bytes.iter().map(|b| format!("{b:02x}")).collect::<String>())
}

async fn post_event(app: &TestApp, body: &Value, ts: i64, sign: Option<String>) -> (u16, Value) {
    let text = body.to_string();
    let ts = ts.to_string();
    let sig = sign.unwrap_or_else(|| signature(&ts, &text));
    let r = reqwest::Client::new()
        .post(app.url("/integrations/slack/events"))
        .header("content-type", "application/json")
        .header("x-slack-request-timestamp", &ts)
        .header("x-slack-signature", sig)
        .body(text)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

fn message(event_id: &str, user: &str, thread: &str, text: &str) -> Value {
    json!({ "type": "event_callback", "team_id": "T0", "event_id": event_id, "event": {
        "type": "message", "channel": "C0TEAM", "user": user, "text": text, "ts": format!("1800000000.{event_id}"), "thread_ts": thread } })
}

fn twilio_bodies(twilio: &FakePeer) -> Vec<String> {
    twilio.seen().iter().filter(|r| r.uri.path().ends_with("/Messages.json")).filter_map(|r| r.form_value("Body")).collect()
}

#[tokio::test]
async fn a_conversation_lives_in_one_slack_thread_and_its_agent_answers_from_there() {
    let twilio = FakePeer::start(vec![(201, vec![], r#"{"sid":"SMout1","status":"queued"}"#.into())]).await;
    let slack = FakeSlack::start().await;
    let app = TestApp::spawn_ready(&config(&twilio, &slack)).await;
    sms(&app, "SMslack0001", "+14155550123", "where is my parcel?").await;

    // One parent (after a 429 and a `ratelimited`, each waited out).
    let calls = slack.wait("a parent", |c| c.iter().any(|c| c.ok && c.method == "chat.postMessage")).await;
    let posts: Vec<&Call> = calls.iter().filter(|c| c.method == "chat.postMessage").collect();
    assert!(!posts[0].ok && !posts[1].ok, "rate limited twice first: {posts:#?}");
    let parents: Vec<&&Call> = posts.iter().filter(|c| c.ok && c.body.get("thread_ts").is_none()).collect();
    assert_eq!(parents.len(), 1, "one parent: {posts:#?}");
    let parent = parents[0].body.clone();
    assert_eq!(parent["channel"], "C0TEAM");
    let shown = parent.to_string();
    assert!(shown.contains("where is my parcel?") && shown.contains("sms"), "{shown}");
    assert!(!shown.contains("4155550123"), "the customer is masked: {shown}");
    let parent_ts = "1700000000.000003";

    let conv = wait_until(WAIT, || async {
        let r = reqwest::Client::new().get(app.url("/api/v1/agents/alice/conversations")).bearer_auth("alice-token").send();
        let v: Value = r.await.ok()?.json().await.ok()?;
        v["conversations"][0]["id"].as_str().map(str::to_owned)
    })
    .await
    .expect("alice holds the conversation");

    // url_verification.
    let now = chrono::Utc::now().timestamp();
    let (status, body) = post_event(&app, &json!({ "type": "url_verification", "challenge": "ch4ll3nge" }), now, None).await;
    assert_eq!((status, body), (200, json!({ "challenge": "ch4ll3nge" })));

    // Alice answers in the thread: the customer gets it by SMS.
    let reply = message("Ev001", "U0ALICE", parent_ts, "It ships today &amp; arrives Monday");
    let (status, body) = post_event(&app, &reply, now, None).await;
    assert_eq!((status, body["outcome"].clone()), (200, json!("reply")), "{body}");
    let sent = wait_until(WAIT, || {
        let bodies = twilio_bodies(&twilio);
        async move { (!bodies.is_empty()).then_some(bodies) }
    })
    .await
    .expect("the reply reaches Twilio");
    assert_eq!(sent, ["It ships today & arrives Monday"]);
    let to = twilio.seen().iter().find_map(|r| r.form_value("To")).unwrap();
    assert_eq!(to, "+14155550123");
    // The reply's event goes into the parent's thread.
    slack
        .wait("the reply in the thread", |c| {
            c.iter().any(|c| c.ok && c.body["thread_ts"] == parent_ts && c.body["text"].as_str().is_some_and(|t| t.contains("It ships today")))
        })
        .await;

    // What changes nothing.
    let (status, body) = post_event(&app, &reply, now, None).await;
    assert_eq!((status, body["outcome"].clone()), (200, json!("duplicate")), "a replayed event_id");
    let foreign = message("Ev002", "U0BOB", parent_ts, "I am not alice");
    assert_eq!(post_event(&app, &foreign, now, None).await.1["outcome"], "refused", "another agent's user");
    let calls = slack.wait("bob told why, alone", |c| c.iter().any(|c| c.method == "chat.postEphemeral")).await;
    let notice = calls.iter().find(|c| c.method == "chat.postEphemeral").unwrap();
    assert_eq!((notice.body["user"].clone(), notice.body["thread_ts"].clone()), (json!("U0BOB"), json!(parent_ts)));
    assert!(notice.body["text"].as_str().unwrap().contains("not assigned to you"), "{:?}", notice.body);
    let stranger = message("Ev003", "U0NOBODY", parent_ts, "hello?");
    assert_eq!(post_event(&app, &stranger, now, None).await.1["outcome"], "ignored", "an unmapped user");
    let mut bot = message("Ev004", "U0ALICE", parent_ts, "posted by a bot");
    bot["event"]["bot_id"] = json!("B0SWITCHBOARD");
    assert_eq!(post_event(&app, &bot, now, None).await.1["outcome"], "ignored", "a bot message");
    let mut edit = message("Ev005", "U0ALICE", parent_ts, "edited");
    edit["event"]["subtype"] = json!("message_changed");
    assert_eq!(post_event(&app, &edit, now, None).await.1["outcome"], "ignored", "an edit");
    let stale = message("Ev006", "U0ALICE", parent_ts, "from the past");
    let (status, body) = post_event(&app, &stale, now - 301, None).await;
    assert_eq!((status, body["error"]["code"].clone()), (401, json!("rejected")), "{body}");
    let forged = message("Ev007", "U0ALICE", parent_ts, "forged");
    let wrong = signature(&now.to_string(), &message("Ev007", "U0ALICE", parent_ts, "other text").to_string());
    let (status, body) = post_event(&app, &forged, now, Some(wrong)).await;
    assert_eq!((status, body["error"]["code"].clone()), (401, json!("rejected")), "{body}");
    // Malformed JSON, correctly signed.
    let r = reqwest::Client::new()
        .post(app.url("/integrations/slack/events"))
        .header("x-slack-request-timestamp", now.to_string())
        .header("x-slack-signature", signature(&now.to_string(), "{not json"))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    // A note stays internal.
    let note = message("Ev008", "U0ALICE", parent_ts, "// customer sounded upset");
    assert_eq!(post_event(&app, &note, now, None).await.1["outcome"], "note");
    let detail: Value = reqwest::Client::new()
        .get(app.url(&format!("/api/v1/conversations/{conv}")))
        .bearer_auth("alice-token")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let notes: Vec<&Value> = detail["messages"].as_array().unwrap().iter().filter(|m| m["direction"] == "note").collect();
    assert_eq!(notes.len(), 1, "{detail}");
    assert_eq!(notes[0]["text"], "customer sounded upset");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(twilio_bodies(&twilio).len(), 1, "only alice's reply went to the customer");
    let metrics = reqwest::get(app.url("/metrics")).await.unwrap().text().await.unwrap();
    for line in [
        r#"switchboard_slack_events_total{outcome="reply"} 1"#,
        r#"switchboard_slack_events_total{outcome="duplicate"} 1"#,
        r#"switchboard_slack_events_total{outcome="rejected"} 3"#,
        r#"switchboard_slack_events_total{outcome="note"} 1"#,
    ] {
        assert!(metrics.contains(line), "{line} in\n{metrics}");
    }

    // The parent's buttons: bob may not resolve alice's conversation (told
    // alone); a stale press does nothing; alice's Resolve resolves it.
    assert!(parent.to_string().contains("sb_resolve"), "the parent has a Resolve button");
    let press = |user: &str| {
        let payload = json!({ "type": "block_actions", "user": { "id": user },
            "container": { "type": "message", "channel_id": "C0TEAM", "message_ts": parent_ts },
            "actions": [ { "action_id": "sb_resolve", "type": "button" } ] });
        form_urlencoded::Serializer::new(String::new()).append_pair("payload", &payload.to_string()).finish()
    };
    let post_form = |form: String, ts: i64| {
        let ts = ts.to_string();
        let sig = signature(&ts, &form);
        reqwest::Client::new()
            .post(app.url("/integrations/slack/interactivity"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-slack-request-timestamp", ts)
            .header("x-slack-signature", sig)
            .body(form)
            .send()
    };
    assert_eq!(post_form(press("U0BOB"), now).await.unwrap().status(), 200);
    slack.wait("bob told the resolve is refused", |c| c.iter().filter(|c| c.method == "chat.postEphemeral" && c.body["user"] == "U0BOB").count() >= 2).await;
    assert_eq!(post_form(press("U0ALICE"), now - 400).await.unwrap().status(), 401, "a stale press");
    let state = |app: &TestApp| {
        let req = reqwest::Client::new().get(app.url(&format!("/api/v1/conversations/{conv}"))).bearer_auth("admin-secret").send();
        async move { req.await.unwrap().json::<Value>().await.unwrap()["conversation"]["state"].clone() }
    };
    assert_ne!(state(&app).await, "resolved", "nothing acted on yet");
    assert_eq!(post_form(press("U0ALICE"), now).await.unwrap().status(), 200);
    assert_eq!(state(&app).await, "resolved");
    let calls = slack.wait("the parent updated as resolved", |c| c.iter().any(|c| c.method == "chat.update" && c.body.to_string().contains("Resolved"))).await;
    let update = calls.iter().rev().find(|c| c.method == "chat.update").unwrap();
    assert_eq!((update.body["ts"].clone(), update.body["channel"].clone()), (json!(parent_ts), json!("C0TEAM")));
    assert!(update.body.to_string().contains("where is my parcel?"), "the first message stays on the parent");
    let calls = slack.wait("the resolve in the thread", |c| c.iter().any(|c| c.ok && c.body["thread_ts"] == parent_ts && c.body["text"].as_str().is_some_and(|t| t.contains("resolved")))).await;
    let parents = calls.iter().filter(|c| c.ok && c.method == "chat.postMessage" && c.body.get("thread_ts").is_none()).count();
    assert_eq!(parents, 1, "still one parent");
    app.stop().await;
}

#[tokio::test]
async fn a_revoked_bot_token_disables_the_slack_target_with_an_event() {
    use futures::StreamExt;
    let twilio = FakePeer::start(vec![(201, vec![], r#"{"sid":"SMout1","status":"queued"}"#.into())]).await;
    let slack = FakeSlack::start().await;
    // The fake answers `invalid_auth` to any other token.
    let toml = config(&twilio, &slack).replace(BOT_TOKEN, "xoxb-revoked");
    let app = TestApp::spawn_ready(&toml).await;
    let nats = async_nats::connect(&app.settings.nats.url).await.unwrap();
    let mut events = nats.subscribe(format!("{}.events.>", app.prefix)).await.unwrap();
    nats.flush().await.unwrap();
    sms(&app, "SMslack0101", "+14155550124", "hello").await;
    let disabled = tokio::time::timeout(WAIT, async {
        loop {
            let e: Value = serde_json::from_slice(&events.next().await.unwrap().payload).unwrap();
            if e["type"] == "switchboard.delivery.disabled" {
                return e;
            }
        }
    })
    .await
    .expect("a delivery.disabled event");
    assert_eq!(disabled["data"]["agent"], "alice");
    let reason = disabled["data"]["reason"].as_str().unwrap();
    assert!(reason.contains("slack_app") && reason.contains("invalid_auth"), "{reason}");
    assert!(!reason.contains("xoxb"), "no token in the reason");
    let tried = slack.calls().len();
    assert_eq!(tried, 1, "refused once, not retried: {:#?}", slack.calls());
    // Later events of the conversation are not sent to a disabled target.
    sms(&app, "SMslack0102", "+14155550124", "anyone?").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(slack.calls().len(), tried, "a disabled target gets nothing more");
    app.stop().await;
}

#[tokio::test]
async fn a_rate_limit_pauses_the_channel_for_every_replica() {
    // Recorded by whichever replica got the 429; read by all.
    let prefix = crate::support::unique_prefix();
    let settings =
        switchboard::config::Loader::new().without_env().overlay(format!("[redis]\nprefix = \"{prefix}\"\n")).load().unwrap();
    let one = switchboard::store::Store::new(&settings.redis).unwrap();
    let two = switchboard::store::Store::new(&settings.redis).unwrap();
    assert_eq!(two.slack_channel_pause("C0123ABCD").await.unwrap(), None);
    one.pause_slack_channel("C0123ABCD", Duration::from_secs(30)).await.unwrap();
    let pause = two.slack_channel_pause("C0123ABCD").await.unwrap().expect("the other replica sees the pause");
    assert!(pause > Duration::from_secs(25) && pause <= Duration::from_secs(30), "{pause:?}");
    assert_eq!(two.slack_channel_pause("C0OTHER").await.unwrap(), None, "only that channel waits");
}

/// `/switchboard away|available|status` sets and tells the mapped agent's
/// presence; an unmapped user, an unknown word and a bad signature change
/// nothing.
#[tokio::test]
async fn the_slash_command_sets_the_agents_presence() {
    let twilio = FakePeer::start(vec![]).await;
    let slack = FakeSlack::start().await;
    let app = TestApp::spawn_ready(&config(&twilio, &slack)).await;
    let command = |user: &str, text: &str, sign: bool| {
        let form = form_urlencoded::Serializer::new(String::new())
            .append_pair("command", "/switchboard")
            .append_pair("text", text)
            .append_pair("user_id", user)
            .append_pair("team_id", "T0")
            .finish();
        let ts = chrono::Utc::now().timestamp().to_string();
        let sig = if sign { signature(&ts, &form) } else { "v0=00".into() };
        let req = reqwest::Client::new()
            .post(app.url("/integrations/slack/commands"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-slack-request-timestamp", ts)
            .header("x-slack-signature", sig)
            .body(form)
            .send();
        async move {
            let r = req.await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let status = || {
        let req = reqwest::Client::new().get(app.url("/api/v1/supervisor/snapshot")).bearer_auth("admin-secret").send();
        async move {
            let v: Value = req.await.unwrap().json().await.unwrap();
            v["agents"].as_array().unwrap().iter().find(|a| a["agent"] == "bob").unwrap()["status"].clone()
        }
    };
    assert_eq!(status().await, "available");
    let (code, said) = command("U0BOB", "away", true).await;
    assert_eq!((code, said["response_type"].as_str()), (200, Some("ephemeral")), "{said}");
    assert_eq!(said["text"], "bob is now away.");
    assert_eq!(status().await, "away");
    assert_eq!(command("U0BOB", "status", true).await.1["text"], "bob is away.");
    assert_eq!(command("U0BOB", "sleeping", true).await.1["text"].as_str().map(|t| t.starts_with("Usage")), Some(true));
    assert!(command("U0NOBODY", "available", true).await.1["text"].as_str().unwrap().contains("not mapped"));
    assert_eq!(command("U0BOB", "available", false).await.0, 401, "a bad signature");
    assert_eq!(status().await, "away", "nothing acted on");
    assert_eq!(command("U0BOB", "Available", true).await.1["text"], "bob is now available.");
    assert_eq!(status().await, "available");
    app.stop().await;
}
