//! Safe mode's message encryption: the account keys, decryption of a push's
//! `<Encrypt>` and encryption for the reply direction (and for tests).
//!
//! WeChat's layout, from its official samples: the EncodingAESKey is 43
//! base64 characters that decode, after appending `=`, to a 32-byte AES-256
//! key; the IV is the first 16 bytes of the key; the cipher is CBC; the
//! plaintext is `16 random bytes || u32 big-endian XML length || XML ||
//! AppID`, padded PKCS#7-style to a multiple of **32** bytes (so the pad
//! value is 1..=32, not 1..=16).
//!
//! Every step of decryption is checked and reported as
//! [`WechatError::Decrypt`] instead of being trusted: the ciphertext is
//! attacker-sized, and the inner length is read from bytes we only just
//! decrypted. Callers verify `msg_signature` before calling [`decrypt`], so
//! an unauthenticated caller never reaches the cipher at all.
//!
//! The base64 engine tolerates non-zero trailing bits because WeChat's own
//! demo key (`…ABCDEFG`) has them, and Java/PHP decoders accept them.

use aes::Aes256;
use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use cbc::cipher::block_padding::NoPadding;
use cbc::cipher::{BlockDecryptMut as _, BlockEncryptMut as _, KeyIvInit as _};
use secrecy::{ExposeSecret as _, SecretString};
use subtle::ConstantTimeEq as _;
use zeroize::Zeroizing;

use crate::error::{Result, WechatError};

/// Length of an EncodingAESKey as the WeChat console shows it.
const KEY_CHARS: usize = 43;

/// WeChat pads to this many bytes, twice the AES block.
const PAD_BLOCK: usize = 32;

/// Random prefix and length field in front of the XML.
const HEADER_LEN: usize = 16 + 4;

/// Base64 as WeChat's Java and PHP samples decode it: standard alphabet,
/// padding optional, non-zero trailing bits allowed.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// What the daemon knows about one Official Account, for verifying and
/// decrypting its pushes.
#[derive(Clone, Debug)]
pub struct AccountKeys {
    /// The account's AppID (`wx…`); safe-mode plaintexts must end with it.
    pub app_id: String,
    /// The Token configured in the WeChat console, the signing secret.
    pub token: SecretString,
    /// The 43-character EncodingAESKey; `None` accepts plaintext pushes only.
    pub encoding_aes_key: Option<SecretString>,
}

impl AccountKeys {
    /// Checks and builds the keys: `app_id` and `token` must be non-empty,
    /// and `encoding_aes_key`, when given, must be exactly 43 base64
    /// characters that decode (after appending `=`) to 32 bytes.
    ///
    /// Errors are [`WechatError::Config`] and never quote the secrets.
    pub fn new(
        app_id: impl Into<String>,
        token: SecretString,
        encoding_aes_key: Option<SecretString>,
    ) -> Result<AccountKeys> {
        let keys = AccountKeys {
            app_id: app_id.into(),
            token,
            encoding_aes_key,
        };
        if keys.app_id.trim().is_empty() {
            return Err(WechatError::Config("app_id must not be empty".into()));
        }
        if keys.token.expose_secret().is_empty() {
            return Err(WechatError::Config("token must not be empty".into()));
        }
        if let Some(key) = &keys.encoding_aes_key {
            aes_key(key)?;
        }
        Ok(keys)
    }

    /// The decoded AES key, or `Config` when the account has none (a
    /// safe-mode push to a plaintext-only account) or it is invalid (keys
    /// built field by field instead of through [`AccountKeys::new`]).
    fn key(&self) -> Result<Zeroizing<[u8; 32]>> {
        match &self.encoding_aes_key {
            Some(key) => aes_key(key),
            None => Err(WechatError::Config(
                "safe-mode push but no encoding_aes_key is configured".into(),
            )),
        }
    }
}

/// Decodes an EncodingAESKey into the 32-byte AES key.
fn aes_key(encoding_aes_key: &SecretString) -> Result<Zeroizing<[u8; 32]>> {
    let invalid = || {
        WechatError::Config(format!(
            "encoding_aes_key must be {KEY_CHARS} base64 characters"
        ))
    };
    let text = encoding_aes_key.expose_secret();
    if text.len() != KEY_CHARS {
        return Err(invalid());
    }
    let mut padded = Zeroizing::new(String::with_capacity(KEY_CHARS + 1));
    padded.push_str(text);
    padded.push('=');
    let decoded = Zeroizing::new(LENIENT.decode(padded.as_bytes()).map_err(|_| invalid())?);
    let mut key = Zeroizing::new([0u8; 32]);
    if decoded.len() != key.len() {
        return Err(invalid());
    }
    key.copy_from_slice(&decoded);
    Ok(key)
}

