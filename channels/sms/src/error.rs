//! The one error type of the SMS channel.
//!
//! Inbound requests fail in a few ways the daemon must tell apart, because
//! each becomes a different HTTP status (403 for a bad signature, 400 for a
//! malformed body). [`SmsError::kind`] gives the shared
//! [`RejectKind`](switchboard_core::RejectKind) so the daemon can branch
//! without matching on this crate's variants. Outbound failures use the
//! shared [`SendError`](switchboard_core::SendError) instead, since the
//! caller only needs to know whether to redeliver.
//!
//! Error strings never contain the auth token or a message body: they end up
//! in logs and, for 4xx answers, in responses.

use switchboard_core::RejectKind;

/// Why an SMS webhook was refused, or why a sender could not be built.
#[derive(Debug, thiserror::Error)]
pub enum SmsError {
    /// The `X-Twilio-Signature` header is missing, empty, or does not match
    /// the body and the configured public URL.
    #[error("missing or invalid X-Twilio-Signature")]
    BadSignature,
    /// The body is not valid form data or lacks a required field; the
    /// string names the field or the defect, never a value.
    #[error("malformed SMS webhook: {0}")]
    Malformed(String),
    /// The sender options are unusable (e.g. `api_base` is not http(s)).
    /// Never produced by an inbound request.
    #[error("invalid SMS sender options: {0}")]
    Config(String),
}

impl SmsError {
    /// The shared refusal kind, which decides the HTTP status.
    ///
    /// [`SmsError::Config`] never comes from a request; it maps to
    /// [`RejectKind::Malformed`] only so that the mapping is total.
    pub fn kind(&self) -> RejectKind {
        match self {
            SmsError::BadSignature => RejectKind::BadSignature,
            SmsError::Malformed(_) | SmsError::Config(_) => RejectKind::Malformed,
        }
    }

    /// Shorthand for a [`SmsError::Malformed`] with the given reason.
    pub(crate) fn malformed(reason: impl Into<String>) -> SmsError {
        SmsError::Malformed(reason.into())
    }
}

/// The crate's result type.
pub type Result<T, E = SmsError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_map_to_statuses() {
        assert_eq!(SmsError::BadSignature.kind().http_status(), 403);
        assert_eq!(SmsError::malformed("From").kind().http_status(), 400);
    }
}
