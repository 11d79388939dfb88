//! The routing state in Redis, changed only through the scripts that
//! share `lua/lib.lua` (the invariants are written there): routing an
//! inbound message, draining queues when capacity frees, resolving,
//! offers, transfers and the timed sweep. The scripts' requests and
//! answers are in [`types`]; agent state is in `store::agents`.

mod types;

pub use types::*;

use serde::Deserialize;

use super::outbox::{split_reply, OutboxEntry};
use super::{Store, StoreError};

pub(super) fn corrupt(key: String) -> impl FnOnce(serde_json::Error) -> StoreError {
    move |e| StoreError::Corrupt { key, reason: e.to_string() }
}

impl Store {
    /// Routes one inbound message atomically; see `lua/route.lua`.
    pub async fn route(&self, req: RouteRequest<'_>) -> Result<RouteResult, StoreError> {
        let seen = self.keys.seen(req.channel, req.account, req.provider_message_id);
        let class = serde_json::to_string(&req.class).map_err(corrupt(seen.clone()))?;
        let keys = vec![
            seen.clone(),
            self.keys.identity(req.identity.0, req.identity.1),
            req.shop_customer.map(|id| self.keys.identity("shop", id)).unwrap_or_default(),
        ];
        // The history entry's text and URLs sealed (`[security] data_keys`).
        let stored_message = crate::sealing::seal_entry(&req.stored_message);
        let mut args: Vec<Vec<u8>> = [
            self.keys.base(),
            &stored_message,
            &req.new_customer_id,
            &req.new_conversation_id,
            &req.now_ms.to_string(),
            &req.dedupe_ttl_secs.to_string(),
            req.channel.as_str(),
            req.account,
            req.address,
            req.message_id,
            req.hint.as_deref().unwrap_or(""),
            &class,
            &req.join_window_ms.to_string(),
            &req.reopen_window_ms.to_string(),
            &req.event_message,
            &req.stream_seq.to_string(),
        ]
        .iter()
        .map(|a| a.as_bytes().to_vec())
        .collect();
        for (field, value) in &req.profile {
            args.push(field.as_bytes().to_vec());
            args.push(value.as_bytes().to_vec());
        }
        let reply = self.batchers().await.route.call((keys, args)).await?.map_err(|e| {
            StoreError::Redis(redis::RedisError::from((redis::ErrorKind::ResponseError, "routing script failed", e)))
        })?;
        let r: Result<Vec<String>, redis::RedisError> = Ok(reply);
        let (head, events) = split_reply(r?, 3)?;
        let [duplicate, json, after]: [String; 3] =
            head.try_into().map_err(|_| StoreError::Corrupt { key: seen.clone(), reason: "short reply".into() })?;
        #[derive(Deserialize)]
        struct After {
            #[serde(default)]
            sla: String,
            #[serde(default)]
            priority: i32,
        }
        let mut result: RouteResult = serde_json::from_str(&json).map_err(corrupt(seen.clone()))?;
        let after: After = serde_json::from_str(&after).map_err(corrupt(seen))?;
        result.duplicate = duplicate == "1";
        (result.sla_clocks, result.priority, result.events) = (after.sla, after.priority, events);
        Ok(result)
    }

    /// Routes several messages in one call (`lua/route_many.lua`): each
    /// message's `route.lua` answer, or its own error.
    pub(super) async fn route_batch(&self, items: std::sync::Arc<Vec<super::RouteItem>>) -> Result<Vec<Result<Vec<String>, String>>, StoreError> {
        let mut inv = self.route_many.prepare_invoke();
        inv.arg(items.len());
        for (keys, args) in items.iter() {
            inv.arg(keys.len()).arg(args.len());
        }
        for (keys, args) in items.iter() {
            for key in keys {
                inv.key(key);
            }
            for arg in args {
                inv.arg(arg.as_slice());
            }
        }
        let mut c = self.conn().await?;
        let r: Result<Vec<Vec<String>>, _> = inv.invoke_async(&mut c).await;
        let answers = self.check(r).await?;
        Ok(answers
            .into_iter()
            .map(|mut answer| match answer.first().map(String::as_str) {
                Some("ok") => Ok(answer.split_off(1)),
                Some("err") => Err(answer.get(1).cloned().unwrap_or_default()),
                _ => Err("a malformed answer of the routing script".to_owned()),
            })
            .collect())
    }

    /// Runs a routing script whose answer is reply()-shaped (see
    /// `lua/lib.lua`): its JSON result and the outbox entries it appended.
    pub(super) async fn invoke_emitting(&self, inv: &redis::ScriptInvocation<'_>) -> Result<(String, Vec<OutboxEntry>), StoreError> {
        let mut c = self.conn().await?;
        let r: Result<Vec<String>, _> = inv.invoke_async(&mut c).await;
        let (head, entries) = split_reply(self.check(r).await?, 1)?;
        Ok((head.into_iter().next().unwrap_or_default(), entries))
    }

    /// Places waiting conversations where capacity is free (see
    /// `lua/drain.lua`), looking at `depth` heads per queue.
    pub async fn drain(&self, now_ms: i64, depth: u32) -> Result<(Vec<Placement>, Vec<OutboxEntry>), StoreError> {
        let (json, events) = self.invoke_emitting(self.drain.arg(self.keys.base()).arg(now_ms).arg(depth)).await?;
        Ok((lenient(&json).map_err(corrupt(self.keys.base().to_owned()))?, events))
    }

