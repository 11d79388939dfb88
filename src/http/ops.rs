//! Operator routes (admin token): dead letters (list, replay, drop) and a
//! stats snapshot of queues and agents.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde::Deserialize;

use super::auth::{authenticate, Principal};
use super::error::ApiError;
use crate::app::App;
use crate::delivery::ReplayError;

fn admin(app: &App, headers: &HeaderMap) -> Result<(), ApiError> {
    match authenticate(&app.live().settings, headers)? {
        Principal::Admin => Ok(()),
        Principal::Agent(_) => Err(ApiError::forbidden("this route needs the admin token")),
    }
}

/// `?limit=` for listings.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    limit: Option<u32>,
}

/// `GET /api/v1/admin/dead-letters?limit=100`: deliveries that exhausted
/// their attempts, oldest first, with the event, target and last reason.
pub async fn dead_letters(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> Result<impl IntoResponse, ApiError> {
    admin(&app, &headers)?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let (items, total) = app.store.dead_letters(limit as isize).await.map_err(|e| ApiError::unavailable(&e))?;
    Ok(Json(serde_json::json!({ "total": total, "dead_letters": items })))
}

/// `POST /api/v1/admin/dead-letters/{id}/replay`: delivers it again to its
/// target now; 200 and dropped when the target takes it, 502 with the
/// reason (and kept) when it fails again.
pub async fn replay_dead_letter(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    admin(&app, &headers)?;
    match crate::delivery::replay(&app, &id).await {
        Ok(Ok(())) => Ok(Json(serde_json::json!({ "id": id, "replayed": true })).into_response()),
        Ok(Err(reason)) => Ok(ApiError::new(StatusCode::BAD_GATEWAY, "delivery_failed", reason).into_response()),
        Err(ReplayError::NotFound) => Err(ApiError::not_found("dead letter")),
        Err(e @ ReplayError::TargetGone) => Err(ApiError::new(StatusCode::CONFLICT, "target_gone", e.to_string())),
        Err(ReplayError::Store(e)) => Err(ApiError::unavailable(&e)),
    }
}

/// `DELETE /api/v1/admin/dead-letters/{id}`: drops it; 204.
pub async fn drop_dead_letter(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    admin(&app, &headers)?;
    if app.store.drop_dead_letter(&id).await.map_err(|e| ApiError::unavailable(&e))? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("dead letter"))
    }
}

/// `GET /api/v1/admin/stats`: a snapshot of every queue (waiting, oldest
/// wait) and agent (status, load per channel, open conversations).
pub async fn stats(State(app): State<Arc<App>>, headers: HeaderMap) -> Result<impl IntoResponse, ApiError> {
    admin(&app, &headers)?;
    let live = app.live();
    let mut names: Vec<String> = live.settings.queues.keys().cloned().collect();
    if !live.settings.queues.contains_key(&live.settings.routing.default_queue) {
        names.push(live.settings.routing.default_queue.clone());
    }
    let now = chrono::Utc::now().timestamp_millis();
    let stats = app.store.queue_stats(&names).await.map_err(|e| ApiError::unavailable(&e))?;
    let queues: BTreeMap<&String, serde_json::Value> = names
        .iter()
        .zip(stats)
        .map(|(name, s)| {
            let oldest = s.oldest_enqueued_ms.map(|at| (now - at).max(0) as f64 / 1000.0);
            (name, serde_json::json!({ "waiting": s.waiting, "longest_wait_secs": oldest }))
        })
        .collect();
    let mut agents = BTreeMap::new();
    let mut by_status: BTreeMap<String, u32> = BTreeMap::new();
    for id in live.settings.agents.keys() {
        let state = app.store.agent(id).await.map_err(|e| ApiError::unavailable(&e))?;
        let field = |k: &str| state.get(k).cloned().unwrap_or_default();
        let status = state.get("status").cloned().unwrap_or_else(|| "offline".into());
        *by_status.entry(status.clone()).or_default() += 1;
        let loads: BTreeMap<&str, u32> = switchboard_core::Channel::ALL
            .iter()
            .map(|ch| (ch.as_str(), field(&format!("load:{ch}")).parse().unwrap_or(0)))
            .collect();
        agents.insert(
            id.clone(),
            serde_json::json!({
                "status": status,
                "load": field("load").parse::<u32>().unwrap_or(0),
                "capacity": field("cap_total").parse::<u32>().unwrap_or(0),
                "load_by_channel": loads,
            }),
        );
    }
    let (_, dead) = app.store.dead_letters(1).await.map_err(|e| ApiError::unavailable(&e))?;
    Ok(Json(serde_json::json!({
        "at": chrono::Utc::now(),
        "queues": queues,
        "agents": agents,
        "agents_by_status": by_status,
        "dead_letters": dead,
    })))
}
