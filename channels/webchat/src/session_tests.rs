use chrono::TimeZone;
use switchboard_core::RejectKind;

use super::*;

const SECRET: &str = "a-session-secret-of-32-bytes!!!!";
const T0: i64 = 1_700_000_000;
const TTL: Duration = Duration::from_secs(3600);

fn at(ts: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(ts, 0).single().unwrap()
}

fn issuer(secret: &str) -> SessionIssuer {
    SessionIssuer::new(SecretString::from(secret.to_owned()), TTL).unwrap()
}

fn jane() -> ShopIdentity {
    ShopIdentity {
        customer_id: "c-1001".into(),
        name: Some("Jane Doe".into()),
        tier: Some("vip".into()),
    }
}

/// Re-signs arbitrary claims JSON with `SECRET`, as a holder of the secret.
fn signed(json: &str) -> String {
    let payload = URL_SAFE_NO_PAD.encode(json);
    format!(
        "{payload}.{}",
        URL_SAFE_NO_PAD.encode(issuer(SECRET).mac(&payload))
    )
}

#[test]
fn issue_then_verify_round_trips() {
    let s = issuer(SECRET).issue(None, Some(&jane()), Some("JD"), at(T0));
    assert!(is_visitor_id(&s.visitor_id), "{}", s.visitor_id);
    assert_eq!(s.expires_at, at(T0 + 3600));
    let c = issuer(SECRET).verify(&s.token, at(T0 + 3599)).unwrap();
    assert_eq!(c.visitor_id(), s.visitor_id);
    assert_eq!(c.customer(), Some(&jane()));
    assert_eq!(c.visitor_name(), Some("JD"));
    assert_eq!(c.display_name(), Some("Jane Doe"));
    assert_eq!(c.issued_at(), at(T0));
    assert_eq!(c.expires_at(), at(T0 + 3600));
    // Anonymous: no customer, the visitor's own name is shown, or none.
    let anon = issuer(SECRET).issue(None, None, Some("Li Lei"), at(T0));
    let c = issuer(SECRET).verify(&anon.token, at(T0)).unwrap();
    assert_eq!((c.customer(), c.display_name()), (None, Some("Li Lei")));
    let bare = issuer(SECRET).issue(None, None, Some(""), at(T0));
    assert_eq!(
        issuer(SECRET)
            .verify(&bare.token, at(T0))
            .unwrap()
            .display_name(),
        None
    );
    assert_ne!(anon.visitor_id, s.visitor_id);
}

#[test]
fn the_token_is_the_documented_format() {
    let s = issuer(SECRET).issue(
        Some("v_01HF3ZK3RQ8V5M2XW7T0G9J6CE"),
        Some(&jane()),
        None,
        at(T0),
    );
    let (payload, mac) = s.token.split_once('.').unwrap();
    let json = String::from_utf8(URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    assert_eq!(
        json,
        r#"{"ver":1,"visitor_id":"v_01HF3ZK3RQ8V5M2XW7T0G9J6CE","customer":{"customer_id":"c-1001","name":"Jane Doe","tier":"vip"},"iat":1700000000,"exp":1700003600}"#
    );
    let mut expected = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    expected.update(payload.as_bytes());
    assert_eq!(
        URL_SAFE_NO_PAD.decode(mac).unwrap(),
        expected.finalize().into_bytes().to_vec()
    );
    assert!(!s.token.contains('='));
    let body = serde_json::to_value(&s).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"session_token": s.token, "visitor_id": "v_01HF3ZK3RQ8V5M2XW7T0G9J6CE",
                           "expires_at": "2023-11-14T23:13:20.000Z"})
    );
}

#[test]
fn the_protocol_md_example_token_verifies() {
    const EXAMPLE: &str = "eyJ2ZXIiOjEsInZpc2l0b3JfaWQiOiJ2XzAxSEYzWkszUlE4VjVNMlhXN1QwRzlKNkNFIiwiaWF0IjoxNzAwMDAwMDAwLCJleHAiOjE3MDAwMDM2MDB9.ERFJfPi5vnuYoMT8pT2gr88gz7wVCjX3IYjg_lV1OKk";
    assert!(include_str!("../PROTOCOL.md").contains(EXAMPLE));
    let s = issuer(SECRET).issue(Some("v_01HF3ZK3RQ8V5M2XW7T0G9J6CE"), None, None, at(T0));
    assert_eq!(s.token, EXAMPLE);
    let c = issuer(SECRET).verify(EXAMPLE, at(T0)).unwrap();
    assert_eq!(c.visitor_id(), "v_01HF3ZK3RQ8V5M2XW7T0G9J6CE");
}

