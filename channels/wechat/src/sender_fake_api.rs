//! A fake WeChat API for the sender tests: axum on 127.0.0.1:0, recording
//! every request and answering from a script, so that tests can check
//! exactly what went over the wire and how often.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

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

/// How [`start_cut`] ends an answer after its headers and first bytes.
#[derive(Clone, Copy, Debug)]
pub(super) enum Cut {
    /// Keep the connection open and send nothing more (a provider stopped,
    /// say by SIGSTOP, after answering the status line).
    Stall,
    /// Close the connection mid-body.
    Drop,
}

/// A provider that answers every request with `status`, a
/// `Content-Length` of 4 KiB and only `first` of that body, then `cut`s.
/// Plain TCP, since axum would never send a body shorter than it says.
/// Returns the count of requests and the address.
pub(super) async fn start_cut(
    status: u16,
    first: &'static str,
    cut: Cut,
) -> (Arc<std::sync::atomic::AtomicUsize>, SocketAddr) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                // The whole request first: headers, then Content-Length bytes.
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let text = String::from_utf8_lossy(&buf).to_ascii_lowercase();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let length = text[..end]
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        if buf.len() >= end + 4 + length {
                            break;
                        }
                    }
                    match stream.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                seen.fetch_add(1, Ordering::SeqCst);
                let head = format!(
                    "HTTP/1.1 {status} Whatever\r\ncontent-type: application/json\r\ncontent-length: 4096\r\n\r\n{first}"
                );
                let _ = stream.write_all(head.as_bytes()).await;
                let _ = stream.flush().await;
                match cut {
                    Cut::Stall => tokio::time::sleep(Duration::from_secs(60)).await,
                    Cut::Drop => drop(stream),
                }
            });
        }
    });
    (count, addr)
}
