//! WeChat end to end: URL verification, a safe-mode push (the official demo
//! vector) routed once however often WeChat retries it, a profile-only
//! event, and replies through the customer-service API with the access
//! token cached in Redis and refreshed when WeChat says it expired.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::routing::{get, post};
use axum::Json;
use redis::AsyncCommands;
use serde_json::Value;
use sha1::Digest;

use crate::support::{wait_until, FakePeer, TestApp};

const WAIT: Duration = Duration::from_secs(15);
// The official demo vector (../shared/VECTORS.md).
const TOKEN: &str = "spamtest";
const AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const APP_ID: &str = "wx2c2769f8efd9abc2";
const TIMESTAMP: &str = "1409735669";
const NONCE: &str = "1320562132";
const MSG_SIGNATURE: &str = "5d197aaffba7e9b25a30732f161a50dee96bd5fa";
const ENCRYPT: &str = "hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8PGHQHFVAFmOD2LdJF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8T332jisa+h6tEDYsVticbSnyU8dKOIbgU6ux5VTjg3yt+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp3yZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v6h0EIBYYI1BD1DlD+C0CR8e6OewpusjZ4uBl9FyJvnhvQl+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE=";
const OPENID: &str = "oyORnuP8q7ou2gfYjqLzSIWZf0rs";

fn sign(parts: &[&str]) -> String {
    let mut p = parts.to_vec();
    p.sort();
    let digest = sha1::Sha1::digest(p.concat().as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Default)]
struct Api {
    token_delay: Duration,
    tokens_issued: usize,
    expire_next_send: bool,
    sent: Vec<(String, Value)>,
}

async fn fake_api(token_delay: Duration) -> (String, Arc<Mutex<Api>>) {
    let state = Arc::new(Mutex::new(Api { token_delay, ..Api::default() }));
    let app = axum::Router::new()
        .route(
            "/cgi-bin/token",
            get(|State(s): State<Arc<Mutex<Api>>>| async move {
                let delay = s.lock().unwrap().token_delay;
                tokio::time::sleep(delay).await;
                let mut s = s.lock().unwrap();
                s.tokens_issued += 1;
                Json(serde_json::json!({"access_token": format!("T{}", s.tokens_issued), "expires_in": 7200}))
            }),
        )
        .route(
            "/cgi-bin/message/custom/send",
            post(
                |State(s): State<Arc<Mutex<Api>>>,
                 Query(q): Query<std::collections::HashMap<String, String>>,
                 Json(body): Json<Value>| async move {
                    let mut s = s.lock().unwrap();
                    let token = q.get("access_token").cloned().unwrap_or_default();
                    if s.expire_next_send {
                        s.expire_next_send = false;
                        return Json(serde_json::json!({"errcode": 42001, "errmsg": "access_token expired"}));
                    }
                    s.sent.push((token, body));
                    Json(serde_json::json!({"errcode": 0, "errmsg": "ok"}))
                },
            ),
        )
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), state)
}

