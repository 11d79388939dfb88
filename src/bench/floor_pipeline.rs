//! The floor pipeline: the work of webhook → agent that no implementation
//! can skip, done naively in this process. switchboard's pipeline is
//! measured against it in the same run, with the same load generator,
//! signed webhooks, concurrency and observer on `P.agent.<id>`.
//!
//! Per message, and nothing else:
//! - HTTP intake with the Twilio signature check, normalized by the SMS
//!   channel's own code (so the message on the stream is the same size);
//! - a JetStream publish, its ack awaited before the 200;
//! - a durable consumer making **one** Redis script call: the dedupe key,
//!   the conversation hash, the least-loaded agent picked from a sorted
//!   set and incremented, the message list;
//! - one `assigned` event published to JetStream, its ack awaited;
//! - a durable consumer of the events publishing each to the agent's core
//!   subject;
//! - the acks.
//!
//! No batching across messages: it is the naive minimum, the reference to
//! beat. It has none of switchboard's rules, SLA clocks, outbox, ordering,
//! customer profiles or capacity limits.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use async_nats::jetstream::{self, consumer::pull, stream, AckKind};
use async_nats::HeaderMap;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use bytes::Bytes;
use futures::StreamExt;
use serde::Deserialize;
use switchboard_core::InboundMessage;
use switchboard_sms::{normalize, Verified};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::store::Counted;

/// The one script call per message. ARGV: 1 key head (`{P}`), 2 provider
/// message id, 3 customer, 4 now (ms), 5 the stored message. Returns the
/// agent (the same one again for a redelivered message).
const ROUTE_LUA: &str = r"
local p = ARGV[1]
local seen = p .. ':seen:' .. ARGV[2]
local agent = redis.call('GET', seen)
if agent then return agent end
agent = redis.call('ZRANGE', p .. ':load', 0, 0)[1]
redis.call('ZINCRBY', p .. ':load', 1, agent)
local conv = p .. ':conv:' .. ARGV[2]
redis.call('HSET', conv, 'customer', ARGV[3], 'agent', agent, 'state', 'assigned', 'created_at', ARGV[4])
redis.call('RPUSH', conv .. ':messages', ARGV[5])
redis.call('SET', seen, agent, 'EX', 86400)
return agent
";

/// What the floor pipeline needs to start.
#[derive(Clone, Debug)]
pub struct FloorPipelinePlan {
    /// Names its subjects (`<prefix>.…`), streams (`<prefix>_…`) and Redis
    /// keys (`{<prefix>}:…`).
    pub prefix: String,
    /// NATS URL.
    pub nats_url: String,
    /// Redis URL.
    pub redis_url: String,
    /// The SMS account's Twilio auth token (checks the signatures).
    pub token: String,
    /// Agents to spread the conversations over.
    pub agents: usize,
    /// Messages handled at once by each consumer.
    pub concurrency: usize,
}

/// A running floor pipeline.
pub struct FloorPipeline {
    /// Where its webhook listens.
    pub addr: SocketAddr,
    stop: CancellationToken,
    tasks: JoinSet<anyhow::Result<()>>,
}

/// The intake's shared state.
struct Intake {
    js: jetstream::Context,
    token: String,
    url: String,
    subject: String,
}

impl FloorPipeline {
    /// The URL path of its SMS webhook (account `bench`).
    pub const PATH: &'static str = "/webhooks/sms/bench";

