//! The satisfaction survey (`[csat]`): once a conversation is resolved, its
//! customer is asked for a score on their channel, `csat.delay_secs` later
//! and once per resolve, and the first answer is kept on the conversation
//! (`csat` in the API), published as `switchboard.conversation.rated`
//! (also to the `[sla] supervisors` targets at or below
//! `csat.alert_at_or_below`) and counted in `/metrics` and the reports.
//!
//! * The delay is a timer among the SLA timers (`store::timers`, id
//!   `csat:<conversation>:<resolved ms>`): shared by the replicas, fired to
//!   completion once per schedule. Asking is one Redis step
//!   (`store::csat`) that does nothing when the conversation was reopened
//!   or resolved again since, or this resolve was asked already, so a
//!   timer that fires twice asks once.
//! * SMS and WeChat get the question as text; a reply that is only a score
//!   ([`parse_score`]) within `csat.window_secs` is recorded by the router
//!   ([`intercept`]) instead of being routed, anything else is a message
//!   as before (and reopens). Email gets one signed, expiring link per
//!   score (`GET /csat/{token}`, see [`token`] and [`record_link`]).
//! * Web chat gets the question as a message and a `csat` frame (the
//!   widget shows stars and, with `csat.comment`, a comment box, and
//!   answers with a `csat` frame: [`record_chat`]); a visitor who was away
//!   sees the message and may answer with a score like an SMS customer.

mod score;
pub mod token;

pub use score::parse as parse_score;

use chrono::{DateTime, Utc};
use switchboard_core::{Channel, InboundMessage, Masked, OutboundMessage};
use switchboard_webchat::ServerFrame;

use crate::app::App;
use crate::model::ConversationState;
use crate::store::{CsatAnswer, CsatAsk, CsatSubject, StoreError};

/// How the resolve came about, for whether the customer is asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// An agent, the admin or a command resolved it.
    Resolved,
    /// Closed for inactivity (`routing.auto_close_after_secs`).
    Inactive,
}

const TIMER_PREFIX: &str = "csat:";

/// How long the question's send record is kept.
const SEND_RECORD_TTL_SECS: u64 = 30 * 24 * 3600;

