//! The shared vocabulary of switchboard's channels.
//!
//! Every channel crate turns provider bytes into an [`InboundMessage`] and an
//! [`OutboundMessage`] into a provider API call. Nothing here does I/O: the
//! daemon owns the durable part (NATS, Redis), the channel crates own the
//! provider formats, and this crate is the contract between them.

mod channel;
mod error;
mod mask;
mod message;
mod notice;
pub mod provider;
pub mod retry;

pub use channel::{Channel, UnknownChannel};
pub use error::{RejectKind, SendError};
pub use mask::Masked;
pub use notice::Notice;
pub use message::{Attachment, Automated, InboundMessage, MediaRef, Metadata, OutboundMessage, SendReceipt};
