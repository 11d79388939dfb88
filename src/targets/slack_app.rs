//! The Slack app target (`{ kind = "slack_app", channel = "C…" }`): each
//! conversation gets one parent message in the channel, posted with
//! `chat.postMessage` (Bearer bot token) on its first event; every later
//! event goes into that message's thread (`thread_ts`), and a change of
//! state (offered, assigned, transferred, resolved, reopened, SLA warning
//! or breach) also rewrites the parent with `chat.update`. The parent's
//! `ts` is kept in Redis per conversation and target (`store::slack`), so
//! every replica threads into the same message, and the way back from the
//! thread lets `POST /integrations/slack/events` find the conversation.
//!
//! Slack answers HTTP 200 with `{"ok":false,"error":…}` for most failures:
//! `ratelimited` (or HTTP 429) waits the `Retry-After` and tries again
//! without using up an attempt (delivery keeps the conversation's order,
//! so nothing overtakes the wait); a revoked or wrong token or a channel
//! the bot cannot post in disables the target; any other error is retried
//! with backoff and then dead-lettered, as for webhooks. The update comes
//! before the thread post: an update repeated by a retry changes nothing.

use std::time::{Duration, SystemTime};

use secrecy::ExposeSecret;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use switchboard_core::{retry, Masked};

use super::robots::card::EXCERPT_CHARS;
use super::{without_url, Attempt, Targets};
use crate::config::SlackSettings;
use crate::events::{self, Event};
use crate::store::{SlackParent, Store};

/// The largest Web API answer read.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// At most this many rate-limit waits within one delivery (then the event
/// goes back to JetStream, still in order, and is tried again later).
const MAX_RATE_WAITS: u32 = 20;

/// The longest single rate-limit wait honoured in place.
const MAX_RATE_WAIT: Duration = Duration::from_secs(60);

/// Slack errors that will not go away by retrying: the target is disabled.
const DISABLING: &[&str] = &["invalid_auth", "not_authed", "channel_not_found", "not_in_channel", "account_inactive", "token_revoked", "is_archived"];

/// One Web API call's outcome.
#[derive(Debug, PartialEq)]
enum Call {
    /// `ok: true`, with the answer.
    Ok(Value),
    /// Rate limited: wait this long (Slack's `Retry-After`, else 1 s).
    RateLimited(Duration),
    /// The target refuses us for good.
    Disable(String),
    /// Anything else: retried with backoff, then dead-lettered.
    Retry(String),
    /// Refused for good, the target not at fault (dead-lettered).
    Failed(String),
}

