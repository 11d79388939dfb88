//! Checks of `[integrations.slack]` and of what refers to it (`slack_app`
//! targets, `agents.<id>.slack_user`). Messages name keys, never a secret.

use crate::config::load::Problems;
use crate::config::model::*;

impl Settings {
    pub(super) fn validate_integrations(&self, p: &mut Problems) {
        let s = &self.integrations.slack;
        if !super::targets::https_or_local(&s.api_base) {
            p.push("integrations.slack.api_base", "must be an https:// URL (http:// only to 127.0.0.1, for tests)");
        }
        if s.note_prefix.trim().is_empty() || s.note_prefix.len() > 16 {
            p.push("integrations.slack.note_prefix", "must be 1 to 16 characters, not only spaces");
        }
        let uses_app = self
            .agents
            .values()
            .flat_map(|a| a.deliver.iter())
            .chain(self.queues.values().flat_map(|q| q.deliver.iter()))
            .chain(self.sla.supervisors.iter())
            .any(|t| matches!(t, DeliverTarget::SlackApp { .. }));
        if uses_app {
            super::fields::required_secret(&s.bot_token, "integrations.slack.bot_token", p);
        }
        let mut seen: std::collections::BTreeMap<&str, &str> = std::collections::BTreeMap::new();
        for (name, a) in &self.agents {
            let Some(user) = a.slack_user.as_deref() else { continue };
            let key = format!("agents.{name}.slack_user");
            if !slack_id_ok(user, &['U', 'W']) {
                p.push(key.as_str(), "must be a Slack user id (`U…` or `W…`, upper-case letters and digits)");
            }
            match seen.get(user) {
                Some(first) => p.push(key, format!("is the same Slack user as `agents.{first}.slack_user`; each is unique")),
                None => {
                    seen.insert(user, name);
                }
            }
        }
    }
}

/// A `slack_app` target's channel id at key path `t`.
pub(super) fn slack_channel(channel: &str, t: &str, p: &mut Problems) {
    if !slack_id_ok(channel, &['C', 'G', 'D']) {
        p.push(format!("{t}.channel"), "must be a Slack channel id (`C…`, `G…` or `D…`)");
    }
}

/// A Slack id: one of `first`, then 2 to 20 upper-case letters or digits.
fn slack_id_ok(id: &str, first: &[char]) -> bool {
    let mut chars = id.chars();
    chars.next().is_some_and(|c| first.contains(&c))
        && (3..=21).contains(&id.len())
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::slack_id_ok;
    use crate::config::validate::targets::https_or_local as api_base_ok;

    fn problems(toml: &str) -> Vec<String> {
        match crate::config::Loader::new().without_env().overlay(toml.to_owned()).load() {
            Ok(_) => Vec::new(),
            Err(p) => p.0.iter().map(|p| p.to_string()).collect(),
        }
    }

    #[test]
    fn a_slack_app_target_needs_the_bot_token_and_slack_users_are_unique() {
        let p = problems(
            r#"
            [agents.alice]
            token = "a"
            slack_user = "U0ALICE"
            deliver = [ { kind = "slack_app", channel = "C0TEAM" } ]
            [agents.bob]
            token = "b"
            slack_user = "U0ALICE"
            "#,
        );
        assert!(p.iter().any(|p| p.starts_with("integrations.slack.bot_token: is required")), "{p:?}");
        assert!(p.iter().any(|p| p.starts_with("agents.bob.slack_user: is the same Slack user as `agents.alice")), "{p:?}");
        let p = problems(
            r#"
            [integrations.slack]
            bot_token = "xoxb-secret-value"
            signing_secret = "shh"
            [agents.alice]
            token = "a"
            slack_user = "U0ALICE"
            deliver = [ { kind = "slack_app", channel = "nope" } ]
            "#,
        );
        assert_eq!(p, ["agents.alice.deliver[0].channel: must be a Slack channel id (`C…`, `G…` or `D…`)"]);
        assert!(!p.concat().contains("xoxb-secret-value"));
        let ok = crate::config::Loader::new()
            .without_env()
            .overlay("[integrations.slack]\nbot_token = \"xoxb-1\"\n".to_owned())
            .load()
            .unwrap_or_else(|p| panic!("{p}"));
        assert_eq!(ok.integrations.slack.api_base, "https://slack.com/api");
        assert_eq!(ok.integrations.slack.note_prefix, "//");
        assert!(!format!("{:?}", ok.integrations).contains("xoxb-1"), "redacted");
        // A rotated secret is seen by a reload and needs no restart.
        let rotated = crate::config::Loader::new()
            .without_env()
            .overlay("[integrations.slack]\nbot_token = \"xoxb-2\"\nsigning_secret = \"s2\"\n".to_owned())
            .load()
            .unwrap_or_else(|p| panic!("{p}"));
        assert_eq!(
            crate::config::changes::changed_secrets(&ok, &rotated),
            ["integrations.slack.bot_token", "integrations.slack.signing_secret"]
        );
        assert!(crate::config::changes::restart_needed(&ok, &rotated).is_empty());
    }

    #[test]
    fn slack_ids_and_the_api_base_are_checked() {
        assert!(slack_id_ok("U012ABCDEF", &['U', 'W']));
        assert!(slack_id_ok("W0A1", &['U', 'W']));
        assert!(!slack_id_ok("u012abcdef", &['U', 'W']));
        assert!(!slack_id_ok("C012ABCDEF", &['U', 'W']));
        assert!(!slack_id_ok("U", &['U']));
        assert!(!slack_id_ok("U01 2", &['U']));
        assert!(api_base_ok("https://slack.com/api"));
        assert!(api_base_ok("http://127.0.0.1:3000/api"));
        assert!(!api_base_ok("http://slack.com/api"));
        assert!(!api_base_ok("nope"));
    }
}
