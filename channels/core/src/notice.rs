//! What a provider tells about something other than a customer's message:
//! the delivery status of a message we sent, or a fact about a customer
//! (a WeChat follow, a QR scan, a location). Verified by the channel like
//! a message and put on the bus the same way, so that the HTTP layer only
//! decodes and every provider callback is taken at least once.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::Channel;

/// A provider's notice, as it goes on `P.inbound.notice.<channel>`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Notice {
    /// The provider's delivery state of one of our outbound messages (an
    /// SMS status callback, an email bounce).
    Delivery {
        /// The channel of the message.
        channel: Channel,
        /// The channel account it went out on.
        account: String,
        /// Our outbound message id.
        outbound: String,
        /// The provider's state (`delivered`, `failed`, `bounced`…).
        state: String,
        /// Its rank: a recorded state never moves to a lower rank.
        rank: u8,
        /// The provider's error code, if it gave one.
        error_code: Option<String>,
        /// Whether this state is a failure the agent must be told of.
        failed: bool,
        /// When we received it.
        received_at: DateTime<Utc>,
    },
    /// Fields of a customer's profile, by one of their identities.
    Profile {
        /// The channel.
        channel: Channel,
        /// The channel account.
        account: String,
        /// The identity's kind (`wechat-<account>`).
        identity_kind: String,
        /// The identity (an OpenID).
        identity: String,
        /// The profile fields to set.
        fields: Vec<(String, String)>,
        /// When we received it.
        received_at: DateTime<Utc>,
    },
}

impl Notice {
    /// The channel it came from.
    pub fn channel(&self) -> Channel {
        match self {
            Notice::Delivery { channel, .. } | Notice::Profile { channel, .. } => *channel,
        }
    }

    /// The channel account it came from.
    pub fn account(&self) -> &str {
        match self {
            Notice::Delivery { account, .. } | Notice::Profile { account, .. } => account,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notice_is_tagged_by_kind_and_reads_back() {
        let n = Notice::Delivery {
            channel: Channel::Sms,
            account: "shop".into(),
            outbound: "o1".into(),
            state: "failed".into(),
            rank: 4,
            error_code: Some("30003".into()),
            failed: true,
            received_at: DateTime::from_timestamp_millis(1_700_000_000_000).unwrap(),
        };
        let json = serde_json::to_value(&n).unwrap();
        assert_eq!((json["kind"].as_str(), json["channel"].as_str()), (Some("delivery"), Some("sms")));
        assert_eq!(serde_json::from_value::<Notice>(json).unwrap(), n);
        assert!(serde_json::from_str::<Notice>(r#"{"kind":"other"}"#).is_err());
    }
}
