//! The Slack app's inbound side: `POST /integrations/slack/events` (the
//! Events API) and the buttons (`interactivity`). Every request is verified by its signature first
//! (`verify`: 401, nothing acted on); then `url_verification` answers its
//! challenge, and a `message` in the thread of a conversation's parent
//! message (found through `store::slack`) by an agent mapped with
//! `agents.<id>.slack_user`, who may act on that conversation, becomes that
//! agent's reply to the customer (`commands::reply`, the API's own checks)
//! or, when it starts with `integrations.slack.note_prefix`, a note
//! (`commands::note`). Messages of unmapped users, of bots (ours too),
//! edits and deletions are ignored; an `event_id` is acted on once
//! (Slack's retries, `X-Slack-Retry-Num`, are answered at once).

pub mod commands;
pub mod interactivity;
pub mod verify;

pub use commands::commands;
pub use interactivity::interactivity;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use secrecy::ExposeSecret;
use serde::Deserialize;
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody};
use crate::app::App;
use crate::commands::note::AddNote;
use crate::commands::reply::Reply;
use crate::commands::{visible, Actor, CommandError};

/// How long an event id is remembered (Slack retries within minutes).
const EVENT_TTL: Duration = Duration::from_secs(24 * 3600);

/// An Events API request (fields Slack adds beyond these are ignored).
#[derive(Debug, Deserialize, ToSchema)]
pub struct SlackEnvelope {
    /// `url_verification` or `event_callback` (others are ignored).
    #[serde(rename = "type")]
    pub kind: String,
    /// For `url_verification`: the value to answer.
    pub challenge: Option<String>,
    /// For `event_callback`: the event's unique id.
    pub event_id: Option<String>,
    /// For `event_callback`: the event.
    #[schema(value_type = Option<Object>)]
    pub event: Option<SlackEvent>,
}

/// The inner event: a `message` is the one acted on.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct SlackEvent {
    /// The event type (`message`).
    #[serde(rename = "type", default)]
    pub kind: String,
    /// Set on edits, deletions, bot messages…: ignored.
    pub subtype: Option<String>,
    /// Set on messages by bots (ours included): ignored.
    pub bot_id: Option<String>,
    /// The author's user id.
    pub user: Option<String>,
    /// The text.
    pub text: Option<String>,
    /// The channel id.
    pub channel: Option<String>,
    /// The message's own ts.
    pub ts: Option<String>,
    /// The parent's ts, for a message in a thread.
    pub thread_ts: Option<String>,
}

/// The answer: what was done with an event, or the URL challenge.
#[derive(Debug, Default, serde::Serialize, ToSchema)]
pub struct SlackAck {
    /// True for an event (absent for the challenge).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ok: Option<bool>,
    /// `reply`, `note`, `duplicate`, `refused` or `ignored`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    /// For `url_verification`: the challenge, as sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub challenge: Option<String>,
}

fn ack(app: &App, outcome: &'static str) -> Response {
    app.metrics.slack_event(outcome);
    Json(SlackAck { ok: Some(true), outcome: Some(outcome.to_owned()), challenge: None }).into_response()
}

fn refuse(app: &App, outcome: &'static str, e: ApiError) -> Response {
    app.metrics.slack_event(outcome);
    e.into_response()
}

