//! What every intake shares about size: the body caps of the provider
//! webhooks, derived from what NATS can take, and the one encoding of an
//! inbound message that is checked against the server's `max_payload`
//! before it is published.
//!
//! NATS drops the whole connection (and every request in flight on it,
//! whatever its channel) when one message is over `max_payload`, so a
//! message that cannot fit is refused here with 413 — or, for email, cut
//! down to fit with a note — and never sent. [`crate::bus::Bus::publish`]
//! checks again, as the last line.
//!
//! How the caps are derived, with `M` = the server's `max_payload` (1 MiB
//! unless the server is configured otherwise):
//!
//! * SMS and WeChat bodies: at most `M / 16` (64 KiB with 1 MiB), and
//!   `server.max_body_bytes`. One body byte becomes at most 6 bytes of
//!   JSON (a control character escaped as `\u00XX`), the metadata is
//!   bounded (32 × 576 bytes before escaping), and the routed message's
//!   events carry the text again: 16 leaves room for all of it. A Twilio
//!   webhook (1,600 characters, 10 media URLs) is a few KiB, a WeChat push
//!   less, so no real request comes near.
//! * Email: bodies up to `server.max_body_bytes` (attachments make mail
//!   large). Attachments are only listed (name, size, type), never carried;
//!   the text is cut at `M / 4` bytes of JSON, so that its events fit too,
//!   with `metadata.truncated = "true"` and the original size in
//!   `metadata.text_bytes`, and a line at the end of the text telling the
//!   agent. If the listing still does not fit, the list is cut too
//!   (`metadata.attachments_omitted`).

use axum::http::StatusCode;
use switchboard_core::InboundMessage;

use super::error::ApiError;
use crate::app::App;

/// The part of `max_payload` a provider webhook body may use.
const PROVIDER_BODY_SHARE: usize = 16;
/// The part of `max_payload` an email's text may use, in JSON bytes.
const EMAIL_TEXT_SHARE: usize = 4;

/// 413 `too_large` naming what is too large.
pub fn too_large(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", message)
}

/// The answer to a publish that failed: 413 for a message NATS can never
/// take (a retry would not help), else 503 so that the provider retries.
pub fn publish_failed(e: &crate::bus::BusError) -> ApiError {
    if e.is_too_large() {
        return too_large(e.to_string());
    }
    ApiError::unavailable(e)
}

/// The body cap of the SMS and WeChat webhooks (see the module doc).
pub fn provider_body_cap(app: &App) -> usize {
    (app.bus.max_payload() / PROVIDER_BODY_SHARE).min(app.settings.server.max_body_bytes)
}

/// 413 when `len` is over [`provider_body_cap`].
pub fn check_provider_body(app: &App, len: usize) -> Result<(), ApiError> {
    let cap = provider_body_cap(app);
    if len > cap {
        return Err(too_large(format!("the body is {len} bytes; this webhook takes at most {cap}")));
    }
    Ok(())
}

/// The JSON of `msg`, published under `msg_id`: 413 when it is over what
/// the server takes.
pub fn encode(app: &App, msg: &InboundMessage, msg_id: &str) -> Result<Vec<u8>, ApiError> {
    let payload = serde_json::to_vec(msg).map_err(|e| ApiError::unavailable(&e))?;
    let limit = app.bus.payload_limit(msg_id.len());
    if payload.len() > limit {
        return Err(too_large(format!(
            "the message is {} bytes once encoded; at most {limit} can be published",
            payload.len()
        )));
    }
    Ok(payload)
}

/// [`encode`] for an email: the text cut at its budget and, if it still
/// does not fit, the attachment list cut, each with a note in metadata
/// (see the module doc). 413 only when even that does not fit.
pub fn encode_email(app: &App, msg: &mut InboundMessage, msg_id: &str) -> Result<Vec<u8>, ApiError> {
    let max_payload = app.bus.max_payload();
    fit_email(msg, max_payload / EMAIL_TEXT_SHARE, app.bus.payload_limit(msg_id.len()));
    encode(app, msg, msg_id)
}

