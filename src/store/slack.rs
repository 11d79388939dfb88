//! The Slack app's bookkeeping: each conversation's parent message per
//! `slack_app` target, the way back from a thread to its conversation,
//! and the Events API events taken.

use std::time::Duration;

use redis::AsyncCommands;

use super::{Store, StoreError};

/// How long a conversation's Slack parent (and its way back) is kept.
const PARENT_TTL_SECS: i64 = 90 * 24 * 3600;

/// A conversation's parent message in one Slack channel.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SlackParent {
    /// The message's `ts` (its id in the channel).
    pub ts: String,
    /// The channel id, as Slack answered it.
    pub channel: String,
    /// The first message's excerpt (kept for the updates).
    pub first: String,
    /// The SLA due time shown, if any.
    pub due: String,
}

impl Store {
    /// The parent message of `conversation` for the target `target_hash`.
    pub async fn slack_parent(&self, conversation: &str, target_hash: &str) -> Result<Option<SlackParent>, StoreError> {
        let mut c = self.conn().await?;
        let r: Result<std::collections::HashMap<String, String>, _> =
            c.hgetall(self.keys.slack_parent(conversation, target_hash)).await;
        let mut fields = self.check(r).await?;
        let Some(ts) = fields.remove("ts").filter(|t| !t.is_empty()) else { return Ok(None) };
        Ok(Some(SlackParent {
            ts,
            channel: fields.remove("channel").unwrap_or_default(),
            first: fields.remove("first").unwrap_or_default(),
            due: fields.remove("due").unwrap_or_default(),
        }))
    }

    /// Records the parent message of `conversation` for `target_hash`, and
    /// the way back from its thread, in one step.
    pub async fn set_slack_parent(&self, conversation: &str, target_hash: &str, parent: &SlackParent) -> Result<(), StoreError> {
        let key = self.keys.slack_parent(conversation, target_hash);
        let thread = self.keys.slack_thread(&parent.channel, &parent.ts);
        let mut c = self.conn().await?;
        let r: Result<(), _> = redis::pipe()
            .atomic()
            .hset_multiple(
                &key,
                &[("ts", &parent.ts), ("channel", &parent.channel), ("first", &parent.first), ("due", &parent.due)],
            )
            .expire(&key, PARENT_TTL_SECS)
            .set_ex(&thread, conversation, PARENT_TTL_SECS as u64)
            .query_async(&mut c)
            .await;
        self.check(r).await
    }

    /// The conversation whose parent message is `ts` in `channel`.
    pub async fn slack_thread(&self, channel: &str, ts: &str) -> Result<Option<String>, StoreError> {
        let mut c = self.conn().await?;
        let r: Result<Option<String>, _> = c.get(self.keys.slack_thread(channel, ts)).await;
        self.check(r).await
    }

    /// Records that Slack rate-limited posts to `channel` for `wait`.
    pub async fn pause_slack_channel(&self, channel: &str, wait: Duration) -> Result<(), StoreError> {
        let mut c = self.conn().await?;
        let ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX).max(1);
        let r: Result<(), _> = redis::cmd("SET").arg(self.keys.slack_pause(channel)).arg("1").arg("PX").arg(ms).query_async(&mut c).await;
        self.check(r).await
    }

    /// How long posts to `channel` must still wait, if Slack rate-limited it.
    pub async fn slack_channel_pause(&self, channel: &str) -> Result<Option<Duration>, StoreError> {
        let mut c = self.conn().await?;
        let r: Result<i64, _> = c.pttl(self.keys.slack_pause(channel)).await;
        let ms = self.check(r).await?;
        Ok(u64::try_from(ms).ok().filter(|ms| *ms > 0).map(Duration::from_millis))
    }

    /// Claims a Slack event id: `true` the first time (for `ttl`).
    pub async fn first_slack_event(&self, event_id: &str, ttl: Duration) -> Result<bool, StoreError> {
        self.first_seen(&self.keys.slack_event(event_id), ttl).await
    }

    /// Forgets a claimed Slack event id (its action failed for a transient
    /// reason: Slack's retry may take it again).
    pub async fn release_slack_event(&self, event_id: &str) -> Result<(), StoreError> {
        self.release(&self.keys.slack_event(event_id)).await
    }
}
