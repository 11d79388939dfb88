//! Outbound email over SMTP with lettre.
//!
//! A reply must land in the customer's thread and bring the customer's
//! answer back to the same conversation, so every message carries:
//! our own `Message-ID` (`<id@domain>`, where `id` is the outbound
//! message's ULID, so a redelivery of the same message reuses it and a
//! bounce names it), `In-Reply-To` and `References` from the customer's
//! mail, and `Reply-To: support+<token>@domain` with the conversation
//! token. Automatic messages (no agent) also carry
//! `Auto-Submitted: auto-replied` (RFC 3834), so that well-behaved systems
//! do not answer them.
//!
//! One [`SmtpSender::send`] call makes up to `max_attempts` SMTP sessions.
//! A 4xx answer, a network error, a timeout or a TLS failure is retried
//! with exponential backoff and jitter; when attempts run out the error is
//! [`SendError::Retryable`] and the daemon redelivers later. A 5xx answer
//! is [`SendError::Permanent`] with the SMTP code as `status` and `code`.
//! Each session is driven by hand (connect, STARTTLS, AUTH, send, QUIT)
//! rather than through lettre's transport, so that nothing after the
//! relay's `250` to the data can turn a delivered message into an error,
//! and a retry into a duplicate: the receipt is returned at that `250`,
//! and `QUIT` goes on in the background, bounded, its outcome ignored (a
//! relay that stalls after accepting would otherwise run the session into
//! its timeout). A session that times out or breaks before that `250` may
//! still have delivered (the relay had the data but its answer was lost);
//! it is retried, and the resend is recognisable downstream because it
//! carries the same `Message-ID`, derived from the outbound id alone.
//!
//! Nothing here logs or returns the SMTP password or the message text; the
//! customer's address appears in logs only through
//! [`Masked`](switchboard_core::Masked) and is masked in server answers
//! that echo it.

use std::fmt;
use std::time::Duration;

use lettre::address::Envelope;
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::transport::smtp::response::Response;
use lettre::{Address, Message};
use secrecy::{ExposeSecret as _, SecretString};
use switchboard_core::retry::backoff;
use switchboard_core::{Masked, OutboundMessage, SendError, SendReceipt};

use crate::error::{EmailError, Result};
use crate::smtp_url::{parse_smtp_url, Endpoint, TlsMode};
use crate::threading::{is_valid_token, message_id_left, normalize_message_id};


/// At most this many `References` are sent: the thread root and the most
/// recent ones.
const MAX_REFERENCES: usize = 20;

/// How long a `QUIT` after an accepted message may take in the background.
const QUIT_WAIT: Duration = Duration::from_secs(5);

/// How to reach the SMTP relay and how hard to try.
#[derive(Clone, Debug)]
pub struct SmtpOptions {
    /// `smtp://`, `smtp://…:587`, `smtp://…?tls=required` or `smtps://`,
    /// with optional `user:password@` (see the `smtp_url` table in the
    /// crate docs).
    pub smtp_url: SecretString,
    /// Our address, optionally with a name: `Shop Support <support@shop.example>`.
    pub from: String,
    /// The domain of our Message-IDs (`<outbound id@domain>`), also our EHLO name.
    pub domain: String,
    /// Limit on one whole SMTP session (connect to final answer), and on
    /// each read or write in it.
    pub timeout: Duration,
    /// SMTP sessions within one [`SmtpSender::send`] call; at least 1.
    pub max_attempts: u32,
    /// First backoff wait; doubled on each further attempt, with jitter.
    pub base_delay: Duration,
    /// Cap on any single wait between attempts.
    pub max_delay: Duration,
}

/// What makes a message a reply in the customer's thread.
#[derive(Clone, Debug, Default)]
pub struct ReplyHeaders {
    /// The Message-ID being answered (with or without angle brackets).
    pub in_reply_to: Option<String>,
    /// The thread's Message-IDs, oldest first.
    pub references: Vec<String>,
    /// The subject; `Re: ` is added to a reply that lacks a reply prefix.
    pub subject: String,
    /// The conversation token for `Reply-To: support+<token>@domain`; empty
    /// for no `Reply-To`.
    pub conversation_token: String,
}

/// Sends email through one SMTP relay. Cheap to clone.
#[derive(Clone)]
pub struct SmtpSender {
    endpoint: std::sync::Arc<Endpoint>,
    tls: Option<TlsParameters>,
    hello: ClientId,
    from: Mailbox,
    options: SmtpOptions,
}

/// Shows where mail goes, never the credentials.
impl fmt::Debug for SmtpSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpSender")
            .field("host", &self.endpoint.host)
            .field("port", &self.endpoint.port)
            .field("tls", &self.endpoint.tls)
            .field("authenticated", &self.endpoint.credentials.is_some())
            .field("domain", &self.options.domain)
            .finish_non_exhaustive()
    }
}

