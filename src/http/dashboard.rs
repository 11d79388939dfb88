//! `GET /dashboard`: the supervisor page, and `GET /dashboard/app.js`, its
//! script. Both are embedded in the binary and public: the page holds no
//! data; it asks for the admin or supervisor token and reads the figures
//! from `/api/v1/supervisor/stream` with it. The script is a separate file
//! so the page's Content-Security-Policy allows no inline script.

use axum::http::header;
use axum::response::IntoResponse;

const PAGE: &str = include_str!("dashboard/index.html");
const SCRIPT: &str = include_str!("dashboard/app.js");

/// Scripts only from the daemon, data only from the daemon, no framing.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; \
     connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// `GET /dashboard`
#[utoipa::path(
    get,
    path = "/dashboard",
    tag = "supervisor",
    summary = "The supervisor dashboard page",
    description = "A live page of queues, agents, conversations at SLA risk, charts of the last hour \
        and firing alerts. It asks for the admin or supervisor token and keeps it in the tab's session \
        storage; without it the page shows a sign-in box and no data.",
    responses((status = 200, description = "The page", body = String, content_type = "text/html")),
)]
pub async fn page() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, POLICY),
            (header::CACHE_CONTROL, "no-cache"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        PAGE,
    )
}

/// `GET /dashboard/app.js`
#[utoipa::path(
    get,
    path = "/dashboard/app.js",
    tag = "supervisor",
    summary = "The supervisor dashboard's script",
    responses((status = 200, description = "The script", body = String, content_type = "text/javascript")),
)]
pub async fn script() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        SCRIPT,
    )
}
