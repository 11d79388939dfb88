//! Tests of `decode.rs`: kept in their own file so that the module itself
//! stays short enough to read in one go.

use chrono::TimeZone;
use switchboard_core::RejectKind;

use super::*;
use crate::signature::compute_signature;

const TOKEN: &str = "secret-token";
const URL: &str = "https://sb.example.com/webhooks/sms/main";

/// A form body with the given pairs, encoded as Twilio does.
fn body(pairs: &[(&str, &str)]) -> Vec<u8> {
    let mut ser = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        ser.append_pair(k, v);
    }
    ser.finish().into_bytes()
}

/// A request signed with the right token, passed through `Verified::check`.
fn verified(pairs: &[(&str, &str)]) -> Verified {
    let body = body(pairs);
    let params = parse_form(&body).unwrap();
    let sig = compute_signature(TOKEN, URL, &params);
    Verified::check(TOKEN, URL, &body, Some(&sig)).unwrap()
}

/// A typical Twilio inbound SMS webhook.
fn sms() -> Vec<(&'static str, &'static str)> {
    vec![
        ("ToCountry", "US"),
        ("ToState", "CA"),
        ("SmsMessageSid", "SM0123456789abcdef0123456789abcdef"),
        ("NumMedia", "0"),
        ("ToCity", ""),
        ("FromZip", "94105"),
        ("SmsSid", "SM0123456789abcdef0123456789abcdef"),
        ("FromState", "CA"),
        ("SmsStatus", "received"),
        ("FromCity", "SAN FRANCISCO"),
        ("Body", "Where is my order #1234? 退货 ok"),
        ("FromCountry", "US"),
        ("To", "+18005551212"),
        ("MessagingServiceSid", "MG0123456789abcdef0123456789abcdef"),
        ("ToZip", ""),
        ("NumSegments", "1"),
        ("MessageSid", "SM0123456789abcdef0123456789abcdef"),
        ("AccountSid", "AC0123456789abcdef0123456789abcdef"),
        ("From", "+14158675309"),
        ("ApiVersion", "2010-04-01"),
    ]
}

/// Replaces (or, with `None`, removes) a field of a webhook.
fn with(
    mut pairs: Vec<(&'static str, &'static str)>,
    name: &'static str,
    value: Option<&'static str>,
) -> Vec<(&'static str, &'static str)> {
    pairs.retain(|(n, _)| *n != name);
    if let Some(v) = value {
        pairs.push((name, v));
    }
    pairs
}

fn run(pairs: &[(&str, &str)]) -> Result<InboundMessage> {
    let at = Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap();
    normalize(
        "main",
        &verified(pairs),
        "01HX0000000000000000000000".into(),
        at,
    )
}

fn malformed_reason(result: Result<impl fmt::Debug>) -> String {
    match result {
        Err(SmsError::Malformed(reason)) => reason,
        other => panic!("expected Malformed, got {other:?}"),
    }
}

#[test]
fn parses_form_strictly_and_keeps_duplicates() {
    let params = parse_form(b"a=1&b=hello+world&c=%2B1%20x&&a=2&flag&=v").unwrap();
    let expected = [
        ("a", "1"),
        ("b", "hello world"),
        ("c", "+1 x"),
        ("a", "2"),
        ("flag", ""),
        ("", "v"),
    ];
    let got: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(got, expected);
    let utf8 = parse_form("Body=%E9%80%80%E8%B4%A7".as_bytes()).unwrap();
    assert_eq!(utf8[0].1, "退货");
}

#[test]
fn malformed_bodies_are_rejected() {
    let cases: [&[u8]; 9] = [
        b"",
        b"&&&",
        b"Body=%",
        b"Body=%2",
        b"Body=%zz&From=x",
        b"Bo%g1dy=x",
        b"Body=%ff%fe",
        b"Body=\xff",
        b"Body=%C3%28",
    ];
    for case in cases {
        let err = parse_form(case).unwrap_err();
        assert_eq!(err.kind(), RejectKind::Malformed, "{case:?}");
        let sig = "AAAAAAAAAAAAAAAAAAAAAAAAAAA=";
        let err = Verified::check(TOKEN, URL, case, Some(sig)).unwrap_err();
        assert!(matches!(err, SmsError::Malformed(_)), "{case:?}: {err:?}");
    }
}

