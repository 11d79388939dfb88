//! The router: consumes normalized inbound messages (durable consumer
//! `router`, shared by every replica), routes each in one atomic Redis step
//! and publishes the resulting events. A message is acknowledged only after
//! Redis holds the result and the events are on JetStream; a redelivery
//! gets the stored result back from Redis and re-publishes the same event
//! ids, which JetStream de-duplicates.

mod classify;

use std::sync::Arc;
use std::time::Instant;

use async_nats::jetstream::{AckKind, Message};
use chrono::Utc;
use switchboard_core::{Channel, InboundMessage, Masked};
use tokio_util::sync::CancellationToken;

pub use classify::{Classification, Classifier};

use crate::app::App;
use crate::bus::consume::{ack, decode_or_term, delivered, run_durable};
use crate::events::{self, Customer, Decision, Event, EventData, EventMessage};
use crate::store::{RouteRequest, RouteResult};

/// Runs the router until `cancel` fires.
pub async fn run(app: Arc<App>, cancel: CancellationToken) {
    let subjects = app.bus.subjects();
    let (stream, filter) = (subjects.inbound_stream(), subjects.inbound_all());
    let workers = app.settings.routing.workers;
    run_durable(&app.bus, "router", stream, filter, workers, cancel, |msg| {
        let app = app.clone();
        async move { handle(&app, msg).await }
    })
    .await;
}

async fn handle(app: &App, msg: Message) {
    let started = Instant::now();
    let Some(inbound) = decode_or_term::<InboundMessage>(&msg, &app.metrics, "router").await else { return };
    match route(app, &inbound).await {
        Ok(result) => {
            ack(&msg, AckKind::Ack).await;
            let outcome = if result.duplicate {
                "duplicate"
            } else if !result.decision.is_empty() && result.agent.is_some() {
                "assigned"
            } else if result.agent.is_some() {
                "continued"
            } else {
                "queued"
            };
            app.metrics.routed(&result.queue, outcome, started.elapsed().as_secs_f64());
            tracing::info!(
                conversation = %result.conversation,
                channel = %inbound.channel,
                customer = %Masked(&inbound.customer),
                queue = %result.queue,
                agent = result.agent.as_deref().unwrap_or("-"),
                outcome,
                "routed"
            );
        }
        Err(e) => {
            let attempt = delivered(&msg);
            let wait = switchboard_core::retry::backoff(attempt as u32, app.retry_base(), app.retry_cap());
            tracing::warn!(error = %e, attempt, "routing failed; the message will be redelivered");
            ack(&msg, AckKind::Nak(Some(wait))).await;
        }
    }
}

/// Why routing one message failed (it will be retried).
#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    /// Redis.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// NATS.
    #[error(transparent)]
    Bus(#[from] crate::bus::BusError),
}

/// The agents that may take a conversation of `channel` in `queue`: some
/// capacity on the channel and the queue's skills at the required
/// proficiency. Status and free capacity are judged atomically in Redis.
pub fn candidates(app: &App, channel: Channel, queue: &str) -> Vec<(String, u32, u32)> {
    let skills = app.settings.queues.get(queue).map(|q| q.skills.clone()).unwrap_or_default();
    app.settings
        .agents
        .iter()
        .filter(|(_, a)| a.capacity.for_channel(channel) > 0)
        .filter(|(_, a)| skills.iter().all(|(s, min)| a.skills.get(s).is_some_and(|l| l >= min)))
        .map(|(id, a)| (id.clone(), a.capacity.for_channel(channel), a.capacity.total()))
        .collect()
}

/// How many heads of each queue one drain looks at.
const DRAIN_DEPTH: isize = 20;

