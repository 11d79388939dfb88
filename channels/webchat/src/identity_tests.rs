use chrono::TimeZone;
use switchboard_core::RejectKind;

use super::*;

const SECRET: &str = "shop-identity-secret";
const TS: i64 = 1_700_000_000;
/// `printf '%s' 'c-1001|Jane Doe|vip|1700000000' | openssl dgst -sha256 -hmac shop-identity-secret`
const VECTOR: &str = "0f702b7eae1efa7a4fccddac1ed948538a1ac212762350b8255524309b191eb1";
/// The same over `c-1001|||1700000000`.
const VECTOR_BARE: &str = "0be88eb2e75d8fb6758165e3db212de0097b130500ae180e4757bc0dbde8490f";
/// The same over `c-1001|王小明|vip|1700000000` (UTF-8).
const VECTOR_CJK: &str = "781435202606e5ded2dbf7b73439605703b2bdb4858b08e759b600dbd2de8c31";

fn at(ts: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(ts, 0).single().unwrap()
}

fn raw(name: Option<&str>, tier: Option<&str>, timestamp: i64, signature: &str) -> RawIdentity {
    RawIdentity {
        customer_id: "c-1001".into(),
        name: name.map(Into::into),
        tier: tier.map(Into::into),
        timestamp,
        signature: signature.into(),
    }
}

#[test]
fn documented_vectors() {
    assert_eq!(
        identity_signature(SECRET, "c-1001", Some("Jane Doe"), Some("vip"), TS),
        VECTOR
    );
    assert_eq!(
        identity_signature(SECRET, "c-1001", None, None, TS),
        VECTOR_BARE
    );
    assert_eq!(
        identity_signature(SECRET, "c-1001", Some("王小明"), Some("vip"), TS),
        VECTOR_CJK
    );
    let id = verify_identity(
        SECRET,
        &raw(Some("Jane Doe"), Some("vip"), TS, VECTOR),
        at(TS),
    )
    .unwrap();
    assert_eq!(
        id,
        ShopIdentity {
            customer_id: "c-1001".into(),
            name: Some("Jane Doe".into()),
            tier: Some("vip".into()),
        }
    );
    // Upper-case hex and surrounding whitespace are accepted.
    let upper = format!(" {} ", VECTOR.to_uppercase());
    assert!(verify_identity(
        SECRET,
        &raw(Some("Jane Doe"), Some("vip"), TS, &upper),
        at(TS)
    )
    .is_ok());
}

#[test]
fn the_vectors_are_the_documented_ones() {
    let protocol = include_str!("../PROTOCOL.md");
    for v in [VECTOR, VECTOR_BARE, VECTOR_CJK] {
        assert!(protocol.contains(v));
    }
    assert!(include_str!("identity.rs").contains(VECTOR));
}

#[test]
fn absent_null_and_empty_sign_the_same() {
    for (name, tier) in [(None, None), (Some(""), Some("")), (None, Some(""))] {
        let id = verify_identity(SECRET, &raw(name, tier, TS, VECTOR_BARE), at(TS)).unwrap();
        assert_eq!(id.name, None);
        assert_eq!(id.tier, None);
    }
    let body = br#"{"identity":{"customer_id":"c-1001","name":null,"timestamp":1700000000,"signature":"0be88eb2e75d8fb6758165e3db212de0097b130500ae180e4757bc0dbde8490f"}}"#;
    let request = SessionRequest::parse(body).unwrap();
    assert!(verify_identity(SECRET, request.identity.as_ref().unwrap(), at(TS)).is_ok());
}

#[test]
fn wrong_signatures_are_refused() {
    let bad = |r: RawIdentity, secret: &str| verify_identity(secret, &r, at(TS)).unwrap_err();
    // Each signed field matters.
    assert!(matches!(
        bad(raw(Some("Jane Doe"), Some("gold"), TS, VECTOR), SECRET),
        WebchatError::BadSignature
    ));
    assert!(matches!(
        bad(raw(Some("Jane Do"), Some("vip"), TS, VECTOR), SECRET),
        WebchatError::BadSignature
    ));
    assert!(matches!(
        bad(raw(Some("Jane Doe"), Some("vip"), TS + 1, VECTOR), SECRET),
        WebchatError::BadSignature
    ));
    let mut other = raw(Some("Jane Doe"), Some("vip"), TS, VECTOR);
    other.customer_id = "c-1002".into();
    assert!(matches!(bad(other, SECRET), WebchatError::BadSignature));
    // Moving a value between fields changes the string.
    assert!(matches!(
        bad(raw(Some("vip"), Some("Jane Doe"), TS, VECTOR), SECRET),
        WebchatError::BadSignature
    ));
    // Another secret, an empty secret, truncated, not hex, empty.
    assert!(matches!(
        bad(raw(Some("Jane Doe"), Some("vip"), TS, VECTOR), "other"),
        WebchatError::BadSignature
    ));
    assert!(matches!(
        bad(raw(Some("Jane Doe"), Some("vip"), TS, VECTOR), ""),
        WebchatError::BadSignature
    ));
    for sig in [&VECTOR[..62], &VECTOR[..63], "zz", "", "0f702b7e"] {
        let e = bad(raw(Some("Jane Doe"), Some("vip"), TS, sig), SECRET);
        assert!(matches!(e, WebchatError::BadSignature), "{sig}: {e:?}");
        assert_eq!(e.kind(), RejectKind::BadSignature);
    }
}

