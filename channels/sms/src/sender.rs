//! Outbound SMS/MMS through a Twilio-compatible Messages API.
//!
//! One [`SmsSender::send`] call makes up to `max_attempts` HTTP requests.
//! Only failures that say nothing was sent are retried in the call: network
//! errors, timeouts, 429 and 5xx. The wait between attempts is exponential
//! backoff with jitter, or the provider's `Retry-After` when longer, and
//! never more than `max_delay`, so one send cannot hold a worker for long.
//! When attempts run out the error is [`SendError::Retryable`]: the caller
//! owns the durable retry (it leaves the message on the outbound stream and
//! redelivers later). Any other 4xx is [`SendError::Permanent`].
//!
//! A 2xx is a success even when its body carries no message sid, or
//! cannot be read at all (it breaks off, or the provider stalls until the
//! request timeout): the provider accepted the message, and any retry
//! would send it twice. Its receipt then has an empty provider id and
//! status `unconfirmed`; the status callbacks still find the message by
//! our outbound id.
//!
//! Nothing here logs or returns the auth token or the message text; the
//! customer's number appears in logs only through
//! [`Masked`](switchboard_core::Masked), and is masked in provider error
//! messages that echo it.

use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, ACCEPT, CONTENT_TYPE, RETRY_AFTER};
use reqwest::{redirect, StatusCode, Url};
use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;
use switchboard_core::{Masked, OutboundMessage, SendError, SendReceipt};

use crate::error::{Result, SmsError};

/// Provider answers are read up to this many bytes; a Messages resource is a
/// few kilobytes, anything longer is not an answer we can use.
const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// The provider id of a receipt whose 2xx answer named no sid.
const UNKNOWN_SID: &str = "";

/// The status of a receipt whose 2xx answer could not be read.
const UNCONFIRMED: &str = "unconfirmed";

/// How to reach the provider and how hard to try.
#[derive(Clone, Debug)]
pub struct SenderOptions {
    /// Base URL of the REST API, e.g. `https://api.twilio.com`; a trailing
    /// slash is tolerated, and a path prefix is kept.
    pub api_base: String,
    /// The account sid (`AC…`), used in the path and as the Basic auth user.
    pub account_sid: String,
    /// The auth token, the Basic auth password.
    pub auth_token: SecretString,
    /// The number (or sender id) messages are sent from.
    pub from: String,
    /// Full URL Twilio posts delivery status updates to; sent as
    /// `StatusCallback` base URL when set; `?outbound=<message id>` is appended.
    pub status_callback: Option<String>,
    /// Limit on each HTTP request, connection included.
    pub request_timeout: Duration,
    /// HTTP requests within one [`SmsSender::send`] call; at least 1.
    pub max_attempts: u32,
    /// First backoff wait; doubled on each further attempt, with jitter.
    pub base_delay: Duration,
    /// Cap on any single wait between attempts, `Retry-After` included.
    pub max_delay: Duration,
}

/// Sends messages through the provider's Messages resource. Cheap to clone:
/// clones share one connection pool.
#[derive(Clone, Debug)]
pub struct SmsSender {
    client: reqwest::Client,
    messages_url: String,
    options: SenderOptions,
}

/// What one HTTP attempt led to.
enum Attempt {
    /// Final: the receipt, or an error not to retry within this call.
    Done(Result<SendReceipt, SendError>),
    /// Nothing was sent; worth another attempt.
    Retry {
        reason: String,
        retry_after: Option<Duration>,
    },
}

/// The fields we read from a Messages resource.
#[derive(Deserialize)]
struct MessageResource {
    sid: Option<String>,
    status: Option<String>,
}

/// Twilio's error body: `{"code": 21211, "message": "...", ...}`.
#[derive(Deserialize)]
struct ProviderError {
    code: Option<serde_json::Value>,
    message: Option<String>,
}

