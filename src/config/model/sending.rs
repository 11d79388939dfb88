//! The sending side: the retry policy of `[outbound]` and `[delivery]`, and the
//! `[outbox]` relay, and `[reports]`.

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

/// `[retention]`: how long data is kept.
#[derive(Clone, Debug, Deserialize)]
pub struct RetentionSettings {
    /// Days a resolved conversation is kept (0: for ever).
    pub resolved_days: u32,
    /// Cap on the streams' age limits, in days (0: as `[nats]` says).
    pub stream_max_age_days: u32,
    /// Days a dead letter is kept (0: for ever).
    pub dead_letter_days: u32,
    /// Days a web chat history lives after its last message.
    pub webchat_history_days: u32,
    /// Days the audit trail (the `P_audit` stream) is kept.
    pub audit_days: u32,
}

/// Days as a duration.
fn days(n: u32) -> Duration {
    Duration::from_secs(u64::from(n) * 24 * 3600)
}

impl RetentionSettings {
    /// The cap on the streams' age limits, if any.
    pub fn stream_cap(&self) -> Option<Duration> {
        (self.stream_max_age_days > 0).then(|| days(self.stream_max_age_days))
    }

    /// How long a web chat history lives after its last message.
    pub fn webchat_ttl(&self) -> Duration {
        days(self.webchat_history_days)
    }

    /// The audit trail's age limit.
    pub fn audit_max_age(&self) -> Duration {
        days(self.audit_days)
    }
}

/// `[reports]`: the aggregates of the event log.
#[derive(Clone, Debug, Deserialize)]
pub struct ReportsSettings {
    /// Days an hour bucket is kept after its hour.
    pub retention_days: u32,
    /// IANA zone of days (`group_by=day`, today).
    pub timezone: String,
}

impl ReportsSettings {
    /// The retention in seconds.
    pub fn retention_secs(&self) -> u64 {
        u64::from(self.retention_days) * 24 * 3600
    }

    /// The zone of days (UTC when the name does not parse, which
    /// validation refuses).
    pub fn tz(&self) -> chrono_tz::Tz {
        self.timezone.parse().unwrap_or(chrono_tz::UTC)
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Loader;

    fn problems(toml: &str) -> String {
        Loader::new().without_env().overlay(toml.to_owned()).load().map(|_| String::new()).unwrap_or_else(|p| p.to_string())
    }

    #[test]
    fn reports_take_a_bounded_retention_and_an_iana_zone() {
        let settings = Loader::new().without_env().load().unwrap_or_else(|p| panic!("{p}"));
        assert_eq!((settings.reports.retention_days, settings.reports.tz()), (400, chrono_tz::UTC));
        assert_eq!(settings.reports.retention_secs(), 400 * 86_400);
        let shanghai = Loader::new().without_env().overlay("[reports]\ntimezone = \"Asia/Shanghai\"\n".to_owned()).load().unwrap_or_else(|p| panic!("{p}"));
        assert_eq!(shanghai.reports.tz(), chrono_tz::Asia::Shanghai);
        let bad = problems("[reports]\nretention_days = 0\ntimezone = \"Mars/Olympus\"\ncolour = 1\n");
        for key in ["reports.retention_days:", "reports.timezone:", "reports.colour:"] {
            assert!(bad.contains(key), "{key} in {bad}");
        }
    }
}
