//! Tests of `verify.rs`: both published WeChat vectors through
//! `Verified::check`, the encrypt → check round trip, and every way a push
//! can be wrong, each with the error kind the daemon answers.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use secrecy::SecretString;

use super::*;
use std::time::Duration;
use crate::crypto::encrypt;
use crate::signature::signature;
use crate::vectors::*;

/// A safe-mode query for `encrypted`, correctly signed with the demo token.
fn signed(encrypted: &str) -> PushQuery {
    PushQuery {
        msg_signature: Some(signature(&[
            DEMO_TOKEN,
            DEMO_TIMESTAMP,
            DEMO_NONCE,
            encrypted,
        ])),
        ..demo_query()
    }
}

fn envelope(encrypted: &str) -> String {
    format!("<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>")
}

fn status(result: Result<Verified>) -> u16 {
    result.unwrap_err().kind().http_status()
}

#[test]
fn safe_mode_demo_vector_verifies_and_decrypts() {
    let verified = Verified::check(&demo_keys(), &demo_query(), demo_body().as_bytes()).unwrap();
    assert_eq!(verified.xml(), DEMO_XML);
    assert!(verified.was_encrypted());
    assert!(verified
        .xml()
        .contains("<MsgId>6054768590064713728</MsgId>"));
    // Debug shows no content.
    assert!(!format!("{verified:?}").contains("oyOR"));
}

#[test]
fn plain_vector_accepts_only_the_published_signature() {
    let keys = AccountKeys::new("wx1", SecretString::from("test"), None).unwrap();
    let body = b"<xml><MsgType><![CDATA[text]]></MsgType></xml>";
    let query = |sig: &str| PushQuery {
        signature: Some(sig.into()),
        timestamp: Some("1410685589".into()),
        nonce: Some("test".into()),
        ..PushQuery::default()
    };
    let ok = Verified::check(
        &keys,
        &query("f21891de399b4e33a1a93c9a7b8a8fffb5a443ff"),
        body,
    )
    .unwrap();
    assert_eq!(ok.xml().as_bytes(), body);
    assert!(!ok.was_encrypted());
    let raw = PushQuery {
        encrypt_type: Some("raw".into()),
        ..query("f21891de399b4e33a1a93c9a7b8a8fffb5a443ff")
    };
    assert!(Verified::check(&keys, &raw, body).is_ok());
    let rejected = Verified::check(
        &keys,
        &query("f21891de399b4e33a1a93c9a7b8a8fffb5a443fe"),
        body,
    );
    assert!(matches!(rejected, Err(WechatError::BadSignature)));
    assert_eq!(status(Verified::check(&keys, &query(""), body)), 403);
    assert_eq!(
        status(Verified::check(&keys, &PushQuery::default(), body)),
        403
    );
    // Signed, but not UTF-8.
    let sig = "f21891de399b4e33a1a93c9a7b8a8fffb5a443ff";
    assert_eq!(
        status(Verified::check(&keys, &query(sig), b"<xml>\xff</xml>")),
        400
    );
}

#[test]
fn encrypt_then_check_round_trips() {
    let keys = demo_keys();
    let xml = "<xml><ToUserName><![CDATA[gh_1]]></ToUserName><FromUserName><![CDATA[o1]]></FromUserName>\
               <CreateTime>1700000000</CreateTime><MsgType><![CDATA[text]]></MsgType>\
               <Content><![CDATA[我要退款 refund]]></Content><MsgId>18446744073709551615</MsgId></xml>";
    let encrypted = encrypt(&keys, *b"0123456789abcdef", xml).unwrap();
    let verified =
        Verified::check(&keys, &signed(&encrypted), envelope(&encrypted).as_bytes()).unwrap();
    assert_eq!(verified.xml(), xml);
}

#[test]
fn compatible_mode_trusts_only_the_ciphertext() {
    // Compatible mode sends the plaintext fields beside <Encrypt>; a forger
    // who can only edit those must not change what we decode.
    let body = format!(
        "<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName>\
         <FromUserName><![CDATA[forged]]></FromUserName><CreateTime>1</CreateTime>\
         <MsgType><![CDATA[text]]></MsgType><Content><![CDATA[forged]]></Content>\
         <MsgId>1</MsgId><Encrypt><![CDATA[{DEMO_ENCRYPT}]]></Encrypt></xml>"
    );
    let verified = Verified::check(&demo_keys(), &demo_query(), body.as_bytes()).unwrap();
    assert_eq!(verified.xml(), DEMO_XML);
}

