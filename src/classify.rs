//! Classification: the first `[[rules]]` entry whose conditions all hold
//! decides the queue, priority, required skills and tags; unmatched
//! messages go to `routing.default_queue`. Conditions are the channel, the
//! channel account, the customer's tier and language, and a regex (or
//! plain keywords joined with `|`) on the text. Regexes are compiled once
//! per configuration (they were checked by validation).

use std::collections::BTreeMap;

use regex::{Regex, RegexBuilder};
use switchboard_core::{Channel, InboundMessage};

use crate::config::{QueueMode, RuleSettings, Settings};
use crate::store::ClassJson;

/// One compiled rule.
#[derive(Debug)]
struct Rule {
    name: String,
    text: Option<Regex>,
    channel: Option<Channel>,
    account: Option<String>,
    tier: Option<String>,
    language: Option<String>,
    queue: Option<String>,
    priority: Option<i32>,
    skills: BTreeMap<String, u8>,
    tags: Vec<String>,
}

/// The compiled rule list with the queues' own requirements.
#[derive(Debug)]
pub struct Classifier {
    rules: Vec<Rule>,
    default_queue: String,
    queues: BTreeMap<String, QueueDefaults>,
}

#[derive(Debug, Clone, Default)]
struct QueueDefaults {
    priority: i32,
    skills: BTreeMap<String, u8>,
    offer: bool,
    offer_timeout_ms: u64,
}

/// What the customer's profile tells classification.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Attributes {
    /// Tier such as `vip`.
    pub tier: Option<String>,
    /// Language code such as `zh`.
    pub language: Option<String>,
}

/// Where a conversation goes, how urgent it is, what it needs, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Classification {
    /// The queue.
    pub queue: String,
    /// The rule that matched, if any.
    pub rule: Option<String>,
    /// Priority: the rule's, else the queue's.
    pub priority: i32,
    /// Required skills: the queue's, raised by the rule's.
    pub skills: BTreeMap<String, u8>,
    /// Tags of the rule.
    pub tags: Vec<String>,
    /// Whether the queue offers instead of assigning.
    pub offer: bool,
    /// Offer mode: time to accept (ms).
    pub offer_timeout_ms: u64,
    /// The language the agent must speak: the customer's, else detected
    /// from the text (`None`: any).
    pub language: Option<String>,
}

impl Classification {
    /// The form the routing scripts store.
    pub fn to_json(&self) -> ClassJson {
        ClassJson {
            queue: self.queue.clone(),
            priority: self.priority,
            skills: self.skills.clone(),
            tags: self.tags.clone(),
            rule: self.rule.clone().unwrap_or_default(),
            mode: if self.offer { "offer" } else { "auto" }.into(),
            offer_timeout_ms: self.offer_timeout_ms,
            language: self.language.clone().unwrap_or_default(),
            deadline_ms: 0,
            sla: String::new(),
            bot: String::new(),
        }
    }
}

impl Classifier {
    /// Compiles the rules of `settings`. Rules that fail to compile were
    /// already refused by validation; they are skipped here defensively.
    pub fn new(settings: &Settings) -> Self {
        let rules = settings.rules.iter().filter_map(compile).collect();
        let queues = settings
            .queues
            .iter()
            .map(|(name, q)| {
                let defaults = QueueDefaults {
                    priority: q.priority,
                    skills: q.skills.clone(),
                    offer: q.mode == QueueMode::Offer,
                    offer_timeout_ms: q.offer_timeout_secs.saturating_mul(1000),
                };
                (name.clone(), defaults)
            })
            .collect();
        Classifier { rules, default_queue: settings.routing.default_queue.clone(), queues }
    }

    /// Classifies the first message of a conversation of a customer with
    /// `attributes`.
    pub fn classify(&self, msg: &InboundMessage, attributes: &Attributes) -> Classification {
        let language = attributes.language.clone().or_else(|| detect_language(&msg.text).map(str::to_owned));
        let matched = self.rules.iter().find(|rule| {
            rule.channel.is_none_or(|c| c == msg.channel)
                && rule.account.as_deref().is_none_or(|a| a == msg.account)
                && rule.tier.as_deref().is_none_or(|t| attributes.tier.as_deref() == Some(t))
                && rule.language.as_deref().is_none_or(|l| language.as_deref() == Some(l))
                && rule.text.as_ref().is_none_or(|re| re.is_match(&msg.text))
        });
        let queue = matched.and_then(|r| r.queue.clone()).unwrap_or_else(|| self.default_queue.clone());
        self.for_queue(&queue, matched, language)
    }

    /// The requirements of `queue` alone (a transfer to it).
    pub fn queue(&self, queue: &str) -> Classification {
        self.for_queue(queue, None, None)
    }

    fn for_queue(&self, queue: &str, rule: Option<&Rule>, language: Option<String>) -> Classification {
        let defaults = self.queues.get(queue).cloned().unwrap_or_default();
        let mut skills = defaults.skills;
        for (skill, level) in rule.map(|r| &r.skills).into_iter().flatten() {
            let entry = skills.entry(skill.clone()).or_insert(0);
            *entry = (*entry).max(*level);
        }
        Classification {
            queue: queue.to_owned(),
            rule: rule.map(|r| r.name.clone()),
            priority: rule.and_then(|r| r.priority).unwrap_or(defaults.priority),
            skills,
            tags: rule.map(|r| r.tags.clone()).unwrap_or_default(),
            offer: defaults.offer,
            offer_timeout_ms: defaults.offer_timeout_ms,
            language,
        }
    }
}

