//! Secret resolution and the semantic checks that types alone cannot make.
//! Each check reports with its key path and carries on.

use std::path::PathBuf;

use secrecy::{ExposeSecret, SecretString};
use switchboard_core::Channel;

use super::load::{valid_name, Problems};
use super::model::*;

impl Settings {
    /// Reads every `*_file` secret; a key given both ways is a problem.
    pub(super) fn resolve_secrets(&mut self, p: &mut Problems) {
        secret(&mut self.server.admin_token, &self.server.admin_token_file, "server.admin_token", p);
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
        for (name, a) in &mut self.agents {
            secret(&mut a.token, &a.token_file, &format!("agents.{name}.token"), p);
            for (i, target) in a.deliver.iter_mut().enumerate() {
                if let DeliverTarget::Webhook { secret: s, secret_file, .. } = target {
                    secret(s, secret_file, &format!("agents.{name}.deliver[{i}].secret"), p);
                }
            }
        }
    }

    /// Checks values and cross-references.
    pub(super) fn validate(&self, p: &mut Problems) {
        self.validate_service(p);
        for (name, a) in &self.channels.sms {
            let at = format!("channels.sms.{name}");
            required_secret(&a.auth_token, &format!("{at}.auth_token"), p);
            if a.account_sid.trim().is_empty() {
                p.push(format!("{at}.account_sid"), "must not be empty");
            }
            if switchboard_sms::normalize_e164(&a.from).is_none() {
                p.push(format!("{at}.from"), "must be an E.164 number such as +15005550006");
            }
            http_url(&a.api_base, &format!("{at}.api_base"), p);
        }
        for (name, a) in &self.channels.wechat {
            let at = format!("channels.wechat.{name}");
            required_secret(&a.token, &format!("{at}.token"), p);
            required_secret(&a.app_secret, &format!("{at}.app_secret"), p);
            if a.app_id.trim().is_empty() {
                p.push(format!("{at}.app_id"), "must not be empty");
            }
            if let Some(key) = &a.encoding_aes_key {
                let token = a.token.clone().unwrap_or_else(|| SecretString::from("x"));
                if switchboard_wechat::AccountKeys::new(a.app_id.clone(), token, Some(key.clone())).is_err() {
                    p.push(format!("{at}.encoding_aes_key"), "must be the 43-character EncodingAESKey");
                }
            }
            http_url(&a.api_base, &format!("{at}.api_base"), p);
            if a.require_encryption == Some(true) && a.encoding_aes_key.is_none() {
                p.push(format!("{at}.require_encryption"), "needs `encoding_aes_key` (safe mode)");
            }
            if !(30..=3600).contains(&a.timestamp_window_secs) {
                p.push(format!("{at}.timestamp_window_secs"), "must be between 30 and 3600");
            }
        }
        for (name, a) in &self.channels.email {
            if !a.address.contains('@') {
                p.push(format!("channels.email.{name}.address"), "must be an email address");
            }
            if a.raw_mime_token.as_ref().is_some_and(|t| t.expose_secret().len() < 16) {
                p.push(format!("channels.email.{name}.raw_mime_token"), "must be at least 16 bytes");
            }
        }
        if let Some(w) = &self.channels.webchat {
            validate_webchat(w, p);
        }
        self.validate_routing(p);
    }

