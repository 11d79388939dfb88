//! Secrets rotated by a reload (issue 14, "Reload"): settings were compared
//! by their `Debug` text, where secrets print redacted, so a rotated secret
//! was neither put in force nor reported. Each secret here is rotated in the
//! configuration file and a reload asked for; then a request signed with
//! the old secret is refused and one with the new secret taken, and the
//! rebuilt Twilio sender calls the provider with the new auth token.

use std::path::Path;
use std::time::Duration;

use base64::Engine;
use hmac::Mac;
use serde_json::{json, Value};
use sha1::Digest;

use crate::support::{form, twilio_signature, unique_prefix, wait_until, FakePeer, TestApp};

const WAIT: Duration = Duration::from_secs(15);
const SID: &str = "AC0123456789abcdef0123456789abcdef";
const WX_APP_ID: &str = "wx2c2769f8efd9abc2";
const HOOK_SECRET_1: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const HOOK_SECRET_2: &str = "whsec_dGhpcyBpcyBub3QgdGhlIHNlY3JldA==";

/// One generation of every secret the configuration holds.
struct Secrets {
    admin: &'static str,
    alice: &'static str,
    twilio: &'static str,
    wx_token: &'static str,
    wx_aes: &'static str,
    mailgun: &'static str,
    raw_mime: &'static str,
    session: &'static str,
    identity: &'static str,
    hook: &'static str,
}

const OLD: Secrets = Secrets {
    admin: "admin-old",
    alice: "alice-old",
    twilio: "twilio-old",
    wx_token: "wxtokenold",
    wx_aes: "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
    mailgun: "mailgun-old",
    raw_mime: "raw-mime-old-0123",
    session: "an-old-session-secret-of-32-bytes",
    identity: "identity-old-0123456789",
    hook: HOOK_SECRET_1,
};

const NEW: Secrets = Secrets {
    admin: "admin-new",
    alice: "alice-new",
    twilio: "twilio-new",
    wx_token: "wxtokennew",
    wx_aes: "bbcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
    mailgun: "mailgun-new",
    raw_mime: "raw-mime-new-0123",
    session: "a-new-session-secret-of-32-bytes!",
    identity: "identity-new-0123456789",
    hook: HOOK_SECRET_2,
};

fn config(s: &Secrets, twilio: &str, hook: &str, redis: &str) -> String {
    format!(
        r#"
[server]
admin_token = "{admin}"
[redis]
url = "{redis}"
[channels.sms.shop]
account_sid = "{SID}"
auth_token = "{twilio_token}"
from = "+15005550006"
api_base = "{twilio}"
[channels.wechat.shop]
app_id = "{WX_APP_ID}"
app_secret = "wx-app-secret"
token = "{wx_token}"
encoding_aes_key = "{wx_aes}"
api_base = "http://127.0.0.1:9"
[channels.email.support]
address = "support@shop.example"
smtp_url = "smtp://127.0.0.1:9"
mailgun_signing_key = "{mailgun}"
raw_mime_token = "{raw_mime}"
[channels.webchat]
session_secret = "{session}"
identity_secret = "{identity}"
[agents.alice]
token = "{alice}"
capacity = {{ sms = 5 }}
deliver = [ {{ kind = "webhook", url = "{hook}/hook", secret = "{hook_secret}" }} ]
"#,
        admin = s.admin,
        twilio_token = s.twilio,
        wx_token = s.wx_token,
        wx_aes = s.wx_aes,
        mailgun = s.mailgun,
        raw_mime = s.raw_mime,
        session = s.session,
        identity = s.identity,
        alice = s.alice,
        hook_secret = s.hook,
    )
}

