//! Test helpers: spawning an instance, fake HTTP peers, polling.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use switchboard::config::{Loader, Settings};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A prefix no other test uses.
pub fn unique_prefix() -> String {
    format!("t{}", ulid::Ulid::new().to_string().to_lowercase())
}

/// Polls `probe` until it returns `Some` or `deadline` passes.
pub async fn wait_until<T, F, Fut>(deadline: Duration, mut probe: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let end = tokio::time::Instant::now() + deadline;
    loop {
        if let Some(v) = probe().await {
            return Some(v);
        }
        if tokio::time::Instant::now() >= end {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// A running instance.
pub struct TestApp {
    pub addr: SocketAddr,
    pub prefix: String,
    pub settings: Settings,
    shutdown: CancellationToken,
    handle: Option<JoinHandle<()>>,
}

impl TestApp {
    /// Starts an instance with `toml` over the defaults, on a free port,
    /// with a unique NATS and Redis prefix. `public_url` is set to the
    /// instance's own address unless `toml` sets it.
    pub async fn spawn(toml: &str) -> TestApp {
        Self::spawn_with_prefix(toml, unique_prefix()).await
    }

    /// Like [`spawn`](Self::spawn) with a given prefix: instances sharing a
    /// prefix are replicas of one deployment.
    pub async fn spawn_with_prefix(toml: &str, prefix: String) -> TestApp {
        Self::spawn_loader(Loader::new().without_env(), toml, prefix).await
    }

    /// Starts an instance from `loader` (a configuration file, say) with
    /// `toml` over it, on a free port with `prefix`.
    pub async fn spawn_loader(loader: Loader, toml: &str, prefix: String) -> TestApp {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let base = format!(
            "[server]\npublic_url = \"http://{addr}\"\nlisten = \"{addr}\"\n[nats]\nprefix = \"{prefix}\"\n[redis]\nprefix = \"{prefix}\"\n"
        );
        let settings = loader.overlay(base).overlay(toml).load().unwrap_or_else(|p| panic!("{p}"));
        let shutdown = CancellationToken::new();
        let handle = tokio::spawn({
            let (settings, shutdown) = (settings.clone(), shutdown.clone());
            async move { switchboard::run(settings, listener, shutdown).await.unwrap() }
        });
        TestApp { addr, prefix, settings, shutdown, handle: Some(handle) }
    }

    /// Starts an instance and waits until `/readyz` says ready.
    pub async fn spawn_ready(toml: &str) -> TestApp {
        Self::ready(Self::spawn(toml).await).await
    }

    /// Waits until `/readyz` of `app` says ready.
    pub async fn ready(app: TestApp) -> TestApp {
        let client = reqwest::Client::new();
        let ready = wait_until(Duration::from_secs(15), || {
            let req = client.get(app.url("/readyz")).send();
            async move { req.await.ok().filter(|r| r.status() == 200).map(|_| ()) }
        })
        .await;
        assert!(ready.is_some(), "instance did not become ready");
        app
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Stops the instance and waits for it to finish draining.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(h) = self.handle.take() {
            tokio::time::timeout(Duration::from_secs(15), h).await.expect("drain bound").unwrap();
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// One request a fake peer received.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: Method,
    pub uri: Uri,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// When it arrived.
    pub at: std::time::Instant,
}

impl Recorded {
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    pub fn form(&self) -> Vec<(String, String)> {
        form_urlencoded::parse(&self.body).into_owned().collect()
    }

    pub fn form_value(&self, name: &str) -> Option<String> {
        self.form().into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }
}

/// A fake HTTP peer: records every request and answers from a script
/// (status, extra headers, body); the last entry repeats.
#[derive(Clone)]
pub struct FakePeer {
    pub addr: SocketAddr,
    state: Arc<Mutex<PeerState>>,
}

/// One scripted answer: status, extra headers, body.
pub type Answer = (u16, Vec<(String, String)>, String);

struct PeerState {
    seen: Vec<Recorded>,
    script: Vec<Answer>,
}

impl FakePeer {
    pub async fn start(script: Vec<Answer>) -> FakePeer {
        let state = Arc::new(Mutex::new(PeerState { seen: Vec::new(), script }));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new().fallback(record).with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        FakePeer { addr, state }
    }

    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn seen(&self) -> Vec<Recorded> {
        self.state.lock().unwrap().seen.clone()
    }

    /// The JSON bodies received (agent events, for a webhook receiver).
    pub fn events(&self) -> Vec<serde_json::Value> {
        self.seen().iter().filter_map(|r| serde_json::from_slice(&r.body).ok()).collect()
    }

    /// Waits for a received JSON body matching `pred`.
    pub async fn wait_event(&self, pred: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
        let found = wait_until(Duration::from_secs(15), || {
            let found = self.events().into_iter().find(|e| pred(e));
            async move { found }
        })
        .await;
        found.expect("a matching event within 15 s")
    }

    /// Waits until at least `n` requests arrived.
    pub async fn wait_for(&self, n: usize, deadline: Duration) -> Vec<Recorded> {
        let seen = wait_until(deadline, || {
            let s = self.seen();
            async move { (s.len() >= n).then_some(s) }
        })
        .await;
        seen.unwrap_or_else(|| panic!("expected {n} requests, got {}", self.seen().len()))
    }
}

async fn record(
    State(state): State<Arc<Mutex<PeerState>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut s = state.lock().unwrap();
    s.seen.push(Recorded { method, uri, headers, body, at: std::time::Instant::now() });
    let i = (s.seen.len() - 1).min(s.script.len() - 1);
    let (status, extra, body) = s.script[i].clone();
    let mut resp = (StatusCode::from_u16(status).unwrap(), body).into_response();
    for (k, v) in extra {
        resp.headers_mut().insert(
            axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            axum::http::HeaderValue::from_str(&v).unwrap(),
        );
    }
    resp
}

/// Signs a Twilio webhook the way Twilio does (independently of the crate
/// under test): base64(HMAC-SHA1(token, url + sorted name+value pairs)).
pub fn twilio_signature(token: &str, url: &str, params: &[(&str, &str)]) -> String {
    use base64::Engine;
    use hmac::Mac;
    let mut sorted: Vec<_> = params.to_vec();
    sorted.sort();
    let mut data = url.to_owned();
    for (k, v) in sorted {
        data.push_str(k);
        data.push_str(v);
    }
    let mut mac = hmac::Hmac::<sha1::Sha1>::new_from_slice(token.as_bytes()).unwrap();
    mac.update(data.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Form-encodes `params`.
pub fn form(params: &[(&str, &str)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        s.append_pair(k, v);
    }
    s.finish()
}

/// An instance on its own runtime, so that it can be killed: dropping the
/// runtime stops every task of the instance at once, with nothing shut
/// down cleanly (as when the process is killed).
pub struct Killable {
    pub url: String,
    runtime: Mutex<Option<tokio::runtime::Runtime>>,
}

impl Killable {
    pub async fn spawn(toml: &str, prefix: String) -> Killable {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let base = format!(
            "[server]\npublic_url = \"http://{addr}\"\nlisten = \"{addr}\"\n[nats]\nprefix = \"{prefix}\"\n[redis]\nprefix = \"{prefix}\"\n"
        );
        let settings = Loader::new().without_env().overlay(base).overlay(toml).load().unwrap_or_else(|p| panic!("{p}"));
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        runtime.spawn(async move {
            let listener = TcpListener::from_std(listener).unwrap();
            let _ = switchboard::run(settings, listener, CancellationToken::new()).await;
        });
        let url = format!("http://{addr}");
        let client = reqwest::Client::new();
        let ready = wait_until(Duration::from_secs(15), || {
            let req = client.get(format!("{url}/readyz")).send();
            async move { req.await.ok().filter(|r| r.status() == 200).map(|_| ()) }
        })
        .await;
        assert!(ready.is_some(), "instance did not become ready");
        Killable { url, runtime: Mutex::new(Some(runtime)) }
    }

    /// Kills the instance: every task dropped where it stands.
    pub fn kill(&self) {
        if let Some(rt) = self.runtime.lock().unwrap().take() {
            rt.shutdown_background();
        }
    }
}

impl Drop for Killable {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The Twilio auth token the SMS accounts of the integration tests use.
/// `GET path` with the admin token the tests configure (`admin-secret`):
/// the JSON answer, or `null` when it is not JSON.
pub async fn admin_get(app: &TestApp, path: &str) -> serde_json::Value {
    let r = reqwest::Client::new().get(app.url(path)).bearer_auth("admin-secret").send().await.unwrap();
    r.json().await.unwrap_or(serde_json::Value::Null)
}

pub const TWILIO_TOKEN: &str = "twilio-test-token";

/// Posts a Twilio-signed inbound SMS to account `shop` of `app` and
/// expects the 200 that says it is on JetStream.
pub async fn sms(app: &TestApp, sid: &str, from: &str, body: &str) {
    let url = app.url("/webhooks/sms/shop");
    let params = [("MessageSid", sid), ("From", from), ("To", "+15005550006"), ("Body", body)];
    let r = reqwest::Client::new()
        .post(&url)
        .header("x-twilio-signature", twilio_signature(TWILIO_TOKEN, &url, &params))
        .body(form(&params))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

/// Forwards connections on `listener` to `upstream` (the shared NATS or
/// Redis) until the returned token fires; then the listener and every
/// forwarded connection close, which is an outage of `upstream` for
/// whoever connects through it. Bind the same port again to end it.
pub fn proxy(listener: tokio::net::TcpListener, upstream: &'static str) -> tokio_util::sync::CancellationToken {
    let stop = tokio_util::sync::CancellationToken::new();
    let token = stop.clone();
    tokio::spawn(async move {
        loop {
            let (mut inbound, _) = tokio::select! {
                _ = stop.cancelled() => return,
                a = listener.accept() => match a { Ok(a) => a, Err(_) => return },
            };
            let stop = stop.clone();
            tokio::spawn(async move {
                if let Ok(mut up) = tokio::net::TcpStream::connect(upstream).await {
                    tokio::select! {
                        _ = stop.cancelled() => {}
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut up) => {}
                    }
                }
            });
        }
    });
    token
}
