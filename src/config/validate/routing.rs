//! Checks of what routes a conversation: the default queue, `[queues.*]` and
//! their bullseye steps and delivery targets, `[agents.*]` with theirs, and
//! `[[rules]]` (regexes, channels, queues they name).

use switchboard_core::Channel;

use crate::config::load::{valid_name, Problems};
use crate::config::model::*;
use super::fields::{language, priority, proficiencies, required_secret};
use super::targets::delivery_target;

impl Settings {
    /// `routing.default_queue` and `[queues.*]`.
    pub(super) fn validate_queues(&self, p: &mut Problems) {
        if !valid_name(&self.routing.default_queue) {
            p.push("routing.default_queue", "names are lower-case letters, digits, `_` and `-`");
        }
        for (name, q) in &self.queues {
            let at = format!("queues.{name}");
            proficiencies(&q.skills, &format!("{at}.skills"), p);
            if let Some(o) = &q.overflow {
                if !self.has_queue(o) {
                    p.push(format!("{at}.overflow"), format!("unknown queue `{o}`"));
                } else if o == name {
                    p.push(format!("{at}.overflow"), "a queue cannot overflow to itself");
                }
            }
            if let Some(s) = &q.sla {
                if !self.sla.policies.contains_key(s) {
                    p.push(format!("{at}.sla"), format!("unknown SLA policy `{s}`"));
                }
            }
            priority(q.priority, &format!("{at}.priority"), p);
            let mut last = 0;
            for (i, step) in q.bullseye.iter().enumerate() {
                let key = format!("{at}.bullseye[{i}]");
                if step.after_secs == 0 || step.after_secs <= last {
                    p.push(format!("{key}.after_secs"), "must be above 0 and above the previous step's");
                }
                last = step.after_secs;
                if step.relax > 4 {
                    p.push(format!("{key}.relax"), "must be between 0 and 4");
                }
                if step.overflow && q.overflow.is_none() {
                    p.push(format!("{key}.overflow"), "needs the queue's `overflow`");
                }
                if !step.overflow && step.relax == 0 {
                    p.push(key, "does nothing: set `relax` or `overflow = true`");
                }
            }
            if q.mode == QueueMode::Offer && q.offer_timeout_secs == 0 {
                p.push(format!("{at}.offer_timeout_secs"), "must be at least 1");
            }
            for (i, target) in q.deliver.iter().enumerate() {
                let t = format!("{at}.deliver[{i}]");
                if matches!(target, DeliverTarget::Email { .. } | DeliverTarget::Nats {}) {
                    p.push(t, "queue targets are `webhook`, `slack`, `slack_app`, `wecom`, `dingtalk` or `feishu`");
                } else {
                    delivery_target(target, &t, self.delivery.require_signed_bots, p);
                }
            }
        }
    }

    /// `[agents.*]`: token, skills, languages, capacity, delivery targets.
    pub(super) fn validate_agents(&self, p: &mut Problems) {
        for (name, a) in &self.agents {
            let at = format!("agents.{name}");
            required_secret(&a.token, &format!("{at}.token"), p);
            proficiencies(&a.skills, &format!("{at}.skills"), p);
            for (i, l) in a.languages.iter().enumerate() {
                language(l, &format!("{at}.languages[{i}]"), p);
            }
            if a.wrapup_secs > 3600 {
                p.push(format!("{at}.wrapup_secs"), "must be at most 3600");
            }
            let c = &a.capacity;
            if Channel::ALL.iter().any(|ch| c.for_channel(*ch) > 1000) || c.total() > 1000 {
                p.push(format!("{at}.capacity"), "capacities are at most 1000");
            }
            for (i, target) in a.deliver.iter().enumerate() {
                delivery_target(target, &format!("{at}.deliver[{i}]"), self.delivery.require_signed_bots, p);
            }
        }
    }

    /// `[[rules]]`.
    pub(super) fn validate_rules(&self, p: &mut Problems) {
        for (i, r) in self.rules.iter().enumerate() {
            let at = format!("rules[{i}]");
            if let Some(text) = &r.when.text {
                if let Err(e) = regex::RegexBuilder::new(text).case_insensitive(true).size_limit(1 << 20).build() {
                    let why = e.to_string();
                    let why = why.lines().last().unwrap_or("invalid").trim_start_matches("error: ").to_owned();
                    p.push(format!("{at}.when.text"), format!("not a valid regex: {why}"));
                }
            }
            if let Some(c) = &r.when.channel {
                if let Err(e) = c.parse::<Channel>() {
                    p.push(format!("{at}.when.channel"), e.to_string());
                }
            }
            if let Some(q) = &r.then.queue {
                if !self.has_queue(q) {
                    p.push(format!("{at}.then.queue"), format!("unknown queue `{q}`"));
                }
            }
            proficiencies(&r.then.skills, &format!("{at}.then.skills"), p);
            if let Some(prio) = r.then.priority {
                priority(prio, &format!("{at}.then.priority"), p);
            }
            if let Some(l) = &r.when.language {
                language(l, &format!("{at}.when.language"), p);
            }
        }
    }
}
