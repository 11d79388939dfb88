//! Decoding of a verified push into what it means: a customer message
//! ([`Push::Message`], normalized to an
//! [`InboundMessage`](switchboard_core::InboundMessage)) or an event
//! ([`Push::Event`], which mostly updates the customer's profile).
//!
//! Decoding is pure (no I/O), so it is fuzzed (`channels/fuzz`) and tested
//! against WeChat's published formats. It is lenient where being strict
//! would lose a customer's message (an unknown `MsgType` is kept as a
//! message with empty text and its fields in metadata) and strict where a
//! wrong value would mislead the daemon (a repeated or missing identity
//! field, a `MsgId` or `CreateTime` that is not a number, a media URL that
//! is not http(s): in plaintext mode the body is not covered by the
//! signature, so it may come from someone replaying a signed URL).
//!
//! De-duplication keys: WeChat retries a push up to three times when it gets
//! no answer within 5 s, byte for byte. A message's key is its `MsgId`
//! (a u64: it exceeds 2^53, so it is never a float); an event's is
//! `FromUserName:CreateTime:Event` (see [`WechatEvent::dedupe_key`]).

use std::fmt;

use chrono::{DateTime, Utc};
use switchboard_core::{Attachment, Channel, InboundMessage, Masked, Metadata};

use crate::error::{Result, WechatError};
use crate::verify::Verified;
use crate::xml::Fields;

/// Fields copied to metadata before any other, so that a body padded with
/// junk elements cannot push them out of the bounded map.
const KNOWN_METADATA: &[&str] = &[
    "MsgType",
    "CreateTime",
    "Format",
    "Location_X",
    "Location_Y",
    "Scale",
    "Label",
    "Title",
    "Description",
    "Url",
    "MediaId",
    "ThumbMediaId",
    "PicUrl",
    "MsgDataId",
    "Idx",
];

/// Fields that are the message itself (identity, id, text) and so never
/// copied to metadata; `Encrypt` only ever appears in compatible mode's
/// envelope.
const CONSUMED: &[&str] = &[
    "ToUserName",
    "FromUserName",
    "MsgId",
    "Content",
    "Recognition",
    "Encrypt",
];

/// What a push means.
#[derive(Clone, Debug, PartialEq)]
pub enum Push {
    /// A customer message: text, image, voice, video, shortvideo, location,
    /// link, or a type this crate does not know (kept with empty text).
    Message(InboundMessage),
    /// An event: following, unfollowing, scanning a QR code, a menu click,
    /// a location report.
    Event(WechatEvent),
}

impl Push {
    /// The key that is the same for a push and its retries: the message's
    /// `provider_message_id` or the event's `dedupe_key`.
    pub fn dedupe_key(&self) -> &str {
        match self {
            Push::Message(message) => &message.provider_message_id,
            Push::Event(event) => &event.dedupe_key,
        }
    }
}

/// An event pushed by WeChat (`MsgType` `event`).
#[derive(Clone, PartialEq)]
pub struct WechatEvent {
    /// Which event, from `Event`.
    pub kind: EventKind,
    /// The customer's OpenID (`FromUserName`).
    pub open_id: String,
    /// The Official Account's original id (`ToUserName`), empty if absent.
    pub to: String,
    /// `CreateTime`, seconds since the epoch.
    pub create_time: i64,
    /// `EventKey`: the menu key (CLICK), the URL (VIEW), the raw scene key
    /// (`qrscene_…` on subscribe, the bare scene on SCAN).
    pub event_key: Option<String>,
    /// The QR code scene for subscribe (`qrscene_` stripped) and SCAN.
    pub scene: Option<String>,
    /// `(Latitude, Longitude, Precision)` of a LOCATION event.
    pub location: Option<(f64, f64, f64)>,
    /// `FromUserName:CreateTime:Event`, identical for a push and its
    /// retries. The event name is part of it because WeChat may push two
    /// different events for one user in the same second (subscribe and a
    /// LOCATION report on entering), which must not collapse into one.
    pub dedupe_key: String,
}

/// Masks the OpenID: events are logged at info level.
impl fmt::Debug for WechatEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WechatEvent")
            .field("kind", &self.kind)
            .field("open_id", &Masked(&self.open_id))
            .field("to", &self.to)
            .field("create_time", &self.create_time)
            .field("event_key", &self.event_key)
            .field("scene", &self.scene)
            .field("has_location", &self.location.is_some())
            .finish_non_exhaustive()
    }
}

/// The kind of a [`WechatEvent`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// The customer followed the account (possibly by scanning a QR code).
    Subscribe,
    /// The customer unfollowed the account.
    Unsubscribe,
    /// A follower scanned a parametric QR code.
    Scan,
    /// A click on a custom menu button that sends a key.
    Click,
    /// A click on a custom menu button that opens a URL.
    View,
    /// A location report (when the account asks for them).
    Location,
    /// Any other event, by its `Event` name (e.g. `TEMPLATESENDJOBFINISH`,
    /// `scancode_push`).
    Other(String),
}

