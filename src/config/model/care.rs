//! After the conversation: `[csat]`, the satisfaction survey asked once a
//! conversation is resolved.

use std::path::PathBuf;

use secrecy::SecretString;
use serde::Deserialize;

/// A text per language: the conversation's language picks, else `en`,
/// else `zh`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Localized {
    /// Chinese.
    #[serde(default)]
    pub zh: String,
    /// English.
    #[serde(default)]
    pub en: String,
}

impl Localized {
    /// The text for `language` (`zh…` → Chinese), falling back to the other.
    pub fn pick(&self, language: Option<&str>) -> &str {
        let zh = language.is_some_and(|l| l.to_ascii_lowercase().starts_with("zh"));
        let (first, second) = if zh { (&self.zh, &self.en) } else { (&self.en, &self.zh) };
        if first.is_empty() { second } else { first }
    }
}

/// `[csat]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CsatSettings {
    /// Whether resolved conversations are asked for a score.
    pub enabled: bool,
    /// Seconds after the resolve before the question goes out.
    pub delay_secs: u64,
    /// The question per language.
    pub question: Localized,
    /// 2, 3 or 5 points.
    pub scale: u8,
    /// Whether the web chat and email page offer a comment.
    pub comment: bool,
    /// How long after the question a score is accepted.
    pub window_secs: u64,
    /// A score at or below this notifies `[sla] supervisors` (0: never).
    pub alert_at_or_below: u8,
    /// Whether conversations closed for inactivity are asked too.
    pub ask_auto_closed: bool,
    /// Key signing the email survey links (or `link_secret_file`).
    pub link_secret: Option<SecretString>,
    /// File holding `link_secret`.
    pub link_secret_file: Option<PathBuf>,
}
