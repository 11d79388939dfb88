//! Encryption at rest (`[security] data_keys`): customer data sealed with
//! ChaCha20-Poly1305 before it is written to Redis, opened where it is read.
//!
//! A sealed value is `enc:v1:<key id>:<base64(nonce || ciphertext)>`, the
//! prefix up to the key id being the AEAD's associated data (a value moved
//! to another key id does not open). The first key seals, every key opens;
//! a value without the prefix is plaintext written before the keys were
//! set, read as it is (turning encryption on is gradual).
//!
//! The keyring is process-wide: the daemon installs it at start from the
//! configuration ([`install`]); without it [`seal`] is the identity.

use std::sync::Arc;

use arc_swap::ArcSwapOption;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use rand::RngCore;

/// What starts every sealed value.
pub const PREFIX: &str = "enc:v1:";

const NONCE_LEN: usize = 12;

/// Why a sealed value does not open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// Sealed with a key id that is not in `[security] data_keys`.
    #[error("value sealed with data key {0:?}, which is not configured in [security] data_keys")]
    UnknownKey(String),
    /// The key id is configured but the value does not open with it (the
    /// key file changed, or the value was altered).
    #[error("value sealed with data key {0:?} does not open with that key (wrong key or altered value)")]
    Corrupt(String),
    /// A sealed value and no keys configured at all.
    #[error("value sealed with data key {0:?}, but [security] data_keys is empty")]
    NoKeys(String),
}

impl SealError {
    /// The key id the value names.
    pub fn key_id(&self) -> &str {
        match self {
            SealError::UnknownKey(id) | SealError::Corrupt(id) | SealError::NoKeys(id) => id,
        }
    }
}

/// The data keys: the first seals, all open.
pub struct Keyring {
    keys: Vec<(String, ChaCha20Poly1305)>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key material.
        f.debug_struct("Keyring").field("ids", &self.ids()).finish()
    }
}

impl Keyring {
    /// A keyring of `(id, 32-byte key)`, current key first; `None` if empty.
    pub fn new(keys: &[(String, [u8; 32])]) -> Option<Keyring> {
        let keys: Vec<_> =
            keys.iter().map(|(id, k)| (id.clone(), ChaCha20Poly1305::new(Key::from_slice(k)))).collect();
        (!keys.is_empty()).then_some(Keyring { keys })
    }

    /// The key ids, current first.
    pub fn ids(&self) -> Vec<&str> {
        self.keys.iter().map(|(id, _)| id.as_str()).collect()
    }

    /// The id of the key that seals.
    pub fn current(&self) -> &str {
        &self.keys[0].0
    }

    /// `value` sealed with the current key.
    pub fn seal(&self, value: &str) -> String {
        let (id, cipher) = &self.keys[0];
        let mut nonce = [0u8; NONCE_LEN];
        rand::thread_rng().fill_bytes(&mut nonce);
        let aad = format!("{PREFIX}{id}");
        // Encryption only fails past the cipher's length limit (256 GiB).
        let sealed = cipher
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: value.as_bytes(), aad: aad.as_bytes() })
            .unwrap_or_default();
        let mut raw = nonce.to_vec();
        raw.extend_from_slice(&sealed);
        format!("{aad}:{}", STANDARD.encode(raw))
    }

    /// The plaintext of `value` (itself when it is not sealed).
    pub fn open(&self, value: &str) -> Result<String, SealError> {
        let Some((id, body)) = split(value) else { return Ok(value.to_owned()) };
        let Some((_, cipher)) = self.keys.iter().find(|(k, _)| k == id) else {
            return Err(SealError::UnknownKey(id.to_owned()));
        };
        let corrupt = || SealError::Corrupt(id.to_owned());
        let raw = STANDARD.decode(body).map_err(|_| corrupt())?;
        if raw.len() < NONCE_LEN {
            return Err(corrupt());
        }
        let (nonce, sealed) = raw.split_at(NONCE_LEN);
        let aad = format!("{PREFIX}{id}");
        let plain = cipher
            .decrypt(Nonce::from_slice(nonce), Payload { msg: sealed, aad: aad.as_bytes() })
            .map_err(|_| corrupt())?;
        String::from_utf8(plain).map_err(|_| corrupt())
    }

    /// `value` sealed again with the current key when it is plaintext or
    /// sealed with an older key; `None` when it already is current.
    pub fn reseal(&self, value: &str) -> Result<Option<String>, SealError> {
        if key_id(value) == Some(self.current()) {
            return Ok(None);
        }
        Ok(Some(self.seal(&self.open(value)?)))
    }
}

/// `(key id, base64 body)` of a sealed value.
fn split(value: &str) -> Option<(&str, &str)> {
    value.strip_prefix(PREFIX)?.split_once(':')
}

