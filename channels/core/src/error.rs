//! Error kinds shared by every channel, so the daemon can branch on them
//! without knowing each provider.

use std::time::Duration;

/// Why an inbound request was refused. Each maps to one HTTP status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RejectKind {
    /// The signature is missing or does not verify (403).
    BadSignature,
    /// The body is not the provider's format or lacks a required field (400).
    Malformed,
    /// The body is larger than the configured cap (413).
    TooLarge,
    /// The account in the path is not configured (404).
    UnknownAccount,
}

impl RejectKind {
    /// The HTTP status code for this kind of refusal.
    pub fn http_status(self) -> u16 {
        match self {
            RejectKind::BadSignature => 403,
            RejectKind::Malformed => 400,
            RejectKind::TooLarge => 413,
            RejectKind::UnknownAccount => 404,
        }
    }
}

/// Why an outbound message could not be handed to the provider.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Worth trying again later (network error, 429, 5xx). `retry_after` is
    /// the provider's own hint when it gave one.
    #[error("temporary send failure: {reason}")]
    Retryable {
        /// What went wrong, without secrets or message bodies.
        reason: String,
        /// The provider's `Retry-After`, if any.
        retry_after: Option<Duration>,
    },
    /// The provider refused the message for good (4xx other than 429).
    #[error("provider refused the message (status {status}, code {code:?}): {reason}")]
    Permanent {
        /// The HTTP status the provider answered.
        status: u16,
        /// The provider's own error code, if it gave one.
        code: Option<String>,
        /// The provider's message, without secrets or message bodies.
        reason: String,
    },
}

impl SendError {
    /// Whether a later attempt may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, SendError::Retryable { .. })
    }
}