/// Schedules the question after a resolve at `resolved_ms` (best effort:
/// a failure to schedule loses one survey, never the resolve).
pub async fn after_resolve(app: &App, conversation: &str, resolved_ms: i64, ending: Ending) {
    let live = app.live();
    let csat = &live.settings.csat;
    if !csat.enabled || (ending == Ending::Inactive && !csat.ask_auto_closed) {
        return;
    }
    let delay_ms = i64::try_from(csat.delay_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
    let id = format!("{TIMER_PREFIX}{conversation}:{resolved_ms}");
    if let Err(e) = app.sla_timers.schedule(&id, resolved_ms.saturating_add(delay_ms), "").await {
        tracing::warn!(error = %e, conversation, "the satisfaction question could not be scheduled");
    }
}

/// The conversation and resolve of a survey timer id, if it is one.
pub fn timer(id: &str) -> Option<(&str, i64)> {
    let (conversation, round) = id.strip_prefix(TIMER_PREFIX)?.rsplit_once(':')?;
    Some((conversation, round.parse().ok()?))
}

/// The question of the resolve `round` goes out (a timer fired). `Err`:
/// Redis is away, the timer fires again.
pub async fn ask(app: &App, conversation: &str, round: i64) -> Result<(), StoreError> {
    let Some(conv) = app.store.conversation(conversation).await? else { return Ok(()) };
    let live = app.live();
    let csat = &live.settings.csat;
    let resolved_at = conv.resolved_at.map(|t| t.timestamp_millis());
    if !csat.enabled || conv.state != ConversationState::Resolved || resolved_at != Some(round) || conv.csat.is_some() {
        app.metrics.care.asked(conv.channel.as_str(), "skipped");
        return Ok(());
    }
    let address = conv.address.clone().unwrap_or_default();
    if conv.channel == Channel::Sms && app.store.is_opted_out(&conv.account, &address).await? {
        app.metrics.care.asked(conv.channel.as_str(), "skipped");
        return Ok(());
    }
    let now = Utc::now();
    let question = csat.question.pick(conv.language.as_deref()).to_owned();
    let text = match conv.channel {
        Channel::Email => match email_text(app, &question, conversation, round, now) {
            Some(text) => text,
            None => {
                tracing::warn!(conversation, "csat.link_secret is not set: no survey by email");
                return Ok(());
            }
        },
        _ => question,
    };
    // Letters and digits only: the id names provider messages and an email Message-ID.
    let id = format!("Q{conversation}{round}");
    let outbound = OutboundMessage {
        id: id.clone(),
        conversation_id: conversation.to_owned(),
        channel: conv.channel,
        account: conv.account.clone(),
        to: address,
        text: text.clone(),
        media_urls: vec![],
        media_ids: vec![],
        agent: None,
        automated: Some(switchboard_core::Automated::System),
        created_at: now,
    };
    let ask_text = text.clone();
    let stored = serde_json::json!({
        "id": id, "direction": "outbound", "channel": conv.channel, "account": conv.account,
        "text": text, "outbound_ids": [id], "at": now,
    });
    let ask = CsatAsk {
        conversation,
        round,
        outbound_id: &id,
        outbound: serde_json::to_string(&outbound).unwrap_or_default(),
        stored: stored.to_string(),
        channel: conv.channel.as_str(),
        ttl_secs: SEND_RECORD_TTL_SECS,
        now_ms: now.timestamp_millis(),
    };
    let (outcome, entries) = app.store.csat_ask(&ask).await?;
    crate::outbox::flush_events(app, &entries).await;
    let asked = outcome == "asked";
    if asked && conv.channel == Channel::Webchat {
        let frame = ServerFrame::Csat { id: id.clone(), question: ask_text, scale: csat.scale, comment: csat.comment };
        crate::outbound::webchat::push(app, &outbound.to, &frame, None).await;
    }
    app.metrics.care.asked(conv.channel.as_str(), if asked { "asked" } else { "skipped" });
    if asked {
        tracing::info!(conversation, channel = %conv.channel, "satisfaction question sent");
    }
    Ok(())
}

/// The email question: the text, then one link per score, best first.
fn email_text(app: &App, question: &str, conversation: &str, round: i64, now: DateTime<Utc>) -> Option<String> {
    let live = app.live();
    let csat = &live.settings.csat;
    let secret = csat.link_secret.as_ref()?;
    let expires = now.timestamp().saturating_add(i64::try_from(csat.window_secs).unwrap_or(i64::MAX));
    let base = app.settings.server.public_url.trim_end_matches('/');
    let mut text = format!("{question}\n");
    for score in (1..=csat.scale).rev() {
        let claims = token::Claims { conversation: conversation.to_owned(), round, score, expires };
        let token = token::sign(secrecy::ExposeSecret::expose_secret(secret).as_bytes(), &claims);
        text.push_str(&format!("\n{} {score}: {base}/csat/{token}", stars(score)));
    }
    Some(text)
}

fn stars(score: u8) -> String {
    "★".repeat(usize::from(score))
}

/// Records a customer's text reply as the score of their last resolved
/// conversation, when it is only a score and answers a question asked
/// within the window; `Ok(true)`: recorded (or recorded before by this
/// very message), so it is not routed. SMS and WeChat only.
pub async fn intercept(app: &App, inbound: &InboundMessage) -> Result<bool, StoreError> {
    let live = app.live();
    let csat = &live.settings.csat;
    if !csat.enabled || !matches!(inbound.channel, Channel::Sms | Channel::Wechat | Channel::Webchat) || !inbound.attachments.is_empty() {
        return Ok(false);
    }
    let Some(score) = parse_score(&inbound.text, csat.scale) else { return Ok(false) };
    let (kind, value) = crate::routing::identity(inbound);
    let answer = CsatAnswer {
        subject: CsatSubject::Customer(&kind, &value),
        score,
        comment: "",
        carrier: &inbound.id,
        window_ms: window_ms(csat.window_secs),
        alert: score <= csat.alert_at_or_below,
        now_ms: Utc::now().timestamp_millis(),
    };
    let (recorded, entries) = app.store.csat_record(&answer).await?;
    crate::outbox::flush_events(app, &entries).await;
    match recorded.outcome.as_str() {
        "recorded" => {
            app.metrics.care.rated(&recorded.queue, &recorded.agent, score);
            tracing::info!(conversation = %recorded.conversation, customer = %Masked(&inbound.customer), score, "satisfaction score recorded");
            Ok(true)
        }
        "duplicate" => Ok(true),
        _ => Ok(false),
    }
}

/// Records a web chat visitor's `csat` frame as the score of their last
/// resolved conversation; the score kept (now, or before by the same
/// frame resent), or `None` when nothing asks for it (out of the scale, no
/// question, expired, rated already).
pub async fn record_chat(app: &App, visitor: &str, score: u8, comment: &str) -> Result<Option<u8>, StoreError> {
    let live = app.live();
    let csat = &live.settings.csat;
    if !csat.enabled || score == 0 || score > csat.scale {
        return Ok(None);
    }
    let comment = if csat.comment { comment } else { "" };
    // The same answer resent is recognised; another score after it is refused.
    let carrier = format!("webchat:{score}");
    let answer = CsatAnswer {
        subject: CsatSubject::Customer("visitor", visitor),
        score,
        comment,
        carrier: &carrier,
        window_ms: window_ms(csat.window_secs),
        alert: score <= csat.alert_at_or_below,
        now_ms: Utc::now().timestamp_millis(),
    };
    let (recorded, entries) = app.store.csat_record(&answer).await?;
    crate::outbox::flush_events(app, &entries).await;
    Ok(match recorded.outcome.as_str() {
        "recorded" => {
            app.metrics.care.rated(&recorded.queue, &recorded.agent, score);
            tracing::info!(conversation = %recorded.conversation, score, "satisfaction score recorded from the web chat");
            Some(score)
        }
        "duplicate" => Some(score),
        _ => None,
    })
}

fn window_ms(secs: u64) -> i64 {
    i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX)
}

