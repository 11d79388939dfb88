//! `/healthz`, `/readyz` and `/metrics`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;

use crate::app::App;

/// 200 while the process runs.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "probes",
    summary = "Liveness",
    description = "200 while the process runs.",
    responses((status = 200, description = "`ok`", body = String, content_type = "text/plain", example = "ok\n")),
)]
pub async fn healthz() -> &'static str {
    "ok\n"
}

/// 200 when ready, else 503 with every reason, one per line.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "probes",
    summary = "Readiness",
    description = "200 when NATS and Redis answer and the streams exist; else 503 with every reason.",
    responses(
        (status = 200, description = "`ready`", body = String, content_type = "text/plain", example = "ready\n"),
        (status = 503, description = "`not ready: ` and the reasons, `; `-separated", body = String, content_type = "text/plain"),
    ),
)]
pub async fn readyz(State(app): State<Arc<App>>) -> impl IntoResponse {
    match app.readiness.check() {
        Ok(()) => (StatusCode::OK, "ready\n".to_owned()).into_response(),
        // The documented probe answer, kept as it is by the JSON error layer.
        Err(reasons) => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Extension(super::error::AsIs),
            format!("not ready: {}\n", reasons.join("; ")),
        )
            .into_response(),
    }
}

/// The Prometheus text exposition.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "probes",
    summary = "Prometheus metrics",
    description = "Ingress and egress by channel, account and outcome; routing, deliveries, SLA \
        attainment, HTTP latency by matched route; in the Prometheus text format.",
    responses((status = 200, description = "The metrics", body = String, content_type = "text/plain; version=0.0.4")),
)]
pub async fn metrics(State(app): State<Arc<App>>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], app.metrics.encode())
}