impl EventKind {
    /// Reads WeChat's `Event` value, case-insensitively.
    fn parse(event: &str) -> EventKind {
        match event.to_ascii_lowercase().as_str() {
            "subscribe" => EventKind::Subscribe,
            "unsubscribe" => EventKind::Unsubscribe,
            "scan" => EventKind::Scan,
            "click" => EventKind::Click,
            "view" => EventKind::View,
            "location" => EventKind::Location,
            _ => EventKind::Other(event.to_owned()),
        }
    }

    /// WeChat's name for the event (`subscribe`, `SCAN`, …); bounded for
    /// the known kinds, the pushed name for [`EventKind::Other`].
    pub fn as_str(&self) -> &str {
        match self {
            EventKind::Subscribe => "subscribe",
            EventKind::Unsubscribe => "unsubscribe",
            EventKind::Scan => "SCAN",
            EventKind::Click => "CLICK",
            EventKind::View => "VIEW",
            EventKind::Location => "LOCATION",
            EventKind::Other(name) => name,
        }
    }

    /// Whether this event should open (or continue) a conversation, rather
    /// than only update the customer's profile.
    ///
    /// Only [`EventKind::Click`]: a menu button is how a follower asks for
    /// help ("人工客服"). Following or scanning a code (even with a scene)
    /// is mostly marketing attribution, and putting every new follower in
    /// an agent queue would flood it; the daemon records them on the
    /// profile, where `scene` is kept, and a bot may greet them later.
    /// Unsubscribe, VIEW, LOCATION and unknown events are profile updates.
    pub fn is_conversational(&self) -> bool {
        matches!(self, EventKind::Click)
    }

    /// Whether WeChat opens the 48-hour customer-service window for this
    /// event, so the daemon should count it as the customer's last
    /// interaction for [`within_reply_window`](crate::within_reply_window):
    /// following, scanning a QR code and clicking a key menu button do;
    /// opening a URL from the menu, location reports and unfollowing do not.
    pub fn opens_reply_window(&self) -> bool {
        matches!(
            self,
            EventKind::Subscribe | EventKind::Scan | EventKind::Click
        )
    }
}

/// The largest `CreateTime` accepted: 9999-12-31T23:59:59Z. Seconds to
/// milliseconds cannot overflow below it.
pub const MAX_CREATE_TIME: i64 = 253_402_300_799;

/// Decodes a verified push.
///
/// `FromUserName`, `CreateTime` (an integer from 0 to [`MAX_CREATE_TIME`])
/// and `MsgType` are required, each once; a missing, blank or repeated one is [`WechatError::Malformed`].
/// `MsgType` `event` gives a [`Push::Event`] (`Event` required; LOCATION
/// needs numeric `Latitude`, `Longitude` and `Precision`). Any other type
/// gives a [`Push::Message`] with channel `wechat`, `provider_message_id`
/// the `MsgId` as a decimal u64 (or `FromUserName:CreateTime:MsgType` when a
/// type has none), customer the OpenID, and text, attachments and metadata
/// by type, as described in the crate docs. An unknown `MsgType` is kept
/// with empty text and every field in metadata, so nothing is lost.
pub fn decode(
    account: &str,
    verified: &Verified,
    id: String,
    received_at: DateTime<Utc>,
) -> Result<Push> {
    let fields = Fields::parse(verified.xml())?;
    let from = fields.required("FromUserName")?;
    let create_time = fields
        .required("CreateTime")?
        .parse::<i64>()
        .map_err(|_| WechatError::malformed("CreateTime is not an integer"))?;
    // Informational only (the daemon keeps its receive time for windows),
    // but no consumer may turn it into a date that wraps or lies past 9999.
    if !(0..=MAX_CREATE_TIME).contains(&create_time) {
        return Err(WechatError::malformed("CreateTime is out of range"));
    }
    let msg_type = fields.required("MsgType")?;
    let to = fields.optional("ToUserName")?;

    if msg_type.eq_ignore_ascii_case("event") {
        return decode_event(&fields, from, to, create_time).map(Push::Event);
    }

    let provider_message_id = match fields.optional("MsgId")? {
        Some(raw) => raw
            .parse::<u64>()
            .map_err(|_| WechatError::malformed("MsgId is not an unsigned integer"))?
            .to_string(),
        None => format!("{from}:{create_time}:{msg_type}"),
    };
    let (text, attachments) = content(&fields, msg_type)?;
    Ok(Push::Message(InboundMessage {
        id,
        channel: Channel::Wechat,
        account: account.to_owned(),
        provider_message_id,
        customer: from.to_owned(),
        to: to.map(str::to_owned),
        display_name: None,
        text,
        attachments,
        received_at,
        metadata: metadata(&fields),
    }))
}

