//! Dead letters (`{P}:deadletters:data`, JSON written by delivery, routing
//! and the outbox relay).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A delivery, routing or relay step that exhausted its attempts. An
/// entry missing some of these (written by hand, or damaged) is still
/// listed, with those fields empty (and `at` the epoch), so that an
/// operator sees it and can drop it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DeadLetter {
    /// Its id (one URL path segment).
    #[serde(default)]
    pub id: String,
    /// What failed: a delivery target kind (`webhook`, `email`, …),
    /// `inbound` (a message routing refused) or `outbox` (an event too
    /// large to publish).
    #[serde(default)]
    pub kind: String,
    /// Where it was going: the delivery target, `router`, or the subject.
    #[serde(default)]
    pub target: String,
    /// The last failure.
    #[serde(default)]
    pub reason: String,
    /// When it was dead-lettered.
    #[serde(default)]
    pub at: DateTime<Utc>,
    /// The CloudEvent that was not delivered (delivery dead letters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub event: Option<serde_json::Value>,
    /// The normalized inbound message (kind `inbound`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub message: Option<serde_json::Value>,
    /// The payload that was not published (kind `outbox`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<String>,
    /// Its outbox id, the `Nats-Msg-Id` it is replayed under (kind
    /// `outbox`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry: Option<String>,
}

impl DeadLetter {
    /// The dead letter stored as `raw`; `None` for an entry this version
    /// does not understand.
    pub fn from_json(raw: &str) -> Option<DeadLetter> {
        serde_json::from_str(raw).ok()
    }
}
