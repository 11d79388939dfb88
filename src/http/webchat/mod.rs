//! The web chat routes: `POST /webchat/sessions` (a signed, expiring
//! session for a visitor, optionally linked to the shop's customer) and
//! `GET /webchat/ws?token=…` (the visitor's WebSocket, protocol in
//! `channels/webchat/PROTOCOL.md`).
//!
//! A visitor message is acked only after the JetStream publish ack: the
//! handler reserves the message's place in the visitor's log (the same
//! `client_id` always gets the same id and seq), publishes with the
//! de-duplication key `visitor:client_id`, stores it in the log (now
//! `history` shows it), then acks. A resend after a lost ack, or after a
//! crash at any step, repeats the missing steps and gets the original id
//! and seq back. Agent replies and the visitor's own messages reach every
//! socket of the visitor on any replica through `P.webchat.<visitor>`.

mod socket;

use socket::serve;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use secrecy::ExposeSecret;
use switchboard_core::{Masked, RejectKind};
use switchboard_webchat::{
    verify_identity, SessionClaims,
    SessionRequest, WebchatError,
};

use super::error::{ApiError, ErrorBody};
use super::openapi::{Session, SessionRequest as SessionRequestDoc};
use crate::app::App;
use crate::chat::{Chat, SocketSlot};
use crate::telemetry::Outcome;

/// Largest WebSocket message read: above the protocol's 16 KiB frame cap,
/// so that a frame over the cap gets a `too_large` error frame instead of
/// a closed socket; far larger ones close the socket (1009).
const MAX_WS_MESSAGE: usize = 64 * 1024;

/// Checks the `Origin` of a browser request: absent (not a browser) or
/// allowed. Answers the allowed origin, to echo in CORS headers.
fn allowed_origin(chat: &Chat, headers: &HeaderMap) -> Result<Option<HeaderValue>, ApiError> {
    let Some(origin) = headers.get(header::ORIGIN) else { return Ok(None) };
    if origin.to_str().is_ok_and(|o| chat.origin_allowed(o)) {
        Ok(Some(origin.clone()))
    } else {
        Err(ApiError::forbidden("this page's origin may not use the web chat (channels.webchat.allowed_origins)"))
    }
}

/// A place for one more socket of `visitor`, or the 429 naming the cap.
fn take_socket(chat: &Chat, visitor: &str) -> Result<SocketSlot, ApiError> {
    chat.take_socket(visitor).map_err(|e| ApiError::new(StatusCode::TOO_MANY_REQUESTS, "too_many_sockets", e.to_string()))
}

fn chat(app: &App) -> Result<&Chat, ApiError> {
    app.chat.as_ref().ok_or_else(|| ApiError::not_found("web chat"))
}

/// The 4xx for a refused session request or token.
fn refused(e: &WebchatError) -> ApiError {
    match e.kind() {
        RejectKind::BadSignature => ApiError::forbidden(e.to_string()),
        RejectKind::TooLarge => ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", e.to_string()),
        _ => ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", e.to_string()),
    }
}

/// The CORS headers for an allowed cross-origin caller.
fn cors(resp: &mut Response, origin: Option<HeaderValue>) {
    let h = resp.headers_mut();
    h.insert(header::VARY, HeaderValue::from_static("Origin"));
    if let Some(origin) = origin {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    }
}

/// `OPTIONS /webchat/sessions`: the CORS preflight of the widget's `fetch`.
#[utoipa::path(
    options,
    path = "/webchat/sessions",
    tag = "webchat",
    operation_id = "webchat_sessions_preflight",
    summary = "CORS preflight for opening a session",
    description = "Allows `POST` with `Content-Type` from an allowed origin \
        (`channels.webchat.allowed_origins`, and the instance's own `server.public_url`).",
    params(("Origin" = Option<String>, Header, description = "The page's origin")),
    responses(
        (status = 204, description = "Allowed; `Access-Control-Allow-Origin` echoes the origin",
            headers(
                ("Access-Control-Allow-Origin" = String, description = "The allowed origin"),
                ("Access-Control-Allow-Methods" = String, description = "`POST`"),
                ("Access-Control-Allow-Headers" = String, description = "`content-type`"),
                ("Access-Control-Max-Age" = String, description = "`600`"),
            )),
        (status = 403, description = "This origin may not use the web chat", body = ErrorBody),
        (status = 404, description = "Web chat is not configured", body = ErrorBody),
    ),
)]
pub async fn preflight(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    let origin = match chat(&app).and_then(|c| allowed_origin(c, &headers)) {
        Ok(o) => o,
        Err(e) => return e.into_response(),
    };
    let mut resp = StatusCode::NO_CONTENT.into_response();
    cors(&mut resp, origin);
    let h = resp.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("POST"));
    h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static("content-type"));
    h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
    resp
}

