//! Operator routes (admin token): dead letters (list, replay, drop) and a
//! stats snapshot of queues and agents.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use serde::Deserialize;

use super::auth::AdminOnly;
use super::query::ApiQuery;
use super::error::{ApiError, ErrorBody};
use crate::app::App;
use crate::model::{Agent, AgentLoad, AgentStatus, Capacity, DeadLetter, DeadLetterPage, Queue, QueueStats, Replayed, Stats};
use crate::replay::ReplayError;

/// `?limit=` for listings.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    limit: Option<u32>,
}

/// `GET /api/v1/admin/dead-letters?limit=100`: steps that gave up for good
/// (deliveries, routing, the outbox), oldest first, with what each held.
#[utoipa::path(
    get,
    path = "/api/v1/admin/dead-letters",
    tag = "admin",
    summary = "List dead letters",
    description = "Steps that gave up for good, oldest first: `{\"total\", \"dead_letters\": [{id, kind, target, reason, at, …}]}` with the `event` of a delivery (kind `webhook`, `slack`, `email`, `nats`), the `message` of kind `inbound` (routing failed) or the `payload` and `entry` of kind `outbox` (too large for NATS). Admin token only.",
    params(("limit" = Option<u32>, Query, description = "At most this many, 1 to 1000 (default 100); anything else is a 400 naming `limit`", minimum = 1, maximum = 1000)),
    responses(
        (status = 200, description = "The dead letters", body = DeadLetterPage),
        (status = 400, description = "`invalid_request`: a bad query", body = ErrorBody),
        (status = 401, description = "`unauthorized`: no or unknown bearer token", body = ErrorBody),
        (status = 403, description = "`forbidden`: an agent's token", body = ErrorBody),
        (status = 503, description = "`unavailable`: retry later", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn dead_letters(
    State(app): State<Arc<App>>,
    _admin: AdminOnly,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::invalid("limit", "must be 1 to 1000"));
    }
    let (items, total) = app.store.dead_letters(limit as isize).await.map_err(|e| ApiError::unavailable(&e))?;
    let dead_letters = items.into_iter().filter_map(|v| serde_json::from_value::<DeadLetter>(v).ok()).collect();
    Ok(Json(DeadLetterPage { total, dead_letters }))
}

/// `POST /api/v1/admin/dead-letters/{id}/replay`: does again what gave up,
/// by the dead letter's kind (`crate::replay`); 200 and dropped when done,
/// 502 with the reason (and kept) when a target fails again, 422 (kept)
/// when it cannot be replayed.
#[utoipa::path(
    post,
    path = "/api/v1/admin/dead-letters/{id}/replay",
    tag = "admin",
    summary = "Replay a dead letter",
    description = "Does again, now, what gave up, by the dead letter's `kind`, and drops it once done:\n\n\
* a delivery (`webhook`, `slack`, `email`, `nats`): the event goes again to its target (`target` = `<agent>#<index>` or `supervisor#<index>`), with the same webhook-id;\n\
* `inbound` (routing failed on the last delivery): the stored message is published again on its channel's inbound subject and routed. Routing dedupes by the provider's message id (within `routing.dedupe_ttl_secs`), so a message whose routing had been stored before the failure is not stored twice;\n\
* `outbox` (an event or reply too large for NATS when it was published): published again on its subject under its outbox id if it now fits the server's `max_payload` (an event is then delivered to the targets that have not had it), else `422 too_large` and kept.\n\n\
Admin token only.",
    params(("id" = String, Path, description = "The dead letter's id")),
    responses(
        (status = 200, description = "Done and dropped", body = Replayed),
        (status = 404, description = "`not_found`: no such dead letter (or replayed or dropped already)", body = ErrorBody),
        (status = 409, description = "`target_gone`: its target is no longer configured", body = ErrorBody),
        (status = 422, description = "`too_large`: an `outbox` dead letter still over NATS's max_payload; `not_replayable`: an unknown kind or an entry lacking what its kind needs. The dead letter stays", body = ErrorBody),
        (status = 502, description = "`delivery_failed`: the target failed again; the dead letter stays", body = ErrorBody),
        (status = 401, description = "`unauthorized`: no or unknown bearer token", body = ErrorBody),
        (status = 403, description = "`forbidden`: an agent's token", body = ErrorBody),
        (status = 503, description = "`unavailable`: retry later", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn replay_dead_letter(
    State(app): State<Arc<App>>,
    _admin: AdminOnly,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    if !super::ids::is_dead_letter_id(&id) {
        return Err(ApiError::not_found("dead letter"));
    }
    match crate::replay::replay(&app, &id).await {
        Ok(()) => Ok(Json(Replayed { id, replayed: true })),
        Err(e) => Err(replay_error(e)),
    }
}

/// The answer to a replay that did not happen.
fn replay_error(e: ReplayError) -> ApiError {
    match e {
        ReplayError::NotFound => ApiError::not_found("dead letter"),
        ReplayError::TargetGone => ApiError::new(StatusCode::CONFLICT, "target_gone", e.to_string()),
        ReplayError::Malformed(_) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "not_replayable", e.to_string()),
        ReplayError::TooLarge(_) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "too_large", e.to_string()),
        ReplayError::Failed(reason) => ApiError::new(StatusCode::BAD_GATEWAY, "delivery_failed", reason),
        ReplayError::Unavailable(detail) => ApiError::unavailable(&detail),
    }
}

