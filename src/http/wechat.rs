//! `GET/POST /webhooks/wechat/{account}`: URL verification and message
//! pushes (plaintext, compatible and safe mode). Verification and
//! decryption are pure, in `switchboard_wechat`; a push must also be signed
//! within `timestamp_window_secs` of now, come encrypted when the account
//! requires it, and be the only body ever signed with its
//! `(timestamp, nonce)` (remembered in Redis for all replicas). WeChat retries a push that
//! gets no answer within 5 s, so the publish wait is bounded well under
//! that (`nats.publish_timeout_ms` ≤ 4.5 s) and retries are absorbed: a
//! message by its MsgId (`Nats-Msg-Id` and the router's Redis record), an
//! event by FromUserName + CreateTime in Redis.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use switchboard_core::{Channel, Notice};
use sha2::Digest as _;
use switchboard_wechat::{AccountKeys, Push, PushPolicy, PushQuery, Verified, WechatEvent};

use super::error::{ApiError, ErrorBody};
use super::query::ApiQuery;
use crate::app::App;
use crate::store::Claim;
use crate::telemetry::Outcome;


fn keys(app: &App, account: &str) -> Result<AccountKeys, ApiError> {
    // The live channels: a reload rotates the token and the AES key.
    let live = app.live();
    let Some(a) = live.settings.channels.wechat.get(account) else {
        return Err(ApiError::not_found("WeChat account"));
    };
    let token = a.token.clone().unwrap_or_else(|| secrecy::SecretString::from(""));
    // Checked at start-up by the configuration; a failure here is ours.
    AccountKeys::new(a.app_id.clone(), token, a.encoding_aes_key.clone())
        .map_err(|e| ApiError::unavailable(&e))
}

fn sha256_hex(bytes: &[u8]) -> String {
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// A request value as it may appear in a Redis key: itself when short and
/// plain (WeChat's nonces are digits), else its hash.
fn key_part(value: &str) -> String {
    if !value.is_empty() && value.len() <= 64 && value.bytes().all(|b| b.is_ascii_alphanumeric()) {
        value.to_owned()
    } else {
        format!("h{}", sha256_hex(value.as_bytes()))
    }
}

fn text(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
}

/// `GET`: answers `echostr` when the signature checks out.
#[utoipa::path(
    get,
    path = "/webhooks/wechat/{account}",
    tag = "webhooks",
    operation_id = "wechat_verify",
    summary = "WeChat URL verification",
    description = "WeChat's check of the server URL: `signature` is \
        `hex(sha1(sort(token, timestamp, nonce)))` with the account's `token`; when it checks \
        out the answer is `echostr`.",
    params(
        ("account" = String, Path, description = "The WeChat account (`channels.wechat.<account>`)"),
        ("signature" = String, Query, description = "`hex(sha1(sort(token, timestamp, nonce)))`"),
        ("timestamp" = String, Query, description = "Unix seconds, as WeChat wrote them"),
        ("nonce" = String, Query, description = "A random number"),
        ("echostr" = String, Query, description = "The string to echo back"),
    ),
    responses(
        (status = 200, description = "`echostr`", body = String, content_type = "text/plain"),
        (status = 400, description = "`rejected`: a parameter is missing", body = ErrorBody),
        (status = 403, description = "`rejected`: the signature is wrong", body = ErrorBody),
        (status = 404, description = "No such WeChat account", body = ErrorBody),
    ),
)]
pub async fn verify(State(app): State<Arc<App>>, Path(account): Path<String>, ApiQuery(q): ApiQuery<PushQuery>) -> Response {
    let keys = match keys(&app, &account) {
        Ok(k) => k,
        Err(e) => return e.into_response(),
    };
    match switchboard_wechat::verify_echo(secrecy::ExposeSecret::expose_secret(&keys.token), &q) {
        Ok(echo) => text(echo),
        Err(e) => reject(&e),
    }
}

fn reject(e: &switchboard_wechat::WechatError) -> Response {
    let status = StatusCode::from_u16(e.kind().http_status()).unwrap_or(StatusCode::BAD_REQUEST);
    ApiError::new(status, "rejected", e.to_string()).into_response()
}

