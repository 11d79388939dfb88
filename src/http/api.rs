//! The agent API (`/api/v1/…`): presence, my conversations, a conversation,
//! and replying. Every route authenticates first; an agent acts only for
//! itself and its own conversations.

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde::Deserialize;
use switchboard_core::{Channel, MediaRef};
use utoipa::ToSchema;

use super::auth::Principal;
use super::error::{ApiError, ErrorBody};
use crate::app::App;
use crate::model::{
    AgentConversations, AgentLoad, AgentStatus, Conversation, ConversationDetail, ConversationPage, ConversationState, Message, Note,
    Placement, ReplyQueued, Resolved, StatusSet,
};
use crate::commands::answer::AnswerOffer;
use crate::commands::note::AddNote;
use crate::commands::reply::Reply;
use crate::commands::resolve::Resolve;
use crate::commands::status::SetStatus;
use crate::commands::transfer::{Transfer, TransferTo};
use crate::commands::typing::Typing;


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
        if let Some(record) = app.store.conversation(&id).await.map_err(|e| ApiError::unavailable(&e))? {
            conversations.extend(typed(&id, &record));
        }
    }
    let state = AgentLoad::from_hash(&app.store.agent(&agent).await.map_err(|e| ApiError::unavailable(&e))?);
    Ok(Json(AgentConversations { agent, state, conversations }))
}

/// The conversation of a stored record; `None` (logged) when the record is
/// not one this version reads, so one bad record does not hide the others.
pub(super) fn typed(id: &str, record: &crate::store::ConversationRecord) -> Option<Conversation> {
    Conversation::from_hash(record)
        .map_err(|e| tracing::warn!(error = %e, conversation = %id, "a stored conversation cannot be shown"))
        .ok()
}

/// Loads a conversation the principal may see (404 before 403, so an agent
/// cannot probe ids it has no business with... beyond existence).
async fn visible(app: &App, who: &Principal, id: &str) -> Result<crate::store::ConversationRecord, ApiError> {
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
    let record = visible(&app, &who, &id).await?;
    let conversation = Conversation::from_hash(&record).map_err(|e| ApiError::unavailable(&e))?;
    let messages = app.store.messages(&id).await.map_err(|e| ApiError::unavailable(&e))?;
    let messages = messages.iter().filter_map(|m| serde_json::from_value::<Message>(m.clone()).ok()).collect();
    let sla = crate::sla::clocks_view(&app, &id).await.map_err(|e| ApiError::unavailable(&e))?;
    Ok(Json(ConversationDetail { conversation, messages, sla }))
}

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
    visible(&app, &who, &id).await?;
    let text = body(req)?.text;
    let note = AddNote { conversation: id, by: who, text }.apply(&app).await?;
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
    visible(&app, &who, &id).await?;
    let req = body(req)?;
    let idempotency_key = idempotency_key(&headers)?.map(str::to_owned);
    let reply = Reply { conversation: id, by: who, text: req.text, media_urls: req.media_urls, media: req.media, idempotency_key };
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
    visible(&app, &who, &id).await?;
    let req = body(req)?;
    let to = match (req.agent, req.queue) {
        (Some(agent), None) => TransferTo::Agent(agent),
        (None, Some(queue)) => TransferTo::Queue(queue),
        _ => return Err(ApiError::invalid("agent", "or `queue` is required, not both")),
    };
    Ok(Json(Transfer { conversation: id, by: who, to, note: req.note }.apply(&app).await?))
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
    visible(&app, &who, &id).await?;
    let on = body(req)?.on;
    Typing { conversation: id, by: who, on }.apply(&app).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The largest page of `GET /api/v1/conversations`.
const MAX_PAGE: u32 = 200;

/// How many index entries one page examines at most while filtering; a
/// page may come back short, with a cursor to go on from.
const MAX_EXAMINED: usize = 2000;

