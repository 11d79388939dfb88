//! Checks of `[supervisor]` and `[alerts]`.

use crate::config::load::Problems;
use crate::config::model::*;

impl Settings {
    pub(super) fn validate_ops(&self, p: &mut Problems) {
        let s = &self.supervisor;
        if !(1..=60).contains(&s.stream_every_secs) {
            p.push("supervisor.stream_every_secs", "must be between 1 and 60");
        }
        if !(1..=1000).contains(&s.at_risk_limit) {
            p.push("supervisor.at_risk_limit", "must be between 1 and 1000");
        }
        let a = &self.alerts;
        if !(1..=3600).contains(&a.evaluate_every_secs) {
            p.push("alerts.evaluate_every_secs", "must be between 1 and 3600");
        }
        if !a.inbound_surge_factor.is_finite() || (a.inbound_surge_factor != 0.0 && a.inbound_surge_factor < 1.0) {
            p.push("alerts.inbound_surge_factor", "must be 0 (off) or at least 1");
        }
        // The per-minute counts are kept 25 hours.
        if a.clear_after_secs > 86_400 {
            p.push("alerts.clear_after_secs", "must be at most 86400 (a day)");
        }
        if !(1..=24).contains(&a.surge_baseline_hours) {
            p.push("alerts.surge_baseline_hours", "must be between 1 and 24");
        }
        if !a.surge_min_per_minute.is_finite() || a.surge_min_per_minute < 0.0 {
            p.push("alerts.surge_min_per_minute", "must be 0 or more");
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Loader;

    #[test]
    fn alert_and_supervisor_keys_are_checked_with_their_paths() {
        let problems = Loader::new()
            .without_env()
            .overlay(
                "[supervisor]\nstream_every_secs = 0\nat_risk_limit = 0\n[alerts]\nevaluate_every_secs = 0\n\
                 inbound_surge_factor = 0.5\nsurge_baseline_hours = 48\nsurge_min_per_minute = -1.0\n"
                    .to_owned(),
            )
            .load()
            .err()
            .map(|p| p.to_string())
            .unwrap_or_default();
        for key in [
            "supervisor.stream_every_secs",
            "supervisor.at_risk_limit",
            "alerts.evaluate_every_secs",
            "alerts.inbound_surge_factor",
            "alerts.surge_baseline_hours",
            "alerts.surge_min_per_minute",
        ] {
            assert!(problems.contains(key), "{key} not reported in: {problems}");
        }
        let settings = Loader::new().without_env().load().unwrap_or_else(|p| panic!("{p}"));
        assert_eq!((settings.alerts.evaluate_every_secs, settings.alerts.queue_waiting_max), (15, 50));
        assert_eq!((settings.supervisor.stream_every_secs, settings.supervisor.at_risk_limit), (2, 50));
    }
}