/// `POST /webchat/sessions`
#[utoipa::path(
    post,
    path = "/webchat/sessions",
    tag = "webchat",
    operation_id = "webchat_sessions",
    summary = "Open a visitor session",
    description = "Issues a signed, expiring session token for a visitor (a new visitor id, or \
        the given one to keep its history), optionally linked to the shop's customer by an \
        identity the shop signed with `channels.webchat.identity_secret`. No bearer token: the \
        widget calls it from the shop's pages, and the `Origin`, when sent, must be allowed.",
    params(("Origin" = Option<String>, Header, description = "The page's origin, checked against `channels.webchat.allowed_origins`")),
    request_body(content = SessionRequestDoc, content_type = "application/json",
        description = "Optional; an empty body means `{}`"),
    responses(
        (status = 200, description = "The session (`Cache-Control: no-store`)", body = Session),
        (status = 400, description = "`invalid_request`: not the documented JSON, or a field over its limit", body = ErrorBody),
        (status = 403, description = "The origin is not allowed, the identity's signature is wrong or stale, or identities are not accepted", body = ErrorBody),
        (status = 404, description = "Web chat is not configured", body = ErrorBody),
        (status = 413, description = "`too_large`: the body is over 8 KiB", body = ErrorBody),
    ),
)]
pub async fn sessions(State(app): State<Arc<App>>, headers: HeaderMap, body: Bytes) -> Response {
    match open_session(&app, &headers, &body) {
        Ok(resp) => resp,
        Err(e) => {
            app.metrics.ingress("webchat", switchboard_webchat::ACCOUNT, Outcome::rejected);
            e.into_response()
        }
    }
}

fn open_session(app: &App, headers: &HeaderMap, body: &[u8]) -> Result<Response, ApiError> {
    let chat = chat(app)?;
    let origin = allowed_origin(chat, headers)?;
    let request = SessionRequest::parse(body).map_err(|e| refused(&e))?;
    let now = chrono::Utc::now();
    let identity = match &request.identity {
        None => None,
        Some(raw) => {
            // The live one: a reload rotates it.
            let live = app.live();
            let secret = live.settings.channels.webchat.as_ref().and_then(|w| w.identity_secret.as_ref());
            let secret = secret.map_or("", |s| s.expose_secret());
            if secret.is_empty() {
                return Err(ApiError::forbidden(
                    "customer identities are not accepted: channels.webchat.identity_secret is not set",
                ));
            }
            Some(verify_identity(secret, raw, now).map_err(|e| refused(&e))?)
        }
    };
    let session = chat.issuer().issue(request.visitor_id.as_deref(), identity.as_ref(), request.name.as_deref(), now);
    tracing::info!(visitor = %Masked(&session.visitor_id), linked = identity.is_some(), "web chat session opened");
    let mut resp = axum::Json(&session).into_response();
    cors(&mut resp, origin);
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

/// `GET /webchat/ws?token=…`: checks the token and the origin, then
/// upgrades.
#[utoipa::path(
    get,
    path = "/webchat/ws",
    tag = "webchat",
    operation_id = "webchat_socket",
    summary = "The visitor's WebSocket",
    description = "A WebSocket upgrade (`Connection: Upgrade`, `Upgrade: websocket`) authorized \
        by the session token in the query; the `Origin`, when sent, must be allowed. The frames \
        (JSON text: `message`, `history`, `typing`, `ping` from the widget; `ack`, `message`, \
        `history`, `typing`, `error`, `pong` from the server) are in \
        `channels/webchat/PROTOCOL.md`.",
    params(
        ("token" = String, Query, description = "The `session_token` of `POST /webchat/sessions`: `claims.signature`", pattern = "^[^.]+\\.[^.]+$"),
        ("Origin" = Option<String>, Header, description = "The page's origin"),
    ),
    responses(
        (status = 101, description = "Switching Protocols: the socket is open"),
        (status = 400, description = "`invalid_request`: a malformed token, or not a WebSocket upgrade", body = ErrorBody),
        (status = 403, description = "`forbidden`: no token, a wrong or expired token, or an origin not allowed", body = ErrorBody),
        (status = 404, description = "Web chat is not configured", body = ErrorBody),
        (status = 413, description = "`too_large`: the token is too long", body = ErrorBody),
        (status = 426, description = "`upgrade_required`: the connection cannot be upgraded", body = ErrorBody),
        (status = 429, description = "`too_many_sockets`: the visitor's sockets (`channels.webchat.max_sockets_per_visitor`) or the instance's (`max_sockets`) are all open", body = ErrorBody),
    ),
)]
pub async fn socket(
    State(app): State<Arc<App>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let claims = match authorize(&app, query.as_deref(), &headers) {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let upgrade = match upgrade {
        Ok(u) => u,
        Err(e) => {
            let code = if e.status() == StatusCode::UPGRADE_REQUIRED { "upgrade_required" } else { "invalid_request" };
            return ApiError::new(e.status(), code, e.body_text()).into_response();
        }
    };
    // Checked before the upgrade, so that a refusal is a plain 429.
    let slot = match chat(&app).and_then(|c| take_socket(c, claims.visitor_id())) {
        Ok(s) => s,
        Err(e) => return e.into_response(),
    };
    upgrade.max_message_size(MAX_WS_MESSAGE).max_frame_size(MAX_WS_MESSAGE).on_upgrade(move |ws| async move {
        serve(app, claims, ws).await;
        drop(slot);
    })
}

fn authorize(app: &App, query: Option<&str>, headers: &HeaderMap) -> Result<SessionClaims, ApiError> {
    let chat = chat(app)?;
    let token = url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned())
        .ok_or_else(|| ApiError::forbidden("a session token is required (?token=…)"))?;
    let claims = chat.issuer().verify(&token, chrono::Utc::now()).map_err(|e| refused(&e))?;
    allowed_origin(chat, headers)?;
    Ok(claims)
}
