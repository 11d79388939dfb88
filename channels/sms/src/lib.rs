//! The SMS channel of switchboard, for Twilio and Twilio-compatible providers.
//!
//! Inbound, a provider webhook goes through three pure steps, with no I/O:
//! [`Verified::check`] parses the form body strictly and checks
//! `X-Twilio-Signature` against the configured public URL, then
//! [`normalize`] turns the verified parameters into a
//! [`switchboard_core::InboundMessage`]. Each failure is a [`SmsError`] whose
//! [`kind`](SmsError::kind) tells the daemon which 4xx to answer.
//!
//! Outbound, [`SmsSender`] posts to the provider's Messages resource,
//! retrying briefly on 429/5xx/network errors and leaving durable retries to
//! the caller.
//!
//! This crate never talks to NATS or Redis: acknowledging, de-duplicating,
//! opt-out keywords and status-callback bookkeeping belong to the daemon.

mod decode;
mod error;
mod sender;
mod signature;

pub use decode::{normalize, normalize_e164, parse_form, Verified, MAX_MEDIA};
pub use error::{Result, SmsError};
pub use sender::{SenderOptions, SmsSender};
pub use signature::{compute_signature, signature_matches};
