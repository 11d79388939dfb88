//! Classification: the first `[[rules]]` entry that matches decides the
//! queue; unmatched messages go to `routing.default_queue`. Regexes are
//! compiled once, at start (they were checked by the configuration).

use regex::{Regex, RegexBuilder};
use switchboard_core::{Channel, InboundMessage};

use crate::config::{RuleSettings, Settings};

/// One compiled rule.
#[derive(Debug)]
struct Rule {
    name: String,
    text: Option<Regex>,
    channel: Option<Channel>,
    account: Option<String>,
    queue: Option<String>,
}

/// The compiled rule list.
#[derive(Debug)]
pub struct Classifier {
    rules: Vec<Rule>,
    default_queue: String,
}

/// Where a message goes and which rule sent it there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Classification {
    /// The queue.
    pub queue: String,
    /// The rule that matched, if any.
    pub rule: Option<String>,
}

impl Classifier {
    /// Compiles the rules of `settings`. Rules that fail to compile were
    /// already refused by validation; they are skipped here defensively.
    pub fn new(settings: &Settings) -> Self {
        let rules = settings.rules.iter().filter_map(compile).collect();
        Classifier { rules, default_queue: settings.routing.default_queue.clone() }
    }

    /// The queue for `msg`. Customer attributes (tier, language) arrive
    /// with the routing core; until then rules naming them do not match.
    pub fn classify(&self, msg: &InboundMessage) -> Classification {
        for rule in &self.rules {
            let matches = rule.channel.is_none_or(|c| c == msg.channel)
                && rule.account.as_deref().is_none_or(|a| a == msg.account)
                && rule.text.as_ref().is_none_or(|re| re.is_match(&msg.text));
            if matches {
                if let Some(queue) = &rule.queue {
                    return Classification { queue: queue.clone(), rule: Some(rule.name.clone()) };
                }
            }
        }
        Classification { queue: self.default_queue.clone(), rule: None }
    }
}

fn compile(r: &RuleSettings) -> Option<Rule> {
    if r.when.tier.is_some() || r.when.language.is_some() {
        // Needs customer attributes; see `classify`.
        return None;
    }
    let text = match &r.when.text {
        Some(t) => Some(RegexBuilder::new(t).case_insensitive(true).size_limit(1 << 20).build().ok()?),
        None => None,
    };
    let channel = match &r.when.channel {
        Some(c) => Some(c.parse().ok()?),
        None => None,
    };
    Some(Rule { name: r.name.clone(), text, channel, account: r.when.account.clone(), queue: r.then.queue.clone() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Loader;

    fn msg(text: &str) -> InboundMessage {
        InboundMessage {
            id: "m".into(),
            channel: Channel::Sms,
            account: "shop".into(),
            provider_message_id: "SM1".into(),
            customer: "+14155550100".into(),
            to: None,
            display_name: None,
            text: text.into(),
            attachments: vec![],
            received_at: chrono::Utc::now(),
            metadata: Default::default(),
        }
    }

    #[test]
    fn first_match_wins_and_default_catches_the_rest() {
        let settings = Loader::new()
            .without_env()
            .overlay(
                r#"
                [queues.returns]
                [queues.complaints]
                [[rules]]
                name = "complaints"
                when = { text = "投诉|complaint" }
                then = { queue = "complaints" }
                [[rules]]
                name = "refunds"
                when = { text = "退款|退货|refund", channel = "sms" }
                then = { queue = "returns" }
                "#,
            )
            .load()
            .unwrap();
        let c = Classifier::new(&settings);
        assert_eq!(c.classify(&msg("我要退款")).queue, "returns");
        assert_eq!(c.classify(&msg("REFUND please")).rule.as_deref(), Some("refunds"));
        assert_eq!(c.classify(&msg("投诉: refund now")).queue, "complaints");
        assert_eq!(c.classify(&msg("hello")), Classification { queue: "general".into(), rule: None });
    }
}
