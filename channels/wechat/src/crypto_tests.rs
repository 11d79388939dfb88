//! Tests of `crypto.rs`: the published demo vector in both directions, key
//! validation, and every way a ciphertext can be wrong.

use super::*;
use crate::vectors::{demo_keys, DEMO_APPID, DEMO_ENCRYPT, DEMO_KEY, DEMO_XML};

/// Raw AES-256-CBC with WeChat's key/IV and no padding added, to build
/// plaintexts that `encrypt` would never produce.
fn raw_encrypt(plain: &[u8]) -> String {
    let key = aes_key(&SecretString::from(DEMO_KEY)).unwrap();
    let mut buf = plain.to_vec();
    let len = buf.len();
    let enc = cbc::Encryptor::<Aes256>::new_from_slices(&key[..], &key[..16]).unwrap();
    let out = enc.encrypt_padded_mut::<NoPadding>(&mut buf, len).unwrap();
    STANDARD.encode(out)
}

/// Raw decryption of the demo vector, padding and all.
fn raw_decrypt(encrypted: &str) -> Vec<u8> {
    let key = aes_key(&SecretString::from(DEMO_KEY)).unwrap();
    let mut buf = STANDARD.decode(encrypted).unwrap();
    let dec = cbc::Decryptor::<Aes256>::new_from_slices(&key[..], &key[..16]).unwrap();
    dec.decrypt_padded_mut::<NoPadding>(&mut buf)
        .unwrap()
        .to_vec()
}

/// A plaintext in WeChat's layout with the given padding bytes appended.
fn layout(xml: &str, app_id: &str, declared_len: u32, pad: &[u8]) -> Vec<u8> {
    let mut plain = vec![7u8; 16];
    plain.extend_from_slice(&declared_len.to_be_bytes());
    plain.extend_from_slice(xml.as_bytes());
    plain.extend_from_slice(app_id.as_bytes());
    plain.extend_from_slice(pad);
    plain
}

/// Proper padding for `content_len` bytes.
fn pkcs7_32(content_len: usize) -> Vec<u8> {
    let n = 32 - content_len % 32;
    vec![n as u8; n]
}

#[test]
fn demo_vector_decrypts_to_the_published_xml() {
    let xml = decrypt(&demo_keys(), DEMO_ENCRYPT).unwrap();
    assert_eq!(xml, DEMO_XML);
    assert!(xml.contains("<MsgId>6054768590064713728</MsgId>"));
}

#[test]
fn demo_vector_is_reproduced_by_encrypt() {
    // The demo's random prefix, taken from the published ciphertext: with
    // it, `encrypt` must give back exactly the published `Encrypt`.
    let plain = raw_decrypt(DEMO_ENCRYPT);
    let mut random16 = [0u8; 16];
    random16.copy_from_slice(&plain[..16]);
    assert_eq!(plain.len() % 32, 0, "WeChat pads to 32-byte blocks");
    assert_eq!(
        encrypt(&demo_keys(), random16, DEMO_XML).unwrap(),
        DEMO_ENCRYPT
    );
}

#[test]
fn round_trips_every_padding_length() {
    let keys = demo_keys();
    // Content lengths covering all 32 pad values, 32 (a full block) included.
    for extra in 0..40 {
        let xml = format!(
            "<xml><Content><![CDATA[{}]]></Content></xml>",
            "退".repeat(extra)
        );
        let encrypted = encrypt(&keys, [extra as u8; 16], &xml).unwrap();
        assert_eq!(STANDARD.decode(&encrypted).unwrap().len() % 32, 0);
        assert_eq!(decrypt(&keys, &encrypted).unwrap(), xml);
    }
    assert_eq!(
        decrypt(&keys, &encrypt(&keys, [0; 16], "").unwrap()).unwrap(),
        ""
    );
}

#[test]
fn every_payload_length_from_0_to_64_bytes_round_trips() {
    let keys = demo_keys();
    for len in 0..=64 {
        let xml: String = "<xml/>abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
            .chars()
            .take(len)
            .collect();
        assert_eq!(xml.len(), len);
        let encrypted = encrypt(&keys, [len as u8; 16], &xml).unwrap();
        assert_eq!(STANDARD.decode(&encrypted).unwrap().len() % 32, 0, "length {len}");
        assert_eq!(decrypt(&keys, &encrypted).unwrap(), xml, "length {len}");
    }
}

#[test]
fn keys_are_validated() {
    let new = |key: &str| {
        AccountKeys::new(
            DEMO_APPID,
            SecretString::from("t"),
            Some(SecretString::from(key)),
        )
    };
    assert!(new(DEMO_KEY).is_ok());
    for bad in [
        &DEMO_KEY[..42],
        &format!("{DEMO_KEY}="),
        &format!("{DEMO_KEY}A"),
        "abcdefghijklmnopqrstuvwxyz0123456789ABCDEF!",
        "abcdefghijklmnopqrstuvwxyz0123456789ABCDEF=",
        "",
    ] {
        let err = new(bad).unwrap_err();
        assert!(matches!(err, WechatError::Config(_)), "{bad}: {err:?}");
        assert!(!err.to_string().contains(bad) || bad.is_empty());
    }
    assert!(AccountKeys::new("", SecretString::from("t"), None).is_err());
    assert!(AccountKeys::new("wx1", SecretString::from(""), None).is_err());
    assert!(AccountKeys::new("wx1", SecretString::from("t"), None).is_ok());
}