async fn reload(app: &TestApp, admin: &str) -> (u16, Value) {
    let r = reqwest::Client::new().post(app.url("/api/v1/admin/reload")).bearer_auth(admin).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

async fn sms(app: &TestApp, token: &str, sid: &str, from: &str) -> u16 {
    let url = app.url("/webhooks/sms/shop");
    let params = [("MessageSid", sid), ("From", from), ("To", "+15005550006"), ("Body", "where is my order")];
    let r = reqwest::Client::new()
        .post(&url)
        .header("x-twilio-signature", twilio_signature(token, &url, &params))
        .body(form(&params))
        .send()
        .await
        .unwrap();
    r.status().as_u16()
}

fn sha1_hex(parts: &[&str]) -> String {
    let mut p = parts.to_vec();
    p.sort();
    sha1::Sha1::digest(p.concat().as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// A safe-mode WeChat text push, sealed with `aes` and signed with `token`.
async fn wechat(app: &TestApp, token: &str, aes: &str, msg_id: u64) -> u16 {
    let xml = format!(
        "<xml><ToUserName><![CDATA[gh_1]]></ToUserName><FromUserName><![CDATA[openid-{msg_id}]]></FromUserName><CreateTime>{}</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[hi]]></Content><MsgId>{msg_id}</MsgId></xml>",
        chrono::Utc::now().timestamp()
    );
    let keys = switchboard_wechat::AccountKeys::new(WX_APP_ID, token.into(), Some(aes.into())).unwrap();
    let encrypted = switchboard_wechat::encrypt(&keys, [7; 16], &xml).unwrap();
    let (ts, nonce) = (chrono::Utc::now().timestamp().to_string(), msg_id.to_string());
    let url = app.url(&format!(
        "/webhooks/wechat/shop?signature={}&timestamp={ts}&nonce={nonce}&openid=openid-{msg_id}&encrypt_type=aes&msg_signature={}",
        sha1_hex(&[token, &ts, &nonce]),
        sha1_hex(&[token, &ts, &nonce, &encrypted]),
    ));
    let body = format!("<xml><ToUserName><![CDATA[gh_1]]></ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>");
    reqwest::Client::new().post(url).body(body).send().await.unwrap().status().as_u16()
}

fn mime(n: u32) -> String {
    format!(
        "From: Li Wei <li.wei@customer.example>\r\nTo: support@shop.example\r\nSubject: order\r\nMessage-ID: <rotate-{n}@customer.example>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nWhere is order {n}?\r\n"
    )
}

async fn mailgun(app: &TestApp, key: &str, n: u32) -> u16 {
    let (timestamp, token) = (chrono::Utc::now().timestamp(), format!("{}-{n}", unique_prefix()));
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(format!("{timestamp}{token}").as_bytes());
    let signature: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    let body = form(&[("timestamp", &timestamp.to_string()), ("token", &token), ("signature", &signature), ("body-mime", &mime(n))]);
    let r = reqwest::Client::new()
        .post(app.url("/webhooks/email/support"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    r.status().as_u16()
}

async fn raw_mime(app: &TestApp, token: &str, n: u32) -> u16 {
    let r = reqwest::Client::new()
        .post(app.url("/webhooks/email/support"))
        .header("content-type", "message/rfc822")
        .header("x-switchboard-mail-token", token)
        .body(mime(n))
        .send()
        .await
        .unwrap();
    r.status().as_u16()
}

/// Opens a web chat session for a shop customer whose identity is signed
/// with `secret`: the status, and the session token when opened.
async fn session(app: &TestApp, secret: &str) -> (u16, Option<String>) {
    let timestamp = chrono::Utc::now().timestamp();
    let signature = switchboard_webchat::identity_signature(secret, "cust-1", None, Some("vip"), timestamp);
    let identity = json!({ "customer_id": "cust-1", "tier": "vip", "timestamp": timestamp, "signature": signature });
    let r = reqwest::Client::new().post(app.url("/webchat/sessions")).json(&json!({ "identity": identity })).send().await.unwrap();
    let status = r.status().as_u16();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    (status, body["session_token"].as_str().map(str::to_owned))
}

async fn socket_opens(app: &TestApp, token: &str) -> bool {
    tokio_tungstenite::connect_async(format!("ws://{}/webchat/ws?token={token}", app.addr)).await.is_ok()
}

async fn agent_status(app: &TestApp, token: &str) -> u16 {
    let r = reqwest::Client::new().get(app.url("/api/v1/agents/alice/conversations")).bearer_auth(token).send().await.unwrap();
    r.status().as_u16()
}

fn verify_hook(secret: &str, r: &crate::support::Recorded) -> bool {
    let wh = standardwebhooks::Webhook::new(secret).unwrap();
    let mut headers = axum::http::HeaderMap::new();
    for name in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
        headers.insert(name, axum::http::HeaderValue::from_str(r.header(name)).unwrap());
    }
    wh.verify(&r.body, &headers).is_ok()
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

#[tokio::test]
async fn a_reload_puts_every_rotated_secret_in_force_at_once() {
    let twilio = FakePeer::start(vec![(201, vec![], r#"{"sid": "SM-out-1", "status": "queued"}"#.into())]).await;
    let hook = FakePeer::start(vec![(200, vec![], String::new())]).await;
    let dir = std::env::temp_dir().join(format!("sb-reload-secrets-{}", unique_prefix()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("switchboard.toml");
    let redis = "redis://127.0.0.1:6379";
    write(&file, &config(&OLD, &twilio.base(), &hook.base(), redis));
    let loader = switchboard::config::Loader::new().without_env().file(&file);
    let app = TestApp::ready(TestApp::spawn_loader(loader, "", unique_prefix()).await).await;

    // Before: the old secrets work.
    assert_eq!(sms(&app, OLD.twilio, "SMold", "+14155550100").await, 200);
    assert_eq!(wechat(&app, OLD.wx_token, OLD.wx_aes, 1).await, 200);
    assert_eq!(mailgun(&app, OLD.mailgun, 1).await, 200);
    assert_eq!(raw_mime(&app, OLD.raw_mime, 2).await, 200);
    let (status, old_session) = session(&app, OLD.identity).await;
    assert_eq!(status, 200);
    let old_session = old_session.unwrap();
    assert_eq!(agent_status(&app, OLD.alice).await, 200);

    write(&file, &config(&NEW, &twilio.base(), &hook.base(), redis));
    let (status, body) = reload(&app, OLD.admin).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["restart_needed"], json!([]), "channel secrets apply at once: {body}");

    // Bearer tokens.
    assert_eq!(reload(&app, OLD.admin).await.0, 401, "the old admin token is refused");
    assert_eq!(reload(&app, NEW.admin).await.0, 200, "the new admin token is taken");
    assert_eq!(agent_status(&app, OLD.alice).await, 401, "alice's old token is refused");
    assert_eq!(agent_status(&app, NEW.alice).await, 200);

    // Twilio signatures.
    assert_eq!(sms(&app, OLD.twilio, "SM1", "+14155550101").await, 403, "signed with the old auth token");
    assert_eq!(sms(&app, NEW.twilio, "SM2", "+14155550102").await, 200, "signed with the new auth token");

    // WeChat: the token signs, the AES key seals; both rotated.
    assert_eq!(wechat(&app, OLD.wx_token, OLD.wx_aes, 2).await, 403, "old token and key");
    assert_eq!(wechat(&app, NEW.wx_token, OLD.wx_aes, 3).await, 400, "sealed with the old AES key");
    assert_eq!(wechat(&app, NEW.wx_token, NEW.wx_aes, 4).await, 200, "new token and key");

    // Mailgun signing key and the raw MIME token.
    assert_eq!(mailgun(&app, OLD.mailgun, 3).await, 403, "signed with the old Mailgun key");
    assert_eq!(mailgun(&app, NEW.mailgun, 4).await, 200, "signed with the new Mailgun key");
    assert_eq!(raw_mime(&app, OLD.raw_mime, 5).await, 403, "the old raw MIME token");
    assert_eq!(raw_mime(&app, NEW.raw_mime, 6).await, 200, "the new raw MIME token");

    // Web chat: the identity secret, and the session secret signing sessions.
    assert_eq!(session(&app, OLD.identity).await.0, 403, "an identity signed with the old secret");
    let (status, new_session) = session(&app, NEW.identity).await;
    assert_eq!(status, 200, "an identity signed with the new secret");
    assert!(!socket_opens(&app, &old_session).await, "a session signed with the old session secret");
    assert!(socket_opens(&app, &new_session.unwrap()).await, "a session signed with the new one");

    // The Twilio sender is rebuilt: alice's reply goes out with the new token.
    let client = reqwest::Client::new();
    let conversation = wait_until(WAIT, || {
        let req = client.get(app.url("/api/v1/agents/alice/conversations")).bearer_auth(NEW.alice).send();
        async move {
            let body: Value = req.await.ok()?.json().await.ok()?;
            body["conversations"].as_array()?.first()?["id"].as_str().map(str::to_owned)
        }
    })
    .await
    .expect("an SMS conversation assigned to alice");
    let r = client
        .post(app.url(&format!("/api/v1/conversations/{conversation}/reply")))
        .bearer_auth(NEW.alice)
        .json(&json!({ "text": "It ships today." }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let sent = twilio.wait_for(1, WAIT).await;
    let basic = |token: &str| format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{SID}:{token}")));
    assert_eq!(sent[0].header("authorization"), basic(NEW.twilio), "the provider sees the new auth token");

    // Agent webhooks are signed with the new delivery secret.
    let assigned = wait_until(WAIT, || {
        let found = hook.seen().into_iter().find(|r| {
            serde_json::from_slice::<Value>(&r.body).is_ok_and(|e| {
                e["type"] == "switchboard.conversation.assigned" && e["data"]["customer"]["address"] == "+14155550102"
            })
        });
        async move { found }
    })
    .await
    .expect("alice's assignment delivered");
    assert!(verify_hook(NEW.hook, &assigned) && !verify_hook(OLD.hook, &assigned), "signed with the new secret only");

    // A secret only a restart puts in force is reported, without its value.
    write(&file, &config(&NEW, &twilio.base(), &hook.base(), "redis://:rotated-password@127.0.0.1:6379"));
    let (status, body) = reload(&app, NEW.admin).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["restart_needed"], json!(["redis"]));
    assert!(!body.to_string().contains("rotated-password"), "{body}");
    app.stop().await;
    std::fs::remove_dir_all(&dir).ok();
}
