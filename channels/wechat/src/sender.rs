//! Outbound through WeChat's HTTP API: access tokens and customer-service
//! text messages.
//!
//! [`WechatApi::fetch_access_token`] asks `GET /cgi-bin/token` for a token;
//! caching it (in Redis, shared by every replica, refreshed before
//! `expires_in`) is the daemon's job, since WeChat invalidates the previous
//! token whenever a new one is fetched. [`WechatApi::send_text`] posts to
//! `/cgi-bin/message/custom/send`; when WeChat says the token is invalid or
//! expired (errcode 40001, 40014, 42001) it returns
//! [`WechatSendError::TokenExpired`] so the daemon refreshes the shared
//! token and retries once.
//!
//! WeChat answers HTTP 200 with an `errcode` for most failures. Within one
//! call, only failures that say nothing was done are retried, up to
//! `max_attempts` requests with exponential backoff and jitter (or the
//! server's `Retry-After`), capped at `max_delay`: network errors and
//! timeouts, 429, 5xx and errcode -1 ("system busy"). A timed-out send may
//! in fact have been delivered, and the API has no idempotency key, so a
//! rare duplicate is the price of not losing a reply. A 2xx whose body
//! cannot be read (it breaks off, stalls until the timeout, or is not
//! WeChat's JSON) is ambiguous, since WeChat reports most failures as 200
//! with an errcode; it counts as sent, with status `unconfirmed`: WeChat
//! most likely has the message, and a retry would risk a duplicate on the
//! customer's phone. When attempts run out the error is
//! [`SendError::Retryable`]: the durable retry belongs to the caller.
//! Other errcodes (45015 "response out of time limit", 40003 invalid
//! OpenID, …) are [`SendError::Permanent`] with the code.
//!
//! The app secret and the access token travel in query strings, so request
//! URLs are never logged nor put in errors (`reqwest::Error::without_url`).
//! The OpenID appears in logs only through [`Masked`]; message text never.

use std::future::Future;
use std::time::Duration;

use reqwest::{redirect, Url};
use secrecy::{ExposeSecret as _, SecretString};
use switchboard_core::{retry, Masked, OutboundMessage, SendError, SendReceipt};

use crate::error::{Result, WechatError};
use crate::http::{errcode_outcome, exchange, Answer, Attempt};

/// The status of a receipt whose 2xx answer could not be read.
const UNCONFIRMED: &str = "unconfirmed";

/// errcodes meaning the access token is invalid, not the latest, or expired.
const TOKEN_ERRCODES: [i64; 3] = [40001, 40014, 42001];

/// How to reach WeChat's API and how hard to try.
#[derive(Clone, Debug)]
pub struct ApiOptions {
    /// Base URL, e.g. `https://api.weixin.qq.com`; a trailing slash is
    /// tolerated and a path prefix kept.
    pub api_base: String,
    /// The account's AppID.
    pub app_id: String,
    /// The account's AppSecret.
    pub app_secret: SecretString,
    /// Limit on each HTTP request, connection included.
    pub request_timeout: Duration,
    /// HTTP requests within one call; at least 1.
    pub max_attempts: u32,
    /// First backoff wait; doubled on each further attempt, with jitter.
    pub base_delay: Duration,
    /// Cap on any single wait between attempts, `Retry-After` included.
    pub max_delay: Duration,
}

/// A fresh access token.
#[derive(Clone, Debug)]
pub struct AccessToken {
    /// The token to pass as `access_token`.
    pub token: SecretString,
    /// Its lifetime from WeChat's answer (7200 s in practice); the daemon
    /// refreshes somewhat before it runs out.
    pub expires_in: Duration,
}

