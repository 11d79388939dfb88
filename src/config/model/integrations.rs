//! `[integrations.*]`: the agents' own tools that act on conversations,
//! both ways (the Slack app).

use std::path::PathBuf;

use secrecy::SecretString;
use serde::Deserialize;

/// `[integrations]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntegrationsSettings {
    /// `[integrations.slack]`
    pub slack: SlackSettings,
}

/// `[integrations.slack]`: the Slack app (bot token for the Web API, signing
/// secret for the Events API).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackSettings {
    /// Bot token (`xoxb-…`) for `chat.postMessage` and `chat.update`.
    pub bot_token: Option<SecretString>,
    /// File holding the bot token.
    pub bot_token_file: Option<PathBuf>,
    /// The app's signing secret (checks `X-Slack-Signature`).
    pub signing_secret: Option<SecretString>,
    /// File holding the signing secret.
    pub signing_secret_file: Option<PathBuf>,
    /// The Web API's base URL.
    pub api_base: String,
    /// A thread message starting with this is an internal note.
    pub note_prefix: String,
}

impl SlackSettings {
    /// The Web API method's URL (`chat.postMessage`).
    pub fn method_url(&self, method: &str) -> String {
        format!("{}/{method}", self.api_base.trim_end_matches('/'))
    }
}
