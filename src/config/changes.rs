//! What a reload changes. Settings are compared by their `Debug` text,
//! where secrets print redacted, so every secret is compared on its own
//! (exposed only for the comparison, never printed): a rotated secret is
//! either put in force or reported as needing a restart, never missed.
//!
//! The channels' secrets take effect at once: [`with_rotated_secrets`]
//! gives the running channels the new secrets of the accounts they have,
//! and the rest of a channel change waits for a restart.

use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;

use super::model::{ChannelsSettings, DeliverTarget, Settings};

/// Whether two optional secrets are the same (constant time in the value).
pub fn same_secret(a: Option<&SecretString>, b: Option<&SecretString>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => bool::from(a.expose_secret().as_bytes().ct_eq(b.expose_secret().as_bytes())),
        _ => false,
    }
}

/// Every secret of `settings` by its key path (`channels.sms.shop.auth_token`).
fn secrets(settings: &Settings) -> Vec<(String, Option<&SecretString>)> {
    let mut all = vec![
        ("server.admin_token".to_owned(), settings.server.admin_token.as_ref()),
        ("server.supervisor_token".to_owned(), settings.server.supervisor_token.as_ref()),
        ("redis.url".to_owned(), Some(&settings.redis.url)),
    ];
    let c = &settings.channels;
    for (name, a) in &c.sms {
        all.push((format!("channels.sms.{name}.auth_token"), a.auth_token.as_ref()));
    }
    for (name, a) in &c.wechat {
        all.push((format!("channels.wechat.{name}.app_secret"), a.app_secret.as_ref()));
        all.push((format!("channels.wechat.{name}.token"), a.token.as_ref()));
        all.push((format!("channels.wechat.{name}.encoding_aes_key"), a.encoding_aes_key.as_ref()));
    }
    for (name, a) in &c.email {
        all.push((format!("channels.email.{name}.smtp_url"), a.smtp_url.as_ref()));
        all.push((format!("channels.email.{name}.mailgun_signing_key"), a.mailgun_signing_key.as_ref()));
        all.push((format!("channels.email.{name}.raw_mime_token"), a.raw_mime_token.as_ref()));
    }
    if let Some(w) = &c.webchat {
        all.push(("channels.webchat.session_secret".to_owned(), w.session_secret.as_ref()));
        all.push(("channels.webchat.identity_secret".to_owned(), w.identity_secret.as_ref()));
    }
    all.push(("integrations.slack.bot_token".to_owned(), settings.integrations.slack.bot_token.as_ref()));
    all.push(("integrations.slack.signing_secret".to_owned(), settings.integrations.slack.signing_secret.as_ref()));
    for (name, a) in &settings.agents {
        all.push((format!("agents.{name}.token"), a.token.as_ref()));
        target_secrets(&a.deliver, &format!("agents.{name}.deliver"), &mut all);
    }
    for (name, q) in &settings.queues {
        target_secrets(&q.deliver, &format!("queues.{name}.deliver"), &mut all);
    }
    target_secrets(&settings.sla.supervisors, "sla.supervisors", &mut all);
    for (list, targets) in &settings.sla.notify {
        target_secrets(targets, &format!("sla.notify.{list}"), &mut all);
    }
    all
}

/// The secrets of a list of delivery targets at key path `at`.
fn target_secrets<'a>(targets: &'a [DeliverTarget], at: &str, all: &mut Vec<(String, Option<&'a SecretString>)>) {
    for (i, target) in targets.iter().enumerate() {
        match target {
            DeliverTarget::Webhook { secret, previous_secrets, .. } => {
                all.push((format!("{at}[{i}].secret"), secret.as_ref()));
                for (j, s) in previous_secrets.iter().enumerate() {
                    all.push((format!("{at}[{i}].previous_secrets[{j}]"), Some(s)));
                }
            }
            DeliverTarget::Slack { url } | DeliverTarget::Wecom { url, .. } => all.push((format!("{at}[{i}].url"), Some(url))),
            DeliverTarget::Dingtalk { url, secret, .. } | DeliverTarget::Feishu { url, secret, .. } => {
                all.push((format!("{at}[{i}].url"), Some(url)));
                all.push((format!("{at}[{i}].secret"), secret.as_ref()));
            }
            DeliverTarget::Email { .. } | DeliverTarget::Nats {} | DeliverTarget::SlackApp { .. } => {}
        }
    }
}

