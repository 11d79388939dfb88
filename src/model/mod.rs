//! The typed resources of the API and their mapping from what Redis holds.
//! No I/O: the store reads hashes and JSON, these types give them meaning,
//! and the HTTP handlers serialize them. The OpenAPI schemas are derived
//! from these same types (`ToSchema`), so the document cannot drift from
//! the answers.
//!
//! Timestamps are RFC 3339 (`DateTime<Utc>`), numbers are numbers, states
//! and kinds are enums; internal bookkeeping stays out.

mod agent;
pub mod calendar;
mod answers;
mod conversation;
mod customer;
mod dead_letter;
mod decision;
mod message;
mod sla;
mod stats;

use std::collections::HashMap;

use chrono::{DateTime, Utc};

pub use agent::{Agent, AgentLoad, AgentStatus, Capacity, Queue, QueueMode};
pub use answers::{
    AgentConversations, ConversationDetail, ConversationPage, DeadLetterPage, Placement, Replayed, ReplyQueued, ReplyState,
    Resolved, StatusSet,
};
pub use conversation::{Conversation, ConversationState, Csat, EmailThread};
pub use decision::{Candidate, Decision};
pub use customer::{Customer, CustomerAttributes, Identity};
pub use dead_letter::DeadLetter;
pub use message::{Direction, Message, Note};
pub use sla::{ClockKind, ClockState, SlaClock, SlaOutcome};
pub use stats::{AgentStats, QueueStats, Stats};

/// A stored value that does not map to its resource.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    /// A required field is absent.
    #[error("the stored record has no `{field}`")]
    Missing {
        /// The stored field.
        field: &'static str,
    },
    /// A field holds something this version does not write.
    #[error("the stored `{field}` is not valid: {value:?}")]
    Invalid {
        /// The stored field.
        field: &'static str,
        /// Its value (cut to 64 characters).
        value: String,
    },
}

impl ModelError {
    fn invalid(field: &'static str, value: &str) -> Self {
        ModelError::Invalid { field, value: value.chars().take(64).collect() }
    }
}

/// A hash field, `None` when absent or empty (the scripts write `""` for
/// "none").
fn field<'a>(hash: &'a HashMap<String, String>, name: &str) -> Option<&'a str> {
    hash.get(name).map(String::as_str).filter(|v| !v.is_empty())
}

/// A numeric hash field. Lua may write an integer as `5` or `5.0`.
fn number(hash: &HashMap<String, String>, name: &'static str) -> Result<Option<i64>, ModelError> {
    let Some(raw) = field(hash, name) else { return Ok(None) };
    if let Ok(n) = raw.parse::<i64>() {
        return Ok(Some(n));
    }
    match raw.parse::<f64>() {
        Ok(n) if n.is_finite() && n.fract() == 0.0 && n.abs() < 9.0e15 => Ok(Some(n as i64)),
        _ => Err(ModelError::invalid(name, raw)),
    }
}

/// A timestamp hash field, stored as epoch milliseconds.
fn time(hash: &HashMap<String, String>, name: &'static str) -> Result<Option<DateTime<Utc>>, ModelError> {
    let Some(ms) = number(hash, name)? else { return Ok(None) };
    if ms <= 0 {
        return Ok(None);
    }
    DateTime::from_timestamp_millis(ms).map(Some).ok_or_else(|| ModelError::invalid(name, &ms.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every state a script writes or compares is a [`ConversationState`]:
    /// a new state cannot appear in Lua without its enum variant.
    #[test]
    fn every_state_literal_in_the_scripts_is_a_conversation_state() {
        let scripts = [
            include_str!("../store/lua/lib.lua"),
            include_str!("../store/lua/route.lua"),
            include_str!("../store/lua/drain.lua"),
            include_str!("../store/lua/escalate.lua"),
            include_str!("../store/lua/offer.lua"),
            include_str!("../store/lua/reply.lua"),
            include_str!("../store/lua/resolve.lua"),
            include_str!("../store/lua/sweep.lua"),
            include_str!("../store/lua/transfer.lua"),
        ];
        let written = regex::Regex::new(r"'state',\s*'([a-z_]+)'").expect("regex");
        let compared = regex::Regex::new(r"(?:\bstate|'state'\))\s*[~=]=\s*'([a-z_]+)'").expect("regex");
        let mut seen = 0;
        // HMGET lists field names, not values.
        for line in scripts.iter().flat_map(|s| s.lines()).filter(|l| !l.contains("HMGET")) {
            for caps in written.captures_iter(line).chain(compared.captures_iter(line)) {
                let literal = &caps[1];
                assert!(ConversationState::parse(literal).is_some(), "a script uses the state {literal:?}");
                seen += 1;
            }
        }
        assert!(seen > 10, "found only {seen} state literals");
    }

    #[test]
    fn numbers_and_times_are_tolerant_but_never_wrong() {
        let h: HashMap<String, String> =
            [("a", "5"), ("b", "5.0"), ("c", "x"), ("d", ""), ("e", "0")].iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
        assert_eq!(number(&h, "a"), Ok(Some(5)));
        assert_eq!(number(&h, "b"), Ok(Some(5)));
        assert!(number(&h, "c").is_err());
        assert_eq!(number(&h, "d"), Ok(None));
        assert_eq!(time(&h, "e"), Ok(None));
        assert_eq!(time(&h, "missing"), Ok(None));
    }
}
