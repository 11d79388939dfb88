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
    probe_answer(app.readiness.check())
}

/// 200 when intake can take messages (NATS and the streams), else 503.
#[utoipa::path(
    get,
    path = "/readyz/intake",
    tag = "probes",
    summary = "Intake readiness",
    description = "200 when NATS answers and the streams exist, whether or not Redis does: intake \
        needs NATS alone and keeps taking messages through a Redis outage, which routing then \
        catches up on. The probe for a load balancer in front of the providers' webhooks. \
        Else 503 with every reason.",
    responses(
        (status = 200, description = "`ready`", body = String, content_type = "text/plain", example = "ready\n"),
        (status = 503, description = "`not ready: ` and the reasons, `; `-separated", body = String, content_type = "text/plain"),
    ),
)]
pub async fn readyz_intake(State(app): State<Arc<App>>) -> impl IntoResponse {
    probe_answer(app.readiness.check_intake())
}

fn probe_answer(check: Result<(), Vec<String>>) -> axum::response::Response {
    match check {
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
        attainment, HTTP latency by matched route; and the live figures read from Redis at the \
        scrape (the same on every replica): queue waiting and longest wait, agents by status, \
        agent load and capacity per channel, SLA clocks at risk, dead letters \
        (`switchboard_live_figures_up` is 0 when that read failed; the rest is still served). \
        In the Prometheus text format.",
    responses((status = 200, description = "The metrics", body = String, content_type = "text/plain; version=0.0.4")),
)]
pub async fn metrics(State(app): State<Arc<App>>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], crate::supervisor::metrics_text(&app).await)
}
