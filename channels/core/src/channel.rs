//! The closed set of channels switchboard speaks.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A customer-facing channel. The lower-case name is used in routes, NATS
/// subjects, Redis keys and capacity maps, so it never changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub enum Channel {
    /// Twilio-compatible SMS/MMS.
    Sms,
    /// WeChat Official Account push.
    Wechat,
    /// Inbound email over HTTP, outbound over SMTP.
    Email,
    /// The embeddable web chat widget.
    Webchat,
}

impl Channel {
    /// Every channel, in a stable order.
    pub const ALL: [Channel; 4] = [Channel::Sms, Channel::Wechat, Channel::Email, Channel::Webchat];

    /// The stable lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Sms => "sms",
            Channel::Wechat => "wechat",
            Channel::Email => "email",
            Channel::Webchat => "webchat",
        }
    }

    /// The key used for this channel in an agent's `capacity` map
    /// (`chat` is the operator-facing word for web chat).
    pub fn capacity_key(self) -> &'static str {
        match self {
            Channel::Webchat => "chat",
            other => other.as_str(),
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A channel name that is not one of [`Channel::ALL`].
#[derive(Debug, thiserror::Error)]
#[error("unknown channel `{0}`, expected one of: sms, wechat, email, webchat")]
pub struct UnknownChannel(pub String);

impl FromStr for Channel {
    type Err = UnknownChannel;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Channel::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| UnknownChannel(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for c in Channel::ALL {
            assert_eq!(c.as_str().parse::<Channel>().unwrap(), c);
            assert_eq!(serde_json::to_string(&c).unwrap(), format!("\"{}\"", c.as_str()));
        }
        assert!("fax".parse::<Channel>().is_err());
        assert_eq!(Channel::Webchat.capacity_key(), "chat");
    }
}