    fn validate_service(&self, p: &mut Problems) {
        http_url(&self.server.public_url, "server.public_url", p);
        if self.server.max_body_bytes < 1024 {
            p.push("server.max_body_bytes", "must be at least 1024");
        }
        if self.server.request_timeout_secs == 0 {
            p.push("server.request_timeout_secs", "must be at least 1");
        }
        for (key, secs) in [
            ("server.header_read_timeout_secs", self.server.header_read_timeout_secs),
            ("server.idle_timeout_secs", self.server.idle_timeout_secs),
        ] {
            if !(1..=3600).contains(&secs) {
                p.push(key, "must be between 1 and 3600");
            }
        }
        let body = self.server.body_read_timeout_secs;
        if body == 0 || body > self.server.request_timeout_secs {
            // The request timeout bounds the body read too: a longer
            // deadline would never fire.
            p.push("server.body_read_timeout_secs", "must be at least 1 and at most server.request_timeout_secs");
        }
        if !(1..=1_000_000).contains(&self.server.max_connections) {
            p.push("server.max_connections", "must be between 1 and 1000000");
        }
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&self.log.level) {
            p.push("log.level", format!("not a valid filter: {e}"));
        }
        if !(1..=300).contains(&self.shutdown.timeout_secs) {
            p.push("shutdown.timeout_secs", "must be between 1 and 300");
        }
        for (key, prefix) in [("nats.prefix", &self.nats.prefix), ("redis.prefix", &self.redis.prefix)] {
            let ok = !prefix.is_empty()
                && prefix.len() <= 64
                && prefix.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
            if !ok {
                p.push(key, "must be 1-64 letters, digits, `_` or `-`");
            }
        }
        if let Err(e) = self.nats.servers() {
            p.push("nats.url", e);
        }
        if self.nats.publish_timeout_ms == 0 || self.nats.publish_timeout_ms > 4500 {
            p.push("nats.publish_timeout_ms", "must be between 1 and 4500 (WeChat gives up after 5 s)");
        }
        if !(1..=5).contains(&self.nats.stream_replicas) {
            p.push("nats.stream_replicas", "must be between 1 and 5");
        }
        if self.nats.max_deliver < 1 {
            p.push("nats.max_deliver", "must be at least 1");
        }
        if self.nats.ack_wait_secs == 0 {
            p.push("nats.ack_wait_secs", "must be at least 1");
        }
        match url::Url::parse(self.redis.url.expose_secret()) {
            Ok(u) if matches!(u.scheme(), "redis" | "rediss") => {}
            // Never echo the URL: it may carry a password.
            _ => p.push("redis.url", "must be a redis:// or rediss:// URL"),
        }
        if self.routing.workers == 0 {
            p.push("routing.workers", "must be at least 1");
        }
        if !(10..=60_000).contains(&self.routing.sweep_interval_ms) {
            p.push("routing.sweep_interval_ms", "must be between 10 and 60000");
        }
        if !(1..=1000).contains(&self.routing.drain_depth) {
            p.push("routing.drain_depth", "must be between 1 and 1000");
        }
        let o = &self.outbox;
        if !(100..=60_000).contains(&o.relay_after_ms) {
            p.push("outbox.relay_after_ms", "must be between 100 and 60000");
        }
        if !(10..=10_000).contains(&o.relay_interval_ms) {
            p.push("outbox.relay_interval_ms", "must be between 10 and 10000");
        }
        if o.relay_lease_ms <= self.nats.publish_timeout_ms {
            p.push("outbox.relay_lease_ms", "must be longer than nats.publish_timeout_ms (a claim outlives its publishes)");
        }
        if !(1..=10_000).contains(&o.relay_batch) {
            p.push("outbox.relay_batch", "must be between 1 and 10000");
        }
        // A relay may republish an entry its step published but could not
        // remove: JetStream must still recognise it as a duplicate.
        if self.nats.duplicate_window_secs.saturating_mul(1000) <= o.relay_after_ms.saturating_add(o.relay_lease_ms) {
            p.push("nats.duplicate_window_secs", "must be longer than outbox.relay_after_ms + outbox.relay_lease_ms");
        }
        for (key, r) in [("outbound", &self.outbound), ("delivery", &self.delivery)] {
            if r.max_attempts == 0 {
                p.push(format!("{key}.max_attempts"), "must be at least 1");
            }
            if r.workers == 0 {
                p.push(format!("{key}.workers"), "must be at least 1");
            }
            if r.request_timeout_ms == 0 {
                p.push(format!("{key}.request_timeout_ms"), "must be at least 1");
            }
        }
    }

    fn validate_routing(&self, p: &mut Problems) {
        if !valid_name(&self.routing.default_queue) {
            p.push("routing.default_queue", "names are lower-case letters, digits, `_` and `-`");
        }
        for (name, q) in &self.queues {
            let at = format!("queues.{name}");
            proficiencies(&q.skills, &format!("{at}.skills"), p);
            if let Some(o) = &q.overflow {
                if !self.has_queue(o) {
                    p.push(format!("{at}.overflow"), format!("unknown queue `{o}`"));
                } else if o == name {
                    p.push(format!("{at}.overflow"), "a queue cannot overflow to itself");
                }
            }
            if let Some(s) = &q.sla {
                if !self.sla.policies.contains_key(s) {
                    p.push(format!("{at}.sla"), format!("unknown SLA policy `{s}`"));
                }
            }
            priority(q.priority, &format!("{at}.priority"), p);
            let mut last = 0;
            for (i, step) in q.bullseye.iter().enumerate() {
                let key = format!("{at}.bullseye[{i}]");
                if step.after_secs == 0 || step.after_secs <= last {
                    p.push(format!("{key}.after_secs"), "must be above 0 and above the previous step's");
                }
                last = step.after_secs;
                if step.relax > 4 {
                    p.push(format!("{key}.relax"), "must be between 0 and 4");
                }
                if step.overflow && q.overflow.is_none() {
                    p.push(format!("{key}.overflow"), "needs the queue's `overflow`");
                }
                if !step.overflow && step.relax == 0 {
                    p.push(key, "does nothing: set `relax` or `overflow = true`");
                }
            }
            if q.mode == QueueMode::Offer && q.offer_timeout_secs == 0 {
                p.push(format!("{at}.offer_timeout_secs"), "must be at least 1");
            }
        }
        for (name, a) in &self.agents {
            let at = format!("agents.{name}");
            required_secret(&a.token, &format!("{at}.token"), p);
            proficiencies(&a.skills, &format!("{at}.skills"), p);
            for (i, l) in a.languages.iter().enumerate() {
                language(l, &format!("{at}.languages[{i}]"), p);
            }
            if a.wrapup_secs > 3600 {
                p.push(format!("{at}.wrapup_secs"), "must be at most 3600");
            }
            let c = &a.capacity;
            if Channel::ALL.iter().any(|ch| c.for_channel(*ch) > 1000) || c.total() > 1000 {
                p.push(format!("{at}.capacity"), "capacities are at most 1000");
            }
            for (i, target) in a.deliver.iter().enumerate() {
                let t = format!("{at}.deliver[{i}]");
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
                    DeliverTarget::Email { address } if !address.contains('@') => {
                        p.push(format!("{t}.address"), "must be an email address")
                    }
                    DeliverTarget::Email { .. } | DeliverTarget::Nats {} => {}
                }
            }
        }
        unique_tokens(self, p);
        for (i, r) in self.rules.iter().enumerate() {
            let at = format!("rules[{i}]");
            if let Some(text) = &r.when.text {
                if let Err(e) = regex::RegexBuilder::new(text).case_insensitive(true).size_limit(1 << 20).build() {
                    let why = e.to_string();
                    let why = why.lines().last().unwrap_or("invalid").trim_start_matches("error: ").to_owned();
                    p.push(format!("{at}.when.text"), format!("not a valid regex: {why}"));
                }
            }
            if let Some(c) = &r.when.channel {
                if let Err(e) = c.parse::<Channel>() {
                    p.push(format!("{at}.when.channel"), e.to_string());
                }
            }
            if let Some(q) = &r.then.queue {
                if !self.has_queue(q) {
                    p.push(format!("{at}.then.queue"), format!("unknown queue `{q}`"));
                }
            }
            proficiencies(&r.then.skills, &format!("{at}.then.skills"), p);
            if let Some(prio) = r.then.priority {
                priority(prio, &format!("{at}.then.priority"), p);
            }
            if let Some(l) = &r.when.language {
                language(l, &format!("{at}.when.language"), p);
            }
        }
        for (name, s) in &self.sla.policies {
            let at = format!("sla.policies.{name}");
            if !(s.warn_at > 0.0 && s.warn_at < 1.0) {
                p.push(format!("{at}.warn_at"), "must be between 0 and 1 (exclusive)");
            }
            if s.calendar != "always" && !self.calendars.contains_key(&s.calendar) {
                p.push(format!("{at}.calendar"), format!("unknown calendar `{}`", s.calendar));
            }
            for (key, target) in [
                ("first_response_secs", s.first_response_secs),
                ("next_response_secs", s.next_response_secs),
                ("resolution_secs", s.resolution_secs),
            ] {
                if target == Some(0) || target.is_some_and(|t| t > 366 * 24 * 3600) {
                    p.push(format!("{at}.{key}"), "must be between 1 s and 366 days");
                }
            }
            for (stage, actions) in [("on_warning", &s.on_warning), ("on_breach", &s.on_breach)] {
                for (i, action) in actions.iter().enumerate() {
                    let key = format!("{at}.{stage}[{i}]");
                    match action {
                        Escalation::Reroute { queue: Some(q) } if !self.has_queue(q) => {
                            p.push(format!("{key}.queue"), format!("unknown queue `{q}`"));
                        }
                        Escalation::RaisePriority { by } if !(1..=500).contains(by) => {
                            p.push(format!("{key}.by"), "must be between 1 and 500");
                        }
                        Escalation::Notify if self.sla.supervisors.is_empty() => {
                            p.push(key, "`notify` needs `[sla] supervisors` targets");
                        }
                        _ => {}
                    }
                }
            }
        }
        for (i, o) in self.sla.overrides.iter().enumerate() {
            let at = format!("sla.overrides[{i}]");
            if !self.sla.policies.contains_key(&o.policy) {
                p.push(format!("{at}.policy"), format!("unknown SLA policy `{}`", o.policy));
            }
            if let Some(q) = &o.queue {
                if !self.has_queue(q) {
                    p.push(format!("{at}.queue"), format!("unknown queue `{q}`"));
                }
            }
            if let Some(c) = &o.channel {
                if let Err(e) = c.parse::<Channel>() {
                    p.push(format!("{at}.channel"), e.to_string());
                }
            }
        }
        for (i, target) in self.sla.supervisors.iter().enumerate() {
            let t = format!("sla.supervisors[{i}]");
            match target {
                DeliverTarget::Webhook { url, secret, .. } => {
                    http_url(url, &format!("{t}.url"), p);
                    if secret.as_ref().is_none_or(|s| crate::signing::decode_secret(s.expose_secret()).is_none()) {
                        p.push(format!("{t}.secret"), "must be `whsec_` followed by base64");
                    }
                }
                DeliverTarget::Slack { url } => http_url(url.expose_secret(), &format!("{t}.url"), p),
                _ => p.push(t, "supervisor targets are `webhook` or `slack`"),
            }
        }
        if !(60..=47 * 3600).contains(&self.sla.wechat_window_warn_secs) {
            p.push("sla.wechat_window_warn_secs", "must be between 60 and 169200 (47 h)");
        }
        for (name, c) in &self.calendars {
            let at = format!("calendars.{name}");
            if let Err(problems) = crate::model::calendar::Calendar::parse(&c.timezone, &c.hours, &c.holidays, &c.overrides) {
                for problem in problems {
                    p.push(format!("{at}.{}", problem.path), problem.message);
                }
            }
        }
    }

    /// Whether `name` is a configured queue or the implicit default queue.
    pub fn has_queue(&self, name: &str) -> bool {
        self.queues.contains_key(name) || name == self.routing.default_queue
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
fn unique_tokens(settings: &Settings, p: &mut Problems) {
    let mut owners: Vec<(String, &str)> = Vec::new();
    if let Some(t) = &settings.server.admin_token {
        owners.push(("server.admin_token".into(), t.expose_secret().trim()));
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

/// `[channels.webchat]`: a usable session secret, sane limits, and origins
/// written as browsers send them.
fn validate_webchat(w: &super::model::WebchatSettings, p: &mut Problems) {
    let at = "channels.webchat";
    required_secret(&w.session_secret, &format!("{at}.session_secret"), p);
    let short = |s: &Option<SecretString>| s.as_ref().is_some_and(|s| {
        !s.expose_secret().is_empty() && s.expose_secret().len() < switchboard_webchat::MIN_SECRET_BYTES
    });
    if short(&w.session_secret) {
        p.push(format!("{at}.session_secret"), format!("must be at least {} bytes", switchboard_webchat::MIN_SECRET_BYTES));
    }
    if short(&w.identity_secret) {
        p.push(format!("{at}.identity_secret"), format!("must be at least {} bytes", switchboard_webchat::MIN_SECRET_BYTES));
    }
    if w.session_ttl_secs < 60 || w.session_ttl_secs > switchboard_webchat::MAX_TTL.as_secs() {
        p.push(format!("{at}.session_ttl_secs"), "must be between 60 and 31622400 (366 days)");
    }
    for (i, origin) in w.allowed_origins.iter().enumerate() {
        let canonical = super::model::origin_of(origin);
        if origin != "*" && canonical.as_deref() != Some(origin.trim_end_matches('/')) {
            p.push(
                format!("{at}.allowed_origins[{i}]"),
                "must be `*` or an origin such as `https://shop.example` (scheme, host, port if not the default; no path)",
            );
        }
    }
    if !(1..=100).contains(&w.max_sockets_per_visitor) {
        p.push(format!("{at}.max_sockets_per_visitor"), "must be between 1 and 100");
    }
    if !(1..=1_000_000).contains(&w.max_sockets) {
        p.push(format!("{at}.max_sockets"), "must be between 1 and 1000000");
    }
    if w.messages_per_minute == 0 {
        p.push(format!("{at}.messages_per_minute"), "must be at least 1");
    }
    if !(10..=3600).contains(&w.idle_timeout_secs) {
        p.push(format!("{at}.idle_timeout_secs"), "must be between 10 and 3600");
    }
    if !(10..=100_000).contains(&w.history_limit) {
        p.push(format!("{at}.history_limit"), "must be between 10 and 100000");
    }
}

fn priority(value: i32, key: &str, p: &mut Problems) {
    if !(-500..=500).contains(&value) {
        p.push(key, "must be between -500 and 500");
    }
}

/// A language code as routing compares them: lower-case ISO 639-1 or a
/// short tag such as `zh-hk`.
fn language(value: &str, key: &str, p: &mut Problems) {
    let ok = (2..=8).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_lowercase() || b == b'-');
    if !ok {
        p.push(key, "must be a lower-case language code such as `zh` or `en`");
    }
}

fn required_secret(value: &Option<SecretString>, key: &str, p: &mut Problems) {
    if value.as_ref().is_none_or(|s| s.expose_secret().is_empty()) {
        p.push(key, "is required (or the same key with `_file`)");
    }
}

fn proficiencies(skills: &std::collections::BTreeMap<String, u8>, at: &str, p: &mut Problems) {
    for (skill, level) in skills {
        if !(1..=5).contains(level) {
            p.push(format!("{at}.{skill}"), "proficiency must be between 1 and 5");
        }
    }
}

fn http_url(s: &str, key: &str, p: &mut Problems) {
    match url::Url::parse(s) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
        _ => p.push(key, "must be an http:// or https:// URL"),
    }
}
