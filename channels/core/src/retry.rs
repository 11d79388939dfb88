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

/// The wait before reconnect attempt `attempt` (counting from 1) to a
/// server that went away: none before the first, then `base * 2^(n-2)`
/// capped at `cap`, plus up to 20% jitter so that many clients coming back
/// at once spread out. The cap is small on purpose: a reconnect is cheap,
/// and a long wait is a long outage after the server is back.
pub fn reconnect_delay(attempt: usize, base: Duration, cap: Duration) -> Duration {
    if attempt <= 1 {
        return Duration::ZERO;
    }
    let exp = u32::try_from(attempt - 2).unwrap_or(u32::MAX).min(20);
    let wait = base.saturating_mul(1u32 << exp).min(cap);
    let fifth = u64::try_from(wait.as_millis() / 5).unwrap_or(u64::MAX);
    wait + Duration::from_millis(rand::thread_rng().gen_range(0..=fifth))
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
    fn reconnect_delays_are_short_and_bounded() {
        let (base, cap) = (Duration::from_millis(50), Duration::from_millis(500));
        for _ in 0..50 {
            assert_eq!(reconnect_delay(1, base, cap), Duration::ZERO);
            let d2 = reconnect_delay(2, base, cap);
            assert!(d2 >= base && d2 <= Duration::from_millis(60), "{d2:?}");
            let d4 = reconnect_delay(4, base, cap);
            assert!(d4 >= Duration::from_millis(200) && d4 <= Duration::from_millis(240), "{d4:?}");
            for n in [6, 40, usize::MAX] {
                let d = reconnect_delay(n, base, cap);
                assert!(d >= cap && d <= Duration::from_millis(600), "{n}: {d:?}");
            }
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
