//! Redis: the connection, and every read and write switchboard makes, typed.
//! The key schema and its invariants are in [`schema`].

mod coalesce;
pub mod conn;
pub mod schema;
mod live;
mod outbox;
mod routing;
pub mod sending;
pub mod timers;
mod webchat;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;


pub use conn::Counted;
use redis::{AsyncCommands, Script};
use secrecy::ExposeSecret;

pub use schema::Keys;
pub use routing::{
    AgentSync, BullseyeJson, ClassJson, CustomerUpdate, EscalationOutcome, QueueStats, QueueJson, Widened, OfferOutcome, Placement, ResolveOutcome, RouteRequest, RouteResult, SweepOutcome,
    TransferOutcome, TransferTarget,
};
pub use webchat::{ChatSlot, CHAT_TTL};
pub use live::{AgentLive, AlertCheck, AtRiskLive, LiveRead, LiveRequest, QueueLive, StoredAlert};
pub use outbox::{EmitRequest, Emitted, OutboxEntry, OutboxTarget, ReplyOutcome, ReplyRecord};

use crate::config::RedisSettings;

/// What went wrong talking to Redis.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The URL is not usable.
    #[error("invalid Redis URL")]
    Url,
    /// Redis did not answer or answered an error.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// A stored value is not what this version writes.
    #[error("unexpected stored data at {key}: {reason}")]
    Corrupt {
        /// The key.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl StoreError {
    /// Whether Redis was unavailable (down, unreachable, loading, busy,
    /// failing over) rather than refusing this request: the step should
    /// wait and try again, and must not count as a failed attempt.
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Redis(e) => {
                e.is_io_error()
                    || e.is_timeout()
                    || e.is_connection_dropped()
                    || e.is_connection_refusal()
                    || matches!(
                        e.kind(),
                        redis::ErrorKind::BusyLoadingError
                            | redis::ErrorKind::TryAgain
                            | redis::ErrorKind::MasterDown
                            | redis::ErrorKind::ReadOnly
                            | redis::ErrorKind::ClusterDown
                    )
                    || e.code() == Some("BUSY")
            }
            StoreError::Url | StoreError::Corrupt { .. } => false,
        }
    }
}

/// What [`Store::claim_request`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Claim {
    /// The first request with this key: take it.
    New,
    /// The same request again (a provider retry); `durable` when the first
    /// was taken for good, else it is in flight or failed (take it again:
    /// downstream de-duplication absorbs a repeat, and nothing is lost).
    Retry {
        /// Whether the first one was made durable.
        durable: bool,
    },
    /// The same key with another body: a forgery.
    Conflict,
}

/// A lazily (re)connecting Redis handle. Cloning is cheap; all clones share
/// one multiplexed connection, replaced after an I/O error.
#[derive(Clone)]
pub struct Store {
    conn: Arc<conn::Shared>,
    keys: Keys,
    delivery: Arc<Script>,
    profile: Arc<Script>,
    lookup: Arc<Script>,
    drain: Arc<Script>,
    resolve: Arc<Script>,
    offer: Arc<Script>,
    transfer: Arc<Script>,
    agent_script: Arc<Script>,
    sweep: Arc<Script>,
    customer: Arc<Script>,
    escalate: Arc<Script>,
    sla_cas: Arc<Script>,
    chat_reserve: Arc<Script>,
    chat_commit: Arc<Script>,
    delivered_many: Arc<Script>,
    route_many: Arc<Script>,
    outbox_scripts: Arc<outbox::OutboxScripts>,
    live_scripts: Arc<live::LiveScripts>,
    /// The batching fronts (`coalesce`), started on first use.
    batchers: Arc<tokio::sync::OnceCell<Batchers>>,
}

/// One message to route: the keys and arguments of `lua/route.lua`.
type RouteItem = (Vec<String>, Vec<Vec<u8>>);

/// One fast-path removal: the ids published, and the SLA clocks'
/// compare-and-set (key, read, new; empty key: none).
type DoneItem = (Vec<String>, String, String, String);

