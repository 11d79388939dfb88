//! Fuzzes what the hardening added to WeChat pushes, on arbitrary bytes:
//!
//! 1. the timestamp window of `Verified::check_push`: any signed
//!    `timestamp` and `nonce` strings (correctly signed, so the window is
//!    what decides), any `now` and skew, with and without
//!    `require_encryption`;
//! 2. the `CreateTime` range check of `decode`: any string as the
//!    `CreateTime` of a text message and of a subscribe event.
//!
//! Beyond "never panics": a plaintext push passes exactly when its
//! timestamp is all digits (at most 12) and within the skew of `now`
//! either way, computed here independently in 128-bit arithmetic; an
//! account that requires encryption refuses every plaintext push, and only
//! plaintext ones, with `EncryptionRequired`; a push decodes exactly when
//! its `CreateTime` is an integer from 0 to `MAX_CREATE_TIME`, and the
//! message keeps the receive time, never the provider's.
#![no_main]

use std::time::Duration;

use chrono::{TimeZone, Utc};
use libfuzzer_sys::fuzz_target;
use switchboard_wechat::{
    decode, signature, AccountKeys, Push, PushPolicy, PushQuery, Verified, WechatError,
    MAX_CREATE_TIME,
};

const TOKEN: &str = "spamtest";
const APPID: &str = "wx2c2769f8efd9abc2";

/// The next field of `data`: the bytes up to the next `0x00` (or the end).
fn field(data: &mut &[u8]) -> String {
    let end = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    let (head, rest) = data.split_at(end);
    *data = rest.get(1..).unwrap_or_default();
    String::from_utf8_lossy(head).into_owned()
}

/// Whether `timestamp` is within `skew` seconds of `now`, as the window
/// should decide it.
fn fresh(timestamp: &str, now: i64, skew: u64) -> bool {
    let t = timestamp.trim();
    if t.is_empty() || t.len() > 12 || !t.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let Ok(ts) = t.parse::<i128>() else { return false };
    (i128::from(now) - ts).abs() <= i128::from(skew)
}

/// Whether `create_time`, as the XML parser trims it, is in range.
fn in_range(create_time: &str) -> Option<i64> {
    create_time
        .trim()
        .parse::<i64>()
        .ok()
        .filter(|t| (0..=MAX_CREATE_TIME).contains(t))
}

/// `raw` as CDATA content that keeps the XML well-formed: without the
/// characters XML 1.0 forbids and without `]]>`.
fn cdata_safe(raw: &str) -> String {
    let mut text: String = raw
        .chars()
        .filter(|&c| matches!(c, '\t' | '\n' | '\r') || !(c.is_control() || c == '\u{fffe}' || c == '\u{ffff}'))
        .collect();
    while text.contains("]]>") {
        text = text.replace("]]>", "");
    }
    text
}

fn xml(create_time: &str, event: bool) -> String {
    let kind = if event {
        "<MsgType>event</MsgType><Event>subscribe</Event>"
    } else {
        "<MsgType>text</MsgType><Content>hi</Content><MsgId>1</MsgId>"
    };
    format!(
        "<xml><ToUserName>gh_1</ToUserName><FromUserName>o1</FromUserName>\
         <CreateTime><![CDATA[{create_time}]]></CreateTime>{kind}</xml>"
    )
}

fuzz_target!(|data: &[u8]| {
    let Ok(keys) = AccountKeys::new(APPID, TOKEN.into(), None) else {
        return;
    };
    let [flags, s0, s1, n0, n1, n2, n3, n4, n5, rest @ ..] = data else {
        return;
    };
    let mut rest = rest;
    let require_encryption = flags & 1 == 1;
    let encrypt_type = match (flags >> 1) & 3 {
        0 => None,
        1 => Some("raw".to_owned()),
        2 => Some("aes".to_owned()),
        _ => Some(field(&mut rest)),
    };
    let skew = u64::from(u16::from_le_bytes([*s0, *s1]));
    // Any second from 1970 to about 10889 (48 bits).
    let now = i64::from_le_bytes([*n0, *n1, *n2, *n3, *n4, *n5, 0, 0]);
    let Some(now_at) = Utc.timestamp_opt(now, 0).single() else {
        return;
    };
    let timestamp = field(&mut rest);
    let nonce = field(&mut rest);
    let create_time = cdata_safe(&field(&mut rest));
    let policy = PushPolicy {
        require_encryption,
        max_skew: Duration::from_secs(skew),
        now: now_at,
    };
    let query = PushQuery {
        signature: Some(signature(&[TOKEN, &timestamp, &nonce])),
        timestamp: Some(timestamp.clone()),
        nonce: Some(nonce.clone()),
        encrypt_type: encrypt_type.clone(),
        ..PushQuery::default()
    };
    // As WeChat's SDKs read it: absent, blank or `raw` (any case).
    let plaintext = encrypt_type
        .as_deref()
        .map(str::trim)
        .is_none_or(|t| t.is_empty() || t.eq_ignore_ascii_case("raw"));
    for event in [false, true] {
        let body = xml(&create_time, event);
        let checked = Verified::check_push(&keys, &query, body.as_bytes(), &policy);
        if require_encryption && plaintext {
            assert!(matches!(checked, Err(WechatError::EncryptionRequired)));
            continue;
        }
        if let Err(WechatError::EncryptionRequired) = checked {
            panic!("a push that is not plaintext, or an account that allows plaintext, refused as plaintext");
        }
        if !plaintext {
            // Safe mode without a key or an unknown mode: refused, by the check.
            assert!(checked.is_err());
            continue;
        }
        let unbounded = Verified::check(&keys, &query, body.as_bytes());
        match (&unbounded, &checked) {
            (Err(_), Ok(_)) => panic!("the window let through a push the signature check refused"),
            (Ok(_), Ok(_)) => assert!(fresh(&timestamp, now, skew), "a stale timestamp passed: {timestamp:?}"),
            (Ok(_), Err(e)) => {
                assert!(matches!(e, WechatError::Stale), "{e}");
                assert!(!fresh(&timestamp, now, skew), "a fresh timestamp was refused: {timestamp:?}");
            }
            (Err(_), Err(_)) => {}
        }
        let Ok(verified) = checked else { continue };
        assert_eq!(verified.timestamp(), timestamp);
        assert_eq!(verified.nonce(), nonce);
        let received = Utc.timestamp_opt(1_700_000_000, 0).single().unwrap_or_default();
        match (decode("shop", &verified, "01HX0000000000000000000000".into(), received), in_range(&create_time)) {
            (Ok(Push::Message(m)), Some(_)) => assert_eq!(m.received_at, received),
            (Ok(Push::Event(e)), Some(t)) => {
                assert_eq!(e.create_time, t);
                assert!(e.dedupe_key.starts_with("o1:"));
            }
            (Ok(_), None) => panic!("CreateTime {create_time:?} out of range was taken"),
            (Err(e), Some(_)) => panic!("CreateTime {create_time:?} in range was refused: {e}"),
            (Err(e), None) => assert_eq!(e.kind().http_status(), 400),
        }
    }
});
