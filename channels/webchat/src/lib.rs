//! The web chat channel of switchboard: everything about a visitor's chat
//! that can be decided without I/O, so that it is fuzzed and unit-tested
//! while the daemon serves the routes and the socket.
//!
//! - `POST /webchat/sessions`: the daemon parses the body with
//!   [`SessionRequest::parse`], checks the shop's signed customer identity
//!   with [`verify_identity`] when there is one, and answers the
//!   [`Session`] that [`SessionIssuer::issue`] makes (a signed, expiring
//!   token and the visitor id).
//! - `GET /webchat/ws?token=…`: [`SessionIssuer::verify`] turns the token
//!   into [`SessionClaims`] before the upgrade (the only way to get them);
//!   each text frame goes through [`parse_client_frame`], a visitor message
//!   becomes an [`InboundMessage`](switchboard_core::InboundMessage) by
//!   [`to_inbound`], and the daemon answers with [`ServerFrame`]s, the
//!   `ack` only after the JetStream publish ack.
//! - `GET /webchat/widget.js` and `GET /webchat/`: [`WIDGET_JS`] and
//!   [`DEMO_HTML`].
//!
//! `PROTOCOL.md` next to this crate documents the session endpoint, the
//! identity signature and every frame for people embedding the widget or
//! writing their own client. Each failure is a [`WebchatError`] whose
//! [`kind`](WebchatError::kind) tells the daemon which 4xx to answer and
//! whose [`frame_code`](WebchatError::frame_code) which `error` frame.

mod assets;
mod error;
mod frames;
mod identity;
mod session;

pub use assets::{DEMO_HTML, WIDGET_JS};
pub use error::{Result, WebchatError};
pub use frames::{
    parse_client_frame, to_inbound, ChatMessage, ClientFrame, ErrorCode, Sender, ServerFrame,
    ACCOUNT, MAX_CLIENT_ID_CHARS, MAX_FRAME_BYTES, MAX_TEXT_CHARS,
};
pub use identity::{
    identity_signature, verify_identity, RawIdentity, SessionRequest, ShopIdentity,
    IDENTITY_MAX_AGE, IDENTITY_MAX_AHEAD, MAX_CUSTOMER_ID_CHARS, MAX_NAME_CHARS,
    MAX_SESSION_REQUEST_BYTES, MAX_TIER_CHARS, MAX_VISITOR_ID_CHARS,
};
pub use session::{
    is_visitor_id, Session, SessionClaims, SessionIssuer, MAX_TOKEN_BYTES, MAX_TTL,
    MIN_SECRET_BYTES,
};

/// A JSON error as a [`WebchatError::Malformed`] that names the defect but
/// never echoes a value (serde's own messages quote the offending input).
fn json_error(what: &str, e: &serde_json::Error) -> WebchatError {
    let text = e.to_string();
    let detail = if e.classify() != serde_json::error::Category::Data {
        "is not valid JSON".to_owned()
    } else if let Some((field, _)) = text
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split_once('`'))
    {
        // Only our own field names are ever reported missing.
        format!("lacks the field `{field}`")
    } else if text.starts_with("unknown variant") {
        "has an unknown type".to_owned()
    } else if text.starts_with("unknown field") {
        "has an unknown field".to_owned()
    } else {
        "does not have the documented fields and types".to_owned()
    };
    WebchatError::malformed(format!("{what} {detail}"))
}

/// Deserializes a `T` only from a JSON object. Derived struct and
/// internally tagged enum deserializers also accept a JSON array (fields by
/// position), which is not the documented format and would let `["ping"]`
/// through; this wrapper asks for a map.
struct ObjectOnly<T>(T);

impl<'de, T: serde::Deserialize<'de>> serde::Deserialize<'de> for ObjectOnly<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        /// Hands the object's entries to `T`.
        struct Entries<T>(std::marker::PhantomData<T>);

        impl<'de, T: serde::Deserialize<'de>> serde::de::Visitor<'de> for Entries<T> {
            type Value = T;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> std::result::Result<T, A::Error> {
                T::deserialize(serde::de::value::MapAccessDeserializer::new(map))
            }
        }

        d.deserialize_map(Entries(std::marker::PhantomData))
            .map(ObjectOnly)
    }
}

/// `deserialize_with` for an optional field that must be an object or null.
fn optional_object<'de, D, T>(d: D) -> std::result::Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    let value: Option<ObjectOnly<T>> = serde::Deserialize::deserialize(d)?;
    Ok(value.map(|ObjectOnly(inner)| inner))
}

/// Times on the wire: RFC 3339 in UTC with milliseconds
/// (`2023-11-14T22:13:20.000Z`), which every browser's `Date` parses.
mod rfc3339_millis {
    use chrono::{DateTime, SecondsFormat, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes the time as RFC 3339 with milliseconds and `Z`.
    pub fn serialize<S: Serializer>(at: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&at.to_rfc3339_opts(SecondsFormat::Millis, true))
    }

    /// Reads any RFC 3339 time.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let text = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&text)
            .map(|at| at.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    }
}
