//! Backoff arithmetic shared by everything that retries a provider or a
//! delivery target: exponential with jitter, and the provider's own
//! `Retry-After` taking precedence, both capped.

use std::time::{Duration, SystemTime};

use rand::Rng;

/// The wait before attempt `attempt + 1` (attempt counts from 1):
/// `base * 2^(attempt-1)`, capped at `max`, with "equal jitter" (half fixed,
/// half random) so that many clients retrying at once spread out.
pub fn backoff(attempt: u32, base: Duration, max: Duration) -> Duration {
    let exp = base.saturating_mul(1u32 << attempt.saturating_sub(1).min(20)).min(max);
    let half = exp / 2;
    let jitter = rand::thread_rng().gen_range(0..=half.as_millis().min(u128::from(u64::MAX)) as u64);
    half + Duration::from_millis(jitter)
}

/// Parses a `Retry-After` value (delay in seconds, or an HTTP date) into a
/// wait from `now`. Unparseable or past values give `None`.
pub fn retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    httpdate::parse_http_date(value).ok()?.duration_since(now).ok()
}

/// The wait before the next attempt: the provider's hint if it gave one,
/// else [`backoff`]; never more than `max`.
pub fn next_wait(attempt: u32, hint: Option<Duration>, base: Duration, max: Duration) -> Duration {
    hint.map_or_else(|| backoff(attempt, base, max), |h| h.min(max))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let base = Duration::from_millis(100);
        let max = Duration::from_secs(1);
        for _ in 0..50 {
            let b1 = backoff(1, base, max);
            assert!(b1 >= Duration::from_millis(50) && b1 <= base, "{b1:?}");
            let b3 = backoff(3, base, max);
            assert!(b3 >= Duration::from_millis(200) && b3 <= Duration::from_millis(400), "{b3:?}");
            assert!(backoff(40, base, max) <= max);
        }
    }

    #[test]
    fn retry_after_forms() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        assert_eq!(retry_after("7", now), Some(Duration::from_secs(7)));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(30));
        assert_eq!(retry_after(&later, now), Some(Duration::from_secs(30)));
        let earlier = httpdate::fmt_http_date(now - Duration::from_secs(30));
        assert_eq!(retry_after(&earlier, now), None);
        assert_eq!(retry_after("soon", now), None);
        assert_eq!(next_wait(1, Some(Duration::from_secs(99)), Duration::ZERO, Duration::from_secs(5)), Duration::from_secs(5));
    }
}
