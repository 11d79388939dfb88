//! Fuzzes the WeChat push path end to end on arbitrary bytes: signature
//! checks, safe-mode decryption and decoding.
//!
//! Arbitrary bytes reach the code four ways, because a random body almost
//! never carries a valid signature and would stop at the first check:
//!
//! 1. as a plaintext-mode body under a correctly signed query, so the XML
//!    parser and `decode` see it;
//! 2. as a safe-mode body under a fixed query, so the envelope parser and
//!    the `msg_signature` check see it;
//! 3. as the `<Encrypt>` value (raw, and mapped onto the base64 alphabet so
//!    that most inputs decode to an arbitrary ciphertext), re-signed, so the
//!    AES, padding, length and AppID checks see it;
//! 4. as XML that `encrypt` seals and `Verified::check` must open again
//!    unchanged (the round trip the reply direction relies on).
//!
//! Beyond "never panics": a message decodes to the WeChat channel with a
//! non-empty de-duplication key and bounded metadata, and an event's key
//! starts with its OpenID.
#![no_main]

use chrono::{TimeZone, Utc};
use libfuzzer_sys::fuzz_target;
use switchboard_core::{Channel, Metadata};
use switchboard_wechat::{decode, encrypt, signature, AccountKeys, Push, PushQuery, Verified};

const TOKEN: &str = "spamtest";
const KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const APPID: &str = "wx2c2769f8efd9abc2";
const TIMESTAMP: &str = "1409735669";
const NONCE: &str = "1320562132";
const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn keys() -> Option<AccountKeys> {
    AccountKeys::new(APPID, TOKEN.into(), Some(KEY.into())).ok()
}

fn query(encrypt_type: Option<&str>, msg_signature: Option<String>) -> PushQuery {
    PushQuery {
        signature: Some(signature(&[TOKEN, TIMESTAMP, NONCE])),
        timestamp: Some(TIMESTAMP.into()),
        nonce: Some(NONCE.into()),
        encrypt_type: encrypt_type.map(str::to_owned),
        msg_signature,
        ..PushQuery::default()
    }
}

/// A safe-mode push of `encrypted`, signed the way WeChat signs it.
fn sealed(
    keys: &AccountKeys,
    encrypted: &str,
) -> Result<Verified, switchboard_wechat::WechatError> {
    let body = format!("<xml><ToUserName><![CDATA[gh_1]]></ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>");
    let signed = signature(&[TOKEN, TIMESTAMP, NONCE, encrypted.trim()]);
    Verified::check(keys, &query(Some("aes"), Some(signed)), body.as_bytes())
}

/// `decode` must never panic, and what it yields must hold the invariants
/// the daemon relies on.
fn decode_checked(verified: &Verified) {
    let at = Utc
        .timestamp_opt(1_700_000_000, 0)
        .single()
        .unwrap_or_default();
    match decode("shop", verified, "01HX0000000000000000000000".into(), at) {
        Ok(Push::Message(msg)) => {
            assert_eq!(msg.channel, Channel::Wechat);
            assert!(!msg.customer.is_empty());
            assert!(!msg.provider_message_id.is_empty());
            assert!(msg.metadata.len() <= Metadata::MAX_ENTRIES);
            assert!(msg.attachments.len() <= 1);
        }
        Ok(Push::Event(event)) => {
            assert!(!event.open_id.is_empty());
            assert!(event.dedupe_key.starts_with(&format!("{}:", event.open_id)));
        }
        Err(e) => assert_eq!(e.kind().http_status(), 400),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some(keys) = keys() else {
        return;
    };

    // 1. Plaintext mode, correctly signed: the body goes to the parser.
    if let Ok(verified) = Verified::check(&keys, &query(None, None), data) {
        decode_checked(&verified);
    }

    // 2. Safe mode with a fixed msg_signature: the envelope parser and the
    //    signature check; a valid push needs a SHA-1 collision.
    let fixed = query(
        Some("aes"),
        Some("5d197aaffba7e9b25a30732f161a50dee96bd5fa".into()),
    );
    if let Ok(verified) = Verified::check(&keys, &fixed, data) {
        decode_checked(&verified);
    }

    // 3. The bytes as the Encrypt value, re-signed, raw and as base64.
    let raw = String::from_utf8_lossy(data).replace("]]>", "");
    if let Ok(verified) = sealed(&keys, &raw) {
        decode_checked(&verified);
    }
    let b64: String = data
        .iter()
        .map(|&b| char::from(B64[usize::from(b % 64)]))
        .collect();
    if let Ok(verified) = sealed(&keys, &b64) {
        decode_checked(&verified);
    }

    // 4. Round trip: whatever XML we seal, check opens unchanged.
    if let Ok(xml) = std::str::from_utf8(data) {
        let mut random16 = [0u8; 16];
        for (slot, byte) in random16.iter_mut().zip(data.iter().rev()) {
            *slot = *byte;
        }
        if let Ok(encrypted) = encrypt(&keys, random16, xml) {
            match sealed(&keys, &encrypted) {
                Ok(verified) => {
                    assert_eq!(verified.xml(), xml);
                    decode_checked(&verified);
                }
                Err(e) => panic!("a correctly sealed push was refused: {e}"),
            }
        }
    }
});
