//! The providers' signatures, written from their documentation (not taken
//! from the daemon's channel crates, so that the simulator checks them
//! independently): Twilio's `X-Twilio-Signature`, WeChat's `signature` /
//! `msg_signature` and safe-mode sealing, Mailgun's webhook signature and
//! the shop's signed web chat identity.

use aes::cipher::{block_padding::NoPadding, BlockEncryptMut as _, KeyIvInit as _};
use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha1::{Digest as _, Sha1};
use sha2::Sha256;

/// Base64 as WeChat's samples decode an EncodingAESKey: padding optional,
/// non-zero trailing bits allowed (WeChat's own demo key has them).
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `base64(HMAC-SHA1(auth_token, url + each parameter sorted by name as
/// name + value))`: Twilio's `X-Twilio-Signature`.
pub fn twilio(auth_token: &str, url: &str, params: &[(&str, &str)]) -> String {
    let mut sorted = params.to_vec();
    sorted.sort();
    let mut data = url.to_owned();
    for (name, value) in sorted {
        data.push_str(name);
        data.push_str(value);
    }
    // HMAC takes a key of any length, so this cannot fail.
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(auth_token.as_bytes()) else { return String::new() };
    mac.update(data.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

/// `hex(sha1(concat(sort(parts))))`: WeChat's `signature` (token,
/// timestamp, nonce) and `msg_signature` (the same plus `Encrypt`).
pub fn wechat(parts: &[&str]) -> String {
    let mut sorted = parts.to_vec();
    sorted.sort_unstable();
    hex(&Sha1::digest(sorted.concat().as_bytes()))
}

/// Why a WeChat push cannot be sealed.
#[derive(Debug, thiserror::Error)]
#[error("encoding_aes_key must be 43 base64 characters")]
pub struct BadAesKey;

/// WeChat's safe-mode sealing: AES-256-CBC under
/// `base64(EncodingAESKey + "=")`, IV its first 16 bytes, over
/// `random16 ‖ len(xml) u32 big-endian ‖ xml ‖ AppID`, padded PKCS#7 to a
/// multiple of 32 bytes; base64.
pub fn wechat_seal(encoding_aes_key: &str, app_id: &str, random16: [u8; 16], xml: &str) -> Result<String, BadAesKey> {
    if encoding_aes_key.len() != 43 {
        return Err(BadAesKey);
    }
    let key = LENIENT.decode(format!("{encoding_aes_key}=")).map_err(|_| BadAesKey)?;
    if key.len() != 32 {
        return Err(BadAesKey);
    }
    let xml_len = u32::try_from(xml.len()).map_err(|_| BadAesKey)?;
    let mut plain = random16.to_vec();
    plain.extend_from_slice(&xml_len.to_be_bytes());
    plain.extend_from_slice(xml.as_bytes());
    plain.extend_from_slice(app_id.as_bytes());
    let pad = 32 - plain.len() % 32;
    plain.resize(plain.len() + pad, u8::try_from(pad).unwrap_or(32));
    let cipher = cbc::Encryptor::<aes::Aes256>::new_from_slices(&key, &key[..16]).map_err(|_| BadAesKey)?;
    Ok(STANDARD.encode(cipher.encrypt_padded_vec_mut::<NoPadding>(&plain)))
}

/// `hex(HMAC-SHA256(key, message))`.
fn hmac_sha256_hex(key: &str, message: &str) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key.as_bytes()) else { return String::new() };
    mac.update(message.as_bytes());
    hex(&mac.finalize().into_bytes())
}

/// `hex(HMAC-SHA256(signing_key, timestamp + token))`: Mailgun's webhook
/// signature.
pub fn mailgun(signing_key: &str, timestamp: &str, token: &str) -> String {
    hmac_sha256_hex(signing_key, &format!("{timestamp}{token}"))
}

/// The shop's signed web chat identity:
/// `hex(HMAC-SHA256(identity_secret, "customer_id|name|tier|timestamp"))`.
pub fn identity(secret: &str, customer_id: &str, name: &str, tier: &str, timestamp: i64) -> String {
    hmac_sha256_hex(secret, &format!("{customer_id}|{name}|{tier}|{timestamp}"))
}

#[cfg(test)]
#[path = "sign_tests.rs"]
mod tests;
