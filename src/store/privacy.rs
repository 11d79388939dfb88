//! Customer data protection in Redis: the erase of a customer in one
//! script (`lua/erase.lua`), the index of each conversation's messages on
//! the JetStream streams (`lua/stream_index.lua`), and the keyed hash that
//! stands for an erased number in the SMS opt-outs.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use hmac::Mac;
use redis::{AsyncCommands, Script};
use serde::Deserialize;

use super::outbox::split_reply;
use super::{OutboxEntry, Store, StoreError};

/// The scripts, and the hash key once read.
pub(super) struct PrivacyScripts {
    erase: Script,
    retention: Script,
    stream_index: Script,
    key: tokio::sync::OnceCell<Vec<u8>>,
}

impl PrivacyScripts {
    pub(super) fn new() -> PrivacyScripts {
        PrivacyScripts {
            erase: super::with_lib(&format!("{ERASE_LIB}\n{}", include_str!("lua/erase.lua"))),
            retention: super::with_lib(&format!("{ERASE_LIB}\n{}", include_str!("lua/retention.lua"))),
            stream_index: Script::new(include_str!("lua/stream_index.lua")),
            key: tokio::sync::OnceCell::new(),
        }
    }
}

/// The removal of one conversation, shared by the erase and the retention sweep.
const ERASE_LIB: &str = include_str!("lua/erase_lib.lua");

/// How long an erased conversation's tombstone lives: longer than any
/// publish of one of its messages can lag behind the erase (the outbox
/// relay, a redelivered inbound message).
const TOMBSTONE_SECS: u64 = 7 * 24 * 3600;

/// What an erase removed.
#[derive(Debug, Default)]
pub struct Erased {
    /// Kind → how many were removed.
    pub counts: BTreeMap<String, u64>,
    /// The stream messages to delete: (`inbound`/`outbound`/`events`, sequence).
    pub streams: Vec<(String, u64)>,
    /// The events the erase appended (`resolved`, `customer.erased`).
    pub events: Vec<OutboxEntry>,
}

#[derive(Deserialize)]
struct ErasedJson {
    counts: BTreeMap<String, u64>,
    #[serde(default)]
    streams: String,
    #[serde(default)]
    done: bool,
}

/// `inbound:12 events:40` → [(inbound, 12), (events, 40)].
fn stream_refs<'a>(words: impl IntoIterator<Item = &'a str>) -> Vec<(String, u64)> {
    words
        .into_iter()
        .filter_map(|w| {
            w.split_once(':')
                .and_then(|(s, n)| Some((s.to_owned(), n.parse().ok()?)))
        })
        .collect()
}

