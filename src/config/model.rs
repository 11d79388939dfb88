//! The typed configuration, section by section. Field comments live in
//! `config/default.toml`; these types only say what shape each key has.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;
use switchboard_core::Channel;

/// The whole configuration, after loading and validation.
#[derive(Clone, Debug)]
pub struct Settings {
    /// `[server]`
    pub server: ServerSettings,
    /// `[log]`
    pub log: LogSettings,
    /// `[shutdown]`
    pub shutdown: ShutdownSettings,
    /// `[nats]`
    pub nats: NatsSettings,
    /// `[redis]`
    pub redis: RedisSettings,
    /// `[routing]`
    pub routing: RoutingSettings,
    /// `[outbound]`
    pub outbound: OutboundSettings,
    /// `[delivery]`
    pub delivery: DeliverySettings,
    /// `[outbox]`
    pub outbox: OutboxSettings,
    /// `[channels.*]`
    pub channels: ChannelsSettings,
    /// `[queues.<name>]`
    pub queues: BTreeMap<String, QueueSettings>,
    /// `[agents.<id>]`
    pub agents: BTreeMap<String, AgentSettings>,
    /// `[[rules]]`
    pub rules: Vec<RuleSettings>,
    /// `[sla]`
    pub sla: SlaSettings,
    /// `[calendars.<name>]`
    pub calendars: BTreeMap<String, CalendarSettings>,
    /// The sources these settings were loaded from, read again by a reload.
    pub source: Option<super::Loader>,
}

/// `[server]`
#[derive(Clone, Debug, Deserialize)]
pub struct ServerSettings {
    /// Listen address.
    pub listen: SocketAddr,
    /// The public base URL providers call.
    pub public_url: String,
    /// The admin API token.
    pub admin_token: Option<SecretString>,
    /// File holding the admin API token.
    pub admin_token_file: Option<PathBuf>,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Per-request time limit.
    pub request_timeout_secs: u64,
    /// Time a client has to send a request's head, from the connection's
    /// start or from the head's first byte after an idle keep-alive.
    pub header_read_timeout_secs: u64,
    /// A keep-alive connection with no request for this long is closed.
    pub idle_timeout_secs: u64,
    /// Time a client has to send a request's whole body, once its head is in.
    pub body_read_timeout_secs: u64,
    /// Open connections at most (web chat sockets included).
    pub max_connections: usize,
}


impl ServerSettings {
    /// `header_read_timeout_secs` as a duration.
    pub fn header_read_timeout(&self) -> Duration {
        Duration::from_secs(self.header_read_timeout_secs)
    }

    /// `idle_timeout_secs` as a duration.
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.idle_timeout_secs)
    }

    /// `body_read_timeout_secs` as a duration.
    pub fn body_read_timeout(&self) -> Duration {
        Duration::from_secs(self.body_read_timeout_secs)
    }

    /// The public URL without a trailing slash, ready to have a path appended.
    pub fn public_base(&self) -> &str {
        self.public_url.trim_end_matches('/')
    }
}

/// `[log]`
#[derive(Clone, Debug, Deserialize)]
pub struct LogSettings {
    /// `text` or `json`.
    pub format: LogFormat,
    /// A tracing filter directive.
    pub level: String,
}


/// The log line format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// `[shutdown]`
#[derive(Clone, Debug, Deserialize)]
pub struct ShutdownSettings {
    /// Bound on the graceful drain.
    pub timeout_secs: u64,
}


impl ShutdownSettings {
    /// The drain bound.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_secs)
    }
}

/// `[nats]`
#[derive(Clone, Debug, Deserialize)]
pub struct NatsSettings {
    /// Server URL, or several separated by commas (the seed servers of a
    /// cluster; the client learns the others from the cluster itself).
    pub url: String,
    /// Prefix of every subject, stream and consumer.
    pub prefix: String,
    /// Bound on waiting for a publish ack at intake.
    pub publish_timeout_ms: u64,
    /// Stream replicas.
    pub stream_replicas: usize,
    /// Retention of the inbound and outbound streams.
    pub stream_max_age_secs: u64,
    /// Retention of the events stream.
    pub events_max_age_secs: u64,
    /// Redelivery delay of an unacknowledged message.
    pub ack_wait_secs: u64,
    /// Most deliveries of one message.
    pub max_deliver: i64,
    /// JetStream de-duplication window.
    pub duplicate_window_secs: u64,
}


impl NatsSettings {
    /// The seed servers named by `url`.
    pub fn servers(&self) -> Result<Vec<async_nats::ServerAddr>, String> {
        self.url
            .split(',')
            .map(str::trim)
            .map(|url| {
                if !url.starts_with("nats://") && !url.starts_with("tls://") {
                    return Err(format!("`{url}` must start with nats:// or tls://"));
                }
                url.parse::<async_nats::ServerAddr>().map_err(|e| format!("`{url}`: {e}"))
            })
            .collect()
    }

