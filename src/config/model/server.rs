//! The process-level sections: `[server]` (listener, public URL, admin token,
//! timeouts), `[log]` and `[shutdown]`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;

/// `[server]`
#[derive(Clone, Debug, Deserialize)]
pub struct ServerSettings {
    /// Listen address.
    pub listen: SocketAddr,
    /// The public base URL providers call.
    pub public_url: String,
    /// The admin API token.
    pub admin_token: Option<SecretString>,
    /// File holding the admin API token.
    pub admin_token_file: Option<PathBuf>,
    /// The read-only supervisor token (dashboard, reports, snapshot).
    pub supervisor_token: Option<SecretString>,
    /// File holding the supervisor token.
    pub supervisor_token_file: Option<PathBuf>,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Per-request time limit.
    pub request_timeout_secs: u64,
    /// Time a client has to send a request's head, from the connection's
    /// start or from the head's first byte after an idle keep-alive.
    pub header_read_timeout_secs: u64,
    /// A keep-alive connection with no request for this long is closed.
    pub idle_timeout_secs: u64,
    /// Time a client has to send a request's whole body, once its head is in.
    pub body_read_timeout_secs: u64,
    /// Open connections at most (web chat sockets included).
    pub max_connections: usize,
}

impl ServerSettings {
    /// `header_read_timeout_secs` as a duration.
    pub fn header_read_timeout(&self) -> Duration {
        Duration::from_secs(self.header_read_timeout_secs)
    }

    /// `idle_timeout_secs` as a duration.
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.idle_timeout_secs)
    }

    /// `body_read_timeout_secs` as a duration.
    pub fn body_read_timeout(&self) -> Duration {
        Duration::from_secs(self.body_read_timeout_secs)
    }

    /// The public URL without a trailing slash, ready to have a path appended.
    pub fn public_base(&self) -> &str {
        self.public_url.trim_end_matches('/')
    }
}

/// `[log]`
#[derive(Clone, Debug, Deserialize)]
pub struct LogSettings {
    /// `text` or `json`.
    pub format: LogFormat,
    /// A tracing filter directive.
    pub level: String,
}

/// The log line format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// `[shutdown]`
#[derive(Clone, Debug, Deserialize)]
pub struct ShutdownSettings {
    /// Bound on the graceful drain.
    pub timeout_secs: u64,
}

impl ShutdownSettings {
    /// The drain bound.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_secs)
    }
}
