//! Once-only markers: first sight of a key, and claims on a request
//! while it is being taken.

use std::time::Duration;

use redis::{AsyncCommands, Script};

use super::{Claim, Store, StoreError};

impl Store {
    /// Claims `key` for `ttl`; `true` the first time, `false` while it lives
    /// (retries of a provider push).
    pub async fn first_seen(&self, key: &str, ttl: Duration) -> Result<bool, StoreError> {
        let mut c = self.conn().await?;
        let r: Result<Option<String>, _> =
            redis::cmd("SET").arg(key).arg("1").arg("NX").arg("EX").arg(ttl.as_secs().max(1)).query_async(&mut c).await;
        Ok(self.check(r).await?.is_some())
    }

    /// Claims `key` for a signed request whose body hashes to `hash`
    /// (`{hash}|p` while it is taken, EX `ttl`): [`Claim::New`] for the
    /// first, [`Claim::Retry`] for the same body again (whether the first
    /// was made durable), [`Claim::Conflict`] for another body.
    pub async fn claim_request(&self, key: &str, hash: &str, ttl: Duration) -> Result<Claim, StoreError> {
        let mut c = self.conn().await?;
        let r: Result<String, _> = Script::new(
            "if redis.call('SET', KEYS[1], ARGV[1] .. '|p', 'NX', 'EX', ARGV[2]) then return 'new' end \
             local v = redis.call('GET', KEYS[1]) or '' \
             if v == ARGV[1] .. '|d' then return 'done' elseif v == ARGV[1] .. '|p' then return 'pending' end \
             return 'conflict'",
        )
        .key(key)
        .arg(hash)
        .arg(ttl.as_secs().max(1))
        .invoke_async(&mut c)
        .await;
        Ok(match self.check(r).await?.as_str() {
            "new" => Claim::New,
            "done" => Claim::Retry { durable: true },
            "pending" => Claim::Retry { durable: false },
            _ => Claim::Conflict,
        })
    }

    /// Marks a [`claim_request`](Self::claim_request) durable: its retries
    /// are answered at once.
    pub async fn claim_done(&self, key: &str, hash: &str) -> Result<(), StoreError> {
        let mut c = self.conn().await?;
        let r: Result<Option<String>, _> =
            redis::cmd("SET").arg(key).arg(format!("{hash}|d")).arg("XX").arg("KEEPTTL").query_async(&mut c).await;
        self.check(r).await.map(drop)
    }

    /// Forgets a [`first_seen`](Self::first_seen) claim, so a retry of a
    /// step that failed after claiming is not dropped.
    pub async fn release(&self, key: &str) -> Result<(), StoreError> {
        let mut c = self.conn().await?;
        let r: Result<(), _> = c.del(key).await;
        self.check(r).await
    }
}
