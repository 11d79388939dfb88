//! The routing state in Redis, changed only through the scripts that
//! share `lua/lib.lua` (the invariants are written there): routing an
//! inbound message, draining queues when capacity frees, resolving,
//! offers, transfers, agent state and the timed sweep.

use std::collections::BTreeMap;

use redis::AsyncCommands;
use serde::{Deserialize, Serialize};
use switchboard_core::Channel;

use super::outbox::{split_reply, OutboxEntry};
use super::{Store, StoreError};
use crate::model::Candidate;

/// One inbound message to route (see `lua/route.lua`).
#[derive(Debug)]
pub struct RouteRequest<'a> {
    /// Channel of the message.
    pub channel: Channel,
    /// Channel account.
    pub account: &'a str,
    /// Provider message id (idempotency key).
    pub provider_message_id: &'a str,
    /// Identity kind (`phone`, `email`, …) and value of the customer.
    pub identity: (&'a str, &'a str),
    /// The shop's customer id, when the message carries a verified one.
    pub shop_customer: Option<&'a str>,
    /// Profile fields to record on the customer (e.g. the shop's tier).
    pub profile: Vec<(&'static str, String)>,
    /// The customer's address on the channel.
    pub address: &'a str,
    /// Our id of the message.
    pub message_id: &'a str,
    /// The message as stored in the conversation.
    pub stored_message: String,
    /// Where and how a new (or reopened) conversation is routed.
    pub class: ClassJson,
    /// A conversation to join if it is open (email threading).
    pub hint: Option<String>,
    /// Customer id to use if the identity is new.
    pub new_customer_id: String,
    /// Conversation id to use if a new conversation opens.
    pub new_conversation_id: String,
    /// Now, in ms since the epoch.
    pub now_ms: i64,
    /// How long the provider message id is remembered.
    pub dedupe_ttl_secs: u64,
    /// An open conversation idle longer than this is closed and a new one
    /// opens (0: always join).
    pub join_window_ms: i64,
    /// A conversation resolved this recently reopens (0: never).
    pub reopen_window_ms: i64,
    /// The message as the routing's events carry it (JSON).
    pub event_message: String,
}

/// The classification of a conversation as the scripts store it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ClassJson {
    /// Queue.
    pub queue: String,
    /// Priority (higher first).
    pub priority: i32,
    /// Required skills with minimum proficiency.
    pub skills: BTreeMap<String, u8>,
    /// Tags.
    pub tags: Vec<String>,
    /// The rule that matched (`""`: the default queue).
    pub rule: String,
    /// `auto` or `offer`.
    pub mode: String,
    /// Offer mode: time to accept.
    pub offer_timeout_ms: u64,
    /// Language the agent must speak (`""`: any).
    pub language: String,
    /// The first-response SLA deadline (ms; 0: none), which orders the
    /// queue within a priority band.
    #[serde(default)]
    pub deadline_ms: i64,
    /// The SLA policy (`""`: none).
    #[serde(default)]
    pub sla: String,
}

/// What routing did with a message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RouteResult {
    /// The conversation the message joined.
    pub conversation: String,
    /// The customer.
    pub customer: String,
    /// Whether the conversation was opened by this message.
    pub created: bool,
    /// Whether a resolved conversation was reopened by this message.
    #[serde(default)]
    pub reopened: bool,
    /// Conversation state after routing.
    pub state: String,
    /// Its queue.
    pub queue: String,
    /// Its agent, if assigned or offered.
    #[serde(default)]
    pub agent: Option<String>,
    /// Our id of the message first routed under this provider id.
    pub message_id: String,
    /// The rule that classified the conversation (`""`: default queue).
    #[serde(default)]
    pub rule: String,
    /// Whether this message placed the conversation with an agent now.
    #[serde(default)]
    pub placed: bool,
    /// The assignment decision, when one was made.
    #[serde(default, deserialize_with = "lenient_list")]
    pub decision: Vec<Candidate>,
    /// Whether this was a redelivery of a message already routed.
    #[serde(skip)]
    pub duplicate: bool,
    /// The conversation's SLA clocks as stored after routing (`""`: none).
    #[serde(skip)]
    pub sla_clocks: String,
    /// The conversation's priority after routing.
    #[serde(skip)]
    pub priority: i32,
    /// The events the step appended to the outbox (none for a duplicate).
    #[serde(skip)]
    pub events: Vec<OutboxEntry>,
}

