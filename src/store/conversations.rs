//! Conversations as stored: the typed record, the index walked by the
//! list route, the message history and the email thread map.

use std::collections::HashMap;

use redis::AsyncCommands;

use crate::model::{Conversation, ModelError};
use super::{Store, StoreError};

/// A conversation's stored fields.
type ConversationRecord = HashMap<String, String>;

impl Store {
    /// A conversation, or `None` if it does not exist; a hash this version
    /// cannot read is [`StoreError::Corrupt`].
    pub async fn conversation(&self, id: &str) -> Result<Option<Conversation>, StoreError> {
        let mut c = self.conn().await?;
        let key = self.keys.conversation(id);
        let r: Result<ConversationRecord, _> = c.hgetall(&key).await;
        let fields = self.check(r).await?;
        if fields.is_empty() {
            return Ok(None);
        }
        Conversation::from_hash(&fields).map(Some).map_err(|e| StoreError::Corrupt { key, reason: e.to_string() })
    }

    /// Up to `count` conversation ids after `after` (exclusive), in id
    /// order, from the conversation index; with the conversations. Ids
    /// whose hash is gone are left out; a hash this version cannot read is
    /// an `Err` in its place, so one bad record does not hide the others.
    pub async fn conversations_after(
        &self,
        after: Option<&str>,
        count: usize,
    ) -> Result<(Vec<String>, Vec<(String, Result<Conversation, ModelError>)>), StoreError> {
        let min = after.map_or_else(|| "-".to_owned(), |a| format!("({a}"));
        let mut c = self.conn().await?;
        let r: Result<Vec<String>, _> = redis::cmd("ZRANGEBYLEX")
            .arg(self.keys.conversation_index())
            .arg(&min)
            .arg("+")
            .arg("LIMIT")
            .arg(0)
            .arg(count)
            .query_async(&mut c)
            .await;
        let ids = self.check(r).await?;
        if ids.is_empty() {
            return Ok((ids, Vec::new()));
        }
        let mut pipe = redis::pipe();
        for id in &ids {
            pipe.hgetall(self.keys.conversation(id));
        }
        let r: Result<Vec<ConversationRecord>, _> = pipe.query_async(&mut c).await;
        let records = self.check(r).await?;
        let found = ids
            .iter()
            .cloned()
            .zip(records)
            .filter(|(_, r)| !r.is_empty())
            .map(|(id, r)| (id, Conversation::from_hash(&r)))
            .collect();
        Ok((ids, found))
    }

    /// A conversation's messages, oldest first, as stored JSON.
    pub async fn messages(&self, id: &str) -> Result<Vec<serde_json::Value>, StoreError> {
        let mut c = self.conn().await?;
        let r: Result<Vec<String>, _> = c.lrange(self.keys.messages(id), 0, -1).await;
        let raw = self.check(r).await?;
        Ok(raw.iter().filter_map(|m| serde_json::from_str(m).ok()).map(crate::sealing::open_entry).collect())
    }

    /// Appends a message (a note) to a conversation's history.
    pub async fn append_message(&self, id: &str, stored_message: &str) -> Result<(), StoreError> {
        let mut c = self.conn().await?;
        let r: Result<(), _> = c.rpush(self.keys.messages(id), crate::sealing::seal_entry(stored_message)).await;
        self.check(r).await
    }

    /// Sets fields on a conversation (channel-specific context such as the
    /// email subject and thread ids).
    pub async fn set_conversation_fields(&self, id: &str, fields: &[(&str, String)]) -> Result<(), StoreError> {
        if fields.is_empty() {
            return Ok(());
        }
        let mut c = self.conn().await?;
        let r: Result<(), _> = c.hset_multiple(self.keys.conversation(id), fields).await;
        self.check(r).await
    }

    /// Remembers the conversation of an email Message-ID (ours or the
    /// customer's), for threading replies.
    pub async fn remember_message_id(&self, message_id: &str, conversation: &str) -> Result<(), StoreError> {
        let mut c = self.conn().await?;
        const TTL: i64 = 90 * 24 * 3600;
        // Listed on the conversation too, for an erase.
        let ids = self.keys.conversation_message_ids(conversation);
        let r: Result<(), _> = redis::pipe()
            .set_ex(self.keys.email_message(message_id), conversation, TTL as u64)
            .ignore()
            .sadd(&ids, message_id)
            .ignore()
            .expire(&ids, TTL)
            .ignore()
            .query_async(&mut c)
            .await;
        self.check(r).await
    }

    /// The conversation of the first of `ids` that is known.
    pub async fn conversation_of_message_ids(&self, ids: &[String]) -> Result<Option<String>, StoreError> {
        if ids.is_empty() {
            return Ok(None);
        }
        let keys: Vec<String> = ids.iter().map(|i| self.keys.email_message(i)).collect();
        let mut c = self.conn().await?;
        let r: Result<Vec<Option<String>>, _> = redis::cmd("MGET").arg(&keys).query_async(&mut c).await;
        Ok(self.check(r).await?.into_iter().flatten().next())
    }
}
