//! Delivery to the group chat robots of Chinese teams: WeCom (企业微信)
//! group robots, DingTalk (钉钉) custom robots and Feishu/Lark (飞书)
//! custom bots. Each event becomes a card (`card`) in the target's
//! language, signed as the provider documents (`sign`), under a rate limit
//! shared by every replica (`store::ratelimit`).
//!
//! Outcomes, as for the webhook targets: a robot's answer carries an error
//! code even on HTTP 200; rate limits, 5xx and timeouts are retried with
//! backoff within the delivery (then handed back to JetStream, then
//! dead-lettered); a permanent refusal (bad key, token, signature or
//! keyword) disables the target with `switchboard.delivery.disabled`; an
//! unknown refusal dead-letters the event. The own rate limit delays sends,
//! never drops them: a send waits for a slot (at most `max_attempts`
//! windows plus the backoff cap, then it is retried like any transient
//! failure).

pub mod card;
pub mod sign;

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use switchboard_core::retry;

use super::{without_url, Attempt, Targets};
use crate::config::DeliverTarget;
use crate::events::Event;
use crate::store::Store;
use crate::telemetry::Metrics;
use card::Language;
use sign::Answer;

/// The largest robot answer read (they are a few dozen bytes).
const MAX_ANSWER_BYTES: usize = 16 * 1024;

/// Which robot API.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Provider {
    /// WeCom group robot.
    Wecom,
    /// DingTalk custom robot.
    Dingtalk,
    /// Feishu/Lark custom bot.
    Feishu,
}

impl Provider {
    /// The provider's name in reasons and logs.
    pub fn label(self) -> &'static str {
        match self {
            Provider::Wecom => "WeCom",
            Provider::Dingtalk => "DingTalk",
            Provider::Feishu => "Feishu",
        }
    }

    /// The target kind (metrics label).
    pub fn kind(self) -> &'static str {
        match self {
            Provider::Wecom => "wecom",
            Provider::Dingtalk => "dingtalk",
            Provider::Feishu => "feishu",
        }
    }

    /// The provider's documented limits, (messages, window): WeCom and
    /// DingTalk 20 a minute per robot, Feishu 100 a minute and 5 a second.
    pub fn default_limits(self) -> Vec<(u32, Duration)> {
        match self {
            Provider::Wecom | Provider::Dingtalk => vec![(20, Duration::from_secs(60))],
            Provider::Feishu => vec![(100, Duration::from_secs(60)), (5, Duration::from_secs(1))],
        }
    }
}

/// A robot target, as the sender needs it.
#[derive(Clone, Copy, Debug)]
pub struct Robot<'a> {
    /// Which API.
    pub provider: Provider,
    /// The webhook URL (a credential).
    pub url: &'a SecretString,
    /// The signing secret, if any.
    pub secret: Option<&'a SecretString>,
    /// `language` as configured.
    pub language: Option<&'a str>,
    /// `rate_limit` as configured.
    pub rate_limit: Option<u32>,
    /// `rate_window_secs` as configured.
    pub rate_window_secs: Option<u64>,
}