/// Lua's cjson writes an empty table as `{}`; accept it as an empty list.
fn lenient_list<'de, D: serde::Deserializer<'de>, T: serde::de::DeserializeOwned>(d: D) -> Result<Vec<T>, D::Error> {
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::Array(items) => {
            items.into_iter().map(|v| serde_json::from_value(v).map_err(serde::de::Error::custom)).collect()
        }
        _ => Ok(Vec::new()),
    }
}

/// A waiting conversation given to an agent by a drain or a withdrawn offer.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct Placement {
    /// The conversation.
    pub conversation: String,
    /// The agent.
    pub agent: String,
    /// `assigned` or `offered`.
    pub state: String,
}

/// The outcome of resolving a conversation.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct ResolveOutcome {
    /// The agent that held it (`""`: none).
    pub agent: String,
    /// Whether the agent's capacity stays taken for the wrap-up time.
    pub wrapup: bool,
}

/// The outcome of an answer to an offer, or of an offer timing out.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct OfferOutcome {
    /// Whether the conversation was offered to the agent.
    #[serde(default = "yes")]
    pub ok: bool,
    /// The conversation.
    #[serde(default)]
    pub conversation: String,
    /// The agent the offer was taken back from (decline, timeout).
    #[serde(default)]
    pub from: String,
    /// The agent holding it now (`""`: queued).
    #[serde(default)]
    pub agent: String,
    /// The conversation's state now.
    #[serde(default)]
    pub state: String,
    /// Whether the agent was set away for missing offers.
    #[serde(default)]
    pub away: bool,
}

fn yes() -> bool {
    true
}

/// What the timed sweep did.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct SweepOutcome {
    /// Offers that timed out, each offered on or queued.
    #[serde(default, deserialize_with = "lenient_list")]
    pub offers: Vec<OfferOutcome>,
    /// Agents whose wrap-up ended.
    #[serde(default, deserialize_with = "lenient_list")]
    pub freed: Vec<String>,
    /// Conversations that took a bullseye step.
    #[serde(default, deserialize_with = "lenient_list")]
    pub widened: Vec<Widened>,
}

/// A bullseye step taken by a waiting conversation.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct Widened {
    /// The conversation.
    pub conversation: String,
    /// The step (1-based).
    pub step: u32,
    /// The queue it waited in.
    pub from_queue: String,
    /// The overflow queue it moved to (`""`: it stayed).
    #[serde(default)]
    pub queue: String,
    /// Levels below the required proficiency now accepted.
    #[serde(default)]
    pub relax: u32,
    /// The agent it was placed with (`""`: still waiting).
    #[serde(default)]
    pub agent: String,
    /// Its state now.
    #[serde(default)]
    pub state: String,
}

/// A queue as the routing scripts read it from `{P}:config`.
#[derive(Clone, Debug, Default, Serialize)]
pub struct QueueJson {
    /// Required skills.
    pub skills: BTreeMap<String, u8>,
    /// Priority.
    pub priority: i32,
    /// `auto` or `offer`.
    pub mode: String,
    /// Offer timeout (ms).
    pub offer_timeout_ms: u64,
    /// Overflow queue (`""`: none).
    pub overflow: String,
    /// Bullseye steps.
    pub bullseye: Vec<BullseyeJson>,
}

/// One bullseye step as the scripts read it.
#[derive(Clone, Debug, Default, Serialize)]
pub struct BullseyeJson {
    /// Waiting time before the step (ms).
    pub after_ms: u64,
    /// Levels of proficiency relaxed.
    pub relax: u8,
    /// Move to the overflow queue.
    pub overflow: bool,
}

/// Where a transfer goes.
#[derive(Clone, Debug, PartialEq)]
pub enum TransferTarget {
    /// Another agent.
    Agent(String),
    /// A queue, with its requirements.
    Queue(ClassJson),
}

