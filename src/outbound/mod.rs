//! The sender: consumes replies (durable consumer `sender`) and hands each
//! to its channel's provider API. A reply recorded as sent or failed in
//! Redis is never sent again, so a redelivered message is absorbed. A
//! transient failure goes back to JetStream with a delay; after
//! `nats.max_deliver` deliveries, or on a permanent refusal, the reply is
//! marked failed and a `send_failed` event tells the agent.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{AckKind, Message};
use switchboard_core::{Channel, Masked, OutboundMessage, SendError};
use switchboard_sms::{SenderOptions, SmsSender};
use tokio_util::sync::CancellationToken;

use crate::app::App;
use crate::bus::consume::{ack, decode_or_term, delivered, run_durable};
use crate::config::Settings;
use crate::events::{self, Customer, Event, EventData, EventMessage};
use crate::telemetry::Outcome;

/// How long the sent/failed state of a reply is remembered.
const STATE_TTL: Duration = Duration::from_secs(30 * 24 * 3600);

/// The provider senders, by channel and account.
#[derive(Debug, Default)]
pub struct Senders {
    sms: HashMap<String, SmsSender>,
}

impl Senders {
    /// One sender per configured account.
    pub fn new(settings: &Settings) -> Result<Senders, switchboard_sms::SmsError> {
        let mut sms = HashMap::new();
        for (name, a) in &settings.channels.sms {
            let options = SenderOptions {
                api_base: a.api_base.clone(),
                account_sid: a.account_sid.clone(),
                auth_token: a.auth_token.clone().unwrap_or_else(|| secrecy::SecretString::from("")),
                from: a.from.clone(),
                status_callback: Some(format!("{}/webhooks/sms/{name}/status", settings.server.public_base())),
                request_timeout: settings.outbound.request_timeout(),
                max_attempts: settings.outbound.max_attempts,
                base_delay: settings.outbound.base_delay(),
                max_delay: settings.outbound.max_delay(),
            };
            sms.insert(name.clone(), SmsSender::new(options)?);
        }
        Ok(Senders { sms })
    }

    async fn send(&self, msg: &OutboundMessage) -> Result<switchboard_core::SendReceipt, SendError> {
        match msg.channel {
            Channel::Sms => match self.sms.get(&msg.account) {
                Some(s) => s.send(msg).await,
                None => Err(unknown_account(msg)),
            },
            // The other channels' senders arrive with their adapters.
            _ => Err(unknown_account(msg)),
        }
    }
}

fn unknown_account(msg: &OutboundMessage) -> SendError {
    SendError::Permanent {
        status: 0,
        code: None,
        reason: format!("no sender for {} account `{}`", msg.channel, msg.account),
    }
}

/// Runs the sender until `cancel` fires.
pub async fn run(app: Arc<App>, cancel: CancellationToken) {
    let subjects = app.bus.subjects();
    let (stream, filter) = (subjects.outbound_stream(), subjects.outbound_all());
    let workers = app.settings.outbound.workers;
    run_durable(&app.bus, "sender", stream, filter, workers, cancel, |msg| {
        let app = app.clone();
        async move { handle(&app, msg).await }
    })
    .await;
}

async fn handle(app: &App, msg: Message) {
    let Some(out) = decode_or_term::<OutboundMessage>(&msg, &app.metrics, "sender").await else { return };
    match app.store.outbound_state(&out.id).await {
        Ok(Some(_)) => {
            // Sent or failed before: this is a redelivery.
            app.metrics.egress(out.channel.as_str(), &out.account, Outcome::duplicate);
            ack(&msg, AckKind::Ack).await;
            return;
        }
        Ok(None) => {}
        Err(e) => {
            tracing::warn!(error = %e, "cannot read send state; retrying");
            ack(&msg, AckKind::Nak(Some(Duration::from_secs(1)))).await;
            return;
        }
    }
    let attempt = delivered(&msg);
    match app.senders.send(&out).await {
        Ok(receipt) => {
            if let Err(e) = app.store.mark_outbound(&out.id, "sent", Some(&receipt.provider_message_id), STATE_TTL).await
            {
                tracing::warn!(error = %e, "sent, but cannot record it; a redelivery may send again");
            }
            app.metrics.egress(out.channel.as_str(), &out.account, Outcome::ok);
            tracing::info!(outbound = %out.id, conversation = %out.conversation_id, to = %Masked(&out.to), "reply sent");
            ack(&msg, AckKind::Ack).await;
        }
        Err(SendError::Retryable { reason, retry_after }) if attempt < app.settings.nats.max_deliver => {
            app.metrics.egress(out.channel.as_str(), &out.account, Outcome::retry);
            let wait = retry_after.unwrap_or_else(|| {
                switchboard_core::retry::backoff(attempt as u32, app.retry_base(), app.retry_cap())
            });
            tracing::warn!(outbound = %out.id, %reason, attempt, "send failed; will retry");
            ack(&msg, AckKind::Nak(Some(wait))).await;
        }
        Err(e) => {
            app.metrics.egress(out.channel.as_str(), &out.account, Outcome::failed);
            tracing::warn!(outbound = %out.id, error = %e, "send failed for good");
            if let Err(err) = fail(app, &out, &e.to_string()).await {
                tracing::warn!(error = %err, "cannot record the failure; retrying");
                ack(&msg, AckKind::Nak(Some(Duration::from_secs(1)))).await;
                return;
            }
            ack(&msg, AckKind::Ack).await;
        }
    }
}

/// Marks the reply failed and tells the agent with a `send_failed` event.
async fn fail(app: &App, out: &OutboundMessage, reason: &str) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let conv = app.store.conversation(&out.conversation_id).await?.unwrap_or_default();
    let data = EventData {
        conversation_id: out.conversation_id.clone(),
        channel: out.channel.to_string(),
        account: out.account.clone(),
        customer: Customer { id: conv.get("customer").cloned().unwrap_or_default(), address: out.to.clone() },
        queue: conv.get("queue").cloned().unwrap_or_default(),
        agent: out.agent.clone(),
        message: Some(EventMessage { id: out.id.clone(), direction: "outbound".into(), text: out.text.clone(), attachments: vec![] }),
        decision: None,
        error: Some(reason.to_owned()),
    };
    let event = Event::new(events::SEND_FAILED, format!("{}:send_failed", out.id), &app.event_source, chrono::Utc::now(), data);
    let payload = serde_json::to_vec(&event)?;
    app.bus.publish(app.bus.subjects().event(events::SEND_FAILED), &event.id, payload.into()).await?;
    app.store.mark_outbound(&out.id, "failed", None, STATE_TTL).await?;
    Ok(())
}
