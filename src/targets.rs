//! The HTTP delivery targets: Standard Webhooks, Slack incoming webhooks,
//! the Slack app (`slack_app`), and the group chat robots of WeCom, DingTalk and Feishu (`robots`).

pub mod robots;
pub mod slack_app;

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use secrecy::ExposeSecret;
use switchboard_core::retry;

use crate::signing;
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
    /// Refused for good (a 4xx other than 408/410/429).
    Failed(String),
    /// The target refuses us for good (410 Gone, a robot's bad key, token,
    /// signature or keyword): it is disabled until a reload. Says why.
    Gone(String),
}

/// The shared HTTP client and retry policy of delivery.
#[derive(Clone, Debug)]
pub struct Targets {
    client: reqwest::Client,
    settings: DeliverySettings,
    public_base: String,
}

/// The label of a target kind, for metrics and logs.
pub fn kind(target: &DeliverTarget) -> &'static str {
    match target {
        DeliverTarget::Webhook { .. } => "webhook",
        DeliverTarget::Slack { .. } => "slack",
        DeliverTarget::SlackApp { .. } => "slack_app",
        DeliverTarget::Wecom { .. } => "wecom",
        DeliverTarget::Dingtalk { .. } => "dingtalk",
        DeliverTarget::Feishu { .. } => "feishu",
        DeliverTarget::Email { .. } => "email",
        DeliverTarget::Nats {} => "nats",
    }
}

impl Targets {
    /// A client with the configured timeout.
    pub fn new(settings: &DeliverySettings, public_base: &str) -> Result<Targets, reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(settings.request_timeout())
            .connect_timeout(settings.request_timeout())
            .user_agent(concat!("switchboard/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Targets { client, settings: settings.clone(), public_base: public_base.trim_end_matches('/').to_owned() })
    }

    /// Delivers `event` (serialized as `body`) to one target, retrying
    /// transient failures up to `delivery.max_attempts` times.
    pub async fn deliver(&self, target: &DeliverTarget, event: &Event, body: &Bytes) -> Attempt {
        let mut attempt = 1;
        loop {
            let (outcome, hint) = match target {
                DeliverTarget::Webhook { url, secret, previous_secrets, .. } => {
                    self.webhook(url, secret.as_ref(), previous_secrets, event, body).await
                }
                DeliverTarget::Slack { url } => self.slack(url.expose_secret(), event).await,
                // The mailbox target is `mailbox::deliver`, the robots
                // `Targets::robot` (they need the shared rate limiter); the
                // NATS target is the fan-out subject, already published.
                DeliverTarget::Email { .. }
                | DeliverTarget::Nats {}
                | DeliverTarget::SlackApp { .. }
                | DeliverTarget::Wecom { .. }
                | DeliverTarget::Dingtalk { .. }
                | DeliverTarget::Feishu { .. } => return Attempt::Skipped,
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
        previous: &[secrecy::SecretString],
        event: &Event,
        body: &Bytes,
    ) -> (Attempt, Option<Duration>) {
        let Some(key) = secret.and_then(|s| signing::decode_secret(s.expose_secret())) else {
            return (Attempt::Failed("webhook secret is not a whsec_ secret".into()), None);
        };
        let timestamp = chrono::Utc::now().timestamp();
        // Standard Webhooks: several signatures, space-separated, one per
        // active secret; a receiver accepts the message if any matches.
        let mut signature = signing::sign(&key, &event.id, timestamp, body);
        for old in previous.iter().filter_map(|s| signing::decode_secret(s.expose_secret())) {
            signature.push(' ');
            signature.push_str(&signing::sign(&old, &event.id, timestamp, body));
        }
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
        classify(self.client.post(url).json(&slack_message(event, &self.public_base)).send().await)
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
            } else if status.as_u16() == 410 {
                (Attempt::Gone("answered 410 Gone".into()), None)
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

/// A Slack incoming-webhook message: a text fallback plus Block Kit blocks
/// with the customer, channel, queue, agent, the message and the API links
/// to act on the conversation (`base` is `server.public_url`).
pub fn slack_message(event: &Event, base: &str) -> serde_json::Value {
    let d = &event.data;
    let what = event.event_type.rsplit('.').next().unwrap_or("event").replace('_', " ");
    let text = d.message.as_ref().map(|m| m.text.as_str()).unwrap_or("");
    let headline = format!("Conversation {what} · {} · queue {}", d.channel, if d.queue.is_empty() { "-" } else { &d.queue });
    let api = format!("{base}/api/v1/conversations/{}", d.conversation_id);
    let mut blocks = vec![
        serde_json::json!({ "type": "header", "text": { "type": "plain_text", "text": headline } }),
        serde_json::json!({ "type": "section", "fields": [
            { "type": "mrkdwn", "text": format!("*Customer*\n{}", if d.customer.address.is_empty() { "-" } else { &d.customer.address }) },
            { "type": "mrkdwn", "text": format!("*Agent*\n{}", d.agent.as_deref().unwrap_or("-")) },
            { "type": "mrkdwn", "text": format!("*Channel*\n{}", d.channel) },
            { "type": "mrkdwn", "text": format!("*Conversation*\n`{}`", d.conversation_id) },
        ]}),
    ];
    if !text.is_empty() {
        blocks.push(serde_json::json!({ "type": "section", "text": { "type": "plain_text", "text": text } }));
    }
    if let Some(reason) = d.reason.as_deref().or(d.error.as_deref()) {
        blocks.push(serde_json::json!({ "type": "context", "elements": [ { "type": "plain_text", "text": reason } ] }));
    }
    if !d.conversation_id.is_empty() {
        blocks.push(serde_json::json!({ "type": "context", "elements": [ { "type": "mrkdwn", "text": format!(
            "<{api}|Open> · accept: `POST {api}/accept` · reply: `POST {api}/reply`"
        ) } ] }));
    }
    let fallback = if text.is_empty() { headline.clone() } else { format!("{headline}: {text}") };
    serde_json::json!({ "text": fallback, "blocks": blocks })
}