/// The text and attachments of a message, by `MsgType`.
fn content(fields: &Fields, msg_type: &str) -> Result<(String, Vec<Attachment>)> {
    let media = |content_type: String, url: Option<String>| -> Result<Vec<Attachment>> {
        let media_id = fields.optional("MediaId")?.map(str::to_owned);
        if media_id.is_none() && url.is_none() {
            return Ok(Vec::new());
        }
        Ok(vec![Attachment {
            content_type,
            url,
            media_id,
            ..Attachment::default()
        }])
    };
    let text =
        |name: &str| -> Result<String> { Ok(fields.unique(name)?.unwrap_or_default().to_owned()) };
    Ok(match msg_type.to_ascii_lowercase().as_str() {
        "text" => (text("Content")?, Vec::new()),
        "image" => {
            let url = match fields.optional("PicUrl")? {
                Some(url) if is_http_url(url) => Some(url.to_owned()),
                Some(_) => return Err(WechatError::malformed("PicUrl is not an http(s) URL")),
                None => None,
            };
            // WeChat does not say the image format.
            (String::new(), media("image/*".into(), url)?)
        }
        "voice" => {
            let format = fields.optional("Format")?.map(str::to_ascii_lowercase);
            let content_type = match format {
                Some(f)
                    if f.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b)) =>
                {
                    format!("audio/{f}")
                }
                _ => "audio/*".into(),
            };
            // Speech recognition, when the account has it on, is the text.
            (text("Recognition")?, media(content_type, None)?)
        }
        "video" | "shortvideo" => (String::new(), media("video/*".into(), None)?),
        "location" => {
            let label = match fields.optional("Label")? {
                Some(label) => label.to_owned(),
                None => match (
                    fields.optional("Location_X")?,
                    fields.optional("Location_Y")?,
                ) {
                    (Some(x), Some(y)) => format!("[location {x}, {y}]"),
                    _ => String::new(),
                },
            };
            (label, Vec::new())
        }
        "link" => {
            let parts = [fields.optional("Title")?, fields.optional("Url")?];
            (
                parts.into_iter().flatten().collect::<Vec<_>>().join("\n"),
                Vec::new(),
            )
        }
        _ => (String::new(), Vec::new()),
    })
}

/// An event push.
fn decode_event(
    fields: &Fields,
    from: &str,
    to: Option<&str>,
    create_time: i64,
) -> Result<WechatEvent> {
    let event = fields.required("Event")?;
    let kind = EventKind::parse(event);
    let event_key = fields.optional("EventKey")?.map(str::to_owned);
    let scene = match kind {
        EventKind::Subscribe => event_key
            .as_deref()
            .and_then(|key| key.strip_prefix("qrscene_"))
            .filter(|scene| !scene.is_empty())
            .map(str::to_owned),
        EventKind::Scan => event_key.clone(),
        _ => None,
    };
    let location = if kind == EventKind::Location {
        Some((
            coordinate(fields, "Latitude")?,
            coordinate(fields, "Longitude")?,
            coordinate(fields, "Precision")?,
        ))
    } else {
        None
    };
    Ok(WechatEvent {
        dedupe_key: format!("{from}:{create_time}:{}", kind.as_str()),
        kind,
        open_id: from.to_owned(),
        to: to.unwrap_or_default().to_owned(),
        create_time,
        event_key,
        scene,
        location,
    })
}

/// A required finite number.
fn coordinate(fields: &Fields, name: &str) -> Result<f64> {
    fields
        .required(name)?
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .ok_or_else(|| WechatError::malformed(format!("{name} is not a number")))
}

/// Whether a media URL is one the daemon may safely hand on or fetch.
fn is_http_url(url: &str) -> bool {
    ["https://", "http://"].iter().any(|scheme| {
        url.len() > scheme.len()
            && url
                .get(..scheme.len())
                .is_some_and(|prefix| prefix.eq_ignore_ascii_case(scheme))
    })
}

/// The bounded metadata: known fields first, then the rest in document
/// order, never the identity or text fields.
fn metadata(fields: &Fields) -> Metadata {
    let mut metadata = Metadata::default();
    let known = KNOWN_METADATA
        .iter()
        .filter_map(|&name| fields.iter().find(|(n, _)| *n == name));
    let others = fields.iter().filter(|(n, _)| !CONSUMED.contains(n));
    for (name, value) in known.chain(others) {
        let value = value.trim();
        // The first value of a repeated field wins; empty ones take room.
        if !value.is_empty() && metadata.get(name).is_none() {
            metadata.insert(name, value);
        }
    }
    metadata
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test should fail loudly at the first surprise
#[path = "decode_tests.rs"]
mod tests;

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test should fail loudly at the first surprise
#[path = "decode_event_tests.rs"]
mod event_tests;
