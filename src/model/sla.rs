//! SLA clocks as the API shows them. The clock kinds and states are
//! defined here and used by `sla::clock`, which keeps the clocks.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Which clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClockKind {
    /// First customer message → first agent reply.
    FirstResponse,
    /// Customer message after a reply → next agent reply.
    NextResponse,
    /// Opened → resolved.
    Resolution,
    /// WeChat's 48-hour customer-service window.
    ReplyWindow,
}

impl ClockKind {
    /// The stable name (timer ids, metrics, the API).
    pub fn as_str(self) -> &'static str {
        match self {
            ClockKind::FirstResponse => "first_response",
            ClockKind::NextResponse => "next_response",
            ClockKind::Resolution => "resolution",
            ClockKind::ReplyWindow => "reply_window",
        }
    }

    /// The kind named `s`.
    pub fn parse(s: &str) -> Option<ClockKind> {
        [ClockKind::FirstResponse, ClockKind::NextResponse, ClockKind::Resolution, ClockKind::ReplyWindow]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// Whether a clock counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClockState {
    /// Counting.
    Running,
    /// Not counting, will resume (resolution while waiting on the customer).
    Paused,
    /// Done.
    Stopped,
}

/// How a clock is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SlaOutcome {
    /// Counting, within its target.
    Running,
    /// Paused, within its target.
    Paused,
    /// Stopped within its target.
    Met,
    /// Past its target.
    Breached,
}

impl SlaOutcome {
    /// The stable name (metrics, the API).
    pub fn as_str(self) -> &'static str {
        match self {
            SlaOutcome::Running => "running",
            SlaOutcome::Paused => "paused",
            SlaOutcome::Met => "met",
            SlaOutcome::Breached => "breached",
        }
    }
}

/// One SLA clock of a conversation.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct SlaClock {
    /// Which clock.
    pub clock: ClockKind,
    /// The SLA policy (`""` for the reply window).
    pub policy: String,
    /// The business-hours calendar it counts in.
    pub calendar: String,
    /// Its target, in business seconds.
    pub target_secs: f64,
    /// Whether it counts.
    pub state: ClockState,
    /// How it is doing.
    pub outcome: SlaOutcome,
    /// When it breaches, while running and not breached.
    pub due: Option<DateTime<Utc>>,
    /// When it warns, while running and not warned.
    pub warn_at: Option<DateTime<Utc>>,
    /// Business seconds used so far.
    pub elapsed_business_secs: f64,
    /// Whether the warning fired.
    pub warned: bool,
    /// Whether it breached.
    pub breached: bool,
    /// When it stopped.
    pub stopped_at: Option<DateTime<Utc>>,
}
