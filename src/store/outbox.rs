//! The event outbox in Redis: what the scripts appended for the bus, the
//! fast path's and the relay's removal of what JetStream acknowledged, the
//! relay's leased claims, and the two scripts that append events for
//! changes the routing scripts do not make (an SLA firing, a failed send,
//! a disabled target; an agent's reply with its outbound messages).
//!
//! An entry is `{P}:outbox` (zset: id → when it was appended, or when its
//! relay lease ends) and `{P}:outbox:data` (hash: id → `<target>\n<payload>`);
//! see `lua/lib.lua` for how scripts append, and `crate::outbox` for how
//! entries are published.

use redis::Script;

use super::{Store, StoreError};

/// Where an outbox entry goes on the bus.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OutboxTarget {
    /// An event of this type on the event log.
    Event(String),
    /// An outbound message for this channel's sender.
    Outbound(switchboard_core::Channel),
}

/// One entry of the outbox: published with `id` as `Nats-Msg-Id`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboxEntry {
    /// The event id or outbound id.
    pub id: String,
    /// Where it goes.
    pub target: OutboxTarget,
    /// The message, as it is published.
    pub payload: bytes::Bytes,
}

impl OutboxEntry {
    /// An entry as a script wrote it (`<target>\n<payload>`).
    pub fn parse(id: String, raw: &str) -> Result<OutboxEntry, StoreError> {
        let corrupt = |reason: &str| StoreError::Corrupt { key: format!("outbox entry {id}"), reason: reason.to_owned() };
        let (target, payload) = raw.split_once('\n').ok_or_else(|| corrupt("no target line"))?;
        let target = if let Some(kind) = target.strip_prefix("event:") {
            OutboxTarget::Event(kind.to_owned())
        } else if let Some(channel) = target.strip_prefix("outbound:") {
            OutboxTarget::Outbound(channel.parse().map_err(|_| corrupt("unknown channel"))?)
        } else {
            return Err(corrupt("unknown target"));
        };
        Ok(OutboxEntry { id, target, payload: bytes::Bytes::copy_from_slice(payload.as_bytes()) })
    }

    /// The conversation and sequence number of an event entry (`<conversation>:<seq>`),
    /// for publishing a batch in order.
    pub fn order_key(&self) -> (&str, u64) {
        match self.id.rsplit_once(':') {
            Some((scope, seq)) => (scope, seq.parse().unwrap_or(0)),
            None => (self.id.as_str(), 0),
        }
    }
}

/// A script's answer: its own result, then the entries it appended.
#[derive(Debug, Default)]
pub struct Emitted {
    /// The script's result.
    pub result: String,
    /// What it appended to the outbox, in order.
    pub entries: Vec<OutboxEntry>,
}

/// Splits a reply()-shaped answer (`result, id, entry, id, entry, …`) after
/// its first `head` items.
pub(super) fn split_reply(mut items: Vec<String>, head: usize) -> Result<(Vec<String>, Vec<OutboxEntry>), StoreError> {
    if items.len() < head {
        return Err(StoreError::Corrupt { key: "script reply".into(), reason: format!("{} items, expected {head}", items.len()) });
    }
    let rest = items.split_off(head);
    let mut entries = Vec::with_capacity(rest.len() / 2);
    let mut it = rest.into_iter();
    while let (Some(id), Some(raw)) = (it.next(), it.next()) {
        entries.push(OutboxEntry::parse(id, &raw)?);
    }
    Ok((items, entries))
}

/// An event appended outside the routing scripts (see `lua/emit.lua`).
#[derive(Debug, Default, serde::Serialize)]
pub struct EmitRequest<'a> {
    /// CloudEvents type.
    #[serde(skip)]
    pub event_type: &'a str,
    /// The conversation (`""`: an event of `scope`).
    #[serde(skip)]
    pub conversation: &'a str,
    /// `agent:<id>` or `system`, for an event of no conversation.
    #[serde(skip)]
    pub scope: &'a str,
    /// A cause id: the same cause appends once (`""`: no de-duplication).
    #[serde(skip)]
    pub cause: &'a str,
    /// The agent (`None`: the conversation's; `Some("")`: none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent: Option<&'a str>,
    /// Why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'a str>,
    /// What failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'a str>,
    /// Whether the supervisors' targets get it too.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub supervisors: bool,
    /// The `[sla.notify]` lists whose targets get it too.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notify: Vec<String>,
    /// The message, as events carry it (JSON).
    #[serde(skip)]
    pub message: Option<String>,
    /// SLA details (JSON).
    #[serde(skip)]
    pub sla: Option<String>,
}

