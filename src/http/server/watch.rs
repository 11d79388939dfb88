//! The per-connection watchdog ([`Watch`]), the in-flight marks of the
//! service ([`InFlight`], held by the response body, [`Guarded`]) and the
//! socket wrapper that notes the first byte of a head ([`Watched`]).

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{Notify, OwnedSemaphorePermit};
use tokio::time::Instant;
use crate::telemetry::Metrics;

use super::Limits;

/// No time noted.
const NEVER: u64 = u64::MAX;

/// What the watchdog of one connection knows. Times are milliseconds since
/// `started`.
#[derive(Debug)]
pub(super) struct Watch {
    pub(super) started: Instant,
    /// Requests whose response has not been sent completely.
    pub(super) in_flight: AtomicUsize,
    /// Whether a response was sent (the connection is a keep-alive one).
    pub(super) served: AtomicBool,
    /// When the last response was sent.
    pub(super) idle_since: AtomicU64,
    /// The first byte read since then, or `NEVER`.
    pub(super) head_since: AtomicU64,
    pub(super) evicted: AtomicBool,
    /// Rung when the deadline may have moved, or on eviction.
    pub(super) wake: Notify,
}

impl Watch {
    pub(super) fn new() -> Watch {
        Watch {
            started: Instant::now(),
            in_flight: AtomicUsize::new(0),
            served: AtomicBool::new(false),
            idle_since: AtomicU64::new(0),
            head_since: AtomicU64::new(NEVER),
            evicted: AtomicBool::new(false),
            wake: Notify::new(),
        }
    }

    pub(super) fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(NEVER - 1)
    }

    pub(super) fn at(&self, ms: u64, after: Duration) -> Instant {
        self.started + Duration::from_millis(ms) + after
    }

    /// When the connection is to close if nothing happens, and why; `None`
    /// while a request is in flight (the request timeout bounds it).
    pub(super) fn limit(&self, limits: &Limits) -> Option<(Instant, &'static str)> {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        if !self.served.load(Ordering::Acquire) {
            return Some((self.at(0, limits.header_read_timeout), "header_timeout"));
        }
        match self.head_since.load(Ordering::Acquire) {
            NEVER => Some((self.at(self.idle_since.load(Ordering::Acquire), limits.idle_timeout), "idle_timeout")),
            head => Some((self.at(head, limits.header_read_timeout), "header_timeout")),
        }
    }

    pub(super) fn deadline(&self, limits: &Limits) -> Option<Instant> {
        self.limit(limits).map(|(at, _)| at)
    }

    /// Why the connection is to close now, if it is.
    pub(super) fn expired(&self, limits: &Limits) -> Option<&'static str> {
        self.limit(limits).filter(|(at, _)| *at <= Instant::now()).map(|(_, why)| why)
    }

    /// Bytes arrived: the first ones while idle start a head.
    pub(super) fn read(&self) {
        if self.in_flight.load(Ordering::Acquire) == 0
            && self.head_since.compare_exchange(NEVER, self.now_ms(), Ordering::AcqRel, Ordering::Acquire).is_ok()
        {
            self.wake.notify_one();
        }
    }
}

/// Marks a request in flight until dropped with its response body.
#[derive(Debug)]
pub(super) struct InFlight(Arc<Watch>);

impl InFlight {
    pub(super) fn enter(watch: Arc<Watch>) -> InFlight {
        watch.in_flight.fetch_add(1, Ordering::AcqRel);
        watch.wake.notify_one();
        InFlight(watch)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let w = &self.0;
        w.idle_since.store(w.now_ms(), Ordering::Release);
        w.head_since.store(NEVER, Ordering::Release);
        w.served.store(true, Ordering::Release);
        w.in_flight.fetch_sub(1, Ordering::AcqRel);
        w.wake.notify_one();
    }
}

/// A response body that keeps its request in flight until it is sent.
pub(super) struct Guarded {
    pub(super) body: Body,
    pub(super) _guard: InFlight,
}

impl http_body::Body for Guarded {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// The socket of one connection: notes reads for the watchdog and holds
/// the connection's place under the cap for as long as it is open.
pub(super) struct Watched {
    pub(super) stream: TcpStream,
    pub(super) watch: Arc<Watch>,
    pub(super) metrics: Metrics,
    pub(super) _permit: OwnedSemaphorePermit,
}

impl Drop for Watched {
    fn drop(&mut self) {
        self.metrics.connections(-1);
    }
}

impl AsyncRead for Watched {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.stream).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.watch.read();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, data)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}
