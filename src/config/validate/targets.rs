//! Checks of the delivery targets, wherever they are (`agents.<id>.deliver`,
//! `queues.<name>.deliver`, `sla.supervisors`): the webhook's secrets, and
//! the chat robots' URL, signing secret, language and rate limit. Messages
//! name keys, never a URL or secret (a robot's URL is its credential).

use secrecy::{ExposeSecret, SecretString};

use crate::config::load::Problems;
use crate::config::model::*;
use super::fields::http_url;

/// One target at key path `t`. `require_signed` is
/// `delivery.require_signed_bots`.
pub(super) fn delivery_target(target: &DeliverTarget, t: &str, require_signed: bool, p: &mut Problems) {
    match target {
        DeliverTarget::Webhook { url, secret, previous_secrets, .. } => {
            http_url(url, &format!("{t}.url"), p);
            match secret {
                None => p.push(format!("{t}.secret"), "is required (or secret_file)"),
                Some(s) if crate::signing::decode_secret(s.expose_secret()).is_none() => {
                    p.push(format!("{t}.secret"), "must be `whsec_` followed by base64")
                }
                Some(_) => {}
            }
            for (j, s) in previous_secrets.iter().enumerate() {
                if crate::signing::decode_secret(s.expose_secret()).is_none() {
                    p.push(format!("{t}.previous_secrets[{j}]"), "must be `whsec_` followed by base64");
                }
            }
        }
        DeliverTarget::Slack { url } => http_url(url.expose_secret(), &format!("{t}.url"), p),
        DeliverTarget::SlackApp { channel } => super::integrations::slack_channel(channel, t, p),
        DeliverTarget::Email { address } if !address.contains('@') => p.push(format!("{t}.address"), "must be an email address"),
        DeliverTarget::Email { .. } | DeliverTarget::Nats {} => {}
        DeliverTarget::Wecom { url, language, rate_limit, rate_window_secs } => {
            robot(url, None, false, language, *rate_limit, *rate_window_secs, t, p)
        }
        DeliverTarget::Dingtalk { url, secret, language, rate_limit, rate_window_secs, .. }
        | DeliverTarget::Feishu { url, secret, language, rate_limit, rate_window_secs, .. } => {
            robot(url, Some(secret), require_signed, language, *rate_limit, *rate_window_secs, t, p)
        }
    }
}

/// A robot's keys. `secret` is `None` for WeCom (no signing scheme).
#[allow(clippy::too_many_arguments)]
fn robot(
    url: &SecretString,
    secret: Option<&Option<SecretString>>,
    require_signed: bool,
    language: &Option<String>,
    rate_limit: Option<u32>,
    rate_window_secs: Option<u64>,
    t: &str,
    p: &mut Problems,
) {
    if !https_or_local(url.expose_secret()) {
        p.push(format!("{t}.url"), "must be an https:// URL (http:// only to 127.0.0.1, for tests)");
    }
    if let Some(secret) = secret {
        let missing = secret.as_ref().is_none_or(|s| s.expose_secret().is_empty());
        if missing && require_signed {
            p.push(
                format!("{t}.secret"),
                "is required (or secret_file) while delivery.require_signed_bots is on: enable signing on the robot",
            );
        }
    }
    if language.as_deref().is_some_and(|l| l != "zh" && l != "en") {
        p.push(format!("{t}.language"), "must be `zh` or `en`");
    }
    if rate_limit.is_some_and(|n| !(1..=1000).contains(&n)) {
        p.push(format!("{t}.rate_limit"), "must be between 1 and 1000");
    }
    if rate_window_secs.is_some_and(|s| !(1..=3600).contains(&s)) {
        p.push(format!("{t}.rate_window_secs"), "must be between 1 and 3600");
    }
}

/// `https://` with a host, or `http://127.0.0.1` (the tests' fakes): what
/// an outside service's URL (a chat robot, the Slack Web API) must be.
pub(super) fn https_or_local(s: &str) -> bool {
    match url::Url::parse(s) {
        Ok(u) if u.scheme() == "https" => u.host().is_some(),
        Ok(u) if u.scheme() == "http" => u.host_str() == Some("127.0.0.1"),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::https_or_local;

    #[test]
    fn robots_are_reached_over_https_only() {
        assert!(https_or_local("https://oapi.dingtalk.com/robot/send?access_token=x"));
        assert!(https_or_local("http://127.0.0.1:8080/robot/send"));
        assert!(!https_or_local("http://oapi.dingtalk.com/robot/send?access_token=x"));
        assert!(!https_or_local("http://localhost/robot"));
        assert!(!https_or_local("http://127.0.0.1.evil.example/robot"));
        assert!(!https_or_local("ftp://127.0.0.1/"));
        assert!(!https_or_local("not a url"));
    }
}