/// An agent's reply, recorded with its `replied` event and its outbound
/// messages in one step (see `lua/reply.lua`).
#[derive(Debug)]
pub struct ReplyRecord<'a> {
    /// The conversation.
    pub conversation: &'a str,
    /// The reply's id (its first outbound message's).
    pub id: &'a str,
    /// The agent (`""`: the admin).
    pub agent: &'a str,
    /// The channel the outbound messages go out on.
    pub channel: switchboard_core::Channel,
    /// The reply as the conversation's history keeps it (JSON).
    pub stored: String,
    /// The reply as the `replied` event carries it (JSON).
    pub message: String,
    /// The outbound messages: id and JSON.
    pub outbound: Vec<(String, String)>,
    /// How long the reply's send record lives.
    pub ttl_secs: u64,
    /// Now.
    pub now_ms: i64,
}

/// What became of a reply submission.
#[derive(Debug, PartialEq, Eq)]
pub enum ReplyOutcome {
    /// Recorded now, and queued for sending.
    Queued,
    /// The same reply id was recorded before (a retry): nothing new.
    Duplicate,
    /// The conversation is resolved: nothing recorded.
    Resolved,
    /// No such conversation.
    NotFound,
}

impl Store {
    /// Removes entries JetStream acknowledged and, in the same round trip,
    /// replaces `conversation`'s SLA clocks by `sla.1` if they are still
    /// `sla.0`; `false` when they changed since they were read.
    pub async fn outbox_done(&self, ids: &[String], sla: Option<(&str, &str, &str)>) -> Result<bool, StoreError> {
        if ids.is_empty() && sla.is_none() {
            return Ok(true);
        }
        let (conversation, read, new) = sla.unwrap_or(("", "", ""));
        let key = if conversation.is_empty() { String::new() } else { self.keys.sla(conversation) };
        self.batchers().await.outbox_done.call((ids.to_vec(), key, read.to_owned(), new.to_owned())).await
    }

    /// Several removals in one call, in order (`lua/outbox_done_many.lua`).
    pub(super) async fn outbox_done_batch(&self, items: std::sync::Arc<Vec<super::DoneItem>>) -> Result<Vec<bool>, StoreError> {
        let mut inv = self.outbox_scripts.outbox_done_many.key(self.keys.outbox());
        inv.key(self.keys.outbox_data());
        for (_, sla_key, _, _) in items.iter() {
            inv.key(sla_key);
        }
        inv.arg(super::SLA_TTL_SECS);
        for (ids, _, read, new) in items.iter() {
            inv.arg(read).arg(new).arg(ids.len());
            for id in ids {
                inv.arg(id);
            }
        }
        let mut c = self.conn().await?;
        let r: Result<Vec<i64>, _> = inv.invoke_async(&mut c).await;
        Ok(self.check(r).await?.into_iter().map(|answer| answer == 1).collect())
    }

    /// Claims up to `batch` entries appended more than `after_ms` ago (or
    /// whose lease ended) for `lease_ms`: the relay's work. Another
    /// replica's relay skips them while the lease lasts.
    pub async fn outbox_claim(&self, now_ms: i64, after_ms: u64, lease_ms: u64, batch: usize) -> Result<Vec<OutboxEntry>, StoreError> {
        let mut c = self.conn().await?;
        let r: Result<Vec<String>, _> = self
            .outbox_scripts
            .outbox_claim
            .key(self.keys.outbox())
            .key(self.keys.outbox_data())
            .arg(now_ms)
            .arg(after_ms)
            .arg(lease_ms)
            .arg(batch)
            .invoke_async(&mut c)
            .await;
        Ok(split_reply(self.check(r).await?, 0)?.1)
    }

    /// How many entries wait in the outbox, and when the oldest was
    /// appended (ms), for metrics and readiness.
    pub async fn outbox_depth(&self) -> Result<(u64, Option<i64>), StoreError> {
        let key = self.keys.outbox();
        let mut c = self.conn().await?;
        let r: Result<(u64, Vec<(String, f64)>), _> =
            redis::pipe().zcard(&key).zrange_withscores(&key, 0, 0).query_async(&mut c).await;
        let (n, head) = self.check(r).await?;
        Ok((n, head.first().map(|(_, s)| *s as i64)))
    }

