//! Visitor session tokens: what `POST /webchat/sessions` hands out and
//! `GET /webchat/ws?token=…` checks, so that any router replica can accept
//! any visitor's socket without shared session state.
//!
//! A token is `base64url(claims) "." base64url(mac)`, both without padding,
//! where `claims` is the UTF-8 JSON
//!
//! ```json
//! {"ver":1,"visitor_id":"v_01HF3ZK3RQ8V5M2XW7T0G9J6CE","visitor_name":"Li Lei",
//!  "customer":{"customer_id":"c-1001","name":"Jane Doe","tier":"vip"},
//!  "iat":1700000000,"exp":1700086400}
//! ```
//!
//! (`visitor_name` and `customer` only when present; `iat` and `exp` in Unix
//! seconds) and `mac` is the 32-byte HMAC-SHA256, keyed with the configured
//! `channels.webchat.session_secret`, of the first part exactly as it
//! appears in the token (its base64url text, not the decoded JSON). The
//! claims are readable by anyone holding the token, so they hold nothing
//! the visitor may not see; they are signed, not encrypted.
//!
//! [`SessionIssuer::verify`] checks, in this order: at most
//! [`MAX_TOKEN_BYTES`] ([`WebchatError::TooLarge`]); one `.` with text on
//! both sides ([`WebchatError::Malformed`]); the MAC, in constant time and
//! before the JSON is even decoded ([`WebchatError::BadSignature`]); the
//! claims' format ([`WebchatError::Malformed`]); `now < exp`
//! ([`WebchatError::Expired`]).
//!
//! The visitor id (`v_` and a ULID) is what keeps a visitor's history
//! across sessions, and a widget presenting a known one gets it back. It is
//! therefore a bearer secret of the visitor, like a cookie: 80 random bits
//! make it unguessable, but it is logged only through
//! [`Masked`](switchboard_core::Masked).

use std::fmt;
use std::time::{Duration, SystemTime};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, TimeDelta, Utc};
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use switchboard_core::Masked;
use ulid::Ulid;

use crate::error::{Result, WebchatError};
use crate::identity::{ShopIdentity, MAX_CUSTOMER_ID_CHARS, MAX_NAME_CHARS, MAX_TIER_CHARS};

/// Longest token accepted by [`SessionIssuer::verify`], in bytes. Issued
/// tokens stay well below it whatever the identity (fields are cut to
/// their limits).
pub const MAX_TOKEN_BYTES: usize = 4096;
/// Shortest session secret [`SessionIssuer::new`] accepts, in bytes.
pub const MIN_SECRET_BYTES: usize = 16;
/// Longest session lifetime [`SessionIssuer::new`] accepts.
pub const MAX_TTL: Duration = Duration::from_secs(366 * 24 * 3600);
/// The `ver` of the claims this crate writes and reads.
const VERSION: u32 = 1;

/// Issues and verifies session tokens with the configured secret and
/// lifetime. Its `Debug` shows neither the secret nor anything derived.
#[derive(Debug)]
pub struct SessionIssuer {
    secret: SecretString,
    ttl: TimeDelta,
}

/// A freshly issued session, what `POST /webchat/sessions` answers:
/// `{"session_token": …, "visitor_id": …, "expires_at": "…Z"}`.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct Session {
    /// The signed token, for `GET /webchat/ws?token=…`.
    #[serde(rename = "session_token")]
    pub token: String,
    /// The visitor id (`v_` + ULID), kept by the widget for the next session.
    pub visitor_id: String,
    /// When the token stops being accepted; the widget renews before.
    #[serde(with = "crate::rfc3339_millis")]
    pub expires_at: DateTime<Utc>,
}

/// Hides the token and masks the visitor id.
impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("visitor_id", &Masked(&self.visitor_id))
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// What a verified token says. Only [`SessionIssuer::verify`] makes one, so
/// holding it proves the token checked out.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionClaims {
    visitor_id: String,
    visitor_name: Option<String>,
    customer: Option<ShopIdentity>,
    issued_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
}

