//! The providers' APIs the daemon's outbound senders call, played on the
//! ports the configuration points them at: Twilio's Messages resource
//! (HTTP Basic auth with the account sid and auth token) and WeChat's
//! access token and customer-service message API. Each accepted message
//! is a reply received; a request the real provider would refuse is
//! refused the same way and counted as an error.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{json, Value};
use tokio::net::TcpListener;

use crate::config::{SmsAccount, WechatAccount};
use crate::error::SimError;
use crate::inbox::Inbox;
use crate::stats::Stats;
use crate::stop::{stopped, Stop};


#[derive(Debug)]
struct Shared {
    inbox: Arc<Inbox>,
    stats: Arc<Stats>,
    /// account sid → auth token.
    twilio: HashMap<String, String>,
    /// app id → app secret.
    wechat: HashMap<String, String>,
    tokens: std::sync::Mutex<HashMap<String, String>>,
    counter: AtomicU64,
}

/// Binds 127.0.0.1:`port` for the fake `what`.
pub async fn bind(what: &'static str, port: u16) -> Result<TcpListener, SimError> {
    TcpListener::bind(("127.0.0.1", port)).await.map_err(|e| SimError::Bind { what, port, why: e.to_string() })
}

/// Starts one server per port named by the accounts; they stop with `stop`.
pub async fn start(
    sms: &[SmsAccount],
    wechat: &[WechatAccount],
    inbox: Arc<Inbox>,
    stats: Arc<Stats>,
    stop: Stop,
) -> Result<(), SimError> {
    let shared = Arc::new(Shared {
        inbox,
        stats,
        twilio: sms.iter().map(|a| (a.account_sid.clone(), a.auth_token.clone())).collect(),
        wechat: wechat.iter().map(|a| (a.app_id.clone(), a.app_secret.clone())).collect(),
        tokens: std::sync::Mutex::new(HashMap::new()),
        counter: AtomicU64::new(0),
    });
    let mut ports: Vec<(u16, &'static str)> = sms.iter().map(|a| (a.api_port, "Twilio API")).collect();
    ports.extend(wechat.iter().map(|a| (a.api_port, "WeChat API")));
    ports.sort_unstable();
    ports.dedup_by_key(|p| p.0);
    for (port, what) in ports {
        let listener = bind(what, port).await?;
        // One router serves both APIs, so accounts may share a port.
        let app = axum::Router::new()
            .route("/2010-04-01/Accounts/{sid}/Messages.json", axum::routing::post(twilio_send))
            .route("/cgi-bin/token", axum::routing::get(wechat_token))
            .route("/cgi-bin/message/custom/send", axum::routing::post(wechat_send))
            .with_state(shared.clone());
        let stop = stop.clone();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).with_graceful_shutdown(stopped(stop)).await;
        });
    }
    Ok(())
}

/// Takes the SLA notifications posted to the supervisors' webhooks on
/// `ports` (any path), answering 200.
pub async fn supervisors(ports: &[u16], stats: Arc<Stats>, stop: Stop) -> Result<(), SimError> {
    let mut ports = ports.to_vec();
    ports.sort_unstable();
    ports.dedup();
    for port in ports {
        let listener = bind("SLA supervisors' webhook", port).await?;
        let stats = stats.clone();
        let app = axum::Router::new().fallback(move || {
            let stats = stats.clone();
            async move {
                stats.sla_notices.fetch_add(1, Ordering::Relaxed);
                StatusCode::OK
            }
        });
        let stop = stop.clone();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).with_graceful_shutdown(stopped(stop)).await;
        });
    }
    Ok(())
}

fn basic_auth(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get("authorization")?.to_str().ok()?.strip_prefix("Basic ")?;
    let decoded = String::from_utf8(STANDARD.decode(value.trim()).ok()?).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

/// `POST /2010-04-01/Accounts/{sid}/Messages.json`
async fn twilio_send(State(s): State<Arc<Shared>>, Path(sid): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    let authorized = basic_auth(&headers).is_some_and(|(user, password)| {
        user == sid && s.twilio.get(&sid).is_some_and(|token| *token == password)
    });
    if !authorized {
        s.stats.error("fake_twilio_bad_auth");
        return (StatusCode::UNAUTHORIZED, Json(json!({"code": 20003, "message": "Authenticate"}))).into_response();
    }
    let form: HashMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
    let Some(to) = form.get("To").filter(|t| !t.is_empty()) else {
        s.stats.error("fake_twilio_no_to");
        return (StatusCode::BAD_REQUEST, Json(json!({"code": 21604, "message": "A 'To' phone number is required."})))
            .into_response();
    };
    s.inbox.deliver("sms", to);
    let n = s.counter.fetch_add(1, Ordering::Relaxed);
    (StatusCode::CREATED, Json(json!({"sid": format!("SMsim{n:027}"), "status": "queued", "to": to}))).into_response()
}

/// `GET /cgi-bin/token?grant_type=client_credential&appid=…&secret=…`
async fn wechat_token(State(s): State<Arc<Shared>>, Query(q): Query<HashMap<String, String>>) -> Json<Value> {
    let app_id = q.get("appid").cloned().unwrap_or_default();
    let good = q.get("grant_type").map(String::as_str) == Some("client_credential")
        && s.wechat.get(&app_id).is_some_and(|secret| Some(secret) == q.get("secret"));
    if !good {
        s.stats.error("fake_wechat_bad_credential");
        return Json(json!({"errcode": 40001, "errmsg": "invalid credential"}));
    }
    let token = format!("simtoken-{}-{}", app_id, s.counter.fetch_add(1, Ordering::Relaxed));
    if let Ok(mut t) = s.tokens.lock() {
        t.insert(token.clone(), app_id);
    }
    Json(json!({"access_token": token, "expires_in": 7200}))
}

/// `POST /cgi-bin/message/custom/send?access_token=…`
async fn wechat_send(State(s): State<Arc<Shared>>, Query(q): Query<HashMap<String, String>>, body: Bytes) -> Json<Value> {
    let known = q.get("access_token").is_some_and(|t| s.tokens.lock().is_ok_and(|tokens| tokens.contains_key(t)));
    if !known {
        // What WeChat answers for a token it does not know; the daemon
        // fetches a new one and retries, so this is not counted.
        return Json(json!({"errcode": 40001, "errmsg": "invalid credential, access_token is invalid or not latest"}));
    }
    let msg: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    match msg["touser"].as_str() {
        Some(to) if msg["msgtype"].is_string() => {
            s.inbox.deliver("wechat", to);
            Json(json!({"errcode": 0, "errmsg": "ok"}))
        }
        _ => {
            s.stats.error("fake_wechat_bad_message");
            Json(json!({"errcode": 44002, "errmsg": "empty post data"}))
        }
    }
}
