//! Secrets: reading every `*_file` key into its value (a regular, small UTF-8
//! file only), and making sure no two principals share a bearer token.

use std::path::PathBuf;

use secrecy::{ExposeSecret, SecretString};

use crate::config::load::Problems;
use crate::config::model::*;

impl Settings {
    /// Reads every `*_file` secret; a key given both ways is a problem.
    pub(in crate::config) fn resolve_secrets(&mut self, p: &mut Problems) {
        secret(&mut self.server.admin_token, &self.server.admin_token_file, "server.admin_token", p);
        secret(&mut self.server.supervisor_token, &self.server.supervisor_token_file, "server.supervisor_token", p);
        let mut url = Some(self.redis.url.clone());
        if self.redis.url_file.is_some() {
            url = None;
        }
        secret(&mut url, &self.redis.url_file, "redis.url", p);
        if let Some(url) = url {
            self.redis.url = url;
        }
        for (name, a) in &mut self.channels.sms {
            secret(&mut a.auth_token, &a.auth_token_file, &format!("channels.sms.{name}.auth_token"), p);
        }
        for (name, a) in &mut self.channels.wechat {
            let at = format!("channels.wechat.{name}");
            secret(&mut a.app_secret, &a.app_secret_file, &format!("{at}.app_secret"), p);
            secret(&mut a.token, &a.token_file, &format!("{at}.token"), p);
            secret(&mut a.encoding_aes_key, &a.encoding_aes_key_file, &format!("{at}.encoding_aes_key"), p);
        }
        for (name, a) in &mut self.channels.email {
            let at = format!("channels.email.{name}");
            secret(&mut a.smtp_url, &a.smtp_url_file, &format!("{at}.smtp_url"), p);
            secret(&mut a.mailgun_signing_key, &a.mailgun_signing_key_file, &format!("{at}.mailgun_signing_key"), p);
            secret(&mut a.raw_mime_token, &a.raw_mime_token_file, &format!("{at}.raw_mime_token"), p);
        }
        if let Some(w) = &mut self.channels.webchat {
            secret(&mut w.session_secret, &w.session_secret_file, "channels.webchat.session_secret", p);
            secret(&mut w.identity_secret, &w.identity_secret_file, "channels.webchat.identity_secret", p);
        }
        secret(&mut self.csat.link_secret, &self.csat.link_secret_file, "csat.link_secret", p);
        for (name, b) in &mut self.bots {
            secret(&mut b.secret, &b.secret_file, &format!("bots.{name}.secret"), p);
        }
        let slack = &mut self.integrations.slack;
        secret(&mut slack.bot_token, &slack.bot_token_file, "integrations.slack.bot_token", p);
        secret(&mut slack.signing_secret, &slack.signing_secret_file, "integrations.slack.signing_secret", p);
        for (name, a) in &mut self.agents {
            secret(&mut a.token, &a.token_file, &format!("agents.{name}.token"), p);
            for (i, target) in a.deliver.iter_mut().enumerate() {
                target_secret(target, &format!("agents.{name}.deliver[{i}].secret"), p);
            }
        }
        for (name, q) in &mut self.queues {
            for (i, target) in q.deliver.iter_mut().enumerate() {
                target_secret(target, &format!("queues.{name}.deliver[{i}].secret"), p);
            }
        }
        data_keys(&mut self.security, p);
        for (i, target) in self.sla.supervisors.iter_mut().enumerate() {
            target_secret(target, &format!("sla.supervisors[{i}].secret"), p);
        }
        for (list, targets) in &mut self.sla.notify {
            for (i, target) in targets.iter_mut().enumerate() {
                target_secret(target, &format!("sla.notify.{list}[{i}].secret"), p);
            }
        }
    }
}

/// A target's `secret_file` (webhooks, DingTalk and Feishu robots).
fn target_secret(target: &mut DeliverTarget, key: &str, p: &mut Problems) {
    match target {
        DeliverTarget::Webhook { secret: s, secret_file, .. }
        | DeliverTarget::Dingtalk { secret: s, secret_file, .. }
        | DeliverTarget::Feishu { secret: s, secret_file, .. } => secret(s, secret_file, key, p),
        _ => {}
    }
}

