//! The conversation resource and its one mapping from the Redis hash the
//! routing scripts keep (`{P}:conv:<id>`, see `store::schema`).

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use switchboard_core::Channel;
use utoipa::ToSchema;

use super::{field, Decision, ModelError};

/// Where a conversation is in its life. These are the only spellings the
/// Lua scripts write to the hash's `state` field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ConversationState {
    /// Answered by its queue's bot; takes no agent capacity until handed off.
    Bot,
    /// Waiting in its queue for an agent.
    Queued,
    /// Offered to an agent, who has not accepted yet.
    Offered,
    /// With an agent.
    Assigned,
    /// With an agent, who replied; waiting on the customer.
    Waiting,
    /// Closed.
    Resolved,
}

impl ConversationState {
    /// Every state, in life order.
    pub const ALL: [ConversationState; 6] = [
        ConversationState::Bot,
        ConversationState::Queued,
        ConversationState::Offered,
        ConversationState::Assigned,
        ConversationState::Waiting,
        ConversationState::Resolved,
    ];

    /// The stored (and serialized) name.
    pub fn as_str(self) -> &'static str {
        match self {
            ConversationState::Bot => "bot",
            ConversationState::Queued => "queued",
            ConversationState::Offered => "offered",
            ConversationState::Assigned => "assigned",
            ConversationState::Waiting => "waiting",
            ConversationState::Resolved => "resolved",
        }
    }

    /// The state stored as `s`.
    pub fn parse(s: &str) -> Option<ConversationState> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

impl std::fmt::Display for ConversationState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A conversation: one customer's thread on one channel account, its place
/// in routing, and its history's timestamps. Internal routing bookkeeping
/// (bullseye steps, relaxation, the channel the load is counted on, offer
/// timeouts, the waiting line, event sequence numbers, email threading
/// headers) is not part of it.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct Conversation {
    /// The conversation id, a ULID.
    #[schema(example = "01J9Z8Q3V4Y5W6X7A8B9C0D1E2")]
    pub id: String,
    /// Where it is in its life.
    pub state: ConversationState,
    /// The channel it was last active on (replies go out there).
    pub channel: Channel,
    /// The configured channel account (number, mailbox, WeChat app, `default` web chat).
    pub account: String,
    /// The customer's address on the channel: an E.164 number, an email
    /// address, a WeChat OpenID or a web chat visitor id.
    pub address: Option<String>,
    /// The router's customer id.
    pub customer: Option<String>,
    /// The queue it belongs to.
    pub queue: String,
    /// The agent it is assigned or offered to (or was, once resolved).
    pub agent: Option<String>,
    /// Its priority: higher is served first (−500 to 500).
    pub priority: i64,
    /// The skills an agent needs, with the minimum level of each.
    pub required_skills: BTreeMap<String, u32>,
    /// The language an agent needs, if any.
    pub language: Option<String>,
    /// The tags the routing rules gave it.
    pub tags: Vec<String>,
    /// The routing rule that matched its first message, if any.
    pub rule: Option<String>,
    /// The SLA policy it runs under, if any.
    pub sla_policy: Option<String>,
    /// The queue it overflowed from, if it did.
    pub overflowed_from: Option<String>,
    /// The email subject, for email conversations.
    pub subject: Option<String>,
    /// The router's last placement decision.
    pub decision: Option<Decision>,
    /// Who resolved it: an agent, `admin`, `bot`, `stale` (closed by a new message after the join window) or `inactive` (auto-closed).
    pub resolved_by: Option<String>,
    /// How many times it was reopened.
    pub reopen_count: u32,
    /// When it was opened.
    pub created_at: DateTime<Utc>,
    /// When it last changed by a message.
    pub updated_at: Option<DateTime<Utc>>,
    /// When it (last) entered its queue.
    pub enqueued_at: Option<DateTime<Utc>>,
    /// When it was offered to its agent.
    pub offered_at: Option<DateTime<Utc>>,
    /// When the offer lapses, while offered.
    pub offer_expires_at: Option<DateTime<Utc>>,
    /// When it was assigned to its agent.
    pub assigned_at: Option<DateTime<Utc>>,
    /// When an agent first replied.
    pub first_reply_at: Option<DateTime<Utc>>,
    /// When the customer last wrote.
    pub last_customer_message_at: Option<DateTime<Utc>>,
    /// When it was last transferred.
    pub transferred_at: Option<DateTime<Utc>>,
    /// When it was last reopened.
    pub reopened_at: Option<DateTime<Utc>>,
    /// When it was resolved.
    pub resolved_at: Option<DateTime<Utc>>,
    /// When its agent's wrap-up ends, after a resolve.
    pub wrapup_until: Option<DateTime<Utc>>,
    /// Since when it is pending: its agent's reply went unanswered for
    /// `routing.pending_after_secs`, so it no longer counts toward the
    /// agent's capacity (until the customer writes again).
    pub pending_since: Option<DateTime<Utc>>,
    /// The customer's satisfaction score, once they answered the survey.
    pub csat: Option<Csat>,
    /// The bot that answered it first, if its queue has one.
    pub bot: Option<String>,
    /// When its bot handed it to a person.
    pub handed_off_at: Option<DateTime<Utc>>,
    /// The email thread our replies continue (internal: not in the API).
    #[serde(skip)]
    pub email_thread: EmailThread,
}

