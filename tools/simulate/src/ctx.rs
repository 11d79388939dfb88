//! What every task of a run shares: the daemon's address and
//! configuration, the counters, the inbox, the clock and the pace.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::config::Target;
use crate::inbox::Inbox;
use crate::plan::{Ch, Customer};
use crate::stats::Stats;

/// The shared state of a run.
#[derive(Debug)]
pub struct Ctx {
    pub http: reqwest::Client,
    /// The daemon's base URL, where requests go (`--url`).
    pub base: String,
    pub target: Target,
    pub stats: Arc<Stats>,
    pub inbox: Arc<Inbox>,
    /// Makes this run's provider ids and addresses unique.
    pub salt: u32,
    /// Human delays are multiplied by this (1 at five minutes and more,
    /// down to 0.1 for short runs) so that a short run completes
    /// conversations.
    pub pace: f64,
    pub start: Instant,
    /// No customer waits for an answer beyond this.
    pub end: Instant,
    pub seed: u64,
    ids: AtomicU64,
}

impl Ctx {
    #[allow(clippy::too_many_arguments)] // one constructor, called once
    pub fn new(
        http: reqwest::Client,
        base: String,
        target: Target,
        stats: Arc<Stats>,
        inbox: Arc<Inbox>,
        salt: u32,
        pace: f64,
        (start, end): (Instant, Instant),
        seed: u64,
    ) -> Ctx {
        Ctx { http, base, target, stats, inbox, salt, pace, start, end, seed, ids: AtomicU64::new(1) }
    }

    /// A number no other message of this run has.
    pub fn next_id(&self) -> u64 {
        self.ids.fetch_add(1, Ordering::Relaxed)
    }

    /// `base` × the pace.
    pub fn paced(&self, base: Duration) -> Duration {
        base.mul_f64(self.pace)
    }

    /// The daemon URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The customer's phone number: Chinese mobiles for Chinese speakers.
    pub fn phone(&self, c: &Customer) -> String {
        match c.lang {
            crate::content::Lang::Zh => format!("+86139{:04}{:04}", self.salt % 10_000, c.n % 10_000),
            crate::content::Lang::En => format!("+1415{:03}{:04}", self.salt % 1000, c.n % 10_000),
        }
    }

    pub fn email(&self, c: &Customer) -> String {
        let domain = if c.lang == crate::content::Lang::Zh { "qq.example" } else { "mail.example" };
        format!("customer{}.{}@{domain}", self.salt, c.n)
    }

    pub fn open_id(&self, c: &Customer) -> String {
        format!("oSim{:06}x{:08}QwErTyUiOp", self.salt, c.n)
    }

    /// The shop's customer id of `c`.
    pub fn shop_id(&self, c: &Customer) -> String {
        format!("sim-{}-{}", self.salt, c.n)
    }

    /// The address the daemon replies to on `ch` (web chat: the visitor id,
    /// known once the session is open).
    pub fn address(&self, c: &Customer, ch: Ch, visitor: Option<&str>) -> String {
        match ch {
            Ch::Sms => self.phone(c),
            Ch::Wechat => self.open_id(c),
            Ch::Email => self.email(c),
            Ch::Webchat => visitor.unwrap_or_default().to_owned(),
        }
    }
}