    /// The publish ack bound.
    pub fn publish_timeout(&self) -> Duration {
        Duration::from_millis(self.publish_timeout_ms)
    }
}

/// `[redis]`
#[derive(Clone, Debug, Deserialize)]
pub struct RedisSettings {
    /// Server URL (may hold a password, so it is a secret).
    pub url: SecretString,
    /// File holding the URL.
    pub url_file: Option<PathBuf>,
    /// Prefix (hash tag) of every key.
    pub prefix: String,
    /// Connect and command timeout.
    pub timeout_ms: u64,
}


/// `[routing]`
#[derive(Clone, Debug, Deserialize)]
pub struct RoutingSettings {
    /// Queue for conversations no rule matched.
    pub default_queue: String,
    /// Concurrent routings per replica.
    pub workers: usize,
    /// Memory of provider message ids.
    pub dedupe_ttl_secs: u64,
    /// An open conversation idle longer than this is closed on the next
    /// message (0: always join).
    pub join_window_secs: u64,
    /// A conversation resolved this recently reopens (0: never).
    pub reopen_window_secs: u64,
    /// Sticky routing window (0: none).
    pub sticky_window_secs: u64,
    /// Missed offers in a row that set an agent away (0: never).
    pub offer_misses_away: u32,
    /// Period of the offer/wrap-up sweep.
    pub sweep_interval_ms: u64,
    /// Waiting conversations looked at per queue when capacity frees.
    pub drain_depth: u32,
}


/// `[outbox]`: the relay that publishes what a step could not.
#[derive(Clone, Debug, Deserialize)]
pub struct OutboxSettings {
    /// An entry still unpublished this long after its step is the relay's.
    pub relay_after_ms: u64,
    /// How often each replica's relay looks.
    pub relay_interval_ms: u64,
    /// How long a relay's claim keeps other relays off its entries.
    pub relay_lease_ms: u64,
    /// Entries claimed per look.
    pub relay_batch: usize,
}

impl OutboxSettings {
    /// The relay's period.
    pub fn interval(&self) -> Duration {
        Duration::from_millis(self.relay_interval_ms)
    }
}

/// Retry policy shared by the outbound sender and agent delivery.
#[derive(Clone, Debug, Deserialize)]
pub struct RetrySettings {
    /// Attempts within one delivery.
    pub max_attempts: u32,
    /// Backoff base.
    pub base_delay_ms: u64,
    /// Cap on one wait.
    pub max_delay_ms: u64,
    /// Timeout of one request.
    pub request_timeout_ms: u64,
    /// Concurrent sends per replica.
    pub workers: usize,
}

impl RetrySettings {
    /// Backoff base.
    pub fn base_delay(&self) -> Duration {
        Duration::from_millis(self.base_delay_ms)
    }
    /// Cap on one wait.
    pub fn max_delay(&self) -> Duration {
        Duration::from_millis(self.max_delay_ms)
    }
    /// Timeout of one request.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }
}

/// `[outbound]`
pub type OutboundSettings = RetrySettings;
/// `[delivery]`
pub type DeliverySettings = RetrySettings;


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

/// `[queues.<name>]`
#[derive(Clone, Debug, Deserialize)]
pub struct QueueSettings {
    /// Required skills with minimum proficiency.
    #[serde(default)]
    pub skills: BTreeMap<String, u8>,
    /// Higher is served first.
    #[serde(default)]
    pub priority: i32,
    /// Assignment mode.
    #[serde(default)]
    pub mode: QueueMode,
    /// Offer mode: time to accept.
    #[serde(default = "default_offer_timeout")]
    pub offer_timeout_secs: u64,
    /// Overflow queue.
    pub overflow: Option<String>,
    /// SLA policy.
    pub sla: Option<String>,
    /// Steps that widen the search as a conversation waits.
    #[serde(default)]
    pub bullseye: Vec<BullseyeStep>,
}

/// One bullseye step of a queue.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BullseyeStep {
    /// Seconds of waiting (since the conversation was queued) before the step.
    pub after_secs: u64,
    /// Proficiency levels below the requirement that are accepted from now.
    #[serde(default)]
    pub relax: u8,
    /// Move the conversation to the queue's overflow queue.
    #[serde(default)]
    pub overflow: bool,
}

impl Default for QueueSettings {
    fn default() -> Self {
        QueueSettings {
            skills: BTreeMap::new(),
            priority: 0,
            mode: QueueMode::Auto,
            offer_timeout_secs: default_offer_timeout(),
            overflow: None,
            sla: None,
            bullseye: Vec::new(),
        }
    }
}

fn default_offer_timeout() -> u64 {
    30
}

