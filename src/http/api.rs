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

use super::auth::{authenticate, Principal};
use super::error::{ApiError, ErrorBody};
use crate::app::App;
use crate::model::{
    AgentConversations, AgentLoad, AgentStatus, Conversation, ConversationDetail, ConversationPage, ConversationState, Direction, Message, Note,
    Placement, ReplyQueued, ReplyState, Resolved, StatusSet,
};
use crate::store::TransferTarget;


/// The longest reply accepted (Twilio's limit for one message body).
const MAX_REPLY_CHARS: usize = 1600;

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
    Path(agent): Path<String>,
    headers: HeaderMap,
    req: Result<Json<StatusBody>, JsonRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let who = authenticate(&app.live().settings, &headers)?;
    if !app.live().settings.agents.contains_key(&agent) {
        return Err(ApiError::not_found("agent"));
    }
    if !who.may_act_for(&agent) {
        return Err(ApiError::forbidden("an agent may only set its own status"));
    }
    let req = body(req)?;
    app.store.set_agent_status(&agent, req.status.as_str()).await.map_err(|e| ApiError::unavailable(&e))?;
    tracing::info!(%agent, status = req.status.as_str(), "agent status changed");
    if req.status == AgentStatus::Available {
        drain(&app).await;
    }
    Ok(Json(StatusSet { agent, status: req.status }))
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
    Path(agent): Path<String>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    let who = authenticate(&app.live().settings, &headers)?;
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
    super::ids::conversation(id)?;
    let conv = app.store.conversation(id).await.map_err(|e| ApiError::unavailable(&e))?;
    let conv = conv.ok_or_else(|| ApiError::not_found("conversation"))?;
    let agent = conv.get("agent").map(String::as_str).unwrap_or("");
    if let Principal::Agent(a) = who {
        if a != agent {
            return Err(ApiError::forbidden("this conversation is not assigned to you"));
        }
    }
    Ok(conv)
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
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    let who = authenticate(&app.live().settings, &headers)?;
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
    Path(id): Path<String>,
    headers: HeaderMap,
    req: Result<Json<NoteBody>, JsonRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let who = authenticate(&app.live().settings, &headers)?;
    visible(&app, &who, &id).await?;
    let req = body(req)?;
    let text = req.text.trim();
    if text.is_empty() || text.chars().count() > 4000 {
        return Err(ApiError::invalid("text", "must be 1 to 4000 characters"));
    }
    let author = match &who {
        Principal::Admin => "admin".to_owned(),
        Principal::Agent(a) => a.clone(),
    };
    let note =
        Note { id: ulid::Ulid::new().to_string(), direction: Direction::Note, agent: author, text: text.to_owned(), at: chrono::Utc::now() };
    let stored = serde_json::to_string(&note).map_err(|e| ApiError::unavailable(&e))?;
    app.store.append_message(&id, &stored).await.map_err(|e| ApiError::unavailable(&e))?;
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
    Path(id): Path<String>,
    headers: HeaderMap,
    req: Result<Json<ReplyBody>, JsonRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let who = authenticate(&app.live().settings, &headers)?;
    let conv = visible(&app, &who, &id).await?;
    let req = body(req)?;
    let text = req.text.trim();
    if text.is_empty() && req.media_urls.is_empty() && req.media.is_empty() {
        return Err(ApiError::invalid("text", "must not be empty"));
    }
    let kinds = ["image", "voice", "video"];
    if req.media.len() > 10
        || req.media.iter().any(|m| !kinds.contains(&m.kind.as_str()) || m.media_id.is_empty() || m.media_id.len() > 128)
    {
        return Err(ApiError::invalid("media", "must be at most 10 of {\"kind\": image|voice|video, \"media_id\"}"));
    }
    if text.chars().count() > MAX_REPLY_CHARS {
        return Err(ApiError::invalid("text", "is longer than 1600 characters"));
    }
    if req.media_urls.len() > 10 || req.media_urls.iter().any(|u| url::Url::parse(u).is_err()) {
        return Err(ApiError::invalid("media_urls", "must be at most 10 absolute URLs"));
    }
    let agent = match &who {
        Principal::Agent(a) => Some(a.clone()),
        Principal::Admin => conv.get("agent").cloned(),
    };
    let id_for_reply = match idempotency_key(&headers)? {
        Some(key) => crate::outbound::reply::idempotent_id(agent.as_deref().unwrap_or("admin"), &id, key),
        None => ulid::Ulid::new().to_string(),
    };
    let reply = crate::outbound::reply::Reply {
        id: id_for_reply,
        agent,
        text: text.to_owned(),
        media_urls: req.media_urls,
        media: req.media,
    };
    let ids = crate::outbound::reply::submit(&app, &id, &conv, reply, chrono::Utc::now()).await.map_err(|e| {
        use crate::outbound::reply::ReplyError;
        match e {
            ReplyError::Resolved => ApiError::new(StatusCode::CONFLICT, "conflict", e.to_string()),
            ReplyError::NotFound => ApiError::not_found("conversation"),
            ReplyError::OptedOut => ApiError::new(StatusCode::CONFLICT, "opted_out", e.to_string()),
            ReplyError::MediaNotWechat => ApiError::invalid("media", "media ids are only for WeChat conversations; use media_urls"),
            ReplyError::Unavailable(detail) => ApiError::unavailable(&detail),
        }
    })?;
    Ok((
        StatusCode::ACCEPTED,
        Json(ReplyQueued { id: ids.first().cloned(), ids, conversation: id, state: ReplyState::Queued }),
    ))
}

