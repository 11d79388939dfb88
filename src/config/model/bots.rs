//! The customer-facing automation: `[bots.<name>]` (a FAQ bot or an
//! external webhook bot that answers a queue's conversations first) and the
//! per-language texts the bots and the office-hours replies send.

use secrecy::SecretString;
use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

/// `[bots.<name>]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BotSettings {
    /// `faq` or `webhook`.
    pub kind: BotKind,
    /// FAQ: the answers, first match wins.
    #[serde(default)]
    pub answers: Vec<FaqAnswer>,
    /// FAQ: messages in a row with no answer before a person takes over (0: never).
    #[serde(default = "default_max_misses")]
    pub max_misses: u32,
    /// Customer messages the bot handles before a person takes over (0: no limit).
    #[serde(default = "default_max_bot_turns")]
    pub max_bot_turns: u32,
    /// FAQ: the reply to a message no answer matches (before `max_misses`).
    pub miss_reply: Option<Texts>,
    /// What the customer is told when a person takes over.
    pub handoff_reply: Option<Texts>,
    /// Webhook: where the bot is (`https://`, or `http://` on loopback).
    pub url: Option<String>,
    /// Webhook: the `whsec_…` secret signing both ways.
    pub secret: Option<SecretString>,
    /// Webhook: file holding the secret.
    pub secret_file: Option<std::path::PathBuf>,
    /// Webhook: how long the bot may take to answer.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

fn default_max_misses() -> u32 {
    2
}

fn default_max_bot_turns() -> u32 {
    10
}

fn default_timeout_ms() -> u64 {
    3000
}

/// The kinds of bots.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BotKind {
    /// Configured answers matched by keywords or a regex.
    Faq,
    /// An external bot called over HTTP.
    Webhook,
}

/// `[[bots.<name>.answers]]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaqAnswer {
    /// A regex (case-insensitive, as a rule's `when.text`) or a list of keywords.
    pub when: FaqWhen,
    /// The reply per language.
    pub reply: Texts,
    /// What follows the reply.
    pub then: Option<AnswerThen>,
}

/// What an FAQ answer matches.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum FaqWhen {
    /// A regex on the message.
    Regex(String),
    /// Any of these keywords, anywhere in the message, any case.
    Keywords(Vec<String>),
}

/// What follows an FAQ answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AnswerThen {
    /// The conversation is resolved (by the bot).
    Resolve,
    /// A person takes over.
    Handoff,
}

/// A text per language (`{ zh = "…", en = "…" }`), in the order written:
/// the conversation's language picks, else the first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Texts(pub Vec<(String, String)>);

impl Texts {
    /// The text for `language`, else the first one.
    pub fn pick(&self, language: Option<&str>) -> Option<&str> {
        let lang = language.unwrap_or("");
        self.0
            .iter()
            .find(|(l, _)| l == lang)
            .or_else(|| self.0.first())
            .map(|(_, t)| t.as_str())
    }

    /// The language of the text [`pick`](Self::pick) takes.
    pub fn language_of(&self, language: Option<&str>) -> Option<&str> {
        let lang = language.unwrap_or("");
        self.0.iter().find(|(l, _)| l == lang).or_else(|| self.0.first()).map(|(l, _)| l.as_str())
    }
}

impl<'de> Deserialize<'de> for Texts {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Texts;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a table of language = \"text\"")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Texts, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, String>()? {
                    out.push((k, v));
                }
                Ok(Texts(out))
            }
        }
        d.deserialize_map(V)
    }
}
