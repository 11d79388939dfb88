//! Providers' notices, taken by the `router` consumer beside the messages
//! (they share the inbound stream, on `P.inbound.notice.<channel>`): a
//! delivery status is recorded on the outbound message (a state never
//! moves back) and a failure becomes one `send_failed` event for the
//! agent; profile fields are set on the customer. Both are idempotent, so
//! a redelivered notice changes nothing more. A notice is acknowledged
//! only once Redis holds it; an outage is waited out in place.

use async_nats::jetstream::{AckKind, Message};
use switchboard_core::Notice;
use tokio_util::sync::CancellationToken;

use crate::app::App;
use crate::bus::consume::{ack, decode_or_term, patiently};
use crate::store::StoreError;

/// Why applying a notice failed: Redis or the event log (all transient).
#[derive(Debug, thiserror::Error)]
pub enum NoticeError {
    /// Redis.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Putting the agent's event on the log.
    #[error("announcing a failed send: {0}")]
    Announce(String),
}

impl NoticeError {
    fn is_transient(&self) -> bool {
        match self {
            NoticeError::Store(e) => e.is_transient(),
            NoticeError::Announce(_) => true,
        }
    }
}

/// Takes one notice off the inbound stream.
pub async fn handle(app: &App, msg: Message, stop: &CancellationToken) {
    let Some(notice) = decode_or_term::<Notice>(&msg, &app.metrics, "router").await else { return };
    let applied = patiently(&msg, "router", &app.metrics, stop, NoticeError::is_transient, || apply(app, &notice)).await;
    match applied {
        None => {}
        Some(Ok(outcome)) => {
            ack(&msg, AckKind::Ack).await;
            let kind = match notice {
                Notice::Delivery { .. } => "delivery",
                Notice::Profile { .. } => "profile",
            };
            app.metrics.notice(notice.channel().as_str(), kind, outcome);
        }
        Some(Err(e)) => {
            // Not an outage: stored data this version cannot read.
            tracing::error!(error = %e, channel = %notice.channel(), account = notice.account(), "a provider notice cannot be applied");
            app.metrics.poison("router");
            ack(&msg, AckKind::Term).await;
        }
    }
}

/// Records `notice`; how it went: `applied`, `unchanged` (a delivery
/// state older than the one known) or `unknown` (not one of our messages).
pub async fn apply(app: &App, notice: &Notice) -> Result<&'static str, NoticeError> {
    match notice {
        Notice::Delivery { channel, account, outbound, state, rank, error_code, failed, received_at } => {
            let meta = app.store.outbound(outbound).await?;
            if !meta.contains_key("conversation") {
                // Not one of ours any more (expired) or never: nothing to tell.
                tracing::debug!(%channel, %account, %outbound, "a delivery status of an unknown message");
                return Ok("unknown");
            }
            let applied = app.store.update_delivery(outbound, state, *rank, error_code.as_deref(), received_at.timestamp_millis()).await?;
            // Announced once per cause, also when a redelivery finds the
            // state recorded already (the step after it may have failed).
            let recorded = applied || app.store.outbound(outbound).await?.get("delivery") == Some(state);
            if *failed && recorded {
                let (cause, reason) = if state == "bounced" {
                    ("bounced", "the recipient's mail server bounced the reply".to_owned())
                } else {
                    ("delivery_failed", format!("provider reported {state} (error code {})", error_code.as_deref().unwrap_or("none")))
                };
                crate::outbound::announce_failure(app, outbound, cause, &reason)
                    .await
                    .map_err(|e| NoticeError::Announce(e.to_string()))?;
            }
            tracing::debug!(%channel, %account, %outbound, state, applied, "delivery status");
            Ok(if applied { "applied" } else { "unchanged" })
        }
        Notice::Profile { identity_kind, identity, fields, received_at, .. } => {
            let fields: Vec<(&str, String)> = fields.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
            app.store.update_profile((identity_kind, identity), &fields, received_at.timestamp_millis()).await?;
            Ok("applied")
        }
    }
}