/// Assigns waiting conversations after capacity freed (a resolve, an agent
/// turning available): queues by priority, each oldest first. Every
/// assignment is atomic in Redis, so replicas draining at once are safe.
pub async fn drain(app: &App) -> Result<usize, RouteError> {
    let mut queues: Vec<(i32, String)> =
        app.settings.queues.iter().map(|(name, q)| (q.priority, name.clone())).collect();
    if !app.settings.queues.contains_key(&app.settings.routing.default_queue) {
        queues.push((0, app.settings.routing.default_queue.clone()));
    }
    queues.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    let mut assigned = 0;
    for (_, queue) in queues {
        for conv in app.store.waiting(&queue, DRAIN_DEPTH).await? {
            let Some(record) = app.store.conversation(&conv).await? else { continue };
            let Ok(channel) = record.get("channel").map_or("", String::as_str).parse::<Channel>() else { continue };
            let now = Utc::now();
            let Some((agent, decision)) =
                app.store.assign_waiting(&conv, &candidates(app, channel, &queue), now.timestamp_millis()).await?
            else {
                continue;
            };
            let mut data = EventData::from_record(&conv, &record);
            data.agent = Some(agent.clone());
            data.decision = Some(Decision { chosen: Some(agent.clone()), candidates: decision });
            let id = format!("{conv}:assigned:{agent}:{}", now.timestamp_millis());
            let event = Event::new(events::ASSIGNED, id, &app.event_source, now, data);
            let payload = serde_json::to_vec(&event).unwrap_or_default();
            app.bus.publish(app.bus.subjects().event(events::ASSIGNED), &event.id, payload.into()).await?;
            tracing::info!(conversation = %conv, %queue, %agent, "waiting conversation assigned");
            assigned += 1;
        }
    }
    Ok(assigned)
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

async fn route(app: &App, inbound: &InboundMessage) -> Result<RouteResult, RouteError> {
    if inbound.channel == Channel::Sms {
        if let Some(opted_out) = sms_keyword(&inbound.text) {
            // Recorded before routing: the message still joins the thread,
            // so the agent sees why replies are refused.
            app.store.set_opt_out(&inbound.account, &inbound.customer, opted_out).await?;
            tracing::info!(customer = %Masked(&inbound.customer), opted_out, "SMS opt-out keyword");
        }
    }
    let class = app.classifier.classify(inbound);
    let candidates = candidates(app, inbound.channel, &class.queue);
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
    let (kind, value) = identity(inbound);
    let hint = match inbound.channel {
        Channel::Email => email_thread(app, inbound).await?,
        _ => None,
    };
    let result = app
        .store
        .route(RouteRequest {
            channel: inbound.channel,
            account: &inbound.account,
            provider_message_id: &inbound.provider_message_id,
            identity: (&kind, &value),
            address: &inbound.customer,
            message_id: &inbound.id,
            stored_message: stored.to_string(),
            queue: &class.queue,
            hint,
            candidates,
            new_customer_id: ulid::Ulid::new().to_string(),
            new_conversation_id: ulid::Ulid::new().to_string(),
            now_ms: Utc::now().timestamp_millis(),
            dedupe_ttl_secs: app.settings.routing.dedupe_ttl_secs,
        })
        .await?;
    if inbound.channel == Channel::Email {
        remember_email_thread(app, inbound, &result.conversation).await?;
    }
    for event in events_for(app, inbound, &result) {
        let payload = serde_json::to_vec(&event).unwrap_or_default();
        app.bus.publish(app.bus.subjects().event(&event.event_type), &event.id, payload.into()).await?;
    }
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

/// The events one routing produced. Ids derive from the provider message
/// id, so the same routing always yields the same event ids.
fn events_for(app: &App, inbound: &InboundMessage, r: &RouteResult) -> Vec<Event> {
    let assigned_now = r.agent.is_some() && !r.decision.is_empty();
    let event_type = if assigned_now {
        events::ASSIGNED
    } else if r.agent.is_none() && r.created {
        events::QUEUED
    } else {
        events::MESSAGE
    };
    let data = EventData {
        conversation_id: r.conversation.clone(),
        channel: inbound.channel.to_string(),
        account: inbound.account.clone(),
        customer: Customer { id: r.customer.clone(), address: inbound.customer.clone() },
        queue: r.queue.clone(),
        agent: r.agent.clone(),
        message: Some(EventMessage {
            id: r.message_id.clone(),
            direction: "inbound".into(),
            text: inbound.text.clone(),
            attachments: inbound.attachments.clone(),
        }),
        decision: (!r.decision.is_empty())
            .then(|| Decision { chosen: r.agent.clone(), candidates: r.decision.clone() }),
        ..EventData::default()
    };
    let id = format!(
        "{}:{}:{}:{}",
        inbound.channel,
        inbound.account,
        inbound.provider_message_id,
        event_type.rsplit('.').next().unwrap_or(event_type)
    );
    vec![Event::new(event_type, id, &app.event_source, inbound.received_at, data)]
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
