//! The FAQ bot's matching, and the hand-off keywords: pure functions of
//! the configuration and the customer's text.

use regex::{Regex, RegexBuilder};

use crate::config::{AnswerThen, FaqAnswer, FaqWhen, Texts};

/// A message at most this long (in characters, trimmed) that contains a
/// hand-off keyword asks for a person; a longer one must be the keyword.
pub const SHORT_MESSAGE_CHARS: usize = 24;

/// What an answer matches, compiled.
#[derive(Clone, Debug)]
pub enum Matcher {
    /// A case-insensitive regex.
    Regex(Regex),
    /// Lower-cased keywords, any of which anywhere.
    Keywords(Vec<String>),
}

impl Matcher {
    /// Whether `text` matches.
    pub fn is_match(&self, text: &str) -> bool {
        match self {
            Matcher::Regex(re) => re.is_match(text),
            Matcher::Keywords(words) => {
                let lower = text.to_lowercase();
                words.iter().any(|w| lower.contains(w.as_str()))
            }
        }
    }
}

/// Compiles a `when`; `None` for a regex that does not compile.
pub fn compile(when: &FaqWhen) -> Option<Matcher> {
    match when {
        FaqWhen::Regex(re) => RegexBuilder::new(re).case_insensitive(true).size_limit(1 << 20).build().ok().map(Matcher::Regex),
        FaqWhen::Keywords(words) => {
            Some(Matcher::Keywords(words.iter().map(|w| w.trim().to_lowercase()).filter(|w| !w.is_empty()).collect()))
        }
    }
}

/// One answer, compiled.
#[derive(Clone, Debug)]
pub struct Answer {
    matcher: Matcher,
    /// The reply per language.
    pub reply: Texts,
    /// What follows the reply.
    pub then: Option<AnswerThen>,
}

/// The answers of one FAQ bot, first match wins.
#[derive(Clone, Debug, Default)]
pub struct Faq {
    answers: Vec<Answer>,
}

impl Faq {
    /// Compiles `answers` (invalid regexes were refused by validation and
    /// are skipped here).
    pub fn new(answers: &[FaqAnswer]) -> Faq {
        let answers = answers
            .iter()
            .filter_map(|a| Some(Answer { matcher: compile(&a.when)?, reply: a.reply.clone(), then: a.then }))
            .collect();
        Faq { answers }
    }

    /// The first answer matching `text`.
    pub fn answer(&self, text: &str) -> Option<&Answer> {
        self.answers.iter().find(|a| a.matcher.is_match(text))
    }
}

/// Whether `text` asks for a person: it is one of `keywords` (any case,
/// ignoring surrounding spaces and punctuation), or a short message
/// containing one (as a whole word for a Latin keyword: "agent" is not in
/// "agents' fees", "人工" is in "我要人工").
pub fn wants_person(text: &str, keywords: &[String]) -> bool {
    let trimmed = text.trim_matches(|c: char| c.is_whitespace() || c.is_ascii_punctuation() || "。，！？～、".contains(c));
    let lower = trimmed.to_lowercase();
    let short = lower.chars().count() <= SHORT_MESSAGE_CHARS;
    keywords.iter().map(|k| k.trim().to_lowercase()).filter(|k| !k.is_empty()).any(|k| {
        if lower == k {
            return true;
        }
        short && contains_word(&lower, &k)
    })
}

/// `needle` in `hay`; a needle of ASCII letters only where it stands alone
/// (not inside a longer Latin word).
fn contains_word(hay: &str, needle: &str) -> bool {
    if !needle.chars().any(|c| c.is_ascii_alphanumeric()) {
        return hay.contains(needle);
    }
    hay.match_indices(needle).any(|(i, m)| {
        let before = hay[..i].chars().next_back();
        let after = hay[i + m.len()..].chars().next();
        let latin = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
        !latin(before) && !latin(after)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keywords() -> Vec<String> {
        ["人工", "转人工", "人工客服", "human", "agent", "representative"].map(String::from).to_vec()
    }

    #[test]
    fn a_person_is_asked_for_by_a_keyword_or_a_short_message_with_one() {
        let k = keywords();
        for yes in ["转人工", " 人工 ", "人工客服！", "Human", "AGENT.", "我要转人工", "给我人工", "I want a human", "agent please", "talk to a representative"] {
            assert!(wants_person(yes, &k), "{yes}");
        }
        for no in [
            "运费多少",
            "agents",
            "my delivery agent left the parcel at the wrong door, where is it now",
            "这个商品是人工智能产品吗？我想了解一下它的具体功能和价格以及保修",
            "humane",
            "",
        ] {
            assert!(!wants_person(no, &k), "{no}");
        }
        assert!(!wants_person("人工", &[]), "no keywords configured");
    }

    fn faq() -> Faq {
        let texts = |zh: &str, en: &str| Texts(vec![("zh".into(), zh.into()), ("en".into(), en.into())]);
        Faq::new(&[
            FaqAnswer { when: FaqWhen::Regex("运费|shipping (fee|cost)".into()), reply: texts("满 99 元包邮", "Free shipping over ¥99"), then: None },
            FaqAnswer {
                when: FaqWhen::Keywords(vec!["退货".into(), "Return Policy".into()]),
                reply: texts("7 天无理由退货", "7-day returns"),
                then: Some(AnswerThen::Resolve),
            },
        ])
    }

    #[test]
    fn the_first_matching_answer_wins_in_either_language() {
        let f = faq();
        assert_eq!(f.answer("请问运费多少？").map(|a| a.reply.pick(Some("zh"))), Some(Some("满 99 元包邮")));
        assert_eq!(f.answer("What is the SHIPPING FEE?").map(|a| a.reply.pick(Some("en"))), Some(Some("Free shipping over ¥99")));
        let ret = f.answer("what's your return policy").expect("keyword, any case");
        assert_eq!(ret.then, Some(AnswerThen::Resolve));
        assert!(f.answer("我要退货").is_some());
        assert!(f.answer("where is my parcel").is_none());
    }

    #[test]
    fn a_reply_is_in_the_conversation_s_language_else_the_first() {
        let t = Texts(vec![("zh".into(), "你好".into()), ("en".into(), "Hello".into())]);
        assert_eq!(t.pick(Some("en")), Some("Hello"));
        assert_eq!(t.pick(Some("zh")), Some("你好"));
        assert_eq!(t.pick(Some("ja")), Some("你好"));
        assert_eq!(t.pick(None), Some("你好"));
        assert_eq!(Texts::default().pick(Some("en")), None);
    }

    #[test]
    fn a_bad_regex_does_not_compile() {
        assert!(compile(&FaqWhen::Regex("(".into())).is_none());
    }
}
