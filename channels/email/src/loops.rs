//! Loop protection and bounce recognition.
//!
//! Two systems that answer each other automatically can exchange mail
//! forever: our auto-acknowledgement answering an out-of-office reply,
//! which answers again. RFC 3834 says never to answer automatic mail, and
//! the headers below are how mail says it is automatic, or (Exchange's
//! `X-Auto-Response-Suppress`, set on its automatic replies and on the
//! answers of server-side inbox rules) that its sender wants no automatic
//! answer. A flagged message is still delivered to agents; the daemon only
//! withholds automatic responses (acknowledgements, SLA notices) from it,
//! and records the reason.
//!
//! The rules, first match wins, each with its reason string:
//!
//! | rule | reason |
//! | --- | --- |
//! | `Auto-Submitted` present and not `no` | `auto-submitted: <value>` |
//! | `Precedence: bulk`, `list`, `junk` (or `auto_reply`) | `precedence: <value>` |
//! | a `List-Id` header | `list-id` |
//! | `X-Autoreply` / `X-Autorespond` present | `x-autoreply` |
//! | `X-Auto-Response-Suppress` listing `All`, `OOF` or `AutoReply` | `x-auto-response-suppress` |
//! | From `mailer-daemon@…` or `postmaster@…` | `from mailer-daemon` / `from postmaster` |
//! | a `multipart/report; report-type=delivery-status` | `delivery-status report` |
//! | `Return-Path: <>` (the null sender of bounces and receipts) | `null return-path` |
//! | Message-ID on one of our own domains (our mail come back) | `own message-id domain` |
//!
//! A bounce (a delivery-status report) also names the message that could
//! not be delivered, in its attached `message/rfc822` or
//! `text/rfc822-headers` part. Its Message-ID is handed to the daemon as
//! `bounce_of`, but only when the report says delivery failed (or says
//! nothing): a "delayed" notice is not a failure.

use mail_parser::{Message, MessageParser, MimeHeaders, PartType};

use crate::threading::{domain_of, is_own_domain, normalize_message_id};

/// The longest header value quoted in a reason.
const MAX_REASON_VALUE: usize = 32;

/// What a delivery-status report says.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Bounce {
    /// A `multipart/report; report-type=delivery-status` part was found.
    pub(crate) is_report: bool,
    /// The `Action:` values of its recipients, lower-cased.
    pub(crate) actions: Vec<String>,
    /// The Message-ID of the message the report is about.
    pub(crate) original: Option<String>,
}

impl Bounce {
    /// The Message-ID of the message that could not be delivered: set for
    /// a report whose actions include `failed`, or that has no action.
    pub(crate) fn failed_message_id(&self) -> Option<String> {
        let failed = self.actions.is_empty() || self.actions.iter().any(|a| a == "failed");
        if self.is_report && failed {
            self.original.clone()
        } else {
            None
        }
    }
}

/// The first value of a top-level header, trimmed; `None` when absent.
pub(crate) fn header<'m>(msg: &'m Message<'_>, name: &str) -> Option<&'m str> {
    if msg.parts.is_empty() {
        return None;
    }
    msg.headers_raw()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
}

/// The normalized Message-ID of a (possibly nested) message.
pub(crate) fn message_id_of(msg: &Message<'_>) -> Option<String> {
    // `header_raw` indexes the first part; a parsed message always has one,
    // but a nested one is not worth a panic should that ever change.
    if msg.parts.is_empty() {
        return None;
    }
    msg.header_raw("Message-ID").and_then(normalize_message_id)
}