#[test]
fn stale_and_future_timestamps_are_refused() {
    let signed = |ts: i64| {
        raw(
            None,
            None,
            ts,
            &identity_signature(SECRET, "c-1001", None, None, ts),
        )
    };
    // Exactly at the edges is fine.
    assert!(verify_identity(SECRET, &signed(TS - 600), at(TS)).is_ok());
    assert!(verify_identity(SECRET, &signed(TS + 300), at(TS)).is_ok());
    for ts in [TS - 601, TS + 301, 0, i64::MIN, i64::MAX] {
        let e = verify_identity(SECRET, &signed(ts), at(TS)).unwrap_err();
        assert!(matches!(e, WebchatError::Stale), "{ts}: {e:?}");
        assert_eq!(e.kind().http_status(), 403);
    }
    // A stale timestamp with a wrong signature says "bad signature".
    let e =
        verify_identity(SECRET, &raw(None, None, TS - 10_000, VECTOR_BARE), at(TS)).unwrap_err();
    assert!(matches!(e, WebchatError::BadSignature));
}

#[test]
fn ambiguous_or_oversized_fields_are_malformed() {
    let cases = [
        raw(Some("Jane|Doe"), None, TS, VECTOR),
        raw(None, Some("v|ip"), TS, VECTOR),
        raw(Some("Jane\nDoe"), None, TS, VECTOR),
        raw(Some(&"名".repeat(MAX_NAME_CHARS + 1)), None, TS, VECTOR),
        raw(None, Some(&"t".repeat(MAX_TIER_CHARS + 1)), TS, VECTOR),
        raw(None, None, TS, &"0".repeat(129)),
        RawIdentity {
            customer_id: String::new(),
            ..raw(None, None, TS, VECTOR)
        },
        RawIdentity {
            customer_id: "c".repeat(MAX_CUSTOMER_ID_CHARS + 1),
            ..raw(None, None, TS, VECTOR)
        },
    ];
    for r in cases {
        let e = verify_identity(SECRET, &r, at(TS)).unwrap_err();
        assert_eq!(e.kind(), RejectKind::Malformed, "{r:?}: {e:?}");
    }
    // The limits are inclusive.
    let name = "名".repeat(MAX_NAME_CHARS);
    let sig = identity_signature(SECRET, "c-1001", Some(&name), None, TS);
    assert!(verify_identity(SECRET, &raw(Some(&name), None, TS, &sig), at(TS)).is_ok());
}

#[test]
fn session_requests_parse_strictly() {
    assert!(SessionRequest::parse(b"").unwrap().identity.is_none());
    assert!(SessionRequest::parse(b" \n").unwrap().visitor_id.is_none());
    let r =
        SessionRequest::parse(br#"{"visitor_id":"v_01HF0000000000000000000000","name":"Li Lei"}"#)
            .unwrap();
    assert_eq!(
        r.visitor_id.as_deref(),
        Some("v_01HF0000000000000000000000")
    );
    assert_eq!(r.name.as_deref(), Some("Li Lei"));
    let malformed: [&[u8]; 10] = [
        br#"{"identity":["c-1001",null,null,1700000000,"00"]}"#,
        br#"{"identity":"c-1001"}"#,
        br#"{"visitor":"x"}"#,
        br#"{"identity":{"customer_id":"c","timestamp":1,"signature":"00","extra":1}}"#,
        br#"{"identity":{"customer_id":"c","signature":"00"}}"#,
        br#"{"identity":{"customer_id":"c","timestamp":"1700000000","signature":"00"}}"#,
        br#"{"name":"a","name":"b"}"#,
        br#"[]"#,
        b"{",
        b"\xff",
    ];
    for body in malformed {
        let e = SessionRequest::parse(body).unwrap_err();
        assert_eq!(
            e.kind(),
            RejectKind::Malformed,
            "{}: {e}",
            String::from_utf8_lossy(body)
        );
    }
    let long_name = format!(r#"{{"name":"{}"}}"#, "n".repeat(MAX_NAME_CHARS + 1));
    assert_eq!(
        SessionRequest::parse(long_name.as_bytes())
            .unwrap_err()
            .kind(),
        RejectKind::Malformed
    );
    let long_id = format!(
        r#"{{"visitor_id":"{}"}}"#,
        "v".repeat(MAX_VISITOR_ID_CHARS + 1)
    );
    assert_eq!(
        SessionRequest::parse(long_id.as_bytes())
            .unwrap_err()
            .kind(),
        RejectKind::Malformed
    );
    let huge = format!(r#"{{"name":"{}"}}"#, " ".repeat(MAX_SESSION_REQUEST_BYTES));
    assert_eq!(
        SessionRequest::parse(huge.as_bytes()).unwrap_err().kind(),
        RejectKind::TooLarge
    );
}

#[test]
fn errors_and_debug_never_show_values() {
    let e = SessionRequest::parse(
        br#"{"identity":{"customer_id":"c","timestamp":"SECRETVALUE","signature":"00"}}"#,
    )
    .unwrap_err();
    assert!(!e.to_string().contains("SECRETVALUE"), "{e}");
    let missing =
        SessionRequest::parse(br#"{"identity":{"customer_id":"c","signature":"00"}}"#).unwrap_err();
    assert!(missing.to_string().contains("timestamp"), "{missing}");
    let r = raw(Some("Jane Doe"), Some("vip"), TS, VECTOR);
    let shown = format!("{r:?} {:?}", verify_identity(SECRET, &r, at(TS)).unwrap());
    assert!(
        !shown.contains("Jane") && !shown.contains(VECTOR) && !shown.contains("c-1001"),
        "{shown}"
    );
}
