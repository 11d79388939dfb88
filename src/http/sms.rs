//! `POST /webhooks/sms/{account}`: the Twilio-compatible inbound webhook.
//! Decode and verify (pure, in `switchboard_sms`), publish to JetStream,
//! and answer the empty TwiML only after the publish ack.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{OriginalUri, Path, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use switchboard_core::{Channel, Notice};
use switchboard_sms::Verified;

use super::error::{ApiError, ErrorBody};
use super::openapi::{SmsInboundForm, SmsStatusForm};
use crate::app::App;
use crate::telemetry::Outcome;

const EMPTY_TWIML: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response/>";

/// Checks a request to `account`'s webhooks: a configured account (404)
/// and `X-Twilio-Signature` over the public URL of the request (403, or
/// 400 for a malformed body).
fn verify(app: &App, account: &str, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Result<Verified, ApiError> {
    // The live channels: a reload rotates the auth token.
    let live = app.live();
    let config = live.settings.channels.sms.get(account).ok_or_else(|| ApiError::not_found("SMS account"))?;
    let url = format!("{}{}", app.settings.server.public_base(), uri.path_and_query().map_or("", |p| p.as_str()));
    let token = config.auth_token.as_ref().map(secrecy::ExposeSecret::expose_secret).unwrap_or_default();
    let signature = headers.get("x-twilio-signature").and_then(|v| v.to_str().ok());
    Verified::check(token, &url, body, signature).map_err(|e| rejected(&e))
}

/// The 4xx for a refused SMS request.
fn rejected(e: &switchboard_sms::SmsError) -> ApiError {
    let status = StatusCode::from_u16(e.kind().http_status()).unwrap_or(StatusCode::BAD_REQUEST);
    ApiError::new(status, "rejected", e.to_string())
}

/// Handles one inbound message webhook.
#[utoipa::path(
    post,
    path = "/webhooks/sms/{account}",
    tag = "webhooks",
    operation_id = "sms_inbound",
    summary = "Inbound SMS/MMS (Twilio-compatible)",
    description = "The provider's inbound message webhook. Authenticated by `X-Twilio-Signature`: \
        base64 HMAC-SHA1, with the account's `auth_token`, of the request's public URL \
        (`server.public_url` + path and query) followed by the form's fields sorted by name. \
        Answered with empty TwiML only once the message is durable on JetStream; a 5xx makes \
        the provider retry, and retries are de-duplicated by `MessageSid`.",
    params(
        ("account" = String, Path, description = "The SMS account (`channels.sms.<account>`)"),
        ("X-Twilio-Signature" = String, Header, description = "The provider's signature of the request"),
    ),
    request_body(content = SmsInboundForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Accepted: empty TwiML", body = String, content_type = "text/xml",
            example = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response/>"),
        (status = 400, description = "`rejected`: the form is malformed", body = ErrorBody),
        (status = 403, description = "`rejected`: the signature is missing or wrong", body = ErrorBody),
        (status = 404, description = "No such SMS account", body = ErrorBody),
        (status = 413, description = "`too_large`: the form is over the webhook's cap (a sixteenth of NATS's max_payload, 64 KiB by default), or the message would not fit on NATS", body = ErrorBody),
        (status = 503, description = "Not durable yet; the provider should retry", body = ErrorBody),
    ),
)]
pub async fn inbound(
    State(app): State<Arc<App>>,
    Path(account): Path<String>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let reject = |e: ApiError| {
        // Only configured accounts become metric labels (bounded).
        if app.settings.channels.sms.contains_key(&account) {
            app.metrics.ingress("sms", &account, Outcome::rejected);
        }
        e.into_response()
    };
    if let Err(e) = super::intake::check_provider_body(&app, body.len()) {
        return reject(e);
    }
    let verified = match verify(&app, &account, &uri, &headers, &body) {
        Ok(v) => v,
        Err(e) => return reject(e),
    };
    let id = ulid::Ulid::new().to_string();
    let mut msg = match switchboard_sms::normalize(&account, &verified, id, chrono::Utc::now()) {
        Ok(m) => m,
        Err(e) => return reject(rejected(&e)),
    };
    // Too large for NATS: a final 413 (Twilio does not retry a 4xx); not
    // durable: 503, so Twilio retries.
    if let Err(e) = super::intake::publish_inbound(&app, &mut msg).await {
        app.metrics.ingress("sms", &account, e.outcome());
        return e.into_error().into_response();
    }
    app.metrics.ingress("sms", &account, Outcome::ok);
    ([(header::CONTENT_TYPE, "text/xml; charset=utf-8")], EMPTY_TWIML).into_response()
}

