//! Delivery bookkeeping: which targets an event reached, each
//! conversation's delivered sequence, and disabled targets.

use std::sync::Arc;
use std::time::Duration;

use redis::AsyncCommands;

use super::{Store, StoreError};

/// How long a conversation's delivery mark lives after its last event.
const DELIVERED_SEQ_TTL_SECS: u64 = 30 * 24 * 3600;

impl Store {
    /// Whether `target` already received `event_id`.
    pub async fn was_delivered(&self, event_id: &str, target: &str) -> Result<bool, StoreError> {
        let mut c = self.conn().await?;
        let r = c.sismember(self.keys.delivered(event_id), target).await;
        self.check(r).await
    }

    /// Records that `target` received `event_id`.
    pub async fn mark_delivered(&self, event_id: &str, target: &str, ttl: Duration) -> Result<(), StoreError> {
        let key = self.keys.delivered(event_id);
        let mut c = self.conn().await?;
        let r: Result<(), _> =
            redis::pipe().atomic().sadd(&key, target).expire(&key, ttl.as_secs() as i64).query_async(&mut c).await;
        self.check(r).await
    }

    /// The highest event sequence number of `conversation` delivered to
    /// every target (or dead-lettered) so far (0: none).
    pub async fn delivered_seq(&self, conversation: &str) -> Result<u64, StoreError> {
        let mut c = self.conn().await?;
        let r: Result<Option<u64>, _> = c.get(self.keys.delivered_seq(conversation)).await;
        Ok(self.check(r).await?.unwrap_or(0))
    }

    /// Event `seq` of `conversation` is done with (delivered to every
    /// target, or dead-lettered): the conversation's next event may go.
    /// The mark only moves forward.
    pub async fn mark_delivered_seq(&self, conversation: &str, seq: u64) -> Result<(), StoreError> {
        self.batchers().await.delivered.call((self.keys.delivered_seq(conversation), seq)).await
    }

    /// Moves several delivery marks in one call, in order.
    pub(super) async fn delivered_batch(&self, marks: Arc<Vec<(String, u64)>>) -> Result<Vec<()>, StoreError> {
        let mut inv = self.delivered_many.prepare_invoke();
        inv.arg(DELIVERED_SEQ_TTL_SECS);
        for (key, seq) in marks.iter() {
            inv.key(key).arg(seq);
        }
        let mut c = self.conn().await?;
        let r: Result<i64, _> = inv.invoke_async(&mut c).await;
        self.check(r).await?;
        Ok(vec![(); marks.len()])
    }

    /// Marks a delivery target disabled (it answered 410 Gone).
    pub async fn disable_target(&self, target: &str, reason: &str) -> Result<bool, StoreError> {
        let mut c = self.conn().await?;
        let r: Result<bool, _> = c.hset_nx(self.keys.disabled_targets(), target, reason).await;
        self.check(r).await
    }

    /// Whether a delivery target is disabled.
    pub async fn is_target_disabled(&self, target: &str) -> Result<bool, StoreError> {
        let mut c = self.conn().await?;
        let r: Result<bool, _> = c.hexists(self.keys.disabled_targets(), target).await;
        self.check(r).await
    }

    /// Enables every disabled target again (a reload: the operator fixed them).
    pub async fn enable_targets(&self) -> Result<(), StoreError> {
        let mut c = self.conn().await?;
        let r: Result<(), _> = c.del(self.keys.disabled_targets()).await;
        self.check(r).await
    }
}
