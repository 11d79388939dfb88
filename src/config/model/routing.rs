//! What decides where a conversation goes: `[routing]`, `[queues.<name>]` with
//! their bullseye steps, and `[[rules]]`.

use std::collections::BTreeMap;

use serde::Deserialize;

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
    /// A conversation whose agent's last reply went unanswered this long
    /// stops counting toward the agent's capacity (0: never).
    pub pending_after_secs: u64,
    /// Such a conversation is resolved (`reason: "inactive"`) after this
    /// long (0: never).
    pub auto_close_after_secs: u64,
    /// Sent to the customer as the conversation auto-closes (empty: nothing).
    pub auto_close_reply: super::Localized,
    /// Words by which a customer talking to a bot asks for a person.
    pub handoff_keywords: Vec<String>,
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
    /// Delivery targets of every event of the queue's conversations (a
    /// team's group chat robot, a webhook).
    #[serde(default)]
    pub deliver: Vec<super::DeliverTarget>,
    /// The `[bots.<name>]` that answers the queue's new conversations first.
    pub bot: Option<String>,
    /// The `[calendars.<name>]` of the queue's office hours.
    pub calendar: Option<String>,
    /// Sent once per conversation to a customer writing while `calendar` is
    /// closed; `{opens_at}` is the next opening.
    pub closed_reply: Option<super::Texts>,
    /// Sent once to a customer who has waited `waiting_reply_after_secs`;
    /// `{position}` and `{wait}`.
    pub waiting_reply: Option<super::Texts>,
    /// How long a conversation waits before `waiting_reply`.
    #[serde(default = "default_waiting_after")]
    pub waiting_reply_after_secs: u64,
}

fn default_waiting_after() -> u64 {
    120
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
            deliver: Vec::new(),
            bot: None,
            calendar: None,
            closed_reply: None,
            waiting_reply: None,
            waiting_reply_after_secs: default_waiting_after(),
        }
    }
}

fn default_offer_timeout() -> u64 {
    30
}

/// How a queue hands conversations to agents (defined in `model`).
pub use crate::model::QueueMode;

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