impl SessionClaims {
    /// The visitor id, `v_` + ULID: the customer address on this channel.
    pub fn visitor_id(&self) -> &str {
        &self.visitor_id
    }

    /// The name the visitor typed in, unverified.
    pub fn visitor_name(&self) -> Option<&str> {
        self.visitor_name.as_deref()
    }

    /// The shop customer the visitor is linked to, when the shop vouched.
    pub fn customer(&self) -> Option<&ShopIdentity> {
        self.customer.as_ref()
    }

    /// The name to show agents: the shop's, else the visitor's own.
    pub fn display_name(&self) -> Option<&str> {
        self.customer
            .as_ref()
            .and_then(|c| c.name.as_deref())
            .or(self.visitor_name())
    }

    /// When the token was issued.
    pub fn issued_at(&self) -> DateTime<Utc> {
        self.issued_at
    }

    /// When the token stops being accepted.
    pub fn expires_at(&self) -> DateTime<Utc> {
        self.expires_at
    }
}

/// Masks the visitor id; the customer is masked by its own `Debug`.
impl fmt::Debug for SessionClaims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionClaims")
            .field("visitor_id", &Masked(&self.visitor_id))
            .field("has_visitor_name", &self.visitor_name.is_some())
            .field("customer", &self.customer)
            .field("issued_at", &self.issued_at)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// The claims as they travel in the token.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire {
    ver: u32,
    visitor_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    visitor_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    customer: Option<WireCustomer>,
    iat: i64,
    exp: i64,
}

/// A [`ShopIdentity`] in the token; only readable from a verified one.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WireCustomer {
    customer_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tier: Option<String>,
}

impl SessionIssuer {
    /// An issuer signing with `secret` (at least [`MIN_SECRET_BYTES`]) for
    /// sessions of `ttl` (more than zero, at most [`MAX_TTL`]); anything
    /// else is [`WebchatError::Config`], so a missing or toy secret stops
    /// the daemon at start rather than letting anyone forge sessions.
    pub fn new(secret: SecretString, ttl: Duration) -> Result<SessionIssuer> {
        if secret.expose_secret().len() < MIN_SECRET_BYTES {
            return Err(WebchatError::Config(format!(
                "channels.webchat.session_secret must be at least {MIN_SECRET_BYTES} bytes"
            )));
        }
        if ttl.is_zero() || ttl > MAX_TTL {
            return Err(WebchatError::Config(
                "the session lifetime must be between 1 s and 366 days".into(),
            ));
        }
        let ttl = TimeDelta::from_std(ttl)
            .map_err(|_| WebchatError::Config("session lifetime".into()))?;
        Ok(SessionIssuer { secret, ttl })
    }

    /// Issues a session valid from `now` for the configured lifetime.
    ///
    /// `visitor_id` is kept when it is in the issued format (see
    /// [`is_visitor_id`]); otherwise, or when absent, a new `v_` + ULID is
    /// made. `identity` should come from [`verify_identity`](crate::verify_identity);
    /// `name` is the visitor's own, unverified. Names, tier and customer id
    /// are cut to their limits and an empty name is dropped, so the token
    /// always fits [`MAX_TOKEN_BYTES`].
    pub fn issue(
        &self,
        visitor_id: Option<&str>,
        identity: Option<&ShopIdentity>,
        name: Option<&str>,
        now: DateTime<Utc>,
    ) -> Session {
        let visitor_id = match visitor_id {
            Some(v) if is_visitor_id(v) => v.to_owned(),
            _ => format!("v_{}", Ulid::from_datetime(SystemTime::from(now))),
        };
        // The claims hold whole seconds: cut `now` to match, so that the
        // answer's `expires_at` is exactly the token's `exp`.
        let now = DateTime::from_timestamp(now.timestamp(), 0).unwrap_or(now);
        let expires_at = now.checked_add_signed(self.ttl).unwrap_or(now);
        let wire = Wire {
            ver: VERSION,
            visitor_id: visitor_id.clone(),
            visitor_name: name.and_then(|n| cut(n, MAX_NAME_CHARS)),
            customer: identity.map(|c| WireCustomer {
                customer_id: cut(&c.customer_id, MAX_CUSTOMER_ID_CHARS).unwrap_or_default(),
                name: c.name.as_deref().and_then(|n| cut(n, MAX_NAME_CHARS)),
                tier: c.tier.as_deref().and_then(|t| cut(t, MAX_TIER_CHARS)),
            }),
            iat: now.timestamp(),
            exp: expires_at.timestamp(),
        };
        // Serializing strings and integers cannot fail; should it ever, the
        // empty payload makes a token that `verify` refuses as malformed.
        let json = serde_json::to_vec(&wire).unwrap_or_default();
        let payload = URL_SAFE_NO_PAD.encode(json);
        let mac = URL_SAFE_NO_PAD.encode(self.mac(&payload));
        Session {
            token: format!("{payload}.{mac}"),
            visitor_id,
            expires_at,
        }
    }