/// The key paths of the secrets that differ between `old` and `new`, set
/// or unset included; never their values.
pub fn changed_secrets(old: &Settings, new: &Settings) -> Vec<String> {
    let old = secrets(old);
    let new = secrets(new);
    let mut changed: Vec<String> = new
        .iter()
        .filter(|(path, b)| old.iter().find(|(p, _)| p == path).is_none_or(|(_, a)| !same_secret(*a, *b)))
        .map(|(path, _)| path.clone())
        .collect();
    changed.extend(old.iter().filter(|(path, _)| !new.iter().any(|(p, _)| p == path)).map(|(p, _)| p.clone()));
    changed.sort();
    changed.dedup();
    changed
}

/// `running` with the secrets (and the files they are read from) of
/// `new`, for every account both have: what the channels run with after a
/// reload. Accounts added or removed, and every other key, wait for a
/// restart.
pub fn with_rotated_secrets(running: &ChannelsSettings, new: &ChannelsSettings) -> ChannelsSettings {
    let mut c = running.clone();
    for (name, a) in &mut c.sms {
        if let Some(n) = new.sms.get(name) {
            (a.auth_token, a.auth_token_file) = (n.auth_token.clone(), n.auth_token_file.clone());
        }
    }
    for (name, a) in &mut c.wechat {
        if let Some(n) = new.wechat.get(name) {
            (a.app_secret, a.app_secret_file) = (n.app_secret.clone(), n.app_secret_file.clone());
            (a.token, a.token_file) = (n.token.clone(), n.token_file.clone());
            (a.encoding_aes_key, a.encoding_aes_key_file) = (n.encoding_aes_key.clone(), n.encoding_aes_key_file.clone());
        }
    }
    for (name, a) in &mut c.email {
        if let Some(n) = new.email.get(name) {
            (a.smtp_url, a.smtp_url_file) = (n.smtp_url.clone(), n.smtp_url_file.clone());
            (a.mailgun_signing_key, a.mailgun_signing_key_file) =
                (n.mailgun_signing_key.clone(), n.mailgun_signing_key_file.clone());
            (a.raw_mime_token, a.raw_mime_token_file) = (n.raw_mime_token.clone(), n.raw_mime_token_file.clone());
        }
    }
    if let (Some(w), Some(n)) = (&mut c.webchat, &new.webchat) {
        (w.session_secret, w.session_secret_file) = (n.session_secret.clone(), n.session_secret_file.clone());
        (w.identity_secret, w.identity_secret_file) = (n.identity_secret.clone(), n.identity_secret_file.clone());
    }
    c
}

/// Whether the provider senders' credentials differ (Twilio auth tokens,
/// WeChat AppSecrets, SMTP URLs): then the senders are built again.
pub fn sender_credentials_differ(a: &ChannelsSettings, b: &ChannelsSettings) -> bool {
    let sms = a.sms.iter().any(|(n, x)| b.sms.get(n).is_none_or(|y| !same_secret(x.auth_token.as_ref(), y.auth_token.as_ref())));
    let wechat =
        a.wechat.iter().any(|(n, x)| b.wechat.get(n).is_none_or(|y| !same_secret(x.app_secret.as_ref(), y.app_secret.as_ref())));
    let email = a.email.iter().any(|(n, x)| b.email.get(n).is_none_or(|y| !same_secret(x.smtp_url.as_ref(), y.smtp_url.as_ref())));
    sms || wechat || email || a.sms.len() != b.sms.len() || a.wechat.len() != b.wechat.len() || a.email.len() != b.email.len()
}