    /// Creates its streams, consumers and agents, and starts it.
    pub async fn start(plan: &FloorPipelinePlan) -> anyhow::Result<FloorPipeline> {
        let p = &plan.prefix;
        let nats = async_nats::connect(plan.nats_url.as_str()).await.context("floor pipeline: NATS")?;
        let js = jetstream::new(nats.clone());
        let redis = redis::Client::open(plan.redis_url.as_str())?;
        let conn = Counted(redis.get_multiplexed_async_connection().await.context("floor pipeline: Redis")?);
        seed_agents(conn.clone(), p, plan.agents).await?;
        let inbound = consumer(&js, &format!("{p}_inbound"), &format!("{p}.inbound.sms"), "router").await?;
        let events = consumer(&js, &format!("{p}_events"), &format!("{p}.events.>"), "delivery").await?;

        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let intake = Arc::new(Intake {
            js: js.clone(),
            token: plan.token.clone(),
            url: format!("http://{addr}{}", Self::PATH),
            subject: format!("{p}.inbound.sms"),
        });
        let stop = CancellationToken::new();
        let mut tasks = JoinSet::new();
        let app = axum::Router::new().route(Self::PATH, axum::routing::post(intake_sms)).with_state(intake);
        let shutdown = stop.clone();
        tasks.spawn(async move {
            axum::serve(listener, app).with_graceful_shutdown(shutdown.cancelled_owned()).await?;
            Ok(())
        });
        let router = Router { js: js.clone(), conn, script: Arc::new(redis::Script::new(ROUTE_LUA)), prefix: p.clone() };
        tasks.spawn(consume(inbound, plan.concurrency, stop.clone(), move |m| {
            let router = router.clone();
            async move { router.route(m).await }
        }));
        let agents = format!("{p}.agent.");
        tasks.spawn(consume(events, plan.concurrency, stop.clone(), move |m| {
            let (nats, agents) = (nats.clone(), agents.clone());
            async move { deliver(&nats, &agents, m).await }
        }));
        Ok(FloorPipeline { addr, stop, tasks })
    }

    /// The webhook URL the load generator signs and posts to.
    pub fn url(&self) -> String {
        format!("http://{}{}", self.addr, Self::PATH)
    }

    /// Stops it (its streams and keys are removed with the run's).
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.stop.cancel();
        while let Some(done) = self.tasks.join_next().await {
            done??;
        }
        Ok(())
    }
}

/// Every agent at load 0.
async fn seed_agents(mut conn: Counted, prefix: &str, agents: usize) -> anyhow::Result<()> {
    let mut cmd = redis::cmd("ZADD");
    cmd.arg(format!("{{{prefix}}}:load"));
    for a in 0..agents.max(1) {
        cmd.arg(0).arg(format!("a{a:05}"));
    }
    let _: i64 = cmd.query_async(&mut conn).await?;
    Ok(())
}

/// A file stream on `subject` and a durable pull consumer `name` of it.
async fn consumer(js: &jetstream::Context, stream: &str, subject: &str, name: &str) -> anyhow::Result<pull::Stream> {
    let stream = js
        .get_or_create_stream(stream::Config {
            name: stream.to_owned(),
            subjects: vec![subject.to_owned()],
            storage: stream::StorageType::File,
            ..Default::default()
        })
        .await
        .with_context(|| format!("floor pipeline: stream {stream}"))?;
    let consumer = stream
        .get_or_create_consumer(
            name,
            pull::Config { durable_name: Some(name.to_owned()), ack_wait: Duration::from_secs(30), ..Default::default() },
        )
        .await
        .with_context(|| format!("floor pipeline: consumer {name}"))?;
    Ok(consumer.messages().await?)
}

/// Handles each message of `messages` with `handle`, `concurrency` at once,
/// until `stop`. A failed message is handed back for redelivery.
async fn consume<F, Fut>(messages: pull::Stream, concurrency: usize, stop: CancellationToken, handle: F) -> anyhow::Result<()>
where
    F: Fn(jetstream::Message) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<jetstream::Message>>,
{
    messages
        .take_until(stop.cancelled_owned())
        .for_each_concurrent(concurrency.max(1), |m| {
            let work = m.map(&handle);
            async move {
                let Ok(work) = work else { return };
                if let Err(e) = work.await {
                    tracing::warn!(error = %e, "floor pipeline: a message failed");
                }
            }
        })
        .await;
    Ok(())
}

