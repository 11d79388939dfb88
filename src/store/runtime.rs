//! Agents and queues set at run time through the admin API.

use std::collections::HashMap;

use redis::AsyncCommands;

use super::{Store, StoreError};

impl Store {
    /// The agents and queues changed at run time (`agents.<id>` → TOML or
    /// `!deleted`).
    pub async fn runtime_entries(&self) -> Result<HashMap<String, String>, StoreError> {
        let mut c = self.conn().await?;
        let r = c.hgetall(self.keys.runtime()).await;
        self.check(r).await
    }

    /// Records a run-time change of `key` (`agents.<id>`, `queues.<name>`).
    pub async fn set_runtime_entry(&self, key: &str, value: &str) -> Result<(), StoreError> {
        let mut c = self.conn().await?;
        let r: Result<(), _> = c.hset(self.keys.runtime(), key, value).await;
        self.check(r).await
    }
}
