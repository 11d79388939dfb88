//! The send claim around each provider call (the Redis side is
//! `store::sending`): how long a claim lasts, which channels resend after
//! the crash window, and what a delivery of the outbound stream does with
//! the claim it finds.

use std::time::Duration;

use async_nats::jetstream::{AckKind, Message};
use switchboard_core::{Channel, Masked, OutboundMessage, SendReceipt};
use tokio_util::sync::CancellationToken;

use super::STATE_TTL;
use crate::app::App;
use crate::bus::consume::{ack, patiently};
use crate::config::OutboundSettings;
use crate::store::sending::{SendClaim, Unclaim};
use crate::store::StoreError;
use crate::telemetry::Outcome;

/// A claim never lasts less: a crashed sender's message waits this long
/// at least before it is settled.
const LEASE_MIN: Duration = Duration::from_secs(10);
/// Nor more, whatever the retry settings say.
const LEASE_MAX: Duration = Duration::from_secs(15 * 60);
/// Room for what surrounds the provider calls: Redis round trips, the wait
/// for another replica's WeChat token.
const LEASE_SLACK: Duration = Duration::from_secs(20);
/// A sender gives up its own call this long before its lease ends, so
/// that a lease that ran out always means a sender that is gone, and the
/// sender still has time to record how its call ended.
const LEASE_MARGIN: Duration = Duration::from_secs(3);
/// Attempts at recording a provider's answer before giving up (the
/// message is acknowledged either way: it was sent).
const RECORD_ATTEMPTS: u32 = 3;

/// How long a claim lasts: longer than one send can take, which is two
/// provider calls (WeChat calls again after refreshing its access token),
/// each of `max_attempts` requests of `request_timeout` with the backoff
/// waits between them; bounded by [`LEASE_MIN`] and [`LEASE_MAX`].
pub(super) fn lease(o: &OutboundSettings) -> Duration {
    let call = o.request_timeout().saturating_mul(o.max_attempts)
        + o.max_delay().saturating_mul(o.max_attempts.saturating_sub(1));
    (call.saturating_mul(2) + LEASE_SLACK).clamp(LEASE_MIN, LEASE_MAX)
}

/// How long a sender lets its own call run under a claim of `lease`.
pub(super) fn deadline(lease: Duration) -> Duration {
    lease.saturating_sub(LEASE_MARGIN)
}

/// Whether a second send of the same outbound message is recognised
/// downstream as a repeat, which makes resending after the crash window
/// safe: email carries the stable `Message-ID: <outbound id@domain>`, and
/// a web chat reply goes into the visitor's slot `out:<outbound id>`,
/// stored once. Twilio and WeChat have no idempotency key: a resend is a
/// second text on the customer's phone.
pub(super) fn resend_is_recognised(channel: Channel) -> bool {
    match channel {
        Channel::Email | Channel::Webchat => true,
        Channel::Sms | Channel::Wechat => false,
    }
}

/// Claims the send of `out` for `lease`. `Some(token)` when this delivery
/// is to call the provider; otherwise the message has been acknowledged or
/// handed back here.
pub(super) async fn begin(app: &App, msg: &Message, out: &OutboundMessage, lease: Duration, stop: &CancellationToken) -> Option<String> {
    let token = ulid::Ulid::new().to_string();
    let resend = resend_is_recognised(out.channel);
    // A Redis outage is waited out in place (it spends no delivery).
    let claimed = patiently(msg, "sender", &app.metrics, stop, StoreError::is_transient, || {
        app.store.claim_send(out, &token, lease, resend, STATE_TTL)
    })
    .await?;
    let claim = match claimed {
        Ok(claim) => claim,
        Err(e) => {
            tracing::warn!(error = %e, "cannot claim the send; retrying");
            ack(msg, AckKind::Nak(Some(Duration::from_secs(1)))).await;
            return None;
        }
    };
    match claim {
        SendClaim::Claimed => Some(token),
        SendClaim::TakenOver { claimed_at_ms } => {
            crash_window(app, out, claimed_at_ms, "resending: the receiving side recognises a repeat");
            Some(token)
        }
        SendClaim::MarkedUncertain { claimed_at_ms } => {
            crash_window(app, out, claimed_at_ms, "marked uncertain: a resend could reach the customer twice");
            tell_uncertain(app, msg, out).await;
            None
        }
        SendClaim::Done(state) if state == "uncertain" => {
            // The agent may not have been told yet (the event is appended
            // once per outbound id, so telling again is absorbed).
            tell_uncertain(app, msg, out).await;
            None
        }
        SendClaim::Done(_) => {
            // Sent or failed before: this is a redelivery.
            app.metrics.egress(out.channel.as_str(), &out.account, Outcome::duplicate);
            ack(msg, AckKind::Ack).await;
            None
        }
        SendClaim::Busy(left) => {
            // Another replica is calling the provider (JetStream redelivered
            // past `ack_wait`). Its ack settles the message; look again only
            // once its lease is over. A shorter wait would use up
            // `nats.max_deliver` before a crashed claim could be settled.
            tracing::debug!(outbound = %out.id, left_ms = left.as_millis() as u64, "another sender holds the claim");
            ack(msg, AckKind::Nak(Some(left + Duration::from_millis(100)))).await;
            None
        }
    }
}

