//! The recording fakes of a fault run: the agents' webhook (every event
//! delivered, in arrival order), the Twilio Messages API (every SMS sent
//! to a customer) and WeChat's customer-service API (every WeChat reply).

use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use serde_json::Value;
use tokio::sync::mpsc;

/// An event as the webhook received it.
#[derive(Clone, Debug)]
pub struct Delivered {
    pub at: Instant,
    pub event: Value,
}

#[derive(Default)]
struct Seen {
    delivered: Vec<Delivered>,
    sent: Vec<String>,
}

/// Both fakes on one listener.
#[derive(Clone)]
pub struct Peers {
    pub base: String,
    seen: Arc<Mutex<Seen>>,
}

#[derive(Clone)]
struct Shared {
    seen: Arc<Mutex<Seen>>,
    events: mpsc::UnboundedSender<Value>,
}

impl Peers {
    /// Starts the fakes; every delivered event is also sent on the channel.
    pub async fn start() -> (Peers, mpsc::UnboundedReceiver<Value>) {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let (tx, rx) = mpsc::unbounded_channel();
        let shared = Shared { seen: seen.clone(), events: tx };
        let app = Router::new()
            .route("/hook", post(hook))
            .route("/2010-04-01/Accounts/{sid}/Messages.json", post(twilio))
            .route("/cgi-bin/token", get(wechat_token))
            .route("/cgi-bin/message/custom/send", post(wechat_send))
            .with_state(shared);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (Peers { base, seen }, rx)
    }

    pub fn delivered(&self) -> Vec<Delivered> {
        self.seen.lock().unwrap().delivered.clone()
    }

    /// The texts sent to customers (SMS and WeChat), in order.
    pub fn sent(&self) -> Vec<String> {
        self.seen.lock().unwrap().sent.clone()
    }

    pub fn counts(&self) -> (usize, usize) {
        let seen = self.seen.lock().unwrap();
        (seen.delivered.len(), seen.sent.len())
    }
}

async fn hook(State(shared): State<Shared>, body: Bytes) -> StatusCode {
    let Ok(event) = serde_json::from_slice::<Value>(&body) else { return StatusCode::BAD_REQUEST };
    shared.seen.lock().unwrap().delivered.push(Delivered { at: Instant::now(), event: event.clone() });
    let _ = shared.events.send(event);
    StatusCode::OK
}

async fn twilio(State(shared): State<Shared>, body: Bytes) -> (StatusCode, String) {
    let text = form_urlencoded::parse(&body).find(|(k, _)| k == "Body").map(|(_, v)| v.into_owned()).unwrap_or_default();
    let n = {
        let mut seen = shared.seen.lock().unwrap();
        seen.sent.push(text);
        seen.sent.len()
    };
    (StatusCode::CREATED, format!(r#"{{"sid":"SM{n:032}","status":"queued"}}"#))
}

async fn wechat_token() -> String {
    r#"{"access_token":"fault-access-token","expires_in":7200}"#.into()
}

async fn wechat_send(State(shared): State<Shared>, body: Bytes) -> (StatusCode, String) {
    let Ok(message) = serde_json::from_slice::<Value>(&body) else { return (StatusCode::BAD_REQUEST, String::new()) };
    let text = message["text"]["content"].as_str().unwrap_or_default().to_owned();
    shared.seen.lock().unwrap().sent.push(text);
    (StatusCode::OK, r#"{"errcode":0,"errmsg":"ok"}"#.into())
}
