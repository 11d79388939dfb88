//! The JSON frames of the visitor's WebSocket (`GET /webchat/ws?token=…`),
//! one JSON object per text frame, tagged by `"type"` (PROTOCOL.md has every
//! frame with examples).
//!
//! The protocol exists to make "nothing typed is lost" hold across flaky
//! mobile connections and router restarts:
//!
//! - the widget gives every message a `client_id` and keeps it until the
//!   server's `ack`, which the daemon sends only once JetStream holds the
//!   message; on reconnect it resends whatever was not acked;
//! - the daemon de-duplicates by `provider_message_id` =
//!   `visitor_id:client_id` (see [`to_inbound`]), and acks a resent message
//!   that it already holds again, with the original `id` and `seq`;
//! - every stored message of the conversation has a per-visitor `seq`; the
//!   widget remembers the highest it has seen and asks for `history` after it
//!   when it reconnects, so agent replies pushed while it was away arrive.
//!
//! Client frames are parsed strictly where a wrong value would mislead the
//! daemon (type, `client_id`, limits) and leniently about fields this
//! version does not know, which are ignored, so that a newer widget can talk
//! to an older replica during a rolling upgrade.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use switchboard_core::{Automated, Channel, InboundMessage, Metadata, OutboundMessage};

use crate::error::{Result, WebchatError};
use crate::session::SessionClaims;
use crate::{json_error, ObjectOnly};

/// Largest client frame, in bytes.
pub const MAX_FRAME_BYTES: usize = 16 * 1024;
/// Longest message text, in characters (Unicode scalar values).
pub const MAX_TEXT_CHARS: usize = 4000;
/// Longest `client_id`, in characters of `[A-Za-z0-9_-]`.
pub const MAX_CLIENT_ID_CHARS: usize = 64;
/// The channel account every web chat message arrives on.
pub const ACCOUNT: &str = "default";

/// A frame from the visitor's widget, as [`parse_client_frame`] returns it.
/// It serializes to the wire form (for test clients) but deliberately has
/// no `Deserialize`: the only way from text to a frame is
/// [`parse_client_frame`], which enforces the limits.
#[derive(Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientFrame {
    /// `{"type":"message","client_id":"…","text":"…"}`: a message, answered
    /// by an `ack` once stored.
    Message {
        /// The widget's id for the message, 1–64 of `[A-Za-z0-9_-]`.
        client_id: String,
        /// The text, control characters other than tab and newline removed.
        text: String,
    },
    /// `{"type":"typing","on":true}`: the visitor started or stopped typing.
    Typing {
        /// Whether the visitor is typing.
        on: bool,
    },
    /// `{"type":"history","after":17}`: send every message with a larger
    /// `seq` (0 for all).
    History {
        /// The highest `seq` the widget has.
        after: u64,
    },
    /// `{"type":"ping"}`, answered by `pong`.
    Ping,
    /// `{"type":"csat","score":4,"comment":"…"}`: the visitor's answer to
    /// a `csat` frame, answered by `csat_done` (or an `error` frame).
    Csat {
        /// The score, 1 to the scale of the question.
        score: u8,
        /// An optional comment (at most [`MAX_COMMENT_CHARS`], control
        /// characters removed; empty: none).
        comment: String,
    },
}

/// The longest comment a `csat` frame may carry.
pub const MAX_COMMENT_CHARS: usize = 1000;

/// [`ClientFrame`] as read from the wire, before the limits are checked.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WireFrame {
    Message { client_id: String, text: String },
    Typing { on: bool },
    History { after: u64 },
    Ping,
    Csat { score: u8, #[serde(default)] comment: String },
}

/// Leaves out the message text: frames reach logs.
impl fmt::Debug for ClientFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientFrame::Message { client_id, text } => f
                .debug_struct("Message")
                .field("client_id", client_id)
                .field("text_chars", &text.chars().count())
                .finish(),
            ClientFrame::Typing { on } => f.debug_struct("Typing").field("on", on).finish(),
            ClientFrame::History { after } => {
                f.debug_struct("History").field("after", after).finish()
            }
            ClientFrame::Ping => f.write_str("Ping"),
            ClientFrame::Csat { score, comment } => f
                .debug_struct("Csat")
                .field("score", score)
                .field("comment_chars", &comment.chars().count())
                .finish(),
        }
    }
}

/// Who wrote a message, or who is typing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sender {
    /// An agent.
    Agent,
    /// The visitor.
    Visitor,
    /// A bot answering for the team.
    Bot,
    /// The service's own notices (office hours, place in line, survey,
    /// closing).
    System,
}

