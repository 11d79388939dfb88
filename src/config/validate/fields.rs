//! The field checks the section checks share: priorities, language codes,
//! required secrets, skill proficiencies, HTTP URLs.

use secrecy::{ExposeSecret, SecretString};

use crate::config::load::Problems;

pub(super) fn priority(value: i32, key: &str, p: &mut Problems) {
    if !(-500..=500).contains(&value) {
        p.push(key, "must be between -500 and 500");
    }
}

/// A language code as routing compares them: lower-case ISO 639-1 or a
/// short tag such as `zh-hk`.
pub(super) fn language(value: &str, key: &str, p: &mut Problems) {
    let ok = (2..=8).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_lowercase() || b == b'-');
    if !ok {
        p.push(key, "must be a lower-case language code such as `zh` or `en`");
    }
}

pub(super) fn required_secret(value: &Option<SecretString>, key: &str, p: &mut Problems) {
    if value.as_ref().is_none_or(|s| s.expose_secret().is_empty()) {
        p.push(key, "is required (or the same key with `_file`)");
    }
}

pub(super) fn proficiencies(skills: &std::collections::BTreeMap<String, u8>, at: &str, p: &mut Problems) {
    for (skill, level) in skills {
        if !(1..=5).contains(level) {
            p.push(format!("{at}.{skill}"), "proficiency must be between 1 and 5");
        }
    }
}

pub(super) fn http_url(s: &str, key: &str, p: &mut Problems) {
    match url::Url::parse(s) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
        _ => p.push(key, "must be an http:// or https:// URL"),
    }
}
