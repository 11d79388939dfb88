//! Slack's request signing (v0), pure: `X-Slack-Signature` is `v0=` and
//! the hex HMAC-SHA256, keyed by the app's signing secret, of
//! `v0:{X-Slack-Request-Timestamp}:{raw body}`. Compared in constant time;
//! a timestamp more than [`MAX_SKEW_SECS`] from now, either way, is
//! refused (a captured request cannot be replayed later).

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// How far the request's timestamp may be from our clock.
pub const MAX_SKEW_SECS: i64 = 300;

/// Why a request is refused (said in the 401, never the expected value).
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// No signing secret is configured: every request is refused.
    NotConfigured,
    /// A header is missing or not what Slack sends.
    Malformed(&'static str),
    /// The timestamp is more than five minutes off.
    Stale,
    /// The signature does not match.
    BadSignature,
}

impl Refused {
    /// A short reason for the answer.
    pub fn reason(&self) -> &'static str {
        match self {
            Refused::NotConfigured => "the Slack app has no signing secret configured",
            Refused::Malformed(why) => why,
            Refused::Stale => "X-Slack-Request-Timestamp is more than 5 minutes off",
            Refused::BadSignature => "X-Slack-Signature does not match",
        }
    }
}

/// The `v0=…` signature of `body` at `timestamp` (the header's text).
#[cfg(test)]
pub fn sign(secret: &str, timestamp: &str, body: &[u8]) -> String {
    format!("v0={}", to_hex(&mac(secret, timestamp, body)))
}

fn mac(secret: &str, timestamp: &str, body: &[u8]) -> [u8; 32] {
    #[allow(clippy::expect_used)]
    let mut m = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length");
    m.update(b"v0:");
    m.update(timestamp.as_bytes());
    m.update(b":");
    m.update(body);
    m.finalize().into_bytes().into()
}

#[cfg(test)]
fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

fn from_hex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    s.as_bytes().chunks(2).map(|pair| Some(digit(pair[0])? << 4 | digit(pair[1])?)).collect()
}

