//! `POST /integrations/slack/interactivity`: the buttons of a
//! conversation's parent message (Accept, Decline, Resolve, and Transfer
//! with a queue select), acting as the Slack user's mapped agent through
//! the commands, with the API's permission rules. Verified like the events
//! (401, nothing acted on). The result shows as the parent's update (the
//! command's event rewrites it); a refusal is explained to the user alone
//! (`chat.postEphemeral`).

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::Deserialize;
use utoipa::ToSchema;

use super::super::error::{ApiError, ErrorBody};
use crate::app::App;
use crate::commands::answer::AnswerOffer;
use crate::commands::resolve::Resolve;
use crate::commands::transfer::{Transfer, TransferTo};
use crate::commands::{visible, Actor, CommandError};

/// The form Slack posts: one field, `payload`, holding JSON.
#[derive(Debug, ToSchema)]
#[allow(dead_code)] // described only: the handler reads the form field by field
pub struct SlackInteractionForm {
    /// The interaction, as JSON (`type` = `block_actions`).
    pub payload: String,
}

#[derive(Debug, Deserialize)]
struct Payload {
    #[serde(rename = "type")]
    kind: String,
    user: Option<IdOnly>,
    container: Option<Container>,
    #[serde(default)]
    actions: Vec<Action>,
}

#[derive(Debug, Deserialize)]
struct IdOnly {
    id: String,
}

#[derive(Debug, Deserialize)]
struct Container {
    channel_id: Option<String>,
    message_ts: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Action {
    action_id: String,
    selected_option: Option<Selected>,
}

#[derive(Debug, Deserialize)]
struct Selected {
    value: String,
}

/// `POST /integrations/slack/interactivity`
#[utoipa::path(
    post,
    path = "/integrations/slack/interactivity",
    tag = "webhooks",
    operation_id = "slack_interactivity",
    summary = "The Slack app's buttons",
    description = "Authenticated like the events endpoint (`X-Slack-Signature`, 5-minute window). A \
        `block_actions` payload from a conversation's parent message: `sb_accept`, `sb_decline`, \
        `sb_resolve`, `sb_transfer` (a queue select), acting as the agent mapped to the Slack user \
        with the API's permission rules. A refusal is explained to the user alone; the answer is 200.",
    params(
        ("X-Slack-Signature" = String, Header, description = "Slack's v0 signature of the request"),
        ("X-Slack-Request-Timestamp" = String, Header, description = "Unix seconds when Slack sent it"),
    ),
    request_body(content = SlackInteractionForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Taken (the parent is updated by the action's event)"),
        (status = 400, description = "`invalid_request`: not a Slack interaction", body = ErrorBody),
        (status = 401, description = "`rejected`: the signature is missing, wrong or stale", body = ErrorBody),
        (status = 413, description = "`too_large`: the body is over the webhook's cap", body = ErrorBody),
        (status = 503, description = "Not taken: Redis or NATS is away", body = ErrorBody),
    ),
)]
pub async fn interactivity(State(app): State<Arc<App>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(refused) = super::check(&app, &headers, &body) {
        return refused;
    }
    let payload = form_urlencoded::parse(&body).find(|(k, _)| k == "payload").map(|(_, v)| v.into_owned());
    let Some(payload) = payload.and_then(|p| serde_json::from_str::<Payload>(&p).ok()) else {
        return super::refuse(&app, "rejected", ApiError::invalid("payload", "is not a Slack interaction"));
    };
    let live = app.live();
    let slack = live.settings.integrations.slack.clone();
    let (Some(user), Some(Container { channel_id: Some(channel), message_ts: Some(ts) }), Some(action)) =
        (payload.user, payload.container, payload.actions.into_iter().next())
    else {
        app.metrics.slack_event("ignored");
        return StatusCode::OK.into_response();
    };
    if payload.kind != "block_actions" {
        app.metrics.slack_event("ignored");
        return StatusCode::OK.into_response();
    }
    let notice = |text: String| {
        let (app, slack, channel, user, ts) = (app.clone(), slack.clone(), channel.clone(), user.id.clone(), ts.clone());
        tokio::spawn(async move { app.targets.slack_notice(&slack, &channel, &user, &ts, &text).await });
    };
    let agent = live.settings.agents.iter().find(|(_, a)| a.slack_user.as_deref() == Some(user.id.as_str())).map(|(id, _)| id.clone());
    let Some(agent) = agent else {
        notice("Your Slack user is not mapped to an agent (agents.<id>.slack_user).".into());
        app.metrics.slack_event("refused");
        return StatusCode::OK.into_response();
    };
    let conversation = match app.store.slack_thread(&channel, &ts).await {
        Ok(Some(c)) => c,
        Ok(None) => {
            app.metrics.slack_event("ignored");
            return StatusCode::OK.into_response();
        }
        Err(e) => return super::refuse(&app, "unavailable", ApiError::unavailable(&e)),
    };
    let by = Actor::Agent(agent.clone());
    let done: Result<(), CommandError> = match action.action_id.as_str() {
        "sb_accept" | "sb_decline" => {
            let accept = action.action_id == "sb_accept";
            AnswerOffer { conversation: conversation.clone(), by, accept }.apply(&app).await.map(drop)
        }
        "sb_resolve" => Resolve { conversation: conversation.clone(), by }.apply(&app).await.map(drop),
        "sb_transfer" => match action.selected_option {
            Some(Selected { value: queue }) => match visible(&app, by, &conversation).await {
                Ok(visible) => Transfer { conversation: visible, to: TransferTo::Queue(queue), note: None }.apply(&app).await.map(drop),
                Err(e) => Err(e),
            },
            None => Err(CommandError::Invalid { field: "queue", why: "must be chosen" }),
        },
        _ => {
            app.metrics.slack_event("ignored");
            return StatusCode::OK.into_response();
        }
    };
    match done {
        Ok(()) => app.metrics.slack_event("action"),
        Err(CommandError::Unavailable(why)) => return super::refuse(&app, "unavailable", ApiError::unavailable(&why)),
        Err(refused) => {
            tracing::info!(%agent, %conversation, action = %action.action_id, reason = %refused, "Slack action refused");
            notice(format!("Not done: {refused}"));
            app.metrics.slack_event("refused");
        }
    }
    StatusCode::OK.into_response()
}
