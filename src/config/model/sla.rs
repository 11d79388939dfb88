//! Service levels: `[sla]` (policies, overrides, supervisors, escalations) and
//! the business `[calendars.<name>]` their clocks run on.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::DeliverTarget;

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
    /// `[sla.notify]`: named lists of targets, for `notify` escalations
    /// with `to = "<list>"` (a team lead, a manager).
    #[serde(default)]
    pub notify: BTreeMap<String, Vec<DeliverTarget>>,
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
    /// `[[sla.policies.<name>.warnings]]`: further warning thresholds of
    /// the clocks (an escalation ladder), each with its own actions.
    #[serde(default)]
    pub warnings: Vec<WarningStep>,
}

/// One further warning threshold of a policy's clocks.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WarningStep {
    /// Share of the target at which it fires (0 to 1, exclusive).
    pub at: f64,
    /// Only this clock (`first_response`, `next_response`,
    /// `resolution`); every clock of the policy without it.
    pub clock: Option<String>,
    /// What it does, in order.
    #[serde(default)]
    pub actions: Vec<Escalation>,
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
        /// Also when an agent holds it (it is taken from the agent);
        /// default: only while it waits in its queue.
        #[serde(default)]
        with_agent: bool,
    },
    /// Send the event to the `[sla] supervisors` targets, or to the named
    /// `[sla.notify]` list.
    Notify {
        /// The `[sla.notify]` list (default: the supervisors).
        #[serde(default)]
        to: Option<String>,
    },
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