/// Checks a request: `timestamp` and `signature` are the headers' values
/// (`None` when absent), `now` our clock in Unix seconds.
pub fn verify(
    secret: Option<&str>,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now: i64,
) -> Result<(), Refused> {
    let secret = secret.filter(|s| !s.is_empty()).ok_or(Refused::NotConfigured)?;
    let timestamp = timestamp.ok_or(Refused::Malformed("X-Slack-Request-Timestamp is missing"))?;
    let signature = signature.ok_or(Refused::Malformed("X-Slack-Signature is missing"))?;
    let at: i64 = timestamp
        .parse()
        .ok()
        .filter(|_| timestamp.bytes().all(|b| b.is_ascii_digit()))
        .ok_or(Refused::Malformed("X-Slack-Request-Timestamp is not Unix seconds"))?;
    if now.abs_diff(at) > MAX_SKEW_SECS.unsigned_abs() {
        return Err(Refused::Stale);
    }
    let given = signature
        .strip_prefix("v0=")
        .and_then(from_hex)
        .filter(|g| g.len() == 32)
        .ok_or(Refused::Malformed("X-Slack-Signature is not a v0 signature"))?;
    let expected = mac(secret, timestamp, body);
    if bool::from(expected.as_slice().ct_eq(&given)) {
        Ok(())
    } else {
        Err(Refused::BadSignature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Slack's worked example (api.slack.com/authentication/verifying-requests-from-slack).
    const DOC_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    const DOC_TS: &str = "1531420618";
    const DOC_BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const DOC_SIG: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

    #[test]
    fn slacks_published_example_verifies() {
        assert_eq!(sign(DOC_SECRET, DOC_TS, DOC_BODY.as_bytes()), DOC_SIG);
        let now = 1_531_420_618 + 60;
        assert_eq!(verify(Some(DOC_SECRET), Some(DOC_TS), Some(DOC_SIG), DOC_BODY.as_bytes(), now), Ok(()));
        // Upper-case hex is the same signature.
        let upper = format!("v0={}", DOC_SIG[3..].to_uppercase());
        assert_eq!(verify(Some(DOC_SECRET), Some(DOC_TS), Some(&upper), DOC_BODY.as_bytes(), now), Ok(()));
    }

    #[test]
    fn a_value_computed_by_python_hmac_verifies() {
        // python3: hmac.new(b"switchboard-test-secret",
        //   b'v0:1767225600:{"type":"url_verification","challenge":"abc"}', hashlib.sha256).hexdigest()
        let body = br#"{"type":"url_verification","challenge":"abc"}"#;
        let sig = "v0=cc1a818947ea6409a0360d6910a576269800eff2a3a89aaac4542189e1863c85";
        assert_eq!(sign("switchboard-test-secret", "1767225600", body), sig);
        assert_eq!(verify(Some("switchboard-test-secret"), Some("1767225600"), Some(sig), body, 1_767_225_600), Ok(()));
    }

    #[test]
    fn tampering_staleness_and_missing_parts_are_refused() {
        let body = DOC_BODY.as_bytes();
        let now = 1_531_420_618;
        let check = |secret, ts, sig, body: &[u8], now| verify(secret, ts, sig, body, now);
        // Another body, secret or timestamp under the same signature.
        let mut other = body.to_vec();
        other[0] = b'T';
        assert_eq!(check(Some(DOC_SECRET), Some(DOC_TS), Some(DOC_SIG), &other, now), Err(Refused::BadSignature));
        assert_eq!(check(Some("another"), Some(DOC_TS), Some(DOC_SIG), body, now), Err(Refused::BadSignature));
        assert_eq!(check(Some(DOC_SECRET), Some("1531420619"), Some(DOC_SIG), body, now), Err(Refused::BadSignature));
        // Five minutes either way is the limit.
        assert_eq!(check(Some(DOC_SECRET), Some(DOC_TS), Some(DOC_SIG), body, now + 300), Ok(()));
        assert_eq!(check(Some(DOC_SECRET), Some(DOC_TS), Some(DOC_SIG), body, now + 301), Err(Refused::Stale));
        assert_eq!(check(Some(DOC_SECRET), Some(DOC_TS), Some(DOC_SIG), body, now - 301), Err(Refused::Stale));
        // Missing or malformed parts.
        assert_eq!(check(None, Some(DOC_TS), Some(DOC_SIG), body, now), Err(Refused::NotConfigured));
        assert_eq!(check(Some(""), Some(DOC_TS), Some(DOC_SIG), body, now), Err(Refused::NotConfigured));
        assert!(matches!(check(Some(DOC_SECRET), None, Some(DOC_SIG), body, now), Err(Refused::Malformed(_))));
        assert!(matches!(check(Some(DOC_SECRET), Some(DOC_TS), None, body, now), Err(Refused::Malformed(_))));
        assert!(matches!(check(Some(DOC_SECRET), Some("+1531420618"), Some(DOC_SIG), body, now), Err(Refused::Malformed(_))));
        assert!(matches!(check(Some(DOC_SECRET), Some("soon"), Some(DOC_SIG), body, now), Err(Refused::Malformed(_))));
        assert!(matches!(check(Some(DOC_SECRET), Some(DOC_TS), Some(&DOC_SIG[3..]), body, now), Err(Refused::Malformed(_))));
        assert!(matches!(check(Some(DOC_SECRET), Some(DOC_TS), Some("v0=zz"), body, now), Err(Refused::Malformed(_))));
        assert!(matches!(check(Some(DOC_SECRET), Some(DOC_TS), Some(&DOC_SIG[..20]), body, now), Err(Refused::Malformed(_))));
        assert!(matches!(check(Some(DOC_SECRET), Some(DOC_TS), Some("v1=00"), body, now), Err(Refused::Malformed(_))));
        // A huge timestamp does not overflow.
        assert!(check(Some(DOC_SECRET), Some("99999999999999999999"), Some(DOC_SIG), body, now).is_err());
    }
}
