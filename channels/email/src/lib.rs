//! The email channel of switchboard.
//!
//! Inbound mail reaches the daemon at `POST /webhooks/email/{account}` in
//! two shapes, and both end in the same pure, I/O-free [`parse`]:
//!
//! * raw RFC 5322 MIME (`Content-Type: message/rfc822`), authenticated by
//!   the network or proxy in front of the daemon, handed to [`parse`] as is;
//! * a Mailgun-style form post: the daemon decodes the form into pairs,
//!   [`MailgunFields::from_pairs`] picks the fields, [`verify_mailgun`]
//!   checks the HMAC-SHA256 signature and the timestamp window and returns
//!   the raw MIME, and the daemon records [`MailgunFields::token`] in Redis
//!   to refuse replays (see [`MAILGUN_TOKEN_TTL`]).
//!
//! [`parse`] yields a [`ParsedEmail`]: the normalized
//! [`InboundMessage`](switchboard_core::InboundMessage) (text with quoted
//! history stripped by [`strip_quoted`], HTML-only mail converted by
//! [`html_to_text`], attachments as metadata with a size cap), the full
//! text, the threading keys the daemon matches against Redis (Message-ID,
//! In-Reply-To, References, the `support+<token>@…` conversation token),
//! the loop-protection verdict (`auto`) and, for bounces, the Message-ID of
//! our message that failed (`bounce_of`). Each refusal is an [`EmailError`]
//! whose [`kind`](EmailError::kind) tells the daemon which 4xx to answer.
//!
//! Outbound, [`SmtpSender`] sends replies over SMTP with lettre (plain for
//! local relays, STARTTLS, or implicit TLS; see the table in `smtp_url.rs`),
//! threaded into the customer's conversation, retrying briefly on 4xx and
//! network errors and leaving durable retries to the caller.
//!
//! This crate never talks to NATS or Redis: de-duplication, replay
//! records, conversation lookup and attachment storage are the daemon's.

mod error;
mod fit;
mod html;
mod loops;
mod mailgun;
mod parse;
mod quote;
mod sender;
mod smtp_url;
mod threading;

pub use error::{EmailError, Result};
pub use fit::fit;
pub use html::html_to_text;
pub use mailgun::{
    mailgun_signature, verify_mailgun, MailgunFields, MAILGUN_MAX_AGE, MAILGUN_TOKEN_TTL,
};
pub use parse::{parse, ParseOptions, ParsedEmail, MAX_ATTACHMENTS};
pub use quote::strip_quoted;
pub use sender::{ReplyHeaders, SmtpOptions, SmtpSender};
pub use threading::{conversation_token, normalize_id_list, normalize_message_id, MAX_REFERENCES};