fn secret(value: &mut Option<SecretString>, file: &Option<PathBuf>, key: &str, p: &mut Problems) {
    let Some(path) = file else { return };
    if value.is_some() {
        p.push(key, format!("give either `{0}` or `{0}_file`, not both", key.rsplit('.').next().unwrap_or(key)));
        return;
    }
    match read_secret_file(path) {
        Ok(s) => *value = Some(SecretString::from(s.trim_end_matches(['\r', '\n']).to_owned())),
        Err(why) => p.push(format!("{key}_file"), format!("{}: {why}", path.display())),
    }
}

/// Reads `[security] data_keys`: each id well-formed and unique, each file
/// a key of 64 hexadecimal digits.
fn data_keys(security: &mut SecuritySettings, p: &mut Problems) {
    let mut seen = std::collections::BTreeSet::new();
    for (i, k) in security.data_keys.iter().enumerate() {
        let at = format!("security.data_keys[{i}]");
        let id_ok = (1..=32).contains(&k.id.len()) && k.id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !id_ok {
            p.push(format!("{at}.id"), "must be 1 to 32 letters, digits, `_` or `-`");
        } else if !seen.insert(k.id.clone()) {
            p.push(format!("{at}.id"), format!("key id {:?} is given twice", k.id));
        }
        match read_secret_file(&k.key_file).and_then(|t| crate::sealing::parse_key(&t)) {
            Ok(key) => security.loaded.push((k.id.clone(), key)),
            Err(why) => p.push(format!("{at}.key_file"), format!("{}: {why}", k.key_file.display())),
        }
    }
}

/// The largest secret file read.
pub const MAX_SECRET_FILE_BYTES: u64 = 64 * 1024;

/// Reads a secret file: a regular file (a FIFO, device or directory is
/// refused; opening does not wait for a FIFO's writer) of at most
/// [`MAX_SECRET_FILE_BYTES`], in UTF-8. Only the configuration file and the
/// environment name such files, at start and on reload (which runs this
/// off the async runtime); run-time (admin API) entries cannot.
fn read_secret_file(path: &std::path::Path) -> Result<String, String> {
    use std::io::Read as _;
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY);
    }
    let file = options.open(path).map_err(|e| format!("cannot read: {e}"))?;
    let meta = file.metadata().map_err(|e| format!("cannot read: {e}"))?;
    if !meta.is_file() {
        return Err("is not a regular file (FIFOs, devices and directories are refused)".into());
    }
    if meta.len() > MAX_SECRET_FILE_BYTES {
        return Err(format!("is larger than {MAX_SECRET_FILE_BYTES} bytes"));
    }
    let mut bytes = Vec::new();
    file.take(MAX_SECRET_FILE_BYTES + 1).read_to_end(&mut bytes).map_err(|e| format!("cannot read: {e}"))?;
    if bytes.len() as u64 > MAX_SECRET_FILE_BYTES {
        return Err(format!("is larger than {MAX_SECRET_FILE_BYTES} bytes"));
    }
    String::from_utf8(bytes).map_err(|_| "is not UTF-8 text".into())
}

/// Every bearer token acts for one principal only: a token shared by two
/// (an agent given another's token, or the admin token) would act as
/// whichever is looked up first. Names both owners, never the token.
pub(super) fn unique_tokens(settings: &Settings, p: &mut Problems) {
    let mut owners: Vec<(String, &str)> = Vec::new();
    if let Some(t) = &settings.server.admin_token {
        owners.push(("server.admin_token".into(), t.expose_secret().trim()));
    }
    if let Some(t) = &settings.server.supervisor_token {
        owners.push(("server.supervisor_token".into(), t.expose_secret().trim()));
    }
    for (name, a) in &settings.agents {
        if let Some(t) = &a.token {
            owners.push((format!("agents.{name}.token"), t.expose_secret().trim()));
        }
    }
    let mut seen: std::collections::HashMap<&str, &str> = std::collections::HashMap::new();
    for (owner, token) in &owners {
        if token.is_empty() {
            continue;
        }
        match seen.get(token) {
            Some(first) => p.push(owner.as_str(), format!("is the same token as `{first}`; every token must be unique")),
            None => {
                seen.insert(token, owner.as_str());
            }
        }
    }
}