/// Why [`WechatApi::send_text`] did not deliver.
#[derive(Debug, thiserror::Error)]
pub enum WechatSendError {
    /// WeChat refused the access token as invalid or expired (errcode
    /// 40001, 40014 or 42001): refresh the shared token and retry once.
    #[error("WeChat refused the access token as invalid or expired")]
    TokenExpired,
    /// Any other failure.
    #[error(transparent)]
    Send(#[from] SendError),
}

/// A client for one account's WeChat API. Cheap to clone: clones share one
/// connection pool.
#[derive(Clone, Debug)]
pub struct WechatApi {
    client: reqwest::Client,
    token_url: Url,
    send_url: Url,
    options: ApiOptions,
}

impl WechatApi {
    /// Checks the options and builds the HTTP client (with the request
    /// timeout, and without following redirects). Errors are
    /// [`WechatError::Config`].
    pub fn new(o: ApiOptions) -> Result<WechatApi> {
        let config = |reason: &str| WechatError::Config(reason.to_owned());
        let base = o.api_base.trim_end_matches('/');
        let parsed = Url::parse(base).map_err(|_| config("api_base is not a URL"))?;
        if !matches!(parsed.scheme(), "http" | "https") || !parsed.has_host() {
            return Err(config("api_base must be an http(s) URL"));
        }
        if o.app_id.trim().is_empty() {
            return Err(config("app_id must not be empty"));
        }
        if o.app_secret.expose_secret().is_empty() {
            return Err(config("app_secret must not be empty"));
        }
        if o.max_attempts == 0 {
            return Err(config("max_attempts must be at least 1"));
        }
        if o.request_timeout.is_zero() {
            return Err(config("request_timeout must be positive"));
        }
        let url = |path: &str| {
            Url::parse(&format!("{base}{path}")).map_err(|_| config("api_base is not a URL"))
        };
        let client = reqwest::Client::builder()
            .timeout(o.request_timeout)
            .connect_timeout(o.request_timeout)
            .redirect(redirect::Policy::none())
            .user_agent(concat!("switchboard-wechat/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|_| config("cannot build the HTTP client"))?;
        Ok(WechatApi {
            client,
            token_url: url("/cgi-bin/token")?,
            send_url: url("/cgi-bin/message/custom/send")?,
            options: o,
        })
    }

    /// `GET {api_base}/cgi-bin/token?grant_type=client_credential&appid=…&secret=…`.
    ///
    /// `{"access_token", "expires_in"}` is the token. An `errcode` (bad
    /// secret 40001/40125, IP not whitelisted 40164, …) is
    /// [`SendError::Permanent`] with the code; errcode -1, 429, 5xx, network
    /// errors and unreadable answers are retried (see the module doc), then
    /// [`SendError::Retryable`].
    pub async fn fetch_access_token(&self) -> std::result::Result<AccessToken, SendError> {
        self.with_retries("access token", || self.token_attempt())
            .await
    }

    /// Sends `msg` as a customer-service message:
    /// `POST {api_base}/cgi-bin/message/custom/send?access_token=…` with
    /// `{"touser": msg.to, "msgtype": "text", "text": {"content": …}}`, or,
    /// when `msg.media_ids` has an entry, `{"msgtype": kind, kind:
    /// {"media_id": …}}` for that image, voice or video (the text is then not
    /// sent; the daemon puts text and each media on separate messages).
    /// WeChat's text messages carry no media, so each of `media_urls` is
    /// appended to the text on a line of its own (WeChat shows it as a
    /// link).
    ///
    /// errcode 0 is the receipt (WeChat gives no message id, so the receipt
    /// carries our own `msg.id`, status `sent`); a 2xx without a readable
    /// errcode is one too, status `unconfirmed` (see the module doc). 40001/40014/42001 is
    /// [`WechatSendError::TokenExpired`]; other errcodes and 4xx are
    /// [`SendError::Permanent`]; -1, 429, 5xx and network errors are retried
    /// (see the module doc), then [`SendError::Retryable`].
    pub async fn send_text(
        &self,
        access_token: &str,
        msg: &OutboundMessage,
    ) -> std::result::Result<SendReceipt, WechatSendError> {
        let body = match msg.media_ids.first() {
            // image, voice and video by media id: `{"msgtype": kind, kind: {"media_id": …}}`.
            Some(media) => {
                let mut body = serde_json::json!({ "touser": msg.to, "msgtype": media.kind });
                body[media.kind.as_str()] = serde_json::json!({ "media_id": media.media_id });
                body
            }
            None => {
                let mut content = msg.text.clone();
                for url in &msg.media_urls {
                    if !content.is_empty() {
                        content.push('\n');
                    }
                    content.push_str(url);
                }
                serde_json::json!({ "touser": msg.to, "msgtype": "text", "text": { "content": content } })
            }
        };
        tracing::debug!(id = %msg.id, to = %Masked(&msg.to), "sending WeChat customer-service message");
        let result = self
            .with_retries("customer-service message", || {
                self.send_attempt(access_token, &body, msg)
            })
            .await;
        match &result {
            Ok(_) => {}
            // Expected every two hours or so; the daemon refreshes and retries.
            Err(WechatSendError::TokenExpired) => {
                tracing::debug!(id = %msg.id, "WeChat refused the access token");
            }
            Err(e) => {
                tracing::warn!(id = %msg.id, to = %Masked(&msg.to), error = %e, "WeChat send failed");
            }
        }
        result
    }

    /// Runs `attempt` until it is done or `max_attempts` is used up.
    async fn with_retries<T, E, F, Fut>(
        &self,
        what: &str,
        mut attempt: F,
    ) -> std::result::Result<T, E>
    where
        E: From<SendError>,
        F: FnMut() -> Fut,
        Fut: Future<Output = Attempt<T, E>>,
    {
        let o = &self.options;
        let mut n = 1;
        loop {
            let (reason, retry_after) = match attempt().await {
                Attempt::Done(result) => return result,
                Attempt::Retry {
                    reason,
                    retry_after,
                } => (reason, retry_after),
            };
            if n >= o.max_attempts {
                return Err(SendError::Retryable {
                    reason,
                    retry_after,
                }
                .into());
            }
            let wait = retry::next_wait(n, retry_after, o.base_delay, o.max_delay);
            tracing::warn!(
                what, attempt = n, %reason,
                wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                "WeChat API call failed; retrying"
            );
            tokio::time::sleep(wait).await;
            n += 1;
        }
    }

    /// One token request.
    async fn token_attempt(&self) -> Attempt<AccessToken, SendError> {
        let request = self.client.get(self.token_url.clone()).query(&[
            ("grant_type", "client_credential"),
            ("appid", self.options.app_id.as_str()),
            ("secret", self.options.app_secret.expose_secret()),
        ]);
        let (status, answer) = match exchange(request).await {
            Ok(exchanged) => exchanged,
            Err(failure) => return failure.into_attempt(),
        };
        match answer {
            Answer {
                errcode: Some(code),
                errmsg,
                ..
            } if code != 0 => errcode_outcome(
                status,
                code,
                errmsg,
                &[self.options.app_secret.expose_secret()],
            ),
            Answer {
                access_token: Some(token),
                expires_in: Some(secs),
                ..
            } if !token.is_empty() => Attempt::Done(Ok(AccessToken {
                token: SecretString::from(token),
                expires_in: Duration::from_secs(secs),
            })),
            _ => Attempt::Retry {
                reason: format!(
                    "WeChat answered HTTP {} without an access token",
                    status.as_u16()
                ),
                retry_after: None,
            },
        }
    }

    /// One send request.
    async fn send_attempt(
        &self,
        access_token: &str,
        body: &serde_json::Value,
        msg: &OutboundMessage,
    ) -> Attempt<SendReceipt, WechatSendError> {
        let request = self
            .client
            .post(self.send_url.clone())
            .query(&[("access_token", access_token)])
            .json(body);
        let (status, answer) = match exchange(request).await {
            Ok(exchanged) => exchanged,
            Err(failure) => return failure.into_attempt(),
        };
        match answer.errcode {
            Some(0) => Attempt::Done(Ok(SendReceipt {
                provider_message_id: msg.id.clone(),
                status: "sent".into(),
            })),
            Some(code) if TOKEN_ERRCODES.contains(&code) => {
                Attempt::Done(Err(WechatSendError::TokenExpired))
            }
            Some(code) => {
                let secrets = [access_token, msg.to.as_str(), msg.text.as_str()];
                errcode_outcome(status, code, answer.errmsg, &secrets)
            }
            // A 2xx without an errcode we can read: ambiguous (see the
            // module doc). Sent, since a retry risks a duplicate.
            None => {
                tracing::warn!(
                    id = %msg.id, status = status.as_u16(),
                    "WeChat answered without a readable errcode; counted as sent"
                );
                Attempt::Done(Ok(SendReceipt {
                    provider_message_id: msg.id.clone(),
                    status: UNCONFIRMED.into(),
                }))
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test should fail loudly at the first surprise
#[path = "sender_tests.rs"]
mod tests;