/// A satisfaction score the customer gave (see `crate::csat`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Csat {
    /// The score, 1 to the configured scale (2, 3 or 5).
    pub score: u8,
    /// The customer's comment, if any.
    pub comment: Option<String>,
    /// When they answered.
    pub at: DateTime<Utc>,
}

impl Csat {
    /// The score kept in the hash (`csat_score`, `csat_comment`, `csat_at`).
    fn from_hash(hash: &HashMap<String, String>) -> Result<Option<Csat>, ModelError> {
        let Some(score) = super::number(hash, "csat_score")? else { return Ok(None) };
        Ok(Some(Csat {
            score: u8::try_from(score).map_err(|_| ModelError::invalid("csat_score", &score.to_string()))?,
            comment: field(hash, "csat_comment").map(|c| crate::sealing::open_or_blank(c, "csat_comment")),
            at: super::time(hash, "csat_at")?.ok_or(ModelError::Missing { field: "csat_at" })?,
        }))
    }
}

/// The headers that thread an email conversation: the Message-ID of the
/// customer's last email and the references before it. Routing keeps them
/// so that a reply lands in the customer's thread.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EmailThread {
    /// The Message-ID of the customer's last email.
    pub last_message_id: Option<String>,
    /// The thread's Message-IDs, oldest first.
    pub references: Vec<String>,
}

impl Conversation {
    /// The conversation stored in `hash` (the fields of `{P}:conv:<id>`).
    /// `id`, `state`, `channel` and `created_at` are required; every other
    /// field may be missing. Bad data is an error, never a panic.
    pub fn from_hash(hash: &HashMap<String, String>) -> Result<Conversation, ModelError> {
        let f = |name: &'static str| field(hash, name);
        let state = f("state").ok_or(ModelError::Missing { field: "state" })?;
        let channel = f("channel").ok_or(ModelError::Missing { field: "channel" })?;
        Ok(Conversation {
            id: f("id").ok_or(ModelError::Missing { field: "id" })?.to_owned(),
            state: ConversationState::parse(state).ok_or_else(|| ModelError::invalid("state", state))?,
            channel: channel.parse().map_err(|_| ModelError::invalid("channel", channel))?,
            account: f("account").unwrap_or_default().to_owned(),
            address: f("address").map(str::to_owned),
            customer: f("customer").map(str::to_owned),
            queue: f("queue").unwrap_or_default().to_owned(),
            agent: f("agent").map(str::to_owned),
            priority: super::number(hash, "priority")?.unwrap_or(0),
            required_skills: skills(f("req_skills"))?,
            language: f("language").map(str::to_owned),
            tags: tags(f("tags"))?,
            rule: f("rule").map(str::to_owned),
            sla_policy: f("sla").map(str::to_owned),
            overflowed_from: f("overflowed_from").map(str::to_owned),
            subject: f("email_subject").map(str::to_owned),
            decision: f("decision").map(Decision::from_json).transpose()?,
            resolved_by: f("resolved_by").map(str::to_owned),
            reopen_count: super::number(hash, "reopen_count")?.map_or(0, |n| u32::try_from(n).unwrap_or(0)),
            created_at: super::time(hash, "created_at")?.ok_or(ModelError::Missing { field: "created_at" })?,
            updated_at: super::time(hash, "updated_at")?,
            enqueued_at: super::time(hash, "enqueued_at")?,
            offered_at: super::time(hash, "offered_at")?,
            offer_expires_at: super::time(hash, "offer_expires_ms")?,
            assigned_at: super::time(hash, "assigned_at")?,
            first_reply_at: super::time(hash, "first_reply_at")?,
            last_customer_message_at: super::time(hash, "last_customer_at")?,
            transferred_at: super::time(hash, "transferred_at")?,
            reopened_at: super::time(hash, "reopened_at")?,
            resolved_at: super::time(hash, "resolved_at")?,
            wrapup_until: super::time(hash, "wrapup_until")?,
            pending_since: super::time(hash, "pending_since")?,
            csat: Csat::from_hash(hash)?,
            bot: f("bot").map(str::to_owned),
            handed_off_at: super::time(hash, "handed_off_at")?,
            email_thread: EmailThread {
                last_message_id: f("email_last_message_id").map(str::to_owned),
                references: f("email_references").unwrap_or_default().split_whitespace().map(str::to_owned).collect(),
            },
        })
    }
}

