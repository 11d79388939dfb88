//! A bot's step on one customer message (see `lua/bot.lua`).

use super::{OutboxEntry, Store, StoreError};

/// One message the bot says: the history entry, the event's message, the
/// outbound message (id and JSON).
#[derive(Clone, Debug, Default)]
pub struct BotSay {
    /// The history entry (JSON).
    pub stored: String,
    /// The message as the event carries it (JSON).
    pub message: String,
    /// The outbound message id.
    pub outbound_id: String,
    /// The outbound message (JSON).
    pub outbound: String,
}

/// The arguments of `lua/bot.lua`.
#[derive(Clone, Debug)]
pub struct BotStep<'a> {
    /// The conversation.
    pub conversation: &'a str,
    /// The customer message the step answers (its id marks the step).
    pub message_id: &'a str,
    /// `reply`, `miss`, `handoff` or `resolve`.
    pub action: &'a str,
    /// Why it hands off.
    pub reason: &'a str,
    /// FAQ misses in a row that hand off (0: never).
    pub max_misses: u32,
    /// Customer messages the bot takes (0: no limit).
    pub max_turns: u32,
    /// After a reply: `""`, `resolve` or `handoff`.
    pub then: &'a str,
    /// The channel.
    pub channel: &'a str,
    /// TTL of the send records (s).
    pub ttl_secs: u64,
    /// The first-response deadline from now (ms; 0: none), if it hands off.
    pub deadline_ms: i64,
    /// The queue to hand off to, as the script stores it (JSON; `""`: its own).
    pub queue_json: String,
    /// The answer or miss reply.
    pub say: Option<BotSay>,
    /// The hand-off notice.
    pub notice: Option<BotSay>,
    /// Now (ms).
    pub now_ms: i64,
}

/// What the step did.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Deserialize)]
pub struct BotOutcome {
    /// `duplicate`, `not_bot`, `replied`, `handed_off` or `resolved`.
    pub outcome: String,
    /// The hand-off's reason.
    #[serde(default)]
    pub reason: String,
    /// The state after.
    #[serde(default)]
    pub state: String,
    /// The agent it was placed with (`""`: none).
    #[serde(default)]
    pub agent: String,
}

impl Store {
    /// Takes one bot step atomically (see `lua/bot.lua`).
    pub async fn bot_step(&self, s: &BotStep<'_>) -> Result<(BotOutcome, Vec<OutboxEntry>), StoreError> {
        let mut inv = self.bot.arg(self.keys.base());
        inv.arg(s.now_ms)
            .arg(s.conversation)
            .arg(s.message_id)
            .arg(s.action)
            .arg(s.reason)
            .arg(s.max_misses)
            .arg(s.max_turns)
            .arg(s.then)
            .arg(s.channel)
            .arg(s.ttl_secs)
            .arg(s.deadline_ms)
            .arg(&s.queue_json);
        for say in [&s.say, &s.notice] {
            let say = say.clone().unwrap_or_default();
            inv.arg(crate::sealing::seal_entry(&say.stored)).arg(say.message).arg(say.outbound_id).arg(say.outbound);
        }
        let (json, entries) = self.invoke_emitting(&inv).await?;
        let outcome = serde_json::from_str(&json).map_err(super::routing::corrupt(self.keys.conversation(s.conversation)))?;
        Ok((outcome, entries))
    }
}
