//! The [`Verified`] type: a push body that passed WeChat's signature check
//! and, in safe mode, decrypted to XML for this account.
//!
//! The mode comes from the query string, as WeChat's own SDKs decide it:
//! `encrypt_type=aes` is safe mode (or compatible mode, whose body also
//! carries the plaintext fields: they are ignored, only the decrypted XML
//! is trusted), no `encrypt_type` (or `raw`) is plaintext mode.
//!
//! The plaintext `signature` covers only the token, `timestamp` and
//! `nonce`, not the body, so a signed URL seen once (in a proxy's log, say)
//! would post any XML. [`Verified::check_push`] therefore also applies the
//! account's [`PushPolicy`]: a `timestamp` within a few minutes of now, and
//! for an account that requires encryption no plaintext push at all (else
//! dropping `encrypt_type`/`msg_signature` from a captured safe-mode URL
//! would downgrade it). Remembering `(timestamp, nonce)` with the body's
//! hash for that window, across replicas, is the daemon's part.
//!
//! A `Verified` can only be built by [`Verified::check`], so code that holds
//! one cannot have skipped the check; [`decode`](crate::decode) takes a
//! `Verified`, never raw bytes.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::ExposeSecret as _;

use crate::crypto::{decrypt, AccountKeys};
use crate::error::{Result, WechatError};
use crate::signature::{signature_matches, PushQuery};
use crate::xml::Fields;

/// A push whose signature (and, in safe mode, `msg_signature`, decryption
/// and AppID) checked out. Only constructible by [`Verified::check`].
pub struct Verified {
    xml: String,
    encrypted: bool,
    timestamp: String,
    nonce: String,
}

/// What an account accepts beyond valid signatures.
#[derive(Clone, Copy, Debug)]
pub struct PushPolicy {
    /// Refuse plaintext pushes ([`WechatError::EncryptionRequired`]).
    pub require_encryption: bool,
    /// How far the signed `timestamp` may be from `now`, either way.
    pub max_skew: Duration,
    /// The time of receipt.
    pub now: DateTime<Utc>,
}

/// The signed `timestamp` as seconds since the epoch, if it is within
/// `policy.max_skew` of `policy.now` (checked arithmetic: any string is
/// safe here).
fn fresh(timestamp: &str, policy: &PushPolicy) -> Result<i64> {
    let t = timestamp.trim();
    if t.is_empty() || t.len() > 12 || !t.bytes().all(|b| b.is_ascii_digit()) {
        return Err(WechatError::Stale);
    }
    let ts: i64 = t.parse().map_err(|_| WechatError::Stale)?;
    let skew = i64::try_from(policy.max_skew.as_secs()).unwrap_or(i64::MAX);
    match policy.now.timestamp().checked_sub(ts) {
        Some(d) if d.checked_abs().is_some_and(|d| d <= skew) => Ok(ts),
        _ => Err(WechatError::Stale),
    }
}

/// How the push was sent, from `encrypt_type`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// `signature` only; the body is the XML.
    Plaintext,
    /// Safe or compatible mode: `msg_signature` and `<Encrypt>`.
    Safe,
}

impl Mode {
    /// The mode `encrypt_type` names; an unknown one is `Malformed`.
    fn of(q: &PushQuery) -> Result<Mode> {
        match q.encrypt_type.as_deref().map(str::trim) {
            None | Some("") => Ok(Mode::Plaintext),
            Some(t) if t.eq_ignore_ascii_case("raw") => Ok(Mode::Plaintext),
            Some(t) if t.eq_ignore_ascii_case("aes") => Ok(Mode::Safe),
            Some(_) => Err(WechatError::malformed("unknown encrypt_type")),
        }
    }
}

impl Verified {
    /// [`check`](Self::check) under the account's [`PushPolicy`]: a
    /// plaintext push to an account that requires encryption is
    /// [`WechatError::EncryptionRequired`] (before anything else), and a
    /// correctly signed push whose `timestamp` is not within
    /// `max_skew` of `now` is [`WechatError::Stale`]. Both are 403.
    pub fn check_push(keys: &AccountKeys, q: &PushQuery, body: &[u8], policy: &PushPolicy) -> Result<Verified> {
        if policy.require_encryption && Mode::of(q)? == Mode::Plaintext {
            return Err(WechatError::EncryptionRequired);
        }
        let verified = Self::check(keys, q, body)?;
        fresh(&verified.timestamp, policy)?;
        Ok(verified)
    }