/// The language a text is most likely in, by script: Han → `zh`, kana →
/// `ja`, Hangul → `ko`, mostly ASCII letters → `en`; otherwise unknown.
/// Only a hint for routing, used when the customer's profile has none.
pub fn detect_language(text: &str) -> Option<&'static str> {
    let (mut han, mut kana, mut hangul, mut ascii, mut other) = (0usize, 0usize, 0usize, 0usize, 0usize);
    for c in text.chars() {
        match c {
            '\u{3040}'..='\u{30ff}' => kana += 1,
            '\u{ac00}'..='\u{d7af}' | '\u{1100}'..='\u{11ff}' => hangul += 1,
            '\u{4e00}'..='\u{9fff}' | '\u{3400}'..='\u{4dbf}' | '\u{f900}'..='\u{faff}' => han += 1,
            c if c.is_ascii_alphabetic() => ascii += 1,
            c if c.is_alphabetic() => other += 1,
            _ => {}
        }
    }
    if kana > 0 {
        Some("ja")
    } else if hangul > 0 && hangul >= han {
        Some("ko")
    } else if han > 0 {
        Some("zh")
    } else if ascii >= 2 && ascii > other * 4 {
        Some("en")
    } else {
        None
    }
}

fn compile(r: &RuleSettings) -> Option<Rule> {
    let text = match &r.when.text {
        Some(t) => Some(RegexBuilder::new(t).case_insensitive(true).size_limit(1 << 20).build().ok()?),
        None => None,
    };
    let channel = match &r.when.channel {
        Some(c) => Some(c.parse().ok()?),
        None => None,
    };
    Some(Rule {
        name: r.name.clone(),
        text,
        channel,
        account: r.when.account.clone(),
        tier: r.when.tier.clone(),
        language: r.when.language.clone(),
        queue: r.then.queue.clone(),
        priority: r.then.priority,
        skills: r.then.skills.clone(),
        tags: r.then.tags.clone(),
    })
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

    fn classifier() -> Classifier {
        let settings = Loader::new()
            .without_env()
            .overlay(
                r#"
                [queues.returns]
                skills = { returns = 2 }
                priority = 5
                [queues.complaints]
                mode = "offer"
                offer_timeout_secs = 20
                [queues.vip]
                [queues.english]
                [[rules]]
                name = "vip"
                when = { tier = "vip" }
                then = { queue = "vip", priority = 50, tags = ["vip"] }
                [[rules]]
                name = "complaints"
                when = { text = "投诉|complaint" }
                then = { queue = "complaints", priority = 20, skills = { complaints = 3 } }
                [[rules]]
                name = "refunds"
                when = { text = "退款|退货|refund", channel = "sms" }
                then = { queue = "returns", skills = { returns = 4 }, tags = ["refund"] }
                [[rules]]
                name = "english"
                when = { language = "en", account = "shop" }
                then = { queue = "english" }
                "#,
            )
            .load()
            .unwrap();
        Classifier::new(&settings)
    }

    #[test]
    fn first_match_wins_and_default_catches_the_rest() {
        let c = classifier();
        let none = Attributes::default();
        assert_eq!(c.classify(&msg("我要退款"), &none).queue, "returns");
        assert_eq!(c.classify(&msg("REFUND please"), &none).rule.as_deref(), Some("refunds"));
        assert_eq!(c.classify(&msg("投诉: refund now"), &none).queue, "complaints");
        let other = c.classify(&msg("你好"), &none);
        assert_eq!((other.queue.as_str(), other.rule.as_deref()), ("general", None));
    }

    #[test]
    fn actions_set_priority_skills_tags_and_mode() {
        let c = classifier();
        let none = Attributes::default();
        let refund = c.classify(&msg("我要退货"), &none);
        assert_eq!(refund.priority, 5, "the queue's priority when the rule sets none");
        assert_eq!(refund.skills, BTreeMap::from([("returns".to_owned(), 4)]), "the rule raises the queue's level");
        assert_eq!(refund.tags, ["refund"]);
        assert!(!refund.offer);
        let complaint = c.classify(&msg("我要投诉"), &none);
        assert_eq!((complaint.priority, complaint.offer, complaint.offer_timeout_ms), (20, true, 20_000));
        assert_eq!(complaint.to_json().mode, "offer");
    }

    #[test]
    fn tier_and_language_come_from_the_customer() {
        let c = classifier();
        let vip = Attributes { tier: Some("vip".into()), language: None };
        let class = c.classify(&msg("我要退款"), &vip);
        assert_eq!((class.queue.as_str(), class.priority, class.tags.as_slice()), ("vip", 50, &["vip".to_owned()][..]));
        // Language: the profile's wins over the text's.
        let english = Attributes { tier: None, language: Some("en".into()) };
        assert_eq!(c.classify(&msg("你好"), &english).queue, "english");
        assert_eq!(c.classify(&msg("hello there"), &Attributes::default()).queue, "english");
        assert_eq!(c.classify(&msg("你好"), &Attributes::default()).language.as_deref(), Some("zh"));
    }

    #[test]
    fn languages_are_detected_by_script() {
        assert_eq!(detect_language("我的快递到哪里了"), Some("zh"));
        assert_eq!(detect_language("注文はどこですか"), Some("ja"));
        assert_eq!(detect_language("주문이 어디에 있나요"), Some("ko"));
        assert_eq!(detect_language("where is my order?"), Some("en"));
        assert_eq!(detect_language("12345 !!"), None);
        assert_eq!(detect_language("Где мой заказ"), None);
    }
}
