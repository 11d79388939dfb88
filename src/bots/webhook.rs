//! The webhook bot: one signed POST per customer message (Standard
//! Webhooks, as our event webhooks), and its answer, which must be signed
//! with the same secret. Anything but a well-formed, signed answer in time
//! is a hand-off: the customer is never left with no one.

use std::time::Duration;

use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};

use crate::config::BotSettings;
use crate::signing;

/// The largest answer read from a bot.
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;
/// How far an answer's `webhook-timestamp` may be from our clock.
pub const TIMESTAMP_TOLERANCE_SECS: i64 = 300;

/// What the bot is told (the request body).
#[derive(Clone, Debug, Serialize)]
pub struct Turn {
    /// Always `switchboard.bot.turn`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The conversation.
    pub conversation: TurnConversation,
    /// The customer's new message.
    pub message: TurnMessage,
    /// The last messages of the thread (at most 10), oldest first, the new one last.
    pub messages: Vec<TurnMessage>,
}

/// The conversation as the bot sees it.
#[derive(Clone, Debug, Serialize)]
pub struct TurnConversation {
    /// Its id.
    pub id: String,
    /// Its channel.
    pub channel: String,
    /// Its queue.
    pub queue: String,
    /// The customer's id.
    pub customer: String,
    /// The customer's language, if known.
    pub language: Option<String>,
    /// The customer's tier, if known.
    pub tier: Option<String>,
}

/// One message of the thread.
#[derive(Clone, Debug, Serialize)]
pub struct TurnMessage {
    /// Its id.
    pub id: String,
    /// `inbound` (the customer) or `outbound`.
    pub direction: String,
    /// For outbound messages: `bot`, `system` or `agent`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// The text.
    pub text: String,
    /// When.
    pub at: chrono::DateTime<chrono::Utc>,
}

/// What the bot answered.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(tag = "action", rename_all = "lowercase")]
pub enum Action {
    /// Say `text` to the customer.
    Reply {
        /// The text.
        text: String,
    },
    /// Pass to a person, in `queue` (default: the conversation's).
    Handoff {
        /// Another queue.
        #[serde(default)]
        queue: Option<String>,
        /// Why, for the event and the agent.
        #[serde(default)]
        reason: Option<String>,
    },
    /// Close the conversation.
    Resolve,
}

/// Why a bot's answer was not taken (each one hands off).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BotError {
    /// No answer in `timeout_ms`, or no connection.
    #[error("the bot did not answer in time")]
    Timeout,
    /// The connection failed.
    #[error("the bot could not be reached")]
    Unreachable,
    /// A non-2xx status.
    #[error("the bot answered HTTP {0}")]
    Status(u16),
    /// The answer is missing its signature headers or they do not verify.
    #[error("the bot's answer is not signed with its secret")]
    Unsigned,
    /// Not JSON of a known action, too large, or a reply with no text.
    #[error("the bot's answer is malformed")]
    Malformed,
}

/// Calls the bot with `turn` and returns its verified action.
pub async fn call(client: &reqwest::Client, bot: &BotSettings, turn: &Turn, now_secs: i64) -> Result<Action, BotError> {
    let (Some(url), Some(secret)) = (&bot.url, &bot.secret) else { return Err(BotError::Unreachable) };
    let Some(key) = signing::decode_secret(secret.expose_secret()) else { return Err(BotError::Unreachable) };
    let body = serde_json::to_vec(turn).map_err(|_| BotError::Malformed)?;
    let id = format!("bot_{}", turn.message.id);
    let request = client
        .post(url)
        .timeout(Duration::from_millis(bot.timeout_ms))
        .header("content-type", "application/json")
        .header("webhook-id", &id)
        .header("webhook-timestamp", now_secs.to_string())
        .header("webhook-signature", signing::sign(&key, &id, now_secs, &body))
        .body(body);
    let exchange = async {
        let mut response = request.send().await.map_err(|e| if e.is_timeout() { BotError::Timeout } else { BotError::Unreachable })?;
        let status = response.status();
        let headers = response.headers().clone();
        let mut answer = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| if e.is_timeout() { BotError::Timeout } else { BotError::Unreachable })? {
            if answer.len() + chunk.len() > MAX_ANSWER_BYTES {
                return Err(BotError::Malformed);
            }
            answer.extend_from_slice(&chunk);
        }
        Ok((status, headers, answer))
    };
    // The request's own timeout covers the whole exchange; this bounds it
    // once more should a body trickle in.
    let (status, headers, answer) = tokio::time::timeout(Duration::from_millis(bot.timeout_ms), exchange)
        .await
        .map_err(|_| BotError::Timeout)??;
    if !status.is_success() {
        return Err(BotError::Status(status.as_u16()));
    }
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !verify(&key, header("webhook-id"), header("webhook-timestamp"), &answer, header("webhook-signature"), now_secs) {
        return Err(BotError::Unsigned);
    }
    parse(&answer)
}