    /// Checks a push (`POST /webhooks/wechat/{account}`) and returns its
    /// plaintext XML.
    ///
    /// Plaintext mode: `signature` over token, `timestamp` and `nonce`, then
    /// the body must be UTF-8. Safe and compatible mode (`encrypt_type=aes`):
    /// the body's single `<Encrypt>` is read, `msg_signature` over token,
    /// `timestamp`, `nonce` and `Encrypt` is verified (constant time), and
    /// only then is it decrypted (AES-256-CBC, IV = key[..16], 32-byte
    /// PKCS#7 blocks), the 16 random bytes stripped, the big-endian length
    /// applied and the trailing AppID compared with the account's.
    ///
    /// Errors: a missing `timestamp`, `nonce`, `signature` /
    /// `msg_signature`, or a mismatch, is [`WechatError::BadSignature`];
    /// a body that is not UTF-8, not XML or without exactly one non-empty
    /// `<Encrypt>`, or an unknown `encrypt_type`, is
    /// [`WechatError::Malformed`]; bad base64, block length, padding or
    /// inner length is [`WechatError::Decrypt`]; another AppID is
    /// [`WechatError::AppIdMismatch`]; a safe-mode push to an account
    /// without an EncodingAESKey is [`WechatError::Config`]. Capping the
    /// body size is the daemon's job (413).
    pub fn check(keys: &AccountKeys, q: &PushQuery, body: &[u8]) -> Result<Verified> {
        let mode = Mode::of(q)?;
        let (timestamp, nonce) = q.timestamp_nonce()?;
        let token = keys.token.expose_secret();
        match mode {
            Mode::Plaintext => {
                if !signature_matches(&[token, timestamp, nonce], q.signature.as_deref()) {
                    return Err(WechatError::BadSignature);
                }
                let xml = std::str::from_utf8(body)
                    .map_err(|_| WechatError::malformed("body is not UTF-8"))?;
                Ok(Verified {
                    xml: xml.to_owned(),
                    encrypted: false,
                    timestamp: timestamp.to_owned(),
                    nonce: nonce.to_owned(),
                })
            }
            Mode::Safe => {
                // Refuse an unsigned request before spending a parse on it.
                if q.msg_signature
                    .as_deref()
                    .is_none_or(|s| s.trim().is_empty())
                {
                    return Err(WechatError::BadSignature);
                }
                let envelope = std::str::from_utf8(body)
                    .map_err(|_| WechatError::malformed("body is not UTF-8"))?;
                let fields = Fields::parse(envelope)?;
                let encrypted = fields.required("Encrypt")?;
                let parts = [token, timestamp, nonce, encrypted];
                if !signature_matches(&parts, q.msg_signature.as_deref()) {
                    return Err(WechatError::BadSignature);
                }
                Ok(Verified {
                    xml: decrypt(keys, encrypted)?,
                    encrypted: true,
                    timestamp: timestamp.to_owned(),
                    nonce: nonce.to_owned(),
                })
            }
        }
    }

    /// The plaintext XML of the push (decrypted in safe mode).
    pub fn xml(&self) -> &str {
        &self.xml
    }

    /// The signed `timestamp`, as sent.
    pub fn timestamp(&self) -> &str {
        &self.timestamp
    }

    /// The signed `nonce`, as sent.
    pub fn nonce(&self) -> &str {
        &self.nonce
    }

    /// Whether the push came encrypted (safe or compatible mode), so that a
    /// passive reply, should the daemon ever send one, is encrypted too.
    pub fn was_encrypted(&self) -> bool {
        self.encrypted
    }
}

/// Shows the size only: the XML holds OpenIDs and message text, which must
/// not reach logs through a stray `{:?}`.
impl fmt::Debug for Verified {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verified")
            .field("xml_len", &self.xml.len())
            .field("encrypted", &self.encrypted)
            .finish()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test should fail loudly at the first surprise
#[path = "verify_tests.rs"]
mod tests;
