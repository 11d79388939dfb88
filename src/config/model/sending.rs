//! The sending side: the retry policy of `[outbound]` and `[delivery]`, and the
//! `[outbox]` relay.

use std::time::Duration;

use serde::Deserialize;

/// `[outbox]`: the relay that publishes what a step could not.
#[derive(Clone, Debug, Deserialize)]
pub struct OutboxSettings {
    /// An entry still unpublished this long after its step is the relay's.
    pub relay_after_ms: u64,
    /// How often each replica's relay looks.
    pub relay_interval_ms: u64,
    /// How long a relay's claim keeps other relays off its entries.
    pub relay_lease_ms: u64,
    /// Entries claimed per look.
    pub relay_batch: usize,
}

impl OutboxSettings {
    /// The relay's period.
    pub fn interval(&self) -> Duration {
        Duration::from_millis(self.relay_interval_ms)
    }
}

/// Retry policy shared by the outbound sender and agent delivery.
#[derive(Clone, Debug, Deserialize)]
pub struct RetrySettings {
    /// Attempts within one delivery.
    pub max_attempts: u32,
    /// Backoff base.
    pub base_delay_ms: u64,
    /// Cap on one wait.
    pub max_delay_ms: u64,
    /// Timeout of one request.
    pub request_timeout_ms: u64,
    /// Concurrent sends per replica.
    pub workers: usize,
}

impl RetrySettings {
    /// Backoff base.
    pub fn base_delay(&self) -> Duration {
        Duration::from_millis(self.base_delay_ms)
    }
    /// Cap on one wait.
    pub fn max_delay(&self) -> Duration {
        Duration::from_millis(self.max_delay_ms)
    }
    /// Timeout of one request.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }
}

/// `[outbound]`
pub type OutboundSettings = RetrySettings;

/// `[delivery]`: the retry policy of agent delivery, and what robot
/// targets must carry.
#[derive(Clone, Debug, Deserialize)]
pub struct DeliverySettings {
    /// Attempts within one delivery.
    pub max_attempts: u32,
    /// Backoff base.
    pub base_delay_ms: u64,
    /// Cap on one wait.
    pub max_delay_ms: u64,
    /// Timeout of one request.
    pub request_timeout_ms: u64,
    /// Concurrent deliveries per replica.
    pub workers: usize,
    /// DingTalk and Feishu robot targets must have their signing secret.
    pub require_signed_bots: bool,
}

impl DeliverySettings {
    /// The retry policy alone, as `[outbound]` has it.
    pub fn retry(&self) -> RetrySettings {
        RetrySettings {
            max_attempts: self.max_attempts,
            base_delay_ms: self.base_delay_ms,
            max_delay_ms: self.max_delay_ms,
            request_timeout_ms: self.request_timeout_ms,
            workers: self.workers,
        }
    }
    /// Backoff base.
    pub fn base_delay(&self) -> Duration {
        Duration::from_millis(self.base_delay_ms)
    }
    /// Cap on one wait.
    pub fn max_delay(&self) -> Duration {
        Duration::from_millis(self.max_delay_ms)
    }
    /// Timeout of one request.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }
}
