//! The listener's accept loop: hyper HTTP/1 connections (with upgrades, for
//! the web chat socket) under the limits of `[server]`, in place of
//! `axum::serve`, which has none.
//!
//! Every connection has a watchdog that knows whether a request is in
//! flight (the service marks it from the call until the response body has
//! been sent) and when the current head began (the socket wrapper notes the
//! first byte read while nothing is in flight). From these:
//! - the first head must be complete `header_read_timeout` after the
//!   connection opened, a later one `header_read_timeout` after its first
//!   byte (slowloris: closed without an answer);
//! - a keep-alive connection with nothing in flight and no byte read for
//!   `idle_timeout` is closed.
//!
//! hyper's own `header_read_timeout` is not used: it runs from the end of
//! the previous response, so it would also be the keep-alive timeout.
//!
//! A semaphore caps open connections. Its permit lives in the socket
//! wrapper, so a connection upgraded to a WebSocket keeps counting until
//! the socket closes. At the cap, the oldest connection with nothing in
//! flight (idle, or still sending its head) is closed to make room, so a
//! flood of idle connections cannot lock real clients out; when every
//! connection is busy, the new one is closed at accept.

mod watch;

use watch::{Guarded, InFlight, Watch, Watched};

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use crate::telemetry::Metrics;

/// Descriptors kept out of the connection cap for NATS, Redis, provider
/// and agent webhook calls, and the process's own files.
pub const RESERVED_DESCRIPTORS: u64 = 256;

/// How long a connection accepted at the cap waits for the room its
/// eviction makes before it is closed after all.
const EVICTION_WAIT: Duration = Duration::from_secs(1);

/// Connections accepted at the cap that may wait for room at once; more
/// are closed at accept.
const MAX_WAITING: usize = 64;

/// The listener's limits.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// See the module documentation.
    pub header_read_timeout: Duration,
    /// See the module documentation.
    pub idle_timeout: Duration,
    /// Open connections at most.
    pub max_connections: usize,
}

impl Limits {
    /// The limits of `[server]`, the cap lowered to what the process's
    /// descriptor limit leaves room for.
    pub fn from_settings(server: &crate::config::ServerSettings) -> Limits {
        let mut max_connections = server.max_connections;
        if let Ok((soft, _)) = rlimit::getrlimit(rlimit::Resource::NOFILE) {
            let room = usize::try_from(soft.saturating_sub(RESERVED_DESCRIPTORS)).unwrap_or(usize::MAX).max(1);
            if room < max_connections {
                tracing::warn!(
                    configured = max_connections,
                    nofile = soft,
                    effective = room,
                    "server.max_connections lowered to fit the descriptor limit; raise LimitNOFILE (see deploy/README.md)"
                );
                max_connections = room;
            }
        }
        Limits {
            header_read_timeout: server.header_read_timeout(),
            idle_timeout: server.idle_timeout(),
            max_connections,
        }
    }
}

/// Serves `router` on `listener` until `shutdown` fires; then stops
/// accepting, lets every connection finish its request in flight (idle
/// ones close at once) and returns when all have closed. Upgraded
/// WebSockets are not waited for: they close on the instance's own token.
pub async fn serve(listener: TcpListener, router: Router, limits: Limits, metrics: Metrics, shutdown: CancellationToken) {
    let shared = Arc::new(Shared {
        router,
        limits,
        metrics,
        permits: Arc::new(Semaphore::new(limits.max_connections)),
        waiting: Arc::new(Semaphore::new(MAX_WAITING)),
        open: Mutex::new(BTreeMap::new()),
        next_id: AtomicU64::new(0),
        shutdown: shutdown.clone(),
    });
    let tracker = TaskTracker::new();
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => break,
            a = listener.accept() => a,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of descriptors (EMFILE) or a connection reset before
                // accept: wait a little instead of spinning on the error.
                tracing::warn!(error = %e, "cannot accept a connection");
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(Duration::from_millis(50)) => continue,
                }
            }
        };
        if let Ok(permit) = shared.permits.clone().try_acquire_owned() {
            tracker.spawn(shared.clone().connection(stream, permit));
            continue;
        }
        // At the cap: make room by closing an idle connection, and let this
        // one wait for it briefly.
        let waiting = shared.waiting.clone().try_acquire_owned();
        match (waiting, shared.evict_one()) {
            (Ok(waiting), true) => {
                let shared = shared.clone();
                tracker.spawn(async move {
                    let permit = tokio::time::timeout(EVICTION_WAIT, shared.permits.clone().acquire_owned()).await;
                    drop(waiting);
                    match permit {
                        Ok(Ok(permit)) => shared.connection(stream, permit).await,
                        _ => shared.metrics.connection_closed("refused"),
                    }
                });
            }
            _ => {
                shared.metrics.connection_closed("refused");
                drop(stream);
            }
        }
    }
    drop(listener);
    tracker.close();
    tracker.wait().await;
}

