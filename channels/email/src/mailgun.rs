//! Mailgun-style inbound form posts: field extraction and the signature
//! check.
//!
//! Mailgun signs each webhook with
//! `hex(HMAC-SHA256(signing_key, timestamp + token))` and sends the three
//! values as form fields beside the raw MIME in `body-mime`. The signature alone does not stop a replay, so two more
//! checks complete it: the timestamp must be within [`MAILGUN_MAX_AGE`] of
//! now (both ways, so a far-future timestamp cannot extend a capture's
//! life), and the token must not have been seen before. The last check
//! needs shared state (the daemon's Redis), so it is the daemon's: after
//! [`verify_mailgun`] succeeds it records [`MailgunFields::token`] with a
//! `SET NX` that lives at least [`MAILGUN_TOKEN_TTL`] and refuses the post
//! when the token was already there. A token older than that can no longer
//! pass the timestamp check, so the record may then expire.
//!
//! Decoding the form body (urlencoded or multipart) is the daemon's job: it
//! hands over the fields as name/bytes pairs. Comparisons are constant-time
//! (`subtle`) so response timings do not reveal the expected signature.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::error::{EmailError, Result};

/// How far a Mailgun `timestamp` may be from now, in either direction.
pub const MAILGUN_MAX_AGE: Duration = Duration::from_secs(5 * 60);

/// How long the daemon must remember a token: any token older than the
/// window plus the allowed clock skew is refused by the timestamp check.
pub const MAILGUN_TOKEN_TTL: Duration = Duration::from_secs(2 * 5 * 60);

/// The fields of a Mailgun inbound post that [`verify_mailgun`] needs.
#[derive(Clone)]
pub struct MailgunFields {
    /// Unix seconds, as Mailgun sent it.
    pub timestamp: String,
    /// A random string Mailgun sends once; the replay key.
    pub token: String,
    /// Hex HMAC-SHA256 of `timestamp + token`.
    pub signature: String,
    /// The raw RFC 5322 message.
    pub body_mime: Vec<u8>,
}

impl MailgunFields {
    /// Picks `timestamp`, `token`, `signature` and `body-mime` out of the
    /// decoded form fields; other fields are ignored.
    ///
    /// A missing or empty `timestamp`, `token` or `signature` is
    /// [`EmailError::BadSignature`] (the post is unauthenticated); a missing
    /// `body-mime`, a field given twice or a signing field that is not UTF-8
    /// is [`EmailError::Malformed`]: a repeated field would make what we
    /// verify ambiguous.
    pub fn from_pairs(pairs: &[(String, Vec<u8>)]) -> Result<MailgunFields> {
        let timestamp = signing_field(pairs, "timestamp")?;
        let token = signing_field(pairs, "token")?;
        let signature = signing_field(pairs, "signature")?;
        let body_mime = unique(pairs, "body-mime")?
            .ok_or_else(|| EmailError::malformed("missing body-mime"))?
            .to_vec();
        Ok(MailgunFields {
            timestamp,
            token,
            signature,
            body_mime,
        })
    }
}

/// Shows the token (not secret, and useful for tracing replays) but neither
/// the signature nor the message.
impl fmt::Debug for MailgunFields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MailgunFields")
            .field("timestamp", &self.timestamp)
            .field("token", &self.token)
            .field("body_mime_len", &self.body_mime.len())
            .finish_non_exhaustive()
    }
}

/// The value of `name` when it appears at most once.
fn unique<'a>(pairs: &'a [(String, Vec<u8>)], name: &str) -> Result<Option<&'a [u8]>> {
    let mut values = pairs.iter().filter(|(n, _)| n == name);
    let first = values.next().map(|(_, v)| v.as_slice());
    if values.next().is_some() {
        return Err(EmailError::malformed(format!(
            "{name} appears more than once"
        )));
    }
    Ok(first)
}