/// `req_skills`: a JSON object of skill → level (`{}` or `[]` when none).
fn skills(raw: Option<&str>) -> Result<BTreeMap<String, u32>, ModelError> {
    let Some(raw) = raw else { return Ok(BTreeMap::new()) };
    match serde_json::from_str::<serde_json::Value>(raw) {
        Ok(serde_json::Value::Object(map)) => map
            .into_iter()
            .map(|(k, v)| match v.as_f64() {
                Some(n) if n >= 0.0 => Ok((k, n as u32)),
                _ => Err(ModelError::invalid("req_skills", raw)),
            })
            .collect(),
        Ok(serde_json::Value::Array(items)) if items.is_empty() => Ok(BTreeMap::new()),
        _ => Err(ModelError::invalid("req_skills", raw)),
    }
}

/// `tags`: a JSON list of strings (`{}` when empty, as `cjson` writes it).
fn tags(raw: Option<&str>) -> Result<Vec<String>, ModelError> {
    let Some(raw) = raw else { return Ok(Vec::new()) };
    match serde_json::from_str::<serde_json::Value>(raw) {
        Ok(serde_json::Value::Array(items)) => {
            items.into_iter().map(|t| t.as_str().map(str::to_owned).ok_or_else(|| ModelError::invalid("tags", raw))).collect()
        }
        Ok(serde_json::Value::Object(map)) if map.is_empty() => Ok(Vec::new()),
        _ => Err(ModelError::invalid("tags", raw)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::AgentStatus;

    fn hash(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    fn minimal() -> HashMap<String, String> {
        hash(&[("id", "01J0"), ("state", "queued"), ("channel", "sms"), ("created_at", "1700000000000")])
    }

    #[test]
    fn a_full_hash_maps_to_typed_fields() {
        let mut h = minimal();
        h.extend(hash(&[
            ("state", "assigned"),
            ("account", "shop"),
            ("queue", "returns"),
            ("agent", "alice"),
            ("priority", "5"),
            ("req_skills", r#"{"returns":4}"#),
            ("tags", r#"["vip"]"#),
            ("assigned_at", "1700000001000"),
            ("relax", "1"),
            ("bullseye_step", "2"),
            ("load_channel", "sms"),
            ("offer_timeout_ms", "30000"),
            ("decision", r#"{"chosen":"alice","at":1700000001000,"candidates":[{"agent":"alice","status":"available","load":0,"capacity":2,"reason":"free"}]}"#),
        ]));
        let c = Conversation::from_hash(&h).expect("maps");
        assert_eq!(c.state, ConversationState::Assigned);
        assert_eq!(c.channel, Channel::Sms);
        assert_eq!(c.priority, 5);
        assert_eq!(c.required_skills.get("returns"), Some(&4));
        assert_eq!(c.tags, vec!["vip".to_owned()]);
        assert_eq!(c.assigned_at.map(|t| t.timestamp_millis()), Some(1_700_000_001_000));
        let d = c.decision.expect("decision");
        assert_eq!(d.chosen.as_deref(), Some("alice"));
        assert_eq!(d.candidates[0].status, Some(AgentStatus::Available));
        let json = serde_json::to_value(Conversation::from_hash(&h).expect("maps")).expect("json");
        for internal in ["relax", "bullseye_step", "load_channel", "offer_timeout_ms", "req_skills"] {
            assert!(json.get(internal).is_none(), "{internal} is exposed");
        }
        assert_eq!(json["created_at"], "2023-11-14T22:13:20Z");
        assert_eq!(json["priority"], 5);
    }

    #[test]
    fn missing_optional_fields_are_defaults() {
        let c = Conversation::from_hash(&minimal()).expect("maps");
        assert_eq!((c.priority, c.agent, c.tags.len(), c.decision), (0, None, 0, None));
        // cjson writes empty lists as objects.
        let mut h = minimal();
        h.extend(hash(&[("tags", "{}"), ("req_skills", "[]"), ("agent", "")]));
        let c = Conversation::from_hash(&h).expect("maps");
        assert!(c.tags.is_empty() && c.required_skills.is_empty() && c.agent.is_none());
    }

    #[test]
    fn bad_data_is_an_error_naming_the_field() {
        for (k, v) in [("state", "lost"), ("channel", "fax"), ("priority", "high"), ("created_at", "yesterday"), ("tags", "[1]"), ("decision", "{")] {
            let mut h = minimal();
            h.insert(k.to_owned(), v.to_owned());
            let e = Conversation::from_hash(&h).expect_err(k);
            assert!(e.to_string().contains(k) || k == "decision" && e.to_string().contains("decision"), "{k}: {e}");
        }
        for k in ["id", "state", "channel", "created_at"] {
            let mut h = minimal();
            h.remove(k);
            assert_eq!(Conversation::from_hash(&h), Err(ModelError::Missing { field: k }));
        }
    }

    #[test]
    fn every_state_round_trips() {
        for s in ConversationState::ALL {
            assert_eq!(ConversationState::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).expect("json"), s.as_str());
        }
    }
}
