//! What the simulator needs from the daemon's configuration: the accounts
//! and their secrets (to sign what the providers would send), the agents'
//! tokens (to play them), and where the outbound senders point (to play the
//! providers there).
//!
//! The file is read as plain TOML over the values of `config/default.toml`
//! (embedded), not through the daemon's loader: the simulator stays a
//! client of the daemon's public interfaces. `SWITCHBOARD__…` environment
//! overrides are not applied; secrets given as `<key>_file` are read.

use std::collections::BTreeSet;
use std::path::Path;

use toml::{Table, Value};

use crate::error::SimError;

/// The daemon's embedded defaults, the base the file is layered over.
const DEFAULTS: &str = include_str!("../../../config/default.toml");

/// An SMS account (`[channels.sms.<name>]`).
#[derive(Clone, Debug)]
pub struct SmsAccount {
    pub name: String,
    pub account_sid: String,
    pub auth_token: String,
    pub from: String,
    /// The port of `api_base` on 127.0.0.1, where the fake Twilio listens.
    pub api_port: u16,
}

/// A WeChat Official Account (`[channels.wechat.<name>]`).
#[derive(Clone, Debug)]
pub struct WechatAccount {
    pub name: String,
    pub app_id: String,
    pub app_secret: String,
    pub token: String,
    /// Absent: plaintext pushes.
    pub encoding_aes_key: Option<String>,
    pub api_port: u16,
}

/// An email account (`[channels.email.<name>]`).
#[derive(Clone, Debug)]
pub struct EmailAccount {
    pub name: String,
    pub address: String,
    pub mailgun_signing_key: Option<String>,
    pub raw_mime_token: Option<String>,
    /// The port of `smtp_url` on 127.0.0.1, where the SMTP sink listens.
    pub smtp_port: u16,
}

/// An agent with an API token.
#[derive(Clone, Debug)]
pub struct Agent {
    pub id: String,
    pub token: String,
}

/// The daemon as the simulator sees it.
#[derive(Clone, Debug)]
pub struct Target {
    /// `server.public_url`: what provider signatures are computed over.
    pub public_url: String,
    pub admin_token: Option<String>,
    pub sms: Vec<SmsAccount>,
    pub wechat: Vec<WechatAccount>,
    pub email: Vec<EmailAccount>,
    /// `Some` when web chat is on; the shop's identity secret inside, if any.
    pub webchat: Option<Option<String>>,
    pub agents: Vec<Agent>,
    pub queues: BTreeSet<String>,
    /// Ports of `[sla] supervisors` webhooks on 127.0.0.1, where the
    /// simulator takes the SLA notifications (others are left alone).
    pub supervisor_ports: Vec<u16>,
}

/// Deep merge: tables merge key by key, anything else is replaced.
fn merge(base: &mut Table, over: Table) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            (Some(Value::Table(b)), Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

fn bad(at: &str, why: &str) -> SimError {
    SimError::Config(format!("{at}: {why}"))
}

fn table<'a>(t: &'a Table, key: &str) -> Option<&'a Table> {
    t.get(key).and_then(Value::as_table)
}

fn string(t: &Table, key: &str) -> Option<String> {
    t.get(key).and_then(Value::as_str).map(str::to_owned)
}

/// A secret given inline or as `<key>_file`.
fn secret(t: &Table, key: &str, at: &str) -> Result<Option<String>, SimError> {
    if let Some(v) = string(t, key) {
        return Ok(Some(v));
    }
    match string(t, &format!("{key}_file")) {
        Some(path) => std::fs::read_to_string(&path)
            .map(|s| Some(s.trim_end_matches(['\r', '\n']).to_owned()))
            .map_err(|e| bad(&format!("{at}.{key}_file"), &format!("cannot read {path}: {e}"))),
        None => Ok(None),
    }
}

fn required(t: &Table, key: &str, at: &str) -> Result<String, SimError> {
    secret(t, key, at)?.ok_or_else(|| bad(&format!("{at}.{key}"), "missing"))
}

/// The port of `url` when it names 127.0.0.1 (or localhost): the simulator
/// plays providers only on this machine.
fn local_port(url: &str, at: &str, default_port: u16) -> Result<u16, SimError> {
    let parsed = url::Url::parse(url).map_err(|e| bad(at, &format!("not a URL: {e}")))?;
    match parsed.host_str() {
        Some("127.0.0.1" | "localhost") => Ok(parsed.port_or_known_default().unwrap_or(default_port)),
        _ => Err(bad(at, "must point at 127.0.0.1 for the simulator to play the provider (see config/demo.toml)")),
    }
}

fn accounts<'a>(channels: Option<&'a Table>, kind: &str) -> Vec<(&'a String, &'a Table)> {
    channels
        .and_then(|c| table(c, kind))
        .map(|t| t.iter().filter_map(|(k, v)| v.as_table().map(|v| (k, v))).collect())
        .unwrap_or_default()
}