/// The key of a conversation's parent for one target: the target key and
/// channel hashed (bounded, no `:` inside).
pub fn target_hash(key: &str, channel: &str) -> String {
    let digest = Sha256::digest(format!("{key}|{channel}").as_bytes());
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// At most `max` characters of untrusted `text`, with `…` when cut, made
/// inert for Slack's mrkdwn: `&`, `<`, `>` escaped as Slack documents (no
/// links or mentions), line breaks and backticks flattened, controls gone.
pub fn excerpt(text: &str, max: usize) -> String {
    let text = text.trim();
    let mut out = String::new();
    for c in text.chars().take(max) {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '`' => out.push('\''),
            '\r' | '\n' | '\t' => out.push(' '),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    if text.chars().nth(max).is_some() {
        out.push('…');
    }
    out
}

/// Whether the event changes what the parent message shows.
fn changes_state(event_type: &str) -> bool {
    matches!(
        event_type,
        events::OFFERED
            | events::ASSIGNED
            | events::TRANSFERRED
            | events::RESOLVED
            | events::REOPENED
            | events::SLA_WARNING
            | events::SLA_BREACHED
    )
}

/// The state line and colour of the parent after `event_type`.
fn state(event: &Event) -> (String, &'static str) {
    let agent = event.data.agent.as_deref().unwrap_or("-");
    match event.event_type.as_str() {
        events::OFFERED => (format!("Offered to {agent}"), "#439FE0"),
        events::ASSIGNED | events::TRANSFERRED | events::REOPENED => (format!("Assigned to {agent}"), "#439FE0"),
        events::RESOLVED => (format!("Resolved by {agent}"), "#2EB67D"),
        events::SLA_WARNING => (format!("SLA warning · {agent}"), "#ECB22E"),
        events::SLA_BREACHED => (format!("SLA breached · {agent}"), "#E01E5A"),
        _ => ("Waiting in the queue".to_owned(), "#888888"),
    }
}

fn due_of(event: &Event) -> Option<String> {
    let due = event.data.sla.as_ref().and_then(|s| s["due"].as_str())?;
    let due = chrono::DateTime::parse_from_rfc3339(due).ok()?;
    Some(due.with_timezone(&chrono::Utc).format("%Y-%m-%d %H:%M:%S UTC").to_string())
}

/// The parent message's `text` and `attachments` (a coloured bar with
/// Block Kit blocks): customer masked, channel, queue, state, SLA due, the
/// first message's excerpt. Pure.
pub fn parent_message(event: &Event, first: &str, due: &str, base: &str, queues: &[String]) -> (String, Value) {
    let d = &event.data;
    let dash = |s: &str| if s.is_empty() { "-".to_owned() } else { excerpt(s, 80) };
    let customer = if d.customer.address.is_empty() { "-".to_owned() } else { format!("`{}`", excerpt(&Masked(&d.customer.address).to_string(), 80)) };
    let (state, colour) = state(event);
    let headline = format!("Conversation · {} · queue {}", dash(&d.channel), dash(&d.queue));
    let mut fields = vec![
        json!({ "type": "mrkdwn", "text": format!("*Customer*\n{customer}") }),
        json!({ "type": "mrkdwn", "text": format!("*Channel*\n{}", dash(&d.channel)) }),
        json!({ "type": "mrkdwn", "text": format!("*Queue*\n{}", dash(&d.queue)) }),
        json!({ "type": "mrkdwn", "text": format!("*State*\n{state}") }),
    ];
    if !due.is_empty() {
        fields.push(json!({ "type": "mrkdwn", "text": format!("*SLA due*\n{due}") }));
    }
    let mut blocks = vec![
        json!({ "type": "header", "text": { "type": "plain_text", "text": headline } }),
        json!({ "type": "section", "fields": fields }),
    ];
    if !first.is_empty() {
        blocks.push(json!({ "type": "section", "text": { "type": "mrkdwn", "text": format!("> {first}") } }));
    }
    if let Some(actions) = buttons(&event.event_type, queues) {
        blocks.push(actions);
    }
    blocks.push(json!({ "type": "context", "elements": [ { "type": "mrkdwn", "text": format!(
        "`{}` · <{base}/api/v1/conversations/{}|Open> · reply in this thread; start with the note prefix for an internal note",
        d.conversation_id, d.conversation_id
    ) } ] }));
    let text = format!("{headline} · {state}");
    (text, json!([ { "color": colour, "blocks": blocks } ]))
}

/// The parent's buttons after `event_type` (handled by
/// `POST /integrations/slack/interactivity`): Accept and Decline while
/// offered, Resolve and a Transfer queue select until resolved.
fn buttons(event_type: &str, queues: &[String]) -> Option<Value> {
    if event_type == events::RESOLVED {
        return None;
    }
    let button = |id: &str, text: &str| json!({ "type": "button", "action_id": id, "text": { "type": "plain_text", "text": text } });
    let mut elements = Vec::new();
    if event_type == events::OFFERED {
        elements.push(button("sb_accept", "Accept"));
        elements.push(button("sb_decline", "Decline"));
    }
    elements.push(button("sb_resolve", "Resolve"));
    // Slack takes at most 100 options.
    let options: Vec<Value> = queues
        .iter()
        .take(100)
        .map(|q| json!({ "text": { "type": "plain_text", "text": excerpt(q, 70) }, "value": q }))
        .collect();
    if !options.is_empty() {
        elements.push(json!({ "type": "static_select", "action_id": "sb_transfer",
            "placeholder": { "type": "plain_text", "text": "Transfer to queue" }, "options": options }));
    }
    Some(json!({ "type": "actions", "elements": elements }))
}

/// A thread message for a later event. Pure.
pub fn thread_message(event: &Event) -> String {
    let d = &event.data;
    let what = event.event_type.rsplit('.').next().unwrap_or("event").replace('_', " ");
    let mut line = format!("*{what}*");
    if let Some(agent) = d.agent.as_deref().filter(|_| event.event_type != events::MESSAGE) {
        line.push_str(&format!(" · {}", excerpt(agent, 64)));
    }
    if let Some(text) = d.message.as_ref().map(|m| m.text.as_str()).filter(|t| !t.trim().is_empty()) {
        line.push_str(&format!("\n> {}", excerpt(text, EXCERPT_CHARS * 10)));
    }
    if let Some(reason) = d.reason.as_deref().or(d.error.as_deref()) {
        line.push_str(&format!("\n_{}_", excerpt(reason, EXCERPT_CHARS)));
    }
    line
}

/// Reads a Web API answer: HTTP status, `Retry-After`, then `ok`/`error`.
fn read_answer(status: u16, retry_after: Option<Duration>, body: &[u8]) -> Call {
    if status == 429 {
        return Call::RateLimited(retry_after.unwrap_or(Duration::from_secs(1)));
    }
    if status == 408 || status >= 500 {
        return Call::Retry(format!("Slack answered {status}"));
    }
    if !(200..300).contains(&status) {
        return Call::Failed(format!("Slack answered {status}"));
    }
    let Ok(answer) = serde_json::from_slice::<Value>(body) else {
        return Call::Retry("Slack's answer is not JSON".into());
    };
    if answer["ok"].as_bool() == Some(true) {
        return Call::Ok(answer);
    }
    let error = answer["error"].as_str().unwrap_or("unknown_error");
    // Slack's error codes are short snake_case words; anything else is
    // reported as such, not echoed.
    let error = if error.len() <= 64 && error.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') { error } else { "unexpected_error" };
    if error == "ratelimited" {
        Call::RateLimited(retry_after.unwrap_or(Duration::from_secs(1)))
    } else if DISABLING.contains(&error) {
        Call::Disable(format!("is refused by Slack ({error})"))
    } else {
        Call::Retry(format!("Slack refused it ({error})"))
    }
}

impl Targets {
    /// Delivers `event` to a `slack_app` target (`key` is its delivery
    /// key, `channel` its channel).
    /// `queues` are the names the Transfer select offers.
    pub async fn slack_app(
        &self,
        store: &Store,
        slack: &SlackSettings,
        queues: &[String],
        key: &str,
        channel: &str,
        event: &Event,
    ) -> Attempt {
        let Some(token) = slack.bot_token.as_ref().map(|t| t.expose_secret().to_owned()).filter(|t| !t.is_empty()) else {
            return Attempt::Failed("integrations.slack.bot_token is not set".into());
        };
        let conversation = event.data.conversation_id.as_str();
        let hash = target_hash(key, channel);
        let mut attempt = 1u32;
        let mut rate_waits = 0u32;
        loop {
            // A rate limit Slack gave any replica for this channel holds
            // every post to it (a Redis failure here only skips the wait).
            if let Ok(Some(pause)) = store.slack_channel_pause(channel).await {
                tokio::time::sleep(pause.min(MAX_RATE_WAIT)).await;
            }
            let outcome = self.slack_app_once(store, slack, queues, &token, (&hash, channel), conversation, event).await;
            let wait = match outcome {
                Call::Ok(_) => return Attempt::Done,
                Call::Disable(why) => return Attempt::Gone(why),
                Call::Failed(why) => return Attempt::Failed(why),
                Call::RateLimited(wait) if rate_waits < MAX_RATE_WAITS => {
                    rate_waits += 1;
                    match store.pause_slack_channel(channel, wait.min(MAX_RATE_WAIT)).await {
                        // Shared: waited at the top of the loop.
                        Ok(()) => Duration::ZERO,
                        Err(e) => {
                            tracing::debug!(error = %e, "the Slack rate limit is not shared with the other replicas");
                            wait.min(MAX_RATE_WAIT)
                        }
                    }
                }
                Call::RateLimited(_) => return Attempt::Retry("Slack rate limit: still limited".into()),
                Call::Retry(why) if attempt >= self.settings.max_attempts => return Attempt::Retry(why),
                Call::Retry(_) => {
                    attempt += 1;
                    retry::next_wait(attempt - 1, None, self.settings.base_delay(), self.settings.max_delay())
                }
            };
            tokio::time::sleep(wait).await;
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn slack_app_once(
        &self,
        store: &Store,
        slack: &SlackSettings,
        queues: &[String],
        token: &str,
        (hash, channel): (&str, &str),
        conversation: &str,
        event: &Event,
    ) -> Call {
        if conversation.is_empty() {
            // An event of no conversation (an alert): a message of its own.
            let body = json!({ "channel": channel, "text": thread_message(event), "unfurl_links": false });
            return self.slack_call(slack, token, "chat.postMessage", &body).await;
        }
        let parent = match store.slack_parent(conversation, hash).await {
            Ok(parent) => parent,
            Err(e) => return Call::Retry(format!("cannot read the Slack thread: {e}")),
        };
        let Some(parent) = parent else {
            let first = event.data.message.as_ref().map(|m| excerpt(&m.text, EXCERPT_CHARS)).unwrap_or_default();
            let due = due_of(event).unwrap_or_default();
            let (text, attachments) = parent_message(event, &first, &due, &self.public_base, queues);
            let body = json!({ "channel": channel, "text": text, "attachments": attachments, "unfurl_links": false });
            let answer = match self.slack_call(slack, token, "chat.postMessage", &body).await {
                Call::Ok(answer) => answer,
                other => return other,
            };
            let Some(ts) = answer["ts"].as_str().filter(|t| !t.is_empty()) else {
                return Call::Retry("Slack's answer has no ts".into());
            };
            let channel = answer["channel"].as_str().filter(|c| !c.is_empty()).unwrap_or(channel);
            let parent = SlackParent { ts: ts.to_owned(), channel: channel.to_owned(), first, due };
            if let Err(e) = store.set_slack_parent(conversation, hash, &parent).await {
                // Not recorded: a retry posts the parent again.
                return Call::Retry(format!("posted, but cannot record the Slack thread: {e}"));
            }
            return Call::Ok(answer);
        };
        if changes_state(&event.event_type) {
            let due = due_of(event).unwrap_or(parent.due.clone());
            let (text, attachments) = parent_message(event, &parent.first, &due, &self.public_base, queues);
            let body = json!({ "channel": parent.channel, "ts": parent.ts, "text": text, "attachments": attachments });
            match self.slack_call(slack, token, "chat.update", &body).await {
                Call::Ok(_) => {}
                // A parent deleted in Slack: the thread still takes the event.
                Call::Retry(why) if why.contains("message_not_found") || why.contains("cant_update_message") => {
                    tracing::debug!(%conversation, %why, "the Slack parent cannot be updated");
                }
                other => return other,
            }
        }
        let body = json!({ "channel": parent.channel, "thread_ts": parent.ts, "text": thread_message(event), "unfurl_links": false });
        self.slack_call(slack, token, "chat.postMessage", &body).await
    }

    /// Tells `user` alone, in the thread `thread_ts` (`chat.postEphemeral`),
    /// why their message did nothing. Best effort: a failure is logged.
    pub async fn slack_notice(&self, slack: &SlackSettings, channel: &str, user: &str, thread_ts: &str, text: &str) {
        let Some(token) = slack.bot_token.as_ref().map(|t| t.expose_secret().to_owned()).filter(|t| !t.is_empty()) else { return };
        let body = json!({ "channel": channel, "user": user, "thread_ts": thread_ts, "text": excerpt(text, EXCERPT_CHARS) });
        if let outcome @ (Call::Retry(_) | Call::Failed(_) | Call::Disable(_) | Call::RateLimited(_)) =
            self.slack_call(slack, &token, "chat.postEphemeral", &body).await
        {
            tracing::warn!(?outcome, "cannot tell a Slack user why their message was refused");
        }
    }

    async fn slack_call(&self, slack: &SlackSettings, token: &str, method: &str, body: &Value) -> Call {
        let sent = self
            .client
            .post(slack.method_url(method))
            .bearer_auth(token)
            .header("content-type", "application/json; charset=utf-8")
            .body(body.to_string())
            .send()
            .await;
        let resp = match sent {
            Ok(resp) => resp,
            Err(e) => return Call::Retry(format!("request failed: {}", without_url(&e))),
        };
        let status = resp.status().as_u16();
        let hint = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| retry::retry_after(v, SystemTime::now()));
        let body = match switchboard_core::provider::read_capped(resp, MAX_ANSWER_BYTES).await {
            Ok(body) => body,
            Err(e) => return Call::Retry(format!("reading the answer failed: {}", without_url(&e))),
        };
        read_answer(status, hint, &body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slack_answers_are_read_as_slack_documents_them() {
        let ok = read_answer(200, None, br#"{"ok":true,"channel":"C1","ts":"1.2"}"#);
        assert!(matches!(ok, Call::Ok(ref v) if v["ts"] == "1.2"));
        assert_eq!(read_answer(429, Some(Duration::from_secs(3)), b""), Call::RateLimited(Duration::from_secs(3)));
        assert_eq!(read_answer(429, None, b""), Call::RateLimited(Duration::from_secs(1)));
        assert_eq!(
            read_answer(200, Some(Duration::from_secs(2)), br#"{"ok":false,"error":"ratelimited"}"#),
            Call::RateLimited(Duration::from_secs(2))
        );
        for error in ["invalid_auth", "channel_not_found", "not_in_channel", "account_inactive", "token_revoked"] {
            let body = format!(r#"{{"ok":false,"error":"{error}"}}"#);
            assert!(matches!(read_answer(200, None, body.as_bytes()), Call::Disable(ref why) if why.contains(error)), "{error}");
        }
        assert!(matches!(read_answer(200, None, br#"{"ok":false,"error":"internal_error"}"#), Call::Retry(_)));
        assert!(matches!(read_answer(200, None, br#"{"ok":false,"error":"<script>"}"#), Call::Retry(ref w) if w.contains("unexpected_error")));
        assert!(matches!(read_answer(200, None, b"not json"), Call::Retry(_)));
        assert!(matches!(read_answer(503, None, b""), Call::Retry(_)));
        assert!(matches!(read_answer(404, None, b""), Call::Failed(_)));
    }

    #[test]
    fn the_parent_masks_the_customer_and_shows_the_state() {
        let event: Event = serde_json::from_value(json!({
            "specversion": "1.0", "id": "e1", "source": "/switchboard/t", "type": events::RESOLVED, "subject": "c1",
            "time": "2026-12-04T10:00:00Z", "datacontenttype": "application/json",
            "data": { "conversation_id": "c1", "channel": "sms", "account": "shop",
                      "customer": { "id": "k1", "address": "+8613812345678" }, "queue": "returns", "agent": "alice" }
        }))
        .unwrap();
        let (text, attachments) = parent_message(&event, "where is *my* parcel", "2026-12-04 10:05:00 UTC", "https://sb.example", &["returns".into()]);
        let all = attachments.to_string();
        assert!(text.contains("Resolved by alice"), "{text}");
        assert!(!all.contains("13812345678"), "customer masked: {all}");
        assert!(all.contains("#2EB67D") && all.contains("SLA due") && all.contains("where is *my* parcel"));
        assert!(all.contains("https://sb.example/api/v1/conversations/c1"));
        assert!(!all.contains("sb_resolve"), "no buttons once resolved");
        let offered = buttons(events::OFFERED, &["returns".into()]).unwrap().to_string();
        assert!(offered.contains("sb_accept") && offered.contains("sb_decline") && offered.contains("sb_transfer"));
        let assigned = buttons(events::ASSIGNED, &[]).unwrap().to_string();
        assert!(assigned.contains("sb_resolve") && !assigned.contains("sb_accept") && !assigned.contains("sb_transfer"));
        assert_eq!(target_hash("alice#0", "C1").len(), 16);
        assert_ne!(target_hash("alice#0", "C1"), target_hash("queue:returns#0", "C1"));
        assert!(thread_message(&event).starts_with("*resolved* · alice"));
    }
}
