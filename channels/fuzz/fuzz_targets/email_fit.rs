//! Fuzzes `switchboard_email::fit`, which cuts an email down to what NATS
//! can take (the text at its budget, then the attachment list), on an
//! arbitrary text, attachment count and budgets.
//!
//! Beyond "never panics" (the cut is on a character boundary whatever the
//! text): a message within its text budget keeps its text; a cut text is a
//! prefix of the original followed by the note, fits its budget (for the
//! budgets of at least 128 bytes the note needs) and is flagged in
//! metadata with the original size; the attachments kept are the first
//! ones, and with the omitted count they add up to the original; a message
//! that keeps any attachment fits the limit.
#![no_main]

use chrono::{TimeZone, Utc};
use libfuzzer_sys::fuzz_target;
use switchboard_core::{Attachment, Channel, InboundMessage};

const NOTE: &str = "\n[… message truncated: the first ";

/// Bytes of `s` inside a JSON string.
fn json_len(s: &str) -> usize {
    serde_json::to_string(s).map_or(usize::MAX, |j| j.len() - 2)
}

fuzz_target!(|data: &[u8]| {
    let [b0, b1, l0, l1, n, text @ ..] = data else {
        return;
    };
    let text_budget = usize::from(u16::from_le_bytes([*b0, *b1]));
    let limit = usize::from(u16::from_le_bytes([*l0, *l1])) * 8;
    let attachments = usize::from(*n) * 4;
    let at = Utc.timestamp_opt(1_700_000_000, 0).single().unwrap_or_default();
    let original = InboundMessage {
        id: "01HX0000000000000000000000".into(),
        channel: Channel::Email,
        account: "support".into(),
        provider_message_id: "m@example.com".into(),
        customer: "a@example.com".into(),
        to: None,
        display_name: None,
        text: String::from_utf8_lossy(text).into_owned(),
        attachments: (0..attachments)
            .map(|i| Attachment {
                content_type: "application/pdf".into(),
                size: Some(i as u64),
                name: Some(format!("f{i}.pdf")),
                ..Default::default()
            })
            .collect(),
        received_at: at,
        metadata: Default::default(),
    };
    let mut msg = original.clone();
    switchboard_email::fit(&mut msg, text_budget, limit);

    if json_len(&original.text) <= text_budget {
        assert_eq!(msg.text, original.text);
        assert!(msg.metadata.get("text_bytes").is_none());
    } else {
        let note_at = msg.text.rfind(NOTE).expect("a cut text ends with the note");
        assert!(original.text.starts_with(&msg.text[..note_at]));
        assert_eq!(msg.metadata.get("truncated"), Some("true"));
        assert_eq!(msg.metadata.get("text_bytes"), Some(original.text.len().to_string().as_str()));
        if text_budget >= 128 {
            assert!(json_len(&msg.text) <= text_budget, "{} > {text_budget}", json_len(&msg.text));
        }
    }
    let omitted: usize = msg
        .metadata
        .get("attachments_omitted")
        .map_or(0, |n| n.parse().expect("a count"));
    assert_eq!(omitted + msg.attachments.len(), original.attachments.len());
    assert_eq!(msg.attachments[..], original.attachments[..msg.attachments.len()]);
    let size = serde_json::to_vec(&msg).map_or(usize::MAX, |v| v.len());
    assert!(msg.attachments.is_empty() || size <= limit, "{size} > {limit} with {} attachments", msg.attachments.len());
});