#[test]
fn visitor_ids_are_kept_only_in_the_issued_format() {
    let keep = "v_01HF3ZK3RQ8V5M2XW7T0G9J6CE";
    assert_eq!(
        issuer(SECRET)
            .issue(Some(keep), None, None, at(T0))
            .visitor_id,
        keep
    );
    for other in [
        "",
        "v_",
        "01HF3ZK3RQ8V5M2XW7T0G9J6CE",
        "v_01hf3zk3rq8v5m2xw7t0g9j6ce",
        "v_01HF3ZK3RQ8V5M2XW7T0G9J6C",
        "v_01HF3ZK3RQ8V5M2XW7T0G9J6CEX",
        "v_81HF3ZK3RQ8V5M2XW7T0G9J6CE",
        "v_01HF3ZK3RQ8V5M2XW7T0G9J6CU",
        "visitor-1",
    ] {
        let s = issuer(SECRET).issue(Some(other), None, None, at(T0));
        assert_ne!(s.visitor_id, other);
        assert!(is_visitor_id(&s.visitor_id));
    }
}

#[test]
fn expired_tokens_are_refused() {
    let s = issuer(SECRET).issue(None, None, None, at(T0));
    for now in [T0 + 3600, T0 + 100_000] {
        let e = issuer(SECRET).verify(&s.token, at(now)).unwrap_err();
        assert!(matches!(e, WebchatError::Expired), "{e:?}");
        assert_eq!(e.kind(), RejectKind::BadSignature);
    }
}

