//! Parsing an inbound email into a [`ParsedEmail`]: the normalized
//! [`InboundMessage`] plus the threading and loop-protection facts the
//! daemon acts on.
//!
//! Parsing is pure (no I/O), so it is fuzzed (`channels/fuzz`) and tested
//! on messages built byte by byte. MIME itself (multipart, transfer
//! encodings, RFC 2047/2231 words, charsets including GBK, GB18030, Big5
//! and ISO-2022-JP) is `mail-parser`'s; this module decides what to make of
//! it:
//!
//! * A message is refused ([`EmailError::Malformed`], 400) only when it has
//!   no headers or no usable `From` (or `Sender`) address: without one there
//!   is no customer to attach it to. Anything else is kept as well as it
//!   decodes, since a customer's mail with one odd part is still their mail.
//!   Refusal happens before anything is built, so nothing is half-stored.
//! * The text is the `text/plain` body (the plain alternative of
//!   `multipart/alternative`); HTML-only mail is converted with
//!   [`html_to_text`]. Agents see it with quoted history and signatures
//!   stripped ([`strip_quoted`]); when that leaves nothing (a message that
//!   is all history, e.g. a bare forward), they see the full text instead.
//!   [`ParsedEmail::full_text`] always holds the unstripped text.
//! * Attachments become metadata (name, type, size). Their decoded bytes
//!   are handed over in [`ParsedEmail::attachment_contents`] for the daemon
//!   to store, except for an attachment over
//!   [`ParseOptions::max_attachment_bytes`]: the message is kept (refusing a
//!   customer's mail over a large photo would lose the question with it),
//!   the attachment stays listed with its real size, its content is
//!   dropped, and its index is listed in the `attachments_truncated`
//!   metadata field. At most [`MAX_ATTACHMENTS`] are listed; the number
//!   left out is in `attachments_dropped`.

use chrono::{DateTime, Utc};
use mail_parser::{Message, MessageParser, MimeHeaders, PartType};
use sha2::{Digest, Sha256};
use switchboard_core::{Attachment, Channel, InboundMessage, Metadata};

use crate::error::{EmailError, Result};
use crate::html::html_to_text;
use crate::loops::{self, header, message_id_of};
use crate::quote::strip_quoted;
use crate::threading::{
    clean_address, domain_of, is_own_domain, normalize_id_list, raw_address, token_from,
};

/// At most this many attachments are listed per message.
pub const MAX_ATTACHMENTS: usize = 100;

/// Longest attachment file name kept, in characters.
const MAX_FILE_NAME: usize = 255;

/// Longest display name kept, in characters.
const MAX_DISPLAY_NAME: usize = 200;

/// How inbound mail of one account is parsed.
#[derive(Clone, Debug)]
pub struct ParseOptions {
    /// Attachments larger than this (decoded) keep their metadata but lose
    /// their content (see the module doc).
    pub max_attachment_bytes: u64,
    /// Our own mail and Message-ID domains (subdomains included): mail whose
    /// Message-ID is on one of them is our own mail come back and is flagged
    /// by loop protection, and plus-address tokens on them are preferred.
    pub own_domains: Vec<String>,
}

/// An inbound email, parsed and normalized.
#[derive(Clone)]
pub struct ParsedEmail {
    /// The normalized message: channel `email`, `provider_message_id` the
    /// Message-ID (or `sha256:<hex>` of the raw bytes when there is none),
    /// `customer` the From address lower-cased, `to` our address, `text` the
    /// stripped text, attachments as metadata, and `metadata` with
    /// `subject`, `message_id`, `in_reply_to`, `references`,
    /// `conversation_token`, `auto`, `bounce_of`, `date`, `reply_to`,
    /// `attachments_truncated`, `attachments_dropped` when they apply.
    pub message: InboundMessage,
    /// The text before quoted history and signatures were stripped.
    pub full_text: String,
    /// The decoded subject (empty when absent).
    pub subject: String,
    /// The Message-ID, without angle brackets.
    pub message_id: Option<String>,
    /// The first ID of `In-Reply-To`, without angle brackets.
    pub in_reply_to: Option<String>,
    /// `References`, without angle brackets, oldest first, bounded.
    pub references: Vec<String>,
    /// The token of a `support+<token>@…` recipient (To, Cc, Delivered-To,
    /// X-Original-To).
    pub conversation_token: Option<String>,
    /// Why this mail must get no automatic response, when it must not.
    pub auto: Option<String>,
    /// For a bounce: the Message-ID of the message that was not delivered.
    pub bounce_of: Option<String>,
    /// The decoded content of each attachment, index for index with
    /// `message.attachments`; `None` for one over the size cap. Text
    /// attachments are handed over converted to UTF-8.
    pub attachment_contents: Vec<Option<Vec<u8>>>,
}