/// Cuts `msg.text` to `text_budget` JSON bytes and its attachment list so
/// that the whole is at most `limit` JSON bytes, noting both in metadata.
fn fit_email(msg: &mut InboundMessage, text_budget: usize, limit: usize) {
    let original = msg.text.len();
    if json_len(&msg.text) > text_budget {
        // Room for the note, which is ASCII and needs no escaping.
        let cut = prefix_within(&msg.text, text_budget.saturating_sub(128));
        msg.text.truncate(cut);
        msg.text.push_str(&format!("\n[… message truncated: the first {cut} of {original} bytes are shown]"));
        msg.metadata.insert("truncated", "true");
        msg.metadata.insert("text_bytes", &original.to_string());
    }
    let size = |m: &InboundMessage| serde_json::to_vec(m).map_or(usize::MAX, |v| v.len());
    if size(msg) > limit && !msg.attachments.is_empty() {
        let total = msg.attachments.len();
        while !msg.attachments.is_empty() && size(msg) > limit.saturating_sub(64) {
            let keep = msg.attachments.len() / 2;
            msg.attachments.truncate(keep);
        }
        msg.metadata.insert("truncated", "true");
        msg.metadata.insert("attachments_omitted", &(total - msg.attachments.len()).to_string());
    }
}

/// Bytes of `c` inside a JSON string, as serde_json writes it.
fn json_char_len(c: char) -> usize {
    match c {
        '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
        c if (c as u32) < 0x20 => 6,
        c => c.len_utf8(),
    }
}

/// Bytes of `s` inside a JSON string.
fn json_len(s: &str) -> usize {
    s.chars().map(json_char_len).sum()
}

/// The longest prefix of `s` (in bytes, on a character boundary) whose JSON
/// is at most `budget` bytes.
fn prefix_within(s: &str, budget: usize) -> usize {
    let mut used = 0;
    for (i, c) in s.char_indices() {
        used += json_char_len(c);
        if used > budget {
            return i;
        }
    }
    s.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_core::{Attachment, Channel};

    fn email(text: String, attachments: usize) -> InboundMessage {
        InboundMessage {
            id: "01J00000000000000000000000".into(),
            channel: Channel::Email,
            account: "support".into(),
            provider_message_id: "m@example".into(),
            customer: "a@example.com".into(),
            to: None,
            display_name: None,
            text,
            attachments: (0..attachments)
                .map(|i| Attachment { content_type: "application/pdf".into(), size: Some(9), name: Some(format!("f{i}.pdf")), ..Default::default() })
                .collect(),
            received_at: chrono::Utc::now(),
            metadata: Default::default(),
        }
    }

    #[test]
    fn json_lengths_match_serde() {
        for s in ["plain", "\"quotes\"", "ctrl\u{1}\u{1f}", "退款\n\t\\", "\u{7f}/"] {
            assert_eq!(json_len(s), serde_json::to_string(s).unwrap().len() - 2, "{s:?}");
        }
        assert_eq!(prefix_within("ab\"cd", 3), 2);
        assert_eq!(prefix_within("退款", 4), 3);
        assert_eq!(prefix_within("abc", 10), 3);
    }

    #[test]
    fn a_quote_heavy_email_is_cut_to_fit_with_a_note() {
        // 600 KB of `"`: 1.2 MB of JSON, over a 1 MiB max_payload.
        let mut msg = email("\"".repeat(600_000), 0);
        fit_email(&mut msg, (1 << 20) / 4, (1 << 20) - 256);
        let json = serde_json::to_vec(&msg).unwrap();
        assert!(json.len() <= (1 << 20) / 4 + 4096, "{}", json.len());
        assert_eq!(msg.metadata.get("truncated"), Some("true"));
        assert_eq!(msg.metadata.get("text_bytes"), Some("600000"));
        assert!(msg.text.ends_with("of 600000 bytes are shown]"), "{}", &msg.text[msg.text.len() - 80..]);
    }

    #[test]
    fn a_small_email_is_untouched_and_a_long_listing_is_cut() {
        let mut msg = email("hello".into(), 3);
        let before = msg.clone();
        fit_email(&mut msg, 1000, 100_000);
        assert_eq!(msg, before);
        let mut msg = email("hello".into(), 5000);
        fit_email(&mut msg, 1000, 20_000);
        assert!(serde_json::to_vec(&msg).unwrap().len() <= 20_000);
        assert!(msg.attachments.len() < 5000);
        let omitted: usize = msg.metadata.get("attachments_omitted").unwrap().parse().unwrap();
        assert_eq!(omitted + msg.attachments.len(), 5000);
    }
}