/// What every connection task of one listener shares.
struct Shared {
    router: Router,
    limits: Limits,
    metrics: Metrics,
    permits: Arc<Semaphore>,
    waiting: Arc<Semaphore>,
    /// The connections not upgraded, by age (ids increase).
    open: Mutex<BTreeMap<u64, Arc<Watch>>>,
    next_id: AtomicU64,
    shutdown: CancellationToken,
}

impl Shared {
    /// Asks the oldest connection with nothing in flight to close; `false`
    /// when every connection is busy.
    fn evict_one(&self) -> bool {
        let open = self.open.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let victim = open.values().find(|w| w.in_flight.load(Ordering::Acquire) == 0 && !w.evicted.load(Ordering::Acquire));
        match victim {
            Some(w) => {
                w.evicted.store(true, Ordering::Release);
                w.wake.notify_one();
                true
            }
            None => false,
        }
    }

    /// Serves one connection until it closes, times out, is evicted, is
    /// upgraded, or the listener shuts down.
    async fn connection(self: Arc<Self>, stream: TcpStream, permit: OwnedSemaphorePermit) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let watch = Arc::new(Watch::new());
        self.open.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(id, watch.clone());
        self.metrics.connections(1);
        // The client's address, for the audit trail.
        let peer = stream.peer_addr().ok();
        let io = Watched { stream, watch: watch.clone(), _permit: permit, metrics: self.metrics.clone() };
        let service = {
            let (router, watch) = (self.router.clone(), watch.clone());
            hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
                if let Some(peer) = peer {
                    req.extensions_mut().insert(axum::extract::ConnectInfo(peer));
                }
                let guard = InFlight::enter(watch.clone());
                let router = router.clone();
                async move {
                    let resp: Response = match router.oneshot(req.map(Body::new)).await {
                        Ok(r) => r,
                        Err(never) => match never {},
                    };
                    Ok::<_, Infallible>(resp.map(|body| Body::new(Guarded { body, _guard: guard })))
                }
            })
        };
        let conn = hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(io), service)
            .with_upgrades();
        tokio::pin!(conn);
        let mut closing = false;
        loop {
            let deadline = watch.deadline(&self.limits);
            tokio::select! {
                r = conn.as_mut() => {
                    if let Err(e) = r {
                        tracing::debug!(error = %e, "HTTP connection ended with an error");
                    }
                    break;
                }
                _ = self.shutdown.cancelled(), if !closing => {
                    conn.as_mut().graceful_shutdown();
                    closing = true;
                }
                _ = watch.wake.notified() => {
                    if watch.evicted.load(Ordering::Acquire) {
                        self.metrics.connection_closed("evicted");
                        break;
                    }
                }
                _ = sleep_until(deadline) => {
                    // Still what it was when the sleep began? (A request may
                    // have started meanwhile.)
                    if let Some(reason) = watch.expired(&self.limits) {
                        self.metrics.connection_closed(reason);
                        break;
                    }
                }
            }
        }
        self.open.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&id);
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