/// `POST`: one pushed message or event; `success` once it is durable.
#[utoipa::path(
    post,
    path = "/webhooks/wechat/{account}",
    tag = "webhooks",
    operation_id = "wechat_push",
    summary = "WeChat message or event push",
    description = "One message or event, as WeChat's XML: plaintext, or in safe and compatible \
        mode (`encrypt_type=aes`) an `<Encrypt>` element with AES-256-CBC ciphertext under the \
        account's `encoding_aes_key`. Authenticated by `signature` \
        (`hex(sha1(sort(token, timestamp, nonce)))`) and, when encrypted, `msg_signature` \
        (`hex(sha1(sort(token, timestamp, nonce, Encrypt)))`). Answered `success` once the \
        message is durable on JetStream; WeChat's retries are absorbed (by `MsgId`, or \
        `FromUserName` + `CreateTime` for events).",
    params(
        ("account" = String, Path, description = "The WeChat account (`channels.wechat.<account>`)"),
        ("signature" = String, Query, description = "`hex(sha1(sort(token, timestamp, nonce)))`"),
        ("timestamp" = String, Query, description = "Unix seconds, as WeChat wrote them"),
        ("nonce" = String, Query, description = "A random number"),
        ("openid" = Option<String>, Query, description = "The sender's OpenID (informational)"),
        ("encrypt_type" = Option<String>, Query, description = "`aes` in safe and compatible mode; absent or `raw` in plaintext mode"),
        ("msg_signature" = Option<String>, Query, description = "The signature over the ciphertext, in safe and compatible mode"),
    ),
    request_body(content = String, content_type = "text/xml", description = "WeChat's `<xml>…</xml>` message or event"),
    responses(
        (status = 200, description = "`success`", body = String, content_type = "text/plain", example = "success"),
        (status = 400, description = "`rejected`: the XML or a parameter is malformed", body = ErrorBody),
        (status = 403, description = "`rejected`: a signature is missing or wrong, the timestamp is more than `timestamp_window_secs` from now, a plaintext push to an account that requires encryption, or a `(timestamp, nonce)` already used with another body", body = ErrorBody),
        (status = 404, description = "No such WeChat account", body = ErrorBody),
        (status = 413, description = "`too_large`: the body is over the webhook's cap (a sixteenth of NATS's max_payload, 64 KiB by default), or the message would not fit on NATS", body = ErrorBody),
        (status = 503, description = "Not durable yet; WeChat retries", body = ErrorBody),
    ),
)]
pub async fn push(
    State(app): State<Arc<App>>,
    Path(account): Path<String>,
    ApiQuery(q): ApiQuery<PushQuery>,
    body: Bytes,
) -> Response {
    let keys = match keys(&app, &account) {
        Ok(k) => k,
        Err(e) => return e.into_response(),
    };
    if let Err(e) = super::intake::check_provider_body(&app, body.len()) {
        app.metrics.ingress("wechat", &account, Outcome::rejected);
        return e.into_response();
    }
    let now = chrono::Utc::now();
    // The live channels, like the keys: whether encryption is required
    // follows a rotated (or removed) AES key.
    let Some((window, require_encryption)) = app.live().settings.channels.wechat.get(&account).map(|config| {
        (Duration::from_secs(config.timestamp_window_secs), config.requires_encryption())
    }) else {
        return ApiError::not_found("WeChat account").into_response();
    };
    let policy = PushPolicy { require_encryption, max_skew: window, now };
    let verified = match Verified::check_push(&keys, &q, &body, &policy) {
        Ok(v) => v,
        Err(e) => {
            app.metrics.ingress("wechat", &account, Outcome::rejected);
            return reject(&e);
        }
    };
    let push = match switchboard_wechat::decode(&account, &verified, ulid::Ulid::new().to_string(), now) {
        Ok(p) => p,
        Err(e) => {
            app.metrics.ingress("wechat", &account, Outcome::rejected);
            return reject(&e);
        }
    };
    // A signed (timestamp, nonce) goes with one body: the same body again is
    // WeChat's retry, another body a forgery from a captured URL. The claim
    // outlives the window the timestamp is accepted in.
    let hash = sha256_hex(&body);
    let claim_key = app.store.keys().wechat_push(&account, verified.timestamp(), &key_part(verified.nonce()));
    let claimed = match app.store.claim_request(&claim_key, &hash, window * 2 + Duration::from_secs(60)).await {
        Ok(Claim::New | Claim::Retry { durable: false }) => true,
        Ok(Claim::Retry { durable: true }) => {
            app.metrics.ingress("wechat", &account, Outcome::duplicate);
            return text("success".into());
        }
        Ok(Claim::Conflict) => {
            app.metrics.ingress("wechat", &account, Outcome::rejected);
            return ApiError::new(StatusCode::FORBIDDEN, "rejected", "this timestamp and nonce were signed for another body (replay)")
                .into_response();
        }
        // Redis away: an encrypted message's body is covered by its
        // msg_signature, so the claim would only short-cut WeChat's retries,
        // which MsgId absorbs downstream; the message is taken without it
        // (intake keeps accepting through a Redis outage). A plaintext body
        // is bound to its signed URL by the claim alone, and an event needs
        // Redis anyway: WeChat retries those.
        Err(e) if verified.was_encrypted() && matches!(push, Push::Message(_)) => {
            tracing::debug!(error = %e, "push claim not recorded (Redis unavailable); the encrypted message is taken, MsgId absorbs a retry");
            false
        }
        Err(e) => {
            app.metrics.ingress("wechat", &account, Outcome::retry);
            return ApiError::unavailable(&e).into_response();
        }
    };
    let result = match push {
        Push::Message(mut msg) => publish(&app, &mut msg).await,
        Push::Event(event) => handle_event(&app, &account, &event, now).await,
    };
    // Only a push taken for good short-cuts its retries; one that failed
    // stays claimed as pending, so WeChat's retry is taken again (its
    // repeat, if any, is absorbed by MsgId downstream) and never lost.
    match result {
        Ok(outcome) => {
            if claimed {
                if let Err(e) = app.store.claim_done(&claim_key, &hash).await {
                    tracing::debug!(error = %e, "push taken; a retry of it is taken again and absorbed by MsgId");
                }
            }
            app.metrics.ingress("wechat", &account, outcome);
            text("success".into())
        }
        Err(PushError::Refused(e)) => {
            app.metrics.ingress("wechat", &account, Outcome::rejected);
            e.into_response()
        }
        Err(PushError::Unavailable(e)) => {
            app.metrics.ingress("wechat", &account, Outcome::retry);
            ApiError::unavailable(&e).into_response()
        }
        Err(PushError::NotDurable(e)) => {
            app.metrics.ingress("wechat", &account, Outcome::retry);
            e.into_response()
        }
    }
}