/// One stream message of a conversation, for the index: conversation,
/// stream (`inbound`, `outbound`, `events`), stream sequence, event seq (0).
pub type StreamRef = (String, &'static str, u64, u64);

/// A customer's profile fields, identities (`kind:value`, sorted) and
/// conversation ids (sorted).
pub type CustomerRecord = (HashMap<String, String>, Vec<String>, Vec<String>);

impl Store {
    /// The customer id that `id` names: an identity `kind:value`
    /// (`wechat-<account>:<openid>` for a WeChat OpenID), the switchboard
    /// customer id, or the shop's customer id.
    pub async fn resolve_customer(&self, id: &str) -> Result<Option<String>, StoreError> {
        let mut c = self.conn().await?;
        if let Some((kind, value)) = id.split_once(':') {
            let r: Result<Option<String>, _> = c.get(self.keys.identity(kind, value)).await;
            return self.check(r).await;
        }
        let r: Result<bool, _> = c.exists(self.keys.customer(id)).await;
        if self.check(r).await? {
            return Ok(Some(id.to_owned()));
        }
        let r: Result<Option<String>, _> = c.get(self.keys.identity("shop", id)).await;
        self.check(r).await
    }

    /// The customer erased (within 30 days) who was known by `id`.
    pub async fn erased(&self, id: &str) -> Result<Option<String>, StoreError> {
        let marker = self.keyed_hash(id).await?;
        let mut c = self.conn().await?;
        let r: Result<Option<String>, _> =
            c.get(format!("{}:erased:{marker}", self.keys.base())).await;
        self.check(r).await
    }

    /// A customer's profile, identities and conversation ids (sorted).
    pub async fn customer_record(&self, customer: &str) -> Result<CustomerRecord, StoreError> {
        let key = self.keys.customer(customer);
        let mut c = self.conn().await?;
        let r: Result<CustomerRecord, _> = redis::pipe()
            .hgetall(&key)
            .smembers(format!("{key}:identities"))
            .smembers(self.keys.customer_conversations(customer))
            .query_async(&mut c)
            .await;
        let (profile, identities, convs) = self.check(r).await?;
        let mut convs: BTreeSet<String> = convs.into_iter().collect();
        convs.extend(
            ["open", "last_resolved"]
                .iter()
                .filter_map(|f| profile.get(*f).cloned()),
        );
        let mut identities = identities;
        identities.sort();
        Ok((profile, identities, convs.into_iter().collect()))
    }

    /// The keys under the prefix that start with one of `heads`, by one
    /// `SCAN` (keys whose names the erase cannot derive: web chat message
    /// slots, Slack parents) and the Slack thread keys those parents name.
    pub async fn keys_starting_with(&self, heads: &[String]) -> Result<Vec<String>, StoreError> {
        if heads.is_empty() {
            return Ok(Vec::new());
        }
        let mut c = self.conn().await?;
        let pattern = format!(
            "{}:*",
            self.keys.base().replace('{', "\\{").replace('}', "\\}")
        );
        let mut found = Vec::new();
        let mut cursor = 0u64;
        loop {
            let r: Result<(u64, Vec<String>), _> = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut c)
                .await;
            let (next, keys) = self.check(r).await?;
            found.extend(
                keys.into_iter()
                    .filter(|k| heads.iter().any(|h| k.starts_with(h.as_str()))),
            );
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
        let slack = self.keys.slack_parent("", "");
        let slack = slack.trim_end_matches(':');
        let mut threads = Vec::new();
        for parent in found.iter().filter(|k| k.starts_with(slack)) {
            let r: Result<(Option<String>, Option<String>), _> =
                c.hget(parent, &["channel", "ts"]).await;
            if let (Some(channel), Some(ts)) = self.check(r).await? {
                threads.push(self.keys.slack_thread(&channel, &ts));
            }
        }
        found.extend(threads);
        found.sort();
        found.dedup();
        Ok(found)
    }

    /// The SLA timer ids of a conversation (`<conversation>|…`).
    pub async fn sla_timer_ids(&self, conversation: &str) -> Result<Vec<String>, StoreError> {
        let mut c = self.conn().await?;
        let key = format!("{}:data", self.keys.sla_timers());
        let mut ids = Vec::new();
        let mut cursor = 0u64;
        loop {
            let r: Result<(u64, Vec<String>), _> = redis::cmd("HSCAN")
                .arg(&key)
                .arg(cursor)
                .arg("MATCH")
                .arg(format!("{conversation}|*"))
                .arg("COUNT")
                .arg(500)
                .query_async(&mut c)
                .await;
            let (next, pairs) = self.check(r).await?;
            ids.extend(pairs.into_iter().step_by(2));
            cursor = next;
            if cursor == 0 {
                return Ok(ids);
            }
        }
    }

    /// The keyed hash (`h:<hex>`, HMAC-SHA-256 under `{P}:privacy:key`,
    /// made once by the first replica that needs it) that stands for
    /// `value` once the customer is erased.
    pub async fn keyed_hash(&self, value: &str) -> Result<String, StoreError> {
        let key = self
            .privacy_scripts
            .key
            .get_or_try_init(|| async {
                let mut c = self.conn().await?;
                let fresh: String = rand::random::<[u8; 32]>()
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect();
                let k = self.keys.privacy_key();
                let r: Result<(String,), _> = redis::pipe()
                    .cmd("SET")
                    .arg(&k)
                    .arg(&fresh)
                    .arg("NX")
                    .ignore()
                    .get(&k)
                    .query_async(&mut c)
                    .await;
                let stored = self.check(r).await?;
                Ok::<_, StoreError>(stored.0.into_bytes())
            })
            .await?;
        let mut mac =
            hmac::Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes any key length");
        mac.update(value.as_bytes());
        let hex: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Ok(format!("h:{hex}"))
    }

    /// Erases a customer (see `lua/erase.lua`): `extra` keys found by
    /// [`keys_starting_with`](Self::keys_starting_with), `markers` (keyed
    /// hashes of the ids it is known by, see [`erased`](Self::erased)), `opt_outs`
    /// (account, number, keyed hash) to keep as hashes.
    pub async fn erase_customer(
        &self,
        customer: &str,
        now_ms: i64,
        extra: &[String],
        markers: &[String],
        opt_outs: &[(String, String, String)],
    ) -> Result<Erased, StoreError> {
        let key = self.keys.customer(customer);
        let mut inv = self.privacy_scripts.erase.key(&key);
        inv.arg(self.keys.base())
            .arg(customer)
            .arg(now_ms)
            .arg(TOMBSTONE_SECS)
            .arg(extra.len());
        for k in extra {
            inv.arg(k);
        }
        inv.arg(markers.len());
        for k in markers {
            inv.arg(k);
        }
        for (account, number, hash) in opt_outs {
            inv.arg(account).arg(number).arg(hash);
        }
        let mut c = self.conn().await?;
        let r: Result<Vec<String>, _> = inv.invoke_async(&mut c).await;
        let (head, events) = split_reply(self.check(r).await?, 1)?;
        let json = head.into_iter().next().unwrap_or_default();
        let parsed: ErasedJson = serde_json::from_str(&json).map_err(|e| StoreError::Corrupt {
            key,
            reason: e.to_string(),
        })?;
        Ok(Erased {
            counts: parsed.counts,
            streams: stream_refs(parsed.streams.split_whitespace()),
            events,
        })
    }

    /// One step of the retention sweep (see `lua/retention.lua`): the
    /// conversations resolved before `resolved_before_ms` among the next
    /// `batch` of the index, the dead letters older than
    /// `dead_letters_before_ms` (0: keep either). What it removed, and
    /// whether the sweep is through.
    pub async fn retention_step(
        &self,
        resolved_before_ms: i64,
        now_ms: i64,
        batch: usize,
        dead_letters_before_ms: i64,
    ) -> Result<(Erased, bool), StoreError> {
        let mut inv = self.privacy_scripts.retention.arg(self.keys.base());
        inv.arg(resolved_before_ms).arg(now_ms).arg(TOMBSTONE_SECS).arg(batch).arg(dead_letters_before_ms);
        let mut c = self.conn().await?;
        let r: Result<String, _> = inv.invoke_async(&mut c).await;
        let json = self.check(r).await?;
        let parsed: ErasedJson = serde_json::from_str(&json)
            .map_err(|e| StoreError::Corrupt { key: self.keys.conversation_index(), reason: e.to_string() })?;
        let erased = Erased { counts: parsed.counts, streams: stream_refs(parsed.streams.split_whitespace()), events: Vec::new() };
        Ok((erased, parsed.done))
    }

    /// Takes the lock `name` for `ttl_ms` if no one holds it (a task shared
    /// by the replicas); whether this call took it.
    pub async fn try_lock(&self, name: &str, ttl_ms: u64) -> Result<bool, StoreError> {
        let mut c = self.conn().await?;
        let r: Result<Option<String>, _> = redis::cmd("SET")
            .arg(format!("{}:retention:{name}", self.keys.base()))
            .arg(ulid::Ulid::new().to_string())
            .arg("NX")
            .arg("PX")
            .arg(ttl_ms)
            .query_async(&mut c)
            .await;
        Ok(self.check(r).await?.is_some())
    }

    /// Records stream messages of conversations (see
    /// `lua/stream_index.lua`); those of conversations erased meanwhile
    /// come back, to be deleted.
    pub async fn index_streams(
        &self,
        items: &[StreamRef],
    ) -> Result<Vec<(String, u64)>, StoreError> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let mut inv = self.privacy_scripts.stream_index.arg(self.keys.base());
        for (conv, stream, seq, event_seq) in items {
            inv.arg(conv).arg(*stream).arg(*seq).arg(*event_seq);
        }
        let mut c = self.conn().await?;
        let r: Result<Vec<String>, _> = inv.invoke_async(&mut c).await;
        let purge = self.check(r).await?;
        Ok(stream_refs(purge.iter().map(String::as_str)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_references_parse_and_skip_garbage() {
        let refs = stream_refs("inbound:12 events:40 junk outbound:x".split_whitespace());
        assert_eq!(
            refs,
            [("inbound".to_owned(), 12), ("events".to_owned(), 40)]
        );
    }
}