    /// Appends one event (see `lua/emit.lua`); `None` when its conversation
    /// does not exist. A cause seen before appends nothing and answers the
    /// earlier event's id with no entries.
    pub async fn emit(&self, req: &EmitRequest<'_>, now_ms: i64) -> Result<Option<Emitted>, StoreError> {
        let fields = serde_json::to_string(req).map_err(|e| StoreError::Corrupt { key: "emit".into(), reason: e.to_string() })?;
        let mut c = self.conn().await?;
        let r: Result<Vec<String>, _> = self
            .outbox_scripts
            .emit
            .arg(self.keys.base())
            .arg(now_ms)
            .arg(req.event_type)
            .arg(req.conversation)
            .arg(req.scope)
            .arg(req.cause)
            .arg(fields)
            .arg(req.message.as_deref().unwrap_or(""))
            .arg(req.sla.as_deref().unwrap_or(""))
            .invoke_async(&mut c)
            .await;
        let (head, entries) = split_reply(self.check(r).await?, 1)?;
        let result = head.into_iter().next().unwrap_or_default();
        Ok((!result.is_empty()).then_some(Emitted { result, entries }))
    }

    /// Records an agent's reply with its event and outbound messages (see
    /// `lua/reply.lua`).
    pub async fn record_reply(&self, r: &ReplyRecord<'_>) -> Result<(ReplyOutcome, Vec<OutboxEntry>), StoreError> {
        let mut inv = self.outbox_scripts.reply.arg(self.keys.base());
        inv.arg(r.now_ms)
            .arg(r.conversation)
            .arg(r.id)
            .arg(r.agent)
            .arg(crate::sealing::seal_entry(&r.stored))
            .arg(&r.message)
            .arg(r.ttl_secs)
            .arg(r.channel.as_str());
        for (id, json) in &r.outbound {
            inv.arg(id).arg(json);
        }
        let mut c = self.conn().await?;
        let answer: Result<Vec<String>, _> = inv.invoke_async(&mut c).await;
        let (head, entries) = split_reply(self.check(answer).await?, 1)?;
        let outcome = match head.first().map(String::as_str) {
            Some("queued") => ReplyOutcome::Queued,
            Some("duplicate") => ReplyOutcome::Duplicate,
            Some("resolved") => ReplyOutcome::Resolved,
            _ => ReplyOutcome::NotFound,
        };
        Ok((outcome, entries))
    }
}

/// The scripts of the outbox (loaded once per store).
#[derive(Debug)]
pub(super) struct OutboxScripts {
    pub(super) outbox_done_many: Script,
    pub(super) outbox_claim: Script,
    pub(super) emit: Script,
    pub(super) reply: Script,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_parse_and_order() {
        let e = OutboxEntry::parse("C1:12".into(), "event:switchboard.conversation.assigned\n{\"a\":1}").unwrap();
        assert_eq!(e.target, OutboxTarget::Event("switchboard.conversation.assigned".into()));
        assert_eq!(&e.payload[..], b"{\"a\":1}");
        assert_eq!(e.order_key(), ("C1", 12));
        let o = OutboxEntry::parse("01OUT".into(), "outbound:sms\n{}").unwrap();
        assert_eq!(o.target, OutboxTarget::Outbound(switchboard_core::Channel::Sms));
        assert!(OutboxEntry::parse("x".into(), "nowhere\n{}").is_err());
        assert!(OutboxEntry::parse("x".into(), "outbound:fax\n{}").is_err());
        assert!(OutboxEntry::parse("x".into(), "no newline").is_err());
    }

    #[test]
    fn a_reply_splits_into_result_and_entries() {
        let items = vec!["r".to_owned(), "C:1".to_owned(), "event:t\n{}".to_owned(), "C:2".to_owned(), "event:t\n[]".to_owned()];
        let (head, entries) = split_reply(items, 1).unwrap();
        assert_eq!(head, vec!["r".to_owned()]);
        assert_eq!(entries.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(), ["C:1", "C:2"]);
        assert!(split_reply(vec![], 1).is_err());
    }
}