/// The request's `Idempotency-Key`, if any: 1-128 printable ASCII characters.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else { return Ok(None) };
    match value.to_str() {
        Ok(k) if (1..=128).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()) => Ok(Some(k)),
        _ => Err(ApiError::invalid("Idempotency-Key", "must be 1 to 128 printable ASCII characters")),
    }
}

/// Assigns what waits now that capacity freed; a failure only delays it
/// until the next freeing event, so it is logged, not answered.
async fn drain(app: &App) {
    if let Err(e) = crate::routing::drain(app).await {
        tracing::warn!(error = %e, "could not assign waiting conversations");
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
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    let who = authenticate(&app.live().settings, &headers)?;
    let conv = visible(&app, &who, &id).await?;
    let now = chrono::Utc::now();
    let wrapup_ms = conv
        .get("agent")
        .and_then(|a| app.live().settings.agents.get(a).map(|s| s.wrapup_secs.saturating_mul(1000)))
        .unwrap_or(0);
    let by = match &who {
        Principal::Admin => "admin".to_owned(),
        Principal::Agent(a) => a.clone(),
    };
    let (outcome, events) = app
        .store
        .resolve(&id, now.timestamp_millis(), wrapup_ms, &by)
        .await
        .map_err(|e| ApiError::unavailable(&e))?;
    let Some(outcome) = outcome else {
        return Err(ApiError::new(StatusCode::CONFLICT, "conflict", "the conversation is already resolved"));
    };
    // Resolved, with its event, in one step; what follows only delays.
    let trigger_id = format!("resolved:{}", now.timestamp_millis());
    if let Err(e) = crate::sla::observe(&app, &id, crate::sla::clock::Trigger::Resolved, &trigger_id, now).await {
        tracing::warn!(error = %e, conversation = %id, "resolved, but the SLA clocks did not stop");
    }
    let on_the_log = crate::outbox::flush_events(&app, &events).await;
    if on_the_log && !outcome.wrapup && !outcome.agent.is_empty() {
        // Only now, after the event is on the log: the log never shows the
        // capacity reused before the resolve. (Otherwise, or if this fails,
        // the sweep frees it shortly.)
        match app.store.release_resolved(&id, chrono::Utc::now().timestamp_millis()).await {
            Ok(_) => drain(&app).await,
            Err(e) => tracing::warn!(error = %e, conversation = %id, "the sweep will free the agent's capacity"),
        }
    }
    Ok(Json(Resolved { conversation: id, state: ConversationState::Resolved, wrapup: outcome.wrapup }))
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
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    answer(&app, &id, &headers, true).await
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
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    answer(&app, &id, &headers, false).await
}

async fn answer(app: &App, id: &str, headers: &HeaderMap, accept: bool) -> Result<Json<Placement>, ApiError> {
    let who = authenticate(&app.live().settings, headers)?;
    super::ids::conversation(id)?;
    let conv = app.store.conversation(id).await.map_err(|e| ApiError::unavailable(&e))?;
    let conv = conv.ok_or_else(|| ApiError::not_found("conversation"))?;
    let agent = match &who {
        Principal::Agent(a) => a.clone(),
        // The admin answers for the agent the conversation is offered to.
        Principal::Admin => conv.get("agent").cloned().unwrap_or_default(),
    };
    if conv.get("agent").map(String::as_str) != Some(agent.as_str()) {
        return Err(ApiError::forbidden("this conversation is not offered to you"));
    }
    let now = chrono::Utc::now();
    let (outcome, events) =
        app.store.answer_offer(id, &agent, accept, now.timestamp_millis()).await.map_err(|e| ApiError::unavailable(&e))?;
    if !outcome.ok {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            format!("the conversation is not offered to you (it is {})", outcome.state),
        ));
    }
    crate::outbox::flush_events(app, &events).await;
    if accept {
        tracing::info!(conversation = %id, %agent, "offer accepted");
    } else {
        tracing::info!(conversation = %id, %agent, "offer declined");
        drain(app).await;
    }
    Ok(Json(Placement {
        conversation: id.to_owned(),
        state: placed_state(&outcome.state)?,
        agent: (!outcome.agent.is_empty()).then_some(outcome.agent),
        queue: None,
    }))
}