/// Why this message must get no automatic response, if it must not (see
/// the module doc for the rules and reasons).
pub(crate) fn auto_reason(
    msg: &Message<'_>,
    from: &str,
    message_id: Option<&str>,
    own_domains: &[String],
    bounce: &Bounce,
) -> Option<String> {
    if let Some(value) = header(msg, "Auto-Submitted").map(first_token) {
        if value != "no" {
            return Some(format!("auto-submitted: {}", shown(&value)));
        }
    }
    if let Some(value) = header(msg, "Precedence").map(first_token) {
        if matches!(value.as_str(), "bulk" | "list" | "junk" | "auto_reply") {
            return Some(format!("precedence: {value}"));
        }
    }
    if header(msg, "List-Id").is_some() {
        return Some("list-id".into());
    }
    if header(msg, "X-Autoreply").is_some() || header(msg, "X-Autorespond").is_some() {
        return Some("x-autoreply".into());
    }
    if header(msg, "X-Auto-Response-Suppress").is_some_and(suppresses_auto_replies) {
        return Some("x-auto-response-suppress".into());
    }
    let local = from
        .rsplit_once('@')
        .map_or(from, |(local, _)| local)
        .to_ascii_lowercase();
    if local == "mailer-daemon" || local == "postmaster" {
        return Some(format!("from {local}"));
    }
    if bounce.is_report {
        return Some("delivery-status report".into());
    }
    if header(msg, "Return-Path").is_some_and(|v| {
        v.trim_matches(|c: char| c == '<' || c == '>' || c.is_whitespace())
            .is_empty()
    }) {
        return Some("null return-path".into());
    }
    if message_id
        .and_then(domain_of)
        .is_some_and(|domain| is_own_domain(&domain, own_domains))
    {
        return Some("own message-id domain".into());
    }
    None
}

/// Whether an `X-Auto-Response-Suppress` value (a comma-separated list of
/// `All`, `DR`, `NDR`, `RN`, `NRN`, `OOF`, `AutoReply`) asks for no
/// automatic replies; the receipt-only values (`DR`, `RN`, …) do not.
fn suppresses_auto_replies(value: &str) -> bool {
    value.split(',').any(|token| {
        let token = token.trim();
        ["all", "oof", "autoreply"]
            .iter()
            .any(|v| token.eq_ignore_ascii_case(v))
    })
}

/// A header value up to its first `;` parameter, trimmed and lower-cased.
fn first_token(value: &str) -> String {
    value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// A sender-controlled value made safe and short for a reason string.
fn shown(value: &str) -> String {
    value
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .take(MAX_REASON_VALUE)
        .collect()
}

/// Looks for a delivery-status report and what it says (see the module
/// doc).
pub(crate) fn bounce(msg: &Message<'_>) -> Bounce {
    let is_report = msg.parts.iter().any(|part| {
        part.content_type().is_some_and(|ct| {
            ct.ctype().eq_ignore_ascii_case("multipart")
                && ct
                    .subtype()
                    .is_some_and(|s| s.eq_ignore_ascii_case("report"))
                && ct
                    .attribute("report-type")
                    .is_some_and(|t| t.eq_ignore_ascii_case("delivery-status"))
        })
    });
    if !is_report {
        return Bounce::default();
    }
    let mut report = Bounce {
        is_report,
        ..Bounce::default()
    };
    for part in &msg.parts {
        let Some(ct) = part.content_type() else {
            continue;
        };
        let subtype = ct.subtype().unwrap_or_default().to_ascii_lowercase();
        match (ct.ctype().to_ascii_lowercase().as_str(), subtype.as_str()) {
            ("message", "delivery-status" | "global-delivery-status") => {
                let text = String::from_utf8_lossy(part.contents());
                report.actions.extend(
                    text.lines()
                        .filter_map(|line| line.split_once(':'))
                        .filter(|(name, _)| name.trim().eq_ignore_ascii_case("action"))
                        .map(|(_, value)| first_token(value)),
                );
            }
            ("text", "rfc822-headers") | ("message", "global-headers")
                if report.original.is_none() =>
            {
                report.original = MessageParser::default()
                    .parse_headers(part.contents())
                    .and_then(|headers| message_id_of(&headers));
            }
            _ => {
                if let (PartType::Message(inner), None) = (&part.body, &report.original) {
                    report.original = message_id_of(inner);
                }
            }
        }
    }
    report
}