    /// Resolves a conversation (see `lua/resolve.lua`): `None` if it was
    /// already resolved or does not exist.
    pub async fn resolve(
        &self,
        conversation: &str,
        now_ms: i64,
        wrapup_ms: u64,
        by: &str,
    ) -> Result<(Option<ResolveOutcome>, Vec<OutboxEntry>), StoreError> {
        let key = self.keys.conversation(conversation);
        let (json, events) =
            self.invoke_emitting(self.resolve.key(&key).arg(self.keys.base()).arg(now_ms).arg(wrapup_ms).arg(by)).await?;
        if json.is_empty() {
            return Ok((None, events));
        }
        Ok((Some(serde_json::from_str(&json).map_err(corrupt(key))?), events))
    }

    /// An agent's answer to an offer (see `lua/offer.lua`).
    pub async fn answer_offer(
        &self,
        conversation: &str,
        agent: &str,
        accept: bool,
        now_ms: i64,
    ) -> Result<(OfferOutcome, Vec<OutboxEntry>), StoreError> {
        let key = self.keys.conversation(conversation);
        let mut inv = self.offer.key(&key);
        inv.arg(self.keys.base()).arg(conversation).arg(agent).arg(now_ms).arg(if accept { "accept" } else { "decline" });
        let (json, events) = self.invoke_emitting(&inv).await?;
        let mut outcome: OfferOutcome = serde_json::from_str(&json).map_err(corrupt(key))?;
        outcome.conversation = conversation.to_owned();
        Ok((outcome, events))
    }

    /// Transfers a conversation (see `lua/transfer.lua`); `why` goes in
    /// the `transferred` event (the agent's note).
    pub async fn transfer(
        &self,
        conversation: &str,
        target: &TransferTarget,
        why: &str,
        now_ms: i64,
    ) -> Result<(TransferOutcome, Vec<OutboxEntry>), StoreError> {
        self.transfer_with(conversation, target, now_ms, why, false).await
    }

    /// A transfer to a queue by an escalation, keeping a higher priority.
    pub async fn reroute(
        &self,
        conversation: &str,
        target: &TransferTarget,
        why: &str,
        now_ms: i64,
    ) -> Result<(TransferOutcome, Vec<OutboxEntry>), StoreError> {
        self.transfer_with(conversation, target, now_ms, why, true).await
    }

    async fn transfer_with(
        &self,
        conversation: &str,
        target: &TransferTarget,
        now_ms: i64,
        why: &str,
        keep_priority: bool,
    ) -> Result<(TransferOutcome, Vec<OutboxEntry>), StoreError> {
        let key = self.keys.conversation(conversation);
        let (kind, name, req) = match target {
            TransferTarget::Agent(a) => ("agent", a.clone(), "{}".to_owned()),
            TransferTarget::Queue(class) => {
                ("queue", class.queue.clone(), serde_json::to_string(class).map_err(corrupt(key.clone()))?)
            }
        };
        let mut inv = self.transfer.key(&key);
        inv.arg(self.keys.base())
            .arg(conversation)
            .arg(now_ms)
            .arg(kind)
            .arg(name)
            .arg(req)
            .arg(if keep_priority { "keep_priority" } else { "" })
            .arg(why);
        let (json, events) = self.invoke_emitting(&inv).await?;
        Ok((serde_json::from_str(&json).map_err(corrupt(key))?, events))
    }

    /// Withdraws offers that timed out and ends wrap-ups that are over
    /// (see `lua/sweep.lua`), up to `batch` of each.
    pub async fn sweep(&self, now_ms: i64, batch: u32) -> Result<(SweepOutcome, Vec<OutboxEntry>), StoreError> {
        self.sweep_with(now_ms, batch, "").await
    }

    /// Frees the capacity a resolved conversation still holds (a resolve
    /// without wrap-up, once its event is published).
    pub async fn release_resolved(&self, conversation: &str, now_ms: i64) -> Result<SweepOutcome, StoreError> {
        Ok(self.sweep_with(now_ms, 0, conversation).await?.0)
    }

    async fn sweep_with(&self, now_ms: i64, batch: u32, only: &str) -> Result<(SweepOutcome, Vec<OutboxEntry>), StoreError> {
        let (json, events) =
            self.invoke_emitting(self.sweep.arg(self.keys.base()).arg(now_ms).arg(batch).arg(only)).await?;
        Ok((serde_json::from_str(&json).map_err(corrupt(self.keys.base().to_owned()))?, events))
    }

}

impl Store {
}

impl Store {
}

impl Store {
}

/// A JSON list that Lua may have written as `{}` when empty.
pub(super) fn lenient<T: serde::de::DeserializeOwned>(json: &str) -> Result<Vec<T>, serde_json::Error> {
    match serde_json::from_str::<serde_json::Value>(json)? {
        serde_json::Value::Array(items) => items.into_iter().map(serde_json::from_value).collect(),
        _ => Ok(Vec::new()),
    }
}
