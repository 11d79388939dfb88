//! WeChat's 48-hour customer-service window.
//!
//! The customer-service message API only delivers to a follower who
//! interacted with the account in the last 48 hours (sent a message, clicked
//! a key menu button, followed, scanned a code); outside it WeChat answers
//! errcode 45015 "response out of time limit". Refusing before the call
//! gives the agent a clear reason at once instead of a provider error code,
//! and saves a request. The daemon knows the customer's last interaction,
//! so this is a pure function of two instants.

use chrono::{DateTime, TimeDelta, Utc};

/// How long after the customer's last interaction the account may write.
pub const REPLY_WINDOW: TimeDelta = TimeDelta::hours(48);

/// The 48-hour customer-service window: `Ok(())` when
/// `now - last_customer_message <= 48h` (a last message "in the future",
/// from clock skew between replicas, counts as inside), else `Err` with a
/// reason fit to show the agent.
pub fn within_reply_window(
    last_customer_message: DateTime<Utc>,
    now: DateTime<Utc>,
) -> std::result::Result<(), String> {
    let elapsed = now.signed_duration_since(last_customer_message);
    if elapsed <= REPLY_WINDOW {
        return Ok(());
    }
    let hours = elapsed.num_hours();
    let minutes = elapsed.num_minutes() - hours * 60;
    Err(format!(
        "WeChat only allows customer-service replies within 48 hours of the customer's \
         last message; the last one was {hours}h {minutes:02}m ago, so the customer must \
         write again before they can be answered on WeChat"
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test should fail loudly at the first surprise
mod tests {
    use super::*;
    use chrono::TimeZone as _;

    #[test]
    fn edges_of_the_window() {
        let last = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
        assert!(within_reply_window(last, last).is_ok());
        assert!(within_reply_window(last, last + TimeDelta::hours(47)).is_ok());
        assert!(within_reply_window(last, last + TimeDelta::hours(48)).is_ok());
        let just_after = last + TimeDelta::hours(48) + TimeDelta::milliseconds(1);
        let reason = within_reply_window(last, just_after).unwrap_err();
        assert!(reason.contains("48 hours"), "{reason}");
        assert!(reason.contains("48h 00m ago"), "{reason}");
        let reason = within_reply_window(last, last + TimeDelta::minutes(49 * 60 + 5)).unwrap_err();
        assert!(reason.contains("49h 05m ago"), "{reason}");
        // Clock skew: a last message slightly in the future is inside.
        assert!(within_reply_window(last + TimeDelta::seconds(3), last).is_ok());
    }
}
