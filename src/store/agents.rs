//! Agents and queues: an agent's state and conversations, syncing the
//! configuration into the routing keys, and the queue figures.

use std::collections::{BTreeMap, HashMap};

use redis::AsyncCommands;
use serde::Serialize;
use switchboard_core::Channel;

use super::routing::{corrupt, QueueJson};
use super::{Store, StoreError};

/// An agent's configuration as routing reads it in Redis.
#[derive(Clone, Debug)]
pub struct AgentSync<'a> {
    /// Agent id.
    pub id: &'a str,
    /// Status for an agent Redis does not know yet (or always, if `force`).
    pub status: &'a str,
    /// Set the status even if Redis has one (removed agents: offline).
    pub force: bool,
    /// Total capacity.
    pub total: u32,
    /// Capacity per channel.
    pub capacity: [(Channel, u32); 4],
    /// Skills with proficiency.
    pub skills: &'a BTreeMap<String, u8>,
    /// Languages (empty: any).
    pub languages: &'a [String],
}

/// One queue in the stats snapshot.
#[derive(Clone, Debug, Default, Serialize)]
pub struct QueueStats {
    /// Conversations waiting.
    pub waiting: u64,
    /// When the longest-waiting one was queued (ms), if any.
    pub oldest_enqueued_ms: Option<i64>,
}

impl Store {
    /// An agent's run-time fields (status, loads).
    pub async fn agent(&self, agent: &str) -> Result<HashMap<String, String>, StoreError> {
        let mut c = self.conn().await?;
        let r = c.hgetall(self.keys.agent(agent)).await;
        self.check(r).await
    }

    /// An agent's open conversation ids.
    pub async fn agent_conversations(&self, agent: &str) -> Result<Vec<String>, StoreError> {
        let mut c = self.conn().await?;
        let r: Result<Vec<String>, _> = c.smembers(self.keys.agent_conversations(agent)).await;
        let mut ids = self.check(r).await?;
        ids.sort();
        Ok(ids)
    }

    /// Writes an agent's configuration for routing (see `lua/agent.lua`).
    pub async fn sync_agent(&self, agent: &AgentSync<'_>) -> Result<String, StoreError> {
        let skills = serde_json::to_string(agent.skills).map_err(corrupt(self.keys.agent(agent.id)))?;
        let languages = serde_json::to_string(agent.languages).map_err(corrupt(self.keys.agent(agent.id)))?;
        let mut inv = self.agent_script.key(self.keys.agent(agent.id));
        inv.arg(self.keys.base())
            .arg(agent.id)
            .arg("sync")
            .arg(agent.status)
            .arg(if agent.force { "force" } else { "" })
            .arg(agent.total);
        for channel in [Channel::Sms, Channel::Wechat, Channel::Email, Channel::Webchat] {
            let cap = agent.capacity.iter().find(|(c, _)| *c == channel).map_or(0, |(_, cap)| *cap);
            inv.arg(cap);
        }
        inv.arg(skills).arg(languages);
        let mut c = self.conn().await?;
        let r: Result<String, _> = inv.invoke_async(&mut c).await;
        self.check(r).await
    }

    /// Sets an agent's status and re-indexes it.
    pub async fn set_agent_status(&self, agent: &str, status: &str) -> Result<(), StoreError> {
        let mut c = self.conn().await?;
        let r: Result<String, _> = self
            .agent_script
            .key(self.keys.agent(agent))
            .arg(self.keys.base())
            .arg(agent)
            .arg("status")
            .arg(status)
            .invoke_async(&mut c)
            .await;
        self.check(r).await.map(|_| ())
    }

    /// Writes the routing settings the scripts read (`{P}:config`).
    pub async fn set_routing_config(
        &self,
        sticky_ms: i64,
        offer_misses: u32,
        event_source: &str,
        queues: &BTreeMap<String, QueueJson>,
    ) -> Result<(), StoreError> {
        let key = self.keys.routing_config();
        let mut fields = vec![
            ("sticky_ms".to_owned(), sticky_ms.to_string()),
            ("offer_misses".to_owned(), offer_misses.to_string()),
            ("event_source".to_owned(), event_source.to_owned()),
        ];
        for (name, q) in queues {
            fields.push((format!("queue:{name}"), serde_json::to_string(q).map_err(corrupt(key.clone()))?));
        }
        let mut c = self.conn().await?;
        let r: Result<(), _> = c.hset_multiple(&key, &fields).await;
        self.check(r).await
    }
    /// How many conversations wait in each of `queues` (all channels), and
    /// since when the oldest of each line's first 50 waits.
    pub async fn queue_stats(&self, queues: &[String]) -> Result<Vec<QueueStats>, StoreError> {
        let mut c = self.conn().await?;
        let mut out = Vec::new();
        for q in queues {
            let mut pipe = redis::pipe();
            for ch in Channel::ALL {
                pipe.zcard(self.keys.waiting(q, ch));
                pipe.zrange(self.keys.waiting(q, ch), 0, 49);
            }
            let r: Result<Vec<redis::Value>, _> = pipe.query_async(&mut c).await;
            let values = self.check(r).await?;
            let mut stats = QueueStats::default();
            let mut heads: Vec<String> = Vec::new();
            for pair in values.chunks(2) {
                stats.waiting += redis::from_redis_value::<u64>(&pair[0]).unwrap_or(0);
                heads.extend(redis::from_redis_value::<Vec<String>>(&pair[1]).unwrap_or_default());
            }
            if !heads.is_empty() {
                let mut pipe = redis::pipe();
                for id in &heads {
                    pipe.hget(self.keys.conversation(id), "enqueued_at");
                }
                let r: Result<Vec<Option<i64>>, _> = pipe.query_async(&mut c).await;
                stats.oldest_enqueued_ms = self.check(r).await?.into_iter().flatten().min();
            }
            out.push(stats);
        }
        Ok(out)
    }
}