impl SmtpSender {
    /// Checks the options and parses `smtp_url` (scheme, host, port,
    /// credentials, TLS mode). Nothing is connected yet.
    pub fn new(o: SmtpOptions) -> Result<SmtpSender> {
        let endpoint = parse_smtp_url(o.smtp_url.expose_secret())?;
        let from: Mailbox = o
            .from
            .parse()
            .map_err(|_| EmailError::Config("from is not an email address".into()))?;
        let domain = o.domain.trim();
        let domain_ok = !domain.is_empty()
            && domain.len() <= 253
            && domain
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
            && !domain.starts_with(['.', '-']);
        if !domain_ok {
            return Err(EmailError::Config("domain must be a DNS name".into()));
        }
        if o.max_attempts == 0 {
            return Err(EmailError::Config("max_attempts must be at least 1".into()));
        }
        if o.timeout.is_zero() {
            return Err(EmailError::Config("timeout must be positive".into()));
        }
        let tls = match endpoint.tls {
            TlsMode::None => None,
            _ => Some(
                TlsParameters::new(endpoint.host.clone())
                    .map_err(|e| EmailError::Config(format!("cannot set up TLS: {e}")))?,
            ),
        };
        Ok(SmtpSender {
            hello: ClientId::Domain(domain.to_owned()),
            endpoint: std::sync::Arc::new(endpoint),
            tls,
            from,
            options: o,
        })
    }

    /// Builds the message: `From` ours, `To` the customer, our
    /// `Message-ID`, `In-Reply-To`/`References` for threading, `Reply-To`
    /// with the token, `Auto-Submitted: auto-replied` when no agent wrote
    /// it, and the text as `text/plain; charset=utf-8` with media URLs
    /// listed below it (email cannot fetch them as attachments here).
    /// Returns the message and our Message-ID without angle brackets (the
    /// form in which bounces and replies name it).
    pub fn build(&self, msg: &OutboundMessage, h: &ReplyHeaders) -> Result<(Message, String)> {
        let to: Mailbox = msg
            .to
            .trim()
            .parse()
            .map_err(|_| EmailError::Build("the recipient is not an email address".into()))?;
        let message_id = format!("{}@{}", message_id_left(&msg.id), self.options.domain.trim());

        let in_reply_to = h.in_reply_to.as_deref().and_then(normalize_message_id);
        let mut references: Vec<String> = Vec::new();
        for id in h
            .references
            .iter()
            .filter_map(|r| normalize_message_id(r))
            .chain(in_reply_to.clone())
        {
            if !references.contains(&id) {
                references.push(id);
            }
        }
        if references.len() > MAX_REFERENCES {
            let tail = references.split_off(references.len() - (MAX_REFERENCES - 1));
            references.truncate(1);
            references.extend(tail);
        }
        let is_reply = in_reply_to.is_some() || !references.is_empty();

        let mut builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(reply_subject(&h.subject, is_reply))
            .message_id(Some(format!("<{message_id}>")))
            .header(ContentType::TEXT_PLAIN);
        if let Some(id) = &in_reply_to {
            builder = builder.in_reply_to(format!("<{id}>"));
        }
        if !references.is_empty() {
            let value: Vec<String> = references.iter().map(|id| format!("<{id}>")).collect();
            builder = builder.references(value.join(" "));
        }
        if let Some(reply_to) = self.reply_to(&h.conversation_token)? {
            builder = builder.reply_to(reply_to);
        }
        if msg.agent.is_none() {
            let name = HeaderName::new_from_ascii_str("Auto-Submitted");
            builder = builder.raw_header(HeaderValue::new(name, "auto-replied".into()));
        }
        let mut body = msg.text.clone();
        if !msg.media_urls.is_empty() {
            body.push_str("\n\n");
            body.push_str(&msg.media_urls.join("\n"));
        }
        let email = builder
            .body(body)
            .map_err(|e| EmailError::Build(format!("invalid message: {e}")))?;
        Ok((email, message_id))
    }

    /// `support+<token>@domain` from our address; `None` for no token.
    fn reply_to(&self, token: &str) -> Result<Option<Mailbox>> {
        let token = token.trim();
        if token.is_empty() {
            return Ok(None);
        }
        if !is_valid_token(token) {
            return Err(EmailError::Build(
                "the conversation token has characters an address cannot carry".into(),
            ));
        }
        let user = self.from.email.user();
        let base = user.split_once('+').map_or(user, |(base, _)| base);
        let address = Address::new(format!("{base}+{token}"), self.from.email.domain())
            .map_err(|_| EmailError::Build("cannot form the Reply-To address".into()))?;
        Ok(Some(Mailbox::new(self.from.name.clone(), address)))
    }

