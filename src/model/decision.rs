//! The router's decision for a conversation, as the API shows it, and its
//! one mapping from the JSON the routing scripts store (`decision` in
//! `{P}:conv:<id>`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{AgentStatus, ModelError};

/// One agent the router examined for a conversation, and why it was or was
/// not chosen.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Candidate {
    /// The agent (`""` on the summary line of agents not listed one by one).
    #[serde(default)]
    pub agent: String,
    /// Its status when examined (`None` on the summary line).
    #[serde(default, deserialize_with = "lenient_status")]
    pub status: Option<AgentStatus>,
    /// Its load on the conversation's channel.
    #[serde(default)]
    pub load: u32,
    /// Its capacity on the conversation's channel.
    #[serde(default)]
    pub capacity: u32,
    /// Why it was chosen or passed over.
    #[serde(default)]
    pub reason: String,
}

/// A status as Lua wrote it: `""` (the summary line) is none.
fn lenient_status<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<AgentStatus>, D::Error> {
    Ok(AgentStatus::parse(&String::deserialize(d)?))
}

/// The router's last decision for a conversation: whom it chose, when, and
/// the candidates it examined.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct Decision {
    /// The agent chosen, if any.
    pub chosen: Option<String>,
    /// When it was decided.
    pub at: Option<DateTime<Utc>>,
    /// The agents examined, the chosen one first.
    pub candidates: Vec<Candidate>,
}

/// The decision as the scripts store it (epoch ms, `""` for none, and an
/// empty list that `cjson` may write as `{}`).
#[derive(Deserialize)]
struct StoredDecision {
    #[serde(default)]
    chosen: String,
    #[serde(default)]
    at: Option<serde_json::Value>,
    #[serde(default)]
    candidates: serde_json::Value,
}

impl Decision {
    /// The decision stored as JSON in the hash's `decision` field.
    pub(super) fn from_json(raw: &str) -> Result<Decision, ModelError> {
        let invalid = || ModelError::Invalid { field: "decision", value: raw.chars().take(64).collect() };
        let stored: StoredDecision = serde_json::from_str(raw).map_err(|_| invalid())?;
        let candidates = match stored.candidates {
            serde_json::Value::Array(items) => {
                items.into_iter().map(serde_json::from_value).collect::<Result<_, _>>().map_err(|_| invalid())?
            }
            _ => Vec::new(),
        };
        let at = stored.at.as_ref().and_then(|v| v.as_f64()).and_then(|ms| DateTime::from_timestamp_millis(ms as i64));
        Ok(Decision { chosen: (!stored.chosen.is_empty()).then_some(stored.chosen), at, candidates })
    }
}
