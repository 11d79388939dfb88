//! The office-hours and waiting notices (see `lua/notice.lua`), a waiting
//! conversation's place in its line (and a web chat visitor's), and the
//! queues' recent assignments that the waiting estimate is made from.

use redis::AsyncCommands;

use super::{BotSay, OutboxEntry, Store, StoreError};

/// One notice to send once.
#[derive(Clone, Debug)]
pub struct Notice<'a> {
    /// The conversation.
    pub conversation: &'a str,
    /// The flag field that makes it once (`closed_replied`, `waiting_replied`).
    pub flag: &'a str,
    /// The state the conversation must be in (`""`: any open one not with a bot).
    pub state: &'a str,
    /// The channel.
    pub channel: &'a str,
    /// TTL of the send record (s).
    pub ttl_secs: u64,
    /// The message.
    pub say: BotSay,
    /// Now (ms).
    pub now_ms: i64,
}

impl Store {
    /// Sends `n` unless it was sent; whether it is sent now, and the
    /// outbox entries to publish.
    pub async fn notice(&self, n: &Notice<'_>) -> Result<(bool, Vec<OutboxEntry>), StoreError> {
        let mut inv = self.notice.arg(self.keys.base());
        inv.arg(n.now_ms)
            .arg(n.conversation)
            .arg(n.flag)
            .arg(n.state)
            .arg(n.channel)
            .arg(n.ttl_secs)
            .arg(crate::sealing::seal_entry(&n.say.stored))
            .arg(&n.say.outbound_id)
            .arg(&n.say.outbound);
        let (outcome, entries) = self.invoke_emitting(&inv).await?;
        Ok((outcome == "sent", entries))
    }

    /// The place (1 = next) of a waiting conversation in its line, `None`
    /// when it waits in none.
    pub async fn waiting_position(&self, conversation: &str) -> Result<Option<u64>, StoreError> {
        let mut c = self.conn().await?;
        let r: Result<Option<String>, _> = c.hget(self.keys.conversation(conversation), "waiting_in").await;
        let Some(line) = self.check(r).await? else { return Ok(None) };
        // The line's name is the waiting key the scripts wrote (`schema`).
        let r: Result<Option<u64>, _> = c.zrank(line, conversation).await;
        Ok(self.check(r).await?.map(|rank| rank + 1))
    }

    /// A web chat visitor's place in the line for a person (see
    /// `lua/place.lua`): `None` without an open conversation, `Some(0)`
    /// when not waiting.
    pub async fn visitor_place(&self, visitor: &str) -> Result<Option<u64>, StoreError> {
        let mut c = self.conn().await?;
        let r: Result<i64, _> = self.place.arg(self.keys.base()).arg(visitor).invoke_async(&mut c).await;
        Ok(u64::try_from(self.check(r).await?).ok())
    }

    /// The conversations given to agents from `queue` in the `minutes`
    /// minutes up to `now_ms` (counted by `lua/lib.lua` `take`).
    pub async fn recent_assignments(&self, queue: &str, now_ms: i64, minutes: i64) -> Result<u64, StoreError> {
        let current = now_ms.div_euclid(60_000);
        let keys: Vec<String> = (0..minutes).map(|i| self.keys.queue_assigned(queue, current - i)).collect();
        if keys.is_empty() {
            return Ok(0);
        }
        let mut c = self.conn().await?;
        let r: Result<Vec<Option<u64>>, _> = redis::cmd("MGET").arg(&keys).query_async(&mut c).await;
        Ok(self.check(r).await?.into_iter().flatten().sum())
    }
}
