//! The satisfaction survey's state on the conversation hash
//! (`csat_asked`, `csat_asked_at`, `csat_score`, `csat_comment`, `csat_at`,
//! `csat_msg`), changed only by `lua/csat_ask.lua` and
//! `lua/csat_record.lua`, each one atomic step with its outbox entries.

use std::sync::LazyLock;

use redis::Script;
use serde::Deserialize;

use super::outbox::OutboxEntry;
use super::{with_lib, Store, StoreError};

static ASK: LazyLock<Script> = LazyLock::new(|| with_lib(include_str!("lua/csat_ask.lua")));
static RECORD: LazyLock<Script> = LazyLock::new(|| with_lib(include_str!("lua/csat_record.lua")));

/// The question of one round, as `lua/csat_ask.lua` takes it.
#[derive(Debug)]
pub struct CsatAsk<'a> {
    /// The conversation.
    pub conversation: &'a str,
    /// The resolve (ms) it is asked for.
    pub round: i64,
    /// The outbound message's id.
    pub outbound_id: &'a str,
    /// The outbound message as the sender reads it (`""`: none).
    pub outbound: String,
    /// The question as the thread keeps it.
    pub stored: String,
    /// The conversation's channel.
    pub channel: &'a str,
    /// TTL of the send record (s).
    pub ttl_secs: u64,
    /// Now (ms).
    pub now_ms: i64,
}

/// Whose score it is.
#[derive(Clone, Copy, Debug)]
pub enum CsatSubject<'a> {
    /// This conversation, for this round (a link).
    Conversation {
        /// The conversation.
        id: &'a str,
        /// The resolve the question was for.
        round: i64,
    },
    /// The last resolved conversation of the customer of this identity
    /// (kind, value), for its latest question (a text reply).
    Customer(&'a str, &'a str),
}

/// A score to record.
#[derive(Debug)]
pub struct CsatAnswer<'a> {
    /// Whose.
    pub subject: CsatSubject<'a>,
    /// The score.
    pub score: u8,
    /// The comment (`""`: none).
    pub comment: &'a str,
    /// What carried it (the inbound message id, the token).
    pub carrier: &'a str,
    /// How long after the question a score counts (ms).
    pub window_ms: i64,
    /// Whether the `rated` event goes to the supervisors too.
    pub alert: bool,
    /// Now (ms).
    pub now_ms: i64,
}

/// What became of an answer (see `lua/csat_record.lua`).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct CsatRecorded {
    /// `recorded`, `duplicate`, `rated`, `not_asked`, `stale`, `expired`,
    /// `open` or `unknown`.
    pub outcome: String,
    /// The conversation rated (`""`: none found).
    pub conversation: String,
    /// Its queue.
    pub queue: String,
    /// Its agent (`""`: none).
    pub agent: String,
}

impl Store {
    /// Asks one round's question; the outcome (`asked`, `moved`,
    /// `asked_before`, `rated`) and the outbox entries appended.
    pub async fn csat_ask(&self, ask: &CsatAsk<'_>) -> Result<(String, Vec<OutboxEntry>), StoreError> {
        let mut inv = ASK.key(self.keys.conversation(ask.conversation));
        inv.arg(self.keys.base())
            .arg(ask.now_ms)
            .arg(ask.round)
            .arg(ask.outbound_id)
            .arg(&ask.outbound)
            .arg(crate::sealing::seal_entry(&ask.stored))
            .arg(ask.channel)
            .arg(ask.ttl_secs);
        self.invoke_emitting(&inv).await
    }

    /// Records a score; what became of it and the outbox entries appended.
    pub async fn csat_record(&self, answer: &CsatAnswer<'_>) -> Result<(CsatRecorded, Vec<OutboxEntry>), StoreError> {
        let (key, by, round) = match answer.subject {
            CsatSubject::Conversation { id, round } => (self.keys.conversation(id), "conversation", round.to_string()),
            CsatSubject::Customer(kind, value) => (self.keys.identity(kind, value), "customer", String::new()),
        };
        let mut inv = RECORD.key(&key);
        inv.arg(self.keys.base())
            .arg(answer.now_ms)
            .arg(by)
            .arg(round)
            .arg(answer.score)
            .arg(answer.comment)
            .arg(answer.carrier)
            .arg(answer.window_ms)
            .arg(if answer.alert { "1" } else { "0" })
            .arg(crate::sealing::seal(answer.comment));
        let (json, entries) = self.invoke_emitting(&inv).await?;
        let recorded = serde_json::from_str(&json).map_err(super::routing::corrupt(key))?;
        Ok((recorded, entries))
    }
}