/// Why a verified push was not taken: refused for good (4xx), or not
/// durable yet (503, WeChat retries).
enum PushError {
    Refused(ApiError),
    Unavailable(crate::outbound::BoxError),
    /// The publish was not acknowledged: the answer says so.
    NotDurable(ApiError),
}

impl<E: Into<crate::outbound::BoxError>> From<E> for PushError {
    fn from(e: E) -> Self {
        PushError::Unavailable(e.into())
    }
}

async fn publish(app: &App, msg: &mut switchboard_core::InboundMessage) -> Result<Outcome, PushError> {
    match super::intake::publish_inbound(app, msg).await {
        Ok(()) => Ok(Outcome::ok),
        Err(super::intake::NotTaken::Refused(e)) => Err(PushError::Refused(e)),
        Err(super::intake::NotTaken::Unavailable(e)) => Err(PushError::NotDurable(e)),
    }
}

/// Events update the customer's profile (a [`Notice`] on the bus, applied
/// by the router); a menu click is also a message to the team. Retries of
/// the same event are absorbed by the bus's de-duplication.
async fn handle_event(
    app: &App,
    account: &str,
    event: &WechatEvent,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Outcome, PushError> {
    let mut fields = vec![("wechat_last_event".to_owned(), event.kind.as_str().to_owned())];
    match event.kind {
        switchboard_wechat::EventKind::Subscribe => fields.push(("wechat_subscribed".into(), "1".into())),
        switchboard_wechat::EventKind::Unsubscribe => fields.push(("wechat_subscribed".into(), "0".into())),
        _ => {}
    }
    if let Some(scene) = &event.scene {
        fields.push(("wechat_scene".into(), scene.clone()));
    }
    if let Some((lat, lon, precision)) = event.location {
        fields.push(("wechat_location".into(), format!("{lat},{lon},{precision}")));
    }
    if event.kind.opens_reply_window() {
        // The receive time, never the sender's CreateTime: a far-future
        // CreateTime would keep the 48-hour window open for ever.
        fields.push(("wechat_last_interaction_ms".into(), now.timestamp_millis().to_string()));
    }
    let notice = Notice::Profile {
        channel: Channel::Wechat,
        account: account.to_owned(),
        identity_kind: format!("wechat-{account}"),
        identity: event.open_id.clone(),
        fields,
        received_at: now,
    };
    // WeChat's retries of the event carry its dedupe key: absorbed by the bus.
    super::intake::publish_notice(app, &notice, &event.dedupe_key).await.map_err(PushError::NotDurable)?;
    if event.kind.is_conversational() {
        let mut msg = switchboard_core::InboundMessage {
            id: ulid::Ulid::new().to_string(),
            channel: Channel::Wechat,
            account: account.to_owned(),
            provider_message_id: format!("event:{}", event.dedupe_key),
            customer: event.open_id.clone(),
            to: Some(event.to.clone()),
            display_name: None,
            text: format!("[menu] {}", event.event_key.as_deref().unwrap_or("")),
            attachments: vec![],
            received_at: now,
            metadata: Default::default(),
        };
        return publish(app, &mut msg).await;
    }
    Ok(Outcome::ok)
}
