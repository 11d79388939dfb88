//! Connection floods against the daemon binary in a child process whose
//! descriptor limit is lowered to 512 (soft and hard, so the daemon cannot
//! raise it): idle and slow-header connections are closed after the
//! `[server]` timeouts, and a flood of 2,000 idle plus 300 slow-header
//! connections, far over the connection cap and the descriptor limit,
//! does not keep a new client from being served. A slow body gets 408.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tokio::time::{timeout, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_switchboard");

/// The child's descriptor limit, and the connection cap under it.
const NOFILE: u32 = 512;
const MAX_CONNECTIONS: u32 = 200;
/// The daemon's header-read and idle timeouts in this test.
const TIMEOUT_SECS: u64 = 2;

struct Daemon {
    child: Child,
    port: u16,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Daemon {
    /// The daemon in a shell that lowered its descriptor limit first.
    async fn start() -> Daemon {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let prefix = crate::support::unique_prefix();
        let mut cmd = Command::new("sh");
        for (k, _) in std::env::vars() {
            if k.starts_with("SWITCHBOARD__") {
                cmd.env_remove(k);
            }
        }
        let child = cmd
            .arg("-c")
            .arg(format!("ulimit -n {NOFILE} && exec \"$0\" serve --config config/demo.toml"))
            .arg(BIN)
            .env("SWITCHBOARD__SERVER__LISTEN", format!("127.0.0.1:{port}"))
            .env("SWITCHBOARD__SERVER__PUBLIC_URL", format!("http://127.0.0.1:{port}"))
            .env("SWITCHBOARD__SERVER__HEADER_READ_TIMEOUT_SECS", TIMEOUT_SECS.to_string())
            .env("SWITCHBOARD__SERVER__IDLE_TIMEOUT_SECS", TIMEOUT_SECS.to_string())
            .env("SWITCHBOARD__SERVER__BODY_READ_TIMEOUT_SECS", TIMEOUT_SECS.to_string())
            .env("SWITCHBOARD__SERVER__MAX_CONNECTIONS", MAX_CONNECTIONS.to_string())
            .env("SWITCHBOARD__NATS__PREFIX", &prefix)
            .env("SWITCHBOARD__REDIS__PREFIX", &prefix)
            .env("SWITCHBOARD__SHUTDOWN__TIMEOUT_SECS", "2")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let daemon = Daemon { child, port };
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(20) {
            if daemon.get("/readyz", Duration::from_secs(2)).await == Some(200) {
                return daemon;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("daemon did not become ready");
    }

    /// `GET path` on a new connection: the status, or `None` when there is
    /// no answer within `within`.
    async fn get(&self, path: &str, within: Duration) -> Option<u16> {
        let port = self.port;
        let exchange = async move {
            let mut s = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
            s.write_all(format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").as_bytes()).await.ok()?;
            let mut buf = Vec::new();
            s.read_to_end(&mut buf).await.ok()?;
            let head = String::from_utf8_lossy(&buf);
            head.split(' ').nth(1)?.parse().ok()
        };
        timeout(within, exchange).await.ok().flatten()
    }

    /// The daemon's resident set, in KiB.
    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap_or("");
        line.split_whitespace().nth(1).and_then(|n| n.parse().ok()).unwrap_or(0)
    }

    fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

/// How one flood connection behaves.
#[derive(Clone, Copy)]
enum Kind {
    /// Connects and sends nothing.
    Idle,
    /// Sends a request head one byte a second.
    Slow,
    /// Sends one request, reads its answer, then stays idle (keep-alive).
    KeepAlive,
}

/// Opens a connection of `kind` and waits until the daemon closes it (or
/// `within` passes). `Some(open)`: it was open (accepted and not closed at
/// once) for `open`; `None`: it could not be opened, or was not closed.
async fn hold(port: u16, kind: Kind, within: Duration) -> Result<Duration, &'static str> {
    let start = Instant::now();
    let mut s = match timeout(Duration::from_secs(3), TcpStream::connect(("127.0.0.1", port))).await {
        Ok(Ok(s)) => s,
        _ => return Err("not connected"),
    };
    let head = b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n";
    if let Kind::KeepAlive = kind {
        if s.write_all(head).await.is_err() {
            return Err("not answered");
        }
        let mut buf = [0u8; 512];
        match timeout(Duration::from_secs(5), s.read(&mut buf)).await {
            Ok(Ok(n)) if buf[..n].starts_with(b"HTTP/1.1 200") => {}
            _ => return Err("not answered"),
        }
    }
    let mut next = 0;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut buf = [0u8; 512];
    let end = start + within;
    loop {
        tokio::select! {
            r = s.read(&mut buf) => match r {
                Ok(0) | Err(_) => return Ok(start.elapsed()),
                Ok(_) => return Err("answered"),
            },
            _ = tick.tick(), if matches!(kind, Kind::Slow) => {
                if s.write_all(&head[next % head.len()..next % head.len() + 1]).await.is_err() {
                    return Ok(start.elapsed());
                }
                next += 1;
            }
            _ = tokio::time::sleep_until(end) => return Err("still open"),
        }
    }
}

/// Opens `n` connections of `kind`, 50 every 10 ms: a burst of thousands
/// at once overflows the kernel's accept queue, and the connections it
/// drops look open to this side without ever reaching the daemon.
async fn spawn_many(set: &mut JoinSet<Result<Duration, &'static str>>, port: u16, kind: Kind, n: usize, within: Duration) {
    for i in 0..n {
        set.spawn(hold(port, kind, within));
        if i % 50 == 49 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_slow_connections_time_out_and_a_flood_leaves_room_for_new_clients() {
    // This test process opens 2,300+ sockets itself: raising its own soft
    // limit (never lowering it) cannot disturb the other tests.
    let own = rlimit::increase_nofile_limit(u64::MAX).unwrap();
    assert!(own >= 3000, "the test needs 3,000 descriptors, the hard limit allows {own}");
    let mut daemon = Daemon::start().await;
    let port = daemon.port;
    let rss_start = daemon.rss_kib();

    // Under the cap: each kind closes once its timeout passed.
    let mut set = JoinSet::new();
    let within = Duration::from_secs(TIMEOUT_SECS * 4);
    spawn_many(&mut set, port, Kind::Idle, 100, within).await;
    spawn_many(&mut set, port, Kind::Slow, 30, within).await;
    spawn_many(&mut set, port, Kind::KeepAlive, 10, within).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(daemon.get("/healthz", Duration::from_secs(2)).await, Some(200), "a new client beside 140 open connections");
    let mut closed = 0;
    while let Some(r) = set.join_next().await {
        let open = r.unwrap().unwrap_or_else(|e| panic!("a connection under the cap: {e}"));
        // Not closed at once: the timeout closed it.
        assert!(open >= Duration::from_millis(1500), "closed after {open:?}, before the 2 s timeout");
        closed += 1;
    }
    assert_eq!(closed, 140);

    // The flood: 2,300 connections against a cap of 200 and 512 descriptors.
    let within = Duration::from_secs(TIMEOUT_SECS * 5);
    let mut set = JoinSet::new();
    spawn_many(&mut set, port, Kind::Idle, 2000, within).await;
    spawn_many(&mut set, port, Kind::Slow, 300, within).await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let rss_flood = daemon.rss_kib();
    for _ in 0..5 {
        assert_eq!(daemon.get("/healthz", Duration::from_secs(3)).await, Some(200), "a new client during the flood");
    }
    let mut failures = std::collections::BTreeMap::new();
    while let Some(r) = set.join_next().await {
        if let Err(e) = r.unwrap() {
            *failures.entry(e).or_insert(0) += 1;
        }
    }
    // Every flood connection was closed (by a timeout, by making room for
    // others, or at accept); none is left open, none was answered.
    assert!(failures.is_empty(), "flood connections not closed: {failures:?}");
    assert!(daemon.alive(), "the daemon died under the flood");
    assert_eq!(daemon.get("/healthz", Duration::from_secs(2)).await, Some(200), "a new client after the flood");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_end = daemon.rss_kib();
    eprintln!("daemon RSS: {rss_start} KiB at start, {rss_flood} KiB during the flood, {rss_end} KiB after it");
}

/// A body that does not arrive within `server.body_read_timeout_secs`
/// gets 408 in the JSON error shape, and the connection is closed.
#[tokio::test]
async fn a_slow_body_gets_408_at_its_deadline() {
    let app = crate::support::TestApp::spawn(
        "[server]\nbody_read_timeout_secs = 1\n[channels.webchat]\nsession_secret = \"0123456789abcdef0123\"\n",
    )
    .await;
    let mut s = TcpStream::connect(app.addr).await.unwrap();
    let head = "POST /webchat/sessions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"name\"";
    s.write_all(head.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let read = timeout(Duration::from_secs(5), s.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "no answer, or the connection stayed open, within 5 s");
    let text = String::from_utf8_lossy(&buf);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    let body: serde_json::Value = serde_json::from_str(text.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(body["error"]["code"], "timeout");
    app.stop().await;
}
