//! The send state of outbound messages and the providers' delivery
//! statuses.

use std::collections::HashMap;
use std::time::Duration;

use redis::AsyncCommands;

use super::{Store, StoreError};

impl Store {
    /// The recorded send state of an outbound message (`sent`, `failed`).
    pub async fn outbound_state(&self, id: &str) -> Result<Option<String>, StoreError> {
        let mut c = self.conn().await?;
        let r: Result<Option<String>, _> = c.hget(self.keys.outbound(id), "state").await;
        self.check(r).await
    }

    /// Records the final send state of an outbound message, with its
    /// conversation and agent (status callbacks and failure events need them).
    pub async fn mark_outbound(
        &self,
        out: &switchboard_core::OutboundMessage,
        state: &str,
        provider_id: Option<&str>,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let key = self.keys.outbound(&out.id);
        let mut c = self.conn().await?;
        let mut pipe = redis::pipe();
        pipe.atomic()
            .hset(&key, "state", state)
            .hset(&key, "conversation", &out.conversation_id)
            .hset(&key, "agent", out.agent.as_deref().unwrap_or(""));
        if let Some(pid) = provider_id {
            pipe.hset(&key, "provider_id", pid);
        }
        pipe.expire(&key, ttl.as_secs() as i64);
        let r: Result<(), _> = pipe.query_async(&mut c).await;
        self.check(r).await
    }

    /// Records a provider delivery status; `false` when it was stale (an
    /// older state arriving after a newer one).
    pub async fn update_delivery(
        &self,
        outbound_id: &str,
        state: &str,
        rank: u8,
        error_code: Option<&str>,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let mut c = self.conn().await?;
        let r: Result<i64, _> = self
            .delivery
            .key(self.keys.outbound(outbound_id))
            .arg(state)
            .arg(rank)
            .arg(error_code.unwrap_or(""))
            .arg(now_ms)
            .invoke_async(&mut c)
            .await;
        Ok(self.check(r).await? == 1)
    }

    /// Everything recorded about an outbound message.
    pub async fn outbound(&self, id: &str) -> Result<HashMap<String, String>, StoreError> {
        let mut c = self.conn().await?;
        let r = c.hgetall(self.keys.outbound(id)).await;
        self.check(r).await
    }
}
