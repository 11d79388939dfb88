//! WeChat's request signatures and the GET URL verification.
//!
//! WeChat signs every request it makes with `hex(sha1(concat(sort(parts))))`:
//! the parts are the configured token, the `timestamp` and the `nonce` of
//! the query string for `signature`, plus the `<Encrypt>` value of the body
//! for safe mode's `msg_signature`. Sorting is plain byte order, as in
//! WeChat's own samples.
//!
//! The plaintext-mode `signature` does not cover the body: anyone who saw one
//! signed URL could replay it with another body. That is WeChat's design;
//! safe mode (`msg_signature` over the ciphertext) is the cure, and for
//! plaintext pushes [`Verified::check_push`](crate::Verified::check_push)
//! bounds the timestamp's age while the daemon remembers each
//! `(timestamp, nonce)` with its body's hash for that window.
//!
//! Comparisons are constant-time (`subtle`) so that a caller cannot learn
//! the expected signature byte by byte from response timings.

use serde::Deserialize;
use sha1::{Digest, Sha1};
use subtle::ConstantTimeEq;

use crate::error::{Result, WechatError};

/// `hex(sha1(concat(sort(parts))))`, lower-case — used for both `signature`
/// (token, timestamp, nonce) and `msg_signature` (token, timestamp, nonce,
/// Encrypt).
pub fn signature(parts: &[&str]) -> String {
    let mut sorted = parts.to_vec();
    sorted.sort_unstable();
    let mut sha = Sha1::new();
    for part in sorted {
        sha.update(part.as_bytes());
    }
    sha.finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Constant-time check of a hex signature from the query string against
/// [`signature`] of `parts`. Upper-case hex is accepted; an empty or
/// absent value never matches.
pub(crate) fn signature_matches(parts: &[&str], given: Option<&str>) -> bool {
    let Some(given) = given.map(str::trim).filter(|g| !g.is_empty()) else {
        return false;
    };
    let expected = signature(parts);
    // `ct_eq` on slices of different lengths is false without comparing the
    // contents; the length of a SHA-1 hex digest is public anyway.
    expected
        .as_bytes()
        .ct_eq(given.to_ascii_lowercase().as_bytes())
        .into()
}

/// The query parameters of a push or verification request
/// (`/webhooks/wechat/{account}?signature=…&timestamp=…&nonce=…`).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct PushQuery {
    /// `hex(sha1(sort(token, timestamp, nonce)))`, on every request.
    pub signature: Option<String>,
    /// Seconds since the epoch, as WeChat wrote it (signed as a string).
    pub timestamp: Option<String>,
    /// A random number, as WeChat wrote it.
    pub nonce: Option<String>,
    /// The string to echo back, on the GET verification only.
    pub echostr: Option<String>,
    /// The sender's OpenID, on pushes (informational; the body is
    /// authoritative).
    pub openid: Option<String>,
    /// `aes` in safe and compatible mode; absent (or `raw`) in plaintext
    /// mode.
    pub encrypt_type: Option<String>,
    /// `hex(sha1(sort(token, timestamp, nonce, Encrypt)))`, in safe and
    /// compatible mode.
    pub msg_signature: Option<String>,
}

impl PushQuery {
    /// The `timestamp` and `nonce` every signature covers; either missing
    /// means the request cannot be verified.
    pub(crate) fn timestamp_nonce(&self) -> Result<(&str, &str)> {
        match (self.timestamp.as_deref(), self.nonce.as_deref()) {
            (Some(timestamp), Some(nonce)) => Ok((timestamp, nonce)),
            _ => Err(WechatError::BadSignature),
        }
    }
}

