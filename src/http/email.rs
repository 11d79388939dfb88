//! `POST /webhooks/email/{account}`: inbound email as raw MIME
//! (`Content-Type: message/rfc822`) or as a Mailgun-style form post
//! (`body-mime` with the timestamp/token HMAC). Parsing is pure, in
//! `switchboard_email`; a message that cannot be parsed is refused whole.
//! Bounces of our own replies mark the reply failed instead of reaching an
//! agent as a message.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Path, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use secrecy::ExposeSecret;
use switchboard_core::{Channel, Notice};
use switchboard_email::{MailgunFields, ParseOptions};

use super::error::{ApiError, ErrorBody};
use super::openapi::{EmailAccepted, MailgunForm};
use crate::app::App;
use crate::telemetry::Outcome;

fn reject(app: &App, account: &str, e: &switchboard_email::EmailError) -> Response {
    app.metrics.ingress("email", account, Outcome::rejected);
    let status = StatusCode::from_u16(e.kind().http_status()).unwrap_or(StatusCode::BAD_REQUEST);
    ApiError::new(status, "rejected", e.to_string()).into_response()
}

/// Handles one inbound email.
#[utoipa::path(
    post,
    path = "/webhooks/email/{account}",
    tag = "webhooks",
    operation_id = "email_inbound",
    summary = "Inbound email",
    description = "One email, as raw MIME (`message/rfc822`), authenticated by the account's \
        `raw_mime_token` in `X-Switchboard-Mail-Token` or as the HTTP Basic password; without one \
        it is refused on an account with `mailgun_signing_key` and taken unsigned (from the \
        account's mail relay) on one without; or as a Mailgun-style form (`multipart/form-data` or urlencoded, \
        only for accounts with `mailgun_signing_key`): `body-mime` with `timestamp`, `token` \
        and `signature` = hex HMAC-SHA256 of `timestamp` + `token` under the signing key; the \
        timestamp must be within 5 minutes and a token seen before is refused as a replay. A \
        bounce of one of our replies marks that reply failed instead of reaching an agent.",
    params(("account" = String, Path, description = "The email account (`channels.email.<account>`)")),
    request_body(
        description = "The message",
        content(
            (String = "message/rfc822"),
            (MailgunForm = "multipart/form-data"),
            (MailgunForm = "application/x-www-form-urlencoded"),
        ),
    ),
    responses(
        (status = 200, description = "Accepted: a message on its way to routing, or a recorded bounce", body = EmailAccepted),
        (status = 400, description = "`rejected`: the message or form cannot be parsed", body = ErrorBody),
        (status = 403, description = "`rejected`/`forbidden`: bad Mailgun signature, stale timestamp or replayed token; raw MIME without the account's `raw_mime_token`", body = ErrorBody),
        (status = 404, description = "No such email account", body = ErrorBody),
        (status = 413, description = "`too_large`: over `server.max_body_bytes`, or too large for NATS even with the text cut (long text is cut to fit, `metadata.truncated`)", body = ErrorBody),
        (status = 415, description = "`unsupported`: another content type, or a form for a raw-MIME-only account", body = ErrorBody),
        (status = 503, description = "Not durable yet; the sender should retry", body = ErrorBody),
    ),
)]
pub async fn inbound(State(app): State<Arc<App>>, Path(account): Path<String>, req: Request) -> Response {
    // The live channels (a reload rotates the Mailgun key and the raw MIME
    // token), copied so the reload is not held up across the body's read.
    let Some(config) = app.live().settings.channels.email.get(&account).cloned() else {
        return ApiError::not_found("email account").into_response();
    };
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    // The Mailgun token claimed for this post, released unless the message
    // was taken for good: a provider's retry after a 503 is not a replay.
    let mut claim = None;
    let raw = if content_type.starts_with("message/rfc822") {
        if let Err(e) = raw_mime_allowed(&config, req.headers()) {
            app.metrics.ingress("email", &account, Outcome::rejected);
            return e.into_response();
        }
        match Bytes::from_request(req, &()).await {
            Ok(b) => b.to_vec(),
            Err(e) => return e.into_response(),
        }
    } else if content_type.starts_with("multipart/form-data") || content_type.starts_with("application/x-www-form-urlencoded") {
        let Some(key) = config.mailgun_signing_key.as_ref() else {
            return ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported", "this account takes raw MIME only")
                .into_response();
        };
        let pairs = match form_pairs(req, content_type.starts_with("multipart/")).await {
            Ok(p) => p,
            Err(e) => return e.into_response(),
        };
        let fields = match MailgunFields::from_pairs(&pairs) {
            Ok(f) => f,
            Err(e) => return reject(&app, &account, &e),
        };
        let raw = match switchboard_email::verify_mailgun(key.expose_secret(), &fields, chrono::Utc::now()) {
            Ok(r) => r,
            Err(e) => return reject(&app, &account, &e),
        };
        // A token seen before is a replay.
        let seen = app.store.keys().seen(Channel::Email, &account, &format!("mailgun-token:{}", fields.token));
        match app.store.first_seen(&seen, switchboard_email::MAILGUN_TOKEN_TTL).await {
            Ok(true) => claim = Some(seen),
            Ok(false) => {
                app.metrics.ingress("email", &account, Outcome::rejected);
                return ApiError::forbidden("this Mailgun token was used before (replay)").into_response();
            }
            Err(e) => return ApiError::unavailable(&e).into_response(),
        }
        raw
    } else {
        return ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported",
            "send message/rfc822, or a Mailgun form (multipart/form-data or urlencoded)",
        )
        .into_response();
    };
    let resp = take(&app, &account, &config, &raw).await;
    if let Some(seen) = claim {
        if !resp.status().is_success() {
            if let Err(e) = app.store.release(&seen).await {
                tracing::warn!(error = %e, "a failed Mailgun post keeps its token; Mailgun's retry will be refused as a replay");
            }
        }
    }
    resp
}

