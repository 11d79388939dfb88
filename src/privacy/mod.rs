//! Customer data protection: erasing a customer (right to be forgotten)
//! and exporting everything held about one (access request).
//!
//! An erase is one atomic Redis step (`lua/erase.lua`) over the customer's
//! profile, identities, conversations and everything keyed by them, so a
//! message of the customer routed at the same time is either routed before
//! it (and erased with it) or after it (into a new profile: the identities
//! are gone). Then the stream messages of the erased conversations are
//! deleted by sequence, from the index the router and the outbox keep
//! (`{P}:conv:<id>:stream`); one published after the erase finds the
//! conversation's tombstone and is deleted at once (`crate::outbox::index`).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

pub mod audit;
pub mod rekey;
pub mod retention;

use crate::app::App;
use crate::model::{ConversationDetail, Message};
use crate::store::StoreError;

/// What went wrong in an erase or an export.
#[derive(Debug, thiserror::Error)]
pub enum PrivacyError {
    /// Redis.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// NATS (deleting stream messages).
    #[error(transparent)]
    Bus(#[from] crate::bus::BusError),
    /// The SLA timers or clocks.
    #[error("{0}")]
    Sla(String),
}

/// The kinds an erase receipt counts, always all of them (a second erase
/// answers the same shape with zeros).
pub const ERASED_KINDS: &[&str] = &[
    "profile",
    "identities",
    "conversations",
    "withdrawn",
    "messages",
    "notes",
    "sla_clocks",
    "sla_timers",
    "email_threads",
    "webchat_history",
    "outbound_states",
    "dead_letters",
    "stream_messages",
    "other_keys",
];

/// The answer of `DELETE /api/v1/customers/{id}`.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct ErasureReceipt {
    /// The id as requested.
    pub requested: String,
    /// The switchboard customer id erased (now or by an earlier erase).
    pub customer_id: String,
    /// What was removed, by kind: `profile`, `identities`,
    /// `conversations` (of which `withdrawn` were open and taken from their
    /// agent), `messages`, `notes`, `sla_clocks`, `sla_timers`,
    /// `email_threads`, `webchat_history` (web chat log entries),
    /// `outbound_states`, `dead_letters`, `stream_messages` (deleted from
    /// the JetStream streams), `other_keys` (web chat slots, Slack
    /// threads).
    pub removed: BTreeMap<String, u64>,
    /// When.
    pub erased_at: DateTime<Utc>,
}

/// The answer of `GET /api/v1/customers/{id}/export`.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct CustomerExport {
    /// The switchboard customer id.
    pub customer_id: String,
    /// Every field of the profile as stored (shop id, name, tier,
    /// language, tags, open conversation, last agent, times in ms).
    pub profile: BTreeMap<String, String>,
    /// The identities, `kind:value`.
    pub identities: Vec<String>,
    /// Every conversation with its messages, notes and SLA clocks, as
    /// `GET /api/v1/conversations/{id}` shows them.
    pub conversations: Vec<ConversationDetail>,
    /// When.
    pub exported_at: DateTime<Utc>,
}

/// Normalizes an identity written `kind:value` as the router stores it
/// (an E.164 number, a lower-case address); other ids pass unchanged.
pub fn normalize_id(id: &str) -> String {
    match id.split_once(':') {
        Some(("phone", v)) => format!(
            "phone:{}",
            switchboard_sms::normalize_e164(v).unwrap_or_else(|| v.to_owned())
        ),
        Some(("email", v)) => format!("email:{}", v.trim().to_lowercase()),
        Some(("wechat", v)) => match v.split_once(':') {
            Some((account, openid)) => format!("wechat-{account}:{openid}"),
            None => id.to_owned(),
        },
        _ => id.to_owned(),
    }
}