    /// Verifies a token (see the module documentation for the checks and
    /// their errors) and returns its claims.
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<SessionClaims> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(WebchatError::TooLarge("session token"));
        }
        let (payload, mac) = token
            .split_once('.')
            .filter(|(p, m)| !p.is_empty() && !m.is_empty() && !m.contains('.'))
            .ok_or_else(|| WebchatError::malformed("session token is not `claims.signature`"))?;
        let given = URL_SAFE_NO_PAD
            .decode(mac)
            .map_err(|_| WebchatError::BadSignature)?;
        let expected = self.mac(payload);
        if expected.is_empty() || !bool::from(expected.as_slice().ct_eq(&given)) {
            return Err(WebchatError::BadSignature);
        }
        let json = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| WebchatError::malformed("session token claims are not base64url"))?;
        let wire: Wire = serde_json::from_slice(&json).map_err(|_| {
            WebchatError::malformed("session token claims are not the documented JSON")
        })?;
        if wire.ver != VERSION {
            return Err(WebchatError::malformed("unsupported session token version"));
        }
        if !is_visitor_id(&wire.visitor_id) {
            return Err(WebchatError::malformed("session token visitor id"));
        }
        let time = |secs| {
            DateTime::from_timestamp(secs, 0)
                .ok_or_else(|| WebchatError::malformed("session token time"))
        };
        let (issued_at, expires_at) = (time(wire.iat)?, time(wire.exp)?);
        if expires_at <= issued_at {
            return Err(WebchatError::malformed(
                "session token expires before it is issued",
            ));
        }
        if now >= expires_at {
            return Err(WebchatError::Expired);
        }
        Ok(SessionClaims {
            visitor_id: wire.visitor_id,
            visitor_name: wire.visitor_name,
            customer: wire.customer.map(|c| ShopIdentity {
                customer_id: c.customer_id,
                name: c.name,
                tier: c.tier,
            }),
            issued_at,
            expires_at,
        })
    }

    /// The configured session lifetime.
    pub fn ttl(&self) -> Duration {
        self.ttl.to_std().unwrap_or_default()
    }

    /// HMAC-SHA256 of the token's first part.
    fn mac(&self, payload: &str) -> Vec<u8> {
        // HMAC takes keys of any length, so this cannot fail; should it
        // ever, an empty MAC matches no token (see `verify`).
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(self.secret.expose_secret().as_bytes())
        else {
            return Vec::new();
        };
        mac.update(payload.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }
}

/// Whether `s` is a visitor id in the issued format: `v_` followed by a
/// ULID in its canonical 26-character upper-case Crockford base32 form.
pub fn is_visitor_id(s: &str) -> bool {
    s.strip_prefix("v_")
        .filter(|u| u.len() == ulid::ULID_LEN)
        .and_then(|u| {
            Ulid::from_string(u)
                .ok()
                .filter(|parsed| parsed.to_string() == u)
        })
        .is_some()
}

/// The first `max_chars` characters of `s`, or `None` when it is empty.
fn cut(s: &str, max_chars: usize) -> Option<String> {
    let cut: String = s.chars().take(max_chars).collect();
    (!cut.is_empty()).then_some(cut)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test should fail loudly at the first surprise
#[path = "session_tests.rs"]
mod tests;
