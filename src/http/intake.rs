//! What every intake shares about size: the body caps of the provider
//! webhooks, derived from what NATS can take, and the one encoding of an
//! inbound message that is checked against the server's `max_payload`
//! before it is published.
//!
//! NATS drops the whole connection (and every request in flight on it,
//! whatever its channel) when one message is over `max_payload`, so a
//! message that cannot fit is refused here with 413 — or, for email, cut
//! down to fit with a note — and never sent. [`crate::bus::Bus::publish`]
//! checks again, as the last line.
//!
//! How the caps are derived, with `M` = the server's `max_payload` (1 MiB
//! unless the server is configured otherwise):
//!
//! * SMS and WeChat bodies: at most `M / 16` (64 KiB with 1 MiB), and
//!   `server.max_body_bytes`. One body byte becomes at most 6 bytes of
//!   JSON (a control character escaped as `\u00XX`), the metadata is
//!   bounded (32 × 576 bytes before escaping), and the routed message's
//!   events carry the text again: 16 leaves room for all of it. A Twilio
//!   webhook (1,600 characters, 10 media URLs) is a few KiB, a WeChat push
//!   less, so no real request comes near.
//! * Email: bodies up to `server.max_body_bytes` (attachments make mail
//!   large). Attachments are only listed (name, size, type), never carried;
//!   the text is cut at `M / 4` bytes of JSON, so that its events fit too,
//!   with `metadata.truncated = "true"` and the original size in
//!   `metadata.text_bytes`, and a line at the end of the text telling the
//!   agent. If the listing still does not fit, the list is cut too
//!   (`metadata.attachments_omitted`).

use axum::http::StatusCode;
use switchboard_core::{Channel, InboundMessage, Masked};

use super::error::ApiError;
use crate::app::App;
use crate::telemetry::Outcome;

/// The part of `max_payload` a provider webhook body may use.
const PROVIDER_BODY_SHARE: usize = 16;
/// The part of `max_payload` an email's text may use, in JSON bytes.
const EMAIL_TEXT_SHARE: usize = 4;

/// 413 `too_large` naming what is too large.
pub fn too_large(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", message)
}

/// The answer to a publish that failed: 413 for a message NATS can never
/// take (a retry would not help), else 503 so that the provider retries.
pub fn publish_failed(e: &crate::bus::BusError) -> ApiError {
    if e.is_too_large() {
        return too_large(e.to_string());
    }
    ApiError::unavailable(e)
}

/// The body cap of the SMS and WeChat webhooks (see the module doc).
pub fn provider_body_cap(app: &App) -> usize {
    (app.bus.max_payload() / PROVIDER_BODY_SHARE).min(app.settings.server.max_body_bytes)
}

/// 413 when `len` is over [`provider_body_cap`].
pub fn check_provider_body(app: &App, len: usize) -> Result<(), ApiError> {
    let cap = provider_body_cap(app);
    if len > cap {
        return Err(too_large(format!("the body is {len} bytes; this webhook takes at most {cap}")));
    }
    Ok(())
}

/// The JSON of `msg`, published under `msg_id`: 413 when it is over what
/// the server takes.
pub fn encode(app: &App, msg: &InboundMessage, msg_id: &str) -> Result<Vec<u8>, ApiError> {
    let payload = serde_json::to_vec(msg).map_err(|e| ApiError::unavailable(&e))?;
    let limit = app.bus.payload_limit(msg_id.len());
    if payload.len() > limit {
        return Err(too_large(format!(
            "the message is {} bytes once encoded; at most {limit} can be published",
            payload.len()
        )));
    }
    Ok(payload)
}

/// [`encode`] for an email: the text cut at its budget and, if it still
/// does not fit, the attachment list cut, each with a note in metadata
/// (see the module doc). 413 only when even that does not fit.
pub fn encode_email(app: &App, msg: &mut InboundMessage, msg_id: &str) -> Result<Vec<u8>, ApiError> {
    let max_payload = app.bus.max_payload();
    switchboard_email::fit(msg, max_payload / EMAIL_TEXT_SHARE, app.bus.payload_limit(msg_id.len()));
    encode(app, msg, msg_id)
}

/// Why an inbound message was not taken: refused for good (413: it can
/// never fit on NATS; the provider must not retry), or not durable yet
/// (503: the provider retries).
#[derive(Debug)]
pub enum NotTaken {
    /// 4xx, counted `rejected`.
    Refused(ApiError),
    /// 503, counted `retry`.
    Unavailable(ApiError),
}

impl NotTaken {
    /// The ingress outcome to count.
    pub fn outcome(&self) -> Outcome {
        match self {
            NotTaken::Refused(_) => Outcome::rejected,
            NotTaken::Unavailable(_) => Outcome::retry,
        }
    }

    /// The answer to the provider.
    pub fn into_error(self) -> ApiError {
        match self {
            NotTaken::Refused(e) | NotTaken::Unavailable(e) => e,
        }
    }
}

/// The one way a verified provider notice (a delivery status, a profile
/// event) goes onto the bus: to `P.inbound.notice.<channel>` under the
/// de-duplication key `notice:<channel>:<account>:<key>`, waited for with
/// the bounded ack. The caller answers the provider only after `Ok`; the
/// router applies it.
pub async fn publish_notice(app: &App, notice: &switchboard_core::Notice, key: &str) -> Result<(), ApiError> {
    let channel = notice.channel();
    let msg_id = format!("notice:{channel}:{}:{key}", notice.account());
    let payload = serde_json::to_vec(notice).map_err(|e| ApiError::unavailable(&e))?;
    app.bus.publish(app.bus.subjects().notice(channel), &msg_id, payload.into()).await.map_err(|e| publish_failed(&e))?;
    Ok(())
}

/// The one way a verified, decoded provider message goes onto the bus:
/// encoded (an email cut to fit first), published to `P.inbound.<channel>`
/// under the de-duplication key `<channel>:<account>:<provider id>` and
/// waited for with the bounded ack, then logged once (the customer
/// masked, never the text). The caller answers the provider only after
/// `Ok`, and counts the outcome.
pub async fn publish_inbound(app: &App, msg: &mut InboundMessage) -> Result<(), NotTaken> {
    let channel = msg.channel;
    let msg_id = format!("{}:{}:{}", channel.as_str(), msg.account, msg.provider_message_id);
    let payload = if channel == Channel::Email {
        let payload = encode_email(app, msg, &msg_id).map_err(NotTaken::Refused)?;
        if msg.metadata.get("truncated").is_some() {
            tracing::info!(channel = "email", account = %msg.account, message = %msg.id, "inbound email cut to fit the bus (metadata.truncated)");
        }
        payload
    } else {
        encode(app, msg, &msg_id).map_err(NotTaken::Refused)?
    };
    if let Err(e) = app.bus.publish(app.bus.subjects().inbound(channel), &msg_id, payload.into()).await {
        let answer = publish_failed(&e);
        return Err(if e.is_too_large() { NotTaken::Refused(answer) } else { NotTaken::Unavailable(answer) });
    }
    tracing::info!(
        channel = channel.as_str(),
        account = %msg.account,
        from = %Masked(&msg.customer),
        message = %msg.id,
        "inbound accepted"
    );
    Ok(())
}
