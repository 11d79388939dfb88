//! The formats of the ids that requests carry, checked before any store
//! access: an id goes into a Redis key (`{P}:conv:<id>`), and one that is
//! not in its format could name another key (`<id>:messages`, a list) or
//! be far too long. What cannot be an id cannot exist: a path id out of
//! format is 404, like an unknown one; a query or body id is 400.


/// An outbound message id: a ULID, or an idempotent reply's `K` and 25
/// upper-case hex digits; 26 characters either way.
pub fn is_outbound_id(id: &str) -> bool {
    id.len() == 26 && id.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
}

/// A dead letter's id: at most 512 of `A-Z a-z 0-9 - _ . ~ :` (what the
/// delivery and routing workers make them of).
pub fn is_dead_letter_id(id: &str) -> bool {
    (1..=512).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.~:".contains(&b))
}

/// A shop's customer id: 1 to 128 characters without `|` or control
/// characters.
pub fn is_shop_customer_id(id: &str) -> bool {
    !id.is_empty() && id.chars().count() <= 128 && !id.contains('|') && !id.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::is_conversation_id;

    #[test]
    fn ids_out_of_format_are_refused() {
        let id = ulid::Ulid::new().to_string();
        assert!(is_conversation_id(&id));
        for bad in [format!("{id}:messages"), id.to_lowercase(), "../x".into(), "A".repeat(300), String::new()] {
            assert!(!is_conversation_id(&bad), "{bad}");
        }
        assert!(is_outbound_id(&id));
        assert!(is_outbound_id(&crate::outbound::reply::idempotent_id("alice", &id, "k")));
        assert!(!is_outbound_id(&format!("{}:x", &id[..24])));
        assert!(is_dead_letter_id(&format!("{id}:3~agent:alice:0")));
        assert!(!is_dead_letter_id("a/b") && !is_dead_letter_id(&"a".repeat(513)));
        assert!(is_shop_customer_id("shop-42") && !is_shop_customer_id("a|b") && !is_shop_customer_id(&"é".repeat(129)));
    }
}