/// Decrypts a push's `<Encrypt>` value and returns the XML inside, after
/// checking that the AppID after it is the account's.
///
/// Call only after `msg_signature` has verified.
pub(crate) fn decrypt(keys: &AccountKeys, encrypted: &str) -> Result<String> {
    let key = keys.key()?;
    let mut buf = Zeroizing::new(
        LENIENT
            .decode(encrypted.trim().as_bytes())
            .map_err(|_| WechatError::Decrypt("Encrypt is not base64"))?,
    );
    if buf.is_empty() || buf.len() % 16 != 0 {
        return Err(WechatError::Decrypt(
            "ciphertext is not a whole number of AES blocks",
        ));
    }
    let decryptor = cbc::Decryptor::<Aes256>::new_from_slices(&key[..], &key[..16])
        .map_err(|_| WechatError::Config("AES key or IV has the wrong length".into()))?;
    let plain = decryptor
        .decrypt_padded_mut::<NoPadding>(&mut buf)
        .map_err(|_| WechatError::Decrypt("ciphertext is not a whole number of AES blocks"))?;
    let content = unpad(plain)?;
    if content.len() < HEADER_LEN {
        return Err(WechatError::Decrypt("plaintext is too short"));
    }
    let mut length = [0u8; 4];
    length.copy_from_slice(&content[16..HEADER_LEN]);
    let xml_len = usize::try_from(u32::from_be_bytes(length))
        .map_err(|_| WechatError::Decrypt("XML length is out of range"))?;
    let rest = &content[HEADER_LEN..];
    if xml_len > rest.len() {
        return Err(WechatError::Decrypt("XML length is out of range"));
    }
    let (xml, app_id) = rest.split_at(xml_len);
    // AppIDs are not secret, but comparing in constant time costs nothing
    // and keeps this path free of data-dependent branches.
    if !bool::from(app_id.ct_eq(keys.app_id.as_bytes())) {
        return Err(WechatError::AppIdMismatch);
    }
    let xml = std::str::from_utf8(xml).map_err(|_| WechatError::Decrypt("XML is not UTF-8"))?;
    Ok(xml.to_owned())
}

/// Strips WeChat's 32-byte-block PKCS#7 padding: the last byte `n` must be
/// 1..=32 and the last `n` bytes must all be `n`.
fn unpad(plain: &[u8]) -> Result<&[u8]> {
    let bad = WechatError::Decrypt("bad padding");
    let Some(&last) = plain.last() else {
        return Err(bad);
    };
    let n = usize::from(last);
    if n == 0 || n > PAD_BLOCK || n > plain.len() {
        return Err(bad);
    }
    let (content, pad) = plain.split_at(plain.len() - n);
    if pad.iter().any(|&b| b != last) {
        return Err(bad);
    }
    Ok(content)
}

/// Encrypts `xml` for the account the way WeChat does, with the 16 "random"
/// bytes supplied by the caller (so tests are deterministic; real replies
/// must pass fresh random bytes), and returns the base64 `Encrypt` value.
///
/// [`WechatError::Config`] when the account has no valid EncodingAESKey, or
/// when the XML is longer than the u32 length field can say.
pub fn encrypt(keys: &AccountKeys, random16: [u8; 16], xml: &str) -> Result<String> {
    let key = keys.key()?;
    let xml_len = u32::try_from(xml.len())
        .map_err(|_| WechatError::Config("XML is too long to encrypt".into()))?;
    let content_len = HEADER_LEN + xml.len() + keys.app_id.len();
    let pad = PAD_BLOCK - content_len % PAD_BLOCK;
    let mut buf = Zeroizing::new(Vec::with_capacity(content_len + pad));
    buf.extend_from_slice(&random16);
    buf.extend_from_slice(&xml_len.to_be_bytes());
    buf.extend_from_slice(xml.as_bytes());
    buf.extend_from_slice(keys.app_id.as_bytes());
    // `pad` is 1..=32, so it fits a byte.
    buf.resize(content_len + pad, u8::try_from(pad).unwrap_or(0));
    let len = buf.len();
    let encryptor = cbc::Encryptor::<Aes256>::new_from_slices(&key[..], &key[..16])
        .map_err(|_| WechatError::Config("AES key or IV has the wrong length".into()))?;
    let cipher = encryptor
        .encrypt_padded_mut::<NoPadding>(&mut buf, len)
        .map_err(|_| WechatError::Config("padding produced a partial block".into()))?;
    Ok(STANDARD.encode(cipher))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test should fail loudly at the first surprise
#[path = "crypto_tests.rs"]
mod tests;