#[test]
fn keys_debug_hides_the_secrets() {
    let debug = format!("{:?}", demo_keys());
    assert!(!debug.contains(DEMO_KEY));
    assert!(!debug.contains("spamtest"));
}

#[test]
fn a_plaintext_only_account_cannot_decrypt_or_encrypt() {
    let keys = AccountKeys::new(DEMO_APPID, SecretString::from("t"), None).unwrap();
    assert!(matches!(
        decrypt(&keys, DEMO_ENCRYPT),
        Err(WechatError::Config(_))
    ));
    assert!(matches!(
        encrypt(&keys, [0; 16], "<xml/>"),
        Err(WechatError::Config(_))
    ));
    // Keys built field by field with a broken key are refused, not trusted.
    let broken = AccountKeys {
        encoding_aes_key: Some(SecretString::from("short")),
        ..demo_keys()
    };
    assert!(matches!(
        decrypt(&broken, DEMO_ENCRYPT),
        Err(WechatError::Config(_))
    ));
}

#[test]
fn wrong_app_id_is_refused() {
    let other = AccountKeys {
        app_id: "wx0000000000000000".into(),
        ..demo_keys()
    };
    let err = decrypt(&other, DEMO_ENCRYPT).unwrap_err();
    assert!(matches!(err, WechatError::AppIdMismatch));
    assert_eq!(err.kind().http_status(), 403);
    // A prefix of the right AppID is not the AppID.
    let prefix = AccountKeys {
        app_id: DEMO_APPID[..10].into(),
        ..demo_keys()
    };
    assert!(matches!(
        decrypt(&prefix, DEMO_ENCRYPT),
        Err(WechatError::AppIdMismatch)
    ));
}

#[test]
fn wrong_key_fails_cleanly() {
    let other = AccountKeys::new(
        DEMO_APPID,
        SecretString::from("spamtest"),
        Some(SecretString::from(
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopq",
        )),
    )
    .unwrap();
    let err = decrypt(&other, DEMO_ENCRYPT).unwrap_err();
    assert_eq!(err.kind().http_status(), 400, "{err:?}");
}

#[test]
fn broken_ciphertexts_are_decrypt_errors() {
    let keys = demo_keys();
    let decrypt_err = |encrypted: &str| match decrypt(&keys, encrypted) {
        Err(e @ WechatError::Decrypt(_)) => e.to_string(),
        other => panic!("expected a Decrypt error, got {other:?}"),
    };
    let bytes = STANDARD.decode(DEMO_ENCRYPT).unwrap();

    assert!(decrypt_err("not base64!").contains("base64"));
    assert!(decrypt_err("").contains("AES blocks"));
    // Truncated by a byte, and by whole blocks (the padding is then wrong
    // or the inner length runs past the end).
    assert!(decrypt_err(&STANDARD.encode(&bytes[..bytes.len() - 1])).contains("AES blocks"));
    for cut in [16, 32, 64, 160] {
        decrypt_err(&STANDARD.encode(&bytes[..bytes.len() - cut]));
    }
    // A flipped bit in the last block garbles the padding.
    let mut flipped = bytes.clone();
    let n = flipped.len();
    flipped[n - 17] ^= 0x01;
    decrypt_err(&STANDARD.encode(&flipped));

    let xml = "<xml/>";
    let content = 16 + 4 + xml.len() + DEMO_APPID.len();
    let good = layout(xml, DEMO_APPID, xml.len() as u32, &pkcs7_32(content));
    assert_eq!(decrypt(&keys, &raw_encrypt(&good)).unwrap(), xml);

    // Bad padding: inconsistent bytes, zero, more than a 32-byte block.
    let mut inconsistent = good.clone();
    let n = inconsistent.len();
    inconsistent[n - 2] ^= 0x55;
    assert!(decrypt_err(&raw_encrypt(&inconsistent)).contains("padding"));
    let mut zero = good.clone();
    *zero.last_mut().unwrap() = 0;
    assert!(decrypt_err(&raw_encrypt(&zero)).contains("padding"));
    let over = layout(xml, DEMO_APPID, xml.len() as u32, &[33u8; 33]);
    let over = [over.as_slice(), &vec![33u8; (32 - over.len() % 32) % 32]].concat();
    assert!(decrypt_err(&raw_encrypt(&over)).contains("padding"));

    // Inner length past the end, and u32::MAX.
    for declared in [xml.len() as u32 + DEMO_APPID.len() as u32 + 1, u32::MAX] {
        let long = layout(xml, DEMO_APPID, declared, &pkcs7_32(content));
        assert!(decrypt_err(&raw_encrypt(&long)).contains("length"));
    }
    // Shorter than the 20-byte header once unpadded.
    assert!(decrypt_err(&raw_encrypt(&[vec![1u8; 16], vec![16u8; 16]].concat())).contains("short"));
    // XML that is not UTF-8.
    let latin1 = layout("\u{e9}", DEMO_APPID, 1, &[]);
    let mut not_utf8 = latin1[..20].to_vec();
    not_utf8.push(0xe9);
    not_utf8.extend_from_slice(DEMO_APPID.as_bytes());
    not_utf8.extend_from_slice(&pkcs7_32(not_utf8.len()));
    assert!(decrypt_err(&raw_encrypt(&not_utf8)).contains("UTF-8"));
}
