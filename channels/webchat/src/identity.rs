//! The shop's signed customer identity and the `POST /webchat/sessions` body.
//!
//! A shop that knows who is browsing (a logged-in customer) links the
//! visitor to that customer by rendering a signed identity into its page
//! and passing it to the widget, which sends it with the session request:
//!
//! ```json
//! {"identity": {"customer_id": "c-1001", "name": "Jane Doe", "tier": "vip",
//!               "timestamp": 1700000000,
//!               "signature": "0f702b7eae1efa7a4fccddac1ed948538a1ac212762350b8255524309b191eb1"}}
//! ```
//!
//! `signature` is the lower-case hex HMAC-SHA256, keyed with the shared
//! identity secret, of the UTF-8 string `customer_id|name|tier|timestamp`:
//! the four fields joined by `|`, an absent (or `null`, or empty) name or
//! tier written as the empty string, the timestamp (Unix seconds, a JSON
//! number) in decimal, no trailing newline. The example above is signed with
//! the secret `shop-identity-secret` over `c-1001|Jane Doe|vip|1700000000`;
//! without name and tier the string is `c-1001|||1700000000`. In a shell:
//!
//! ```sh
//! printf '%s' 'c-1001|Jane Doe|vip|1700000000' | openssl dgst -sha256 -hmac shop-identity-secret
//! ```
//!
//! No field may contain `|` or a control character, so that the joined
//! string has exactly one reading. A timestamp more than
//! [`IDENTITY_MAX_AGE`] old or [`IDENTITY_MAX_AHEAD`] ahead is refused, so
//! an identity copied out of a page stops working quickly; within that
//! window it may be replayed, which only opens another session for the same
//! customer. The identity secret is the shop's and ours, never the widget's:
//! the shop signs on its server.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use switchboard_core::Masked;

use crate::error::{Result, WebchatError};
use crate::{json_error, ObjectOnly};

/// How old a shop identity's timestamp may be.
pub const IDENTITY_MAX_AGE: Duration = Duration::from_secs(10 * 60);
/// How far in the future a shop identity's timestamp may be (clock skew).
pub const IDENTITY_MAX_AHEAD: Duration = Duration::from_secs(5 * 60);
/// Longest shop customer id, in characters.
pub const MAX_CUSTOMER_ID_CHARS: usize = 128;
/// Longest name (the shop's or the visitor's own), in characters.
pub const MAX_NAME_CHARS: usize = 100;
/// Longest tier, in characters.
pub const MAX_TIER_CHARS: usize = 32;
/// Longest `visitor_id` accepted in a session request, in characters.
pub const MAX_VISITOR_ID_CHARS: usize = 64;
/// Largest `POST /webchat/sessions` body, in bytes.
pub const MAX_SESSION_REQUEST_BYTES: usize = 8 * 1024;

/// A customer of the shop, as the shop vouched for it. The daemon obtains
/// one only from [`verify_identity`] (or from verified session claims); it
/// deliberately has no `Deserialize`, so it cannot be read from a request
/// by mistake.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct ShopIdentity {
    /// The shop's own customer id.
    pub customer_id: String,
    /// The customer's name, as the shop knows it.
    pub name: Option<String>,
    /// The customer's tier (e.g. `vip`), a routing input.
    pub tier: Option<String>,
}

/// Masks the customer id and hides the name: identities reach logs.
impl fmt::Debug for ShopIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShopIdentity")
            .field("customer_id", &Masked(&self.customer_id))
            .field("has_name", &self.name.is_some())
            .field("tier", &self.tier)
            .finish()
    }
}

/// The identity as the shop sent it, not yet verified.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawIdentity {
    /// The shop's customer id; required, non-empty.
    pub customer_id: String,
    /// The customer's name; absent, `null` and `""` sign the same.
    #[serde(default)]
    pub name: Option<String>,
    /// The customer's tier; absent, `null` and `""` sign the same.
    #[serde(default)]
    pub tier: Option<String>,
    /// When the shop signed it, Unix seconds.
    pub timestamp: i64,
    /// Hex HMAC-SHA256 of `customer_id|name|tier|timestamp`.
    pub signature: String,
}

