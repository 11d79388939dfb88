//! Checks of `[sla]` (policies and their escalations, overrides, supervisor
//! targets, the WeChat window warning) and of the business `[calendars.*]`.

use secrecy::ExposeSecret;
use switchboard_core::Channel;

use crate::config::load::Problems;
use crate::config::model::*;
use super::fields::http_url;

impl Settings {
    /// `[sla]`: policies, overrides, supervisors, the WeChat window warning.
    pub(super) fn validate_sla(&self, p: &mut Problems) {
        for (name, s) in &self.sla.policies {
            let at = format!("sla.policies.{name}");
            if !(s.warn_at > 0.0 && s.warn_at < 1.0) {
                p.push(format!("{at}.warn_at"), "must be between 0 and 1 (exclusive)");
            }
            if s.calendar != "always" && !self.calendars.contains_key(&s.calendar) {
                p.push(format!("{at}.calendar"), format!("unknown calendar `{}`", s.calendar));
            }
            for (key, target) in [
                ("first_response_secs", s.first_response_secs),
                ("next_response_secs", s.next_response_secs),
                ("resolution_secs", s.resolution_secs),
            ] {
                if target == Some(0) || target.is_some_and(|t| t > 366 * 24 * 3600) {
                    p.push(format!("{at}.{key}"), "must be between 1 s and 366 days");
                }
            }
            let mut stages = vec![(format!("{at}.on_warning"), &s.on_warning), (format!("{at}.on_breach"), &s.on_breach)];
            for (i, step) in s.warnings.iter().enumerate() {
                let key = format!("{at}.warnings[{i}]");
                if !(step.at > 0.0 && step.at < 1.0) {
                    p.push(format!("{key}.at"), "must be between 0 and 1 (exclusive)");
                }
                if step.clock.as_deref().is_some_and(|c| !["first_response", "next_response", "resolution"].contains(&c)) {
                    p.push(format!("{key}.clock"), "must be first_response, next_response or resolution");
                }
                stages.push((format!("{key}.actions"), &step.actions));
            }
            for (stage, actions) in stages {
                for (i, action) in actions.iter().enumerate() {
                    let key = format!("{stage}[{i}]");
                    match action {
                        Escalation::Reroute { queue: Some(q), .. } if !self.has_queue(q) => {
                            p.push(format!("{key}.queue"), format!("unknown queue `{q}`"));
                        }
                        Escalation::RaisePriority { by } if !(1..=500).contains(by) => {
                            p.push(format!("{key}.by"), "must be between 1 and 500");
                        }
                        Escalation::Notify { to: None } if self.sla.supervisors.is_empty() => {
                            p.push(key, "`notify` needs `[sla] supervisors` targets");
                        }
                        Escalation::Notify { to: Some(list) } if self.sla.notify.get(list).is_none_or(Vec::is_empty) => {
                            p.push(format!("{key}.to"), format!("no `[sla.notify]` list `{list}` with targets"));
                        }
                        _ => {}
                    }
                }
            }
        }
        for (i, o) in self.sla.overrides.iter().enumerate() {
            let at = format!("sla.overrides[{i}]");
            if !self.sla.policies.contains_key(&o.policy) {
                p.push(format!("{at}.policy"), format!("unknown SLA policy `{}`", o.policy));
            }
            if let Some(q) = &o.queue {
                if !self.has_queue(q) {
                    p.push(format!("{at}.queue"), format!("unknown queue `{q}`"));
                }
            }
            if let Some(c) = &o.channel {
                if let Err(e) = c.parse::<Channel>() {
                    p.push(format!("{at}.channel"), e.to_string());
                }
            }
        }
        let lists = self.sla.notify.iter().flat_map(|(list, targets)| targets.iter().enumerate().map(move |(i, t)| (format!("sla.notify.{list}[{i}]"), t)));
        let supervisors = self.sla.supervisors.iter().enumerate().map(|(i, t)| (format!("sla.supervisors[{i}]"), t));
        for (t, target) in supervisors.chain(lists) {
            match target {
                DeliverTarget::Webhook { url, secret, .. } => {
                    http_url(url, &format!("{t}.url"), p);
                    if secret.as_ref().is_none_or(|s| crate::signing::decode_secret(s.expose_secret()).is_none()) {
                        p.push(format!("{t}.secret"), "must be `whsec_` followed by base64");
                    }
                }
                DeliverTarget::Slack { url } => http_url(url.expose_secret(), &format!("{t}.url"), p),
                DeliverTarget::Wecom { .. }
                | DeliverTarget::Dingtalk { .. }
                | DeliverTarget::Feishu { .. }
                | DeliverTarget::SlackApp { .. } => {
                    super::targets::delivery_target(target, &t, self.delivery.require_signed_bots, p)
                }
                _ => p.push(t, "supervisor targets are `webhook`, `slack`, `slack_app`, `wecom`, `dingtalk` or `feishu`"),
            }
        }
        if !(60..=47 * 3600).contains(&self.sla.wechat_window_warn_secs) {
            p.push("sla.wechat_window_warn_secs", "must be between 60 and 169200 (47 h)");
        }
    }

    /// `[calendars.*]`: each parses as a business calendar.
    pub(super) fn validate_calendars(&self, p: &mut Problems) {
        for (name, c) in &self.calendars {
            let at = format!("calendars.{name}");
            if let Err(problems) = crate::model::calendar::Calendar::parse(&c.timezone, &c.hours, &c.holidays, &c.overrides) {
                for problem in problems {
                    p.push(format!("{at}.{}", problem.path), problem.message);
                }
            }
        }
    }
}
