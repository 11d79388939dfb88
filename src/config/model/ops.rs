//! Watching the floor: `[supervisor]` (the live view) and `[alerts]` (the
//! peak warnings).

use std::time::Duration;

use serde::Deserialize;

/// `[supervisor]`: the live view (`/api/v1/supervisor/*`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SupervisorSettings {
    /// Seconds between two snapshots on the stream.
    pub stream_every_secs: u64,
    /// At most this many clocks at risk are listed.
    pub at_risk_limit: usize,
}

impl SupervisorSettings {
    /// The stream's period.
    pub fn stream_every(&self) -> Duration {
        Duration::from_secs(self.stream_every_secs)
    }
}

/// `[alerts]`: thresholds of the peak warnings (0: that alert is off).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsSettings {
    /// Seconds between two evaluations (each replica evaluates).
    pub evaluate_every_secs: u64,
    /// The last 5 minutes' inbound rate over the trailing average 5-minute
    /// rate by more than this factor is a surge (0: off).
    pub inbound_surge_factor: f64,
    /// Hours of the trailing average.
    pub surge_baseline_hours: u64,
    /// Below this many inbound messages per minute (over the last 5
    /// minutes) no surge fires.
    pub surge_min_per_minute: f64,
    /// More conversations waiting in a queue than this (0: off).
    pub queue_waiting_max: u64,
    /// A queue's longest wait beyond this many seconds (0: off).
    pub longest_wait_secs_max: u64,
    /// Fewer agents available than this (0: off).
    pub agents_available_min: u64,
    /// A firing alert resolves only once its figure has been back on the
    /// right side of the threshold for this many seconds (0: at the first
    /// evaluation that finds it so), so a figure hovering at the
    /// threshold does not fire and resolve again and again.
    pub clear_after_secs: u64,
}

impl AlertsSettings {
    /// The evaluator's period.
    pub fn evaluate_every(&self) -> Duration {
        Duration::from_secs(self.evaluate_every_secs)
    }
}