/// Shows ids, flags and sizes only: addresses, subject and text are
/// personal data that must not reach logs through a stray `{:?}`.
impl std::fmt::Debug for ParsedEmail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParsedEmail")
            .field("id", &self.message.id)
            .field("provider_message_id", &self.message.provider_message_id)
            .field("in_reply_to", &self.in_reply_to)
            .field("references", &self.references.len())
            .field("conversation_token", &self.conversation_token)
            .field("auto", &self.auto)
            .field("bounce_of", &self.bounce_of)
            .field("text_len", &self.message.text.len())
            .field("full_text_len", &self.full_text.len())
            .field("attachments", &self.message.attachments.len())
            .finish_non_exhaustive()
    }
}

/// Parses raw RFC 5322 bytes (see the module doc for what is refused and
/// what is kept). `id` is our ULID for the message, `received_at` the time
/// of intake.
pub fn parse(
    account: &str,
    raw: &[u8],
    options: &ParseOptions,
    id: String,
    received_at: DateTime<Utc>,
) -> Result<ParsedEmail> {
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Err(EmailError::malformed("empty message"));
    }
    // mail-parser 0.11 never panics in release builds, but a few malformed
    // nestings reach a `debug_assert!` inside it (found by fuzzing). A
    // debug build of the daemon must refuse such mail, not lose the task.
    let parsed = std::panic::catch_unwind(|| MessageParser::default().parse(raw))
        .map_err(|_| EmailError::malformed("MIME structure cannot be parsed"))?;
    let msg = parsed
        .filter(|m| !m.parts.is_empty())
        .ok_or_else(|| EmailError::malformed("no message headers"))?;
    let (customer, display_name) = sender(&msg)?;

    let message_id = message_id_of(&msg);
    let in_reply_to =
        header(&msg, "In-Reply-To").and_then(|v| normalize_id_list(v).into_iter().next());
    let references = header(&msg, "References")
        .map(normalize_id_list)
        .unwrap_or_default();
    let recipients = recipients(&msg);
    let conversation_token = token_from(&recipients, &options.own_domains);
    let to = our_address(&recipients, &options.own_domains);
    let subject = one_line(msg.subject().unwrap_or_default());

    let full_text = body_text(&msg);
    let stripped = strip_quoted(&full_text);
    let text = if stripped.is_empty() {
        full_text.clone()
    } else {
        stripped
    };

    let bounce = loops::bounce(&msg);
    let auto = loops::auto_reason(
        &msg,
        &customer,
        message_id.as_deref(),
        &options.own_domains,
        &bounce,
    );
    let bounce_of = bounce.failed_message_id();
    let files = attachments(&msg, options.max_attachment_bytes);

    let mut metadata = Metadata::default();
    let mut put = |key: &str, value: Option<&str>| {
        if let Some(value) = value.filter(|v| !v.is_empty()) {
            metadata.insert(key, value);
        }
    };
    put("subject", Some(&subject));
    put("message_id", message_id.as_deref());
    put("in_reply_to", in_reply_to.as_deref());
    put("references", Some(&references.join(" ")));
    put("conversation_token", conversation_token.as_deref());
    put("auto", auto.as_deref());
    put("bounce_of", bounce_of.as_deref());
    put("date", msg.date().map(|d| d.to_rfc3339()).as_deref());
    let reply_to = msg
        .reply_to()
        .and_then(|a| {
            a.iter()
                .find_map(|addr| addr.address().and_then(clean_address))
        })
        .map(|a| a.to_lowercase())
        .filter(|a| *a != customer);
    put("reply_to", reply_to.as_deref());
    put("attachments_truncated", Some(&files.truncated.join(",")));
    put(
        "attachments_dropped",
        (files.dropped > 0)
            .then(|| files.dropped.to_string())
            .as_deref(),
    );

    let provider_message_id = message_id
        .clone()
        .unwrap_or_else(|| format!("sha256:{}", hex::encode(Sha256::digest(raw))));
    let message = InboundMessage {
        id,
        channel: Channel::Email,
        account: account.to_owned(),
        provider_message_id,
        customer,
        to,
        display_name,
        text,
        attachments: files.list,
        received_at,
        metadata,
    };
    Ok(ParsedEmail {
        message,
        full_text,
        subject,
        message_id,
        in_reply_to,
        references,
        conversation_token,
        auto,
        bounce_of,
        attachment_contents: files.contents,
    })
}

/// The customer: the first From address (else Sender), lower-cased, and
/// its display name.
fn sender(msg: &Message<'_>) -> Result<(String, Option<String>)> {
    let addr = [msg.from(), msg.sender()]
        .into_iter()
        .flatten()
        .flat_map(|a| a.iter())
        .find_map(|addr| {
            addr.address()
                .and_then(clean_address)
                .map(|a| (a, addr.name()))
        })
        .ok_or_else(|| EmailError::malformed("no From address"))?;
    let (address, name) = addr;
    let address = address.to_lowercase();
    let name = name
        .map(|n| one_line(n.trim_matches(|c: char| c == '"' || c == '\'' || c.is_whitespace())))
        .map(|n| n.chars().take(MAX_DISPLAY_NAME).collect::<String>())
        .filter(|n| !n.is_empty() && !n.eq_ignore_ascii_case(&address));
    Ok((address, name))
}