/// A message of the conversation as the widget shows it, live or in
/// `history`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// Our id for the message (the inbound or outbound message id).
    pub id: String,
    /// Its position in the visitor's conversation, increasing.
    pub seq: u64,
    /// Who wrote it.
    pub from: Sender,
    /// The agent's display name, for agent messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// The widget's `client_id`, for the visitor's own messages, so that a
    /// widget that missed the `ack` can match the message it still holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The text.
    pub text: String,
    /// When switchboard received (visitor) or accepted (agent) it.
    #[serde(with = "crate::rfc3339_millis")]
    pub at: DateTime<Utc>,
}

/// Leaves out the text.
impl fmt::Debug for ChatMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChatMessage")
            .field("id", &self.id)
            .field("seq", &self.seq)
            .field("from", &self.from)
            .field("text_chars", &self.text.chars().count())
            .field("at", &self.at)
            .finish_non_exhaustive()
    }
}

impl ChatMessage {
    /// The visitor's message as stored: `client_id` is taken back out of
    /// the `provider_message_id` that [`to_inbound`] made.
    pub fn from_inbound(message: &InboundMessage, seq: u64) -> ChatMessage {
        let client_id = message
            .provider_message_id
            .split_once(':')
            .map(|(_, client_id)| client_id.to_owned());
        ChatMessage {
            id: message.id.clone(),
            seq,
            from: Sender::Visitor,
            agent: None,
            client_id,
            text: message.text.clone(),
            at: message.received_at,
        }
    }

    /// A reply: an agent's, shown with `agent_name` (the agent's display
    /// name, not its id, which the visitor has no use for), a bot's or the
    /// service's own.
    pub fn from_outbound(
        message: &OutboundMessage,
        seq: u64,
        agent_name: Option<String>,
    ) -> ChatMessage {
        ChatMessage {
            id: message.id.clone(),
            seq,
            from: match message.automated {
                Some(Automated::Bot) => Sender::Bot,
                Some(Automated::System) => Sender::System,
                None => Sender::Agent,
            },
            agent: agent_name,
            client_id: None,
            text: message.text.clone(),
            at: message.created_at,
        }
    }
}

/// The code of an `error` frame: what the widget should do about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The frame was not understood; it is dropped, the socket stays open.
    Malformed,
    /// The frame was larger than [`MAX_FRAME_BYTES`]; it is dropped.
    TooLarge,
    /// The message named by `client_id` will never be accepted (empty or
    /// too long): the widget stops resending it and says so.
    Rejected,
    /// The message named by `client_id` could not be stored just now: the
    /// widget keeps it and resends it later.
    Unavailable,
    /// Too many frames: the widget slows down and resends unacked messages
    /// later.
    RateLimited,
    /// The session token has expired: the widget asks for a new session and
    /// reconnects (the server closes the socket).
    SessionExpired,
}

/// A frame from the daemon to the widget.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    /// `{"type":"ack","client_id":"…","id":"…","seq":n}`: the message is
    /// stored (sent only after the JetStream publish ack).
    Ack {
        /// The widget's id for the message.
        client_id: String,
        /// Our id for it.
        id: String,
        /// Its position in the conversation.
        seq: u64,
    },
    /// `{"type":"message",…}`: a new message, pushed live.
    Message(ChatMessage),
    /// `{"type":"typing","from":"agent","on":true}`.
    Typing {
        /// Who is typing (always `agent` towards the widget).
        from: Sender,
        /// Whether they are typing.
        on: bool,
    },
    /// `{"type":"history","messages":[…],"more":false}`: the answer to a
    /// `history` frame, in `seq` order; `more` says the batch was cut and
    /// the widget should ask again after its last `seq`.
    History {
        /// The messages after the requested `seq`.
        messages: Vec<ChatMessage>,
        /// Whether more messages follow the last one.
        more: bool,
    },
    /// `{"type":"error","code":"…","message":"…"}`, with `client_id` when
    /// it is about one message.
    Error {
        /// What the widget should do.
        code: ErrorCode,
        /// A human-readable reason, without internals.
        message: String,
        /// The message concerned, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client_id: Option<String>,
    },
    /// `{"type":"pong"}`, the answer to `ping`.
    Pong,
    /// `{"type":"csat","id":"…","question":"…","scale":5,"comment":true}`:
    /// the satisfaction survey after a resolve; the widget shows `scale`
    /// stars (and a comment box when `comment`) and answers with a `csat`
    /// frame.
    Csat {
        /// The question's id (its message in the thread).
        id: String,
        /// The question, in the visitor's language.
        question: String,
        /// Points of the scale: 2, 3 or 5.
        scale: u8,
        /// Whether a comment is offered.
        comment: bool,
    },
    /// `{"type":"csat_done","score":4}`: the answer is recorded (or was
    /// before: the survey is answered once).
    CsatDone {
        /// The score recorded.
        score: u8,
    },
    /// `{"type":"queue","position":n}`: the visitor's place in the line
    /// for a person (1 = next), sent when it changes; `0` once a person
    /// has the conversation.
    Queue {
        /// The place in line (`0`: no longer waiting).
        position: u64,
    },
}