/// One of the three signing fields: present once, UTF-8, non-empty.
fn signing_field(pairs: &[(String, Vec<u8>)], name: &str) -> Result<String> {
    let value = unique(pairs, name)?.ok_or(EmailError::BadSignature)?;
    let value = std::str::from_utf8(value)
        .map_err(|_| EmailError::malformed(format!("{name} is not UTF-8")))?
        .trim();
    if value.is_empty() {
        return Err(EmailError::BadSignature);
    }
    Ok(value.to_owned())
}

/// `hex(HMAC-SHA256(signing_key, timestamp + token))`, what Mailgun sends
/// as `signature`.
pub fn mailgun_signature(signing_key: &str, timestamp: &str, token: &str) -> String {
    hex::encode(mac(signing_key, timestamp, token))
}

/// The raw HMAC bytes.
fn mac(signing_key: &str, timestamp: &str, token: &str) -> Vec<u8> {
    // HMAC takes keys of any length, so this cannot fail; should it ever,
    // an empty MAC matches no signature (see `verify_mailgun`).
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(signing_key.as_bytes()) else {
        return Vec::new();
    };
    mac.update(timestamp.as_bytes());
    mac.update(token.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// Checks the Mailgun signature in constant time and the timestamp against
/// `now` (at most [`MAILGUN_MAX_AGE`] old or ahead); returns the raw MIME.
///
/// An empty signing key never verifies (a missing secret must not turn into
/// "anyone may post"). The signature is compared as bytes, so upper-case
/// hex is accepted. The signature is checked before the timestamp, so a
/// forger learns nothing from which check failed. Recording the token is
/// the caller's part (see the module doc).
pub fn verify_mailgun(signing_key: &str, f: &MailgunFields, now: DateTime<Utc>) -> Result<Vec<u8>> {
    if signing_key.is_empty() {
        return Err(EmailError::BadSignature);
    }
    let given = hex::decode(f.signature.trim()).map_err(|_| EmailError::BadSignature)?;
    let expected = mac(signing_key, &f.timestamp, &f.token);
    // `ct_eq` on slices of different lengths is false without comparing
    // contents; the length of a valid signature is public anyway.
    if expected.is_empty() || !bool::from(expected.as_slice().ct_eq(&given)) {
        return Err(EmailError::BadSignature);
    }
    let ts = f.timestamp.trim();
    if ts.is_empty() || ts.len() > 12 || !ts.bytes().all(|b| b.is_ascii_digit()) {
        return Err(EmailError::Stale);
    }
    let ts: i64 = ts.parse().map_err(|_| EmailError::Stale)?;
    let max_age = i64::try_from(MAILGUN_MAX_AGE.as_secs()).unwrap_or(i64::MAX);
    if (now.timestamp() - ts).abs() > max_age {
        return Err(EmailError::Stale);
    }
    Ok(f.body_mime.clone())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test should fail loudly at the first surprise
mod tests {
    use chrono::TimeZone;

    use super::*;

    const KEY: &str = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0";

    fn fields(ts: i64, key: &str) -> MailgunFields {
        let timestamp = ts.to_string();
        let token = "f2c3a1b0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9".to_owned();
        let signature = mailgun_signature(key, &timestamp, &token);
        let pairs = vec![
            ("timestamp".to_owned(), timestamp.into_bytes()),
            ("token".to_owned(), token.into_bytes()),
            ("signature".to_owned(), signature.into_bytes()),
            (
                "body-mime".to_owned(),
                b"From: a@b.example\r\n\r\nhi".to_vec(),
            ),
            ("recipient".to_owned(), b"support@shop.example".to_vec()),
        ];
        MailgunFields::from_pairs(&pairs).unwrap()
    }

    fn now() -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000, 0).single().unwrap()
    }

    #[test]
    fn known_vector() {
        // Computed independently:
        // `printf 1700000000f2c3a1b0 | openssl dgst -sha256 -hmac key-test`.
        assert_eq!(
            mailgun_signature("key-test", "1700000000", "f2c3a1b0"),
            "37f86cb56968d0fae041172cd5c83ba1b944e942017f5b5bffafde610217b032"
        );
    }

    #[test]
    fn valid_signature_returns_the_mime() {
        let f = fields(now().timestamp() - 30, KEY);
        let mime = verify_mailgun(KEY, &f, now()).unwrap();
        assert_eq!(mime, b"From: a@b.example\r\n\r\nhi");
        // Upper-case hex is the same signature.
        let mut upper = f.clone();
        upper.signature = f.signature.to_uppercase();
        assert!(verify_mailgun(KEY, &upper, now()).is_ok());
    }

    #[test]
    fn wrong_signature_is_403() {
        let f = fields(now().timestamp(), "another-key");
        let e = verify_mailgun(KEY, &f, now()).unwrap_err();
        assert!(matches!(e, EmailError::BadSignature));
        assert_eq!(e.kind().http_status(), 403);

        let mut tampered = fields(now().timestamp(), KEY);
        tampered.token.push('x');
        assert!(matches!(
            verify_mailgun(KEY, &tampered, now()),
            Err(EmailError::BadSignature)
        ));
        let mut not_hex = fields(now().timestamp(), KEY);
        not_hex.signature = "zz".repeat(32);
        assert!(matches!(
            verify_mailgun(KEY, &not_hex, now()),
            Err(EmailError::BadSignature)
        ));
        // An empty key never verifies, even a signature made with it.
        let empty = fields(now().timestamp(), "");
        assert!(matches!(
            verify_mailgun("", &empty, now()),
            Err(EmailError::BadSignature)
        ));
    }

    #[test]
    fn six_minute_old_timestamp_is_refused() {
        let f = fields(now().timestamp() - 6 * 60, KEY);
        let e = verify_mailgun(KEY, &f, now()).unwrap_err();
        assert!(matches!(e, EmailError::Stale));
        assert_eq!(e.kind().http_status(), 403);
        // Just inside the window is fine; far in the future is not.
        assert!(verify_mailgun(KEY, &fields(now().timestamp() - 299, KEY), now()).is_ok());
        let future = fields(now().timestamp() + 6 * 60, KEY);
        assert!(matches!(
            verify_mailgun(KEY, &future, now()),
            Err(EmailError::Stale)
        ));
        let odd = MailgunFields {
            timestamp: "-5".into(),
            token: "t".into(),
            signature: mailgun_signature(KEY, "-5", "t"),
            body_mime: Vec::new(),
        };
        assert!(matches!(
            verify_mailgun(KEY, &odd, now()),
            Err(EmailError::Stale)
        ));
    }

    #[test]
    fn from_pairs_requires_each_field_once() {
        let pair = |n: &str, v: &str| (n.to_owned(), v.as_bytes().to_vec());
        let base = vec![
            pair("timestamp", "1"),
            pair("token", "t"),
            pair("signature", "ab"),
            pair("body-mime", "x"),
        ];
        assert!(MailgunFields::from_pairs(&base).is_ok());
        for missing in ["timestamp", "token", "signature"] {
            let pairs: Vec<_> = base.iter().filter(|(n, _)| n != missing).cloned().collect();
            assert!(matches!(
                MailgunFields::from_pairs(&pairs),
                Err(EmailError::BadSignature)
            ));
        }
        let no_body: Vec<_> = base
            .iter()
            .filter(|(n, _)| n != "body-mime")
            .cloned()
            .collect();
        assert!(matches!(
            MailgunFields::from_pairs(&no_body),
            Err(EmailError::Malformed(_))
        ));
        let mut twice = base.clone();
        twice.push(pair("token", "u"));
        assert!(matches!(
            MailgunFields::from_pairs(&twice),
            Err(EmailError::Malformed(_))
        ));
        let mut empty = base.clone();
        empty[0].1.clear();
        assert!(matches!(
            MailgunFields::from_pairs(&empty),
            Err(EmailError::BadSignature)
        ));
        let mut binary = base;
        binary[1].1 = vec![0xff, 0xfe];
        assert!(matches!(
            MailgunFields::from_pairs(&binary),
            Err(EmailError::Malformed(_))
        ));
    }
}