fn config(api: &str, hook: &FakePeer) -> String {
    format!(
        r#"
        [server]
        admin_token = "admin-secret"
        [channels.wechat.shop]
        app_id = "{APP_ID}"
        app_secret = "app-secret"
        token = "{TOKEN}"
        encoding_aes_key = "{AES_KEY}"
        api_base = "{api}"
        [agents.alice]
        token = "alice-token"
        capacity = {{ wechat = 3 }}
        deliver = [ {{ kind = "webhook", url = "{hook}/hook", secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" }} ]
        "#,
        hook = hook.base(),
    )
}

fn safe_push_url(app: &TestApp, msg_signature: &str) -> String {
    safe_push_url_at(app, TIMESTAMP, NONCE, msg_signature)
}

fn safe_push_url_at(app: &TestApp, timestamp: &str, nonce: &str, msg_signature: &str) -> String {
    app.url(&format!(
        "/webhooks/wechat/shop?signature={}&timestamp={timestamp}&nonce={nonce}&openid={OPENID}&encrypt_type=aes&msg_signature={msg_signature}",
        sign(&[TOKEN, timestamp, nonce])
    ))
}

fn safe_body() -> String {
    envelope(ENCRYPT)
}

fn envelope(encrypted: &str) -> String {
    format!("<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>")
}

/// The demo vector's message, sealed and signed now (WeChat's published
/// vector is from 2014, outside the accepted timestamp window).
const DEMO_XML: &str = "<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName>\n<FromUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></FromUserName>\n<CreateTime>1409735668</CreateTime>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[abcdteT]]></Content>\n<MsgId>6054768590064713728</MsgId>\n</xml>";

/// `xml` as a safe-mode push signed now with `nonce`: (URL, body).
fn fresh_safe_push(app: &TestApp, nonce: &str, xml: &str) -> (String, String) {
    let keys = switchboard_wechat::AccountKeys::new(APP_ID, TOKEN.into(), Some(AES_KEY.into())).unwrap();
    let encrypted = switchboard_wechat::encrypt(&keys, [7; 16], xml).unwrap();
    let ts = chrono::Utc::now().timestamp().to_string();
    (safe_push_url_at(app, &ts, nonce, &sign(&[TOKEN, &ts, nonce, &encrypted])), envelope(&encrypted))
}

#[tokio::test]
async fn wechat_verification_push_events_and_replies() {
    let (api, api_state) = fake_api(Duration::ZERO).await;
    let hook = FakePeer::start(vec![(200, vec![], String::new())]).await;
    let app = TestApp::spawn_ready(&config(&api, &hook)).await;
    let client = reqwest::Client::new();

    // URL verification.
    let sig = sign(&[TOKEN, "1400000000", "n1"]);
    let url = app.url(&format!("/webhooks/wechat/shop?signature={sig}&timestamp=1400000000&nonce=n1&echostr=hello123"));
    let r = client.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "hello123");
    let bad = app.url("/webhooks/wechat/shop?signature=00&timestamp=1400000000&nonce=n1&echostr=hello123");
    assert_eq!(client.get(&bad).send().await.unwrap().status(), 403);

    // The published vector is signed in 2014: refused as stale now.
    let r = client.post(safe_push_url(&app, MSG_SIGNATURE)).body(safe_body()).send().await.unwrap();
    assert_eq!(r.status(), 403);
    // The safe-mode push, then WeChat's retries of it: one message.
    let (url, body) = fresh_safe_push(&app, NONCE, DEMO_XML);
    for _ in 0..3 {
        let r = client.post(&url).body(body.clone()).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.text().await.unwrap(), "success");
    }
    let seen = hook.wait_for(1, WAIT).await;
    let event: Value = serde_json::from_slice(&seen[0].body).unwrap();
    assert_eq!(event["type"], "switchboard.conversation.assigned");
    assert_eq!(event["data"]["channel"], "wechat");
    assert_eq!(event["data"]["customer"]["address"], OPENID);
    assert_eq!(event["data"]["message"]["text"], "abcdteT");
    let conv = event["data"]["conversation_id"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(hook.seen().len(), 1, "retries never become a second message");

    // A tampered signature is refused before decryption.
    let tampered = url.replace("&msg_signature=", "&msg_signature=0");
    let r = client.post(&tampered).body(body.clone()).send().await.unwrap();
    assert_eq!(r.status(), 403);

    // An unsubscribe (safe mode: the account has a key, so plaintext is
    // refused) updates the profile, opens nothing.
    let unsub = format!(
        "<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName><FromUserName><![CDATA[{OPENID}]]></FromUserName><CreateTime>1409736000</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[unsubscribe]]></Event></xml>"
    );
    let (url, body) = fresh_safe_push(&app, "n2", &unsub);
    for _ in 0..2 {
        let r = client.post(&url).body(body.clone()).send().await.unwrap();
        assert_eq!(r.text().await.unwrap(), "success");
    }
    // The event is a notice on the bus; the router records it just after.
    let subscribed = profile_field(&app, "wechat-shop", OPENID, "wechat_subscribed", |v| v == "0").await;
    assert_eq!(subscribed.as_deref(), Some("0"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(hook.seen().len(), 1, "an unsubscribe opens no conversation");

    // Replies: the token is fetched once and shared; an expired token is
    // refreshed and the send retried.
    let reply = |text: &'static str| {
        let req = client
            .post(app.url(&format!("/api/v1/conversations/{conv}/reply")))
            .bearer_auth("alice-token")
            .json(&serde_json::json!({ "text": text }))
            .send();
        async move { req.await.unwrap().status().as_u16() }
    };
    assert_eq!(reply("第一条回复").await, 202);
    let sent = wait_until(WAIT, || {
        let n = api_state.lock().unwrap().sent.len();
        async move { (n >= 1).then_some(()) }
    })
    .await;
    assert!(sent.is_some());
    assert_eq!(reply("second").await, 202);
    wait_until(WAIT, || {
        let n = api_state.lock().unwrap().sent.len();
        async move { (n >= 2).then_some(()) }
    })
    .await
    .expect("second reply sent");
    {
        let s = api_state.lock().unwrap();
        assert_eq!(s.tokens_issued, 1, "the cached token is reused");
        assert_eq!(s.sent[0].0, "T1");
        assert_eq!(s.sent[0].1["touser"], OPENID);
        assert_eq!(s.sent[0].1["msgtype"], "text");
        assert_eq!(s.sent[0].1["text"]["content"], "第一条回复");
    }
    api_state.lock().unwrap().expire_next_send = true;
    assert_eq!(reply("third").await, 202);
    wait_until(WAIT, || {
        let n = api_state.lock().unwrap().sent.len();
        async move { (n >= 3).then_some(()) }
    })
    .await
    .expect("third reply sent after a token refresh");
    {
        let s = api_state.lock().unwrap();
        assert_eq!(s.tokens_issued, 2);
        assert_eq!(s.sent[2].0, "T2");
    }
    // Text plus an image by media id: two customer-service messages.
    let r = client
        .post(app.url(&format!("/api/v1/conversations/{conv}/reply")))
        .bearer_auth("alice-token")
        .json(&serde_json::json!({ "text": "see the label", "media": [{"kind": "image", "media_id": "MEDIA_42"}] }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    assert!(sent_count(&api_state, 5).await);
    {
        let s = api_state.lock().unwrap();
        let image = s.sent.iter().find(|(_, b)| b["msgtype"] == "image").expect("an image message");
        assert_eq!(image.1["image"]["media_id"], "MEDIA_42");
        assert!(s.sent.iter().any(|(_, b)| b["text"]["content"] == "see the label"));
    }
    let r = client
        .post(app.url(&format!("/api/v1/conversations/{conv}/reply")))
        .bearer_auth("alice-token")
        .json(&serde_json::json!({ "media": [{"kind": "sticker", "media_id": "X"}] }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    app.stop().await;
}

async fn sent_count(state: &Arc<Mutex<Api>>, n: usize) -> bool {
    wait_until(WAIT, || {
        let have = state.lock().unwrap().sent.len();
        async move { (have >= n).then_some(()) }
    })
    .await
    .is_some()
}

#[tokio::test]
async fn two_replicas_share_one_token_and_the_window_is_enforced() {
    // A slow token endpoint widens the window in which both replicas want one.
    let (api, api_state) = fake_api(Duration::from_millis(300)).await;
    let hook = FakePeer::start(vec![(200, vec![], String::new())]).await;
    let prefix = crate::support::unique_prefix();
    let one = TestApp::ready(TestApp::spawn_with_prefix(&config(&api, &hook), prefix.clone()).await).await;
    let two = TestApp::ready(TestApp::spawn_with_prefix(&config(&api, &hook), prefix.clone()).await).await;
    let client = reqwest::Client::new();
    let (url, body) = fresh_safe_push(&one, NONCE, DEMO_XML);
    let r = client.post(&url).body(body).send().await.unwrap();
    assert_eq!(r.text().await.unwrap(), "success");
    let seen = hook.wait_for(1, WAIT).await;
    let event: Value = serde_json::from_slice(&seen[0].body).unwrap();
    let conv = event["data"]["conversation_id"].as_str().unwrap().to_owned();

    let replies = 20;
    let mut pending = Vec::new();
    for i in 0..replies {
        let app = if i % 2 == 0 { &one } else { &two };
        pending.push(
            client
                .post(app.url(&format!("/api/v1/conversations/{conv}/reply")))
                .bearer_auth("alice-token")
                .json(&serde_json::json!({ "text": format!("reply {i}") }))
                .send(),
        );
    }
    for r in futures::future::join_all(pending).await {
        assert_eq!(r.unwrap().status(), 202);
    }
    assert!(sent_count(&api_state, replies).await, "every reply sent");
    assert_eq!(api_state.lock().unwrap().tokens_issued, 1, "one token fetch for both replicas");

    // The customer's last message is now 49 hours old: refused, with why.
    let redis = redis::Client::open("redis://127.0.0.1:6379").unwrap();
    let mut c = redis.get_multiplexed_async_connection().await.unwrap();
    let old = chrono::Utc::now().timestamp_millis() - 49 * 3600 * 1000;
    let _: () = c.hset(format!("{{{prefix}}}:conv:{conv}"), "last_customer_at", old).await.unwrap();
    let r = client
        .post(one.url(&format!("/api/v1/conversations/{conv}/reply")))
        .bearer_auth("alice-token")
        .json(&serde_json::json!({ "text": "too late" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let failed = wait_until(WAIT, || {
        let found = hook.seen().iter().map(|r| serde_json::from_slice::<Value>(&r.body).unwrap()).find(|e| e["type"] == "switchboard.conversation.send_failed");
        async move { found }
    })
    .await
    .expect("a send_failed event");
    assert!(failed["data"]["error"].as_str().unwrap().contains("48"), "{failed}");
    assert_eq!(api_state.lock().unwrap().sent.len(), replies, "nothing sent outside the window");
    one.stop().await;
    two.stop().await;
}

/// A plaintext account (no EncodingAESKey) and a safe-mode one.
fn two_accounts(hook: &FakePeer) -> String {
    format!(
        r#"
        [channels.wechat.plain]
        app_id = "wxplain"
        app_secret = "app-secret"
        token = "{TOKEN}"
        api_base = "http://127.0.0.1:9"
        [channels.wechat.shop]
        app_id = "{APP_ID}"
        app_secret = "app-secret"
        token = "{TOKEN}"
        encoding_aes_key = "{AES_KEY}"
        api_base = "http://127.0.0.1:9"
        [agents.alice]
        token = "alice-token"
        capacity = {{ wechat = 10 }}
        deliver = [ {{ kind = "webhook", url = "{hook}/hook", secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" }} ]
        "#,
        hook = hook.base(),
    )
}

fn plain_url(app: &TestApp, account: &str, ts: i64, nonce: &str) -> String {
    let ts = ts.to_string();
    app.url(&format!("/webhooks/wechat/{account}?signature={}&timestamp={ts}&nonce={nonce}", sign(&[TOKEN, &ts, nonce])))
}

fn text_push(from: &str, msg_id: u64, text: &str) -> String {
    format!(
        "<xml><ToUserName><![CDATA[gh_1]]></ToUserName><FromUserName><![CDATA[{from}]]></FromUserName><CreateTime>1700000000</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{text}]]></Content><MsgId>{msg_id}</MsgId></xml>"
    )
}

#[tokio::test]
async fn a_captured_push_url_cannot_be_replayed_with_another_body_or_downgraded() {
    let hook = FakePeer::start(vec![(200, vec![], String::new())]).await;
    let app = TestApp::spawn_ready(&two_accounts(&hook)).await;
    let client = reqwest::Client::new();
    let post = |url: String, body: String| {
        let req = client.post(url).body(body).send();
        async move {
            let r = req.await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let now = chrono::Utc::now().timestamp();

    // A genuine plaintext push, and WeChat's retry of it: routed once.
    let url = plain_url(&app, "plain", now, "1111");
    let genuine = text_push("o_customer", 42, "hello");
    assert_eq!(post(url.clone(), genuine.clone()).await, (200, "success".into()));
    assert_eq!(post(url.clone(), genuine.clone()).await, (200, "success".into()));
    // The same signed URL with any other body: a forgery.
    let (status, body) = post(url.clone(), text_push("o_victim", 43, "refund me")).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("another body"), "{body}");
    // Signed too long ago, or too far ahead: refused.
    for ts in [now - 301, now + 301, 1_409_735_669] {
        let (status, body) = post(plain_url(&app, "plain", ts, "2222"), text_push("o_x", 44, "late")).await;
        assert_eq!(status, 403, "{ts}: {body}");
    }
    // A safe-mode account refuses plaintext (a downgraded captured URL).
    let (status, body) = post(plain_url(&app, "shop", now, "3333"), text_push("o_y", 45, "downgrade")).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("encrypted"), "{body}");

    let seen = hook.wait_for(1, WAIT).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(hook.seen().len(), 1, "only the genuine push was routed, once: {seen:?}");
    let event: Value = serde_json::from_slice(&seen[0].body).unwrap();
    assert_eq!(event["data"]["customer"]["address"], "o_customer");

    // The memory is shared by replicas: another instance of the same
    // deployment refuses the forgery too.
    let two = TestApp::ready(TestApp::spawn_with_prefix(&two_accounts(&hook), app.prefix.clone()).await).await;
    let url_two = url.replace(&app.addr.to_string(), &two.addr.to_string());
    assert_eq!(post(url_two.clone(), text_push("o_victim", 46, "again")).await.0, 403);
    assert_eq!(post(url_two, genuine).await, (200, "success".into()));
    two.stop().await;
    app.stop().await;
}

#[tokio::test]
async fn event_create_time_is_range_checked_and_never_opens_the_window() {
    let hook = FakePeer::start(vec![(200, vec![], String::new())]).await;
    let app = TestApp::spawn_ready(&two_accounts(&hook)).await;
    let client = reqwest::Client::new();
    let now = chrono::Utc::now();
    let subscribe = |create_time: &str| {
        format!(
            "<xml><ToUserName><![CDATA[gh_1]]></ToUserName><FromUserName><![CDATA[o_future]]></FromUserName><CreateTime>{create_time}</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[subscribe]]></Event></xml>"
        )
    };
    // Wrapped `create_time * 1000` before; a date in the year 255,000 after.
    for (i, bad) in ["9223372036854775807", "8048365276800"].iter().enumerate() {
        let r = client.post(plain_url(&app, "plain", now.timestamp(), &format!("9{i}"))).body(subscribe(bad)).send().await.unwrap();
        assert_eq!(r.status(), 400, "{bad}");
    }
    // In range but in the future: the window runs from the receive time.
    let r = client.post(plain_url(&app, "plain", now.timestamp(), "95")).body(subscribe("4102444800")).send().await.unwrap();
    assert_eq!(r.text().await.unwrap(), "success");
    let last = profile_field(&app, "wechat-plain", "o_future", "wechat_last_interaction_ms", |_| true).await;
    let last: i64 = last.expect("the subscribe is recorded").parse().unwrap();
    let after = chrono::Utc::now().timestamp_millis();
    assert!(last >= now.timestamp_millis() - 1000 && last <= after, "{last} is not the receive time");
    app.stop().await;
}

/// With Redis away, a safe-mode message (its body covered by
/// msg_signature) is still taken and routed once Redis returns; a
/// plaintext one, whose body only the Redis claim binds to its signed URL,
/// gets 503 so WeChat retries it.
#[tokio::test]
async fn a_safe_mode_message_is_taken_while_redis_is_away() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut outage = crate::support::proxy(listener, "127.0.0.1:6379");
    let hook = FakePeer::start(vec![(200, vec![], String::new())]).await;
    let toml = format!("[redis]\nurl = \"redis://127.0.0.1:{port}\"\ntimeout_ms = 300\n{}", two_accounts(&hook));
    let app = TestApp::spawn_ready(&toml).await;
    let client = reqwest::Client::new();

    outage.cancel();
    let now = chrono::Utc::now().timestamp();
    let plain = client.post(plain_url(&app, "plain", now, "4444")).body(text_push("o_plain", 50, "plain")).send().await.unwrap();
    assert_eq!(plain.status(), 503, "a plaintext push needs its claim");
    let xml = text_push("o_safe", 51, "sealed while Redis is away");
    let (url, body) = fresh_safe_push(&app, "5555", &xml);
    let safe = client.post(&url).body(body.clone()).send().await.unwrap();
    assert_eq!(safe.status(), 200);
    assert_eq!(safe.text().await.unwrap(), "success");
    // WeChat's retry of it, still during the outage: absorbed by MsgId.
    assert_eq!(client.post(&url).body(body).send().await.unwrap().status(), 200);

    tokio::time::sleep(Duration::from_secs(2)).await;
    outage = crate::support::proxy(tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap(), "127.0.0.1:6379");
    let seen = hook.wait_for(1, WAIT).await;
    let event: Value = serde_json::from_slice(&seen[0].body).unwrap();
    assert_eq!(event["data"]["message"]["text"], "sealed while Redis is away");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(hook.seen().len(), 1, "routed once: {:?}", hook.seen());
    app.stop().await;
    outage.cancel();
}

/// A field of the profile of identity `(kind, id)` once `ready` holds for
/// it (profile events are notices the router applies after the answer).
async fn profile_field(app: &TestApp, kind: &str, id: &str, field: &str, ready: impl Fn(&str) -> bool) -> Option<String> {
    let redis = redis::Client::open("redis://127.0.0.1:6379").unwrap();
    let c = redis.get_multiplexed_async_connection().await.unwrap();
    let ready = &ready;
    let read = || {
        let mut c = c.clone();
        async move {
            let cid: Option<String> = c.get(format!("{{{}}}:ident:{kind}:{id}", app.prefix)).await.unwrap();
            let value: Option<String> = c.hget(format!("{{{}}}:customer:{}", app.prefix, cid?), field).await.unwrap();
            value.filter(|v| ready(v))
        }
    };
    wait_until(WAIT, read).await
}
