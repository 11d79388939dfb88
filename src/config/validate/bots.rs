//! Checks of `[bots.*]` and of the queues' bot, office hours and waiting replies.

use secrecy::ExposeSecret;

use crate::config::load::Problems;
use crate::config::model::*;
use super::fields::required_secret;

impl Settings {
    /// `[bots.*]` and what queues say of bots.
    pub(super) fn validate_bots(&self, p: &mut Problems) {
        for (name, b) in &self.bots {
            let at = format!("bots.{name}");
            match b.kind {
                BotKind::Faq => {
                    if b.answers.is_empty() {
                        p.push(format!("{at}.answers"), "a `faq` bot needs at least one answer");
                    }
                    for (i, a) in b.answers.iter().enumerate() {
                        let key = format!("{at}.answers[{i}]");
                        match &a.when {
                            FaqWhen::Regex(re) => {
                                if let Err(e) = regex::RegexBuilder::new(re).case_insensitive(true).size_limit(1 << 20).build() {
                                    let why = e.to_string().lines().last().unwrap_or_default().trim().to_owned();
                                    p.push(format!("{key}.when"), format!("not a valid regex: {why}"));
                                } else if re.is_empty() {
                                    p.push(format!("{key}.when"), "must not be empty");
                                }
                            }
                            FaqWhen::Keywords(words) => {
                                if words.is_empty() || words.iter().any(|w| w.trim().is_empty()) {
                                    p.push(format!("{key}.when"), "keywords must be non-empty");
                                }
                            }
                        }
                        texts(&a.reply, &format!("{key}.reply"), p);
                    }
                    for field in [("url", b.url.is_some()), ("secret", b.secret.is_some())] {
                        if field.1 {
                            p.push(format!("{at}.{}", field.0), "only for `kind = \"webhook\"`");
                        }
                    }
                }
                BotKind::Webhook => {
                    match &b.url {
                        Some(u) if super::targets::https_or_local(u) => {}
                        Some(_) => p.push(format!("{at}.url"), "must be https:// (or http:// on a loopback address)"),
                        None => p.push(format!("{at}.url"), "is required for `kind = \"webhook\"`"),
                    }
                    required_secret(&b.secret, &format!("{at}.secret"), p);
                    if let Some(s) = &b.secret {
                        if !s.expose_secret().is_empty() && crate::signing::decode_secret(s.expose_secret()).is_none() {
                            p.push(format!("{at}.secret"), "must be a `whsec_` + base64 secret");
                        }
                    }
                    if !(100..=30_000).contains(&b.timeout_ms) {
                        p.push(format!("{at}.timeout_ms"), "must be between 100 and 30000");
                    }
                    if !b.answers.is_empty() {
                        p.push(format!("{at}.answers"), "only for `kind = \"faq\"`");
                    }
                }
            }
            for (field, t) in [("miss_reply", &b.miss_reply), ("handoff_reply", &b.handoff_reply)] {
                if let Some(t) = t {
                    texts(t, &format!("{at}.{field}"), p);
                }
            }
        }
        for (name, q) in &self.queues {
            let at = format!("queues.{name}");
            if let Some(bot) = &q.bot {
                if !self.bots.contains_key(bot) {
                    p.push(format!("{at}.bot"), format!("unknown bot `{bot}`"));
                }
            }
            if let Some(c) = &q.calendar {
                if !self.calendars.contains_key(c) {
                    p.push(format!("{at}.calendar"), format!("unknown calendar `{c}` (a [calendars.<name>])"));
                }
            }
            if let Some(t) = &q.closed_reply {
                texts(t, &format!("{at}.closed_reply"), p);
                if q.calendar.is_none() {
                    p.push(format!("{at}.closed_reply"), "needs the queue's `calendar`");
                }
            }
            if let Some(t) = &q.waiting_reply {
                texts(t, &format!("{at}.waiting_reply"), p);
                if q.waiting_reply_after_secs == 0 {
                    p.push(format!("{at}.waiting_reply_after_secs"), "must be at least 1");
                }
            }
        }
        for (i, k) in self.routing.handoff_keywords.iter().enumerate() {
            if k.trim().is_empty() {
                p.push(format!("routing.handoff_keywords[{i}]"), "must not be empty");
            }
        }
    }
}

/// A per-language text table: at least one language, no empty text.
fn texts(t: &Texts, key: &str, p: &mut Problems) {
    if t.0.is_empty() {
        p.push(key, "needs a text in at least one language, e.g. `{ zh = \"…\", en = \"…\" }`");
    }
    for (lang, text) in &t.0 {
        super::fields::language(lang, &format!("{key}.{lang}"), p);
        if text.trim().is_empty() {
            p.push(format!("{key}.{lang}"), "must not be empty");
        }
    }
}
