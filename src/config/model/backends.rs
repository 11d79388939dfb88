//! The connections to the backing services: `[nats]` and `[redis]`.

use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;

/// `[nats]`
#[derive(Clone, Debug, Deserialize)]
pub struct NatsSettings {
    /// Server URL, or several separated by commas (the seed servers of a
    /// cluster; the client learns the others from the cluster itself).
    pub url: String,
    /// Prefix of every subject, stream and consumer.
    pub prefix: String,
    /// PEM file of the CA(s) that sign the server's TLS certificate
    /// (`tls://` URLs; the system's roots otherwise).
    pub ca_file: Option<PathBuf>,
    /// Bound on waiting for a publish ack at intake.
    pub publish_timeout_ms: u64,
    /// Stream replicas.
    pub stream_replicas: usize,
    /// Retention of the inbound and outbound streams.
    pub stream_max_age_secs: u64,
    /// Retention of the events stream.
    pub events_max_age_secs: u64,
    /// Redelivery delay of an unacknowledged message.
    pub ack_wait_secs: u64,
    /// Most deliveries of one message.
    pub max_deliver: i64,
    /// JetStream de-duplication window.
    pub duplicate_window_secs: u64,
}

impl NatsSettings {
    /// The seed servers named by `url`.
    pub fn servers(&self) -> Result<Vec<async_nats::ServerAddr>, String> {
        self.url
            .split(',')
            .map(str::trim)
            .map(|url| {
                if !url.starts_with("nats://") && !url.starts_with("tls://") {
                    return Err(format!("`{url}` must start with nats:// or tls://"));
                }
                url.parse::<async_nats::ServerAddr>().map_err(|e| format!("`{url}`: {e}"))
            })
            .collect()
    }

    /// The publish ack bound.
    pub fn publish_timeout(&self) -> Duration {
        Duration::from_millis(self.publish_timeout_ms)
    }
}

/// `[redis]`
#[derive(Clone, Debug, Deserialize)]
pub struct RedisSettings {
    /// Server URL (may hold a password, so it is a secret).
    pub url: SecretString,
    /// File holding the URL.
    pub url_file: Option<PathBuf>,
    /// Prefix (hash tag) of every key.
    pub prefix: String,
    /// PEM file of the CA(s) that sign the server's TLS certificate
    /// (`rediss://` URLs; the system's roots otherwise).
    pub ca_file: Option<PathBuf>,
    /// Connect and command timeout.
    pub timeout_ms: u64,
}