#[test]
fn tampered_encrypt_or_signature_is_403() {
    let keys = demo_keys();
    // One character of the ciphertext changed, signature left as it was.
    let tampered = DEMO_ENCRYPT.replacen("hyzA", "hyzB", 1);
    let result = Verified::check(&keys, &demo_query(), envelope(&tampered).as_bytes());
    assert!(matches!(result, Err(WechatError::BadSignature)));
    for bad in [
        Some("5d197aaffba7e9b25a30732f161a50dee96bd5fb".to_string()),
        Some(String::new()),
        None,
        // The plain `signature` is not a `msg_signature`.
        demo_query().signature,
    ] {
        let q = PushQuery {
            msg_signature: bad,
            ..demo_query()
        };
        assert!(matches!(
            Verified::check(&keys, &q, demo_body().as_bytes()),
            Err(WechatError::BadSignature)
        ));
    }
    let q = PushQuery {
        nonce: None,
        ..demo_query()
    };
    assert_eq!(
        status(Verified::check(&keys, &q, demo_body().as_bytes())),
        403
    );
    let q = PushQuery {
        timestamp: Some("1409735670".into()),
        ..demo_query()
    };
    assert_eq!(
        status(Verified::check(&keys, &q, demo_body().as_bytes())),
        403
    );
    let other_token = AccountKeys {
        token: SecretString::from("spamtesu"),
        ..demo_keys()
    };
    assert_eq!(
        status(Verified::check(
            &other_token,
            &demo_query(),
            demo_body().as_bytes()
        )),
        403
    );
}

#[test]
fn wrong_app_id_is_403() {
    let keys = demo_keys();
    let foreign = AccountKeys {
        app_id: "wx9999999999999999".into(),
        ..demo_keys()
    };
    let encrypted = encrypt(&foreign, [1; 16], "<xml/>").unwrap();
    let result = Verified::check(&keys, &signed(&encrypted), envelope(&encrypted).as_bytes());
    assert!(matches!(result, Err(WechatError::AppIdMismatch)));
    assert_eq!(
        status(Verified::check(
            &keys,
            &signed(&encrypted),
            envelope(&encrypted).as_bytes()
        )),
        403
    );
}

#[test]
fn signed_but_undecryptable_is_400() {
    let keys = demo_keys();
    let bytes = STANDARD.decode(DEMO_ENCRYPT).unwrap();
    let mut bad_padding = bytes.clone();
    let n = bad_padding.len();
    bad_padding[n - 17] ^= 0x80; // garbles the last plaintext block
    let cases = [
        STANDARD.encode(&bytes[..bytes.len() - 32]), // truncated by whole blocks
        STANDARD.encode(&bytes[..bytes.len() - 5]),  // truncated mid-block
        STANDARD.encode(&bytes[..16]),               // a single block
        STANDARD.encode(bad_padding),
        "not*base64".to_string(),
        "AAAA".to_string(),
    ];
    for encrypted in cases {
        let result = Verified::check(&keys, &signed(&encrypted), envelope(&encrypted).as_bytes());
        match result {
            Err(e @ WechatError::Decrypt(_)) => assert_eq!(e.kind().http_status(), 400),
            other => panic!("{encrypted}: expected Decrypt, got {other:?}"),
        }
    }
}

