//! Dead letters: the steps that gave up, kept for the admin API.

use redis::AsyncCommands;

use super::{Store, StoreError};

impl Store {
    /// Dead-letters a delivery under `id` (the entry carries it too).
    pub async fn dead_letter(&self, id: &str, entry: &serde_json::Value, at_ms: i64) -> Result<(), StoreError> {
        let key = self.keys.dead_letters();
        let mut c = self.conn().await?;
        let r: Result<(), _> = redis::pipe()
            .atomic()
            .zadd(&key, id, at_ms)
            .hset(format!("{key}:data"), id, entry.to_string())
            .query_async(&mut c)
            .await;
        self.check(r).await
    }

    /// Up to `limit` dead letters, oldest first, and how many there are.
    pub async fn dead_letters(&self, limit: isize) -> Result<(Vec<serde_json::Value>, u64), StoreError> {
        let key = self.keys.dead_letters();
        let mut c = self.conn().await?;
        let r: Result<(Vec<String>, u64), _> =
            redis::pipe().zrange(&key, 0, limit - 1).zcard(&key).query_async(&mut c).await;
        let (ids, total) = self.check(r).await?;
        if ids.is_empty() {
            return Ok((Vec::new(), total));
        }
        let r: Result<Vec<Option<String>>, _> = redis::cmd("HMGET").arg(format!("{key}:data")).arg(&ids).query_async(&mut c).await;
        let raw = self.check(r).await?;
        Ok((raw.into_iter().flatten().filter_map(|m| serde_json::from_str(&m).ok()).collect(), total))
    }

    /// One dead letter.
    pub async fn dead_letter_entry(&self, id: &str) -> Result<Option<serde_json::Value>, StoreError> {
        let mut c = self.conn().await?;
        let r: Result<Option<String>, _> = c.hget(self.keys.dead_letter_data(), id).await;
        Ok(self.check(r).await?.and_then(|m| serde_json::from_str(&m).ok()))
    }

    /// Drops a dead letter; `false` if there was none.
    pub async fn drop_dead_letter(&self, id: &str) -> Result<bool, StoreError> {
        let key = self.keys.dead_letters();
        let mut c = self.conn().await?;
        let r: Result<(i64, i64), _> =
            redis::pipe().atomic().zrem(&key, id).hdel(format!("{key}:data"), id).query_async(&mut c).await;
        Ok(self.check(r).await?.0 == 1)
    }
}