#[test]
fn check_requires_a_matching_signature() {
    let b = body(&sms());
    let params = parse_form(&b).unwrap();
    let sig = compute_signature(TOKEN, URL, &params);
    assert!(Verified::check(TOKEN, URL, &b, Some(&sig)).is_ok());
    for header in [None, Some(""), Some("  "), Some("bm90IGl0")] {
        let err = Verified::check(TOKEN, URL, &b, header).unwrap_err();
        assert!(matches!(err, SmsError::BadSignature), "{header:?}");
        assert_eq!(err.kind(), RejectKind::BadSignature);
    }
    assert!(matches!(
        Verified::check("other-token", URL, &b, Some(&sig)),
        Err(SmsError::BadSignature)
    ));
    assert!(matches!(
        Verified::check(
            TOKEN,
            "https://sb.example.com/webhooks/sms/other",
            &b,
            Some(&sig)
        ),
        Err(SmsError::BadSignature)
    ));
    // One changed byte of the body.
    let mut tampered = b.clone();
    let pos = tampered.len() - 1;
    tampered[pos] = if tampered[pos] == b'1' { b'2' } else { b'1' };
    assert!(matches!(
        Verified::check(TOKEN, URL, &tampered, Some(&sig)),
        Err(SmsError::BadSignature)
    ));
    // A missing header is refused before the body is looked at.
    assert!(matches!(
        Verified::check(TOKEN, URL, b"%", None),
        Err(SmsError::BadSignature)
    ));
}

#[test]
fn normalizes_a_text_message() {
    let msg = run(&sms()).unwrap();
    assert_eq!(msg.id, "01HX0000000000000000000000");
    assert_eq!(msg.channel, Channel::Sms);
    assert_eq!(msg.account, "main");
    assert_eq!(
        msg.provider_message_id,
        "SM0123456789abcdef0123456789abcdef"
    );
    assert_eq!(msg.customer, "+14158675309");
    assert_eq!(msg.to.as_deref(), Some("+18005551212"));
    assert_eq!(msg.display_name, None);
    assert_eq!(msg.text, "Where is my order #1234? 退货 ok");
    assert!(msg.attachments.is_empty());
    assert_eq!(
        msg.received_at,
        Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap()
    );
    let m = &msg.metadata;
    assert_eq!(
        m.get("AccountSid"),
        Some("AC0123456789abcdef0123456789abcdef")
    );
    assert_eq!(
        m.get("MessagingServiceSid"),
        Some("MG0123456789abcdef0123456789abcdef")
    );
    assert_eq!(m.get("SmsStatus"), Some("received"));
    assert_eq!(m.get("NumSegments"), Some("1"));
    assert_eq!(m.get("FromCity"), Some("SAN FRANCISCO"));
    assert_eq!(m.get("ApiVersion"), Some("2010-04-01"));
    // Fields the message already carries are not repeated; empty ones are dropped.
    for absent in ["Body", "From", "To", "MessageSid", "NumMedia", "ToCity"] {
        assert_eq!(m.get(absent), None, "{absent}");
    }
}

#[test]
fn body_may_be_absent_and_numbers_are_normalized() {
    let pairs = with(sms(), "Body", None);
    let pairs = with(pairs, "From", Some("+1 (415) 867-5309"));
    let pairs = with(pairs, "NumMedia", None);
    let msg = run(&pairs).unwrap();
    assert_eq!(msg.text, "");
    assert_eq!(msg.customer, "+14158675309");
}

#[test]
fn required_fields_are_named_when_missing_or_invalid() {
    for field in ["From", "To", "MessageSid"] {
        let reason = malformed_reason(run(&with(sms(), field, None)));
        assert!(reason.contains(field), "{reason}");
        let reason = malformed_reason(run(&with(sms(), field, Some(""))));
        assert!(reason.contains(field), "{reason}");
    }
    for bad in [
        "hello",
        "14158675309",
        "+1415",
        "+1234567890123456",
        "+0123456789",
    ] {
        let reason = malformed_reason(run(&with(sms(), "From", Some(bad))));
        assert!(reason.contains("From"), "{bad}: {reason}");
        assert!(
            !reason.contains(bad),
            "the value must not be echoed: {reason}"
        );
    }
    let reason = malformed_reason(run(&with(sms(), "To", Some("whatsapp:+1800555"))));
    assert!(reason.contains("To"), "{reason}");
}

#[test]
fn repeated_fields_we_act_on_are_ambiguous() {
    let mut pairs = sms();
    pairs.push(("From", "+14155550000"));
    let reason = malformed_reason(run(&pairs));
    assert!(reason.contains("From"), "{reason}");
}

