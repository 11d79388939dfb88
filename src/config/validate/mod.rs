//! Secret resolution and the semantic checks that types alone cannot make.
//! Each check reports with its key path and carries on. `Settings::validate`
//! runs the checks of each group of sections in turn; they live in one
//! submodule per group, beside the field checks they share (`fields`).

mod bots;
mod care;
mod channels;
mod fields;
mod integrations;
mod ops;
mod routing;
mod secrets;
mod service;
mod sla;
mod targets;

use super::load::Problems;
use super::model::*;

impl Settings {
    /// Checks values and cross-references.
    pub(super) fn validate(&self, p: &mut Problems) {
        self.validate_service(p);
        self.validate_channels(p);
        self.validate_queues(p);
        self.validate_agents(p);
        secrets::unique_tokens(self, p);
        self.validate_rules(p);
        self.validate_sla(p);
        self.validate_calendars(p);
        self.validate_bots(p);
        self.validate_ops(p);
        self.validate_csat(p);
        self.validate_idle(p);
        self.validate_integrations(p);
    }

    /// Whether `name` is a configured queue or the implicit default queue.
    pub fn has_queue(&self, name: &str) -> bool {
        self.queues.contains_key(name) || name == self.routing.default_queue
    }
}
