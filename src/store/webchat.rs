//! The web chat log of each visitor: every message of their chat (theirs
//! and the agents') with its `seq`, for `history` after a reconnect. See
//! `lua/chat_reserve.lua` and `lua/chat_commit.lua`.

use std::time::Duration;

use redis::AsyncCommands;

use super::{Store, StoreError};

/// The place of a message in a visitor's log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChatSlot {
    /// Reserved (or stored before, when `stored`): publish, then commit.
    Placed {
        /// Our id of the message.
        id: String,
        /// Its position in the visitor's log.
        seq: u64,
        /// Whether it is already in the log (a resend).
        stored: bool,
    },
    /// The visitor is over `messages_per_minute`.
    Limited,
}

/// How long a visitor's log, counter and message slots live after the last
/// message, unless `retention.webchat_history_days` says otherwise.
pub const CHAT_TTL: Duration = Duration::from_secs(30 * 24 * 3600);

impl Store {
    /// Reserves (or finds) the place of the message `slot` of `visitor`:
    /// the widget's `client_id` for visitor messages, `out:<outbound id>`
    /// for agent replies. `rate_limit` new slots per minute (0: none).
    pub async fn chat_reserve(
        &self,
        visitor: &str,
        slot: &str,
        new_id: &str,
        rate_limit: u32,
    ) -> Result<ChatSlot, StoreError> {
        let minute = chrono::Utc::now().timestamp() / 60;
        let mut inv = self.chat_reserve.key(self.keys.chat_slot(visitor, slot));
        inv.key(self.keys.chat_seq(visitor))
            .key(self.keys.chat_rate(visitor, minute))
            .arg(new_id)
            .arg(self.chat_ttl.as_secs())
            .arg(rate_limit);
        let mut c = self.conn().await?;
        let r: Result<(String, u64, String), _> = inv.invoke_async(&mut c).await;
        let (id, seq, state) = self.check(r).await?;
        Ok(match state.as_str() {
            "limited" => ChatSlot::Limited,
            _ => ChatSlot::Placed { id, seq, stored: state == "stored" },
        })
    }

    /// Stores a reserved message in the log (once); `true` when stored now.
    pub async fn chat_commit(
        &self,
        visitor: &str,
        slot: &str,
        seq: u64,
        message_json: &str,
        keep: u32,
    ) -> Result<bool, StoreError> {
        let mut inv = self.chat_commit.key(self.keys.chat_slot(visitor, slot));
        // Sealed whole with `[security] data_keys` (see `crate::sealing`).
        inv.key(self.keys.chat_log(visitor)).arg(seq).arg(crate::sealing::seal(message_json)).arg(keep).arg(self.chat_ttl.as_secs());
        let mut c = self.conn().await?;
        let r: Result<i64, _> = inv.invoke_async(&mut c).await;
        Ok(self.check(r).await? == 1)
    }

    /// Up to `limit` stored messages with a seq above `after`, in order, and
    /// whether more follow.
    pub async fn chat_history(&self, visitor: &str, after: u64, limit: usize) -> Result<(Vec<String>, bool), StoreError> {
        let mut c = self.conn().await?;
        let min = format!("({after}");
        let r: Result<Vec<String>, _> =
            c.zrangebyscore_limit(self.keys.chat_log(visitor), min, "+inf", 0, (limit + 1) as isize).await;
        let mut messages = self.check(r).await?;
        let more = messages.len() > limit;
        messages.truncate(limit);
        // One that does not open is left out (logged with its key id).
        let messages = messages.iter().map(|m| crate::sealing::open_or_blank(m, "webchat_history")).filter(|m| !m.is_empty()).collect();
        Ok((messages, more))
    }
}