/// The sections of `new` that differ from the `running` (start-time)
/// settings in what only a restart puts in force. Live on reload, so not
/// listed: the routing sections, agents (their tokens and delivery secrets
/// too), `server.admin_token`, `server.supervisor_token`, and the channels' secrets of the accounts
/// running.
pub fn restart_needed(running: &Settings, new: &Settings) -> Vec<&'static str> {
    let differs = |a: &dyn std::fmt::Debug, b: &dyn std::fmt::Debug| format!("{a:?}") != format!("{b:?}");
    let mut server = new.server.clone();
    (server.admin_token, server.admin_token_file) = (running.server.admin_token.clone(), running.server.admin_token_file.clone());
    (server.supervisor_token, server.supervisor_token_file) = (running.server.supervisor_token.clone(), running.server.supervisor_token_file.clone());
    // With the rotated secrets in, the channels compare equal unless a
    // key that needs a restart changed (secrets print redacted).
    let channels = with_rotated_secrets(&running.channels, &new.channels);
    let mut sections = Vec::new();
    for (name, a, b) in [
        ("server", &running.server as &dyn std::fmt::Debug, &server as &dyn std::fmt::Debug),
        ("nats", &running.nats, &new.nats),
        ("redis", &running.redis, &new.redis),
        ("channels", &channels, &new.channels),
        ("outbound", &running.outbound, &new.outbound),
        ("delivery", &running.delivery, &new.delivery),
        ("log", &running.log, &new.log),
        ("security", &running.security, &new.security),
    ] {
        // The data keys print as ids and files only: their bytes compared too.
        let secret_differs = (name == "redis" && !same_secret(Some(&running.redis.url), Some(&new.redis.url)))
            || (name == "security" && running.security.loaded != new.security.loaded);
        if differs(a, b) || secret_differs {
            sections.push(name);
        }
    }
    sections
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(toml: &str) -> Settings {
        crate::config::Loader::new().without_env().overlay(toml.to_owned()).load().unwrap_or_else(|p| panic!("{p}"))
    }

    const BASE: &str = r#"
        [server]
        admin_token = "admin-1"
        [channels.sms.shop]
        account_sid = "AC1"
        auth_token = "twilio-1"
        from = "+15005550006"
        [channels.email.support]
        address = "support@shop.example"
        smtp_url = "smtp://user:pw-1@127.0.0.1:2525"
        mailgun_signing_key = "mailgun-1"
        [agents.alice]
        token = "alice-1"
    "#;

    #[test]
    fn rotated_secrets_are_seen_and_channel_ones_need_no_restart() {
        let old = load(BASE);
        let rotated = BASE.replace("twilio-1", "twilio-2").replace("pw-1", "pw-2").replace("admin-1", "admin-2").replace("alice-1", "alice-2");
        let new = load(&rotated);
        assert_eq!(
            changed_secrets(&old, &new),
            ["agents.alice.token", "channels.email.support.smtp_url", "channels.sms.shop.auth_token", "server.admin_token"]
        );
        assert!(restart_needed(&old, &new).is_empty(), "{:?}", restart_needed(&old, &new));
        let live = with_rotated_secrets(&old.channels, &new.channels);
        assert_eq!(live.sms["shop"].auth_token.as_ref().map(|s| s.expose_secret()), Some("twilio-2"));
        assert!(sender_credentials_differ(&old.channels, &live));
        assert!(changed_secrets(&old, &old).is_empty());
        assert!(!sender_credentials_differ(&old.channels, &old.channels));
    }

    #[test]
    fn a_new_redis_password_or_a_new_account_needs_a_restart() {
        let old = load(BASE);
        let new = load(&format!("{BASE}\n[redis]\nurl = \"redis://:pw@127.0.0.1:6379\"\n"));
        assert_eq!(restart_needed(&old, &new), ["redis"]);
        assert_eq!(changed_secrets(&old, &new), ["redis.url"]);
        let new = load(&format!("{BASE}\n[channels.sms.other]\naccount_sid = \"AC2\"\nauth_token = \"t\"\nfrom = \"+15005550007\"\n"));
        assert_eq!(restart_needed(&old, &new), ["channels"]);
        // The running accounts only: the new one waits for the restart.
        assert!(!with_rotated_secrets(&old.channels, &new.channels).sms.contains_key("other"));
    }

    #[test]
    fn a_secret_unset_is_a_change() {
        let old = load(BASE);
        let new = load(&BASE.replace("mailgun_signing_key = \"mailgun-1\"", ""));
        assert_eq!(changed_secrets(&old, &new), ["channels.email.support.mailgun_signing_key"]);
        assert!(restart_needed(&old, &new).is_empty());
    }
}