impl Target {
    /// Reads `path` over the embedded defaults.
    pub fn load(path: &Path) -> Result<Target, SimError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| SimError::Config(format!("cannot read {}: {e}", path.display())))?;
        let file: Table = text.parse().map_err(|e: toml::de::Error| {
            SimError::Config(format!("{}: {}", path.display(), e.message()))
        })?;
        let mut root: Table = DEFAULTS.parse().map_err(|e: toml::de::Error| SimError::Config(e.to_string()))?;
        merge(&mut root, file);
        Target::from_table(&root)
    }

    fn from_table(root: &Table) -> Result<Target, SimError> {
        let server = table(root, "server");
        let public_url = server.and_then(|s| string(s, "public_url")).unwrap_or_else(|| "http://127.0.0.1:8080".into());
        let admin_token = match server {
            Some(s) => secret(s, "admin_token", "server")?,
            None => None,
        };
        let channels = table(root, "channels");
        let mut target = Target {
            public_url: public_url.trim_end_matches('/').to_owned(),
            admin_token,
            sms: Vec::new(),
            wechat: Vec::new(),
            email: Vec::new(),
            webchat: None,
            agents: Vec::new(),
            queues: BTreeSet::new(),
            supervisor_ports: Vec::new(),
        };
        for (name, t) in accounts(channels, "sms") {
            let at = format!("channels.sms.{name}");
            let api_base = string(t, "api_base").unwrap_or_else(|| "https://api.twilio.com".into());
            target.sms.push(SmsAccount {
                name: name.clone(),
                account_sid: required(t, "account_sid", &at)?,
                auth_token: required(t, "auth_token", &at)?,
                from: required(t, "from", &at)?,
                api_port: local_port(&api_base, &format!("{at}.api_base"), 80)?,
            });
        }
        for (name, t) in accounts(channels, "wechat") {
            let at = format!("channels.wechat.{name}");
            let api_base = string(t, "api_base").unwrap_or_else(|| "https://api.weixin.qq.com".into());
            target.wechat.push(WechatAccount {
                name: name.clone(),
                app_id: required(t, "app_id", &at)?,
                app_secret: required(t, "app_secret", &at)?,
                token: required(t, "token", &at)?,
                encoding_aes_key: secret(t, "encoding_aes_key", &at)?,
                api_port: local_port(&api_base, &format!("{at}.api_base"), 80)?,
            });
        }
        for (name, t) in accounts(channels, "email") {
            let at = format!("channels.email.{name}");
            let smtp_url = required(t, "smtp_url", &at)?;
            target.email.push(EmailAccount {
                name: name.clone(),
                address: required(t, "address", &at)?,
                mailgun_signing_key: secret(t, "mailgun_signing_key", &at)?,
                raw_mime_token: secret(t, "raw_mime_token", &at)?,
                smtp_port: local_port(&smtp_url, &format!("{at}.smtp_url"), 25)?,
            });
        }
        if let Some(w) = channels.and_then(|c| table(c, "webchat")) {
            target.webchat = Some(secret(w, "identity_secret", "channels.webchat")?);
        }
        if let Some(agents) = table(root, "agents") {
            for (id, t) in agents.iter().filter_map(|(k, v)| v.as_table().map(|v| (k, v))) {
                if let Some(token) = secret(t, "token", &format!("agents.{id}"))? {
                    target.agents.push(Agent { id: id.clone(), token });
                }
            }
        }
        if let Some(queues) = table(root, "queues") {
            target.queues.extend(queues.keys().cloned());
        }
        if let Some(default) = table(root, "routing").and_then(|r| string(r, "default_queue")) {
            target.queues.insert(default);
        }
        let supervisors = table(root, "sla").and_then(|s| s.get("supervisors")).and_then(Value::as_array);
        for t in supervisors.into_iter().flatten().filter_map(Value::as_table) {
            if let Some(url) = string(t, "url").filter(|_| string(t, "kind").as_deref() == Some("webhook")) {
                if let Ok(port) = local_port(&url, "sla.supervisors", 80) {
                    target.supervisor_ports.push(port);
                }
            }
        }
        if target.sms.is_empty() && target.wechat.is_empty() && target.email.is_empty() && target.webchat.is_none() {
            return Err(SimError::Config("the configuration has no channel account to send on".into()));
        }
        if target.agents.is_empty() {
            return Err(SimError::Config("no agent has a token: nobody could answer".into()));
        }
        Ok(target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_configuration_names_all_four_channels_and_local_providers() {
        let t = Target::load(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../config/demo.toml"))).unwrap();
        assert!(!t.sms.is_empty() && !t.wechat.is_empty() && !t.email.is_empty() && t.webchat.is_some());
        assert_eq!(t.agents.len(), 5);
        assert!(t.queues.contains("complaints") && t.queues.contains("returns") && t.queues.contains("general"));
    }

    #[test]
    fn a_provider_off_this_machine_is_refused() {
        let root: Table = "[channels.sms.shop]\naccount_sid='AC1'\nauth_token='t'\nfrom='+15005550006'\n[agents.a]\ntoken='x'"
            .parse()
            .unwrap();
        let e = Target::from_table(&root).unwrap_err().to_string();
        assert!(e.contains("channels.sms.shop.api_base"), "{e}");
    }
}
