//! Quiet conversations (`crate::idle`): marking one pending (no longer
//! counted toward its agent's load, `lua/idle_pending.lua`) and resolving
//! one for inactivity (`lua/resolve.lua` with its quiet guard), each one
//! atomic step that does nothing once the customer wrote again.

use std::sync::LazyLock;

use redis::Script;

use super::outbox::OutboxEntry;
use super::routing::{corrupt, ResolveOutcome};
use super::{with_lib, Store, StoreError};

static PENDING: LazyLock<Script> = LazyLock::new(|| with_lib(include_str!("lua/idle_pending.lua")));

impl Store {
    /// Marks `conversation` pending if it is still quiet since the agent's
    /// reply at `since_ms`; the agent whose capacity freed, if any.
    pub async fn mark_pending(&self, conversation: &str, now_ms: i64, since_ms: i64) -> Result<Option<String>, StoreError> {
        let mut inv = PENDING.key(self.keys.conversation(conversation));
        inv.arg(self.keys.base()).arg(now_ms).arg(since_ms);
        let (agent, _) = self.invoke_emitting(&inv).await?;
        Ok((!agent.is_empty()).then_some(agent))
    }

    /// Resolves `conversation` with reason `inactive` (by `inactive`, no
    /// wrap-up) if it is still quiet since the agent's reply at `since_ms`.
    pub async fn resolve_inactive(
        &self,
        conversation: &str,
        now_ms: i64,
        since_ms: i64,
    ) -> Result<(Option<ResolveOutcome>, Vec<OutboxEntry>), StoreError> {
        let key = self.keys.conversation(conversation);
        let mut inv = self.resolve.key(&key);
        inv.arg(self.keys.base()).arg(now_ms).arg(0).arg("inactive").arg("inactive").arg(since_ms);
        let (json, events) = self.invoke_emitting(&inv).await?;
        if json.is_empty() {
            return Ok((None, events));
        }
        Ok((Some(serde_json::from_str(&json).map_err(corrupt(key))?), events))
    }
}
