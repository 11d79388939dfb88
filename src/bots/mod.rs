//! The bots of `[bots.<name>]`, compiled: an FAQ bot's answers ([`faq`])
//! and the webhook bot's signed call ([`webhook`]), with the hand-off
//! keywords and the automated messages they (and the office-hours replies)
//! send. Pure of routing state: `routing::bot` takes the turns.

pub mod faq;
pub mod webhook;

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use switchboard_core::{Automated, OutboundMessage};

use crate::config::{BotKind, BotSettings, Settings, Texts};
use crate::events::EventMessage;
use crate::model::Conversation;
use crate::store::BotSay;

/// What the bot says when no answer matches, unless `miss_reply` is set.
pub const MISS_REPLY: [(&str, &str); 2] = [
    ("zh", "抱歉，我没有理解您的问题。您可以换个说法，或回复“人工”联系客服。"),
    ("en", "Sorry, I did not understand. Please rephrase, or reply \"agent\" to talk to a person."),
];
/// What the customer is told at a hand-off, unless `handoff_reply` is set.
pub const HANDOFF_REPLY: [(&str, &str); 2] =
    [("zh", "正在为您转接人工客服，请稍候。"), ("en", "Connecting you to a person, please wait a moment.")];

/// The compiled bots of one configuration.
#[derive(Debug, Default)]
pub struct Bots {
    bots: BTreeMap<String, Bot>,
    client: Option<reqwest::Client>,
}

/// One bot.
#[derive(Debug)]
pub struct Bot {
    /// Its configuration.
    pub settings: BotSettings,
    /// Its FAQ answers, compiled (none for a webhook bot).
    pub faq: faq::Faq,
}

impl Bots {
    /// Compiles the `[bots.*]` of `settings`.
    pub fn new(settings: &Settings) -> Bots {
        let bots = settings
            .bots
            .iter()
            .map(|(name, b)| (name.clone(), Bot { settings: b.clone(), faq: faq::Faq::new(&b.answers) }))
            .collect();
        let webhooks = settings.bots.values().any(|b| b.kind == BotKind::Webhook);
        // Each call sets the bot's own timeout; this one only bounds a call
        // that somehow had none.
        let client = webhooks
            .then(|| {
                reqwest::Client::builder()
                    .timeout(Duration::from_secs(30))
                    .connect_timeout(Duration::from_secs(5))
                    .user_agent(concat!("switchboard/", env!("CARGO_PKG_VERSION")))
                    .build()
                    .ok()
            })
            .flatten();
        Bots { bots, client }
    }

    /// The bot named `name`.
    pub fn get(&self, name: &str) -> Option<&Bot> {
        self.bots.get(name)
    }

    /// The HTTP client of the webhook bots (`None`: there are none, or
    /// it could not be built).
    pub fn client(&self) -> Option<&reqwest::Client> {
        self.client.as_ref()
    }
}

/// A [`Texts`] of built-in pairs.
pub fn texts(pairs: &[(&str, &str)]) -> Texts {
    Texts(pairs.iter().map(|(l, t)| ((*l).to_owned(), (*t).to_owned())).collect())
}

/// One automated message to the customer of `conv` (`author`: `bot` or
/// `system`), as the history, the event and the sender take it: the same
/// outbound path as an agent's reply.
pub fn message(conv: &Conversation, author: &str, id: &str, text: &str, now: DateTime<Utc>) -> BotSay {
    let out = OutboundMessage {
        id: id.to_owned(),
        conversation_id: conv.id.clone(),
        channel: conv.channel,
        account: conv.account.clone(),
        to: conv.address.clone().unwrap_or_default(),
        text: text.to_owned(),
        media_urls: vec![],
        media_ids: vec![],
        agent: None,
        automated: Some(if author == "bot" { Automated::Bot } else { Automated::System }),
        created_at: now,
    };
    let stored = serde_json::json!({
        "id": id, "direction": "outbound", "channel": conv.channel, "account": conv.account,
        "author": author, "text": text, "outbound_ids": [id], "at": now,
    });
    let event = EventMessage { id: id.to_owned(), direction: "outbound".into(), text: text.to_owned(), attachments: vec![] };
    BotSay {
        stored: stored.to_string(),
        message: serde_json::to_string(&event).unwrap_or_default(),
        outbound_id: id.to_owned(),
        outbound: serde_json::to_string(&out).unwrap_or_default(),
    }
}

/// The id of an automated message answering customer message `message_id`
/// of `conversation` (`what`: which one): the same every time, so a
/// retried step names the same outbound message. Letters and digits only.
pub fn message_id(what: &str, conversation: &str, message_id: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(format!("{what}\n{conversation}\n{message_id}").as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02X}")).collect();
    format!("A{}", &hex[..25])
}
