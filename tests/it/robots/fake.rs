//! Fakes of the WeCom, DingTalk and Feishu robot webhook endpoints: each
//! checks the credential in the URL and recomputes the signature from the
//! shared secret with its own HMAC code (the providers' published schemes,
//! not the daemon's functions), refusing a wrong one with the provider's
//! error code, and records what it received.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::Uri;
use base64::Engine;
use hmac::Mac;
use serde_json::{json, Value};
use tokio::net::TcpListener;

use crate::support::wait_until;

pub(super) const DING_TOKEN: &str = "ding-access-token";
pub(super) const DING_SECRET: &str = "SECdingtalk-shared-secret-0123456789";
pub(super) const FEISHU_HOOK: &str = "2f0f8a4e-feishu-hook";
pub(super) const FEISHU_SECRET: &str = "feishu-shared-secret";
pub(super) const WECOM_KEY: &str = "693a91f6-7xxx-wecom-key";

#[derive(Clone, Copy, PartialEq)]
pub(super) enum Kind {
    Wecom,
    Dingtalk,
    Feishu,
}

/// One request a fake robot received, and whether it accepted it.
#[derive(Clone, Debug)]
pub(super) struct Received {
    pub(super) at: Instant,
    pub(super) body: Value,
    pub(super) accepted: bool,
}

struct RobotState {
    kind: Kind,
    received: Vec<Received>,
    /// Answers forced on the next well-signed requests (rate limits).
    forced: Vec<Value>,
}

/// A fake WeCom, DingTalk or Feishu robot endpoint.
pub(super) struct FakeRobot {
    pub(super) base: String,
    state: Arc<Mutex<RobotState>>,
}

fn hmac_b64(key: &[u8], msg: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
    mac.update(msg);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

fn query(uri: &Uri) -> Vec<(String, String)> {
    form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()).into_owned().collect()
}

fn param<'a>(q: &'a [(String, String)], name: &str) -> Option<&'a str> {
    q.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// The provider's check of one request: `Ok` or its error answer.
fn check(kind: Kind, uri: &Uri, body: &Value) -> Result<(), Value> {
    let q = query(uri);
    match kind {
        Kind::Wecom => {
            // The key is the credential; a wrong one is an invalid URL.
            if uri.path() != "/cgi-bin/webhook/send" || param(&q, "key") != Some(WECOM_KEY) {
                return Err(json!({ "errcode": 93000, "errmsg": "invalid webhook url" }));
            }
            if body["msgtype"] != "markdown" || !body["markdown"]["content"].is_string() {
                return Err(json!({ "errcode": 40008, "errmsg": "invalid message type" }));
            }
        }
        Kind::Dingtalk => {
            if uri.path() != "/robot/send" || param(&q, "access_token") != Some(DING_TOKEN) {
                return Err(json!({ "errcode": 300001, "errmsg": "token is not exist" }));
            }
            // sign = base64(HMAC-SHA256(secret, "{timestamp}\n{secret}")),
            // the timestamp in ms within an hour.
            let (Some(ts), Some(sign)) = (param(&q, "timestamp"), param(&q, "sign")) else {
                return Err(json!({ "errcode": 310000, "errmsg": "sign not match" }));
            };
            let fresh = ts.parse::<i64>().is_ok_and(|t| (now_ms() - t).abs() < 3_600_000);
            let expected = hmac_b64(DING_SECRET.as_bytes(), format!("{ts}\n{DING_SECRET}").as_bytes());
            if !fresh || sign != expected {
                return Err(json!({ "errcode": 310000, "errmsg": "sign not match, more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]" }));
            }
            if body["msgtype"] != "actionCard" && body["msgtype"] != "markdown" {
                return Err(json!({ "errcode": 40035, "errmsg": "invalid msgtype" }));
            }
        }
        Kind::Feishu => {
            if uri.path() != format!("/open-apis/bot/v2/hook/{FEISHU_HOOK}") {
                return Err(json!({ "code": 19001, "msg": "param invalid: incoming webhook access token invalid" }));
            }
            // sign = base64(HMAC-SHA256(key = "{timestamp}\n{secret}", "")),
            // the timestamp in seconds, a string, within an hour.
            let ts = body["timestamp"].as_str().unwrap_or_default();
            let fresh = ts.parse::<i64>().is_ok_and(|t| (now_ms() / 1000 - t).abs() < 3600);
            let expected = hmac_b64(format!("{ts}\n{FEISHU_SECRET}").as_bytes(), b"");
            if !fresh || body["sign"].as_str() != Some(expected.as_str()) {
                return Err(json!({ "code": 19021, "msg": "sign match fail or timestamp is not within one hour from current time" }));
            }
            if body["msg_type"] != "interactive" || !body["card"]["elements"].is_array() {
                return Err(json!({ "code": 9499, "msg": "Bad Request" }));
            }
        }
    }
    Ok(())
}

async fn answer(State(state): State<Arc<Mutex<RobotState>>>, uri: Uri, body: Bytes) -> axum::Json<Value> {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut s = state.lock().unwrap();
    let kind = s.kind;
    let (accepted, reply) = match check(kind, &uri, &body) {
        Err(refusal) => (false, refusal),
        Ok(()) if !s.forced.is_empty() => (false, s.forced.remove(0)),
        Ok(()) if kind == Kind::Feishu => (true, json!({ "code": 0, "msg": "success", "data": {} })),
        Ok(()) => (true, json!({ "errcode": 0, "errmsg": "ok" })),
    };
    s.received.push(Received { at: Instant::now(), body, accepted });
    axum::Json(reply)
}

impl FakeRobot {
    pub(super) async fn start(kind: Kind, forced: Vec<Value>) -> FakeRobot {
        let state = Arc::new(Mutex::new(RobotState { kind, received: Vec::new(), forced }));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let app = axum::Router::new().fallback(answer).with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        FakeRobot { base, state }
    }

    pub(super) fn received(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }

    pub(super) fn accepted(&self) -> Vec<Received> {
        self.received().into_iter().filter(|r| r.accepted).collect()
    }

    /// Waits for `n` accepted requests.
    pub(super) async fn wait_accepted(&self, n: usize, deadline: Duration) -> Vec<Received> {
        let got = wait_until(deadline, || {
            let a = self.accepted();
            async move { (a.len() >= n).then_some(a) }
        })
        .await;
        got.unwrap_or_else(|| panic!("expected {n} accepted requests, got {:?}", self.received()))
    }
}