/// The key id a sealed value names (`None`: plaintext).
pub fn key_id(value: &str) -> Option<&str> {
    split(value).map(|(id, _)| id)
}

static KEYRING: ArcSwapOption<Keyring> = ArcSwapOption::const_empty();

/// Installs the process's keyring (`None`: encryption off).
pub fn install(keyring: Option<Keyring>) {
    KEYRING.store(keyring.map(Arc::new));
}

/// The installed keyring.
pub fn keyring() -> Option<Arc<Keyring>> {
    KEYRING.load_full()
}

/// `value` sealed with the current key; unchanged without keys.
pub fn seal(value: &str) -> String {
    match &*KEYRING.load() {
        Some(k) => k.seal(value),
        None => value.to_owned(),
    }
}

/// The plaintext of a stored value (plaintext values as they are).
pub fn open(value: &str) -> Result<String, SealError> {
    match &*KEYRING.load() {
        Some(k) => k.open(value),
        None => match key_id(value) {
            Some(id) => Err(SealError::NoKeys(id.to_owned())),
            None => Ok(value.to_owned()),
        },
    }
}

/// The plaintext of a stored value, or, when it does not open, nothing
/// (`""`) and the error logged with the key id: an answer never carries
/// ciphertext.
pub fn open_or_blank(value: &str, what: &str) -> String {
    open(value).unwrap_or_else(|e| {
        tracing::error!(key_id = e.key_id(), what, error = %e, "cannot decrypt a stored value; answered blank");
        String::new()
    })
}

/// A conversation history entry (JSON) with its customer data sealed:
/// `text`, each `attachments[].url` and each `media_urls[]`. Other fields
/// (direction, ids, times) stay readable, for the scripts that count and
/// erase. Unchanged without keys or when it is not a JSON object.
pub fn seal_entry(json: &str) -> String {
    map_entry(json, &|s| Ok(seal(s))).unwrap_or_else(|_| json.to_owned())
}

/// A history entry with its sealed fields opened; a field that does not
/// open is blanked and logged (see [`open_or_blank`]).
pub fn open_entry(mut entry: serde_json::Value) -> serde_json::Value {
    map_value(&mut entry, &|s| Ok(open_or_blank(s, "message"))).unwrap_or_default();
    entry
}

/// A history entry sealed again with the current key (`None`: nothing to
/// change).
pub fn reseal_entry(keyring: &Keyring, json: &str) -> Result<Option<String>, SealError> {
    let changed = std::cell::Cell::new(false);
    let out = map_entry(json, &|s| match keyring.reseal(s)? {
        Some(v) => {
            changed.set(true);
            Ok(v)
        }
        None => Ok(s.to_owned()),
    })?;
    Ok(changed.get().then_some(out))
}

type FieldFn<'a> = dyn Fn(&str) -> Result<String, SealError> + 'a;

fn map_entry(json: &str, f: &FieldFn<'_>) -> Result<String, SealError> {
    let Ok(mut v) = serde_json::from_str::<serde_json::Value>(json) else { return Ok(json.to_owned()) };
    if !v.is_object() || !map_value(&mut v, f)? {
        return Ok(json.to_owned());
    }
    Ok(v.to_string())
}

/// Applies `f` to the sealed fields of an entry; whether any was there.
fn map_value(v: &mut serde_json::Value, f: &FieldFn<'_>) -> Result<bool, SealError> {
    use serde_json::Value;
    let mut any = false;
    let mut apply = |slot: &mut Value| -> Result<(), SealError> {
        if let Value::String(s) = slot {
            if !s.is_empty() {
                *s = f(s)?;
                any = true;
            }
        }
        Ok(())
    };
    if let Some(text) = v.get_mut("text") {
        apply(text)?;
    }
    if let Some(Value::Array(list)) = v.get_mut("attachments") {
        for a in list {
            if let Some(url) = a.get_mut("url") {
                apply(url)?;
            }
        }
    }
    if let Some(Value::Array(list)) = v.get_mut("media_urls") {
        for u in list {
            apply(u)?;
        }
    }
    Ok(any)
}

