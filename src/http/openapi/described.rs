//! Types that only describe JSON the handlers do not serialize from a type
//! of this crate (provider forms, the refused reload) or that other crates
//! own (the web chat session types of `switchboard_webchat`), for the
//! OpenAPI document. Every resource of the API is a `model` type. They are never built; the tests check the ones standing for
//! other crates' types against those types.
#![allow(dead_code)] // described, never built

use utoipa::ToSchema;

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

/// A bounce, taken to be recorded against the reply it bounced.
#[derive(ToSchema)]
pub struct EmailBounce {
    /// Always `true`.
    pub bounce: bool,
    /// Whether the bounced message names one of our reply ids (then the
    /// router marks that reply failed and tells its agent).
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