/// What a survey link did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkOutcome {
    /// The score is recorded.
    Recorded(u8),
    /// Forged or altered.
    Forged,
    /// Expired, or the question was for another resolve.
    Expired,
    /// The conversation has another score already.
    Used,
}

/// Records the score of an email survey link.
pub async fn record_link(app: &App, token: &str) -> Result<LinkOutcome, StoreError> {
    let live = app.live();
    let csat = &live.settings.csat;
    let Some(secret) = csat.link_secret.as_ref().filter(|_| csat.enabled) else { return Ok(LinkOutcome::Forged) };
    let now = Utc::now();
    let claims = match token::verify(secrecy::ExposeSecret::expose_secret(secret).as_bytes(), token, now.timestamp()) {
        Ok(claims) => claims,
        Err(token::TokenError::Forged) => return Ok(LinkOutcome::Forged),
        Err(token::TokenError::Expired) => return Ok(LinkOutcome::Expired),
    };
    if claims.score == 0 || claims.score > csat.scale {
        return Ok(LinkOutcome::Forged);
    }
    let carrier = format!("link:{}", claims.score);
    let answer = CsatAnswer {
        subject: CsatSubject::Conversation { id: &claims.conversation, round: claims.round },
        score: claims.score,
        comment: "",
        carrier: &carrier,
        window_ms: window_ms(csat.window_secs),
        alert: claims.score <= csat.alert_at_or_below,
        now_ms: now.timestamp_millis(),
    };
    let (recorded, entries) = app.store.csat_record(&answer).await?;
    crate::outbox::flush_events(app, &entries).await;
    Ok(match recorded.outcome.as_str() {
        "recorded" => {
            app.metrics.care.rated(&recorded.queue, &recorded.agent, claims.score);
            tracing::info!(conversation = %recorded.conversation, score = claims.score, "satisfaction score recorded from the email link");
            LinkOutcome::Recorded(claims.score)
        }
        // Single-use: the same link again, or another one, changes nothing.
        "duplicate" | "rated" => LinkOutcome::Used,
        "expired" | "stale" | "not_asked" => LinkOutcome::Expired,
        _ => LinkOutcome::Forged,
    })
}
