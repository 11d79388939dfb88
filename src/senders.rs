//! The provider senders of one instance, one per configured channel
//! account, built from the settings and built again by a reload that
//! rotates their credentials.

use std::collections::HashMap;

use switchboard_email::{SmtpOptions, SmtpSender};
use switchboard_sms::{SenderOptions, SmsSender};
use switchboard_wechat::{ApiOptions, WechatApi};

use crate::config::Settings;

/// The provider senders, by channel and account.
#[derive(Debug, Default)]
pub struct Senders {
    sms: HashMap<String, SmsSender>,
    wechat: HashMap<String, WechatApi>,
    email: HashMap<String, SmtpSender>,
}

impl Senders {
    /// One sender per configured account.
    pub fn new(settings: &Settings) -> Result<Senders, String> {
        let mut sms = HashMap::new();
        for (name, a) in &settings.channels.sms {
            let options = SenderOptions {
                api_base: a.api_base.clone(),
                account_sid: a.account_sid.clone(),
                auth_token: a.auth_token.clone().unwrap_or_else(|| secrecy::SecretString::from("")),
                from: a.from.clone(),
                status_callback: Some(format!("{}/webhooks/sms/{name}/status", settings.server.public_base())),
                request_timeout: settings.outbound.request_timeout(),
                max_attempts: settings.outbound.max_attempts,
                base_delay: settings.outbound.base_delay(),
                max_delay: settings.outbound.max_delay(),
            };
            sms.insert(name.clone(), SmsSender::new(options).map_err(|e| e.to_string())?);
        }
        let mut wechat = HashMap::new();
        for (name, a) in &settings.channels.wechat {
            let Some(secret) = a.app_secret.clone() else { continue };
            let options = ApiOptions {
                api_base: a.api_base.clone(),
                app_id: a.app_id.clone(),
                app_secret: secret,
                request_timeout: settings.outbound.request_timeout(),
                max_attempts: settings.outbound.max_attempts,
                base_delay: settings.outbound.base_delay(),
                max_delay: settings.outbound.max_delay(),
            };
            wechat.insert(name.clone(), WechatApi::new(options).map_err(|e| e.to_string())?);
        }
        let mut email = HashMap::new();
        for (name, a) in &settings.channels.email {
            let Some(smtp_url) = a.smtp_url.clone() else { continue };
            let options = SmtpOptions {
                smtp_url,
                from: a.address.clone(),
                domain: a.domain().to_owned(),
                timeout: settings.outbound.request_timeout(),
                max_attempts: settings.outbound.max_attempts,
                base_delay: settings.outbound.base_delay(),
                max_delay: settings.outbound.max_delay(),
            };
            email.insert(name.clone(), SmtpSender::new(options).map_err(|e| e.to_string())?);
        }
        Ok(Senders { sms, wechat, email })
    }
}

impl Senders {
    /// The SMTP sender of email account `preferred` if it has one, else of
    /// the first email account that has one (agent mailbox delivery).
    pub fn email_for(&self, preferred: Option<&str>) -> Option<(&str, &SmtpSender)> {
        preferred
            .and_then(|p| self.email.get_key_value(p))
            .or_else(|| self.email.iter().next())
            .map(|(name, sender)| (name.as_str(), sender))
    }
}

impl Senders {
    /// The SMS sender of account `name`.
    pub fn sms(&self, name: &str) -> Option<&SmsSender> {
        self.sms.get(name)
    }

    /// The WeChat API of account `name`.
    pub fn wechat(&self, name: &str) -> Option<&WechatApi> {
        self.wechat.get(name)
    }

    /// The SMTP sender of email account `name`.
    pub fn email(&self, name: &str) -> Option<&SmtpSender> {
        self.email.get(name)
    }
}