/// The GET URL verification: `Ok(echostr)` when `signature` matches the
/// token, `timestamp` and `nonce` (constant time). The daemon answers the
/// returned string verbatim as `text/plain`.
///
/// A missing `signature`, `timestamp` or `nonce`, or a signature that does
/// not match, is [`WechatError::BadSignature`]; a correctly signed request
/// without `echostr` is [`WechatError::Malformed`].
pub fn verify_echo(token: &str, q: &PushQuery) -> Result<String> {
    let (timestamp, nonce) = q.timestamp_nonce()?;
    if !signature_matches(&[token, timestamp, nonce], q.signature.as_deref()) {
        return Err(WechatError::BadSignature);
    }
    q.echostr
        .clone()
        .ok_or_else(|| WechatError::malformed("missing echostr"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test should fail loudly at the first surprise
mod tests {
    use super::*;

    // VECTORS.md, "WeChat Official Account — plain signature".
    const TOKEN: &str = "test";
    const TIMESTAMP: &str = "1410685589";
    const NONCE: &str = "test";
    const SIGNATURE: &str = "f21891de399b4e33a1a93c9a7b8a8fffb5a443ff";
    const REJECTED: &str = "f21891de399b4e33a1a93c9a7b8a8fffb5a443fe";

    fn query(signature: &str) -> PushQuery {
        PushQuery {
            signature: Some(signature.into()),
            timestamp: Some(TIMESTAMP.into()),
            nonce: Some(NONCE.into()),
            echostr: Some("5837397749127493321".into()),
            ..PushQuery::default()
        }
    }

    #[test]
    fn plain_vector() {
        assert_eq!(signature(&[TOKEN, TIMESTAMP, NONCE]), SIGNATURE);
        // Order of the parts does not matter: they are sorted.
        assert_eq!(signature(&[NONCE, TIMESTAMP, TOKEN]), SIGNATURE);
        assert!(signature_matches(
            &[TOKEN, TIMESTAMP, NONCE],
            Some(SIGNATURE)
        ));
        assert!(!signature_matches(
            &[TOKEN, TIMESTAMP, NONCE],
            Some(REJECTED)
        ));
    }

    #[test]
    fn safe_mode_vector_msg_signature() {
        // VECTORS.md, "safe mode (AES), the official demo vector".
        let parts = [
            "spamtest",
            "1409735669",
            "1320562132",
            crate::vectors::DEMO_ENCRYPT,
        ];
        assert_eq!(
            signature(&parts),
            "5d197aaffba7e9b25a30732f161a50dee96bd5fa"
        );
    }

    #[test]
    fn echo_is_answered_only_when_signed() {
        assert_eq!(
            verify_echo(TOKEN, &query(SIGNATURE)).unwrap(),
            "5837397749127493321"
        );
        assert_eq!(
            verify_echo(TOKEN, &query(&SIGNATURE.to_ascii_uppercase())).unwrap(),
            "5837397749127493321"
        );
        let bad = |q: &PushQuery| matches!(verify_echo(TOKEN, q), Err(WechatError::BadSignature));
        assert!(bad(&query(REJECTED)));
        assert!(bad(&query("")));
        assert!(bad(&query(&SIGNATURE[..39])));
        assert!(matches!(
            verify_echo("other", &query(SIGNATURE)),
            Err(WechatError::BadSignature)
        ));
        let mut q = query(SIGNATURE);
        q.signature = None;
        assert!(bad(&q));
        let mut q = query(SIGNATURE);
        q.timestamp = None;
        assert!(bad(&q));
        let mut q = query(SIGNATURE);
        q.nonce = Some("tesu".into());
        assert!(bad(&q));
        let mut q = query(SIGNATURE);
        q.echostr = None;
        let err = verify_echo(TOKEN, &q).unwrap_err();
        assert_eq!(err.kind().http_status(), 400);
    }

    #[test]
    fn query_deserializes_from_wechat_names() {
        let q: PushQuery = serde_json::from_str(
            r#"{"signature":"s","timestamp":"1","nonce":"2","openid":"o","encrypt_type":"aes","msg_signature":"m"}"#,
        )
        .unwrap();
        assert_eq!(q.encrypt_type.as_deref(), Some("aes"));
        assert_eq!(q.msg_signature.as_deref(), Some("m"));
        assert!(q.echostr.is_none());
    }
}
