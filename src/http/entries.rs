//! The admin routes that change agents and queues at run time
//! (`PUT`/`DELETE /api/v1/admin/{kind}/{name}`): validated with the whole
//! configuration, kept in Redis, in force on every replica at once.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;

use super::auth::AdminOnly;
use super::error::{ApiError, ErrorBody};
use crate::app::App;

/// `agents` or `queues`: the sections changeable at run time.
fn section(kind: &str) -> Result<&'static str, ApiError> {
    match kind {
        "agents" => Ok("agents"),
        "queues" => Ok("queues"),
        _ => Err(ApiError::not_found("route")),
    }
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
