//! What a run counts, shared by every task: messages sent and replies
//! received per channel, the agents' actions, and errors by kind.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// The four channels, in the order the summary lists them.
pub const CHANNELS: [&str; 4] = ["sms", "wechat", "email", "webchat"];

/// Index of a channel name in [`CHANNELS`].
pub fn channel_index(channel: &str) -> usize {
    CHANNELS.iter().position(|c| *c == channel).unwrap_or(0)
}

/// Live counters.
#[derive(Debug, Default)]
pub struct Stats {
    pub conversations: AtomicU64,
    pub vip: AtomicU64,
    /// Customers who wrote again on a second channel.
    pub switched: AtomicU64,
    sent: [AtomicU64; 4],
    replies: [AtomicU64; 4],
    pub accepted: AtomicU64,
    pub agent_replies: AtomicU64,
    pub transferred: AtomicU64,
    pub resolved: AtomicU64,
    pub away_spells: AtomicU64,
    pub unanswered: AtomicU64,
    /// SLA notifications that reached the supervisors' webhook.
    pub sla_notices: AtomicU64,
    /// Agent commands the daemon refused because the conversation moved on
    /// meanwhile (409): a race the agent would see too, not an error.
    pub races: AtomicU64,
    errors: Mutex<BTreeMap<String, u64>>,
}

impl Stats {
    pub fn sent(&self, channel: &str) {
        self.sent[channel_index(channel)].fetch_add(1, Ordering::Relaxed);
    }

    pub fn reply(&self, channel: &str) {
        self.replies[channel_index(channel)].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts an error of `kind` (a short stable name, such as
    /// `sms_webhook_403`).
    pub fn error(&self, kind: impl Into<String>) {
        if let Ok(mut e) = self.errors.lock() {
            *e.entry(kind.into()).or_default() += 1;
        }
    }

    /// Where the run stands.
    pub fn snapshot(&self, elapsed: Duration) -> Summary {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Summary {
            elapsed,
            conversations: get(&self.conversations),
            vip: get(&self.vip),
            switched: get(&self.switched),
            sent: CHANNELS.iter().zip(&self.sent).map(|(c, n)| ((*c).to_owned(), get(n))).collect(),
            replies: CHANNELS.iter().zip(&self.replies).map(|(c, n)| ((*c).to_owned(), get(n))).collect(),
            accepted: get(&self.accepted),
            agent_replies: get(&self.agent_replies),
            transferred: get(&self.transferred),
            resolved: get(&self.resolved),
            away_spells: get(&self.away_spells),
            unanswered: get(&self.unanswered),
            sla_notices: get(&self.sla_notices),
            races: get(&self.races),
            errors: self.errors.lock().map(|e| e.clone()).unwrap_or_default(),
        }
    }
}

/// The figures of a run (or of the run so far).
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Summary {
    pub elapsed: Duration,
    /// Conversations started by simulated customers.
    pub conversations: u64,
    /// Of them, VIP customers.
    pub vip: u64,
    /// Of them, customers who continued on a second channel.
    pub switched: u64,
    /// Customer messages the daemon took (2xx or a web chat `ack`), per channel.
    pub sent: BTreeMap<String, u64>,
    /// Agent replies that reached the fake providers or the visitor's socket, per channel.
    pub replies: BTreeMap<String, u64>,
    pub accepted: u64,
    /// Replies the agents posted (202 from the daemon).
    pub agent_replies: u64,
    pub transferred: u64,
    pub resolved: u64,
    pub away_spells: u64,
    /// Customer messages still without an answer when the run ended.
    pub unanswered: u64,
    pub sla_notices: u64,
    pub races: u64,
    pub errors: BTreeMap<String, u64>,
}

impl Summary {
    fn total(map: &BTreeMap<String, u64>) -> u64 {
        map.values().sum()
    }

    /// Errors of every kind.
    pub fn error_count(&self) -> u64 {
        Self::total(&self.errors)
    }

    /// One progress line.
    pub fn progress_line(&self) -> String {
        format!(
            "[{:>6.1}s] conversations {:>4}  sent {:>4}  replies {:>4}  resolved {:>4}  transferred {:>3}  errors {}",
            self.elapsed.as_secs_f64(),
            self.conversations,
            Self::total(&self.sent),
            Self::total(&self.replies),
            self.resolved,
            self.transferred,
            self.error_count()
        )
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "summary after {:.1} s: {} conversations ({} VIP, {} continued on a second channel)",
            self.elapsed.as_secs_f64(),
            self.conversations,
            self.vip,
            self.switched
        )?;
        writeln!(f, "  {:<8} {:>6} {:>8}", "channel", "sent", "replies")?;
        for c in CHANNELS {
            let (s, r) = (self.sent.get(c).copied().unwrap_or(0), self.replies.get(c).copied().unwrap_or(0));
            writeln!(f, "  {c:<8} {s:>6} {r:>8}")?;
        }
        writeln!(
            f,
            "  agents: {} offers accepted, {} replies, {} transferred, {} resolved, {} away spells",
            self.accepted, self.agent_replies, self.transferred, self.resolved, self.away_spells
        )?;
        writeln!(
            f,
            "  unanswered at the end: {}, SLA notifications to supervisors: {}, agent commands overtaken by events: {}",
            self.unanswered, self.sla_notices, self.races
        )?;
        if self.errors.is_empty() {
            writeln!(f, "  errors: none")
        } else {
            let list: Vec<String> = self.errors.iter().map(|(k, n)| format!("{k} {n}")).collect();
            writeln!(f, "  errors: {}", list.join(", "))
        }
    }
}