    /// Sends one message (see the module doc for retries and errors). The
    /// receipt's `provider_message_id` is our Message-ID without angle
    /// brackets, the same for every send of the same outbound message. A
    /// message that cannot be built is `Permanent` with status 0 (refused
    /// before reaching the server).
    pub async fn send(
        &self,
        msg: &OutboundMessage,
        h: &ReplyHeaders,
    ) -> std::result::Result<SendReceipt, SendError> {
        let (email, message_id) = self.build(msg, h).map_err(|e| SendError::Permanent {
            status: 0,
            code: None,
            reason: e.to_string(),
        })?;
        let bytes = email.formatted();
        let mut attempt = 1;
        loop {
            tracing::debug!(id = %msg.id, to = %Masked(&msg.to), attempt, "sending email");
            let outcome =
                tokio::time::timeout(self.options.timeout, self.deliver(email.envelope(), &bytes))
                    .await;
            let reason = match outcome {
                Ok(Ok((response, conn))) => {
                    tokio::spawn(quit(conn));
                    return Ok(SendReceipt {
                        provider_message_id: message_id,
                        // The relay answered 250 to the data: it has the
                        // message queued for delivery.
                        status: format!("queued ({})", u16::from(response.code())),
                    });
                }
                Ok(Err(e)) => match e.status() {
                    Some(code) if e.is_permanent() => {
                        let status = u16::from(code);
                        let reason = scrub(&e.to_string(), msg);
                        tracing::warn!(id = %msg.id, to = %Masked(&msg.to), status, %reason, "email refused");
                        return Err(SendError::Permanent {
                            status,
                            code: Some(status.to_string()),
                            reason,
                        });
                    }
                    _ => scrub(&e.to_string(), msg),
                },
                Err(_) => "SMTP session timed out".to_owned(),
            };
            if attempt >= self.options.max_attempts {
                tracing::warn!(id = %msg.id, to = %Masked(&msg.to), attempts = attempt, %reason, "email send failed; attempts exhausted");
                return Err(SendError::Retryable {
                    reason,
                    retry_after: None,
                });
            }
            let wait = backoff(attempt, self.options.base_delay, self.options.max_delay);
            tracing::warn!(
                id = %msg.id, to = %Masked(&msg.to), attempt, %reason,
                wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                "email send failed; retrying"
            );
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    /// One SMTP session up to the answer to the data: connect (TLS from
    /// the start for `smtps`), STARTTLS when configured, AUTH when
    /// credentials are set, the envelope and data. Returns that answer and
    /// the connection, still to be quit.
    async fn deliver(
        &self,
        envelope: &Envelope,
        bytes: &[u8],
    ) -> std::result::Result<(Response, AsyncSmtpConnection), lettre::transport::smtp::Error> {
        let ep = &*self.endpoint;
        let implicit = if ep.tls == TlsMode::Implicit {
            self.tls.clone()
        } else {
            None
        };
        let mut conn = AsyncSmtpConnection::connect_tokio1(
            (ep.host.as_str(), ep.port),
            Some(self.options.timeout),
            &self.hello,
            implicit,
            None,
        )
        .await?;
        let result = async {
            match (ep.tls, &self.tls) {
                (TlsMode::StartTls, Some(tls)) => conn.starttls(tls.clone(), &self.hello).await?,
                (TlsMode::Opportunistic, Some(tls)) if conn.can_starttls() => {
                    conn.starttls(tls.clone(), &self.hello).await?
                }
                _ => {}
            }
            if let Some((user, password)) = &ep.credentials {
                let credentials =
                    Credentials::new(user.clone(), password.expose_secret().to_owned());
                conn.auth(&[Mechanism::Plain, Mechanism::Login], &credentials)
                    .await?;
            }
            conn.send(envelope, bytes).await
        }
        .await;
        match result {
            Ok(response) => Ok((response, conn)),
            Err(e) => {
                conn.abort().await;
                Err(e)
            }
        }
    }
}

/// Ends a session whose message was accepted: its outcome changes
/// nothing, so it is bounded and ignored.
async fn quit(mut conn: AsyncSmtpConnection) {
    if tokio::time::timeout(QUIT_WAIT, conn.quit()).await.is_err() {
        conn.abort().await;
    }
}

/// `Re: ` + subject for a reply that has no reply prefix yet (English,
/// Chinese, German, Nordic forms).
fn reply_subject(subject: &str, is_reply: bool) -> String {
    let subject = subject
        .split(|c: char| c.is_control())
        .collect::<Vec<_>>()
        .join(" ");
    let subject = subject.trim();
    let lower = subject.to_lowercase();
    let prefixed = [
        "re:",
        "re：",
        "回复:",
        "回复：",
        "答复:",
        "答复：",
        "回覆:",
        "回覆：",
        "aw:",
        "sv:",
    ]
    .iter()
    .any(|p| lower.starts_with(p));
    if is_reply && !subject.is_empty() && !prefixed {
        format!("Re: {subject}")
    } else {
        subject.to_owned()
    }
}

/// A server answer made fit for logs: one line, the customer's address
/// masked, the message text removed should it be echoed, length capped.
fn scrub(reason: &str, msg: &OutboundMessage) -> String {
    switchboard_core::provider::scrub_reason(reason, &msg.to, &[&msg.text])
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test should fail loudly at the first surprise
#[path = "sender_tests.rs"]
mod tests;