impl ServerFrame {
    /// The `error` frame answering a refused client frame.
    pub fn error_for(error: &WebchatError) -> ServerFrame {
        ServerFrame::Error {
            code: error.frame_code(),
            message: error.to_string(),
            client_id: error.client_id().map(str::to_owned),
        }
    }

    /// The frame as the JSON text sent on the socket.
    pub fn to_json(&self) -> String {
        // These types have only string keys, so serializing cannot fail;
        // should it ever, the widget gets a frame that makes it retry.
        serde_json::to_string(self).unwrap_or_else(|_| {
            r#"{"type":"error","code":"unavailable","message":"internal error"}"#.to_owned()
        })
    }
}

/// Parses one text frame from the widget.
///
/// Errors: more than [`MAX_FRAME_BYTES`] is [`WebchatError::TooLarge`]; not
/// JSON, an unknown `type`, a missing or mistyped field, or a `client_id`
/// that is not 1–[`MAX_CLIENT_ID_CHARS`] of `[A-Za-z0-9_-]` is
/// [`WebchatError::Malformed`]; a message whose text is longer than
/// [`MAX_TEXT_CHARS`] or blank is [`WebchatError::Rejected`], naming its
/// `client_id`. Control characters other than tab and newline are removed
/// from the text (the widget removes them before sending).
pub fn parse_client_frame(text: &str) -> Result<ClientFrame> {
    if text.len() > MAX_FRAME_BYTES {
        return Err(WebchatError::TooLarge("frame"));
    }
    let ObjectOnly(frame): ObjectOnly<WireFrame> =
        serde_json::from_str(text).map_err(|e| json_error("frame", &e))?;
    let (client_id, text) = match frame {
        WireFrame::Message { client_id, text } => (client_id, text),
        WireFrame::Typing { on } => return Ok(ClientFrame::Typing { on }),
        WireFrame::History { after } => return Ok(ClientFrame::History { after }),
        WireFrame::Ping => return Ok(ClientFrame::Ping),
        WireFrame::Csat { score, comment } => {
            if comment.chars().count() > MAX_COMMENT_CHARS {
                return Err(WebchatError::malformed("comment is longer than 1000 characters".to_owned()));
            }
            let comment = comment.chars().filter(|&c| !c.is_control() || c == '\n').collect::<String>().trim().to_owned();
            return Ok(ClientFrame::Csat { score, comment });
        }
    };
    if !is_client_id(&client_id) {
        return Err(WebchatError::malformed(format!(
            "client_id must be 1 to {MAX_CLIENT_ID_CHARS} characters of A-Z a-z 0-9 _ -"
        )));
    }
    let reject = |reason| {
        Err(WebchatError::Rejected {
            client_id: client_id.clone(),
            reason,
        })
    };
    if text.chars().count() > MAX_TEXT_CHARS {
        return reject("the text is longer than 4000 characters");
    }
    let text: String = text
        .chars()
        .filter(|&c| !c.is_control() || c == '\n' || c == '\t')
        .collect();
    if text.trim().is_empty() {
        return reject("the text is empty");
    }
    Ok(ClientFrame::Message { client_id, text })
}

/// Whether `s` is a valid `client_id`.
fn is_client_id(s: &str) -> bool {
    (1..=MAX_CLIENT_ID_CHARS).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The normalized inbound message for a visitor's `message` frame.
///
/// `provider_message_id` is `visitor_id:client_id`, the same for every
/// resend of one message, so the daemon's de-duplication absorbs resends;
/// `customer` is the visitor id; `display_name` is the shop's name for the
/// linked customer, else the name the visitor gave; metadata holds
/// `customer_id` and `tier` when the session is linked to a shop customer.
pub fn to_inbound(
    claims: &SessionClaims,
    client_id: &str,
    text: &str,
    id: String,
    received_at: DateTime<Utc>,
) -> InboundMessage {
    let mut metadata = Metadata::default();
    if let Some(customer) = claims.customer() {
        metadata.insert("customer_id", &customer.customer_id);
        if let Some(tier) = &customer.tier {
            metadata.insert("tier", tier);
        }
    }
    InboundMessage {
        id,
        channel: Channel::Webchat,
        account: ACCOUNT.to_owned(),
        provider_message_id: format!("{}:{client_id}", claims.visitor_id()),
        customer: claims.visitor_id().to_owned(),
        to: None,
        display_name: claims.display_name().map(str::to_owned),
        text: text.to_owned(),
        attachments: Vec::new(),
        received_at,
        metadata,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test should fail loudly at the first surprise
#[path = "frames_tests.rs"]
mod tests;