/// Every recipient address, in the order tokens are looked for: To, Cc,
/// Delivered-To, X-Original-To. Case is kept.
fn recipients(msg: &Message<'_>) -> Vec<String> {
    let mut out: Vec<String> = [msg.to(), msg.cc()]
        .into_iter()
        .flatten()
        .flat_map(|a| a.iter())
        .filter_map(|addr| addr.address().and_then(clean_address))
        .collect();
    for name in ["Delivered-To", "X-Original-To"] {
        out.extend(
            msg.headers_raw()
                .filter(|(n, _)| n.eq_ignore_ascii_case(name))
                .filter_map(|(_, v)| raw_address(v)),
        );
    }
    out
}

/// Our address: the first recipient on one of our domains, else the first
/// recipient; lower-cased.
fn our_address(recipients: &[String], own_domains: &[String]) -> Option<String> {
    recipients
        .iter()
        .find(|a| domain_of(a).is_some_and(|d| is_own_domain(&d, own_domains)))
        .or_else(|| recipients.first())
        .map(|a| a.to_lowercase())
}

/// The readable body: the text parts (HTML ones converted), joined.
fn body_text(msg: &Message<'_>) -> String {
    let render = |ids: &[u32]| -> Vec<String> {
        ids.iter()
            .filter_map(|&id| msg.parts.get(id as usize))
            .filter_map(|part| match &part.body {
                PartType::Text(text) => Some(text.to_string()),
                PartType::Html(html) => Some(html_to_text(html)),
                _ => None,
            })
            .filter(|text| !text.trim().is_empty())
            .collect()
    };
    let mut pieces = render(&msg.text_body);
    if pieces.is_empty() {
        pieces = render(&msg.html_body);
    }
    clean_text(&pieces.join("\n\n"))
}

/// Line ends made `\n`, controls (but tabs) and BOMs removed, trailing
/// whitespace and surrounding blank lines trimmed.
fn clean_text(text: &str) -> String {
    let unified = text.replace("\r\n", "\n").replace('\r', "\n");
    let lines: Vec<String> = unified
        .split('\n')
        .map(|line| {
            line.chars()
                .filter(|&c| c == '\t' || !(c.is_control() || c == '\u{feff}'))
                .collect::<String>()
                .trim_end()
                .to_owned()
        })
        .collect();
    lines.join("\n").trim_matches('\n').to_owned()
}

/// A header value on one line: controls become spaces, runs of whitespace
/// collapse, ends are trimmed.
fn one_line(value: &str) -> String {
    value
        .split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The attachments of a message, as metadata and content.
struct Files {
    list: Vec<Attachment>,
    contents: Vec<Option<Vec<u8>>>,
    /// Indices (in `list`) of attachments over the size cap.
    truncated: Vec<String>,
    /// Attachments beyond [`MAX_ATTACHMENTS`].
    dropped: usize,
}

/// Lists the attachments, dropping the content of those over `cap`.
fn attachments(msg: &Message<'_>, cap: u64) -> Files {
    let mut files = Files {
        list: Vec::new(),
        contents: Vec::new(),
        truncated: Vec::new(),
        dropped: 0,
    };
    for part in msg.attachments() {
        if files.list.len() >= MAX_ATTACHMENTS {
            files.dropped += 1;
            continue;
        }
        let content_type = part
            .content_type()
            .map(|ct| match ct.subtype() {
                Some(sub) => format!("{}/{}", ct.ctype(), sub),
                None => ct.ctype().to_owned(),
            })
            .map(|ct| ct.to_ascii_lowercase())
            .filter(|ct| ct.len() <= 100 && ct.bytes().all(|b| b.is_ascii_graphic()))
            .unwrap_or_else(|| match part.body {
                PartType::Text(_) => "text/plain".into(),
                PartType::Message(_) => "message/rfc822".into(),
                _ => "application/octet-stream".into(),
            });
        let size = u64::try_from(part.len()).unwrap_or(u64::MAX);
        let oversize = size > cap;
        if oversize {
            files.truncated.push(files.list.len().to_string());
        }
        files
            .contents
            .push((!oversize).then(|| part.contents().to_vec()));
        files.list.push(Attachment {
            content_type,
            size: Some(size),
            name: part.attachment_name().and_then(file_name),
            ..Attachment::default()
        });
    }
    files
}

/// A file name fit to show and store: no directories, no controls, at most
/// [`MAX_FILE_NAME`] characters; `None` when nothing is left.
fn file_name(raw: &str) -> Option<String> {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or(raw);
    let name: String = base
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_FILE_NAME)
        .collect();
    let name = name.trim();
    (!name.is_empty() && name != "." && name != "..").then(|| name.to_owned())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test should fail loudly at the first surprise
#[path = "parse_tests.rs"]
mod tests;