/// The state a script answered after placing a conversation.
fn placed_state(state: &str) -> Result<ConversationState, ApiError> {
    ConversationState::parse(state).ok_or_else(|| ApiError::unavailable(&format!("a script answered the state {state:?}")))
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
    Path(id): Path<String>,
    headers: HeaderMap,
    req: Result<Json<TransferBody>, JsonRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let live = app.live();
    let who = authenticate(&live.settings, &headers)?;
    visible(&app, &who, &id).await?;
    let req = body(req)?;
    let target = match (&req.agent, &req.queue) {
        (Some(agent), None) if live.settings.agents.contains_key(agent) => TransferTarget::Agent(agent.clone()),
        (Some(_), None) => return Err(ApiError::invalid("agent", "is not a configured agent")),
        (None, Some(queue)) if live.settings.has_queue(queue) => TransferTarget::Queue(live.classifier.queue(queue).to_json()),
        (None, Some(_)) => return Err(ApiError::invalid("queue", "is not a configured queue")),
        _ => return Err(ApiError::invalid("agent", "or `queue` is required, not both")),
    };
    if req.note.as_ref().is_some_and(|n| n.chars().count() > 2000) {
        return Err(ApiError::invalid("note", "is longer than 2000 characters"));
    }
    let now = chrono::Utc::now();
    let note = req.note.as_deref().unwrap_or("");
    let (outcome, events) =
        app.store.transfer(&id, &target, note, now.timestamp_millis()).await.map_err(|e| ApiError::unavailable(&e))?;
    if !outcome.ok {
        let message = match outcome.error.as_str() {
            "resolved" => "the conversation is resolved",
            "same_agent" => "the conversation is already with this agent",
            "agent_unavailable" => "the agent is not available or has no free capacity on this channel",
            _ => "the conversation cannot be transferred",
        };
        return Err(ApiError::new(StatusCode::CONFLICT, "conflict", message));
    }
    crate::outbox::flush_events(&app, &events).await;
    tracing::info!(conversation = %id, from = %outcome.from, to = %outcome.agent, queue = %outcome.queue, "transferred");
    drain(&app).await;
    Ok(Json(Placement {
        state: placed_state(&outcome.state)?,
        conversation: id,
        queue: Some(outcome.queue),
        agent: (!outcome.agent.is_empty()).then_some(outcome.agent),
    }))
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
    Path(id): Path<String>,
    headers: HeaderMap,
    req: Result<Json<TypingBody>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let who = authenticate(&app.live().settings, &headers)?;
    let conv = visible(&app, &who, &id).await?;
    let req = body(req)?;
    if conv.get("channel").map(String::as_str) != Some(Channel::Webchat.as_str()) {
        return Err(ApiError::new(StatusCode::CONFLICT, "unsupported", "typing indicators exist only in web chat"));
    }
    let visitor = conv.get("address").cloned().unwrap_or_default();
    let frame = switchboard_webchat::ServerFrame::Typing { from: switchboard_webchat::Sender::Agent, on: req.on };
    crate::outbound::webchat::push(&app, &visitor, &frame, None).await;
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
    headers: HeaderMap,
    query: Result<axum::extract::Query<ConversationQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<ConversationPage>, ApiError> {
    let who = authenticate(&app.live().settings, &headers)?;
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
