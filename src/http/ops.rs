//! Operator routes (admin token): dead letters (list, replay, drop) and a
//! stats snapshot of queues and agents.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use serde::Deserialize;

use super::auth::AdminOnly;
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
    Query(q): Query<ListQuery>,
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

/// `agents` or `queues`: the sections changeable at run time.
fn section(kind: &str) -> Result<&'static str, ApiError> {
    match kind {
        "agents" => Ok("agents"),
        "queues" => Ok("queues"),
        _ => Err(ApiError::not_found("route")),
    }
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

/// `PUT /api/v1/admin/agents/{id}` and `PUT /api/v1/admin/queues/{name}`:
/// the body is the entry as in the configuration file, in JSON (`{"token":
/// "…", "skills": {"returns": 4}, "capacity": {"sms": 4}}`), layered over
/// the file's entry of that name if there is one. The whole configuration
/// is validated with it (422 with every problem otherwise), then it is in
/// force on every replica at once and kept in Redis across restarts.
#[utoipa::path(
    put,
    path = "/api/v1/admin/{kind}/{name}",
    tag = "admin",
    summary = "Create or update an agent or a queue at run time",
    description = "`kind` is `agents` or `queues`. The body is the entry as in the configuration file, in JSON (for an agent: `token`, `name`, `skills`, `languages`, `capacity`, `wrapup_secs`, `status`, `deliver`; for a queue: `skills`, `priority`, `mode`, `offer_timeout_secs`, `overflow`, `sla`, `bullseye`), layered over the file's entry of that name. The whole configuration is validated with it, then it is in force on every replica and kept in Redis. Admin token only.",
    params(
        ("kind" = String, Path, description = "`agents` or `queues`"),
        ("name" = String, Path, description = "Lower-case a-z 0-9 _ -"),
    ),
    request_body(content = serde_json::Value, description = "The entry, as in the configuration file", content_type = "application/json"),
    responses(
        (status = 200, description = "Updated", body = serde_json::Value),
        (status = 201, description = "Created", body = serde_json::Value),
        (status = 400, description = "`invalid_request`: not a JSON object, a null value, or a bad name", body = ErrorBody),
        (status = 404, description = "`not_found`: `kind` is neither `agents` nor `queues`", body = ErrorBody),
        (status = 422, description = "`invalid_config`: the change makes the configuration invalid; `problems` lists every problem", body = ErrorBody),
        (status = 401, description = "`unauthorized`: no or unknown bearer token", body = ErrorBody),
        (status = 403, description = "`forbidden`: an agent's token", body = ErrorBody),
        (status = 503, description = "`unavailable`: retry later", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn put_entry(
    State(app): State<Arc<App>>,
    _admin: AdminOnly,
    Path((kind, name)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let section = section(&kind)?;
    if !crate::config::is_valid_name(&name) {
        return Err(ApiError::invalid("name", "names are lower-case letters, digits, `_` and `-`"));
    }
    let value: serde_json::Value =
        serde_json::from_slice(&body).map_err(|_| ApiError::invalid("body", "must be a JSON object"))?;
    if !value.is_object() {
        return Err(ApiError::invalid("body", "must be a JSON object"));
    }
    let files = crate::routing::file_keys(&format!("{section}.{name}"), &value);
    if !files.is_empty() {
        let list: Vec<String> = files.iter().map(|f| format!("{f}: {}", crate::routing::RUNTIME_FILE_KEY)).collect();
        return Err(ApiError::with_details(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_config",
            format!("`{}` names a file; give the secret inline", files.join("`, `")),
            serde_json::json!({ "problems": list }),
        ));
    }
    let document = serde_json::json!({ section: { &name: value } });
    let toml = toml::to_string(&document).map_err(|_| ApiError::invalid("body", "must not contain null values"))?;
    let key = format!("{section}.{name}");
    let mut entries = app.store.runtime_entries().await.map_err(|e| ApiError::unavailable(&e))?;
    let live = app.live();
    let created = match section {
        "queues" => !live.settings.queues.contains_key(&name),
        _ => !live.settings.agents.contains_key(&name),
    };
    entries.insert(key.clone(), toml.clone());
    apply(&app, entries, &key, &toml).await?;
    tracing::info!(%key, created, "configuration entry set at run time");
    Ok((if created { StatusCode::CREATED } else { StatusCode::OK }, Json(serde_json::json!({ "updated": key }))))
}

/// `DELETE /api/v1/admin/agents/{id}` and `DELETE /api/v1/admin/queues/{name}`:
/// removes the entry on every replica (an agent goes offline and takes
/// nothing new; a queue anything still refers to is refused with 409).
#[utoipa::path(
    delete,
    path = "/api/v1/admin/{kind}/{name}",
    tag = "admin",
    summary = "Delete an agent or a queue at run time",
    description = "An agent goes offline and takes nothing new; a queue that rules, overflows, SLA overrides or the default queue refer to is refused. Admin token only.",
    params(
        ("kind" = String, Path, description = "`agents` or `queues`"),
        ("name" = String, Path, description = "The agent or queue"),
    ),
    responses(
        (status = 204, description = "Deleted on every replica"),
        (status = 404, description = "`not_found`: no such agent or queue", body = ErrorBody),
        (status = 409, description = "`in_use`: the queue is referred to", body = ErrorBody),
        (status = 422, description = "`invalid_config`: the change makes the configuration invalid", body = ErrorBody),
        (status = 401, description = "`unauthorized`: no or unknown bearer token", body = ErrorBody),
        (status = 403, description = "`forbidden`: an agent's token", body = ErrorBody),
        (status = 503, description = "`unavailable`: retry later", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn delete_entry(
    State(app): State<Arc<App>>,
    _admin: AdminOnly,
    Path((kind, name)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let section = section(&kind)?;
    let live = app.live();
    let exists = crate::config::is_valid_name(&name) && match section {
        "queues" => live.settings.queues.contains_key(&name),
        _ => live.settings.agents.contains_key(&name),
    };
    if !exists {
        return Err(ApiError::not_found(if section == "queues" { "queue" } else { "agent" }));
    }
    if section == "queues" {
        let refs = crate::routing::queue_references(&live.settings, &name);
        if !refs.is_empty() {
            return Err(ApiError::new(StatusCode::CONFLICT, "in_use", format!("the queue is referred to by {}", refs.join(", "))));
        }
    }
    let key = format!("{section}.{name}");
    let mut entries = app.store.runtime_entries().await.map_err(|e| ApiError::unavailable(&e))?;
    entries.insert(key.clone(), crate::routing::DELETED.to_owned());
    apply(&app, entries, &key, crate::routing::DELETED).await?;
    tracing::info!(%key, "configuration entry deleted at run time");
    Ok(StatusCode::NO_CONTENT)
}

/// Validates the configuration with `entries`, stores `key`, puts it in
/// force here and tells the other replicas.
async fn apply(app: &App, entries: std::collections::HashMap<String, String>, key: &str, value: &str) -> Result<(), ApiError> {
    let source = app.live().settings.source.clone().ok_or_else(|| {
        ApiError::new(StatusCode::CONFLICT, "no_source", "this instance has no configuration source to extend")
    })?;
    let trial = entries.clone();
    let checked = tokio::task::spawn_blocking(move || crate::routing::load_with_runtime(&source, &trial))
        .await
        .map_err(|e| ApiError::unavailable(&e))?;
    if let Err(problems) = checked {
        let list: Vec<String> = problems.0.iter().map(ToString::to_string).collect();
        return Err(ApiError::with_details(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_config",
            "the change makes the configuration invalid",
            serde_json::json!({ "problems": list }),
        ));
    }
    app.store.set_runtime_entry(key, value).await.map_err(|e| ApiError::unavailable(&e))?;
    crate::routing::reload_with(app, entries).await.map_err(|e| ApiError::unavailable(&e))?;
    if let Err(e) = app.bus.publish_core(app.bus.subjects().config_changed(), key.to_owned().into()).await {
        tracing::warn!(error = %e, "changed here, but the other replicas were not told; they pick it up on their next reload");
    }
    Ok(())
}