/// The action of a verified answer body.
pub fn parse(body: &[u8]) -> Result<Action, BotError> {
    let action: Action = serde_json::from_slice(body).map_err(|_| BotError::Malformed)?;
    match &action {
        Action::Reply { text } if text.trim().is_empty() || text.len() > 4096 => Err(BotError::Malformed),
        _ => Ok(action),
    }
}

/// Whether `signatures` (space-separated `v1,<base64>`) holds a valid
/// signature of `body` by `key` for `id` at `timestamp`, and the timestamp
/// is within [`TIMESTAMP_TOLERANCE_SECS`] of `now_secs`.
pub fn verify(key: &[u8], id: &str, timestamp: &str, body: &[u8], signatures: &str, now_secs: i64) -> bool {
    let Ok(ts) = timestamp.parse::<i64>() else { return false };
    if id.is_empty() || (now_secs - ts).abs() > TIMESTAMP_TOLERANCE_SECS {
        return false;
    }
    let expected = signing::sign(key, id, ts, body);
    signatures.split_whitespace().any(|s| constant_time_eq(s.as_bytes(), expected.as_bytes()))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    #[test]
    fn answers_parse_to_actions() {
        assert_eq!(parse(br#"{"action":"reply","text":"hi"}"#), Ok(Action::Reply { text: "hi".into() }));
        assert_eq!(parse(br#"{"action":"handoff"}"#), Ok(Action::Handoff { queue: None, reason: None }));
        assert_eq!(
            parse(br#"{"action":"handoff","queue":"returns","reason":"refund"}"#),
            Ok(Action::Handoff { queue: Some("returns".into()), reason: Some("refund".into()) })
        );
        assert_eq!(parse(br#"{"action":"resolve"}"#), Ok(Action::Resolve));
        for bad in [&br#"{"action":"reply"}"#[..], br#"{"action":"reply","text":"  "}"#, br#"{"action":"dance"}"#, b"", b"<html>", br#"[]"#] {
            assert_eq!(parse(bad), Err(BotError::Malformed), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn only_a_fresh_signature_with_our_secret_verifies() {
        let key = signing::decode_secret(SECRET).unwrap();
        let body = br#"{"action":"resolve"}"#;
        let sig = signing::sign(&key, "msg_1", 1_700_000_000, body);
        assert!(verify(&key, "msg_1", "1700000000", body, &sig, 1_700_000_010));
        assert!(verify(&key, "msg_1", "1700000000", body, &format!("v1,AAAA {sig}"), 1_700_000_010), "any of several");
        assert!(!verify(&key, "msg_1", "1700000000", br#"{"action":"reply","text":"x"}"#, &sig, 1_700_000_010), "another body");
        assert!(!verify(&key, "msg_2", "1700000000", body, &sig, 1_700_000_010), "another id");
        assert!(!verify(&key, "msg_1", "1700000000", body, &sig, 1_700_000_000 + 301), "stale");
        assert!(!verify(&key, "msg_1", "soon", body, &sig, 1_700_000_000));
        assert!(!verify(&key, "msg_1", "1700000000", body, "", 1_700_000_000));
        let other = signing::decode_secret("whsec_c2VjcmV0LXR3by1mb3ItdGVzdHM=").unwrap();
        assert!(!verify(&other, "msg_1", "1700000000", body, &sig, 1_700_000_000), "another secret");
    }
}