/// The calls that are batched when they come in faster than Redis answers.
struct Batchers {
    route: coalesce::Coalescer<RouteItem, Result<Vec<String>, String>>,
    lookup: coalesce::Coalescer<Vec<String>, HashMap<String, String>>,
    outbox_done: coalesce::Coalescer<DoneItem, bool>,
    delivered: coalesce::Coalescer<(String, u64), ()>,
}

/// A batching front of `call` over `store`.
fn front<Req, Resp, F, Fut>(store: &Store, max: usize, call: F) -> coalesce::Coalescer<Req, Resp>
where
    Req: Clone + Send + Sync + 'static,
    Resp: Send + 'static,
    F: Fn(Store, Arc<Vec<Req>>) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<Vec<Resp>, StoreError>> + Send + 'static,
{
    let store = store.clone();
    coalesce::Coalescer::start(max, BATCH_LANES, Arc::new(move |items| Box::pin(call(store.clone(), items))))
}

/// Requests per batch, and batches in flight, of each batched call.
const BATCH_MAX: usize = 64;
const BATCH_LANES: usize = 4;
/// Messages per routing call: each may walk many agents, and Redis runs
/// nothing else meanwhile.
const ROUTE_BATCH_MAX: usize = 16;

/// The routing library, prepended to the scripts that change assignments.
const LIB_LUA: &str = include_str!("lua/lib.lua");

/// How long a conversation's delivery mark lives after its last event.
const DELIVERED_SEQ_TTL_SECS: u64 = 30 * 24 * 3600;

/// How long a conversation's SLA clocks are kept after their last change.
const SLA_TTL_SECS: u64 = 90 * 24 * 3600;

fn with_lib(body: &str) -> Script {
    Script::new(&format!("{LIB_LUA}\n{body}"))
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may hold a password: show only the prefix.
        f.debug_struct("Store").field("keys", &self.keys).finish_non_exhaustive()
    }
}

/// A conversation's stored fields.
pub type ConversationRecord = HashMap<String, String>;

impl crate::events::EventData {
    /// The common fields of a conversation, from its stored record.
    pub fn from_record(conversation_id: &str, record: &ConversationRecord) -> crate::events::EventData {
        let field = |k: &str| record.get(k).cloned().unwrap_or_default();
        crate::events::EventData {
            conversation_id: conversation_id.to_owned(),
            channel: field("channel"),
            account: field("account"),
            customer: crate::events::Customer { id: field("customer"), address: field("address") },
            queue: field("queue"),
            agent: record.get("agent").filter(|a| !a.is_empty()).cloned(),
            ..crate::events::EventData::default()
        }
    }
}

impl Store {
    /// A handle for `settings`; does not connect yet.
    pub fn new(settings: &RedisSettings) -> Result<Store, StoreError> {
        let client = redis::Client::open(settings.url.expose_secret()).map_err(|_| StoreError::Url)?;
        Ok(Store {
            conn: Arc::new(conn::Shared::new(client, Duration::from_millis(settings.timeout_ms))),
            keys: Keys::new(&settings.prefix),
            drain: Arc::new(with_lib(include_str!("lua/drain.lua"))),
            resolve: Arc::new(with_lib(include_str!("lua/resolve.lua"))),
            offer: Arc::new(with_lib(include_str!("lua/offer.lua"))),
            transfer: Arc::new(with_lib(include_str!("lua/transfer.lua"))),
            agent_script: Arc::new(with_lib(include_str!("lua/agent.lua"))),
            sweep: Arc::new(with_lib(include_str!("lua/sweep.lua"))),
            customer: Arc::new(Script::new(include_str!("lua/customer.lua"))),
            escalate: Arc::new(with_lib(include_str!("lua/escalate.lua"))),
            sla_cas: Arc::new(Script::new(include_str!("lua/sla_cas.lua"))),
            delivery: Arc::new(Script::new(include_str!("lua/delivery.lua"))),
            profile: Arc::new(Script::new(include_str!("lua/profile.lua"))),
            lookup: Arc::new(Script::new(include_str!("lua/lookup.lua"))),
            chat_reserve: Arc::new(Script::new(include_str!("lua/chat_reserve.lua"))),
            chat_commit: Arc::new(Script::new(include_str!("lua/chat_commit.lua"))),
            delivered_many: Arc::new(Script::new(include_str!("lua/delivered_many.lua"))),
            route_many: Arc::new(Script::new(&format!(
                "{LIB_LUA}\nlocal function route_one(KEYS, ARGV)\n{}\nend\n{}",
                include_str!("lua/route.lua"),
                include_str!("lua/route_many.lua")
            ))),
            outbox_scripts: Arc::new(outbox::OutboxScripts {
                outbox_done_many: Script::new(include_str!("lua/outbox_done_many.lua")),
                outbox_claim: Script::new(include_str!("lua/outbox_claim.lua")),
                emit: with_lib(include_str!("lua/emit.lua")),
                reply: with_lib(include_str!("lua/reply.lua")),
            }),
            live_scripts: Arc::new(live::LiveScripts::new()),
            batchers: Arc::new(tokio::sync::OnceCell::new()),
        })
    }

