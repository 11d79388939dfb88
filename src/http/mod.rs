//! The one HTTP listener: probes, provider webhooks and the API. Handlers
//! only decode and answer; the shared layers cap the body, bound the
//! request time and record latency by matched route.

mod admin;
mod api;
mod auth;
mod email;
mod ops;
mod error;
mod probes;
mod sms;
mod webchat;
mod wechat;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post, put};
use axum::Router;
use tower_http::timeout::TimeoutLayer;

pub use error::ApiError;
pub use webchat::Chat;

use crate::app::App;

/// The application's routes and layers.
pub fn router(app: Arc<App>) -> Router {
    let server = &app.settings.server;
    Router::new()
        .route("/healthz", get(probes::healthz))
        .route("/readyz", get(probes::readyz))
        .route("/metrics", get(probes::metrics))
        .route("/webhooks/sms/{account}", post(sms::inbound))
        .route("/webhooks/sms/{account}/status", post(sms::status))
        .route("/webhooks/email/{account}", post(email::inbound))
        .route("/webchat/widget.js", get(widget_js))
        .route("/webchat/", get(widget_demo))
        .route("/webchat/sessions", post(webchat::sessions).options(webchat::preflight))
        .route("/webchat/ws", get(webchat::socket))
        .route("/webhooks/wechat/{account}", get(wechat::verify).post(wechat::push))
        .route("/api/v1/agents/{agent}/status", put(api::set_status))
        .route("/api/v1/agents/{agent}/conversations", get(api::agent_conversations))
        .route("/api/v1/conversations/{id}", get(api::conversation))
        .route("/api/v1/conversations/{id}/reply", post(api::reply))
        .route("/api/v1/conversations/{id}/resolve", post(api::resolve))
        .route("/api/v1/conversations/{id}/typing", post(api::typing))
        .route("/api/v1/conversations/{id}/accept", post(api::accept))
        .route("/api/v1/conversations/{id}/decline", post(api::decline))
        .route("/api/v1/conversations/{id}/transfer", post(api::transfer))
        .route("/api/v1/conversations/{id}/notes", post(api::note))
        .route("/api/v1/customers/{id}", put(admin::put_customer).get(admin::get_customer))
        .route("/api/v1/admin/reload", post(admin::reload))
        .route("/api/v1/admin/dead-letters", get(ops::dead_letters))
        .route("/api/v1/admin/dead-letters/{id}", axum::routing::delete(ops::drop_dead_letter))
        .route("/api/v1/admin/dead-letters/{id}/replay", post(ops::replay_dead_letter))
        .route("/api/v1/admin/stats", get(ops::stats))
        .route("/api/v1/admin/agents", get(ops::list_agents))
        .route("/api/v1/admin/queues", get(ops::list_queues))
        .route("/api/v1/admin/{kind}/{name}", put(ops::put_entry).delete(ops::delete_entry))
        .fallback(|| async { ApiError::not_found("route") })
        .layer(DefaultBodyLimit::max(server.max_body_bytes))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            Duration::from_secs(server.request_timeout_secs),
        ))
        .layer(middleware::from_fn_with_state(app.clone(), track))
        .with_state(app)
}

/// `GET /webchat/widget.js`: the embeddable widget.
async fn widget_js() -> impl axum::response::IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        switchboard_webchat::WIDGET_JS,
    )
}

/// `GET /webchat/`: the widget's demo page.
async fn widget_demo() -> axum::response::Html<&'static str> {
    axum::response::Html(switchboard_webchat::DEMO_HTML)
}

/// Records each request's latency under its matched route (bounded labels).
async fn track(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().map_or("unmatched", |m| m.as_str()).to_owned();
    let started = Instant::now();
    let resp = next.run(req).await;
    app.metrics.http(&route, resp.status().as_u16(), started.elapsed().as_secs_f64());
    resp
}
