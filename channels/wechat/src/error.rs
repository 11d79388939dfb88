//! The one error type of the WeChat channel.
//!
//! A push fails in ways the daemon must tell apart, because each becomes a
//! different HTTP status: a signature that does not verify or a push meant
//! for another app is refused with 403, a body that is not WeChat's format
//! (or that does not decrypt) with 400. [`WechatError::kind`] gives the
//! shared [`RejectKind`] so the daemon can branch without matching on this
//! crate's variants. Outbound failures use the shared
//! [`SendError`](switchboard_core::SendError) (see `sender.rs`), since the
//! caller only needs to know whether to redeliver or refresh its token.
//!
//! Error strings never contain the token, the AES key, an OpenID or message
//! text: they end up in logs and, for 4xx answers, in responses.

use switchboard_core::RejectKind;

/// Why a WeChat push or verification was refused, or why keys or API
/// options are unusable.
#[derive(Debug, thiserror::Error)]
pub enum WechatError {
    /// `signature` / `msg_signature` (or a parameter it covers) is missing,
    /// or the signature does not match.
    #[error("missing or invalid WeChat signature")]
    BadSignature,
    /// A plaintext push to an account that requires encryption
    /// (`require_encryption`): a captured safe-mode URL with
    /// `encrypt_type`/`msg_signature` removed, whose body the plaintext
    /// `signature` would not cover.
    #[error("this account takes encrypted (safe mode) pushes only")]
    EncryptionRequired,
    /// The signed `timestamp` is not a number or is too far from now: a
    /// replay of an old signed URL (WeChat sends within seconds).
    #[error("the push timestamp is missing or outside the accepted window")]
    Stale,
    /// The decrypted push names another AppID: it was encrypted for a
    /// different Official Account that shares our key, so it is not ours to
    /// accept.
    #[error("the encrypted push is for another AppID")]
    AppIdMismatch,
    /// A correctly signed `Encrypt` value does not decrypt to WeChat's
    /// layout (bad base64, ciphertext length, padding or inner length). With
    /// a valid signature this usually means the configured EncodingAESKey is
    /// not the one WeChat uses.
    #[error("cannot decrypt the WeChat push: {0}")]
    Decrypt(&'static str),
    /// The body or query is not WeChat's format or lacks a required field;
    /// the string names the field or the defect, never a value.
    #[error("malformed WeChat push: {0}")]
    Malformed(String),
    /// The account keys or API options are unusable (e.g. an EncodingAESKey
    /// that is not 43 base64 characters, or a safe-mode push on an account
    /// without one). The daemon should catch the former at config load.
    #[error("invalid WeChat configuration: {0}")]
    Config(String),
}

impl WechatError {
    /// The shared refusal kind, which decides the HTTP status: 403 for
    /// [`BadSignature`](WechatError::BadSignature) and
    /// [`AppIdMismatch`](WechatError::AppIdMismatch), 400 for the rest.
    ///
    /// [`WechatError::Config`] is a problem on our side, not the caller's;
    /// it maps to [`RejectKind::Malformed`] only so that the mapping is
    /// total (a 400 makes WeChat give up instead of retrying a push we can
    /// never accept).
    pub fn kind(&self) -> RejectKind {
        match self {
            WechatError::BadSignature
            | WechatError::AppIdMismatch
            | WechatError::EncryptionRequired
            | WechatError::Stale => RejectKind::BadSignature,
            WechatError::Decrypt(_) | WechatError::Malformed(_) | WechatError::Config(_) => {
                RejectKind::Malformed
            }
        }
    }

    /// Shorthand for a [`WechatError::Malformed`] with the given reason.
    pub(crate) fn malformed(reason: impl Into<String>) -> WechatError {
        WechatError::Malformed(reason.into())
    }
}

/// The crate's result type.
pub type Result<T, E = WechatError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_map_to_statuses() {
        assert_eq!(WechatError::BadSignature.kind().http_status(), 403);
        assert_eq!(WechatError::AppIdMismatch.kind().http_status(), 403);
        assert_eq!(WechatError::EncryptionRequired.kind().http_status(), 403);
        assert_eq!(WechatError::Stale.kind().http_status(), 403);
        assert_eq!(WechatError::Decrypt("padding").kind().http_status(), 400);
        assert_eq!(WechatError::malformed("MsgType").kind().http_status(), 400);
        assert_eq!(WechatError::Config("key".into()).kind().http_status(), 400);
    }
}
