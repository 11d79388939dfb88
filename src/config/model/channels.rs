//! The `[channels.*]` sections: one account type per provider (SMS, WeChat,
//! email) and the web chat, with their defaults.

use std::collections::BTreeMap;
use std::path::PathBuf;

use secrecy::SecretString;
use serde::Deserialize;

/// `[channels]`
#[derive(Clone, Debug, Default)]
pub struct ChannelsSettings {
    /// `[channels.sms.<account>]`
    pub sms: BTreeMap<String, SmsAccount>,
    /// `[channels.wechat.<account>]`
    pub wechat: BTreeMap<String, WechatAccount>,
    /// `[channels.email.<account>]`
    pub email: BTreeMap<String, EmailAccount>,
    /// `[channels.webchat]`
    pub webchat: Option<WebchatSettings>,
}

/// `[channels.sms.<account>]`
#[derive(Clone, Debug, Deserialize)]
pub struct SmsAccount {
    /// Twilio Account SID.
    pub account_sid: String,
    /// Auth token: webhook signatures and API Basic auth.
    pub auth_token: Option<SecretString>,
    /// File holding the auth token.
    pub auth_token_file: Option<PathBuf>,
    /// Our number, E.164.
    pub from: String,
    /// Messages API base URL.
    #[serde(default = "default_twilio_api")]
    pub api_base: String,
}

fn default_twilio_api() -> String {
    "https://api.twilio.com".into()
}

/// `[channels.wechat.<account>]`
#[derive(Clone, Debug, Deserialize)]
pub struct WechatAccount {
    /// AppID.
    pub app_id: String,
    /// AppSecret, for the access token.
    pub app_secret: Option<SecretString>,
    /// File holding the AppSecret.
    pub app_secret_file: Option<PathBuf>,
    /// Push token.
    pub token: Option<SecretString>,
    /// File holding the push token.
    pub token_file: Option<PathBuf>,
    /// EncodingAESKey (safe mode).
    pub encoding_aes_key: Option<SecretString>,
    /// File holding the EncodingAESKey.
    pub encoding_aes_key_file: Option<PathBuf>,
    /// API base URL.
    #[serde(default = "default_wechat_api")]
    pub api_base: String,
    /// Refuse plaintext pushes; default: whether `encoding_aes_key` is set.
    pub require_encryption: Option<bool>,
    /// How far a push's signed timestamp may be from now, either way.
    #[serde(default = "default_wechat_window")]
    pub timestamp_window_secs: u64,
}

fn default_wechat_window() -> u64 {
    300
}

impl WechatAccount {
    /// Whether plaintext pushes are refused: `require_encryption`, by
    /// default on exactly when the account has an EncodingAESKey.
    pub fn requires_encryption(&self) -> bool {
        self.require_encryption.unwrap_or(self.encoding_aes_key.is_some())
    }
}

fn default_wechat_api() -> String {
    "https://api.weixin.qq.com".into()
}

/// `[channels.email.<account>]`
#[derive(Clone, Debug, Deserialize)]
pub struct EmailAccount {
    /// Our mailbox address.
    pub address: String,
    /// SMTP relay URL (may hold credentials).
    pub smtp_url: Option<SecretString>,
    /// File holding the SMTP URL.
    pub smtp_url_file: Option<PathBuf>,
    /// Mailgun webhook signing key.
    pub mailgun_signing_key: Option<SecretString>,
    /// File holding the Mailgun signing key.
    pub mailgun_signing_key_file: Option<PathBuf>,
    /// Shared secret a raw MIME post must carry (`X-Switchboard-Mail-Token`
    /// or HTTP Basic password). Absent: raw MIME is refused on an account
    /// with a Mailgun key, taken unsigned on one without.
    pub raw_mime_token: Option<SecretString>,
    /// File holding the raw MIME token.
    pub raw_mime_token_file: Option<PathBuf>,
    /// Attachments larger than this are listed but their content dropped.
    #[serde(default = "default_attachment_cap")]
    pub max_attachment_bytes: u64,
}

fn default_attachment_cap() -> u64 {
    10 << 20
}

impl EmailAccount {
    /// The domain of our address (Message-IDs, loop detection).
    pub fn domain(&self) -> &str {
        self.address.rsplit_once('@').map_or("", |(_, d)| d)
    }
}

/// `[channels.webchat]`
#[derive(Clone, Debug, Deserialize)]
pub struct WebchatSettings {
    /// Signs visitor session tokens.
    pub session_secret: Option<SecretString>,
    /// File holding the session secret.
    pub session_secret_file: Option<PathBuf>,
    /// Verifies the shop's signed customer identity; absent: identities are
    /// refused and visitors chat unlinked.
    pub identity_secret: Option<SecretString>,
    /// File holding the identity secret.
    pub identity_secret_file: Option<PathBuf>,
    /// Lifetime of a visitor session token.
    #[serde(default = "default_session_ttl")]
    pub session_ttl_secs: u64,
    /// Page origins (`https://shop.example`) allowed to open sessions and
    /// sockets besides `server.public_url`'s own; `"*"` allows any.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// New messages one visitor may send per minute (all replicas).
    #[serde(default = "default_webchat_rate")]
    pub messages_per_minute: u32,
    /// A socket with no frame from the widget for this long is closed.
    #[serde(default = "default_webchat_idle")]
    pub idle_timeout_secs: u64,
    /// Messages kept per visitor for `history`.
    #[serde(default = "default_webchat_history")]
    pub history_limit: u32,
    /// Sockets one visitor may hold open on one instance.
    #[serde(default = "default_sockets_per_visitor")]
    pub max_sockets_per_visitor: u32,
    /// Visitor sockets one instance holds open at most.
    #[serde(default = "default_max_sockets")]
    pub max_sockets: u32,
}

fn default_sockets_per_visitor() -> u32 {
    5
}

fn default_max_sockets() -> u32 {
    10_000
}

fn default_session_ttl() -> u64 {
    3600
}

fn default_webchat_rate() -> u32 {
    30
}

fn default_webchat_idle() -> u64 {
    90
}

fn default_webchat_history() -> u32 {
    1000
}

impl WebchatSettings {
    /// Whether a page of `origin` may use the web chat; `public_url` is
    /// switchboard's own (the demo page).
    pub fn origin_allowed(&self, origin: &str, public_url: &str) -> bool {
        let own = origin_of(public_url);
        let origin = origin.trim_end_matches('/');
        own.is_some_and(|o| o.eq_ignore_ascii_case(origin))
            || self.allowed_origins.iter().any(|a| a == "*" || a.trim_end_matches('/').eq_ignore_ascii_case(origin))
    }
}

/// `scheme://host[:port]` of a URL, as browsers send it in `Origin`.
pub fn origin_of(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    let origin = parsed.origin();
    origin.is_tuple().then(|| origin.ascii_serialization())
}
