//! The [`Verified`] type: a push body that passed WeChat's signature check
//! and, in safe mode, decrypted to XML for this account.
//!
//! The mode comes from the query string, as WeChat's own SDKs decide it:
//! `encrypt_type=aes` is safe mode (or compatible mode, whose body also
//! carries the plaintext fields: they are ignored, only the decrypted XML
//! is trusted), no `encrypt_type` (or `raw`) is plaintext mode. Plaintext
//! pushes are accepted even when the account has an EncodingAESKey,
//! because the WeChat console switches modes independently of our
//! configuration and a switch must not drop messages.
//!
//! A `Verified` can only be built by [`Verified::check`], so code that holds
//! one cannot have skipped the check; [`decode`](crate::decode) takes a
//! `Verified`, never raw bytes.

use std::fmt;

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
                })
            }
        }
    }

    /// The plaintext XML of the push (decrypted in safe mode).
    pub fn xml(&self) -> &str {
        &self.xml
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