    /// The batching fronts, started on first use (on the caller's
    /// runtime). They hold a copy of this store without fronts of its own.
    async fn batchers(&self) -> &Batchers {
        self.batchers
            .get_or_init(|| async {
                let bare = Store { batchers: Arc::new(tokio::sync::OnceCell::new()), ..self.clone() };
                Batchers {
                    route: front(&bare, ROUTE_BATCH_MAX, |s, items| async move { s.route_batch(items).await }),
                    lookup: front(&bare, BATCH_MAX, |s, items| async move { s.lookup_batch(items).await }),
                    outbox_done: front(&bare, BATCH_MAX, |s, items| async move { s.outbox_done_batch(items).await }),
                    delivered: front(&bare, BATCH_MAX, |s, items| async move { s.delivered_batch(items).await }),
                }
            })
            .await
    }

    /// The key schema.
    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// The shared connection, connecting if there is none.
    pub async fn conn(&self) -> Result<Counted, StoreError> {
        Ok(self.conn.get().await?)
    }

    /// Passes `r` on, dropping the shared connection after an error that
    /// may mean it is dead, so the next call reconnects.
    async fn check<T>(&self, r: Result<T, redis::RedisError>) -> Result<T, StoreError> {
        Ok(self.conn.check(r).await?)
    }

