//! The agent API (`/api/v1/…`): presence, my conversations, a conversation,
//! and replying. Every route authenticates first; an agent acts only for
//! itself and its own conversations. The routes only authenticate, decode
//! and answer; what they do is in `crate::commands`. The actions on a
//! conversation are in [`actions`], the listing in [`list`], the team's
//! figures in [`reports`] and the supervisor's live view in [`supervisor`]
//! (both for the admin and supervisor tokens).

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::response::IntoResponse;
use axum::Json;
use serde::Deserialize;
use utoipa::ToSchema;

use super::auth::Principal;
use super::error::{ApiError, ErrorBody};
use crate::app::App;
use crate::model::{
    AgentConversations, AgentLoad, AgentStatus, ConversationDetail, Message, StatusSet,
};
use crate::commands::status::SetStatus;

mod actions;
mod list;
mod reports;
pub(super) mod supervisor;

pub use actions::*;
pub use list::*;
pub use reports::*;


fn body<T>(r: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    r.map(|Json(v)| v).map_err(|e| ApiError::json(&e))
}

/// `{"status": "available" | "away" | "offline"}`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusBody {
    /// The new status.
    status: AgentStatus,
}

/// `PUT /api/v1/agents/{agent}/status`
#[utoipa::path(
    put,
    path = "/api/v1/agents/{agent}/status",
    tag = "agent",
    summary = "Set an agent's presence",
    description = "`available` takes conversations (and hands out what waits at once), `away` \
        and `offline` take none. An agent sets only its own status; the admin token any agent's.",
    params(("agent" = String, Path, description = "The agent id (`agents.<id>`)")),
    request_body = StatusBody,
    responses(
        (status = 200, description = "The status now in force", body = StatusSet),
        (status = 400, description = "`invalid_request`: not the documented JSON", body = ErrorBody),
        (status = 401, description = "`unauthorized`: no or unknown bearer token", body = ErrorBody),
        (status = 403, description = "`forbidden`: another agent's status", body = ErrorBody),
        (status = 404, description = "`not_found`: no such agent", body = ErrorBody),
        (status = 503, description = "`unavailable`: retry later", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn set_status(
    State(app): State<Arc<App>>,
    who: Principal,
    Path(agent): Path<String>,
    req: Result<Json<StatusBody>, JsonRejection>,
) -> Result<impl IntoResponse, ApiError> {
    // 404 and 403 before the body is looked at.
    let check = SetStatus { agent: agent.clone(), by: who.clone(), status: AgentStatus::Offline };
    check.precheck(&app)?;
    let status = body(req)?.status;
    Ok(Json(SetStatus { agent, by: who, status }.apply(&app).await?))
}

/// `GET /api/v1/agents/{agent}/conversations`
#[utoipa::path(
    get,
    path = "/api/v1/agents/{agent}/conversations",
    tag = "agent",
    summary = "An agent's open conversations",
    description = "The conversations assigned or offered to the agent, with its routing state. \
        An agent lists only its own; the admin token any agent's.",
    params(("agent" = String, Path, description = "The agent id (`agents.<id>`)")),
    responses(
        (status = 200, description = "The agent's conversations", body = AgentConversations),
        (status = 401, description = "`unauthorized`: no or unknown bearer token", body = ErrorBody),
        (status = 403, description = "`forbidden`: another agent's conversations", body = ErrorBody),
        (status = 404, description = "`not_found`: no such agent", body = ErrorBody),
        (status = 503, description = "`unavailable`: retry later", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn agent_conversations(
    State(app): State<Arc<App>>,
    who: Principal,
    Path(agent): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    if !app.live().settings.agents.contains_key(&agent) {
        return Err(ApiError::not_found("agent"));
    }
    if !who.may_act_for(&agent) {
        return Err(ApiError::forbidden("an agent may only list its own conversations"));
    }
    let ids = app.store.agent_conversations(&agent).await.map_err(|e| ApiError::unavailable(&e))?;
    let mut conversations = Vec::with_capacity(ids.len());
    for id in ids {
        match app.store.conversation(&id).await {
            Ok(found) => conversations.extend(found),
            Err(e @ crate::store::StoreError::Corrupt { .. }) => unreadable(&id, &e),
            Err(e) => return Err(ApiError::unavailable(&e)),
        }
    }
    let state = AgentLoad::from_hash(&app.store.agent(&agent).await.map_err(|e| ApiError::unavailable(&e))?);
    Ok(Json(AgentConversations { agent, state, conversations }))
}

/// Logs a stored conversation this version cannot read; lists leave it
/// out, so one bad record does not hide the others.
pub(super) fn unreadable(id: &str, error: &dyn std::fmt::Display) {
    tracing::warn!(error = %error, conversation = %id, "a stored conversation cannot be shown");
}

/// Loads a conversation the principal may see (404 before 403, so an agent
/// cannot probe ids it has no business with... beyond existence).
async fn visible(app: &App, who: Principal, id: &str) -> Result<crate::commands::Visible, ApiError> {
    Ok(crate::commands::visible(app, who, id).await?)
}

/// `GET /api/v1/conversations/{id}`
#[utoipa::path(
    get,
    path = "/api/v1/conversations/{id}",
    tag = "agent",
    summary = "A conversation",
    description = "State, queue, agent, customer, the routing decision, the messages and notes, \
        and the SLA clocks. An agent sees only conversations assigned or offered to it.",
    params(("id" = String, Path, description = "The conversation id, a ULID; any other string is 404")),
    responses(
        (status = 200, description = "The conversation", body = ConversationDetail),
        (status = 401, description = "`unauthorized`: no or unknown bearer token", body = ErrorBody),
        (status = 403, description = "`forbidden`: not assigned to this agent", body = ErrorBody),
        (status = 404, description = "`not_found`: no such conversation", body = ErrorBody),
        (status = 503, description = "`unavailable`: retry later", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn conversation(
    State(app): State<Arc<App>>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let visible = visible(&app, who, &id).await?;
    let conversation = visible.record().clone();
    let messages = app.store.messages(&id).await.map_err(|e| ApiError::unavailable(&e))?;
    let messages = messages.iter().filter_map(|m| serde_json::from_value::<Message>(m.clone()).ok()).collect();
    let sla = crate::sla::clocks_view(&app, &id).await.map_err(|e| ApiError::unavailable(&e))?;
    Ok(Json(ConversationDetail { conversation, messages, sla }))
}
