//! The router: consumes normalized inbound messages (durable consumer
//! `router`, shared by every replica), routes each in one atomic Redis step
//! and publishes the resulting events. A message is acknowledged only after
//! Redis holds the result and the events are on JetStream; a redelivery
//! gets the stored result back from Redis and re-publishes the same event
//! ids, which JetStream de-duplicates.

pub mod agent_mail;
pub mod bot;
mod reload;

pub use reload::*;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use switchboard_core::{Channel, InboundMessage, Masked};
use tokio_util::sync::CancellationToken;

pub use crate::classify::{detect_language, Attributes, Classification, Classifier};

use crate::app::App;
use crate::events::EventMessage;
use crate::config::Settings;
use crate::sla::clock::Trigger;
use crate::store::{AgentSync, BullseyeJson, QueueJson, RouteRequest, RouteResult};

/// Why routing one message failed (it will be retried).
#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    /// Redis.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// NATS.
    #[error(transparent)]
    Bus(#[from] crate::bus::BusError),
    /// The SLA clocks could not be moved.
    #[error("SLA: {0}")]
    Sla(String),
    /// An office-hours or waiting notice.
    #[error(transparent)]
    Office(#[from] crate::office::OfficeError),
}

impl RouteError {
    /// Whether NATS or Redis was unavailable: the message waits for them
    /// in place, and the failure does not use up its deliveries.
    pub fn is_transient(&self) -> bool {
        match self {
            RouteError::Store(e) => e.is_transient(),
            RouteError::Bus(_) => true,
            RouteError::Sla(_) => false,
            RouteError::Office(e) => e.is_transient(),
        }
    }
}

/// Writes every agent of the configuration to Redis for routing (see
/// `lua/agent.lua`) and the routing settings the scripts read. `previous`
/// is the configuration being replaced: its agents that are gone are set
/// offline with no capacity, so they take nothing new.
pub async fn sync_agents(app: &App, previous: Option<&Settings>) -> Result<(), RouteError> {
    let live = app.live();
    let settings = &live.settings;
    let routing = &settings.routing;
    let sticky_ms = i64::try_from(routing.sticky_window_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
    let mut names: Vec<&String> = settings.queues.keys().collect();
    names.push(&routing.default_queue);
    let queues = names
        .into_iter()
        .map(|name| {
            let class = live.classifier.queue(name);
            let q = settings.queues.get(name).cloned().unwrap_or_default();
            let json = QueueJson {
                skills: class.skills,
                priority: class.priority,
                mode: if class.offer { "offer" } else { "auto" }.to_owned(),
                offer_timeout_ms: class.offer_timeout_ms,
                overflow: q.overflow.unwrap_or_default(),
                bullseye: q
                    .bullseye
                    .iter()
                    .map(|b| BullseyeJson { after_ms: b.after_secs.saturating_mul(1000), relax: b.relax, overflow: b.overflow })
                    .collect(),
            };
            (name.clone(), json)
        })
        .collect();
    app.store.set_routing_config(sticky_ms, routing.offer_misses_away, &app.event_source, &queues).await?;
    for (id, agent) in &settings.agents {
        let c = &agent.capacity;
        let capacity = Channel::ALL.map(|ch| (ch, c.for_channel(ch)));
        app.store
            .sync_agent(&AgentSync {
                id,
                status: agent.status.as_str(),
                force: false,
                total: c.total(),
                capacity,
                skills: &agent.skills,
                languages: &agent.languages,
            })
            .await?;
    }
    let empty = Default::default();
    for id in previous.iter().flat_map(|p| p.agents.keys()).filter(|id| !settings.agents.contains_key(*id)) {
        let capacity = Channel::ALL.map(|ch| (ch, 0));
        let gone = AgentSync { id, status: crate::model::AgentStatus::Offline.as_str(), force: true, total: 0, capacity, skills: &empty, languages: &[] };
        app.store.sync_agent(&gone).await?;
    }
    Ok(())
}

/// Assigns waiting conversations after capacity freed (a resolve, a
/// transfer, an agent turning available, a wrap-up ending), highest
/// priority and longest waiting first across queues; their events are in
/// the outbox with the placements and published now. Every placement is
/// atomic in Redis, so replicas draining at once are safe.
pub async fn drain(app: &App) -> Result<usize, RouteError> {
    let now = Utc::now();
    let depth = app.live().settings.routing.drain_depth;
    let (placed, events) = app.store.drain(now.timestamp_millis(), depth).await?;
    crate::outbox::flush_events(app, &events).await;
    for p in &placed {
        tracing::info!(conversation = %p.conversation, agent = %p.agent, state = %p.state, "waiting conversation placed");
    }
    Ok(placed.len())
}

/// Runs the timed side of routing on this replica until `cancel` fires:
/// offers not accepted in time go to the next agent (and an agent who
/// misses `routing.offer_misses_away` in a row is set away), wrap-ups that
/// ended free capacity. The work is claimed atomically in Redis, so every
/// replica may sweep.
pub async fn sweep(app: Arc<App>, cancel: CancellationToken) {
    loop {
        let period = Duration::from_millis(app.live().settings.routing.sweep_interval_ms);
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(period) => {}
        }
        if let Err(e) = sweep_once(&app).await {
            tracing::warn!(error = %e, "routing sweep failed; trying again");
        }
    }
}

async fn sweep_once(app: &App) -> Result<(), RouteError> {
    let now = Utc::now();
    let (outcome, events) = app.store.sweep(now.timestamp_millis(), 100).await?;
    crate::outbox::flush_events(app, &events).await;
    for o in &outcome.offers {
        tracing::info!(conversation = %o.conversation, from = %o.from, away = o.away, "offer timed out");
    }
    for w in &outcome.widened {
        tracing::info!(conversation = %w.conversation, step = w.step, from = %w.from_queue, to = %w.queue, relax = w.relax, agent = %w.agent, "bullseye step");
    }
    if !outcome.freed.is_empty() || !outcome.offers.is_empty() {
        drain(app).await?;
    }
    Ok(())
}

/// The conversation an email belongs to: the one named by the reply token
/// in our address, else the one of a Message-ID it replies to.
async fn email_thread(app: &App, inbound: &InboundMessage) -> Result<Option<String>, RouteError> {
    let meta = &inbound.metadata;
    if let Some(token) = meta.get("conversation_token").filter(|t| !t.is_empty()) {
        // Conversation ids are upper-case ULIDs; some mail systems lower-case
        // the local part of an address.
        for candidate in [token.to_owned(), token.to_ascii_uppercase()] {
            if app.store.conversation(&candidate).await?.is_some() {
                return Ok(Some(candidate));
            }
        }
    }
    let mut ids: Vec<String> = meta.get("in_reply_to").map(str::to_owned).into_iter().collect();
    // The newest reference is the likeliest to be ours.
    ids.extend(meta.get("references").unwrap_or("").split_whitespace().rev().map(str::to_owned));
    Ok(app.store.conversation_of_message_ids(&ids).await?)
}

/// Keeps what a reply needs to land in the customer's thread: the subject,
/// the Message-ID to answer and the references, and maps the Message-ID to
/// the conversation for later replies.
async fn remember_email_thread(app: &App, inbound: &InboundMessage, conversation: &str) -> Result<(), RouteError> {
    let meta = &inbound.metadata;
    let mut fields = vec![("email_subject", meta.get("subject").unwrap_or("").to_owned())];
    if let Some(id) = meta.get("message_id").filter(|m| !m.is_empty()) {
        app.store.remember_message_id(id, conversation).await?;
        let mut references: Vec<&str> = meta.get("references").unwrap_or("").split_whitespace().collect();
        references.push(id);
        fields.push(("email_last_message_id", id.to_owned()));
        fields.push(("email_references", references.join(" ")));
    }
    app.store.set_conversation_fields(conversation, &fields).await?;
    Ok(())
}

/// SMS opt-out and opt-in keywords: the whole message, any case, with
/// surrounding spaces, as carriers and Twilio treat them.
fn sms_keyword(text: &str) -> Option<bool> {
    match text.trim().to_ascii_uppercase().as_str() {
        "STOP" | "STOPALL" | "UNSUBSCRIBE" | "CANCEL" | "END" | "QUIT" => Some(true),
        "START" | "UNSTOP" => Some(false),
        _ => None,
    }
}

/// Routes one inbound message (at `stream_seq` on the inbound stream, 0:
/// not from it) in one atomic Redis step, then moves its SLA clocks and
/// publishes its events.
pub async fn route(app: &App, inbound: &InboundMessage, stream_seq: u64) -> Result<RouteResult, RouteError> {
    if inbound.channel == Channel::Sms {
        if let Some(opted_out) = sms_keyword(&inbound.text) {
            // Recorded before routing: the message still joins the thread,
            // so the agent sees why replies are refused.
            app.store.set_opt_out(&inbound.account, &inbound.customer, opted_out).await?;
            tracing::info!(customer = %Masked(&inbound.customer), opted_out, "SMS opt-out keyword");
        }
    }
    let (kind, value) = identity(inbound);
    let shop = inbound.metadata.get("customer_id").filter(|c| inbound.channel == Channel::Webchat && !c.is_empty());
    // The shop's customer id first, then the channel identity.
    let identities: Vec<(&str, &str)> = shop.map(|id| ("shop", id)).into_iter().chain([(kind.as_str(), value.as_str())]).collect();
    let profile = app.store.customer_by_identities(&identities).await?;
    let tier = inbound.metadata.get("tier").filter(|_| shop.is_some()).map(str::to_owned);
    let attributes = Attributes {
        tier: tier.clone().or_else(|| profile.get("tier").cloned()),
        language: profile.get("language").filter(|l| !l.is_empty()).cloned(),
    };
    let live = app.live();
    let class = live.classifier.classify(inbound, &attributes);
    let stored = serde_json::json!({
        "id": inbound.id,
        "direction": "inbound",
        "channel": inbound.channel,
        "account": inbound.account,
        "provider_message_id": inbound.provider_message_id,
        "text": inbound.text,
        "attachments": inbound.attachments,
        "at": inbound.received_at,
    });
    let hint = match inbound.channel {
        Channel::Email => email_thread(app, inbound).await?,
        _ => None,
    };
    let mut profile_fields = Vec::new();
    if let Some(id) = shop {
        profile_fields.push(("shop_id", id.to_owned()));
    }
    if let Some(tier) = tier {
        profile_fields.push(("tier", tier));
    }
    if let Some(name) = inbound.display_name.as_ref().filter(|n| !n.is_empty()) {
        profile_fields.push(("name", name.clone()));
    }
    let routing = &live.settings.routing;
    let ms = |secs: u64| i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX);
    let now = Utc::now();
    let mut class_json = class.to_json();
    let event_message = EventMessage {
        id: inbound.id.clone(),
        direction: "inbound".into(),
        text: inbound.text.clone(),
        attachments: inbound.attachments.clone(),
    };
    (class_json.deadline_ms, class_json.sla) = crate::sla::first_deadline(app, &class.queue, inbound.channel, class.priority, now);
    class_json.bot = live.settings.queues.get(&class.queue).and_then(|q| q.bot.clone()).unwrap_or_default();
    let result = app
        .store
        .route(RouteRequest {
            channel: inbound.channel,
            account: &inbound.account,
            provider_message_id: &inbound.provider_message_id,
            identity: (&kind, &value),
            shop_customer: shop,
            profile: profile_fields,
            address: &inbound.customer,
            message_id: &inbound.id,
            stored_message: stored.to_string(),
            class: class_json,
            hint,
            new_customer_id: ulid::Ulid::new().to_string(),
            new_conversation_id: ulid::Ulid::new().to_string(),
            now_ms: now.timestamp_millis(),
            dedupe_ttl_secs: routing.dedupe_ttl_secs,
            join_window_ms: ms(routing.join_window_secs),
            reopen_window_ms: ms(routing.reopen_window_secs),
            event_message: serde_json::to_string(&event_message).unwrap_or_default(),
            stream_seq,
        })
        .await?;
    if inbound.channel == Channel::Email {
        remember_email_thread(app, inbound, &result.conversation).await?;
    }
    if result.state == crate::model::ConversationState::Bot {
        // The bot answers first; the clocks start when a person takes over.
        crate::outbox::flush(app, &result.events, None).await?;
        bot::take_turn(app, inbound, &result).await?;
        return Ok(result);
    }
    let trigger = if result.reopened { Trigger::Reopened } else { Trigger::CustomerMessage };
    let seen = crate::sla::Seen {
        queue: &result.queue,
        channel: inbound.channel.as_str(),
        priority: result.priority,
        clocks: &result.sla_clocks,
    };
    let sla_error = |e: crate::sla::SlaError| RouteError::Sla(e.to_string());
    let step = crate::sla::plan(app, trigger, &result.message_id, now, seen).map_err(sla_error)?;
    // The events are committed with the routing (the outbox); published
    // now, and the clocks' compare-and-set in the same round trip as
    // their removal from the outbox.
    let written = crate::outbox::flush(app, &result.events, step.write().map(|(read, new)| (result.conversation.as_str(), read, new))).await?;
    if written {
        crate::sla::settle(app, &result.conversation, seen, step).await.map_err(sla_error)?;
    } else {
        // Moved meanwhile (an agent's reply at the same moment): again from a fresh read.
        crate::sla::observe(app, &result.conversation, trigger, &result.message_id, now).await.map_err(sla_error)?;
    }
    crate::office::after_message(app, &result.conversation, now).await?;
    Ok(result)
}


/// The identity a channel address stands for. WeChat OpenIDs are per app,
/// so the account is part of the kind.
pub(crate) fn identity(m: &InboundMessage) -> (String, String) {
    match m.channel {
        Channel::Sms => ("phone".into(), m.customer.clone()),
        Channel::Email => ("email".into(), m.customer.to_lowercase()),
        Channel::Wechat => (format!("wechat-{}", m.account), m.customer.clone()),
        Channel::Webchat => ("visitor".into(), m.customer.clone()),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn opt_out_keywords() {
        for k in ["STOP", " stop ", "StopAll", "unsubscribe", "CANCEL", "end", "QUIT"] {
            assert_eq!(super::sms_keyword(k), Some(true), "{k}");
        }
        for k in ["START", " unstop"] {
            assert_eq!(super::sms_keyword(k), Some(false), "{k}");
        }
        for k in ["stop please", "STOPPED", "", "start now"] {
            assert_eq!(super::sms_keyword(k), None, "{k}");
        }
    }
}
