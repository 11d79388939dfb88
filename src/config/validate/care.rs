//! Checks of `[csat]` and of the quiet conversations' `routing` keys.

use crate::config::load::Problems;
use crate::config::model::*;

impl Settings {
    pub(super) fn validate_idle(&self, p: &mut Problems) {
        let r = &self.routing;
        if r.auto_close_after_secs > 0 && r.pending_after_secs > 0 && r.auto_close_after_secs < r.pending_after_secs {
            p.push("routing.auto_close_after_secs", "must be at least routing.pending_after_secs (or 0: never)");
        }
        let reply = &r.auto_close_reply;
        if reply.zh.chars().count() > 1600 || reply.en.chars().count() > 1600 {
            p.push("routing.auto_close_reply", "must be at most 1600 characters per language");
        }
    }

    pub(super) fn validate_csat(&self, p: &mut Problems) {
        let c = &self.csat;
        if ![2, 3, 5].contains(&c.scale) {
            p.push("csat.scale", "must be 2, 3 or 5");
        }
        if c.alert_at_or_below > c.scale {
            p.push("csat.alert_at_or_below", "must be at most csat.scale (0: never)");
        }
        if c.window_secs == 0 {
            p.push("csat.window_secs", "must be at least 1");
        }
        if c.delay_secs > 7 * 24 * 3600 {
            p.push("csat.delay_secs", "must be at most 604800 (a week)");
        }
        if c.enabled && c.question.zh.trim().is_empty() && c.question.en.trim().is_empty() {
            p.push("csat.question", "needs a text in at least one language");
        }
        if c.enabled && !self.channels.email.is_empty() && c.link_secret.is_none() {
            p.push("csat.link_secret", "is required when the survey is enabled and an email account is configured (it signs the links)");
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Loader;

    #[test]
    fn csat_keys_are_checked_with_their_paths() {
        let problems = Loader::new()
            .without_env()
            .overlay("[csat]\nenabled = true\nscale = 4\nalert_at_or_below = 7\nwindow_secs = 0\nquestion = { zh = \"\", en = \"\" }\n".to_owned())
            .load()
            .err()
            .map(|p| p.to_string())
            .unwrap_or_default();
        for key in ["csat.scale", "csat.alert_at_or_below", "csat.window_secs", "csat.question"] {
            assert!(problems.contains(key), "{key} not reported in: {problems}");
        }
    }
}