#[test]
fn mms_media_become_attachments() {
    let pairs = with(sms(), "NumMedia", Some("2"));
    let mut pairs = with(pairs, "Body", Some(""));
    pairs.extend([
        ("MediaContentType0", "image/jpeg"),
        (
            "MediaUrl0",
            "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME0",
        ),
        ("MediaContentType1", "video/mp4"),
        (
            "MediaUrl1",
            "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1",
        ),
    ]);
    let pairs = with(
        pairs,
        "MessageSid",
        Some("MM0123456789abcdef0123456789abcdef"),
    );
    let msg = run(&pairs).unwrap();
    assert_eq!(
        msg.provider_message_id,
        "MM0123456789abcdef0123456789abcdef"
    );
    assert_eq!(msg.text, "");
    assert_eq!(msg.attachments.len(), 2);
    assert_eq!(msg.attachments[0].content_type, "image/jpeg");
    assert!(msg.attachments[0].url.as_deref().unwrap().ends_with("/ME0"));
    assert_eq!(msg.attachments[1].content_type, "video/mp4");
    assert!(msg.attachments[1].url.as_deref().unwrap().ends_with("/ME1"));
    assert_eq!(msg.metadata.get("MediaUrl0"), None);
}

#[test]
fn num_media_is_bounded_and_backed_by_fields() {
    for bad in ["11", "abc", "-1", "1.5", "99999999999999999999999"] {
        let reason = malformed_reason(run(&with(sms(), "NumMedia", Some(bad))));
        assert!(reason.contains("NumMedia"), "{bad}: {reason}");
    }
    let mut pairs = with(sms(), "NumMedia", Some("2"));
    pairs.extend([
        ("MediaUrl0", "https://m/0"),
        ("MediaContentType0", "image/png"),
    ]);
    let reason = malformed_reason(run(&pairs));
    assert!(reason.contains("MediaUrl1"), "{reason}");
    let mut pairs = with(sms(), "NumMedia", Some("1"));
    pairs.extend([
        ("MediaUrl0", "file:///etc/passwd"),
        ("MediaContentType0", "image/png"),
    ]);
    let reason = malformed_reason(run(&pairs));
    assert!(reason.contains("MediaUrl0"), "{reason}");
    let mut pairs = with(sms(), "NumMedia", Some("10"));
    let urls: Vec<(String, String)> = (0..10)
        .flat_map(|n| {
            [
                (format!("MediaUrl{n}"), format!("https://m/{n}")),
                (format!("MediaContentType{n}"), "image/png".to_string()),
            ]
        })
        .collect();
    pairs.extend(urls.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    assert_eq!(run(&pairs).unwrap().attachments.len(), 10);
}

#[test]
fn metadata_is_bounded_and_keeps_known_fields_first() {
    let junk: Vec<(String, String)> = (0..1000)
        .map(|i| (format!("Junk{i}"), "x".repeat(600)))
        .collect();
    // Junk first, so that arrival order alone would crowd out AccountSid.
    let mut pairs: Vec<(&str, &str)> = junk.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    pairs.extend(sms());
    let msg = run(&pairs).unwrap();
    let m = &msg.metadata;
    assert_eq!(m.len(), Metadata::MAX_ENTRIES);
    assert_eq!(
        m.get("AccountSid"),
        Some("AC0123456789abcdef0123456789abcdef")
    );
    assert_eq!(m.get("SmsStatus"), Some("received"));
    assert!(m.iter().all(|(_, v)| v.len() <= Metadata::MAX_VALUE_LEN));
    assert_eq!(msg.customer, "+14158675309");
}

#[test]
fn debug_hides_values() {
    let v = verified(&sms());
    let shown = format!("{v:?}");
    assert!(shown.contains("From"));
    assert!(!shown.contains("+14158675309"), "{shown}");
    assert!(!shown.contains("Where is my order"), "{shown}");
    assert_eq!(v.get("SmsStatus"), Some("received"));
    assert_eq!(v.params().len(), sms().len());
}

#[test]
fn e164() {
    let ok = [
        ("+14158675309", "+14158675309"),
        ("+1 415 867 5309", "+14158675309"),
        ("+1 (415) 867-5309", "+14158675309"),
        ("+44.20.7946.0958", "+442079460958"),
        ("\t+86 138-0013-8000 ", "+8613800138000"),
        ("+1234567", "+1234567"),
        ("+123456789012345", "+123456789012345"),
    ];
    for (raw, want) in ok {
        assert_eq!(normalize_e164(raw).as_deref(), Some(want), "{raw}");
    }
    let bad = [
        "",
        "+",
        "14158675309",
        "+123456",
        "+1234567890123456",
        "+1415867530x",
        "++14158675309",
        "1+4158675309",
        "+04158675309",
        "+1/415/8675309",
        "+１４１５８６７５３０９",
        "whatsapp:+14158675309",
    ];
    for raw in bad {
        assert_eq!(normalize_e164(raw), None, "{raw}");
    }
}
