//! Checks of the `[channels.*]` accounts: their secrets, addresses and
//! numbers, API URLs, and the web chat's limits and allowed origins.

use secrecy::{ExposeSecret, SecretString};

use crate::config::load::Problems;
use crate::config::model::*;
use super::fields::{http_url, required_secret};

impl Settings {
    /// `[channels.*]`: each account, then the web chat.
    pub(super) fn validate_channels(&self, p: &mut Problems) {
        for (name, a) in &self.channels.sms {
            let at = format!("channels.sms.{name}");
            required_secret(&a.auth_token, &format!("{at}.auth_token"), p);
            if a.account_sid.trim().is_empty() {
                p.push(format!("{at}.account_sid"), "must not be empty");
            }
            if switchboard_sms::normalize_e164(&a.from).is_none() {
                p.push(format!("{at}.from"), "must be an E.164 number such as +15005550006");
            }
            http_url(&a.api_base, &format!("{at}.api_base"), p);
        }
        for (name, a) in &self.channels.wechat {
            let at = format!("channels.wechat.{name}");
            required_secret(&a.token, &format!("{at}.token"), p);
            required_secret(&a.app_secret, &format!("{at}.app_secret"), p);
            if a.app_id.trim().is_empty() {
                p.push(format!("{at}.app_id"), "must not be empty");
            }
            if let Some(key) = &a.encoding_aes_key {
                let token = a.token.clone().unwrap_or_else(|| SecretString::from("x"));
                if switchboard_wechat::AccountKeys::new(a.app_id.clone(), token, Some(key.clone())).is_err() {
                    p.push(format!("{at}.encoding_aes_key"), "must be the 43-character EncodingAESKey");
                }
            }
            http_url(&a.api_base, &format!("{at}.api_base"), p);
            if a.require_encryption == Some(true) && a.encoding_aes_key.is_none() {
                p.push(format!("{at}.require_encryption"), "needs `encoding_aes_key` (safe mode)");
            }
            if !(30..=3600).contains(&a.timestamp_window_secs) {
                p.push(format!("{at}.timestamp_window_secs"), "must be between 30 and 3600");
            }
        }
        for (name, a) in &self.channels.email {
            if !a.address.contains('@') {
                p.push(format!("channels.email.{name}.address"), "must be an email address");
            }
            if a.raw_mime_token.as_ref().is_some_and(|t| t.expose_secret().len() < 16) {
                p.push(format!("channels.email.{name}.raw_mime_token"), "must be at least 16 bytes");
            }
        }
        if let Some(w) = &self.channels.webchat {
            validate_webchat(w, p);
        }
    }
}

/// `[channels.webchat]`: a usable session secret, sane limits, and origins
/// written as browsers send them.
pub(super) fn validate_webchat(w: &WebchatSettings, p: &mut Problems) {
    let at = "channels.webchat";
    required_secret(&w.session_secret, &format!("{at}.session_secret"), p);
    let short = |s: &Option<SecretString>| s.as_ref().is_some_and(|s| {
        !s.expose_secret().is_empty() && s.expose_secret().len() < switchboard_webchat::MIN_SECRET_BYTES
    });
    if short(&w.session_secret) {
        p.push(format!("{at}.session_secret"), format!("must be at least {} bytes", switchboard_webchat::MIN_SECRET_BYTES));
    }
    if short(&w.identity_secret) {
        p.push(format!("{at}.identity_secret"), format!("must be at least {} bytes", switchboard_webchat::MIN_SECRET_BYTES));
    }
    if w.session_ttl_secs < 60 || w.session_ttl_secs > switchboard_webchat::MAX_TTL.as_secs() {
        p.push(format!("{at}.session_ttl_secs"), "must be between 60 and 31622400 (366 days)");
    }
    for (i, origin) in w.allowed_origins.iter().enumerate() {
        let canonical = origin_of(origin);
        if origin != "*" && canonical.as_deref() != Some(origin.trim_end_matches('/')) {
            p.push(
                format!("{at}.allowed_origins[{i}]"),
                "must be `*` or an origin such as `https://shop.example` (scheme, host, port if not the default; no path)",
            );
        }
    }
    if !(1..=100).contains(&w.max_sockets_per_visitor) {
        p.push(format!("{at}.max_sockets_per_visitor"), "must be between 1 and 100");
    }
    if !(1..=1_000_000).contains(&w.max_sockets) {
        p.push(format!("{at}.max_sockets"), "must be between 1 and 1000000");
    }
    if w.messages_per_minute == 0 {
        p.push(format!("{at}.messages_per_minute"), "must be at least 1");
    }
    if !(10..=3600).contains(&w.idle_timeout_secs) {
        p.push(format!("{at}.idle_timeout_secs"), "must be between 10 and 3600");
    }
    if !(10..=100_000).contains(&w.history_limit) {
        p.push(format!("{at}.history_limit"), "must be between 10 and 100000");
    }
}