impl<'a> Robot<'a> {
    /// The robot of a target, `None` for the other kinds.
    pub fn of(target: &'a DeliverTarget) -> Option<Robot<'a>> {
        let (provider, url, secret, language, rate_limit, rate_window_secs) = match target {
            DeliverTarget::Wecom { url, language, rate_limit, rate_window_secs } => {
                (Provider::Wecom, url, None, language, rate_limit, rate_window_secs)
            }
            DeliverTarget::Dingtalk { url, secret, language, rate_limit, rate_window_secs, .. } => {
                (Provider::Dingtalk, url, secret.as_ref(), language, rate_limit, rate_window_secs)
            }
            DeliverTarget::Feishu { url, secret, language, rate_limit, rate_window_secs, .. } => {
                (Provider::Feishu, url, secret.as_ref(), language, rate_limit, rate_window_secs)
            }
            _ => return None,
        };
        Some(Robot {
            provider,
            url,
            secret,
            language: language.as_deref(),
            rate_limit: *rate_limit,
            rate_window_secs: *rate_window_secs,
        })
    }

    /// The windows of its rate limit: the configured one if either key is
    /// set (the other defaulting to the provider's), else the provider's.
    pub fn limits(&self) -> Vec<(u32, Duration)> {
        let defaults = self.provider.default_limits();
        if self.rate_limit.is_none() && self.rate_window_secs.is_none() {
            return defaults;
        }
        let (limit, window) = defaults[0];
        vec![(
            self.rate_limit.unwrap_or(limit).max(1),
            self.rate_window_secs.map_or(window, |s| Duration::from_secs(s.max(1))),
        )]
    }

    /// The language of its cards.
    pub fn language(&self) -> Language {
        Language::parse(self.language)
    }
}

impl Targets {
    /// Delivers `event` to a robot: waits for a rate-limit slot, sends,
    /// retries transient failures up to `delivery.max_attempts` times.
    pub async fn robot(&self, store: &Store, metrics: &Metrics, robot: &Robot<'_>, event: &Event) -> Attempt {
        let mut attempt = 1;
        loop {
            if let Err(reason) = self.wait_for_slot(store, metrics, robot).await {
                return Attempt::Retry(reason);
            }
            let (outcome, hint) = self.robot_once(robot, event).await;
            match outcome {
                Attempt::Retry(_) if attempt < self.settings.max_attempts => {
                    let wait = retry::next_wait(attempt, hint, self.settings.base_delay(), self.settings.max_delay());
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// Waits until the robot's shared window has a slot (counting this
    /// send): at most `delivery.max_attempts` windows plus the backoff cap,
    /// then the delivery is retried later like any transient failure (a
    /// backlog longer than that, at the robot's rate, ends dead-lettered
    /// after `nats.max_deliver` deliveries, replayable).
    async fn wait_for_slot(&self, store: &Store, metrics: &Metrics, robot: &Robot<'_>) -> Result<(), String> {
        let limits = robot.limits();
        let longest = limits.iter().map(|(_, w)| *w).max().unwrap_or(Duration::from_secs(60));
        let budget = longest * self.settings.max_attempts.max(1) + self.settings.max_delay();
        let started = tokio::time::Instant::now();
        let mut counted = false;
        loop {
            match store.take_robot_slot(robot.url.expose_secret(), &limits).await {
                Ok(None) => return Ok(()),
                Ok(Some(wait)) => {
                    if !counted {
                        metrics.robot_rate_wait(robot.provider.kind());
                        counted = true;
                    }
                    if started.elapsed() + wait > budget {
                        return Err(format!("{} rate limit: no free slot within {budget:?}", robot.provider.label()));
                    }
                    // A little jitter so replicas waiting on one slot do not
                    // all ask at the same millisecond.
                    tokio::time::sleep(wait + Duration::from_millis(rand::random::<u64>() % 20)).await;
                }
                Err(e) => return Err(format!("the robot rate limiter is unavailable: {e}")),
            }
        }
    }

    async fn robot_once(&self, robot: &Robot<'_>, event: &Event) -> (Attempt, Option<Duration>) {
        let language = robot.language();
        let card = card::card(event, &self.public_base, language);
        let url = robot.url.expose_secret();
        let secret = robot.secret.map(|s| -> &str { s.expose_secret() }).filter(|s| !s.is_empty());
        let now = chrono::Utc::now();
        let (url, body) = match robot.provider {
            Provider::Wecom => (url::Url::parse(url), card::wecom_body(&card, language)),
            Provider::Dingtalk => {
                let url = match secret {
                    Some(secret) => sign::dingtalk_signed_url(url, secret, now.timestamp_millis()),
                    None => url::Url::parse(url),
                };
                (url, card::dingtalk_body(&card, language))
            }
            Provider::Feishu => {
                let signed = secret.map(|s| (now.timestamp(), sign::feishu_sign(s, now.timestamp())));
                (url::Url::parse(url), card::feishu_body(&card, language, signed))
            }
        };
        let Ok(url) = url else {
            return (Attempt::Failed(format!("the {} webhook URL does not parse", robot.provider.label())), None);
        };
        let resp = match self.client.post(url).json(&body).send().await {
            Ok(resp) => resp,
            Err(e) => return (Attempt::Retry(format!("request failed: {}", without_url(&e))), None),
        };
        let status = resp.status();
        // A 2xx says what happened in its error code; so may a 4xx refusal
        // (its code then decides, a 4xx without one is a refusal). 408,
        // 410, 429 and 5xx are read from the status, as for webhooks.
        let refusal = status.is_client_error() && !matches!(status.as_u16(), 408 | 410 | 429);
        if !status.is_success() && !refusal {
            return super::classify(Ok(resp));
        }
        let body = match switchboard_core::provider::read_capped(resp, MAX_ANSWER_BYTES).await {
            Ok(body) => body,
            Err(e) => return (Attempt::Retry(format!("reading the answer failed: {}", without_url(&e))), None),
        };
        let answer = if status.is_success() {
            sign::read_answer(robot.provider, &body)
        } else {
            match sign::read_code(robot.provider, &body) {
                Some((code, why)) if code != 0 => sign::classify(robot.provider, code, why),
                _ => Answer::Failed(format!("target answered {status}")),
            }
        };
        let outcome = match answer {
            Answer::Ok => Attempt::Done,
            Answer::Retry(why) => Attempt::Retry(why),
            Answer::Disable(why) => Attempt::Gone(why),
            Answer::Failed(why) => Attempt::Failed(why),
        };
        (outcome, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(toml: &str) -> DeliverTarget {
        #[derive(serde::Deserialize)]
        struct T {
            t: DeliverTarget,
        }
        toml::from_str::<T>(&format!("t = {toml}")).unwrap().t
    }

    #[test]
    fn limits_are_the_providers_unless_configured() {
        let d = target(r#"{ kind = "dingtalk", url = "https://oapi.dingtalk.com/robot/send?access_token=x", secret = "SECx" }"#);
        let r = Robot::of(&d).unwrap();
        assert_eq!(r.provider, Provider::Dingtalk);
        assert_eq!(r.limits(), vec![(20, Duration::from_secs(60))]);
        assert_eq!(r.language(), Language::Zh);
        let f = target(r#"{ kind = "feishu", url = "https://open.feishu.cn/open-apis/bot/v2/hook/x", language = "en" }"#);
        let r = Robot::of(&f).unwrap();
        assert_eq!(r.limits().len(), 2, "a minute and a second");
        assert_eq!(r.language(), Language::En);
        let w = target(r#"{ kind = "wecom", url = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k", rate_limit = 3, rate_window_secs = 2 }"#);
        assert_eq!(Robot::of(&w).unwrap().limits(), vec![(3, Duration::from_secs(2))]);
        assert!(Robot::of(&target(r#"{ kind = "nats" }"#)).is_none());
    }
}
