//! Types that only describe JSON the handlers build inline (answers,
//! provider forms) or that other crates own (`switchboard_core::MediaRef`,
//! the web chat session types of `switchboard_webchat`), for the OpenAPI
//! document. They are never built; the tests check the ones standing for
//! other crates' types against those types.
#![allow(dead_code)] // described, never built

use utoipa::ToSchema;

// ---- The agent API's answers ----

/// Agent presence.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum AgentStatus {
    /// Takes conversations.
    Available,
    /// Logged in, takes none.
    Away,
    /// Not working.
    Offline,
}

/// A media item already uploaded to WeChat, by id.
#[derive(ToSchema)]
pub struct MediaRef {
    /// The kind of media.
    #[schema(pattern = "^(image|voice|video)$", example = "image")]
    pub kind: String,
    /// WeChat's media id.
    #[schema(min_length = 1, max_length = 128)]
    pub media_id: String,
}

/// The status now in force.
#[derive(ToSchema)]
pub struct StatusSet {
    /// The agent.
    pub agent: String,
    /// Its new status.
    pub status: AgentStatus,
}

/// An agent's open conversations and its routing state.
#[derive(ToSchema)]
pub struct AgentConversations {
    /// The agent.
    pub agent: String,
    /// The agent's state in the routing core (status, load per channel, …).
    pub state: Object,
    /// The conversation records assigned or offered to the agent.
    pub conversations: Vec<Object>,
}

/// One conversation with its history.
#[derive(ToSchema)]
pub struct ConversationView {
    /// The record: `state`, `channel`, `account`, `address`, `customer`,
    /// `queue`, `agent`, `decision` (the routing decision), `req_skills`,
    /// `tags`, timestamps, ….
    pub conversation: Object,
    /// Inbound and outbound messages and internal notes, oldest first.
    pub messages: Vec<Object>,
    /// The SLA clocks: `clock`, `policy`, `calendar`, `target_secs`,
    /// `state`, `outcome`, `due`, `warn_at`, `elapsed_business_secs`,
    /// `warned`, `breached`, `stopped_at`.
    pub sla: Vec<Object>,
}

/// An internal note, as stored with the messages.
#[derive(ToSchema)]
pub struct Note {
    /// The note's id (a ULID).
    pub id: String,
    /// Always `note`.
    #[schema(example = "note")]
    pub direction: String,
    /// The agent who wrote it, or `admin`.
    pub agent: String,
    /// The text.
    pub text: String,
    /// When it was written.
    #[schema(format = DateTime)]
    pub at: String,
}

/// A reply on the outbound stream.
#[derive(ToSchema)]
pub struct ReplyQueued {
    /// The first outbound message's id.
    pub id: String,
    /// Every outbound message's id: the text, then one per WeChat media.
    pub ids: Vec<String>,
    /// The conversation.
    pub conversation: String,
    /// Always `queued`.
    #[schema(example = "queued")]
    pub state: String,
}

/// A resolved conversation.
#[derive(ToSchema)]
pub struct Resolved {
    /// The conversation.
    pub conversation: String,
    /// Always `resolved`.
    #[schema(example = "resolved")]
    pub state: String,
    /// Whether the agent is now in wrap-up (its capacity frees later).
    pub wrapup: bool,
}

/// The conversation after an accepted or declined offer, or a transfer.
#[derive(ToSchema)]
pub struct Placement {
    /// The conversation.
    pub conversation: String,
    /// Its state now: `assigned`, `offered` or `queued`.
    pub state: String,
    /// The agent it is with or offered to, if any.
    pub agent: Option<String>,
    /// The queue it is in (transfers only).
    pub queue: Option<String>,
}

/// A customer profile.
#[derive(ToSchema)]
pub struct CustomerProfile {
    /// The shop's customer id.
    pub id: String,
    /// The router's customer id.
    pub customer: Option<String>,
    /// The linked identities (`kind`, `value`).
    pub identities: Vec<Object>,
    /// `tier`, `language`, `name`, `tags`, the ones set.
    pub attributes: Object,
    /// The customer's open conversation, if any.
    pub open_conversation: Option<String>,
    /// The agent who last served the customer.
    pub last_agent: Option<String>,
}

/// What a configuration reload put in force.
#[derive(ToSchema)]
pub struct ReloadReport {
    /// Agents now in force.
    pub agents: u64,
    /// Queues.
    pub queues: u64,
    /// Rules.
    pub rules: u64,
    /// Sections that differ but take effect only after a restart.
    pub restart_needed: Vec<String>,
}

/// A refused reload: the new configuration's every problem.
#[derive(ToSchema)]
pub struct InvalidConfig {
    /// `code` is `invalid_config`.
    pub error: InvalidConfigDetail,
}