/// Masks the customer id and leaves out the name and signature.
impl fmt::Debug for RawIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawIdentity")
            .field("customer_id", &Masked(&self.customer_id))
            .field("tier", &self.tier)
            .field("timestamp", &self.timestamp)
            .finish_non_exhaustive()
    }
}

impl RawIdentity {
    /// Checks the field limits: a non-empty `customer_id` of at most
    /// [`MAX_CUSTOMER_ID_CHARS`], a name of at most [`MAX_NAME_CHARS`], a
    /// tier of at most [`MAX_TIER_CHARS`], none with `|` or a control
    /// character, and a signature of at most 128 characters.
    pub fn validate(&self) -> Result<()> {
        if self.customer_id.is_empty() {
            return Err(WebchatError::malformed("identity.customer_id is empty"));
        }
        signed_field(
            "identity.customer_id",
            &self.customer_id,
            MAX_CUSTOMER_ID_CHARS,
        )?;
        if let Some(name) = &self.name {
            signed_field("identity.name", name, MAX_NAME_CHARS)?;
        }
        if let Some(tier) = &self.tier {
            signed_field("identity.tier", tier, MAX_TIER_CHARS)?;
        }
        if self.signature.len() > 128 {
            return Err(WebchatError::malformed("identity.signature is too long"));
        }
        Ok(())
    }
}

/// The body of `POST /webchat/sessions`; every field is optional, and an
/// empty body means `{}`. Read it with [`SessionRequest::parse`], which
/// caps the size and checks the limits; a body deserialized any other way
/// must still go through [`SessionRequest::validate`].
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionRequest {
    /// The visitor id the widget was given before, to keep its history. One
    /// that is not in the issued format is replaced by a new one.
    #[serde(default)]
    pub visitor_id: Option<String>,
    /// The shop's signed identity, to link the visitor to a customer.
    #[serde(default, deserialize_with = "crate::optional_object")]
    pub identity: Option<RawIdentity>,
    /// The name the visitor typed in (not verified; the shop's name wins).
    #[serde(default)]
    pub name: Option<String>,
}

/// Masks the visitor id and hides the name.
impl fmt::Debug for SessionRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionRequest")
            .field("visitor_id", &self.visitor_id.as_deref().map(Masked))
            .field("identity", &self.identity)
            .field("has_name", &self.name.is_some())
            .finish()
    }
}

impl SessionRequest {
    /// Parses and validates a request body of at most
    /// [`MAX_SESSION_REQUEST_BYTES`]: larger is [`WebchatError::TooLarge`],
    /// not the documented JSON (unknown fields included) or a broken limit
    /// is [`WebchatError::Malformed`]. A body of only whitespace is `{}`.
    pub fn parse(body: &[u8]) -> Result<SessionRequest> {
        if body.len() > MAX_SESSION_REQUEST_BYTES {
            return Err(WebchatError::TooLarge("session request"));
        }
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(SessionRequest::default());
        }
        let ObjectOnly(request): ObjectOnly<SessionRequest> =
            serde_json::from_slice(body).map_err(|e| json_error("session request", &e))?;
        request.validate()?;
        Ok(request)
    }

    /// Checks the field limits: `visitor_id` at most
    /// [`MAX_VISITOR_ID_CHARS`], `name` at most [`MAX_NAME_CHARS`], neither
    /// with a control character, and the identity's
    /// ([`RawIdentity::validate`]).
    pub fn validate(&self) -> Result<()> {
        if let Some(visitor_id) = &self.visitor_id {
            plain_field("visitor_id", visitor_id, MAX_VISITOR_ID_CHARS)?;
        }
        if let Some(name) = &self.name {
            plain_field("name", name, MAX_NAME_CHARS)?;
        }
        if let Some(identity) = &self.identity {
            identity.validate()?;
        }
        Ok(())
    }
}