/// `DELETE /api/v1/admin/dead-letters/{id}`: drops it; 204.
#[utoipa::path(
    delete,
    path = "/api/v1/admin/dead-letters/{id}",
    tag = "admin",
    summary = "Drop a dead letter",
    params(("id" = String, Path, description = "The dead letter's id")),
    responses(
        (status = 204, description = "Dropped"),
        (status = 404, description = "`not_found`: no such dead letter", body = ErrorBody),
        (status = 401, description = "`unauthorized`: no or unknown bearer token", body = ErrorBody),
        (status = 403, description = "`forbidden`: an agent's token", body = ErrorBody),
        (status = 503, description = "`unavailable`: retry later", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn drop_dead_letter(
    State(app): State<Arc<App>>,
    _admin: AdminOnly,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if !super::ids::is_dead_letter_id(&id) {
        return Err(ApiError::not_found("dead letter"));
    }
    if app.store.drop_dead_letter(&id).await.map_err(|e| ApiError::unavailable(&e))? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("dead letter"))
    }
}

/// `GET /api/v1/admin/stats`: a snapshot of every queue (waiting, oldest
/// wait) and agent (status, load per channel, open conversations).
#[utoipa::path(
    get,
    path = "/api/v1/admin/stats",
    tag = "admin",
    summary = "A snapshot of queues and agents",
    description = "Per queue: conversations waiting and the longest wait; per agent: status, load and load by channel; agents by status; dead letters. Admin token only.",
    responses(
        (status = 200, description = "The snapshot", body = Stats),
        (status = 401, description = "`unauthorized`: no or unknown bearer token", body = ErrorBody),
        (status = 403, description = "`forbidden`: an agent's token", body = ErrorBody),
        (status = 503, description = "`unavailable`: retry later", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn stats(State(app): State<Arc<App>>, _admin: AdminOnly) -> Result<impl IntoResponse, ApiError> {
    let live = app.live();
    let mut names: Vec<String> = live.settings.queues.keys().cloned().collect();
    if !live.settings.queues.contains_key(&live.settings.routing.default_queue) {
        names.push(live.settings.routing.default_queue.clone());
    }
    let now = chrono::Utc::now().timestamp_millis();
    let stats = app.store.queue_stats(&names).await.map_err(|e| ApiError::unavailable(&e))?;
    let queues: BTreeMap<String, QueueStats> = names
        .iter()
        .zip(stats)
        .map(|(name, s)| {
            let longest_wait_secs = s.oldest_enqueued_ms.map(|at| (now - at).max(0) as f64 / 1000.0);
            (name.clone(), QueueStats { waiting: s.waiting, longest_wait_secs })
        })
        .collect();
    let mut agents = BTreeMap::new();
    let mut agents_by_status: BTreeMap<AgentStatus, u32> = BTreeMap::new();
    for id in live.settings.agents.keys() {
        let load = AgentLoad::from_hash(&app.store.agent(id).await.map_err(|e| ApiError::unavailable(&e))?);
        *agents_by_status.entry(load.status).or_default() += 1;
        agents.insert(id.clone(), load);
    }
    let (_, dead_letters) = app.store.dead_letters(1).await.map_err(|e| ApiError::unavailable(&e))?;
    Ok(Json(Stats { at: chrono::Utc::now(), queues, agents, agents_by_status, dead_letters }))
}


/// `GET /api/v1/admin/agents`: every agent in force (tokens never shown).
#[utoipa::path(
    get,
    path = "/api/v1/admin/agents",
    tag = "admin",
    summary = "The agents in force",
    description = "Name, skills, languages, capacities, wrap-up and delivery target kinds of every agent; tokens are never shown. Admin token only.",
    responses(
        (status = 200, description = "The agents", body = AgentList),
        (status = 401, description = "`unauthorized`: no or unknown bearer token", body = ErrorBody),
        (status = 403, description = "`forbidden`: an agent's token", body = ErrorBody),
        (status = 503, description = "`unavailable`: retry later", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn list_agents(State(app): State<Arc<App>>, _admin: AdminOnly) -> Result<impl IntoResponse, ApiError> {
    let live = app.live();
    let agents = live
        .settings
        .agents
        .iter()
        .map(|(id, a)| {
            let c = &a.capacity;
            (
                id.clone(),
                Agent {
                    id: id.clone(),
                    name: a.name.clone(),
                    skills: a.skills.clone(),
                    languages: a.languages.clone(),
                    capacity: Capacity { chat: c.chat, wechat: c.wechat, sms: c.sms, email: c.email, total: c.total() },
                    wrapup_secs: a.wrapup_secs,
                    deliver: a.deliver.iter().map(|d| crate::delivery::target_kind(d).to_owned()).collect(),
                },
            )
        })
        .collect();
    Ok(Json(AgentList { agents }))
}

/// Every agent in force, by id.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct AgentList {
    /// The agents.
    agents: BTreeMap<String, Agent>,
}

/// Every queue in force, by name, and the default queue.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct QueueList {
    /// The queues.
    queues: BTreeMap<String, Queue>,
    /// Where conversations no rule places go.
    default_queue: String,
}

/// `GET /api/v1/admin/queues`: every queue in force.
#[utoipa::path(
    get,
    path = "/api/v1/admin/queues",
    tag = "admin",
    summary = "The queues in force",
    responses(
        (status = 200, description = "The queues and the default queue", body = QueueList),
        (status = 401, description = "`unauthorized`: no or unknown bearer token", body = ErrorBody),
        (status = 403, description = "`forbidden`: an agent's token", body = ErrorBody),
        (status = 503, description = "`unavailable`: retry later", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn list_queues(State(app): State<Arc<App>>, _admin: AdminOnly) -> Result<impl IntoResponse, ApiError> {
    let live = app.live();
    let queues = live
        .settings
        .queues
        .iter()
        .map(|(name, q)| {
            let queue = Queue {
                name: name.clone(),
                skills: q.skills.clone(),
                priority: q.priority,
                mode: q.mode,
                offer_timeout_secs: q.offer_timeout_secs,
                overflow: q.overflow.clone(),
                sla: q.sla.clone(),
                bullseye_steps: u32::try_from(q.bullseye.len()).unwrap_or(u32::MAX),
            };
            (name.clone(), queue)
        })
        .collect();
    Ok(Json(QueueList { queues, default_queue: live.settings.routing.default_queue.clone() }))
}