/// The header that carries an account's `raw_mime_token`.
const RAW_MIME_TOKEN_HEADER: &str = "x-switchboard-mail-token";

/// Whether a raw MIME post may come in: with the account's
/// `raw_mime_token` (the header, or as the HTTP Basic password), else only
/// on an account without a Mailgun key (whose one route is the MTA's).
fn raw_mime_allowed(config: &crate::config::EmailAccount, headers: &axum::http::HeaderMap) -> Result<(), ApiError> {
    let Some(expected) = config.raw_mime_token.as_ref() else {
        if config.mailgun_signing_key.is_some() {
            return Err(ApiError::forbidden(
                "this account takes Mailgun-signed posts; unsigned raw MIME needs the account's raw_mime_token",
            ));
        }
        return Ok(());
    };
    let given = headers
        .get(RAW_MIME_TOKEN_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| basic_password(headers));
    let matches = given.is_some_and(|g| bool::from(subtle::ConstantTimeEq::ct_eq(g.as_bytes(), expected.expose_secret().as_bytes())));
    if !matches {
        return Err(ApiError::forbidden(
            "raw MIME needs the account's raw_mime_token (X-Switchboard-Mail-Token or the Basic auth password)",
        ));
    }
    Ok(())
}

/// The password of an `Authorization: Basic` header.
fn basic_password(headers: &axum::http::HeaderMap) -> Option<String> {
    use base64::Engine as _;
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    text.split_once(':').map(|(_, p)| p.to_owned())
}

/// Parses, cuts to fit and publishes one authenticated email (or records
/// a bounce); the answer.
async fn take(app: &App, account: &str, config: &crate::config::EmailAccount, raw: &[u8]) -> Response {
    let options = ParseOptions {
        max_attachment_bytes: config.max_attachment_bytes,
        own_domains: vec![config.domain().to_owned()],
    };
    let now = chrono::Utc::now();
    let parsed = match switchboard_email::parse(account, raw, &options, ulid::Ulid::new().to_string(), now) {
        Ok(p) => p,
        Err(e) => return reject(app, account, &e),
    };
    if let Some(bounced) = &parsed.bounce_of {
        return bounce(app, account, bounced).await;
    }
    let mut msg = parsed.message;
    // Cut to fit NATS, with a note in metadata (see `intake`).
    if let Err(e) = super::intake::publish_inbound(app, &mut msg).await {
        app.metrics.ingress("email", account, e.outcome());
        return e.into_error().into_response();
    }
    app.metrics.ingress("email", account, Outcome::ok);
    if let Some(auto) = parsed.auto.as_deref() {
        tracing::info!(channel = "email", %account, message = %msg.id, auto, "the inbound email is an automatic reply");
    }
    Json(serde_json::json!({ "id": msg.id, "auto": parsed.auto })).into_response()
}

/// A bounce of one of our replies (our Message-IDs are `<outbound
/// id@domain>`): put on the bus as a delivery [`Notice`] in state
/// `bounced`; the router marks the reply failed and tells the agent. A
/// bounce that names no id of ours is answered and dropped.
async fn bounce(app: &App, account: &str, message_id: &str) -> Response {
    let outbound = message_id.split('@').next().unwrap_or("");
    let known = super::ids::is_outbound_id(outbound);
    if known {
        let notice = Notice::Delivery {
            channel: Channel::Email,
            account: account.to_owned(),
            outbound: outbound.to_owned(),
            state: "bounced".into(),
            rank: 4,
            error_code: None,
            failed: true,
            received_at: chrono::Utc::now(),
        };
        if let Err(e) = super::intake::publish_notice(app, &notice, &format!("{outbound}:bounced")).await {
            return e.into_response();
        }
    }
    app.metrics.ingress("email", account, Outcome::ok);
    tracing::info!(channel = "email", %account, known, "bounce taken");
    Json(serde_json::json!({ "bounce": true, "known": known })).into_response()
}

/// The fields of a form post, urlencoded or multipart (files included).
async fn form_pairs(req: Request, multipart: bool) -> Result<Vec<(String, Vec<u8>)>, Response> {
    if !multipart {
        let body = Bytes::from_request(req, &()).await.map_err(IntoResponse::into_response)?;
        return Ok(form_urlencoded::parse(&body).map(|(k, v)| (k.into_owned(), v.into_owned().into_bytes())).collect());
    }
    let mut form = Multipart::from_request(req, &()).await.map_err(IntoResponse::into_response)?;
    let mut pairs = Vec::new();
    loop {
        match form.next_field().await {
            Ok(Some(field)) => {
                let name = field.name().unwrap_or("").to_owned();
                let value = field.bytes().await.map_err(IntoResponse::into_response)?;
                pairs.push((name, value.to_vec()));
            }
            Ok(None) => return Ok(pairs),
            Err(e) => return Err(e.into_response()),
        }
    }
}
