//! Checks of the service sections: `[server]`, `[log]`, `[shutdown]`, `[nats]`,
//! `[redis]`, the `[routing]` limits, `[outbox]`, `[reports]`, `[outbound]` and `[delivery]`.

use secrecy::ExposeSecret;

use crate::config::load::Problems;
use crate::config::model::*;
use super::fields::http_url;

impl Settings {
    pub(super) fn validate_service(&self, p: &mut Problems) {
        http_url(&self.server.public_url, "server.public_url", p);
        if self.server.max_body_bytes < 1024 {
            p.push("server.max_body_bytes", "must be at least 1024");
        }
        if self.server.request_timeout_secs == 0 {
            p.push("server.request_timeout_secs", "must be at least 1");
        }
        for (key, secs) in [
            ("server.header_read_timeout_secs", self.server.header_read_timeout_secs),
            ("server.idle_timeout_secs", self.server.idle_timeout_secs),
        ] {
            if !(1..=3600).contains(&secs) {
                p.push(key, "must be between 1 and 3600");
            }
        }
        let body = self.server.body_read_timeout_secs;
        if body == 0 || body > self.server.request_timeout_secs {
            // The request timeout bounds the body read too: a longer
            // deadline would never fire.
            p.push("server.body_read_timeout_secs", "must be at least 1 and at most server.request_timeout_secs");
        }
        if !(1..=1_000_000).contains(&self.server.max_connections) {
            p.push("server.max_connections", "must be between 1 and 1000000");
        }
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&self.log.level) {
            p.push("log.level", format!("not a valid filter: {e}"));
        }
        if !(1..=300).contains(&self.shutdown.timeout_secs) {
            p.push("shutdown.timeout_secs", "must be between 1 and 300");
        }
        for (key, prefix) in [("nats.prefix", &self.nats.prefix), ("redis.prefix", &self.redis.prefix)] {
            let ok = !prefix.is_empty()
                && prefix.len() <= 64
                && prefix.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
            if !ok {
                p.push(key, "must be 1-64 letters, digits, `_` or `-`");
            }
        }
        if let Err(e) = self.nats.servers() {
            p.push("nats.url", e);
        }
        if self.nats.publish_timeout_ms == 0 || self.nats.publish_timeout_ms > 4500 {
            p.push("nats.publish_timeout_ms", "must be between 1 and 4500 (WeChat gives up after 5 s)");
        }
        if !(1..=5).contains(&self.nats.stream_replicas) {
            p.push("nats.stream_replicas", "must be between 1 and 5");
        }
        if self.nats.max_deliver < 1 {
            p.push("nats.max_deliver", "must be at least 1");
        }
        if self.nats.ack_wait_secs == 0 {
            p.push("nats.ack_wait_secs", "must be at least 1");
        }
        for (key, file) in [("nats.ca_file", &self.nats.ca_file), ("redis.ca_file", &self.redis.ca_file)] {
            if let Some(path) = file {
                if !std::fs::metadata(path).is_ok_and(|m| m.is_file()) || std::fs::read(path).is_err() {
                    p.push(key, "must name a readable PEM file");
                }
            }
        }
        if self.redis.ca_file.is_some() && !self.redis.url.expose_secret().starts_with("rediss://") {
            p.push("redis.ca_file", "is set, but redis.url is not a rediss:// (TLS) URL");
        }
        match url::Url::parse(self.redis.url.expose_secret()) {
            Ok(u) if matches!(u.scheme(), "redis" | "rediss") => {}
            // Never echo the URL: it may carry a password.
            _ => p.push("redis.url", "must be a redis:// or rediss:// URL"),
        }
        if self.routing.workers == 0 {
            p.push("routing.workers", "must be at least 1");
        }
        if !(10..=60_000).contains(&self.routing.sweep_interval_ms) {
            p.push("routing.sweep_interval_ms", "must be between 10 and 60000");
        }
        if !(1..=1000).contains(&self.routing.drain_depth) {
            p.push("routing.drain_depth", "must be between 1 and 1000");
        }
        let o = &self.outbox;
        if !(100..=60_000).contains(&o.relay_after_ms) {
            p.push("outbox.relay_after_ms", "must be between 100 and 60000");
        }
        if !(10..=10_000).contains(&o.relay_interval_ms) {
            p.push("outbox.relay_interval_ms", "must be between 10 and 10000");
        }
        if o.relay_lease_ms <= self.nats.publish_timeout_ms {
            p.push("outbox.relay_lease_ms", "must be longer than nats.publish_timeout_ms (a claim outlives its publishes)");
        }
        if !(1..=10_000).contains(&o.relay_batch) {
            p.push("outbox.relay_batch", "must be between 1 and 10000");
        }
        self.validate_retention(p);
        if !(1..=3650).contains(&self.reports.retention_days) {
            p.push("reports.retention_days", "must be between 1 and 3650");
        }
        if self.reports.timezone.parse::<chrono_tz::Tz>().is_err() {
            p.push("reports.timezone", "is not an IANA time zone (e.g. \"UTC\", \"Asia/Shanghai\")");
        }
        // A relay may republish an entry its step published but could not
        // remove: JetStream must still recognise it as a duplicate.
        if self.nats.duplicate_window_secs.saturating_mul(1000) <= o.relay_after_ms.saturating_add(o.relay_lease_ms) {
            p.push("nats.duplicate_window_secs", "must be longer than outbox.relay_after_ms + outbox.relay_lease_ms");
        }
        for (key, r) in [("outbound", &self.outbound), ("delivery", &self.delivery.retry())] {
            if r.max_attempts == 0 {
                p.push(format!("{key}.max_attempts"), "must be at least 1");
            }
            if r.workers == 0 {
                p.push(format!("{key}.workers"), "must be at least 1");
            }
            if r.request_timeout_ms == 0 {
                p.push(format!("{key}.request_timeout_ms"), "must be at least 1");
            }
        }
    }

    /// `[retention]`: ranges, and no limit shorter than what the rest of
    /// the configuration needs kept.
    fn validate_retention(&self, p: &mut Problems) {
        let r = &self.retention;
        for (key, value, min) in [
            ("retention.resolved_days", r.resolved_days, 0),
            ("retention.stream_max_age_days", r.stream_max_age_days, 0),
            ("retention.dead_letter_days", r.dead_letter_days, 0),
            ("retention.webchat_history_days", r.webchat_history_days, 1),
            ("retention.audit_days", r.audit_days, 1),
        ] {
            if !(min..=36_500).contains(&value) {
                p.push(key, format!("must be between {min} and 36500"));
            }
        }
        let secs = |d: u32| u64::from(d) * 24 * 3600;
        if r.resolved_days > 0 && secs(r.resolved_days) < self.routing.reopen_window_secs {
            p.push(
                "retention.resolved_days",
                "is shorter than routing.reopen_window_secs: a conversation the customer may still reopen would be removed",
            );
        }
        if r.stream_max_age_days > 0 && secs(r.stream_max_age_days) <= self.nats.duplicate_window_secs {
            p.push("retention.stream_max_age_days", "must be longer than nats.duplicate_window_secs (re-publishes would not be dropped)");
        }
    }
}