/// The query of a status callback: our outbound id, which we put in the
/// `StatusCallback` URL ourselves (and the provider signs).
#[derive(Debug, serde::Deserialize)]
pub struct StatusQuery {
    outbound: Option<String>,
}

/// Provider delivery states, ranked so a state never moves backwards.
/// Final states share the top rank: the first final state wins.
fn status_rank(status: &str) -> Option<u8> {
    Some(match status {
        "accepted" | "scheduled" | "queued" => 1,
        "sending" => 2,
        "sent" => 3,
        "delivered" | "undelivered" | "failed" | "canceled" => 4,
        "read" => 5,
        _ => return None,
    })
}

/// `POST /webhooks/sms/{account}/status`: a delivery status callback,
/// signed like inbound webhooks, put on the bus as a [`Notice`] (204 once
/// it is durable); the router records it, and `failed`/`undelivered`
/// become a `send_failed` event for the agent.
#[utoipa::path(
    post,
    path = "/webhooks/sms/{account}/status",
    tag = "webhooks",
    operation_id = "sms_status",
    summary = "SMS delivery status callback (Twilio-compatible)",
    description = "The provider's status callback for a message we sent, at the `StatusCallback` \
        URL the router gave with it. Signed like the inbound webhook (`X-Twilio-Signature`). A \
        state never moves backwards; `failed` and `undelivered` tell the agent \
        (`switchboard.conversation.send_failed`).",
    params(
        ("account" = String, Path, description = "The SMS account (`channels.sms.<account>`)"),
        ("outbound" = String, Query, description = "Our outbound message id, put in the callback URL by the router"),
        ("X-Twilio-Signature" = String, Header, description = "The provider's signature of the request"),
    ),
    request_body(content = SmsStatusForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 204, description = "Taken (durable on the bus; recorded by the router, unless older than the state already known)"),
        (status = 400, description = "`invalid_request` (unknown status, no `outbound`) or `rejected` (malformed)", body = ErrorBody),
        (status = 403, description = "`rejected`: the signature is missing or wrong", body = ErrorBody),
        (status = 404, description = "No such SMS account", body = ErrorBody),
        (status = 503, description = "Not taken; the provider should retry", body = ErrorBody),
    ),
)]
pub async fn status(
    State(app): State<Arc<App>>,
    Path(account): Path<String>,
    OriginalUri(uri): OriginalUri,
    super::query::ApiQuery(query): super::query::ApiQuery<StatusQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(e) = super::intake::check_provider_body(&app, body.len()) {
        return e.into_response();
    }
    let verified = match verify(&app, &account, &uri, &headers, &body) {
        Ok(v) => v,
        Err(e) => return e.into_response(),
    };
    let state = verified.get("MessageStatus").or_else(|| verified.get("SmsStatus")).unwrap_or("");
    let Some(rank) = status_rank(state) else {
        return ApiError::invalid("MessageStatus", "is missing or not a known status").into_response();
    };
    let Some(outbound) = query.outbound.filter(|o| super::ids::is_outbound_id(o)) else {
        // A callback for a message we did not send with our callback URL.
        return ApiError::invalid("outbound", "is missing from the callback URL or not one of our message ids").into_response();
    };
    let notice = Notice::Delivery {
        channel: Channel::Sms,
        account: account.clone(),
        outbound: outbound.clone(),
        state: state.to_owned(),
        rank,
        error_code: verified.get("ErrorCode").filter(|c| !c.is_empty()).map(str::to_owned),
        failed: matches!(state, "failed" | "undelivered"),
        received_at: chrono::Utc::now(),
    };
    // One notice per (message, state): a provider's retry is absorbed.
    if let Err(e) = super::intake::publish_notice(&app, &notice, &format!("{outbound}:{state}")).await {
        return e.into_response();
    }
    tracing::debug!(%account, %outbound, state, "delivery status taken");
    StatusCode::NO_CONTENT.into_response()
}
