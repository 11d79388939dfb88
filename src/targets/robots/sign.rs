//! The robots' signatures and the reading of their answers. Pure: no I/O.
//!
//! Followed (request signing):
//! - DingTalk custom robot, "security settings → 加签"
//!   (open.dingtalk.com/document/robots/customize-robot-security-settings):
//!   `timestamp` in milliseconds, `sign` = URL-encoded
//!   base64(HMAC-SHA256(key = secret, msg = "{timestamp}\n{secret}")), both
//!   added to the webhook's query; a timestamp more than an hour off is
//!   refused.
//! - Feishu/Lark custom bot, "签名校验"
//!   (open.feishu.cn/document/client-docs/bot-v3/add-custom-bot):
//!   `timestamp` in seconds (a string) and `sign` =
//!   base64(HMAC-SHA256(key = "{timestamp}\n{secret}", msg = empty)), both
//!   in the JSON body.
//! - WeCom group robot (developer.work.weixin.qq.com/document/path/91770):
//!   no signature, the `key` in the URL is the credential.
//!
//! Answers are JSON with an error code even on HTTP 200: `errcode` (WeCom,
//! DingTalk) or `code` (Feishu, with the older `StatusCode`), 0 for
//! success. The codes classified here are the documented ones; an unknown
//! non-zero code is a failure that is dead-lettered without disabling the
//! target (it may be our message, not the robot).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::Provider;

fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(msg);
    mac.finalize().into_bytes().into()
}

/// DingTalk's `sign` for `timestamp_ms`, before URL encoding (the query
/// builder encodes it).
pub fn dingtalk_sign(secret: &str, timestamp_ms: i64) -> String {
    let message = format!("{timestamp_ms}\n{secret}");
    STANDARD.encode(hmac_sha256(secret.as_bytes(), message.as_bytes()))
}

/// The DingTalk webhook URL with `timestamp` and `sign` appended to its
/// query (the URL's own `access_token` is kept).
pub fn dingtalk_signed_url(url: &str, secret: &str, timestamp_ms: i64) -> Result<url::Url, url::ParseError> {
    let mut url = url::Url::parse(url)?;
    url.query_pairs_mut()
        .append_pair("timestamp", &timestamp_ms.to_string())
        .append_pair("sign", &dingtalk_sign(secret, timestamp_ms));
    Ok(url)
}

/// Feishu's `sign` for `timestamp_secs`: the HMAC is keyed by the string
/// to sign, over an empty message (as the Feishu document's Go and Python
/// samples do).
pub fn feishu_sign(secret: &str, timestamp_secs: i64) -> String {
    let key = format!("{timestamp_secs}\n{secret}");
    STANDARD.encode(hmac_sha256(key.as_bytes(), b""))
}

/// What a robot's answer means for the delivery.
#[derive(Debug, PartialEq, Eq)]
pub enum Answer {
    /// Code 0: delivered.
    Ok,
    /// Rate-limited or a transient server fault: retry with backoff.
    Retry(String),
    /// The robot refuses us for good (bad key, token, signature, keyword,
    /// IP): the target is disabled until a reload.
    Disable(String),
    /// Refused, but not for the robot's configuration (a malformed message,
    /// an unknown code): dead-lettered, the target stays.
    Failed(String),
}

/// Reads an HTTP 2xx answer's body: its error code and message.
pub fn read_answer(provider: Provider, body: &[u8]) -> Answer {
    match read_code(provider, body) {
        Some((code, why)) => classify(provider, code, why),
        // A 2xx without the robot API's JSON is not the robot API (a
        // proxy, a captive portal): worth another try.
        None => Answer::Retry(format!("the {} answer carries no error code", provider.label())),
    }
}

/// The error code of an answer and a reason naming it, if the body is the
/// provider's JSON. Some refusals come with a 4xx status and the same body.
pub fn read_code(provider: Provider, body: &[u8]) -> Option<(i64, String)> {
    let v = serde_json::from_slice::<serde_json::Value>(body).ok()?;
    let (code, message) = match provider {
        Provider::Wecom | Provider::Dingtalk => (v["errcode"].as_i64(), v["errmsg"].as_str()),
        Provider::Feishu => (v["code"].as_i64().or_else(|| v["StatusCode"].as_i64()), v["msg"].as_str().or(v["StatusMessage"].as_str())),
    };
    // The provider's message is short and carries no secret; bounded anyway.
    let message: String = message.unwrap_or("").chars().filter(|c| !c.is_control()).take(120).collect();
    code.map(|code| (code, format!("{} answered code {code}: {message}", provider.label())))
}