/// `POST /integrations/slack/events`
#[utoipa::path(
    post,
    path = "/integrations/slack/events",
    tag = "webhooks",
    operation_id = "slack_events",
    summary = "The Slack app's Events API endpoint",
    description = "Authenticated by `X-Slack-Signature`: `v0=` and the hex HMAC-SHA256, keyed by \
        `integrations.slack.signing_secret`, of `v0:{X-Slack-Request-Timestamp}:{body}`; a timestamp \
        more than 5 minutes off is refused. `url_verification` answers its challenge. A `message` in \
        the thread of a conversation's Slack parent message, by the agent whose `slack_user` wrote it \
        and who may act on the conversation, is that agent's reply to the customer (or a note when it \
        starts with `note_prefix`); anything else is answered 200 and ignored. An `event_id` is acted \
        on once.",
    params(
        ("X-Slack-Signature" = String, Header, description = "Slack's v0 signature of the request"),
        ("X-Slack-Request-Timestamp" = String, Header, description = "Unix seconds when Slack sent it"),
    ),
    request_body(content = SlackEnvelope, content_type = "application/json"),
    responses(
        (status = 200, description = "Taken (or ignored): what was done, or the challenge", body = SlackAck),
        (status = 400, description = "`invalid_request`: the body is not an Events API request", body = ErrorBody),
        (status = 401, description = "`rejected`: the signature is missing, wrong or stale", body = ErrorBody),
        (status = 413, description = "`too_large`: the body is over the webhook's cap", body = ErrorBody),
        (status = 503, description = "Not taken; Slack retries", body = ErrorBody),
    ),
)]
pub async fn events(State(app): State<Arc<App>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(refused) = check(&app, &headers, &body) {
        return refused;
    }
    let live = app.live();
    let slack = &live.settings.integrations.slack;
    let envelope: SlackEnvelope = match serde_json::from_slice(&body) {
        Ok(e) => e,
        Err(_) => return refuse(&app, "rejected", ApiError::invalid("body", "is not an Events API request")),
    };
    match envelope.kind.as_str() {
        "url_verification" => match envelope.challenge {
            Some(challenge) => {
                app.metrics.slack_event("challenge");
                Json(SlackAck { challenge: Some(challenge), ..Default::default() }).into_response()
            }
            None => refuse(&app, "rejected", ApiError::invalid("challenge", "is missing")),
        },
        "event_callback" => {
            let Some(event_id) = envelope.event_id.filter(|id| !id.is_empty() && id.len() <= 128) else {
                return refuse(&app, "rejected", ApiError::invalid("event_id", "is missing"));
            };
            let event = envelope.event.unwrap_or_default();
            match take(&app, slack, &event_id, &event).await {
                Ok(outcome) => ack(&app, outcome),
                Err(e) => refuse(&app, "unavailable", e),
            }
        }
        _ => ack(&app, "ignored"),
    }
}

/// The shared checks of both endpoints: the body's cap, then the
/// signature (401, nothing acted on). `Some` is the refusal's answer.
fn check(app: &App, headers: &HeaderMap, body: &[u8]) -> Option<Response> {
    if let Err(e) = super::intake::check_provider_body(app, body.len()) {
        return Some(refuse(app, "rejected", e));
    }
    let live = app.live();
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let secret = live.settings.integrations.slack.signing_secret.as_ref().map(|s| s.expose_secret());
    let now = chrono::Utc::now().timestamp();
    if let Err(refused) = verify::verify(secret, header("x-slack-request-timestamp"), header("x-slack-signature"), body, now) {
        tracing::debug!(reason = refused.reason(), "Slack request refused");
        return Some(refuse(app, "rejected", ApiError::new(StatusCode::UNAUTHORIZED, "rejected", refused.reason())));
    }
    None
}

/// What a thread message from an agent is.
#[derive(Debug, PartialEq, Eq)]
enum Act<'a> {
    /// A reply to the customer.
    Reply(String),
    /// An internal note.
    Note(String),
    /// Nothing to do (why, for the debug log).
    Ignore(&'a str),
}

/// Slack escapes `&`, `<` and `>` in message text.
fn unescape(text: &str) -> String {
    text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
}

/// Decides from the event alone (pure): who wrote what, where.
fn classify<'e>(event: &'e SlackEvent, note_prefix: &str) -> Result<(&'e str, &'e str, &'e str, Act<'static>), Act<'static>> {
    if event.kind != "message" {
        return Err(Act::Ignore("not a message"));
    }
    if event.subtype.is_some() || event.bot_id.is_some() {
        return Err(Act::Ignore("a bot message, an edit or a deletion"));
    }
    let (Some(user), Some(channel), Some(thread)) = (event.user.as_deref(), event.channel.as_deref(), event.thread_ts.as_deref()) else {
        return Err(Act::Ignore("not in a thread"));
    };
    if event.ts.as_deref() == Some(thread) {
        return Err(Act::Ignore("a parent message"));
    }
    let text = unescape(event.text.as_deref().unwrap_or("").trim());
    let act = match text.strip_prefix(note_prefix) {
        Some(note) => Act::Note(note.trim().to_owned()),
        None => Act::Reply(text),
    };
    Ok((user, channel, thread, act))
}

