//! The one HTTP listener: probes, provider webhooks and the API. Handlers
//! only decode and answer; the shared layers read the body (capped, with a
//! deadline), bound the request time, give every error answer the JSON
//! error shape (axum's own rejections, its 405 and the timeout's 503
//! included) and record latency by matched route.

mod admin;
mod api;
mod auth;
mod csat;
mod dashboard;
mod email;
mod entries;
mod error;
mod ids;
mod intake;
mod openapi;
mod ops;
mod privacy;
mod probes;
mod query;
mod server;
mod slack;
mod sms;
mod webchat;
mod wechat;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{delete, get, post, put};
use axum::Router;
use tower_http::timeout::TimeoutLayer;

pub use error::ApiError;
pub use openapi::document as openapi_document;
pub use server::{serve, Limits};

use crate::app::App;

/// Declares the routes once: `ROUTES`, the (method, path) table, and
/// `routes`, which registers exactly those on a router. The OpenAPI tests
/// check the document against `ROUTES`, so a route cannot be added without
/// being described.
macro_rules! route_table {
    ($($path:literal => $method:ident($handler:path) $(.$more:ident($more_handler:path))*;)+) => {
        /// Every route of the listener as (lower-case method, path), in
        /// registration order; `GET /openapi.json` describes exactly these.
        pub const ROUTES: &[(&str, &str)] = &[$((stringify!($method), $path), $((stringify!($more), $path),)*)+];

        fn routes(router: Router<Arc<App>>) -> Router<Arc<App>> {
            router$(.route($path, $method($handler)$(.$more($more_handler))*))+
        }
    };
}

route_table! {
    "/healthz" => get(probes::healthz);
    "/readyz" => get(probes::readyz);
    "/readyz/intake" => get(probes::readyz_intake);
    "/metrics" => get(probes::metrics);
    "/openapi.json" => get(openapi::serve);
    "/webhooks/sms/{account}" => post(sms::inbound);
    "/webhooks/sms/{account}/status" => post(sms::status);
    "/webhooks/email/{account}" => post(email::inbound);
    "/webchat/widget.js" => get(widget_js);
    "/webchat/" => get(widget_demo);
    "/webchat/sessions" => post(webchat::sessions).options(webchat::preflight);
    "/webchat/ws" => get(webchat::socket);
    "/webhooks/wechat/{account}" => get(wechat::verify).post(wechat::push);
    "/integrations/slack/events" => post(slack::events);
    "/integrations/slack/interactivity" => post(slack::interactivity);
    "/integrations/slack/commands" => post(slack::commands);
    "/csat/{token}" => get(csat::answer);
    "/dashboard" => get(dashboard::page);
    "/dashboard/app.js" => get(dashboard::script);
    "/api/v1/agents/{agent}/status" => put(api::set_status);
    "/api/v1/agents/{agent}/conversations" => get(api::agent_conversations);
    "/api/v1/conversations" => get(api::list_conversations);
    "/api/v1/conversations/{id}" => get(api::conversation);
    "/api/v1/conversations/{id}/reply" => post(api::reply);
    "/api/v1/conversations/{id}/resolve" => post(api::resolve);
    "/api/v1/conversations/{id}/typing" => post(api::typing);
    "/api/v1/conversations/{id}/accept" => post(api::accept);
    "/api/v1/conversations/{id}/decline" => post(api::decline);
    "/api/v1/conversations/{id}/transfer" => post(api::transfer);
    "/api/v1/conversations/{id}/notes" => post(api::note);
    "/api/v1/customers/{id}" => put(admin::put_customer).get(admin::get_customer).delete(privacy::erase_customer);
    "/api/v1/customers/{id}/export" => get(privacy::export_customer);
    "/api/v1/admin/reload" => post(admin::reload);
    "/api/v1/admin/dead-letters" => get(ops::dead_letters);
    "/api/v1/admin/dead-letters/{id}" => delete(ops::drop_dead_letter);
    "/api/v1/admin/dead-letters/{id}/replay" => post(ops::replay_dead_letter);
    "/api/v1/admin/stats" => get(ops::stats);
    "/api/v1/admin/agents" => get(ops::list_agents);
    "/api/v1/admin/queues" => get(ops::list_queues);
    "/api/v1/reports/summary" => get(api::summary);
    "/api/v1/admin/{kind}/{name}" => put(entries::put_entry).delete(entries::delete_entry);
    "/api/v1/supervisor/snapshot" => get(api::supervisor::snapshot);
    "/api/v1/supervisor/stream" => get(api::supervisor::stream);
}