/// What error `code` of `provider` means (`why` names it).
pub fn classify(provider: Provider, code: i64, why: String) -> Answer {
    match (provider, code) {
        (_, 0) => Answer::Ok,
        // WeCom: -1 system busy, 45009 API frequency out of limit (20 a
        // minute per robot), 45033 concurrency.
        (Provider::Wecom, -1 | 45009 | 45033) => Answer::Retry(why),
        // WeCom: 93000 invalid webhook URL (robot removed), 40001/40014
        // invalid credential or key, 93004 robot stopped.
        (Provider::Wecom, 93000 | 93004 | 40001 | 40014) => Answer::Disable(why),
        // DingTalk: -1 system busy, 130101 and 410100 sent too fast (20 a
        // minute per robot, then 10 minutes of throttling).
        (Provider::Dingtalk, -1 | 130101 | 410100) => Answer::Retry(why),
        // DingTalk: 310000 keyword, signature or IP check failed (the
        // errmsg says which), 300001 token does not exist, 300005 token is
        // not a robot's, 400013 the group was dissolved.
        (Provider::Dingtalk, 310000 | 300001 | 300005 | 400013) => Answer::Disable(why),
        // Feishu: 11232 frequency limited (100 a minute, 5 a second), 9499
        // is "Bad Request" (the body), not a limit: dead-lettered below.
        (Provider::Feishu, 11232) => Answer::Retry(why),
        // Feishu: 19021 sign match fail or timestamp off by an hour, 19022
        // IP not allowed, 19024 keyword not found, 19001 the webhook is
        // invalid (bot deleted).
        (Provider::Feishu, 19001 | 19021 | 19022 | 19024) => Answer::Disable(why),
        _ => Answer::Failed(why),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Known answers computed independently with Python:
    //   base64.b64encode(hmac.new(b'SEC0123456789abcdef',
    //       b'1700000000000\nSEC0123456789abcdef', hashlib.sha256).digest())
    const DINGTALK_SIGN: &str = "TSZbRFUuvaSQaRKUpF970OPCb2/LcQAP3wOvwZIzBZk=";
    // urllib.parse.quote_plus of the above.
    const DINGTALK_SIGN_QUERY: &str = "TSZbRFUuvaSQaRKUpF970OPCb2%2FLcQAP3wOvwZIzBZk%3D";
    //   base64.b64encode(hmac.new(b'1700000000\nfeishu-secret-0123', b'',
    //       hashlib.sha256).digest())
    const FEISHU_SIGN: &str = "+1U0CMYEwDTNNFL+y2fnyQM4HJAMb/Bh4gSg7jklS/s=";

    #[test]
    fn dingtalk_signature_matches_an_independent_computation() {
        assert_eq!(dingtalk_sign("SEC0123456789abcdef", 1_700_000_000_000), DINGTALK_SIGN);
        assert_ne!(dingtalk_sign("SEC0123456789abcdef", 1_700_000_000_001), DINGTALK_SIGN);
        let url = dingtalk_signed_url("https://oapi.dingtalk.com/robot/send?access_token=abc", "SEC0123456789abcdef", 1_700_000_000_000)
            .unwrap();
        assert_eq!(
            url.as_str(),
            format!("https://oapi.dingtalk.com/robot/send?access_token=abc&timestamp=1700000000000&sign={DINGTALK_SIGN_QUERY}")
        );
    }

    #[test]
    fn feishu_signature_matches_an_independent_computation() {
        assert_eq!(feishu_sign("feishu-secret-0123", 1_700_000_000), FEISHU_SIGN);
        assert_ne!(feishu_sign("feishu-secret-0124", 1_700_000_000), FEISHU_SIGN);
    }

    #[test]
    fn answers_are_read_by_their_code_not_their_status() {
        assert_eq!(read_answer(Provider::Wecom, br#"{"errcode":0,"errmsg":"ok"}"#), Answer::Ok);
        assert!(matches!(read_answer(Provider::Wecom, br#"{"errcode":45009,"errmsg":"api freq out of limit"}"#), Answer::Retry(_)));
        assert!(matches!(read_answer(Provider::Wecom, br#"{"errcode":93000,"errmsg":"invalid webhook url"}"#), Answer::Disable(_)));
        assert!(matches!(read_answer(Provider::Dingtalk, br#"{"errcode":130101,"errmsg":"send too fast"}"#), Answer::Retry(_)));
        assert!(matches!(read_answer(Provider::Dingtalk, br#"{"errcode":410100,"errmsg":"send too fast"}"#), Answer::Retry(_)));
        let bad_sign = read_answer(Provider::Dingtalk, br#"{"errcode":310000,"errmsg":"sign not match"}"#);
        assert_eq!(bad_sign, Answer::Disable("DingTalk answered code 310000: sign not match".into()));
        assert!(matches!(read_answer(Provider::Dingtalk, br#"{"errcode":300001,"errmsg":"token is not exist"}"#), Answer::Disable(_)));
        assert_eq!(read_answer(Provider::Feishu, br#"{"code":0,"msg":"success","data":{}}"#), Answer::Ok);
        assert_eq!(read_answer(Provider::Feishu, br#"{"StatusCode":0,"StatusMessage":"success"}"#), Answer::Ok);
        assert!(matches!(read_answer(Provider::Feishu, br#"{"code":11232,"msg":"frequency limited"}"#), Answer::Retry(_)));
        assert!(matches!(read_answer(Provider::Feishu, br#"{"code":19021,"msg":"sign match fail"}"#), Answer::Disable(_)));
        assert!(matches!(read_answer(Provider::Feishu, br#"{"code":19024,"msg":"Key Words Not Found"}"#), Answer::Disable(_)));
        assert!(matches!(read_answer(Provider::Feishu, br#"{"code":9499,"msg":"Bad Request"}"#), Answer::Failed(_)));
        assert!(matches!(read_answer(Provider::Wecom, br#"{"errcode":12345}"#), Answer::Failed(_)));
        assert!(matches!(read_answer(Provider::Wecom, b"<html>"), Answer::Retry(_)));
        assert!(matches!(read_answer(Provider::Feishu, br#"{"ok":true}"#), Answer::Retry(_)));
    }

    #[test]
    fn a_code_is_read_with_a_bounded_one_line_reason() {
        let long = format!(r#"{{"code":19021,"msg":"sign\nmatch fail {}"}}"#, "x".repeat(500));
        let (code, why) = read_code(Provider::Feishu, long.as_bytes()).unwrap();
        assert_eq!(code, 19021);
        assert!(why.starts_with("Feishu answered code 19021: signmatch fail") && why.len() < 200, "{why}");
        assert_eq!(read_code(Provider::Dingtalk, br#"{"code":1}"#), None, "DingTalk's is errcode");
        assert_eq!(read_code(Provider::Wecom, b"Bad Gateway"), None);
    }
}