#[test]
fn bad_envelopes_are_400() {
    let keys = demo_keys();
    for body in [
        String::new(),
        "success".into(),
        "<xml><ToUserName>gh</ToUserName></xml>".into(),
        "<xml><Encrypt></Encrypt></xml>".into(),
        format!("<xml><Encrypt>{DEMO_ENCRYPT}</Encrypt><Encrypt>{DEMO_ENCRYPT}</Encrypt></xml>"),
        format!("<Envelope><Encrypt>{DEMO_ENCRYPT}</Encrypt></Envelope>"),
    ] {
        let result = Verified::check(&keys, &demo_query(), body.as_bytes());
        assert!(
            matches!(result, Err(WechatError::Malformed(_))),
            "{body:?}: {result:?}"
        );
    }
    assert_eq!(
        status(Verified::check(&keys, &demo_query(), b"\xff\xfe")),
        400
    );
    let q = PushQuery {
        encrypt_type: Some("des".into()),
        ..demo_query()
    };
    assert_eq!(
        status(Verified::check(&keys, &q, demo_body().as_bytes())),
        400
    );
}

#[test]
fn safe_mode_needs_a_configured_key() {
    let plain_only = AccountKeys::new(DEMO_APPID, SecretString::from(DEMO_TOKEN), None).unwrap();
    let result = Verified::check(&plain_only, &demo_query(), demo_body().as_bytes());
    assert!(matches!(result, Err(WechatError::Config(_))));
    // An unsigned request still gets 403 first, never a hint about keys.
    let q = PushQuery {
        msg_signature: None,
        ..demo_query()
    };
    assert_eq!(
        status(Verified::check(&plain_only, &q, demo_body().as_bytes())),
        403
    );
}

fn policy(require_encryption: bool, now: i64) -> PushPolicy {
    PushPolicy {
        require_encryption,
        max_skew: Duration::from_secs(300),
        now: DateTime::from_timestamp(now, 0).unwrap(),
    }
}

#[test]
fn a_push_outside_the_timestamp_window_is_stale() {
    let ts: i64 = DEMO_TIMESTAMP.parse().unwrap();
    let (keys, q, body) = (demo_keys(), demo_query(), demo_body());
    for now in [ts, ts - 300, ts + 300] {
        assert!(Verified::check_push(&keys, &q, body.as_bytes(), &policy(true, now)).is_ok(), "{now}");
    }
    for now in [ts - 301, ts + 301, 0, 5_000_000_000_000, -50_000_000_000] {
        let r = Verified::check_push(&keys, &q, body.as_bytes(), &policy(false, now));
        assert!(matches!(r, Err(WechatError::Stale)), "{now}");
    }
    // A timestamp that is not a small number is stale, never a panic (it is
    // signed, so the check runs after the signature).
    for t in ["", "abc", "-5", "99999999999999999999", " 1 "] {
        let q = PushQuery {
            signature: Some(signature(&[DEMO_TOKEN, t, DEMO_NONCE])),
            timestamp: Some(t.into()),
            encrypt_type: None,
            msg_signature: None,
            ..demo_query()
        };
        let r = Verified::check_push(&keys, &q, b"<xml/>", &policy(false, ts));
        assert!(matches!(r, Err(WechatError::Stale)), "{t:?}: {r:?}");
    }
    let verified = Verified::check_push(&keys, &q, body.as_bytes(), &policy(true, ts)).unwrap();
    assert_eq!((verified.timestamp(), verified.nonce()), (DEMO_TIMESTAMP, DEMO_NONCE));
}

#[test]
fn an_account_requiring_encryption_refuses_a_downgraded_plaintext_push() {
    let ts: i64 = DEMO_TIMESTAMP.parse().unwrap();
    // The captured safe-mode URL without encrypt_type and msg_signature:
    // its `signature` still verifies, and would cover any body.
    let downgraded = PushQuery { encrypt_type: None, msg_signature: None, ..demo_query() };
    let forged = b"<xml><ToUserName>gh</ToUserName><FromUserName>o</FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType><Content>x</Content></xml>";
    assert!(Verified::check_push(&demo_keys(), &downgraded, forged, &policy(false, ts)).is_ok());
    let r = Verified::check_push(&demo_keys(), &downgraded, forged, &policy(true, ts));
    assert!(matches!(r, Err(WechatError::EncryptionRequired)), "{r:?}");
    assert_eq!(status(r), 403);
    let raw = PushQuery { encrypt_type: Some("raw".into()), ..downgraded };
    assert!(matches!(Verified::check_push(&demo_keys(), &raw, forged, &policy(true, ts)), Err(WechatError::EncryptionRequired)));
}
