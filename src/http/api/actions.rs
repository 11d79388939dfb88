//! The actions on a conversation: note, reply, resolve, accept, decline,
//! transfer and typing, each a `crate::commands` command.

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde::Deserialize;
use switchboard_core::MediaRef;
use utoipa::ToSchema;

use super::{body, visible};
use crate::http::auth::Principal;
use crate::http::error::{ApiError, ErrorBody};
use crate::app::App;
use crate::model::{
    Note,
    Placement, ReplyQueued, Resolved,
};
use crate::commands::answer::AnswerOffer;
use crate::commands::note::AddNote;
use crate::commands::reply::Reply;
use crate::commands::resolve::Resolve;
use crate::commands::transfer::{Transfer, TransferTo};
use crate::commands::typing::Typing;

/// `{"text": "…"}`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteBody {
    /// The note, 1 to 4000 characters (trimmed).
    #[schema(min_length = 1, max_length = 4000)]
    text: String,
}

/// `POST /api/v1/conversations/{id}/notes`: an internal note, kept with
/// the messages (`direction: note`), never sent to the customer; 201.
#[utoipa::path(
    post,
    path = "/api/v1/conversations/{id}/notes",
    tag = "agent",
    summary = "Add an internal note",
    description = "Kept with the messages (`direction: note`) for agents; never sent to the customer.",
    params(("id" = String, Path, description = "The conversation id, a ULID; any other string is 404")),
    request_body = NoteBody,
    responses(
        (status = 201, description = "The stored note", body = Note),
        (status = 400, description = "`invalid_request`: not the documented JSON, or empty or too long", body = ErrorBody),
        (status = 401, description = "`unauthorized`: no or unknown bearer token", body = ErrorBody),
        (status = 403, description = "`forbidden`: not assigned to this agent", body = ErrorBody),
        (status = 404, description = "`not_found`: no such conversation", body = ErrorBody),
        (status = 503, description = "`unavailable`: retry later", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn note(
    State(app): State<Arc<App>>,
    who: Principal,
    Path(id): Path<String>,
    req: Result<Json<NoteBody>, JsonRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let conversation = visible(&app, who, &id).await?;
    let text = body(req)?.text;
    let note = AddNote { conversation, text }.apply(&app).await?;
    Ok((StatusCode::CREATED, Json(note)))
}

/// `{"text": "…", "media_urls": ["https://…"], "media": [{"kind": "image", "media_id": "…"}]}`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplyBody {
    /// The text, at most 1600 characters (trimmed); it may be empty when
    /// media are sent.
    #[serde(default)]
    #[schema(max_length = 1600)]
    text: String,
    /// Absolute URLs of media to attach (SMS/MMS, email), at most 10.
    #[serde(default)]
    #[schema(max_items = 10)]
    media_urls: Vec<String>,
    /// WeChat only: media already uploaded to WeChat, by id, at most 10;
    /// each goes out as its own message.
    #[serde(default)]
    #[schema(max_items = 10)]
    media: Vec<MediaRef>,
}

/// `POST /api/v1/conversations/{id}/reply`: puts the reply on the outbound
/// stream; 202 once JetStream holds it.
#[utoipa::path(
    post,
    path = "/api/v1/conversations/{id}/reply",
    tag = "agent",
    summary = "Reply to the customer",
    description = "Queues the reply to go out on the customer's channel: 202 once it is recorded \
        with its `replied` event (it will be sent, also after a NATS outage); 503 means it was \
        not queued and never will be. The text and each WeChat media id go out as separate \
        messages, each with its own id. With an `Idempotency-Key`, a retry of the same request \
        (same key, same agent, same conversation) answers the same ids and sends nothing again.",
    params(
        ("id" = String, Path, description = "The conversation id, a ULID; any other string is 404"),
        ("Idempotency-Key" = Option<String>, Header, description = "1-128 printable ASCII characters chosen by the client; the same key names the same reply"),
    ),
    request_body = ReplyBody,
    responses(
        (status = 202, description = "Queued for sending", body = ReplyQueued),
        (status = 400, description = "`invalid_request`: not the documented JSON, empty, too long, bad URLs or media", body = ErrorBody),
        (status = 401, description = "`unauthorized`: no or unknown bearer token", body = ErrorBody),
        (status = 403, description = "`forbidden`: not assigned to this agent", body = ErrorBody),
        (status = 404, description = "`not_found`: no such conversation", body = ErrorBody),
        (status = 409, description = "`conflict`: the conversation is resolved; `opted_out`: the SMS customer sent STOP", body = ErrorBody),
        (status = 503, description = "`unavailable`: not queued, retry later", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn reply(
    State(app): State<Arc<App>>,
    who: Principal,
    Path(id): Path<String>,
    headers: HeaderMap,
    req: Result<Json<ReplyBody>, JsonRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let conversation = visible(&app, who, &id).await?;
    let req = body(req)?;
    let idempotency_key = idempotency_key(&headers)?.map(str::to_owned);
    let reply = Reply { conversation, text: req.text, media_urls: req.media_urls, media: req.media, idempotency_key };
    Ok((StatusCode::ACCEPTED, Json(reply.apply(&app).await?)))
}

/// The request's `Idempotency-Key`, if any: 1-128 printable ASCII characters.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else { return Ok(None) };
    match value.to_str() {
        Ok(k) if (1..=128).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()) => Ok(Some(k)),
        _ => Err(ApiError::invalid("Idempotency-Key", "must be 1 to 128 printable ASCII characters")),
    }
}

/// `POST /api/v1/conversations/{id}/resolve`: closes the conversation,
/// frees the agent's capacity and hands it to whoever waits.
#[utoipa::path(
    post,
    path = "/api/v1/conversations/{id}/resolve",
    tag = "agent",
    summary = "Resolve a conversation",
    description = "Closes the conversation and stops its SLA clocks; the agent's capacity frees \
        at once, or after its wrap-up time (`wrapup: true`).",
    params(("id" = String, Path, description = "The conversation id, a ULID; any other string is 404")),
    responses(
        (status = 200, description = "Resolved", body = Resolved),
        (status = 401, description = "`unauthorized`: no or unknown bearer token", body = ErrorBody),
        (status = 403, description = "`forbidden`: not assigned to this agent", body = ErrorBody),
        (status = 404, description = "`not_found`: no such conversation", body = ErrorBody),
        (status = 409, description = "`conflict`: already resolved", body = ErrorBody),
        (status = 503, description = "`unavailable`: retry later", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn resolve(
    State(app): State<Arc<App>>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(Resolve { conversation: id, by: who }.apply(&app).await?))
}

/// `POST /api/v1/conversations/{id}/accept`: the agent takes the
/// conversation offered to it; 409 when it is not offered to this agent.
#[utoipa::path(
    post,
    path = "/api/v1/conversations/{id}/accept",
    tag = "agent",
    summary = "Accept an offer",
    description = "The agent takes the conversation offered to it (the admin token answers for \
        the agent it is offered to).",
    params(("id" = String, Path, description = "The conversation id, a ULID; any other string is 404")),
    responses(
        (status = 200, description = "Assigned to the agent", body = Placement),
        (status = 401, description = "`unauthorized`: no or unknown bearer token", body = ErrorBody),
        (status = 403, description = "`forbidden`: not offered to this agent", body = ErrorBody),
        (status = 404, description = "`not_found`: no such conversation", body = ErrorBody),
        (status = 409, description = "`conflict`: no longer offered to this agent", body = ErrorBody),
        (status = 503, description = "`unavailable`: retry later", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn accept(
    State(app): State<Arc<App>>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    answer(&app, &id, who, true).await
}

/// `POST /api/v1/conversations/{id}/decline`: the agent turns the offer
/// down; the conversation is offered to the next eligible agent (never
/// again to this one) or goes back to its queue.
#[utoipa::path(
    post,
    path = "/api/v1/conversations/{id}/decline",
    tag = "agent",
    summary = "Decline an offer",
    description = "The conversation is offered to the next eligible agent (never again to this \
        one) or goes back to its queue.",
    params(("id" = String, Path, description = "The conversation id, a ULID; any other string is 404")),
    responses(
        (status = 200, description = "Where the conversation went", body = Placement),
        (status = 401, description = "`unauthorized`: no or unknown bearer token", body = ErrorBody),
        (status = 403, description = "`forbidden`: not offered to this agent", body = ErrorBody),
        (status = 404, description = "`not_found`: no such conversation", body = ErrorBody),
        (status = 409, description = "`conflict`: no longer offered to this agent", body = ErrorBody),
        (status = 503, description = "`unavailable`: retry later", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn decline(
    State(app): State<Arc<App>>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    answer(&app, &id, who, false).await
}

async fn answer(app: &App, id: &str, who: Principal, accept: bool) -> Result<Json<Placement>, ApiError> {
    Ok(Json(AnswerOffer { conversation: id.to_owned(), by: who, accept }.apply(app).await?))
}

/// `{"agent": "bob"}` or `{"queue": "returns"}`, with an optional note.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferBody {
    /// The agent to transfer to (exactly one of `agent` and `queue`).
    #[serde(default)]
    agent: Option<String>,
    /// The queue to transfer to (exactly one of `agent` and `queue`).
    #[serde(default)]
    queue: Option<String>,
    /// Why, for the next agent; at most 2000 characters.
    #[serde(default)]
    #[schema(max_length = 2000)]
    note: Option<String>,
}

/// `POST /api/v1/conversations/{id}/transfer`: to another agent (who must
/// be available with free capacity on the channel; 409 otherwise) or to a
/// queue (placed like a new conversation, keeping its waiting time). The
/// previous agent's capacity frees at once.
#[utoipa::path(
    post,
    path = "/api/v1/conversations/{id}/transfer",
    tag = "agent",
    summary = "Transfer a conversation",
    description = "To another agent, who must be available with free capacity on the channel, or \
        to a queue (placed like a new conversation, keeping its waiting time). The previous \
        agent's capacity frees at once.",
    params(("id" = String, Path, description = "The conversation id, a ULID; any other string is 404")),
    request_body = TransferBody,
    responses(
        (status = 200, description = "Where the conversation went", body = Placement),
        (status = 400, description = "`invalid_request`: not the documented JSON, neither or both targets, an unknown agent or queue", body = ErrorBody),
        (status = 401, description = "`unauthorized`: no or unknown bearer token", body = ErrorBody),
        (status = 403, description = "`forbidden`: not assigned to this agent", body = ErrorBody),
        (status = 404, description = "`not_found`: no such conversation", body = ErrorBody),
        (status = 409, description = "`conflict`: resolved, already with that agent, or the agent cannot take it", body = ErrorBody),
        (status = 503, description = "`unavailable`: retry later", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn transfer(
    State(app): State<Arc<App>>,
    who: Principal,
    Path(id): Path<String>,
    req: Result<Json<TransferBody>, JsonRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let conversation = visible(&app, who, &id).await?;
    let req = body(req)?;
    let to = match (req.agent, req.queue) {
        (Some(agent), None) => TransferTo::Agent(agent),
        (None, Some(queue)) => TransferTo::Queue(queue),
        _ => return Err(ApiError::invalid("agent", "or `queue` is required, not both")),
    };
    Ok(Json(Transfer { conversation, to, note: req.note }.apply(&app).await?))
}

/// `{"on": true}`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TypingBody {
    /// Whether the agent is typing.
    on: bool,
}

/// `POST /api/v1/conversations/{id}/typing`: shows or hides "agent is
/// typing" in the visitor's web chat (live only, not stored); 204.
#[utoipa::path(
    post,
    path = "/api/v1/conversations/{id}/typing",
    tag = "agent",
    summary = "Show or hide \"agent is typing\"",
    description = "In the visitor's web chat, live only (not stored).",
    params(("id" = String, Path, description = "The conversation id, a ULID; any other string is 404")),
    request_body = TypingBody,
    responses(
        (status = 204, description = "Sent to the visitor's open sockets"),
        (status = 400, description = "`invalid_request`: not the documented JSON", body = ErrorBody),
        (status = 401, description = "`unauthorized`: no or unknown bearer token", body = ErrorBody),
        (status = 403, description = "`forbidden`: not assigned to this agent", body = ErrorBody),
        (status = 404, description = "`not_found`: no such conversation", body = ErrorBody),
        (status = 409, description = "`unsupported`: not a web chat conversation", body = ErrorBody),
        (status = 503, description = "`unavailable`: retry later", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn typing(
    State(app): State<Arc<App>>,
    who: Principal,
    Path(id): Path<String>,
    req: Result<Json<TypingBody>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let conversation = visible(&app, who, &id).await?;
    let on = body(req)?.on;
    Typing { conversation, on }.apply(&app).await?;
    Ok(StatusCode::NO_CONTENT)
}