/// Acts on one `event_callback`; `Err` only when Slack should retry.
async fn take(app: &Arc<App>, slack: &crate::config::SlackSettings, event_id: &str, event: &SlackEvent) -> Result<&'static str, ApiError> {
    let (user, channel, thread, act) = match classify(event, &slack.note_prefix) {
        Ok(parts) => parts,
        Err(Act::Ignore(why)) => {
            tracing::debug!(why, "Slack event ignored");
            return Ok("ignored");
        }
        Err(_) => return Ok("ignored"),
    };
    let live = app.live();
    let Some(agent) = live.settings.agents.iter().find(|(_, a)| a.slack_user.as_deref() == Some(user)).map(|(id, _)| id.clone()) else {
        tracing::debug!("Slack message by an unmapped user ignored");
        return Ok("ignored");
    };
    let Some(conversation) = app.store.slack_thread(channel, thread).await.map_err(|e| ApiError::unavailable(&e))? else {
        return Ok("ignored");
    };
    if !app.store.first_slack_event(event_id, EVENT_TTL).await.map_err(|e| ApiError::unavailable(&e))? {
        return Ok("duplicate");
    }
    let outcome = act_as(app, &agent, &conversation, act, event_id).await;
    match outcome {
        Ok(done) => Ok(done),
        Err(CommandError::Unavailable(why)) => {
            // Not done: Slack's retry takes it again.
            if let Err(e) = app.store.release_slack_event(event_id).await {
                tracing::warn!(error = %e, "cannot release a Slack event; its retry will be ignored");
            }
            Err(ApiError::unavailable(&why))
        }
        Err(refused) => {
            tracing::info!(%agent, %conversation, reason = %refused, "Slack thread message refused");
            // Said to the agent alone, in the thread, off the answer's path.
            let (app, slack) = (app.clone(), slack.clone());
            let (channel, user, thread) = (channel.to_owned(), user.to_owned(), thread.to_owned());
            let text = format!("Not sent: {refused}");
            tokio::spawn(async move { app.targets.slack_notice(&slack, &channel, &user, &thread, &text).await });
            Ok("refused")
        }
    }
}

async fn act_as(app: &App, agent: &str, conversation: &str, act: Act<'_>, event_id: &str) -> Result<&'static str, CommandError> {
    let conversation = visible(app, Actor::Agent(agent.to_owned()), conversation).await?;
    match act {
        Act::Note(text) => AddNote { conversation, text }.apply(app).await.map(|_| "note"),
        Act::Reply(text) => {
            let idempotency_key = Some(format!("slack-{event_id}"));
            Reply { conversation, text, media_urls: Vec::new(), media: Vec::new(), idempotency_key }.apply(app).await.map(|_| "reply")
        }
        Act::Ignore(_) => Ok("ignored"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn event(v: Value) -> SlackEvent {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn only_a_persons_thread_message_acts() {
        let base = json!({ "type": "message", "channel": "C1", "user": "U1", "text": "Hi &amp; bye", "ts": "2.1", "thread_ts": "1.1" });
        let first = event(base.clone());
        let (user, channel, thread, act) = classify(&first, "//").unwrap();
        assert_eq!((user, channel, thread), ("U1", "C1", "1.1"));
        assert_eq!(act, Act::Reply("Hi & bye".into()));
        let mut note = base.clone();
        note["text"] = json!("// checked the order");
        assert_eq!(classify(&event(note), "//").unwrap().3, Act::Note("checked the order".into()));
        for (field, value) in [("subtype", json!("message_changed")), ("bot_id", json!("B1")), ("thread_ts", Value::Null), ("type", json!("reaction_added"))] {
            let mut e = base.clone();
            e[field] = value;
            assert!(classify(&event(e), "//").is_err(), "{field}");
        }
        let mut parent = base;
        parent["ts"] = json!("1.1");
        assert!(classify(&event(parent), "//").is_err());
    }
}
