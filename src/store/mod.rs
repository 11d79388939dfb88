//! Redis: the connection, and every read and write switchboard makes, typed.
//! The key schema and its invariants are in [`schema`].
//!
//! One [`Store`] over one reconnecting connection ([`conn`]), its methods
//! split by aggregate: `conversations`, `customers`, `agents`, `routing`
//! (the scripts that place conversations), `sla`, `outbox` (events and
//! replies written with the state they follow), `sends` and [`sending`]
//! (outbound send state and claims), `csat` (the satisfaction survey), `delivery`, `dead_letters`,
//! `runtime` (admin-set entries), `channels` (opt-outs, WeChat tokens),
//! `webchat`, [`timers`], `once` (first-seen markers and request
//! claims), and `privacy` (erasing a customer).

mod agents;
mod bots;
mod channels;
mod coalesce;
mod csat;
pub mod conn;
mod conversations;
mod customers;
mod dead_letters;
mod delivery;
mod idle;
mod once;
mod office;
mod live;
mod outbox;
mod privacy;
pub use privacy::{Erased, StreamRef};
pub mod ratelimit;
mod reports;
mod rekey;
mod routing;
pub mod schema;
mod sends;
pub mod sending;
mod sla;
mod slack;
pub use slack::SlackParent;
mod runtime;
pub mod timers;
mod webchat;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;


pub use conn::Counted;
use redis::Script;
use secrecy::ExposeSecret;

pub use schema::Keys;
pub use rekey::RekeyCounts;
pub use agents::{AgentSync, QueueStats};
pub use bots::{BotOutcome, BotSay, BotStep};
pub use office::Notice;
pub use customers::CustomerUpdate;
pub use csat::{CsatAnswer, CsatAsk, CsatRecorded, CsatSubject};
pub use routing::{
    BullseyeJson, ClassJson, OfferOutcome, Placement, QueueJson, ResolveOutcome, RouteRequest, RouteResult, SweepOutcome,
    TransferOutcome, TransferTarget, Widened,
};
pub use sla::EscalationOutcome;
pub use webchat::{ChatSlot, CHAT_TTL};
pub use reports::{ReportEvent, ReportOutcome, REPORT_MINUTE_TTL_SECS, REPORT_STATE_TTL_SECS};
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
    bot: Arc<Script>,
    notice: Arc<Script>,
    place: Arc<Script>,
    reports: Arc<Script>,
    outbox_scripts: Arc<outbox::OutboxScripts>,
    live_scripts: Arc<live::LiveScripts>,
    privacy_scripts: Arc<privacy::PrivacyScripts>,
    /// How long a visitor's web chat history lives after its last message.
    chat_ttl: Duration,
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

/// How long a conversation's SLA clocks are kept after their last change.
const SLA_TTL_SECS: u64 = 90 * 24 * 3600;

fn with_lib(body: &str) -> Script {
    Script::new(&format!("{LIB_LUA}\n{body}"))
}

/// A Redis client for `settings`: `redis.url`, with the CA certificates of
/// `redis.ca_file` (a private CA of a `rediss://` server) when set.
pub fn client(settings: &RedisSettings) -> Result<redis::Client, redis::RedisError> {
    match &settings.ca_file {
        Some(ca) => {
            let certs = redis::TlsCertificates { client_tls: None, root_cert: Some(std::fs::read(ca)?) };
            redis::Client::build_with_tls(settings.url.expose_secret(), certs)
        }
        None => redis::Client::open(settings.url.expose_secret()),
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may hold a password: show only the prefix.
        f.debug_struct("Store").field("keys", &self.keys).finish_non_exhaustive()
    }
}


impl Store {
    /// A handle for `settings`; does not connect yet.
    pub fn new(settings: &RedisSettings) -> Result<Store, StoreError> {
        let client = client(settings).map_err(|_| StoreError::Url)?;
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
            reports: Arc::new(Script::new(include_str!("lua/reports.lua"))),
            bot: Arc::new(with_lib(include_str!("lua/bot.lua"))),
            notice: Arc::new(with_lib(include_str!("lua/notice.lua"))),
            place: Arc::new(Script::new(include_str!("lua/place.lua"))),
            outbox_scripts: Arc::new(outbox::OutboxScripts {
                outbox_done_many: Script::new(include_str!("lua/outbox_done_many.lua")),
                outbox_claim: Script::new(include_str!("lua/outbox_claim.lua")),
                emit: with_lib(include_str!("lua/emit.lua")),
                reply: with_lib(include_str!("lua/reply.lua")),
            }),
            live_scripts: Arc::new(live::LiveScripts::new()),
            privacy_scripts: Arc::new(privacy::PrivacyScripts::new()),
            chat_ttl: CHAT_TTL,
            batchers: Arc::new(tokio::sync::OnceCell::new()),
        })
    }

    /// This store with web chat histories kept `ttl` after their last
    /// message (`retention.webchat_history_days`; [`CHAT_TTL`] otherwise).
    pub fn with_chat_ttl(self, ttl: Duration) -> Store {
        Store { chat_ttl: ttl, ..self }
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

}
