//! A fake Twilio Messages API for the sender tests: axum on 127.0.0.1:0,
//! recording every request and answering from a script, so that tests can
//! check exactly what went over the wire and how often.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use crate::decode::parse_form;

/// One request as the fake provider saw it.
#[derive(Debug)]
pub(super) struct Recorded {
    pub(super) path: String,
    pub(super) authorization: Option<String>,
    pub(super) content_type: Option<String>,
    pub(super) form: Vec<(String, String)>,
    pub(super) at: Instant,
}

impl Recorded {
    /// Every value of a form field, in order.
    pub(super) fn all(&self, name: &str) -> Vec<&str> {
        self.form
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The value of a form field that must appear at most once.
    pub(super) fn one(&self, name: &str) -> Option<&str> {
        let all = self.all(name);
        assert!(all.len() <= 1, "{name} sent {} times", all.len());
        all.first().copied()
    }
}

/// One scripted answer.
pub(super) struct Reply {
    pub(super) status: u16,
    pub(super) retry_after: Option<&'static str>,
    pub(super) body: String,
    pub(super) delay: Duration,
}

/// A scripted answer with no delay and no `Retry-After`.
pub(super) fn reply(status: u16, body: &str) -> Reply {
    Reply {
        status,
        retry_after: None,
        body: body.into(),
        delay: Duration::ZERO,
    }
}

/// A Messages resource as Twilio returns it on 201.
pub(super) const CREATED: &str =
    r#"{"sid":"SM0123456789abcdef0123456789abcdef","status":"queued","to":"+14158675309"}"#;

/// The recorded requests and the answers still to give; the default
/// answer once the script is used up is 201 [`CREATED`].
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
async fn handle(State(fake): State<Fake>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    fake.requests.lock().unwrap().push(Recorded {
        path: uri.path().to_owned(),
        authorization: header("authorization"),
        content_type: header("content-type"),
        form: parse_form(&body).unwrap_or_default(),
        at: Instant::now(),
    });
    let next = fake.script.lock().unwrap().pop_front();
    let reply = next.unwrap_or_else(|| reply(201, CREATED));
    tokio::time::sleep(reply.delay).await;
    let mut response = (StatusCode::from_u16(reply.status).unwrap(), reply.body).into_response();
    response
        .headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    if let Some(value) = reply.retry_after {
        response
            .headers_mut()
            .insert("retry-after", value.parse().unwrap());
    }
    response
}

/// Starts the fake provider with the given script.
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
