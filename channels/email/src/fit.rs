//! Cutting a parsed email down to a size budget, for a bus that refuses
//! messages over its limit (NATS's `max_payload`): the text is cut at a
//! character boundary with a note at its end, then the attachment list is
//! halved until the whole fits, each with a note in metadata
//! (`truncated`, `text_bytes`, `attachments_omitted`). Pure, so it is
//! fuzzed (`channels/fuzz`, `email_fit`).

use switchboard_core::InboundMessage;

/// Cuts `msg.text` to `text_budget` JSON bytes and its attachment list so
/// that the whole is at most `limit` JSON bytes, noting both in metadata.
///
/// The text alone always fits its budget (the note included, for budgets
/// of at least 256 bytes); the whole fits `limit` unless the rest of the
/// message (addresses, metadata) is over it already.
pub fn fit(msg: &mut InboundMessage, text_budget: usize, limit: usize) {
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
        fit(&mut msg, (1 << 20) / 4, (1 << 20) - 256);
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
        fit(&mut msg, 1000, 100_000);
        assert_eq!(msg, before);
        let mut msg = email("hello".into(), 5000);
        fit(&mut msg, 1000, 20_000);
        assert!(serde_json::to_vec(&msg).unwrap().len() <= 20_000);
        assert!(msg.attachments.len() < 5000);
        let omitted: usize = msg.metadata.get("attachments_omitted").unwrap().parse().unwrap();
        assert_eq!(omitted + msg.attachments.len(), 5000);
    }
}