/// The outcome of a transfer.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct TransferOutcome {
    /// Whether it happened.
    pub ok: bool,
    /// Why not: `not_found`, `resolved`, `same_agent`, `agent_unavailable`.
    #[serde(default)]
    pub error: String,
    /// The agent freed (`""`: none).
    #[serde(default)]
    pub from: String,
    /// The agent holding it now (`""`: queued).
    #[serde(default)]
    pub agent: String,
    /// The conversation's state now.
    #[serde(default)]
    pub state: String,
    /// Its queue now.
    #[serde(default)]
    pub queue: String,
}

/// An agent's configuration as routing reads it in Redis.
#[derive(Clone, Debug)]
pub struct AgentSync<'a> {
    /// Agent id.
    pub id: &'a str,
    /// Status for an agent Redis does not know yet (or always, if `force`).
    pub status: &'a str,
    /// Set the status even if Redis has one (removed agents: offline).
    pub force: bool,
    /// Total capacity.
    pub total: u32,
    /// Capacity per channel.
    pub capacity: [(Channel, u32); 4],
    /// Skills with proficiency.
    pub skills: &'a BTreeMap<String, u8>,
    /// Languages (empty: any).
    pub languages: &'a [String],
}

fn corrupt(key: String) -> impl FnOnce(serde_json::Error) -> StoreError {
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
        let mut args: Vec<Vec<u8>> = [
            self.keys.base(),
            &req.stored_message,
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
    async fn invoke_emitting(&self, inv: &redis::ScriptInvocation<'_>) -> Result<(String, Vec<OutboxEntry>), StoreError> {
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

    /// Writes an agent's configuration for routing (see `lua/agent.lua`).
    pub async fn sync_agent(&self, agent: &AgentSync<'_>) -> Result<String, StoreError> {
        let skills = serde_json::to_string(agent.skills).map_err(corrupt(self.keys.agent(agent.id)))?;
        let languages = serde_json::to_string(agent.languages).map_err(corrupt(self.keys.agent(agent.id)))?;
        let mut inv = self.agent_script.key(self.keys.agent(agent.id));
        inv.arg(self.keys.base())
            .arg(agent.id)
            .arg("sync")
            .arg(agent.status)
            .arg(if agent.force { "force" } else { "" })
            .arg(agent.total);
        for channel in [Channel::Sms, Channel::Wechat, Channel::Email, Channel::Webchat] {
            let cap = agent.capacity.iter().find(|(c, _)| *c == channel).map_or(0, |(_, cap)| *cap);
            inv.arg(cap);
        }
        inv.arg(skills).arg(languages);
        let mut c = self.conn().await?;
        let r: Result<String, _> = inv.invoke_async(&mut c).await;
        self.check(r).await
    }

    /// Sets an agent's status and re-indexes it.
    pub async fn set_agent_status(&self, agent: &str, status: &str) -> Result<(), StoreError> {
        let mut c = self.conn().await?;
        let r: Result<String, _> = self
            .agent_script
            .key(self.keys.agent(agent))
            .arg(self.keys.base())
            .arg(agent)
            .arg("status")
            .arg(status)
            .invoke_async(&mut c)
            .await;
        self.check(r).await.map(|_| ())
    }

    /// Writes the routing settings the scripts read (`{P}:config`).
    pub async fn set_routing_config(
        &self,
        sticky_ms: i64,
        offer_misses: u32,
        event_source: &str,
        queues: &BTreeMap<String, QueueJson>,
    ) -> Result<(), StoreError> {
        let key = self.keys.routing_config();
        let mut fields = vec![
            ("sticky_ms".to_owned(), sticky_ms.to_string()),
            ("offer_misses".to_owned(), offer_misses.to_string()),
            ("event_source".to_owned(), event_source.to_owned()),
        ];
        for (name, q) in queues {
            fields.push((format!("queue:{name}"), serde_json::to_string(q).map_err(corrupt(key.clone()))?));
        }
        let mut c = self.conn().await?;
        let r: Result<(), _> = c.hset_multiple(&key, &fields).await;
        self.check(r).await
    }
}

/// A customer profile as the admin API sets it.
#[derive(Clone, Debug, Default)]
pub struct CustomerUpdate {
    /// The shop's customer id (also an identity, kind `shop`).
    pub shop_id: String,
    /// Identities to link: kind (`phone`, `email`, `wechat-<account>`,
    /// `visitor`) and value, normalized.
    pub identities: Vec<(String, String)>,
    /// Attributes to set (`""` removes one).
    pub attributes: Vec<(String, String)>,
}

impl Store {
    /// Creates or updates a customer (see `lua/customer.lua`); the
    /// customer id and whether it was created.
    pub async fn put_customer(&self, update: &CustomerUpdate, new_id: &str, now_ms: i64) -> Result<(String, bool), StoreError> {
        let mut inv = self.customer.key(self.keys.identity("shop", &update.shop_id));
        for (kind, value) in &update.identities {
            inv.key(self.keys.identity(kind, value));
        }
        inv.arg(self.keys.base()).arg(new_id).arg(now_ms).arg(&update.shop_id).arg(update.identities.len());
        for (kind, value) in &update.identities {
            inv.arg(format!("{kind}:{value}"));
        }
        for (field, value) in &update.attributes {
            inv.arg(field).arg(value);
        }
        let mut c = self.conn().await?;
        let r: Result<(String, i64), _> = inv.invoke_async(&mut c).await;
        let (id, created) = self.check(r).await?;
        Ok((id, created == 1))
    }

    /// A customer's profile and identities, by an identity.
    pub async fn customer_profile(
        &self,
        identity: (&str, &str),
    ) -> Result<Option<(std::collections::HashMap<String, String>, Vec<String>)>, StoreError> {
        let mut c = self.conn().await?;
        let r: Result<Option<String>, _> = c.get(self.keys.identity(identity.0, identity.1)).await;
        let Some(cid) = self.check(r).await? else { return Ok(None) };
        let key = self.keys.customer(&cid);
        let r: Result<(std::collections::HashMap<String, String>, Vec<String>), _> =
            redis::pipe().hgetall(&key).smembers(format!("{key}:identities")).query_async(&mut c).await;
        let (profile, mut identities) = self.check(r).await?;
        identities.sort();
        Ok(Some((profile, identities)))
    }
}

/// A JSON list that Lua may have written as `{}` when empty.
fn lenient<T: serde::de::DeserializeOwned>(json: &str) -> Result<Vec<T>, serde_json::Error> {
    match serde_json::from_str::<serde_json::Value>(json)? {
        serde_json::Value::Array(items) => items.into_iter().map(serde_json::from_value).collect(),
        _ => Ok(Vec::new()),
    }
}

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

/// One queue in the stats snapshot.
#[derive(Clone, Debug, Default, Serialize)]
pub struct QueueStats {
    /// Conversations waiting.
    pub waiting: u64,
    /// When the longest-waiting one was queued (ms), if any.
    pub oldest_enqueued_ms: Option<i64>,
}

impl Store {
    /// How many conversations wait in each of `queues` (all channels), and
    /// since when the oldest of each line's first 50 waits.
    pub async fn queue_stats(&self, queues: &[String]) -> Result<Vec<QueueStats>, StoreError> {
        let mut c = self.conn().await?;
        let mut out = Vec::new();
        for q in queues {
            let mut pipe = redis::pipe();
            for ch in Channel::ALL {
                pipe.zcard(self.keys.waiting(q, ch));
                pipe.zrange(self.keys.waiting(q, ch), 0, 49);
            }
            let r: Result<Vec<redis::Value>, _> = pipe.query_async(&mut c).await;
            let values = self.check(r).await?;
            let mut stats = QueueStats::default();
            let mut heads: Vec<String> = Vec::new();
            for pair in values.chunks(2) {
                stats.waiting += redis::from_redis_value::<u64>(&pair[0]).unwrap_or(0);
                heads.extend(redis::from_redis_value::<Vec<String>>(&pair[1]).unwrap_or_default());
            }
            if !heads.is_empty() {
                let mut pipe = redis::pipe();
                for id in &heads {
                    pipe.hget(self.keys.conversation(id), "enqueued_at");
                }
                let r: Result<Vec<Option<i64>>, _> = pipe.query_async(&mut c).await;
                stats.oldest_enqueued_ms = self.check(r).await?.into_iter().flatten().min();
            }
            out.push(stats);
        }
        Ok(out)
    }
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