/// Erases the customer `id` names (see the module); idempotent: asked
/// again (within 30 days) by any id it was known by, it answers the same
/// receipt with zero counts. `None` when `id` names no customer.
pub async fn erase(app: &App, id: &str) -> Result<Option<ErasureReceipt>, PrivacyError> {
    let now = Utc::now();
    let mut removed: BTreeMap<String, u64> =
        ERASED_KINDS.iter().map(|k| ((*k).to_owned(), 0)).collect();
    let id_norm = normalize_id(id);
    let Some(customer) = app.store.resolve_customer(&id_norm).await? else {
        let earlier = app.store.erased(&id_norm).await?;
        return Ok(earlier.map(|c| ErasureReceipt {
            requested: id.to_owned(),
            customer_id: c,
            removed,
            erased_at: now,
        }));
    };
    let (profile, identities, conversations) = app.store.customer_record(&customer).await?;
    let mut markers = vec![app.store.keyed_hash(&customer).await?];
    for known in identities
        .iter()
        .map(String::as_str)
        .chain(profile.get("shop_id").map(String::as_str))
    {
        markers.push(app.store.keyed_hash(known).await?);
    }
    let keys = app.store.keys();
    // Keys whose names the script cannot derive.
    let mut heads: Vec<String> = conversations
        .iter()
        .map(|c| keys.slack_parent(c, ""))
        .collect();
    heads.extend(
        identities
            .iter()
            .filter_map(|i| i.strip_prefix("visitor:"))
            .map(|v| keys.chat_slot(v, "")),
    );
    let extra = app.store.keys_starting_with(&heads).await?;
    let mut opt_outs = Vec::new();
    for number in identities.iter().filter_map(|i| i.strip_prefix("phone:")) {
        let hash = app.store.keyed_hash(number).await?;
        for account in app.settings.channels.sms.keys() {
            opt_outs.push((account.clone(), number.to_owned(), hash.clone()));
        }
    }
    let erased = app
        .store
        .erase_customer(
            &customer,
            now.timestamp_millis(),
            &extra,
            &markers,
            &opt_outs,
        )
        .await?;
    crate::outbox::flush_events(app, &erased.events).await;
    for (kind, n) in erased.counts {
        *removed.entry(kind).or_default() += n;
    }
    let mut timers = 0;
    for conv in &conversations {
        let ids = app.store.sla_timer_ids(conv).await?;
        timers += app
            .sla_timers
            .cancel_many(&ids)
            .await
            .map_err(|e| PrivacyError::Sla(e.to_string()))?;
    }
    removed.insert("sla_timers".into(), timers);
    let gone = app.bus.delete_messages(&erased.streams).await?;
    removed.insert("stream_messages".into(), gone);
    tracing::info!(%customer, conversations = removed["conversations"], stream_messages = gone, "customer erased");
    Ok(Some(ErasureReceipt {
        requested: id.to_owned(),
        customer_id: customer,
        removed,
        erased_at: now,
    }))
}

/// Everything held about the customer `id` names; `None` if none.
pub async fn export(app: &App, id: &str) -> Result<Option<CustomerExport>, PrivacyError> {
    let Some(customer) = app.store.resolve_customer(&normalize_id(id)).await? else {
        return Ok(None);
    };
    let (profile, identities, ids) = app.store.customer_record(&customer).await?;
    if profile.is_empty() {
        return Ok(None);
    }
    let mut conversations = Vec::new();
    for conv in &ids {
        let Some(conversation) = app.store.conversation(conv).await? else {
            continue;
        };
        let messages = app.store.messages(conv).await?;
        let messages = messages
            .into_iter()
            .filter_map(|m| serde_json::from_value::<Message>(m).ok())
            .collect();
        let sla = crate::sla::clocks_view(app, conv)
            .await
            .map_err(|e| PrivacyError::Sla(e.to_string()))?;
        conversations.push(ConversationDetail {
            conversation,
            messages,
            sla,
        });
    }
    Ok(Some(CustomerExport {
        customer_id: customer,
        profile: profile.into_iter().collect(),
        identities,
        conversations,
        exported_at: Utc::now(),
    }))
}
