//! The signed, expiring links of the email survey: one token per score,
//! `base64url(<conversation>.<round>.<score>.<expires>)` `.` `base64url(HMAC-SHA256)`
//! under `csat.link_secret`. The round is the resolve time (ms) the
//! question was asked for, so a link of an older resolve is refused; a
//! token is single-use because the conversation keeps the first score.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// What a valid token says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claims {
    /// The conversation.
    pub conversation: String,
    /// The resolve (ms) the question was for.
    pub round: i64,
    /// The score this link records.
    pub score: u8,
    /// When the link stops working (s since the epoch).
    pub expires: i64,
}

/// Why a token is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a token of ours, or altered.
    #[error("the link is not valid")]
    Forged,
    /// Past its expiry.
    #[error("the link has expired")]
    Expired,
}

fn mac(secret: &[u8], payload: &str) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(payload.as_bytes());
    mac
}

/// The token of `claims` under `secret`.
pub fn sign(secret: &[u8], claims: &Claims) -> String {
    let payload = format!("{}.{}.{}.{}", claims.conversation, claims.round, claims.score, claims.expires);
    let tag = mac(secret, &payload).finalize().into_bytes();
    format!("{}.{}", URL_SAFE_NO_PAD.encode(payload), URL_SAFE_NO_PAD.encode(tag))
}

/// The claims of `token` if `secret` signed it and it has not expired at
/// `now` (s since the epoch). The tag is compared in constant time.
pub fn verify(secret: &[u8], token: &str, now: i64) -> Result<Claims, TokenError> {
    let (body, tag) = token.split_once('.').ok_or(TokenError::Forged)?;
    if token.len() > 512 {
        return Err(TokenError::Forged);
    }
    let payload = URL_SAFE_NO_PAD.decode(body).map_err(|_| TokenError::Forged)?;
    let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| TokenError::Forged)?;
    let payload = String::from_utf8(payload).map_err(|_| TokenError::Forged)?;
    mac(secret, &payload).verify_slice(&tag).map_err(|_| TokenError::Forged)?;
    let mut parts = payload.split('.');
    let (Some(conversation), Some(round), Some(score), Some(expires), None) =
        (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Forged);
    };
    let claims = Claims {
        conversation: conversation.to_owned(),
        round: round.parse().map_err(|_| TokenError::Forged)?,
        score: score.parse().map_err(|_| TokenError::Forged)?,
        expires: expires.parse().map_err(|_| TokenError::Forged)?,
    };
    if now >= claims.expires {
        return Err(TokenError::Expired);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> Claims {
        Claims { conversation: "01J9Z8Q3V4Y5W6X7A8B9C0D1E2".into(), round: 1_700_000_000_123, score: 4, expires: 2_000 }
    }

    #[test]
    fn a_signed_token_verifies_until_it_expires() {
        let token = sign(b"secret", &claims());
        assert!(token.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.'), "URL-safe: {token}");
        assert_eq!(verify(b"secret", &token, 1_999), Ok(claims()));
        assert_eq!(verify(b"secret", &token, 2_000), Err(TokenError::Expired));
    }

    #[test]
    fn forged_tokens_are_refused() {
        let token = sign(b"secret", &claims());
        assert_eq!(verify(b"other", &token, 0), Err(TokenError::Forged), "another key");
        // Another score under the same tag.
        let (_, tag) = token.split_once('.').unwrap();
        let body = URL_SAFE_NO_PAD.encode("01J9Z8Q3V4Y5W6X7A8B9C0D1E2.1700000000123.5.2000");
        assert_eq!(verify(b"secret", &format!("{body}.{tag}"), 0), Err(TokenError::Forged));
        for junk in ["", ".", "abc", "abc.def", "%%%.%%%"] {
            assert_eq!(verify(b"secret", junk, 0), Err(TokenError::Forged), "{junk:?}");
        }
    }
}
