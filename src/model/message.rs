//! Messages and notes as kept in a conversation's history
//! (`{P}:conv:<id>:messages`, JSON written by routing, replies and notes).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use switchboard_core::{Attachment, Channel, MediaRef};
use utoipa::ToSchema;

/// Who a history entry is from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// From the customer.
    Inbound,
    /// An agent's reply to the customer.
    Outbound,
    /// An internal note, never sent to the customer.
    Note,
}

/// One entry of a conversation's history: a customer's message, a reply,
/// or an internal note. Fields that do not apply to the direction are
/// absent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Message {
    /// The message id (a ULID; a reply's id).
    pub id: String,
    /// Who it is from.
    pub direction: Direction,
    /// The channel (messages and replies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<Channel>,
    /// The channel account (messages and replies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// The agent who wrote it (replies and notes; `admin` for the admin token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// Who wrote an outbound message that no agent wrote: `bot` (a bot's
    /// answer) or `system` (an office-hours or waiting notice).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// The text (may be empty, e.g. media only).
    #[serde(default)]
    pub text: String,
    /// The provider's id of an inbound message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_message_id: Option<String>,
    /// Media the customer sent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attachment>,
    /// Media URLs a reply attached.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub media_urls: Vec<String>,
    /// WeChat media a reply sent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub media: Vec<MediaRef>,
    /// The outbound message ids a reply went out as (text, then each media).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outbound_ids: Vec<String>,
    /// When it was received, sent or written.
    pub at: DateTime<Utc>,
}

impl Message {
    /// The history entry stored as `raw`; `None` for an entry this version
    /// does not understand (it is left out, not answered as an error).
    pub fn from_json(raw: &str) -> Option<Message> {
        serde_json::from_str(raw).ok()
    }
}

/// An internal note, as answered when it is written (and kept in the
/// history as a [`Message`] with `direction: note`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Note {
    /// The note's id (a ULID).
    pub id: String,
    /// Always `note`.
    pub direction: Direction,
    /// The agent who wrote it, or `admin`.
    pub agent: String,
    /// The text.
    pub text: String,
    /// When it was written.
    pub at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_entries_of_each_direction_parse() {
        let inbound = r#"{"id":"m1","direction":"inbound","channel":"sms","account":"shop","provider_message_id":"SM1","text":"hi","attachments":[],"at":"2024-01-01T00:00:00Z"}"#;
        let reply = r#"{"id":"r1","direction":"outbound","channel":"sms","account":"shop","agent":"alice","text":"hello","media_urls":[],"media":[],"outbound_ids":["r1"],"at":"2024-01-01T00:00:01Z"}"#;
        let note = r#"{"id":"n1","direction":"note","agent":"admin","text":"vip","at":"2024-01-01T00:00:02Z"}"#;
        let parsed: Vec<Message> = [inbound, reply, note].iter().filter_map(|r| Message::from_json(r)).collect();
        assert_eq!(parsed.iter().map(|m| m.direction).collect::<Vec<_>>(), [Direction::Inbound, Direction::Outbound, Direction::Note]);
        assert!(Message::from_json(r#"{"id":"x"}"#).is_none());
        let json = serde_json::to_value(&parsed[2]).expect("json");
        assert!(json.get("channel").is_none() && json.get("attachments").is_none(), "{json}");
    }
}
