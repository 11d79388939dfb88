//! Channel state: SMS opt-outs and WeChat access tokens.

use std::time::Duration;

use redis::AsyncCommands;

use super::{Store, StoreError};

impl Store {
    /// Marks `number` opted out of (or back into) an SMS account.
    pub async fn set_opt_out(&self, account: &str, number: &str, opted_out: bool) -> Result<(), StoreError> {
        let key = self.keys.opt_out(account);
        let mut c = self.conn().await?;
        let r: Result<(), _> = if opted_out {
            c.sadd(key, number).await
        } else {
            // The keyed hash an erase left for the number goes too.
            let hash = self.keyed_hash(number).await?;
            c.srem(key, &[number, hash.as_str()]).await
        };
        self.check(r).await
    }

    /// Whether `number` opted out of an SMS account.
    pub async fn is_opted_out(&self, account: &str, number: &str) -> Result<bool, StoreError> {
        let hash = self.keyed_hash(number).await?;
        let key = self.keys.opt_out(account);
        let mut c = self.conn().await?;
        // After an erase the number is kept only as its keyed hash.
        let r: Result<(bool, bool), _> = redis::pipe().sismember(&key, number).sismember(&key, hash).query_async(&mut c).await;
        let (plain, hashed) = self.check(r).await?;
        Ok(plain || hashed)
    }

    /// The cached WeChat access token of an account.
    pub async fn wechat_token(&self, account: &str) -> Result<Option<String>, StoreError> {
        let mut c = self.conn().await?;
        let r = c.get(self.keys.wechat_token(account)).await;
        self.check(r).await
    }

    /// Caches a WeChat access token for `ttl`, or drops it (`None`).
    pub async fn set_wechat_token(&self, account: &str, token: Option<(&str, Duration)>) -> Result<(), StoreError> {
        let key = self.keys.wechat_token(account);
        let mut c = self.conn().await?;
        let r: Result<(), _> = match token {
            Some((t, ttl)) => c.set_ex(key, t, ttl.as_secs().max(1)).await,
            None => c.del(key).await,
        };
        self.check(r).await
    }
}
