//! Reply: an agent's answer to the customer, on the customer's channel.
//! It is recorded with its `replied` event and put on the outbound stream
//! (see `outbound::reply`); the channel's own refusals (an SMS customer's
//! STOP, WeChat media elsewhere) answer here, before anything is queued.
//! The emailed agent reply ([`MailReply`]) goes through the same checks.

use switchboard_core::{InboundMessage, MediaRef};
use tracing::instrument;

use super::{visible, Actor, CommandError, Visible};
use crate::app::App;
use crate::model::{ReplyQueued, ReplyState};
use crate::outbound::reply::{idempotent_id, submit, ReplyError};

/// The longest reply accepted (Twilio's limit for one message body).
pub const MAX_REPLY_CHARS: usize = 1600;

/// Attachments per reply, of each kind.
const MAX_MEDIA: usize = 10;

/// Reply to the customer of `conversation`.
#[derive(Debug)]
pub struct Reply {
    /// The conversation, and who replies (the admin replies as the
    /// conversation's agent).
    pub conversation: Visible,
    /// The text (trimmed), at most 1600 characters; may be empty with media.
    pub text: String,
    /// Absolute URLs of media to attach (SMS/MMS, email), at most 10.
    pub media_urls: Vec<String>,
    /// WeChat media ids, at most 10, each its own message.
    pub media: Vec<MediaRef>,
    /// The client's idempotency key: the same key answers the same ids.
    pub idempotency_key: Option<String>,
}

impl Reply {
    /// Queues the reply; answers its outbound ids.
    #[instrument(name = "reply", skip_all, fields(conversation = %self.conversation.id()))]
    pub async fn apply(self, app: &App) -> Result<ReplyQueued, CommandError> {
        let Visible { record: conv, by } = self.conversation;
        let id = conv.id.clone();
        let text = self.text.trim();
        if text.is_empty() && self.media_urls.is_empty() && self.media.is_empty() {
            return Err(CommandError::Invalid { field: "text", why: "must not be empty" });
        }
        let kinds = ["image", "voice", "video"];
        if self.media.len() > MAX_MEDIA
            || self.media.iter().any(|m| !kinds.contains(&m.kind.as_str()) || m.media_id.is_empty() || m.media_id.len() > 128)
        {
            return Err(CommandError::Invalid {
                field: "media",
                why: "must be at most 10 of {\"kind\": image|voice|video, \"media_id\"}",
            });
        }
        if text.chars().count() > MAX_REPLY_CHARS {
            return Err(CommandError::Invalid { field: "text", why: "is longer than 1600 characters" });
        }
        if self.media_urls.len() > MAX_MEDIA || self.media_urls.iter().any(|u| url::Url::parse(u).is_err()) {
            return Err(CommandError::Invalid { field: "media_urls", why: "must be at most 10 absolute URLs" });
        }
        let agent = match &by {
            Actor::Agent(a) => Some(a.clone()),
            Actor::Admin => conv.agent.clone(),
        };
        let reply_id = match &self.idempotency_key {
            Some(key) => idempotent_id(agent.as_deref().unwrap_or("admin"), &id, key),
            None => ulid::Ulid::new().to_string(),
        };
        let reply = crate::outbound::reply::Reply {
            id: reply_id,
            agent,
            automated: None,
            text: text.to_owned(),
            media_urls: self.media_urls,
            media: self.media,
        };
        let now = chrono::Utc::now();
        let ids = submit(app, &conv, reply, now).await.map_err(refusal)?;
        // The customer's turn now: quiet too long, it goes pending, then closes.
        crate::idle::after_reply(app, &id, now.timestamp_millis()).await;
        Ok(ReplyQueued { id: ids.first().cloned(), ids, conversation: id, state: ReplyState::Queued })
    }
}

/// The command error of a refused submit.
fn refusal(e: ReplyError) -> CommandError {
    match e {
        ReplyError::Resolved => CommandError::conflict(e.to_string()),
        ReplyError::NotFound => CommandError::NotFound("conversation"),
        ReplyError::OptedOut => CommandError::Conflict { code: "opted_out", message: e.to_string() },
        ReplyError::MediaNotWechat => {
            CommandError::Invalid { field: "media", why: "media ids are only for WeChat conversations; use media_urls" }
        }
        ReplyError::Unavailable(detail) => CommandError::Unavailable(detail),
    }
}

/// An email to an agent reply token (see `routing::agent_mail`): from the
/// agent's configured address with a valid signature, on a conversation
/// that agent holds, its text goes to the customer as the agent's reply.
#[derive(Debug)]
pub struct MailReply<'a> {
    /// The inbound email.
    pub mail: &'a InboundMessage,
}

/// What became of an agent's reply mail.
#[derive(Debug, PartialEq, Eq)]
pub enum MailOutcome {
    /// Queued as the agent's reply (or queued before: a redelivery).
    Replied,
    /// Dropped, with why (logged; never routed as a customer message: the
    /// token is ours).
    Refused(String),
}

impl MailReply<'_> {
    /// Applies the mail; `Err` only when Redis or NATS is away (the mail is
    /// redelivered and tried again).
    #[instrument(name = "mail_reply", skip_all)]
    pub async fn apply(self, app: &App) -> Result<MailOutcome, CommandError> {
        use crate::routing::agent_mail::{sender_and_conversation, MailCheck};
        let live = app.live();
        let (agent, conversation) = match sender_and_conversation(&live.settings.agents, self.mail) {
            MailCheck::Signed { agent, conversation } => (agent, conversation),
            MailCheck::Refused(why) => return Ok(MailOutcome::Refused(why.to_owned())),
        };
        let once = app.store.keys().agent_mail(&self.mail.id);
        if !app.store.first_seen(&once, std::time::Duration::from_secs(7 * 24 * 3600)).await.map_err(|e| CommandError::unavailable(&e))? {
            return Ok(MailOutcome::Replied);
        }
        // The inbound id: a redelivered mail submits the same reply, which
        // JetStream and the sender absorb.
        let conversation = match visible(app, Actor::Agent(agent), &conversation).await {
            Ok(visible) => visible,
            Err(CommandError::Unavailable(e)) => {
                app.store.release(&once).await.map_err(|e| CommandError::unavailable(&e))?;
                return Err(CommandError::Unavailable(e));
            }
            Err(e) => return Ok(MailOutcome::Refused(e.to_string())),
        };
        let reply = Reply {
            conversation,
            text: self.mail.text.clone(),
            media_urls: vec![],
            media: vec![],
            idempotency_key: Some(format!("mail:{}", self.mail.id)),
        };
        match reply.apply(app).await {
            Ok(_) => Ok(MailOutcome::Replied),
            Err(CommandError::Unavailable(e)) => {
                app.store.release(&once).await.map_err(|e| CommandError::unavailable(&e))?;
                Err(CommandError::Unavailable(e))
            }
            Err(e) => Ok(MailOutcome::Refused(e.to_string())),
        }
    }
}