/// The problems of a refused configuration.
#[derive(ToSchema)]
pub struct InvalidConfigDetail {
    /// `invalid_config`.
    #[schema(example = "invalid_config")]
    pub code: String,
    /// Says the previous configuration stays in force.
    pub message: String,
    /// Each problem with its location.
    pub problems: Vec<String>,
}

// ---- Webhooks ----

/// The Twilio-compatible inbound message form (other fields are accepted
/// and ignored).
#[derive(ToSchema)]
#[allow(non_snake_case)] // Twilio's field names
pub struct SmsInboundForm {
    /// The provider's message id.
    pub MessageSid: String,
    /// The customer's number, E.164.
    pub From: String,
    /// The account's number, E.164.
    pub To: String,
    /// The text.
    pub Body: Option<String>,
    /// How many `MediaUrl{N}`/`MediaContentType{N}` pairs follow, 0 to 10.
    pub NumMedia: Option<String>,
}

/// The Twilio-compatible status callback form.
#[derive(ToSchema)]
#[allow(non_snake_case)] // Twilio's field names
pub struct SmsStatusForm {
    /// The provider's message id.
    pub MessageSid: String,
    /// `queued`, `sending`, `sent`, `delivered`, `undelivered`, `failed`,
    /// `canceled`, `read`, … (or `SmsStatus`).
    pub MessageStatus: String,
    /// The provider's error code, for failures.
    pub ErrorCode: Option<String>,
}

/// A Mailgun-style inbound form: the raw message and its signature.
#[derive(ToSchema)]
pub struct MailgunForm {
    /// The whole message, MIME.
    #[serde(rename = "body-mime")]
    pub body_mime: String,
    /// Unix seconds, signed.
    pub timestamp: String,
    /// A random token, signed; a token seen before is refused as a replay.
    pub token: String,
    /// Hex HMAC-SHA256 of `timestamp` + `token` with the account's signing key.
    pub signature: String,
}

/// What an accepted inbound email became.
#[derive(ToSchema)]
#[serde(untagged)]
pub enum EmailAccepted {
    /// A message for the team.
    Message(EmailMessage),
    /// A bounce of one of our replies.
    Bounce(EmailBounce),
}

/// An inbound message on its way to routing.
#[derive(ToSchema)]
pub struct EmailMessage {
    /// The message id.
    pub id: String,
    /// Why it was flagged as automatic (auto-reply, list mail…), if it was.
    pub auto: Option<String>,
}

/// A bounce, recorded against the reply it bounced.
#[derive(ToSchema)]
pub struct EmailBounce {
    /// Always `true`.
    pub bounce: bool,
    /// Whether the bounced message was one of our replies.
    pub known: bool,
}

// ---- Web chat ----

/// The body of `POST /webchat/sessions`; every field is optional and an
/// empty body means `{}`. At most 8 KiB.
#[derive(ToSchema)]
#[schema(as = WebchatSessionRequest)]
pub struct SessionRequest {
    /// The visitor id the widget was given before, to keep its history;
    /// one not in the issued format is replaced by a new one.
    #[schema(max_length = 64)]
    pub visitor_id: Option<String>,
    /// The shop's signed identity, to link the visitor to a customer
    /// (needs `channels.webchat.identity_secret`).
    pub identity: Option<ShopIdentity>,
    /// The name the visitor typed in (not verified; the shop's name wins).
    #[schema(max_length = 100)]
    pub name: Option<String>,
}

/// The shop's signed statement of who the visitor is.
#[derive(ToSchema)]
#[schema(as = WebchatIdentity)]
pub struct ShopIdentity {
    /// The shop's customer id.
    #[schema(min_length = 1, max_length = 128)]
    pub customer_id: String,
    /// The customer's name; absent, `null` and `""` sign the same.
    #[schema(max_length = 100)]
    pub name: Option<String>,
    /// The customer's tier; absent, `null` and `""` sign the same.
    #[schema(max_length = 32)]
    pub tier: Option<String>,
    /// When the shop signed it, Unix seconds.
    pub timestamp: i64,
    /// Hex HMAC-SHA256 of `customer_id|name|tier|timestamp` with the
    /// identity secret.
    #[schema(max_length = 128)]
    pub signature: String,
}

/// A visitor session.
#[derive(ToSchema)]
#[schema(as = WebchatSession)]
pub struct Session {
    /// The signed token, for `GET /webchat/ws?token=…`.
    pub session_token: String,
    /// The visitor id (`v_` + ULID), kept by the widget for the next session.
    pub visitor_id: String,
    /// When the token stops being accepted; the widget renews before.
    #[schema(format = DateTime)]
    pub expires_at: String,
}

/// A free-form JSON object.
type Object = serde_json::Map<String, serde_json::Value>;
