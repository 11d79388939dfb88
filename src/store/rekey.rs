//! `switchboard rekey`: the sealed values of Redis (conversation histories,
//! CSAT comments) sealed again with the current data key, in `SCAN` steps
//! whose cursor is kept in Redis (`{P}:rekey:cursor`), under a lock
//! (`{P}:rekey:lock`) so that one process at a time walks it.

use std::sync::LazyLock;

use redis::Script;
use serde::Serialize;

use super::{Store, StoreError};
use crate::sealing::{self, Keyring};

static WRITE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("lua/rekey.lua")));

/// Releases the lock if this process still holds it.
static UNLOCK: LazyLock<Script> = LazyLock::new(|| {
    Script::new("if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0")
});

/// Keeps the lock for `ARGV[2]` more ms if this process holds it.
static KEEP: LazyLock<Script> = LazyLock::new(|| {
    Script::new("if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0")
});

/// What a rekey did, value by value (a history entry counts once).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RekeyCounts {
    /// Keys looked at.
    pub keys: u64,
    /// Values sealed with an older key, now with the current one.
    pub rekeyed: u64,
    /// Plaintext values (written before the keys were set), now sealed.
    pub sealed: u64,
    /// Values already sealed with the current key.
    pub current: u64,
    /// Values that do not open (logged with their key id), left as they are.
    pub failed: u64,
}

impl RekeyCounts {
    /// Adds `o` to these counts.
    pub fn add(&mut self, o: &RekeyCounts) {
        self.keys += o.keys;
        self.rekeyed += o.rekeyed;
        self.sealed += o.sealed;
        self.current += o.current;
        self.failed += o.failed;
    }

    /// Counts one value: what it was, and its new form when it changes.
    fn value(&mut self, value: &str, resealed: Result<Option<String>, sealing::SealError>) -> Option<String> {
        match resealed {
            Ok(None) => {
                self.current += 1;
                None
            }
            Ok(Some(new)) => {
                if sealing::key_id(value).is_some() || value.contains(sealing::PREFIX) {
                    self.rekeyed += 1;
                } else {
                    self.sealed += 1;
                }
                Some(new)
            }
            Err(e) => {
                tracing::error!(key_id = e.key_id(), error = %e, "rekey: a value does not open; left as it is");
                self.failed += 1;
                None
            }
        }
    }
}

impl Store {
    /// Takes the rekey lock for `ttl_ms` (`token` names this process);
    /// whether it was free.
    pub async fn rekey_lock(&self, token: &str, ttl_ms: u64) -> Result<bool, StoreError> {
        let mut c = self.conn().await?;
        let r: Result<Option<String>, _> =
            redis::cmd("SET").arg(self.keys.rekey_lock()).arg(token).arg("NX").arg("PX").arg(ttl_ms).query_async(&mut c).await;
        Ok(self.check(r).await?.is_some())
    }

    /// Keeps the lock another `ttl_ms`; `false` if it was lost.
    pub async fn rekey_keep(&self, token: &str, ttl_ms: u64) -> Result<bool, StoreError> {
        let mut c = self.conn().await?;
        let r: Result<i64, _> = KEEP.key(self.keys.rekey_lock()).arg(token).arg(ttl_ms).invoke_async(&mut c).await;
        Ok(self.check(r).await? == 1)
    }

    /// Releases the lock.
    pub async fn rekey_unlock(&self, token: &str) -> Result<(), StoreError> {
        let mut c = self.conn().await?;
        let r: Result<i64, _> = UNLOCK.key(self.keys.rekey_lock()).arg(token).invoke_async(&mut c).await;
        self.check(r).await.map(|_| ())
    }

    /// One step: the next `count` keys of the `SCAN` from the cursor kept
    /// in Redis; whether the walk is through (then the cursor is deleted,
    /// and the next rekey starts over).
    pub async fn rekey_step(&self, keyring: &Keyring, count: usize) -> Result<(RekeyCounts, bool), StoreError> {
        let mut c = self.conn().await?;
        let r: Result<Option<u64>, _> = redis::cmd("GET").arg(self.keys.rekey_cursor()).query_async(&mut c).await;
        let cursor = self.check(r).await?.unwrap_or(0);
        let r: Result<(u64, Vec<String>), _> = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(self.keys.conversations_glob())
            .arg("COUNT")
            .arg(count)
            .query_async(&mut c)
            .await;
        let (next, keys) = self.check(r).await?;
        drop(c);
        let mut counts = RekeyCounts::default();
        for key in keys {
            counts.add(&self.rekey_key(keyring, &key).await?);
        }
        let mut c = self.conn().await?;
        let r: Result<(), _> = if next == 0 {
            redis::cmd("DEL").arg(self.keys.rekey_cursor()).query_async(&mut c).await
        } else {
            redis::cmd("SET").arg(self.keys.rekey_cursor()).arg(next).query_async(&mut c).await
        };
        self.check(r).await?;
        Ok((counts, next == 0))
    }

    /// Seals again the values of one key: every entry of a history
    /// (`…:messages`), the `csat_comment` of a conversation record.
    async fn rekey_key(&self, keyring: &Keyring, key: &str) -> Result<RekeyCounts, StoreError> {
        let Some(rest) = key.strip_prefix(&self.keys.conversation("")) else { return Ok(RekeyCounts::default()) };
        let mut counts = RekeyCounts { keys: 1, ..Default::default() };
        let mut c = self.conn().await?;
        let r: Result<String, _> = redis::cmd("TYPE").arg(key).query_async(&mut c).await;
        let kind = self.check(r).await?;
        let mut inv = WRITE.key(key);
        let mut writes = 0;
        if kind == "list" && rest.strip_suffix(":messages").is_some_and(|id| !id.contains(':')) {
            let r: Result<Vec<String>, _> = redis::cmd("LRANGE").arg(key).arg(0).arg(-1).query_async(&mut c).await;
            inv.arg("list");
            for (i, entry) in self.check(r).await?.iter().enumerate() {
                if let Some(new) = counts.value(entry, sealing::reseal_entry(keyring, entry)) {
                    inv.arg(i).arg(entry).arg(new);
                    writes += 1;
                }
            }
        } else if kind == "hash" && !rest.contains(':') {
            let r: Result<Option<String>, _> = redis::cmd("HGET").arg(key).arg("csat_comment").query_async(&mut c).await;
            inv.arg("hash");
            if let Some(comment) = self.check(r).await?.filter(|c| !c.is_empty()) {
                if let Some(new) = counts.value(&comment, keyring.reseal(&comment)) {
                    inv.arg("csat_comment").arg(&comment).arg(new);
                    writes += 1;
                }
            }
        } else {
            return Ok(RekeyCounts::default());
        }
        if writes > 0 {
            let r: Result<i64, _> = inv.invoke_async(&mut c).await;
            self.check(r).await?;
        }
        Ok(counts)
    }
}
