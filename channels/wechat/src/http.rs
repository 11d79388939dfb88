//! The HTTP plumbing under [`WechatApi`](crate::WechatApi): one request
//! and the classification of its answer, kept apart from the API calls so
//! that both calls share exactly one notion of "worth retrying".
//!
//! WeChat answers HTTP 200 with `{"errcode", "errmsg"}` for most failures,
//! so a 2xx is not a success until its body says so; transport errors, 429
//! and 5xx mean nothing was done. Bodies are read up to a cap, and nothing
//! here ever formats a request URL: the app secret and the access token
//! travel in query strings.

use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, ACCEPT, RETRY_AFTER};
use reqwest::StatusCode;
use serde::Deserialize;
use switchboard_core::{retry, SendError};

/// WeChat's answers are a few hundred bytes; anything longer is not one.
const MAX_RESPONSE_BYTES: usize = 64 * 1024;


/// errcode for "system busy, try again later".
const BUSY_ERRCODE: i64 = -1;

/// What one HTTP attempt led to.
pub(crate) enum Attempt<T, E> {
    /// Final: the result, or an error not to retry within this call.
    Done(std::result::Result<T, E>),
    /// Nothing was done; worth another attempt.
    Retry {
        reason: String,
        retry_after: Option<Duration>,
    },
}

/// Every field either of WeChat's answers may have.
#[derive(Default, Deserialize)]
pub(crate) struct Answer {
    pub(crate) access_token: Option<String>,
    pub(crate) expires_in: Option<u64>,
    pub(crate) errcode: Option<i64>,
    pub(crate) errmsg: Option<String>,
}

/// Why an HTTP exchange gave no 2xx answer.
pub(crate) enum Failure {
    /// Transport error, 429 or 5xx: nothing was done.
    Retry {
        reason: String,
        retry_after: Option<Duration>,
    },
    /// Any other status.
    Permanent(SendError),
}

impl Failure {
    /// The same outcome as an attempt of any call.
    pub(crate) fn into_attempt<T, E: From<SendError>>(self) -> Attempt<T, E> {
        match self {
            Failure::Retry {
                reason,
                retry_after,
            } => Attempt::Retry {
                reason,
                retry_after,
            },
            Failure::Permanent(e) => Attempt::Done(Err(e.into())),
        }
    }
}

/// Sends a request and reads a 2xx answer; a 2xx body that cannot be read
/// as JSON is an empty [`Answer`].
pub(crate) async fn exchange(
    request: reqwest::RequestBuilder,
) -> std::result::Result<(StatusCode, Answer), Failure> {
    let response = request
        .header(ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| Failure::Retry {
            reason: switchboard_core::provider::describe_transport(e, "WeChat"),
            retry_after: None,
        })?;
    let status = response.status();
    let retry_after = retry_after(response.headers());
    let body = switchboard_core::provider::read_capped(response, MAX_RESPONSE_BYTES).await;
    if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
        return Err(Failure::Retry {
            reason: format!("WeChat answered HTTP {}", status.as_u16()),
            retry_after,
        });
    }
    if !status.is_success() {
        return Err(Failure::Permanent(SendError::Permanent {
            status: status.as_u16(),
            code: None,
            reason: format!("WeChat answered HTTP {}", status.as_u16()),
        }));
    }
    // A 2xx whose body breaks off or is not JSON is an empty answer, not a
    // transport error: the request did reach WeChat, so each call decides
    // whether repeating it is safe (a token fetch is, a send is not).
    let answer = body
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Answer>(&bytes).ok())
        .unwrap_or_default();
    Ok((status, answer))
}

/// A non-zero errcode: -1 is worth retrying, anything else is permanent.
pub(crate) fn errcode_outcome<T, E: From<SendError>>(
    status: StatusCode,
    code: i64,
    errmsg: Option<String>,
    secrets: &[&str],
) -> Attempt<T, E> {
    let errmsg = errmsg.map(|m| scrub(&m, secrets)).filter(|m| !m.is_empty());
    let reason = errmsg.unwrap_or_else(|| format!("WeChat answered errcode {code}"));
    if code == BUSY_ERRCODE {
        return Attempt::Retry {
            reason: format!("errcode {code}: {reason}"),
            retry_after: None,
        };
    }
    Attempt::Done(Err(SendError::Permanent {
        status: status.as_u16(),
        code: Some(code.to_string()),
        reason,
    }
    .into()))
}



/// `Retry-After`, as delay-seconds or an HTTP-date.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?;
    retry::retry_after(value, SystemTime::now())
}

/// WeChat's `errmsg` made fit for logs: anything secret or personal it
/// might echo (token, OpenID, text) removed, the length capped.
pub(crate) fn scrub(message: &str, secrets: &[&str]) -> String {
    switchboard_core::provider::scrub_reason(message, "", secrets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrub_removes_secrets_and_caps_length() {
        assert_eq!(
            scrub(" bad token ABCD for oXYZ ", &["ABCD", "oXYZ", "ab"]),
            "bad token [redacted] for [redacted]"
        );
        let long = scrub(&"错".repeat(200), &[]);
        assert!(long.len() <= switchboard_core::provider::MAX_REASON_LEN + '…'.len_utf8());
    }

    #[test]
    fn busy_is_retried_and_other_codes_are_permanent() {
        let busy: Attempt<(), SendError> =
            errcode_outcome(StatusCode::OK, -1, Some("system error".into()), &[]);
        assert!(matches!(busy, Attempt::Retry { .. }));
        let other: Attempt<(), SendError> = errcode_outcome(StatusCode::OK, 45047, None, &[]);
        let Attempt::Done(Err(SendError::Permanent { code, reason, .. })) = other else {
            panic!("expected Permanent");
        };
        assert_eq!(code.as_deref(), Some("45047"));
        assert!(reason.contains("45047"));
    }
}
