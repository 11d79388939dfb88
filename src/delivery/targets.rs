//! The HTTP delivery targets: Standard Webhooks and Slack incoming webhooks.

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use secrecy::ExposeSecret;
use switchboard_core::retry;

use super::signing;
use crate::config::{DeliverTarget, DeliverySettings};
use crate::events::Event;

/// How one delivery to one target ended.
#[derive(Debug)]
pub enum Attempt {
    /// The target accepted it.
    Done,
    /// Nothing to send to this kind of target here.
    Skipped,
    /// Failed in a way a later attempt may fix.
    Retry(String),
    /// Refused for good (a 4xx other than 408/429).
    Failed(String),
}

/// The shared HTTP client and retry policy of delivery.
#[derive(Clone, Debug)]
pub struct Targets {
    client: reqwest::Client,
    settings: DeliverySettings,
}

/// The label of a target kind, for metrics and logs.
pub fn kind(target: &DeliverTarget) -> &'static str {
    match target {
        DeliverTarget::Webhook { .. } => "webhook",
        DeliverTarget::Slack { .. } => "slack",
        DeliverTarget::Email { .. } => "email",
        DeliverTarget::Nats {} => "nats",
    }
}

impl Targets {
    /// A client with the configured timeout.
    pub fn new(settings: &DeliverySettings) -> Result<Targets, reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(settings.request_timeout())
            .connect_timeout(settings.request_timeout())
            .user_agent(concat!("switchboard/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Targets { client, settings: settings.clone() })
    }

    /// Delivers `event` (serialized as `body`) to one target, retrying
    /// transient failures up to `delivery.max_attempts` times.
    pub async fn deliver(&self, target: &DeliverTarget, event: &Event, body: &Bytes) -> Attempt {
        let mut attempt = 1;
        loop {
            let (outcome, hint) = match target {
                DeliverTarget::Webhook { url, secret, .. } => self.webhook(url, secret.as_ref(), event, body).await,
                DeliverTarget::Slack { url } => self.slack(url.expose_secret(), event).await,
                // The mailbox target arrives with the email channel; the NATS
                // target is the fan-out subject, already published.
                DeliverTarget::Email { .. } | DeliverTarget::Nats {} => return Attempt::Skipped,
            };
            match outcome {
                Attempt::Retry(_) if attempt < self.settings.max_attempts => {
                    let wait =
                        retry::next_wait(attempt, hint, self.settings.base_delay(), self.settings.max_delay());
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn webhook(
        &self,
        url: &str,
        secret: Option<&secrecy::SecretString>,
        event: &Event,
        body: &Bytes,
    ) -> (Attempt, Option<Duration>) {
        let Some(key) = secret.and_then(|s| signing::decode_secret(s.expose_secret())) else {
            return (Attempt::Failed("webhook secret is not a whsec_ secret".into()), None);
        };
        let timestamp = chrono::Utc::now().timestamp();
        let signature = signing::sign(&key, &event.id, timestamp, body);
        let request = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .header("webhook-id", &event.id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body.clone());
        classify(request.send().await)
    }

    async fn slack(&self, url: &str, event: &Event) -> (Attempt, Option<Duration>) {
        classify(self.client.post(url).json(&slack_message(event)).send().await)
    }
}

/// Maps an HTTP result to an attempt outcome and the target's Retry-After.
fn classify(result: Result<reqwest::Response, reqwest::Error>) -> (Attempt, Option<Duration>) {
    match result {
        Err(e) => (Attempt::Retry(format!("request failed: {}", without_url(&e))), None),
        Ok(resp) => {
            let status = resp.status();
            let hint = resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| retry::retry_after(v, SystemTime::now()));
            if status.is_success() {
                (Attempt::Done, None)
            } else if status.as_u16() == 429 || status.as_u16() == 408 || status.is_server_error() {
                (Attempt::Retry(format!("target answered {status}")), hint)
            } else {
                (Attempt::Failed(format!("target answered {status}")), None)
            }
        }
    }
}

/// reqwest errors print the URL, which for Slack is a credential.
fn without_url(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    if let Some(url) = e.url() {
        s = s.replace(url.as_str(), "<target>");
    }
    s
}

/// A Slack incoming-webhook message: a text fallback plus Block Kit blocks.
fn slack_message(event: &Event) -> serde_json::Value {
    let d = &event.data;
    let what = event.event_type.rsplit('.').next().unwrap_or("event");
    let text = d.message.as_ref().map(|m| m.text.as_str()).unwrap_or("");
    let headline = format!("Conversation {} {what} ({} · queue {})", d.conversation_id, d.channel, d.queue);
    serde_json::json!({
        "text": format!("{headline}: {text}"),
        "blocks": [
            { "type": "section", "text": { "type": "mrkdwn", "text": format!("*{headline}*") } },
            { "type": "section", "fields": [
                { "type": "mrkdwn", "text": format!("*Customer*\n{}", d.customer.address) },
                { "type": "mrkdwn", "text": format!("*Agent*\n{}", d.agent.as_deref().unwrap_or("-")) },
            ]},
            { "type": "section", "text": { "type": "plain_text", "text": if text.is_empty() { " " } else { text } } },
        ]
    })
}