/// The webhook: signature, normalize, publish with its ack, 200.
async fn intake_sms(State(s): State<Arc<Intake>>, headers: axum::http::HeaderMap, body: Bytes) -> impl IntoResponse {
    let signature = headers.get("x-twilio-signature").and_then(|v| v.to_str().ok());
    let Ok(verified) = Verified::check(&s.token, &s.url, &body, signature) else {
        return (StatusCode::FORBIDDEN, "bad signature").into_response();
    };
    let Ok(msg) = normalize("bench", &verified, ulid::Ulid::new().to_string(), chrono::Utc::now()) else {
        return (StatusCode::BAD_REQUEST, "malformed").into_response();
    };
    let Ok(payload) = serde_json::to_vec(&msg) else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let mut h = HeaderMap::new();
    h.insert("Nats-Msg-Id", format!("sms:bench:{}", msg.provider_message_id).as_str());
    let acked = match s.js.publish_with_headers(s.subject.clone(), h, payload.into()).await {
        Ok(ack) => ack.await.is_ok(),
        Err(_) => false,
    };
    if acked {
        ([(axum::http::header::CONTENT_TYPE, "text/xml")], "<Response/>").into_response()
    } else {
        StatusCode::SERVICE_UNAVAILABLE.into_response()
    }
}

/// The router: one script call, one event published, the ack.
#[derive(Clone)]
struct Router {
    js: jetstream::Context,
    conn: Counted,
    script: Arc<redis::Script>,
    prefix: String,
}

impl Router {
    async fn route(&self, m: jetstream::Message) -> anyhow::Result<jetstream::Message> {
        let result = self.assign(&m).await;
        settle(m, result).await
    }

    async fn assign(&self, m: &jetstream::Message) -> anyhow::Result<()> {
        let msg: InboundMessage = serde_json::from_slice(&m.payload)?;
        let now = chrono::Utc::now();
        let mut conn = self.conn.clone();
        let agent: String = self
            .script
            .arg(format!("{{{}}}", self.prefix))
            .arg(&msg.provider_message_id)
            .arg(&msg.customer)
            .arg(now.timestamp_millis())
            .arg(&msg.text)
            .invoke_async(&mut conn)
            .await?;
        let id = format!("{}:1", msg.id);
        let event = serde_json::json!({
            "specversion": "1.0",
            "id": id,
            "source": format!("/floor/{}", self.prefix),
            "type": crate::events::ASSIGNED,
            "time": now,
            "seq": 1,
            "data": {
                "conversation_id": msg.id,
                "channel": "sms",
                "account": "bench",
                "customer": { "address": msg.customer },
                "agent": agent,
            },
        });
        let mut h = HeaderMap::new();
        h.insert("Nats-Msg-Id", id.as_str());
        let subject = format!("{}.events.conversation.assigned", self.prefix);
        self.js.publish_with_headers(subject, h, serde_json::to_vec(&event)?.into()).await?.await?;
        Ok(())
    }
}

/// The part of an event delivery reads.
#[derive(Deserialize)]
struct Addressed {
    data: AddressedData,
}

#[derive(Deserialize)]
struct AddressedData {
    agent: String,
}

/// The delivery: the event to the agent's core subject, the ack.
async fn deliver(nats: &async_nats::Client, agents: &str, m: jetstream::Message) -> anyhow::Result<jetstream::Message> {
    let result = async {
        let event: Addressed = serde_json::from_slice(&m.payload)?;
        nats.publish(format!("{agents}{}", event.data.agent), m.payload.clone()).await?;
        Ok(())
    }
    .await;
    settle(m, result).await
}

/// Acknowledges a handled message, or hands a failed one back.
async fn settle(m: jetstream::Message, result: anyhow::Result<()>) -> anyhow::Result<jetstream::Message> {
    match result {
        Ok(()) => {
            m.ack().await.map_err(|e| anyhow::anyhow!("ack: {e}"))?;
            Ok(m)
        }
        Err(e) => {
            let _ = m.ack_with(AckKind::Nak(Some(Duration::from_millis(100)))).await;
            Err(e)
        }
    }
}
