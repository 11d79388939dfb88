//! The one error type of the email channel.
//!
//! Inbound requests fail in a few ways the daemon must tell apart, because
//! each becomes a different HTTP status: 403 for a Mailgun signature that
//! does not verify or a timestamp outside the accepted window, 400 for a
//! body that is not a usable email. [`EmailError::kind`] gives the shared
//! [`RejectKind`](switchboard_core::RejectKind) so the daemon can branch
//! without matching on this crate's variants. Outbound failures use the
//! shared [`SendError`](switchboard_core::SendError) instead, since the
//! caller only needs to know whether to redeliver.
//!
//! Error strings never contain a signing key, an SMTP password, an address
//! or a message body: they end up in logs and, for 4xx answers, in
//! responses.

use switchboard_core::RejectKind;

/// Why an inbound email was refused, or why a sender or an outgoing
/// message could not be built.
#[derive(Debug, thiserror::Error)]
pub enum EmailError {
    /// The Mailgun `signature` is missing, empty, not hex, or does not match
    /// `timestamp` + `token` under the signing key.
    #[error("missing or invalid Mailgun signature")]
    BadSignature,
    /// The Mailgun `timestamp` is not a number, or is further than the
    /// accepted window from now (a replay, or a badly wrong clock).
    #[error("Mailgun timestamp outside the accepted window")]
    Stale,
    /// The body is not a usable email or form post; the string names the
    /// field or the defect, never a value.
    #[error("malformed email: {0}")]
    Malformed(String),
    /// The sender options are unusable (e.g. an `smtp_url` with an unknown
    /// scheme). Never produced by an inbound request.
    #[error("invalid email sender options: {0}")]
    Config(String),
    /// An outgoing message could not be built (e.g. the recipient is not an
    /// email address). Never produced by an inbound request.
    #[error("cannot build email: {0}")]
    Build(String),
}

impl EmailError {
    /// The shared refusal kind, which decides the HTTP status.
    ///
    /// A stale timestamp is an authentication failure (403), like a bad
    /// signature: both mean "this request is not a fresh one from Mailgun".
    /// [`EmailError::Config`] and [`EmailError::Build`] never come from a
    /// request; they map to [`RejectKind::Malformed`] only so that the
    /// mapping is total.
    pub fn kind(&self) -> RejectKind {
        match self {
            EmailError::BadSignature | EmailError::Stale => RejectKind::BadSignature,
            EmailError::Malformed(_) | EmailError::Config(_) | EmailError::Build(_) => {
                RejectKind::Malformed
            }
        }
    }

    /// Shorthand for a [`EmailError::Malformed`] with the given reason.
    pub(crate) fn malformed(reason: impl Into<String>) -> EmailError {
        EmailError::Malformed(reason.into())
    }
}

/// The crate's result type.
pub type Result<T, E = EmailError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_map_to_statuses() {
        assert_eq!(EmailError::BadSignature.kind().http_status(), 403);
        assert_eq!(EmailError::Stale.kind().http_status(), 403);
        assert_eq!(EmailError::malformed("From").kind().http_status(), 400);
        assert_eq!(EmailError::Config("x".into()).kind().http_status(), 400);
    }
}