/// A field with a length limit and no control characters.
fn plain_field(field: &str, value: &str, max_chars: usize) -> Result<()> {
    if value.chars().count() > max_chars {
        return Err(WebchatError::malformed(format!(
            "{field} is longer than {max_chars} characters"
        )));
    }
    if value.chars().any(char::is_control) {
        return Err(WebchatError::malformed(format!(
            "{field} contains a control character"
        )));
    }
    Ok(())
}

/// A field of the signed string: also without `|`, which separates them.
fn signed_field(field: &str, value: &str, max_chars: usize) -> Result<()> {
    plain_field(field, value, max_chars)?;
    if value.contains('|') {
        return Err(WebchatError::malformed(format!("{field} contains `|`")));
    }
    Ok(())
}

/// The lower-case hex HMAC-SHA256 of `customer_id|name|tier|timestamp`, as
/// the shop computes it (see the module documentation). Useful for shops
/// written in Rust, for tests and for the demo page.
pub fn identity_signature(
    secret: &str,
    customer_id: &str,
    name: Option<&str>,
    tier: Option<&str>,
    timestamp: i64,
) -> String {
    hex::encode(mac(secret, customer_id, name, tier, timestamp))
}

/// The raw HMAC bytes over the joined fields.
fn mac(
    secret: &str,
    customer_id: &str,
    name: Option<&str>,
    tier: Option<&str>,
    timestamp: i64,
) -> Vec<u8> {
    // HMAC takes keys of any length, so this cannot fail; should it ever,
    // an empty MAC matches no signature (see `verify_identity`).
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return Vec::new();
    };
    let joined = format!(
        "{customer_id}|{}|{}|{timestamp}",
        name.unwrap_or(""),
        tier.unwrap_or("")
    );
    mac.update(joined.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// Verifies a shop identity and returns who it names.
///
/// Order: the field limits ([`RawIdentity::validate`], else
/// [`WebchatError::Malformed`]), then the signature in constant time (hex,
/// either case; anything else is [`WebchatError::BadSignature`]), then the
/// timestamp, which must be at most [`IDENTITY_MAX_AGE`] old and
/// [`IDENTITY_MAX_AHEAD`] ahead of `now` ([`WebchatError::Stale`]). Checking
/// the signature first means a forger learns nothing from which check
/// failed. An empty secret never verifies: a missing secret must not turn
/// into "anyone may claim any customer". An empty name or tier comes back
/// as `None`.
pub fn verify_identity(
    secret: &str,
    raw: &RawIdentity,
    now: DateTime<Utc>,
) -> Result<ShopIdentity> {
    raw.validate()?;
    if secret.is_empty() {
        return Err(WebchatError::BadSignature);
    }
    let given = hex::decode(raw.signature.trim()).map_err(|_| WebchatError::BadSignature)?;
    let name = raw.name.as_deref().filter(|n| !n.is_empty());
    let tier = raw.tier.as_deref().filter(|t| !t.is_empty());
    let expected = mac(secret, &raw.customer_id, name, tier, raw.timestamp);
    // `ct_eq` on slices of different lengths is false without comparing
    // contents; the length of a valid signature is public anyway.
    if expected.is_empty() || !bool::from(expected.as_slice().ct_eq(&given)) {
        return Err(WebchatError::BadSignature);
    }
    let age = i128::from(now.timestamp()) - i128::from(raw.timestamp);
    if age > i128::from(IDENTITY_MAX_AGE.as_secs())
        || -age > i128::from(IDENTITY_MAX_AHEAD.as_secs())
    {
        return Err(WebchatError::Stale);
    }
    Ok(ShopIdentity {
        customer_id: raw.customer_id.clone(),
        name: name.map(str::to_owned),
        tier: tier.map(str::to_owned),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test should fail loudly at the first surprise
#[path = "identity_tests.rs"]
mod tests;
