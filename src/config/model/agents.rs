//! `[agents.<id>]`: an agent's profile, capacity and delivery targets.

use std::collections::BTreeMap;
use std::path::PathBuf;

use secrecy::SecretString;
use serde::Deserialize;
use switchboard_core::Channel;

/// `[agents.<id>]`
#[derive(Clone, Debug, Deserialize)]
pub struct AgentSettings {
    /// Display name.
    pub name: Option<String>,
    /// API bearer token.
    pub token: Option<SecretString>,
    /// File holding the API token.
    pub token_file: Option<PathBuf>,
    /// Status when first seen.
    #[serde(default)]
    pub status: AgentStatus,
    /// Skills with proficiency 1..5.
    #[serde(default)]
    pub skills: BTreeMap<String, u8>,
    /// Languages spoken.
    #[serde(default)]
    pub languages: Vec<String>,
    /// Capacity per channel and in total.
    #[serde(default)]
    pub capacity: Capacity,
    /// Delivery targets.
    #[serde(default)]
    pub deliver: Vec<DeliverTarget>,
    /// After a resolve, the capacity returns this much later.
    #[serde(default)]
    pub wrapup_secs: u64,
    /// The agent's Slack user id (`U…`): their messages in a conversation's
    /// Slack thread act as them.
    pub slack_user: Option<String>,
}

/// Agent presence (defined with the API's other enums in `model`).
pub use crate::model::AgentStatus;

/// How many conversations an agent holds at once.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Capacity {
    /// Web chat.
    #[serde(default)]
    pub chat: u32,
    /// WeChat.
    #[serde(default)]
    pub wechat: u32,
    /// SMS.
    #[serde(default)]
    pub sms: u32,
    /// Email.
    #[serde(default)]
    pub email: u32,
    /// Across channels; defaults to the sum.
    pub total: Option<u32>,
}

impl Capacity {
    /// Capacity on one channel.
    pub fn for_channel(&self, channel: Channel) -> u32 {
        match channel {
            Channel::Webchat => self.chat,
            Channel::Wechat => self.wechat,
            Channel::Sms => self.sms,
            Channel::Email => self.email,
        }
    }

    /// Capacity across channels.
    pub fn total(&self) -> u32 {
        self.total.unwrap_or(self.chat + self.wechat + self.sms + self.email)
    }
}

/// One place an agent's events are delivered.
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum DeliverTarget {
    /// A POST signed per Standard Webhooks.
    Webhook {
        /// Target URL.
        url: String,
        /// `whsec_…` secret.
        secret: Option<SecretString>,
        /// File holding the secret.
        secret_file: Option<PathBuf>,
        /// Secrets being rotated out: every delivery is signed with each of
        /// them too, so the receiver may switch at its own pace.
        #[serde(default)]
        previous_secrets: Vec<SecretString>,
    },
    /// A Slack incoming webhook.
    Slack {
        /// Incoming-webhook URL (it is itself a credential).
        url: SecretString,
    },
    /// The Slack app: one parent message per conversation in `channel`,
    /// every later event in its thread (see `targets::slack_app`).
    #[serde(rename = "slack_app")]
    SlackApp {
        /// Channel id (`C…`) the bot is a member of.
        channel: String,
    },
    /// A WeCom (企业微信) group robot: `markdown` messages (see
    /// `targets::robots`).
    Wecom {
        /// Webhook URL with its `key` (it is itself a credential).
        url: SecretString,
        /// Card language: `zh` (default) or `en`.
        language: Option<String>,
        /// Messages per `rate_window_secs` (default the provider's limit).
        rate_limit: Option<u32>,
        /// The rate limit's window (default 60 s).
        rate_window_secs: Option<u64>,
    },
    /// A DingTalk (钉钉) custom robot: `actionCard` messages, signed when it
    /// has a secret.
    Dingtalk {
        /// Webhook URL with its `access_token` (a credential).
        url: SecretString,
        /// The robot's signing secret (`SEC…`).
        secret: Option<SecretString>,
        /// File holding the secret.
        secret_file: Option<PathBuf>,
        /// Card language: `zh` (default) or `en`.
        language: Option<String>,
        /// Messages per `rate_window_secs` (default the provider's limit).
        rate_limit: Option<u32>,
        /// The rate limit's window (default 60 s).
        rate_window_secs: Option<u64>,
    },
    /// A Feishu/Lark (飞书) custom bot: `interactive` cards, signed when it
    /// has a secret.
    Feishu {
        /// Webhook URL (`…/open-apis/bot/v2/hook/<id>`, a credential).
        url: SecretString,
        /// The bot's signing secret.
        secret: Option<SecretString>,
        /// File holding the secret.
        secret_file: Option<PathBuf>,
        /// Card language: `zh` (default) or `en`.
        language: Option<String>,
        /// Messages per `rate_window_secs` (default the provider's limit).
        rate_limit: Option<u32>,
        /// The rate limit's window (default 60 s).
        rate_window_secs: Option<u64>,
    },
    /// The agent's mailbox.
    Email {
        /// Mailbox address.
        address: String,
    },
    /// `P.agent.<id>` (always published; listed for clarity).
    Nats {},
}