/// `?state=&queue=&agent=&channel=&customer=&cursor=&limit=`
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ConversationQuery {
    /// Only conversations in this state.
    state: Option<ConversationState>,
    /// Only conversations of this queue.
    queue: Option<String>,
    /// Only conversations with this agent (an agent's token: its own id, implied).
    agent: Option<String>,
    /// Only conversations on this channel.
    #[param(value_type = Option<Channel>)]
    channel: Option<Channel>,
    /// Only conversations of this customer (the router's customer id).
    customer: Option<String>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
    /// At most this many, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
}

impl ConversationQuery {
    fn matches(&self, c: &Conversation) -> bool {
        self.state.is_none_or(|s| s == c.state)
            && self.queue.as_ref().is_none_or(|q| *q == c.queue)
            && self.agent.as_ref().is_none_or(|a| c.agent.as_ref() == Some(a))
            && self.channel.is_none_or(|ch| ch == c.channel)
            && self.customer.as_ref().is_none_or(|cu| c.customer.as_ref() == Some(cu))
    }
}

/// The cursor for the page after conversation `id`: opaque to clients.
fn encode_cursor(id: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("c1:{id}"))
}

/// The conversation id a cursor continues after.
fn decode_cursor(cursor: &str) -> Result<String, ApiError> {
    use base64::Engine as _;
    let bad = || ApiError::invalid("cursor", "is not a cursor this API gave out");
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    let text = String::from_utf8(raw).map_err(|_| bad())?;
    let id = text.strip_prefix("c1:").ok_or_else(bad)?;
    super::ids::conversation(id).map_err(|_| bad())?;
    Ok(id.to_owned())
}

/// `GET /api/v1/conversations`
#[utoipa::path(
    get,
    path = "/api/v1/conversations",
    tag = "agent",
    summary = "List conversations",
    description = "Conversations in id order (oldest first), filtered, a page at a time: pass \
        `next_cursor` as `cursor` for the next page (absent on the last). The admin token sees \
        every conversation; an agent's token only its own (`agent` is implied; another agent's \
        is 403). A page may hold fewer than `limit` while more follow.",
    params(ConversationQuery),
    responses(
        (status = 200, description = "A page of conversations", body = ConversationPage),
        (status = 400, description = "`invalid_request`: a bad filter, `cursor` or `limit`, naming it", body = ErrorBody),
        (status = 401, description = "`unauthorized`: no or unknown bearer token", body = ErrorBody),
        (status = 403, description = "`forbidden`: another agent's conversations", body = ErrorBody),
        (status = 503, description = "`unavailable`: retry later", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn list_conversations(
    State(app): State<Arc<App>>,
    who: Principal,
    query: Result<axum::extract::Query<ConversationQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<ConversationPage>, ApiError> {
    let mut q = query.map(|axum::extract::Query(q)| q).map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", e.body_text()))?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::invalid("limit", "must be 1 to 200"));
    }
    let mut after = q.cursor.as_deref().map(decode_cursor).transpose()?;
    if let Principal::Agent(me) = &who {
        match &q.agent {
            Some(a) if a != me => return Err(ApiError::forbidden("an agent may only list its own conversations")),
            _ => q.agent = Some(me.clone()),
        }
    }
    let mut conversations = Vec::new();
    let mut examined = 0;
    let batch = (limit as usize).max(50);
    loop {
        let (ids, found) = app.store.conversations_after(after.as_deref(), batch).await.map_err(|e| ApiError::unavailable(&e))?;
        let exhausted = ids.len() < batch;
        for (id, record) in &found {
            if let Some(c) = typed(id, record).filter(|c| q.matches(c)) {
                conversations.push(c);
                if conversations.len() == limit as usize {
                    return Ok(Json(ConversationPage { conversations, next_cursor: Some(encode_cursor(id)) }));
                }
            }
        }
        examined += ids.len();
        if exhausted {
            return Ok(Json(ConversationPage { conversations, next_cursor: None }));
        }
        // Ids whose hash is gone still move the cursor on.
        after = ids.last().cloned();
        if examined >= MAX_EXAMINED {
            return Ok(Json(ConversationPage { conversations, next_cursor: after.as_deref().map(encode_cursor) }));
        }
    }
}