/// How a queue hands conversations to agents (defined in `model`).
pub use crate::model::QueueMode;

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
    /// The agent's mailbox.
    Email {
        /// Mailbox address.
        address: String,
    },
    /// `P.agent.<id>` (always published; listed for clarity).
    Nats {},
}

/// `[[rules]]`
#[derive(Clone, Debug, Deserialize)]
pub struct RuleSettings {
    /// Rule name, for logs and decisions.
    pub name: String,
    /// Conditions, all of which must hold.
    #[serde(default)]
    pub when: RuleWhen,
    /// What a match sets.
    #[serde(default)]
    pub then: RuleThen,
}

/// The conditions of a rule.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct RuleWhen {
    /// Regex on the message text (case-insensitive).
    pub text: Option<String>,
    /// Channel.
    pub channel: Option<String>,
    /// Channel account.
    pub account: Option<String>,
    /// Customer tier.
    pub tier: Option<String>,
    /// Customer language.
    pub language: Option<String>,
}

/// The actions of a rule.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct RuleThen {
    /// Target queue.
    pub queue: Option<String>,
    /// Priority override.
    pub priority: Option<i32>,
    /// Required skills.
    #[serde(default)]
    pub skills: BTreeMap<String, u8>,
    /// Tags to add.
    #[serde(default)]
    pub tags: Vec<String>,
}

/// `[sla]`
#[derive(Clone, Debug, Default, Deserialize)]
pub struct SlaSettings {
    /// `[sla.policies.<name>]`
    #[serde(default)]
    pub policies: BTreeMap<String, SlaPolicy>,
    /// `[[sla.overrides]]`: policies by queue, channel and priority, first
    /// match wins over the queue's own `sla`.
    #[serde(default)]
    pub overrides: Vec<SlaOverride>,
    /// Where `notify` escalations go (webhook, slack).
    #[serde(default)]
    pub supervisors: Vec<DeliverTarget>,
    /// How long before a WeChat conversation's 48-hour reply window closes
    /// the agent is warned and the conversation prioritized.
    #[serde(default = "default_wechat_window_warn")]
    pub wechat_window_warn_secs: u64,
}

fn default_wechat_window_warn() -> u64 {
    4 * 3600
}

/// `[[sla.overrides]]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlaOverride {
    /// Only this queue.
    pub queue: Option<String>,
    /// Only this channel.
    pub channel: Option<String>,
    /// Only conversations of at least this priority.
    pub min_priority: Option<i32>,
    /// The policy to use.
    pub policy: String,
}

/// `[sla.policies.<name>]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlaPolicy {
    /// First response target.
    pub first_response_secs: Option<u64>,
    /// Next response target.
    pub next_response_secs: Option<u64>,
    /// Resolution target.
    pub resolution_secs: Option<u64>,
    /// Share of a target at which to warn.
    #[serde(default = "default_warn_at")]
    pub warn_at: f64,
    /// Business calendar, or `always`.
    #[serde(default = "default_calendar")]
    pub calendar: String,
    /// Whether the resolution clock pauses while the conversation waits on
    /// the customer.
    #[serde(default = "default_true")]
    pub pause_when_waiting: bool,
    /// Escalation on warning, in order.
    #[serde(default)]
    pub on_warning: Vec<Escalation>,
    /// Escalation on breach, in order.
    #[serde(default)]
    pub on_breach: Vec<Escalation>,
}

fn default_true() -> bool {
    true
}

fn default_warn_at() -> f64 {
    0.8
}

fn default_calendar() -> String {
    "always".into()
}

/// One escalation action.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum Escalation {
    /// Raise the conversation's priority.
    RaisePriority {
        /// By how much.
        #[serde(default = "default_raise")]
        by: i32,
    },
    /// Move it to another queue, keeping its waiting time (default: the
    /// queue's overflow).
    Reroute {
        /// The queue.
        queue: Option<String>,
    },
    /// Send the event to the `[sla] supervisors` targets.
    Notify,
    /// Take it from its agent and offer it to another.
    Reoffer,
}

fn default_raise() -> i32 {
    10
}

/// `[calendars.<name>]`
#[derive(Clone, Debug, Deserialize)]
pub struct CalendarSettings {
    /// IANA time zone.
    pub timezone: String,
    /// Intervals per weekday (`mon`..`sun`), `HH:MM-HH:MM`.
    #[serde(default)]
    pub hours: BTreeMap<String, Vec<String>>,
    /// Dates (`YYYY-MM-DD`) with no business hours.
    #[serde(default)]
    pub holidays: Vec<String>,
    /// Dated overrides (`"2026-12-24" = ["09:00-12:00"]`; `[]` closes the day).
    #[serde(default)]
    pub overrides: BTreeMap<String, Vec<String>>,
}
