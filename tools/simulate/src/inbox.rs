//! Where the daemon's replies land: the fake providers and the visitors'
//! sockets record each reply under the customer's address, and the
//! customers wait here for their answer.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use crate::stats::Stats;

/// Replies received, per customer address.
#[derive(Debug)]
pub struct Inbox {
    replies: Mutex<HashMap<String, u64>>,
    stats: Arc<Stats>,
}

impl Inbox {
    pub fn new(stats: Arc<Stats>) -> Inbox {
        Inbox { replies: Mutex::new(HashMap::new()), stats }
    }

    /// Records one reply to `address` on `channel`.
    pub fn deliver(&self, channel: &str, address: &str) {
        if let Ok(mut r) = self.replies.lock() {
            *r.entry(address.to_owned()).or_default() += 1;
        }
        self.stats.reply(channel);
    }

    /// Replies `address` has received so far.
    pub fn count(&self, address: &str) -> u64 {
        self.replies.lock().map(|r| r.get(address).copied().unwrap_or(0)).unwrap_or(0)
    }

    /// Waits until `address` has more than `seen` replies, or `until`.
    pub async fn wait_beyond(&self, address: &str, seen: u64, until: Instant) -> bool {
        loop {
            if self.count(address) > seen {
                return true;
            }
            if Instant::now() >= until {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
