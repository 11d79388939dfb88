//! `POST /integrations/slack/commands`: the app's slash command,
//! `/switchboard away|available|offline|status`, by which an agent mapped
//! with `agents.<id>.slack_user` sets its presence from Slack (the same
//! `commands::status` as `PUT /api/v1/agents/{agent}/status`). Verified
//! like the events (401, nothing acted on); the answer is an ephemeral
//! message to the user alone.

use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use serde::Serialize;
use utoipa::ToSchema;

use super::super::error::{ApiError, ErrorBody};
use crate::app::App;
use crate::commands::status::SetStatus;
use crate::commands::{Actor, CommandError};
use crate::model::AgentStatus;

/// The form Slack posts for a slash command (fields beyond these are
/// ignored).
#[derive(Debug, ToSchema)]
#[allow(dead_code)] // described only: the handler reads the form field by field
pub struct SlackCommandForm {
    /// The command as typed (`/switchboard`).
    pub command: String,
    /// What follows it: `away`, `available`, `offline` or `status`.
    pub text: String,
    /// The Slack user who typed it.
    pub user_id: String,
}

/// The answer Slack shows the user alone.
#[derive(Debug, Serialize, ToSchema)]
pub struct SlackCommandAnswer {
    /// Always `ephemeral`.
    pub response_type: &'static str,
    /// What was done, or why not.
    pub text: String,
}

fn answer(app: &App, outcome: &'static str, text: impl Into<String>) -> Response {
    app.metrics.slack_event(outcome);
    Json(SlackCommandAnswer { response_type: "ephemeral", text: text.into() }).into_response()
}

const USAGE: &str = "Usage: /switchboard away | available | offline | status";

/// `POST /integrations/slack/commands`
#[utoipa::path(
    post,
    path = "/integrations/slack/commands",
    tag = "webhooks",
    operation_id = "slack_commands",
    summary = "The Slack app's slash command",
    description = "Authenticated like the events endpoint (`X-Slack-Signature`, 5-minute window). \
        `/switchboard away|available|offline` sets the status of the agent mapped to the Slack user \
        (`agents.<id>.slack_user`), as `PUT /api/v1/agents/{agent}/status` does; `status` tells it. \
        The answer is an ephemeral message to that user.",
    params(
        ("X-Slack-Signature" = String, Header, description = "Slack's v0 signature of the request"),
        ("X-Slack-Request-Timestamp" = String, Header, description = "Unix seconds when Slack sent it"),
    ),
    request_body(content = SlackCommandForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Done, or why not, for the user alone", body = SlackCommandAnswer),
        (status = 401, description = "`rejected`: the signature is missing, wrong or stale", body = ErrorBody),
        (status = 413, description = "`too_large`: the body is over the webhook's cap", body = ErrorBody),
        (status = 503, description = "Not done: Redis is away", body = ErrorBody),
    ),
)]
pub async fn commands(State(app): State<Arc<App>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(refused) = super::check(&app, &headers, &body) {
        return refused;
    }
    let field = |name: &str| form_urlencoded::parse(&body).find(|(k, _)| k == name).map(|(_, v)| v.trim().to_owned());
    let (Some(user), text) = (field("user_id"), field("text").unwrap_or_default()) else {
        return answer(&app, "ignored", USAGE);
    };
    let agent = app.live().settings.agents.iter().find(|(_, a)| a.slack_user.as_deref() == Some(user.as_str())).map(|(id, _)| id.clone());
    let Some(agent) = agent else {
        return answer(&app, "refused", "Your Slack user is not mapped to an agent (agents.<id>.slack_user).");
    };
    let word = text.to_lowercase();
    if word == "status" {
        return match app.store.agent(&agent).await {
            Ok(fields) => {
                let status = fields.get("status").map_or("offline", String::as_str);
                answer(&app, "command", format!("{agent} is {status}."))
            }
            Err(e) => super::refuse(&app, "unavailable", ApiError::unavailable(&e)),
        };
    }
    let Some(status) = AgentStatus::parse(&word) else {
        return answer(&app, "refused", USAGE);
    };
    match (SetStatus { agent: agent.clone(), by: Actor::Agent(agent.clone()), status }).apply(&app).await {
        Ok(set) => answer(&app, "command", format!("{} is now {}.", set.agent, set.status.as_str())),
        Err(CommandError::Unavailable(why)) => super::refuse(&app, "unavailable", ApiError::unavailable(&why)),
        Err(refused) => answer(&app, "refused", format!("Not done: {refused}")),
    }
}