/// The crash window: a claim whose sender never recorded the provider's
/// answer.
fn crash_window(app: &App, out: &OutboundMessage, claimed_at_ms: i64, resolution: &str) {
    app.metrics.outbound_uncertain(out.channel.as_str());
    let age_ms = chrono::Utc::now().timestamp_millis().saturating_sub(claimed_at_ms);
    tracing::warn!(
        outbound = %out.id, conversation = %out.conversation_id, channel = %out.channel, account = %out.account,
        age_ms, resolution, "a sender died between claiming a send and recording the provider's answer"
    );
}

/// What the agent is told of a send marked `uncertain` (`send_failed`
/// with `reason: "uncertain"`).
const UNCERTAIN: &str = "the sender stopped during the provider call: the reply may or may not have reached the customer; check with the customer before sending it again";

/// Tells the agent that the send of `out` is `uncertain`, then
/// acknowledges; if the event cannot be recorded yet, hands the message
/// back, and the redelivery (which finds the final state) tells again.
async fn tell_uncertain(app: &App, msg: &Message, out: &OutboundMessage) {
    match super::announce(app, &out.id, "uncertain", Some("uncertain"), UNCERTAIN).await {
        Ok(()) => ack(msg, AckKind::Ack).await,
        Err(e) => {
            tracing::warn!(error = %e, outbound = %out.id, "cannot tell the agent of an uncertain send yet; retrying");
            ack(msg, AckKind::Nak(Some(Duration::from_secs(1)))).await;
        }
    }
}

/// The sender gave up its own call at the deadline: the provider may or
/// may not have the message, as in the crash window, but this sender can
/// settle it at once.
pub(super) async fn abandoned(app: &App, msg: &Message, out: &OutboundMessage, token: &str) {
    app.metrics.outbound_uncertain(out.channel.as_str());
    let resend = resend_is_recognised(out.channel);
    let how = if resend { Unclaim::Release } else { Unclaim::Uncertain };
    tracing::warn!(outbound = %out.id, channel = %out.channel, resend, "the provider call ran out of time; its outcome is unknown");
    if let Err(e) = app.store.unclaim_send(&out.id, token, how).await {
        // The lease runs out by itself; a redelivery settles it then.
        tracing::warn!(error = %e, "cannot settle the abandoned send");
        ack(msg, AckKind::Nak(Some(Duration::from_secs(1)))).await;
        return;
    }
    if resend {
        ack(msg, AckKind::Nak(Some(Duration::from_secs(1)))).await;
    } else {
        tell_uncertain(app, msg, out).await;
    }
}

/// Drops our claim after a failure that sent nothing, so that the
/// redelivery claims afresh.
pub(super) async fn release(app: &App, out: &OutboundMessage, token: &str) {
    if let Err(e) = app.store.unclaim_send(&out.id, token, Unclaim::Release).await {
        tracing::warn!(error = %e, outbound = %out.id, "cannot release the send claim; the redelivery waits for its lease");
    }
}

/// Records that the provider has `out`: the first thing after its answer,
/// since until then a redelivery cannot know. Tried a few times; the
/// message counts as sent either way, and is never sent again by this
/// delivery.
pub(super) async fn record_sent(app: &App, out: &OutboundMessage, receipt: &SendReceipt) {
    let provider_id = Some(receipt.provider_message_id.as_str()).filter(|p| !p.is_empty());
    for n in 1..=RECORD_ATTEMPTS {
        match app.store.mark_outbound(out, "sent", provider_id, STATE_TTL).await {
            Ok(()) => return,
            Err(e) if n < RECORD_ATTEMPTS => {
                tracing::warn!(error = %e, outbound = %out.id, "sent, but cannot record it yet; trying again");
                tokio::time::sleep(Duration::from_millis(100 * u64::from(n))).await;
            }
            Err(e) => tracing::warn!(
                error = %e, outbound = %out.id, to = %Masked(&out.to),
                "sent, but cannot record it; it stays `sending` and is not sent again by this delivery"
            ),
        }
    }
}
