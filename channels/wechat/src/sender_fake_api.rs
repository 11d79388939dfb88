//! A fake WeChat API for the sender tests: axum on 127.0.0.1:0, recording
//! every request and answering from a script, so that tests can check
//! exactly what went over the wire and how often.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

/// One request as the fake saw it.
#[derive(Debug)]
pub(super) struct Recorded {
    pub(super) method: Method,
    pub(super) path: String,
    pub(super) query: Vec<(String, String)>,
    pub(super) body: Bytes,
}

impl Recorded {
    /// The value of a query parameter.
    pub(super) fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON.
    pub(super) fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// One scripted answer.
pub(super) struct Reply {
    pub(super) status: u16,
    pub(super) body: String,
}

/// A scripted answer.
pub(super) fn reply(status: u16, body: &str) -> Reply {
    Reply {
        status,
        body: body.into(),
    }
}

/// WeChat's answer to an accepted send, given once the script is used up.
pub(super) const OK: &str = r#"{"errcode":0,"errmsg":"ok"}"#;

/// The recorded requests and the answers still to give.
#[derive(Clone, Default)]
pub(super) struct Fake {
    requests: Arc<Mutex<Vec<Recorded>>>,
    script: Arc<Mutex<VecDeque<Reply>>>,
}

impl Fake {
    /// The requests received so far.
    pub(super) fn requests(&self) -> std::sync::MutexGuard<'_, Vec<Recorded>> {
        self.requests.lock().unwrap()
    }
}

/// Records the request, then gives the next scripted answer.
async fn handle(State(fake): State<Fake>, method: Method, uri: Uri, body: Bytes) -> Response {
    let query = reqwest::Url::parse(&format!("http://fake{uri}"))
        .unwrap()
        .query_pairs()
        .map(|(n, v)| (n.into_owned(), v.into_owned()))
        .collect();
    fake.requests.lock().unwrap().push(Recorded {
        method,
        path: uri.path().to_owned(),
        query,
        body,
    });
    let next = fake.script.lock().unwrap().pop_front();
    let reply = next.unwrap_or_else(|| reply(200, OK));
    let mut response = (StatusCode::from_u16(reply.status).unwrap(), reply.body).into_response();
    response
        .headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    response
}

/// Starts the fake with the given script.
pub(super) async fn start(script: Vec<Reply>) -> (Fake, SocketAddr) {
    let fake = Fake::default();
    fake.script.lock().unwrap().extend(script);
    let app = axum::Router::new()
        .fallback(handle)
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (fake, addr)
}
