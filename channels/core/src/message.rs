//! The normalized inbound and outbound messages.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::Channel;

/// A message from a customer, in the same shape whatever the channel.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InboundMessage {
    /// Our own id (a ULID), assigned at intake.
    pub id: String,
    /// The channel it came in on.
    pub channel: Channel,
    /// The configured channel account (number, mailbox, WeChat app).
    pub account: String,
    /// The provider's own id for the message, used for de-duplication.
    pub provider_message_id: String,
    /// The customer's address on this channel (E.164 phone, email address,
    /// WeChat OpenID, web chat visitor id).
    pub customer: String,
    /// The address the customer wrote to (our number, mailbox, app).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// The customer's display name, where the provider gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// The text of the message (may be empty, e.g. an MMS with only media).
    pub text: String,
    /// Media attached to the message.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attachment>,
    /// When switchboard received it.
    pub received_at: DateTime<Utc>,
    /// Provider fields worth keeping, bounded in size.
    #[serde(default)]
    pub metadata: Metadata,
}

/// A piece of media attached to a message.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct Attachment {
    /// MIME type, e.g. `image/jpeg`.
    pub content_type: String,
    /// Size in bytes, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Where the provider serves it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The provider's media id, for providers that use ids instead of URLs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_id: Option<String>,
    /// The file name, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// A small, bounded map of provider fields. Providers add fields without
/// notice and a hostile client can send thousands, so inserts past the bounds
/// are dropped and long values are cut.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Metadata(BTreeMap<String, String>);

impl Metadata {
    /// At most this many entries are kept.
    pub const MAX_ENTRIES: usize = 32;
    /// Keys longer than this are dropped.
    pub const MAX_KEY_LEN: usize = 64;
    /// Values are cut to this many bytes (on a character boundary).
    pub const MAX_VALUE_LEN: usize = 512;

    /// Inserts a field; returns whether it was kept.
    pub fn insert(&mut self, key: &str, value: &str) -> bool {
        if key.is_empty() || key.len() > Self::MAX_KEY_LEN {
            return false;
        }
        if !self.0.contains_key(key) && self.0.len() >= Self::MAX_ENTRIES {
            return false;
        }
        let mut end = value.len().min(Self::MAX_VALUE_LEN);
        while !value.is_char_boundary(end) {
            end -= 1;
        }
        self.0.insert(key.to_owned(), value[..end].to_owned());
        true
    }

    /// The value of a field.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// Number of fields kept.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether no field is kept.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The fields, sorted by key.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

/// A reply on its way to a customer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OutboundMessage {
    /// Our own id (a ULID); the idempotency key of the send.
    pub id: String,
    /// The conversation it belongs to.
    pub conversation_id: String,
    /// The channel to send it on.
    pub channel: Channel,
    /// The channel account to send it from.
    pub account: String,
    /// The customer's address on that channel.
    pub to: String,
    /// The text to send.
    pub text: String,
    /// Media to send, by URL.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub media_urls: Vec<String>,
    /// Media the provider already holds, by its id (WeChat image, voice
    /// and video messages). The API puts each on its own outbound message,
    /// so a send is one provider call and stays idempotent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub media_ids: Vec<MediaRef>,
    /// The agent who wrote it, if an agent did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// Who sent it when no person did: a bot's answer or one of the
    /// router's own notices (office hours, waiting, survey, closing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub automated: Option<Automated>,
    /// When it was accepted by the API.
    pub created_at: DateTime<Utc>,
}

/// The sender of an automated outbound message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Automated {
    /// A bot answering for the team (`[bots.<name>]`).
    Bot,
    /// The router itself: office-hours, waiting, survey and closing notices.
    System,
}

/// A piece of media held by the provider, referred to by its id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
pub struct MediaRef {
    /// `image`, `voice` or `video`.
    pub kind: String,
    /// The provider's media id.
    pub media_id: String,
}

/// What the provider answered to an accepted send.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendReceipt {
    /// The provider's id for the sent message (Twilio's `SM…` sid).
    pub provider_message_id: String,
    /// The provider's status at acceptance (e.g. `queued`).
    pub status: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_is_bounded() {
        let mut m = Metadata::default();
        for i in 0..100 {
            m.insert(&format!("k{i}"), "v");
        }
        assert_eq!(m.len(), Metadata::MAX_ENTRIES);
        assert!(!m.insert(&"x".repeat(65), "v"));
        let long = "退".repeat(400);
        let mut m = Metadata::default();
        assert!(m.insert("k", &long));
        let kept = m.get("k").unwrap();
        assert!(kept.len() <= Metadata::MAX_VALUE_LEN);
        assert!(long.starts_with(kept));
        // Replacing an existing key is allowed even when full.
        let mut full = Metadata::default();
        for i in 0..Metadata::MAX_ENTRIES {
            full.insert(&format!("k{i}"), "a");
        }
        assert!(full.insert("k0", "b"));
        assert_eq!(full.get("k0"), Some("b"));
    }
}