impl SmsSender {
    /// Checks the options and builds the HTTP client (with the request
    /// timeout, and without following redirects: a redirected POST would be
    /// replayed as a GET).
    pub fn new(options: SenderOptions) -> Result<SmsSender> {
        let base = options.api_base.trim_end_matches('/');
        let parsed = Url::parse(base)
            .map_err(|e| SmsError::Config(format!("api_base is not a URL: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") || !parsed.has_host() {
            return Err(SmsError::Config("api_base must be an http(s) URL".into()));
        }
        let sid = &options.account_sid;
        if sid.is_empty() || !sid.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(SmsError::Config(
                "account_sid must be non-empty and alphanumeric".into(),
            ));
        }
        if options.from.trim().is_empty() {
            return Err(SmsError::Config("from must not be empty".into()));
        }
        if options.max_attempts == 0 {
            return Err(SmsError::Config("max_attempts must be at least 1".into()));
        }
        if options.request_timeout.is_zero() {
            return Err(SmsError::Config("request_timeout must be positive".into()));
        }
        let client = reqwest::Client::builder()
            .timeout(options.request_timeout)
            .connect_timeout(options.request_timeout)
            .redirect(redirect::Policy::none())
            .user_agent(concat!("switchboard-sms/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| SmsError::Config(format!("cannot build HTTP client: {e}")))?;
        let messages_url = format!("{base}/2010-04-01/Accounts/{sid}/Messages.json");
        Ok(SmsSender {
            client,
            messages_url,
            options,
        })
    }

    /// Sends one message: `POST {api_base}/2010-04-01/Accounts/{AccountSid}/Messages.json`
    /// with form fields `To`, `From`, `Body`, `StatusCallback` (if set) and
    /// one `MediaUrl` per media URL, under HTTP Basic auth
    /// `AccountSid:AuthToken`.
    ///
    /// 2xx is the receipt, with the sid when the body names one. 429, 5xx,
    /// network errors and timeouts are retried up to `max_attempts` times
    /// (see the module doc), then returned as [`SendError::Retryable`] with
    /// the provider's last `Retry-After`, uncapped. Any other status is
    /// [`SendError::Permanent`] with Twilio's `code` and `message`.
    pub async fn send(&self, msg: &OutboundMessage) -> Result<SendReceipt, SendError> {
        let form = self.form(msg);
        let mut attempt = 1;
        loop {
            tracing::debug!(id = %msg.id, to = %Masked(&msg.to), attempt, "sending SMS");
            let (reason, retry_after) = match self.attempt(&form, msg).await {
                Attempt::Done(result) => return result,
                Attempt::Retry {
                    reason,
                    retry_after,
                } => (reason, retry_after),
            };
            if attempt >= self.options.max_attempts {
                tracing::warn!(
                    id = %msg.id, to = %Masked(&msg.to), attempts = attempt, %reason,
                    "SMS send failed; attempts exhausted"
                );
                return Err(SendError::Retryable {
                    reason,
                    retry_after,
                });
            }
            let wait = self.backoff(attempt, retry_after);
            tracing::warn!(
                id = %msg.id, to = %Masked(&msg.to), attempt, %reason,
                wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                "SMS send failed; retrying"
            );
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    /// The urlencoded request body.
    fn form(&self, msg: &OutboundMessage) -> String {
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.append_pair("To", &msg.to);
        form.append_pair("From", &self.options.from);
        // Twilio accepts a media-only message without Body, and rejects
        // (permanently) a message with neither.
        if !msg.text.is_empty() || msg.media_urls.is_empty() {
            form.append_pair("Body", &msg.text);
        }
        if let Some(callback) = &self.options.status_callback {
            // Our outbound id rides in the callback URL (which the provider
            // signs), so a status update finds its message without a lookup.
            let sep = if callback.contains('?') { '&' } else { '?' };
            form.append_pair("StatusCallback", &format!("{callback}{sep}outbound={}", msg.id));
        }
        for url in &msg.media_urls {
            form.append_pair("MediaUrl", url);
        }
        form.finish()
    }

    /// One HTTP request and the classification of its outcome.
    async fn attempt(&self, form: &str, msg: &OutboundMessage) -> Attempt {
        let request = self
            .client
            .post(&self.messages_url)
            .basic_auth(
                &self.options.account_sid,
                Some(self.options.auth_token.expose_secret()),
            )
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(ACCEPT, "application/json")
            .body(form.to_owned());
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) => {
                return Attempt::Retry {
                    reason: switchboard_core::provider::describe_transport(e, "provider"),
                    retry_after: None,
                };
            }
        };
        let status = response.status();
        let retry_after = retry_after(response.headers(), SystemTime::now());
        let body = switchboard_core::provider::read_capped(response, MAX_RESPONSE_BYTES).await;

        if status.is_success() {
            return Attempt::Done(Ok(receipt(status, body)));
        }
        let provider = body
            .ok()
            .and_then(|bytes| serde_json::from_slice::<ProviderError>(&bytes).ok());
        let code = provider
            .as_ref()
            .and_then(|p| p.code.as_ref())
            .and_then(code_string);
        let message = provider
            .and_then(|p| p.message)
            .map(|m| switchboard_core::provider::scrub_reason(&m, &msg.to, &[&msg.text]))
            .filter(|m| !m.is_empty());
        if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            let mut reason = format!("provider answered HTTP {}", status.as_u16());
            if let Some(code) = &code {
                reason.push_str(&format!(" (code {code})"));
            }
            return Attempt::Retry {
                reason,
                retry_after,
            };
        }
        let reason =
            message.unwrap_or_else(|| format!("provider answered HTTP {}", status.as_u16()));
        Attempt::Done(Err(SendError::Permanent {
            status: status.as_u16(),
            code,
            reason,
        }))
    }

    /// The wait before attempt `attempt + 1`: exponential backoff with
    /// jitter, or the provider's hint when longer, capped at `max_delay`.
    fn backoff(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let max = self.options.max_delay;
        let jittered = switchboard_core::retry::backoff(attempt, self.options.base_delay, max);
        jittered.max(retry_after.unwrap_or_default()).min(max)
    }

}

/// Reads a 2xx answer into a receipt. The provider accepted the message
/// whatever the body says, so an unreadable body is a receipt too.
fn receipt(status: StatusCode, body: reqwest::Result<Vec<u8>>) -> SendReceipt {
    let resource = match body {
        Ok(bytes) => serde_json::from_slice::<MessageResource>(&bytes).ok(),
        Err(e) => {
            let reason = switchboard_core::provider::describe_transport(e, "provider");
            tracing::warn!(
                status = status.as_u16(), %reason,
                "SMS accepted, but the answer's body could not be read"
            );
            None
        }
    };
    match resource {
        Some(MessageResource {
            sid: Some(sid),
            status: message_status,
        }) if !sid.is_empty() => SendReceipt {
            provider_message_id: sid,
            status: message_status.unwrap_or_else(|| "unknown".into()),
        },
        _ => SendReceipt {
            provider_message_id: UNKNOWN_SID.into(),
            status: UNCONFIRMED.into(),
        },
    }
}

/// Twilio's `code`, a number in practice, as a string.
fn code_string(code: &serde_json::Value) -> Option<String> {
    match code {
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}


/// `Retry-After`, as delay-seconds or an HTTP-date relative to `now`.
fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?;
    switchboard_core::retry::retry_after(value, now)
}


#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test should fail loudly at the first surprise
#[path = "sender_tests.rs"]
mod tests;