#[test]
fn tampered_tokens_are_refused() {
    let s = issuer(SECRET).issue(None, Some(&jane()), None, at(T0));
    let bad = |t: &str| issuer(SECRET).verify(t, at(T0)).unwrap_err();
    // Another secret.
    assert!(matches!(
        issuer("another-secret-of-enough-bytes").verify(&s.token, at(T0)),
        Err(WebchatError::BadSignature)
    ));
    // Claims rewritten (a longer session, another customer) keep the old MAC.
    let (payload, mac) = s.token.split_once('.').unwrap();
    let json = String::from_utf8(URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    for forged in [
        json.replace("1700003600", "1900000000"),
        json.replace("c-1001", "c-1002"),
    ] {
        let t = format!("{}.{mac}", URL_SAFE_NO_PAD.encode(forged));
        assert!(matches!(bad(&t), WebchatError::BadSignature));
    }
    // Every single-character change anywhere is caught.
    let bytes = s.token.as_bytes();
    for i in 0..bytes.len() {
        let mut t = bytes.to_vec();
        t[i] = if t[i] == b'A' { b'B' } else { b'A' };
        let t = String::from_utf8(t).unwrap();
        let e = bad(&t);
        assert!(
            matches!(e, WebchatError::BadSignature | WebchatError::Malformed(_)),
            "{i}: {e:?}"
        );
    }
}

#[test]
fn truncated_garbage_and_oversized_tokens_are_refused() {
    let s = issuer(SECRET).issue(None, None, None, at(T0));
    let bad = |t: &str| issuer(SECRET).verify(t, at(T0)).unwrap_err();
    let dot = s.token.find('.').unwrap();
    // Cut inside the signature: wrong MAC.
    for end in [s.token.len() - 1, s.token.len() - 2, dot + 2] {
        assert!(
            matches!(bad(&s.token[..end]), WebchatError::BadSignature),
            "{end}"
        );
    }
    // Cut at or before the dot: not a token at all.
    for end in [dot + 1, dot, dot - 1, 0] {
        assert_eq!(bad(&s.token[..end]).kind(), RejectKind::Malformed, "{end}");
    }
    for garbage in [
        "garbage",
        ".",
        "a.",
        ".b",
        "a.b.c",
        &format!("{}.x", s.token),
        "🙂.🙂",
    ] {
        let e = bad(garbage);
        assert!(
            matches!(e, WebchatError::Malformed(_) | WebchatError::BadSignature),
            "{garbage}: {e:?}"
        );
    }
    assert!(matches!(bad("a.b"), WebchatError::BadSignature));
    assert_eq!(bad("garbage").kind().http_status(), 400);
    let huge = format!("{}.{}", "A".repeat(MAX_TOKEN_BYTES), "B");
    let e = bad(&huge);
    assert!(matches!(e, WebchatError::TooLarge(_)));
    assert_eq!(e.kind().http_status(), 413);
}

#[test]
fn signed_but_wrong_claims_are_malformed() {
    let good = r#"{"ver":1,"visitor_id":"v_01HF3ZK3RQ8V5M2XW7T0G9J6CE","iat":1700000000,"exp":1700003600}"#;
    assert!(issuer(SECRET).verify(&signed(good), at(T0)).is_ok());
    for json in [
        good.replace(r#""ver":1"#, r#""ver":2"#),
        good.replace("v_01HF3ZK3RQ8V5M2XW7T0G9J6CE", "someone"),
        good.replace("1700003600", "1700000000"),
        good.replace("1700003600", "99999999999999999"),
        good.replace(r#""ver":1,"#, r#""ver":1,"admin":true,"#),
        good.replace(r#","exp":1700003600"#, ""),
        "[]".into(),
        "not json".into(),
    ] {
        let e = issuer(SECRET).verify(&signed(&json), at(T0)).unwrap_err();
        assert!(matches!(e, WebchatError::Malformed(_)), "{json}: {e:?}");
    }
    let not_base64 = format!("*.{}", URL_SAFE_NO_PAD.encode(issuer(SECRET).mac("*")));
    assert!(matches!(
        issuer(SECRET).verify(&not_base64, at(T0)),
        Err(WebchatError::Malformed(_))
    ));
}

#[test]
fn the_largest_identity_still_fits() {
    // Control characters are escaped to six bytes each by JSON.
    let worst = ShopIdentity {
        customer_id: "\u{1}".repeat(MAX_CUSTOMER_ID_CHARS + 50),
        name: Some("\u{1}".repeat(MAX_NAME_CHARS + 50)),
        tier: Some("\u{1}".repeat(MAX_TIER_CHARS + 50)),
    };
    let name = "\u{1}".repeat(MAX_NAME_CHARS * 3);
    let s = issuer(SECRET).issue(Some(&"x".repeat(10_000)), Some(&worst), Some(&name), at(T0));
    assert!(s.token.len() <= MAX_TOKEN_BYTES, "{}", s.token.len());
    let c = issuer(SECRET).verify(&s.token, at(T0)).unwrap();
    let customer = c.customer().unwrap();
    assert_eq!(customer.customer_id.chars().count(), MAX_CUSTOMER_ID_CHARS);
    assert_eq!(
        customer.name.as_ref().unwrap().chars().count(),
        MAX_NAME_CHARS
    );
    assert_eq!(
        customer.tier.as_ref().unwrap().chars().count(),
        MAX_TIER_CHARS
    );
    assert_eq!(c.visitor_name().unwrap().chars().count(), MAX_NAME_CHARS);
}

#[test]
fn weak_configuration_is_refused() {
    let new = |s: &str, ttl| SessionIssuer::new(SecretString::from(s.to_owned()), ttl);
    assert!(matches!(new("", TTL), Err(WebchatError::Config(_))));
    assert!(matches!(new("short", TTL), Err(WebchatError::Config(_))));
    assert!(matches!(
        new(SECRET, Duration::ZERO),
        Err(WebchatError::Config(_))
    ));
    assert!(matches!(
        new(SECRET, MAX_TTL + Duration::from_secs(1)),
        Err(WebchatError::Config(_))
    ));
    assert_eq!(new(SECRET, TTL).unwrap().ttl(), TTL);
}

#[test]
fn debug_hides_secrets_and_ids() {
    let i = issuer(SECRET);
    let s = i.issue(None, Some(&jane()), Some("Li Lei"), at(T0));
    let c = i.verify(&s.token, at(T0)).unwrap();
    let shown = format!("{i:?} {s:?} {c:?}");
    for hidden in [SECRET, &s.token, &s.visitor_id, "Jane", "Li Lei", "c-1001"] {
        assert!(!shown.contains(hidden), "{hidden} in {shown}");
    }
}
