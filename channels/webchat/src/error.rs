//! The one error type of the web chat channel.
//!
//! The daemon must tell a few failures apart because each is answered
//! differently: a session request or WebSocket upgrade with a bad or stale
//! credential is refused with 403 (the widget then asks for a new session),
//! a body that is not the documented format with 400, an oversized one with
//! 413. Once the socket is open, a bad frame does not close it: the daemon
//! answers an `error` frame whose code comes from [`WebchatError::frame_code`].
//! [`WebchatError::kind`] gives the shared [`RejectKind`] so the daemon can
//! branch without matching on this crate's variants.
//!
//! Error strings never contain a token, a secret, a signature, a visitor id
//! or message text: they end up in logs and in `error` frames.

use switchboard_core::RejectKind;

use crate::frames::ErrorCode;

/// Why a session request, a session token, a shop identity or a WebSocket
/// frame was refused, or why the session options are unusable.
#[derive(Debug, thiserror::Error)]
pub enum WebchatError {
    /// A session token or shop identity whose signature is missing, not
    /// encoded as documented, or does not match.
    #[error("missing or invalid signature")]
    BadSignature,
    /// A correctly signed session token past its expiry: the widget must ask
    /// for a new session.
    #[error("the session token has expired")]
    Expired,
    /// A correctly signed shop identity whose timestamp is too old or too far
    /// in the future (see [`IDENTITY_MAX_AGE`](crate::IDENTITY_MAX_AGE)).
    #[error("the shop identity timestamp is outside the accepted window")]
    Stale,
    /// The input is not the documented format or breaks a limit on a field;
    /// the string names the field or the defect, never a value.
    #[error("malformed web chat input: {0}")]
    Malformed(String),
    /// A token, body or frame larger than its cap; the string names which.
    #[error("{0} is too large")]
    TooLarge(&'static str),
    /// A well-formed `message` frame whose text will never be accepted
    /// (empty, or longer than [`MAX_TEXT_CHARS`](crate::MAX_TEXT_CHARS)).
    /// It carries the frame's `client_id` so the daemon can name it in the
    /// `error` frame and the widget can stop resending it.
    #[error("message refused: {reason}")]
    Rejected {
        /// The valid `client_id` of the refused message.
        client_id: String,
        /// Why, without the text.
        reason: &'static str,
    },
    /// The session options are unusable (an empty secret, a zero TTL).
    /// Never produced by a request.
    #[error("invalid web chat configuration: {0}")]
    Config(String),
}

impl WebchatError {
    /// The shared refusal kind, which decides the HTTP status: 403 for a bad
    /// signature, an expired token or a stale identity (a credential problem
    /// the widget solves by asking for a new session), 413 for an oversized
    /// input, 400 for the rest.
    ///
    /// [`WebchatError::Config`] is a problem on our side, never produced by
    /// a request; it maps to [`RejectKind::Malformed`] only so that the
    /// mapping is total.
    pub fn kind(&self) -> RejectKind {
        match self {
            WebchatError::BadSignature | WebchatError::Expired | WebchatError::Stale => {
                RejectKind::BadSignature
            }
            WebchatError::TooLarge(_) => RejectKind::TooLarge,
            WebchatError::Malformed(_)
            | WebchatError::Rejected { .. }
            | WebchatError::Config(_) => RejectKind::Malformed,
        }
    }

    /// The code of the `error` frame that answers this error on an open
    /// socket.
    pub fn frame_code(&self) -> ErrorCode {
        match self {
            WebchatError::Expired => ErrorCode::SessionExpired,
            WebchatError::TooLarge(_) => ErrorCode::TooLarge,
            WebchatError::Rejected { .. } => ErrorCode::Rejected,
            WebchatError::BadSignature
            | WebchatError::Stale
            | WebchatError::Malformed(_)
            | WebchatError::Config(_) => ErrorCode::Malformed,
        }
    }

    /// The `client_id` of a refused message, for the `error` frame.
    pub fn client_id(&self) -> Option<&str> {
        match self {
            WebchatError::Rejected { client_id, .. } => Some(client_id),
            _ => None,
        }
    }

    /// Shorthand for a [`WebchatError::Malformed`] with the given reason.
    pub(crate) fn malformed(reason: impl Into<String>) -> WebchatError {
        WebchatError::Malformed(reason.into())
    }
}

/// The crate's result type.
pub type Result<T, E = WebchatError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_map_to_statuses() {
        assert_eq!(WebchatError::BadSignature.kind().http_status(), 403);
        assert_eq!(WebchatError::Expired.kind().http_status(), 403);
        assert_eq!(WebchatError::Stale.kind().http_status(), 403);
        assert_eq!(WebchatError::malformed("x").kind().http_status(), 400);
        assert_eq!(WebchatError::TooLarge("frame").kind().http_status(), 413);
        let rejected = WebchatError::Rejected {
            client_id: "c1".into(),
            reason: "empty text",
        };
        assert_eq!(rejected.kind().http_status(), 400);
        assert_eq!(rejected.client_id(), Some("c1"));
        assert_eq!(rejected.frame_code(), ErrorCode::Rejected);
        assert_eq!(
            WebchatError::Expired.frame_code(),
            ErrorCode::SessionExpired
        );
        assert_eq!(
            WebchatError::TooLarge("frame").frame_code(),
            ErrorCode::TooLarge
        );
        assert_eq!(
            WebchatError::malformed("x").frame_code(),
            ErrorCode::Malformed
        );
        assert_eq!(WebchatError::malformed("x").client_id(), None);
    }
}