/// The application's routes and layers.
pub fn router(app: Arc<App>) -> Router {
    let server = &app.settings.server;
    routes(Router::new())
        .fallback(|| async { ApiError::not_found("route") })
        // Innermost: it sees the matched route (the audit trail).
        .layer(middleware::from_fn_with_state(app.clone(), privacy::audit))
        .layer(DefaultBodyLimit::max(server.max_body_bytes))
        .layer(middleware::from_fn_with_state(app.clone(), read_body))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            Duration::from_secs(server.request_timeout_secs),
        ))
        .layer(middleware::from_fn(error::json_errors))
        .layer(middleware::from_fn_with_state(app.clone(), track))
        .with_state(app)
}

/// `GET /webchat/widget.js`: the embeddable widget.
#[utoipa::path(
    get,
    path = "/webchat/widget.js",
    tag = "webchat",
    summary = "The embeddable chat widget",
    description = "The widget's script, to include with a `<script>` tag on the shop's pages.",
    responses((status = 200, description = "The script", body = String, content_type = "text/javascript")),
)]
async fn widget_js() -> impl axum::response::IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        switchboard_webchat::WIDGET_JS,
    )
}

/// `GET /webchat/`: the widget's demo page.
#[utoipa::path(
    get,
    path = "/webchat/",
    tag = "webchat",
    summary = "The widget's demo page",
    responses((status = 200, description = "An HTML page with the widget", body = String, content_type = "text/html")),
)]
async fn widget_demo() -> axum::response::Html<&'static str> {
    axum::response::Html(switchboard_webchat::DEMO_HTML)
}

/// Reads the whole request body before the handler runs: at most
/// `server.max_body_bytes` (413) within `server.body_read_timeout_secs`
/// of the head (408), so that no handler waits on a slow client and every
/// handler sees the same cap.
async fn read_body(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    use http_body_util::BodyExt;
    let server = &app.settings.server;
    let too_large = || {
        let message = format!("the request body is larger than {} bytes", server.max_body_bytes);
        closing(ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", message))
    };
    let declared = req.headers().get(axum::http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > server.max_body_bytes as u64) {
        return too_large();
    }
    let (parts, body) = req.into_parts();
    let limited = http_body_util::Limited::new(body, server.max_body_bytes);
    let bytes = match tokio::time::timeout(server.body_read_timeout(), limited.collect()).await {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(e)) if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() => return too_large(),
        Ok(Err(_)) => {
            return closing(ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", "the request body could not be read"))
        }
        Err(_) => {
            let message = format!("the request body did not arrive within {} s", server.body_read_timeout_secs);
            return closing(ApiError::new(StatusCode::REQUEST_TIMEOUT, "timeout", message));
        }
    };
    next.run(Request::from_parts(parts, axum::body::Body::from(bytes))).await
}

/// `error` with `Connection: close`: the rest of the body is not read.
fn closing(error: ApiError) -> Response {
    use axum::response::IntoResponse;
    let mut resp = error.into_response();
    resp.headers_mut().insert(axum::http::header::CONNECTION, axum::http::HeaderValue::from_static("close"));
    resp
}

/// Raises the soft descriptor limit (RLIMIT_NOFILE) to the hard limit,
/// where the platform allows it, and logs what it is now. Called once by
/// `serve` before the runtime starts.
pub fn raise_descriptor_limit() {
    match rlimit::getrlimit(rlimit::Resource::NOFILE) {
        Ok((soft, hard)) => match rlimit::increase_nofile_limit(hard) {
            Ok(now) => tracing::info!(before = soft, now, hard, "descriptor limit (RLIMIT_NOFILE)"),
            Err(e) => tracing::warn!(error = %e, soft, hard, "cannot raise the descriptor limit (RLIMIT_NOFILE)"),
        },
        Err(e) => tracing::warn!(error = %e, "cannot read the descriptor limit (RLIMIT_NOFILE)"),
    }
}

/// Records each request's latency under its matched route (bounded labels).
async fn track(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().map_or("unmatched", |m| m.as_str()).to_owned();
    let started = Instant::now();
    let resp = next.run(req).await;
    app.metrics.http(&route, resp.status().as_u16(), started.elapsed().as_secs_f64());
    resp
}