/// Parses a key file: 64 hexadecimal digits (32 bytes, e.g. from
/// `openssl rand -hex 32`), surrounding whitespace ignored.
pub fn parse_key(text: &str) -> Result<[u8; 32], String> {
    let hex = text.trim();
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err("must hold a 32-byte key as 64 hexadecimal digits (openssl rand -hex 32)".into());
    }
    let mut key = [0u8; 32];
    for (i, byte) in key.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|e| e.to_string())?;
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(ids: &[(&str, u8)]) -> Keyring {
        let keys: Vec<_> = ids.iter().map(|(id, b)| (id.to_string(), [*b; 32])).collect();
        Keyring::new(&keys).expect("keys")
    }

    #[test]
    fn seal_then_open_gives_the_text_back_and_hides_it() {
        let k = ring(&[("k1", 1)]);
        let sealed = k.seal("你好 secret order 42");
        assert!(sealed.starts_with("enc:v1:k1:"), "{sealed}");
        assert!(!sealed.contains("secret"));
        assert_ne!(sealed, k.seal("你好 secret order 42"), "a fresh nonce each time");
        assert_eq!(k.open(&sealed).expect("opens"), "你好 secret order 42");
        assert_eq!(k.open("plain text").expect("plaintext"), "plain text");
    }

    #[test]
    fn a_tampered_value_is_an_error_naming_the_key() {
        let k = ring(&[("k1", 1)]);
        let sealed = k.seal("hello");
        let (head, body) = sealed.rsplit_once(':').expect("body");
        let mut raw = STANDARD.decode(body).expect("b64");
        let last = raw.len() - 1;
        raw[last] ^= 1;
        let tampered = format!("{head}:{}", STANDARD.encode(raw));
        assert_eq!(k.open(&tampered), Err(SealError::Corrupt("k1".into())));
        assert_eq!(k.open("enc:v1:k1:!!"), Err(SealError::Corrupt("k1".into())));
        assert_eq!(k.open("enc:v1:k1:AAAA"), Err(SealError::Corrupt("k1".into())));
        // The key id is bound: the same body under another configured id fails.
        let two = ring(&[("k1", 1), ("k2", 1)]);
        assert_eq!(two.open(&sealed.replace("enc:v1:k1:", "enc:v1:k2:")), Err(SealError::Corrupt("k2".into())));
        // A wrong key with the right id.
        assert_eq!(ring(&[("k1", 9)]).open(&sealed), Err(SealError::Corrupt("k1".into())));
    }

    #[test]
    fn an_unknown_key_id_is_named() {
        let sealed = ring(&[("old", 3)]).seal("hello");
        let err = ring(&[("k1", 1)]).open(&sealed).expect_err("unknown");
        assert_eq!(err, SealError::UnknownKey("old".into()));
        assert!(err.to_string().contains("\"old\""), "{err}");
    }

    #[test]
    fn rotation_opens_old_values_and_reseals_them_with_the_current_key() {
        let old = ring(&[("k1", 1)]);
        let sealed = old.seal("hello");
        let rotated = ring(&[("k2", 2), ("k1", 1)]);
        assert_eq!(rotated.open(&sealed).expect("old opens"), "hello");
        let again = rotated.reseal(&sealed).expect("reseal").expect("changed");
        assert_eq!(key_id(&again), Some("k2"));
        assert_eq!(rotated.open(&again).expect("opens"), "hello");
        assert_eq!(rotated.reseal(&again).expect("reseal"), None, "already current");
        assert_eq!(key_id(&rotated.reseal("plain").expect("seal").expect("changed")), Some("k2"));
    }

    #[test]
    fn history_entries_seal_their_text_and_urls_only() {
        let k = ring(&[("k1", 1)]);
        let entry = r#"{"id":"m1","direction":"inbound","text":"hi there","attachments":[{"kind":"image","url":"https://x/a.png"}],"media_urls":["https://x/b.png"],"at":"2024-01-01T00:00:00Z"}"#;
        let sealed = map_entry(entry, &|s| Ok(k.seal(s))).expect("seal");
        assert!(!sealed.contains("hi there") && !sealed.contains("x/a.png") && !sealed.contains("x/b.png"), "{sealed}");
        let v: serde_json::Value = serde_json::from_str(&sealed).expect("json");
        assert_eq!(v["direction"], "inbound");
        let mut opened = v.clone();
        map_value(&mut opened, &|s| k.open(s)).expect("open");
        assert_eq!(opened, serde_json::from_str::<serde_json::Value>(entry).expect("json"));
        let again = reseal_entry(&ring(&[("k2", 2), ("k1", 1)]), &sealed).expect("reseal").expect("changed");
        assert!(again.matches("enc:v1:k2:").count() == 3, "{again}");
        assert_eq!(map_entry("not json", &|s| Ok(k.seal(s))).expect("as is"), "not json");
    }

    #[test]
    fn key_files_hold_64_hex_digits() {
        let key = parse_key(&format!("{}\n", "ab".repeat(32))).expect("key");
        assert_eq!(key, [0xab; 32]);
        assert!(parse_key("abc").is_err());
        assert!(parse_key(&"zz".repeat(32)).is_err());
    }
}
