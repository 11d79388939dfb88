//! SLA clocks as stored, and the escalation steps' scripts.

use redis::AsyncCommands;
use serde::Deserialize;

use super::outbox::OutboxEntry;
use super::routing::corrupt;
use super::{Store, StoreError};

/// What an escalation did to the routing state.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct EscalationOutcome {
    /// `raise`: the priority now.
    #[serde(default)]
    pub priority: i64,
    /// `reoffer`: the agent it was taken from (`""`: it had none).
    #[serde(default)]
    pub from: String,
    /// `reoffer`: the agent holding it now (`""`: queued).
    #[serde(default)]
    pub agent: String,
    /// The state now.
    #[serde(default)]
    pub state: String,
}

/// `s` with Redis glob characters escaped (the `{…}` hash tag is not one,
/// but `[`, `]`, `*`, `?` and `\\` are).
fn redis_glob_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

impl Store {
    /// Raises a conversation's priority (see `lua/escalate.lua`).
    pub async fn raise_priority(
        &self,
        conversation: &str,
        by: i32,
        now_ms: i64,
    ) -> Result<(EscalationOutcome, Vec<OutboxEntry>), StoreError> {
        self.escalate(conversation, "raise", by, now_ms).await
    }

    /// Takes a conversation from its agent and places it with another.
    pub async fn reoffer(&self, conversation: &str, now_ms: i64) -> Result<(EscalationOutcome, Vec<OutboxEntry>), StoreError> {
        self.escalate(conversation, "reoffer", 0, now_ms).await
    }

    async fn escalate(
        &self,
        conversation: &str,
        op: &str,
        by: i32,
        now_ms: i64,
    ) -> Result<(EscalationOutcome, Vec<OutboxEntry>), StoreError> {
        let key = self.keys.conversation(conversation);
        let mut inv = self.escalate.key(&key);
        inv.arg(self.keys.base()).arg(conversation).arg(now_ms).arg(op).arg(by);
        let (json, events) = self.invoke_emitting(&inv).await?;
        Ok((serde_json::from_str(&json).map_err(corrupt(key))?, events))
    }

    /// A conversation's SLA clocks as stored (`""` when none yet).
    pub async fn sla_clocks(&self, conversation: &str) -> Result<String, StoreError> {
        let mut c = self.conn().await?;
        let r: Result<Option<String>, _> = c.get(self.keys.sla(conversation)).await;
        Ok(self.check(r).await?.unwrap_or_default())
    }

    /// Every conversation that has SLA clocks (SCAN, for a reload).
    pub async fn sla_conversations(&self) -> Result<Vec<String>, StoreError> {
        let prefix = self.keys.sla_prefix();
        let pattern = format!("{}*", redis_glob_escape(&prefix));
        let mut c = self.conn().await?;
        let mut cursor: u64 = 0;
        let mut out = Vec::new();
        loop {
            let r: Result<(u64, Vec<String>), _> =
                redis::cmd("SCAN").arg(cursor).arg("MATCH").arg(&pattern).arg("COUNT").arg(1000).query_async(&mut c).await;
            let (next, keys) = self.check(r).await?;
            // `{P}:sla:done:…` markers share the prefix; conversation ids have no `:`.
            out.extend(keys.into_iter().filter_map(|k| k.strip_prefix(&prefix).filter(|id| !id.contains(':')).map(str::to_owned)));
            if next == 0 {
                return Ok(out);
            }
            cursor = next;
        }
    }

    /// Replaces the SLA clocks if they are still `read`; `false` when
    /// someone changed them meanwhile (read again and retry).
    pub async fn sla_replace(&self, conversation: &str, read: &str, new: &str) -> Result<bool, StoreError> {
        let mut c = self.conn().await?;
        let r: Result<i64, _> = self
            .sla_cas
            .key(self.keys.sla(conversation))
            .arg(read)
            .arg(new)
            .arg(super::SLA_TTL_SECS)
            .invoke_async(&mut c)
            .await;
        Ok(self.check(r).await? == 1)
    }
}