    /// PING, for readiness.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let mut c = self.conn().await?;
        let r: Result<String, _> = redis::cmd("PING").query_async(&mut c).await;
        self.check(r).await.map(|_| ())
    }

    /// An agent's run-time fields (status, loads).
    pub async fn agent(&self, agent: &str) -> Result<HashMap<String, String>, StoreError> {
        let mut c = self.conn().await?;
        let r = c.hgetall(self.keys.agent(agent)).await;
        self.check(r).await
    }

    /// An agent's open conversation ids.
    pub async fn agent_conversations(&self, agent: &str) -> Result<Vec<String>, StoreError> {
        let mut c = self.conn().await?;
        let r: Result<Vec<String>, _> = c.smembers(self.keys.agent_conversations(agent)).await;
        let mut ids = self.check(r).await?;
        ids.sort();
        Ok(ids)
    }

    /// A conversation's fields, or `None` if it does not exist.
    pub async fn conversation(&self, id: &str) -> Result<Option<ConversationRecord>, StoreError> {
        let mut c = self.conn().await?;
        let r: Result<ConversationRecord, _> = c.hgetall(self.keys.conversation(id)).await;
        let fields = self.check(r).await?;
        Ok((!fields.is_empty()).then_some(fields))
    }

    /// Up to `count` conversation ids after `after` (exclusive), in id
    /// order, from the conversation index; with the conversations' fields.
    /// Ids whose hash is gone are left out.
    pub async fn conversations_after(
        &self,
        after: Option<&str>,
        count: usize,
    ) -> Result<(Vec<String>, Vec<(String, ConversationRecord)>), StoreError> {
        let min = after.map_or_else(|| "-".to_owned(), |a| format!("({a}"));
        let mut c = self.conn().await?;
        let r: Result<Vec<String>, _> = redis::cmd("ZRANGEBYLEX")
            .arg(self.keys.conversation_index())
            .arg(&min)
            .arg("+")
            .arg("LIMIT")
            .arg(0)
            .arg(count)
            .query_async(&mut c)
            .await;
        let ids = self.check(r).await?;
        if ids.is_empty() {
            return Ok((ids, Vec::new()));
        }
        let mut pipe = redis::pipe();
        for id in &ids {
            pipe.hgetall(self.keys.conversation(id));
        }
        let r: Result<Vec<ConversationRecord>, _> = pipe.query_async(&mut c).await;
        let records = self.check(r).await?;
        let found = ids.iter().cloned().zip(records).filter(|(_, r)| !r.is_empty()).collect();
        Ok((ids, found))
    }

    /// A conversation's messages, oldest first, as stored JSON.
    pub async fn messages(&self, id: &str) -> Result<Vec<serde_json::Value>, StoreError> {
        let mut c = self.conn().await?;
        let r: Result<Vec<String>, _> = c.lrange(self.keys.messages(id), 0, -1).await;
        let raw = self.check(r).await?;
        Ok(raw.iter().filter_map(|m| serde_json::from_str(m).ok()).collect())
    }

    /// Appends a message (a note) to a conversation's history.
    pub async fn append_message(&self, id: &str, stored_message: &str) -> Result<(), StoreError> {
        let mut c = self.conn().await?;
        let r: Result<(), _> = c.rpush(self.keys.messages(id), stored_message).await;
        self.check(r).await
    }

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

    /// Marks `number` opted out of (or back into) an SMS account.
    pub async fn set_opt_out(&self, account: &str, number: &str, opted_out: bool) -> Result<(), StoreError> {
        let key = self.keys.opt_out(account);
        let mut c = self.conn().await?;
        let r: Result<(), _> = if opted_out { c.sadd(key, number).await } else { c.srem(key, number).await };
        self.check(r).await
    }

    /// Whether `number` opted out of an SMS account.
    pub async fn is_opted_out(&self, account: &str, number: &str) -> Result<bool, StoreError> {
        let mut c = self.conn().await?;
        let r = c.sismember(self.keys.opt_out(account), number).await;
        self.check(r).await
    }

    /// Claims `key` for `ttl`; `true` the first time, `false` while it lives
    /// (retries of a provider push).
    pub async fn first_seen(&self, key: &str, ttl: Duration) -> Result<bool, StoreError> {
        let mut c = self.conn().await?;
        let r: Result<Option<String>, _> =
            redis::cmd("SET").arg(key).arg("1").arg("NX").arg("EX").arg(ttl.as_secs().max(1)).query_async(&mut c).await;
        Ok(self.check(r).await?.is_some())
    }

    /// Claims `key` for a signed request whose body hashes to `hash`
    /// (`{hash}|p` while it is taken, EX `ttl`): [`Claim::New`] for the
    /// first, [`Claim::Retry`] for the same body again (whether the first
    /// was made durable), [`Claim::Conflict`] for another body.
    pub async fn claim_request(&self, key: &str, hash: &str, ttl: Duration) -> Result<Claim, StoreError> {
        let mut c = self.conn().await?;
        let r: Result<String, _> = Script::new(
            "if redis.call('SET', KEYS[1], ARGV[1] .. '|p', 'NX', 'EX', ARGV[2]) then return 'new' end \
             local v = redis.call('GET', KEYS[1]) or '' \
             if v == ARGV[1] .. '|d' then return 'done' elseif v == ARGV[1] .. '|p' then return 'pending' end \
             return 'conflict'",
        )
        .key(key)
        .arg(hash)
        .arg(ttl.as_secs().max(1))
        .invoke_async(&mut c)
        .await;
        Ok(match self.check(r).await?.as_str() {
            "new" => Claim::New,
            "done" => Claim::Retry { durable: true },
            "pending" => Claim::Retry { durable: false },
            _ => Claim::Conflict,
        })
    }

    /// Marks a [`claim_request`](Self::claim_request) durable: its retries
    /// are answered at once.
    pub async fn claim_done(&self, key: &str, hash: &str) -> Result<(), StoreError> {
        let mut c = self.conn().await?;
        let r: Result<Option<String>, _> =
            redis::cmd("SET").arg(key).arg(format!("{hash}|d")).arg("XX").arg("KEEPTTL").query_async(&mut c).await;
        self.check(r).await.map(drop)
    }

    /// Forgets a [`first_seen`](Self::first_seen) claim, so a retry of a
    /// step that failed after claiming is not dropped.
    pub async fn release(&self, key: &str) -> Result<(), StoreError> {
        let mut c = self.conn().await?;
        let r: Result<(), _> = c.del(key).await;
        self.check(r).await
    }

    /// Sets profile fields of the customer behind an identity (creating the
    /// customer if needed); returns the customer id.
    pub async fn update_profile(
        &self,
        identity: (&str, &str),
        fields: &[(&str, String)],
        now_ms: i64,
    ) -> Result<String, StoreError> {
        let mut inv = self.profile.key(self.keys.identity(identity.0, identity.1));
        inv.arg(self.keys.base()).arg(ulid::Ulid::new().to_string()).arg(now_ms);
        for (k, v) in fields {
            inv.arg(*k).arg(v);
        }
        let mut c = self.conn().await?;
        let r: Result<String, _> = inv.invoke_async(&mut c).await;
        self.check(r).await
    }

    /// A customer's profile fields.
    pub async fn customer_by_identity(&self, identity: (&str, &str)) -> Result<HashMap<String, String>, StoreError> {
        self.customer_by_identities(&[identity]).await
    }

    /// The profile fields of the first of `identities` that names a
    /// customer (empty when none does), in one round trip.
    pub async fn customer_by_identities(&self, identities: &[(&str, &str)]) -> Result<HashMap<String, String>, StoreError> {
        let keys = identities.iter().map(|(kind, value)| self.keys.identity(kind, value)).collect();
        self.batchers().await.lookup.call(keys).await
    }

    /// Several profile lookups in one call (`lua/lookup.lua`).
    async fn lookup_batch(&self, lookups: Arc<Vec<Vec<String>>>) -> Result<Vec<HashMap<String, String>>, StoreError> {
        let mut inv = self.lookup.prepare_invoke();
        inv.arg(self.keys.base());
        for keys in lookups.iter() {
            for key in keys {
                inv.key(key);
            }
            inv.arg(keys.len());
        }
        let mut c = self.conn().await?;
        let r: Result<Vec<HashMap<String, String>>, _> = inv.invoke_async(&mut c).await;
        self.check(r).await
    }

    /// The cached WeChat access token of an account.
    pub async fn wechat_token(&self, account: &str) -> Result<Option<String>, StoreError> {
        let mut c = self.conn().await?;
        let r = c.get(self.keys.wechat_token(account)).await;
        self.check(r).await
    }

    /// Caches a WeChat access token for `ttl`, or drops it (`None`).
    pub async fn set_wechat_token(&self, account: &str, token: Option<(&str, Duration)>) -> Result<(), StoreError> {
        let key = self.keys.wechat_token(account);
        let mut c = self.conn().await?;
        let r: Result<(), _> = match token {
            Some((t, ttl)) => c.set_ex(key, t, ttl.as_secs().max(1)).await,
            None => c.del(key).await,
        };
        self.check(r).await
    }

    /// Remembers the conversation of an email Message-ID (ours or the
    /// customer's), for threading replies.
    pub async fn remember_message_id(&self, message_id: &str, conversation: &str) -> Result<(), StoreError> {
        let mut c = self.conn().await?;
        let r: Result<(), _> = c.set_ex(self.keys.email_message(message_id), conversation, 90 * 24 * 3600).await;
        self.check(r).await
    }

    /// The conversation of the first of `ids` that is known.
    pub async fn conversation_of_message_ids(&self, ids: &[String]) -> Result<Option<String>, StoreError> {
        if ids.is_empty() {
            return Ok(None);
        }
        let keys: Vec<String> = ids.iter().map(|i| self.keys.email_message(i)).collect();
        let mut c = self.conn().await?;
        let r: Result<Vec<Option<String>>, _> = redis::cmd("MGET").arg(&keys).query_async(&mut c).await;
        Ok(self.check(r).await?.into_iter().flatten().next())
    }

    /// Sets fields on a conversation (channel-specific context such as the
    /// email subject and thread ids).
    pub async fn set_conversation_fields(&self, id: &str, fields: &[(&str, String)]) -> Result<(), StoreError> {
        if fields.is_empty() {
            return Ok(());
        }
        let mut c = self.conn().await?;
        let r: Result<(), _> = c.hset_multiple(self.keys.conversation(id), fields).await;
        self.check(r).await
    }

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

    /// Dead-letters a delivery under `id` (the entry carries it too).
    pub async fn dead_letter(&self, id: &str, entry: &serde_json::Value, at_ms: i64) -> Result<(), StoreError> {
        let key = self.keys.dead_letters();
        let mut c = self.conn().await?;
        let r: Result<(), _> = redis::pipe()
            .atomic()
            .zadd(&key, id, at_ms)
            .hset(format!("{key}:data"), id, entry.to_string())
            .query_async(&mut c)
            .await;
        self.check(r).await
    }

    /// Up to `limit` dead letters, oldest first, and how many there are.
    pub async fn dead_letters(&self, limit: isize) -> Result<(Vec<serde_json::Value>, u64), StoreError> {
        let key = self.keys.dead_letters();
        let mut c = self.conn().await?;
        let r: Result<(Vec<String>, u64), _> =
            redis::pipe().zrange(&key, 0, limit - 1).zcard(&key).query_async(&mut c).await;
        let (ids, total) = self.check(r).await?;
        if ids.is_empty() {
            return Ok((Vec::new(), total));
        }
        let r: Result<Vec<Option<String>>, _> = redis::cmd("HMGET").arg(format!("{key}:data")).arg(&ids).query_async(&mut c).await;
        let raw = self.check(r).await?;
        Ok((raw.into_iter().flatten().filter_map(|m| serde_json::from_str(&m).ok()).collect(), total))
    }

    /// One dead letter.
    pub async fn dead_letter_entry(&self, id: &str) -> Result<Option<serde_json::Value>, StoreError> {
        let mut c = self.conn().await?;
        let r: Result<Option<String>, _> = c.hget(format!("{}:data", self.keys.dead_letters()), id).await;
        Ok(self.check(r).await?.and_then(|m| serde_json::from_str(&m).ok()))
    }

    /// Drops a dead letter; `false` if there was none.
    pub async fn drop_dead_letter(&self, id: &str) -> Result<bool, StoreError> {
        let key = self.keys.dead_letters();
        let mut c = self.conn().await?;
        let r: Result<(i64, i64), _> =
            redis::pipe().atomic().zrem(&key, id).hdel(format!("{key}:data"), id).query_async(&mut c).await;
        Ok(self.check(r).await?.0 == 1)
    }

    /// The agents and queues changed at run time (`agents.<id>` → TOML or
    /// `!deleted`).
    pub async fn runtime_entries(&self) -> Result<HashMap<String, String>, StoreError> {
        let mut c = self.conn().await?;
        let r = c.hgetall(self.keys.runtime()).await;
        self.check(r).await
    }

    /// Records a run-time change of `key` (`agents.<id>`, `queues.<name>`).
    pub async fn set_runtime_entry(&self, key: &str, value: &str) -> Result<(), StoreError> {
        let mut c = self.conn().await?;
        let r: Result<(), _> = c.hset(self.keys.runtime(), key, value).await;
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
    async fn delivered_batch(&self, marks: Arc<Vec<(String, u64)>>) -> Result<Vec<()>, StoreError> {
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
