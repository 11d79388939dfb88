//! Threading keys: Message-IDs and the conversation token of a reply
//! address.
//!
//! The daemon matches an inbound email to a conversation in two ways, and
//! this module prepares both without any lookup of its own:
//!
//! * by Message-ID: the `In-Reply-To` and `References` of a customer's reply
//!   name the Message-IDs of our earlier messages. IDs are compared without
//!   their angle brackets and without surrounding whitespace; their case is
//!   kept, because the local part of a Message-ID is case-sensitive.
//! * by a token in the address the customer wrote to: our replies carry
//!   `Reply-To: support+<token>@domain`, and mail clients copy it into `To`.
//!   Forwarding and aliasing may hide it in `Cc`, `Delivered-To` or
//!   `X-Original-To`, so all four are searched.
//!
//! Everything here is bounded: a hostile `References` header with thousands
//! of IDs is cut to [`MAX_REFERENCES`], keeping the thread root.

/// At most this many `References` are kept: the first (the thread root) and
/// the most recent ones, as RFC 5322 §3.6.4 suggests for trimming.
pub const MAX_REFERENCES: usize = 50;

/// Longest Message-ID accepted; RFC 5322 lines are at most 998 octets and
/// real IDs are far shorter.
const MAX_ID_LEN: usize = 250;

/// Longest conversation token accepted.
const MAX_TOKEN_LEN: usize = 64;

/// The longest outbound id used as is in our Message-ID.
const MAX_ID_LEFT: usize = 64;

/// One Message-ID without angle brackets or whitespace; `None` when empty,
/// too long, or holding characters no Message-ID has (whitespace, brackets,
/// controls).
pub fn normalize_message_id(raw: &str) -> Option<String> {
    let id = raw.trim();
    let id = id.strip_prefix('<').unwrap_or(id);
    let id = id.strip_suffix('>').unwrap_or(id).trim();
    let valid = !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && !id
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | '"'));
    valid.then(|| id.to_owned())
}

/// The left part of our Message-ID for outbound id `id`: a function of the
/// id alone, so that every send of one outbound message carries the same
/// Message-ID and a resend is recognisable as the same message. An id
/// that is a valid dot-atom (ULIDs, `<ulid>~reply`) is used as is, so a
/// bounce names it; any other is hashed.
pub(crate) fn message_id_left(id: &str) -> String {
    let atom = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'~' | b'+' | b'=');
    let verbatim = !id.is_empty()
        && id.len() <= MAX_ID_LEFT
        && !id.starts_with('.')
        && !id.ends_with('.')
        && !id.contains("..")
        && id.bytes().all(|b| atom(b) || b == b'.');
    if verbatim {
        return id.to_owned();
    }
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(id.as_bytes());
    format!("h{}", hex::encode(&digest[..16]))
}

/// Every Message-ID in a header value such as `References`, normalized,
/// duplicates removed, in order.
///
/// IDs are taken from `<…>` brackets; a value with no brackets at all (some
/// broken clients) is split on whitespace and commas instead. Parenthesized
/// comments are skipped. More than [`MAX_REFERENCES`] IDs are cut to the
/// first plus the last `MAX_REFERENCES - 1`.
pub fn normalize_id_list(raw: &str) -> Vec<String> {
    let without_comments = strip_comments(raw);
    let mut ids: Vec<String> = Vec::new();
    let mut push = |candidate: &str| {
        if let Some(id) = normalize_message_id(candidate) {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
    };
    if without_comments.contains('<') {
        let mut rest = without_comments.as_str();
        while let Some(open) = rest.find('<') {
            let after = &rest[open + 1..];
            let Some(close) = after.find('>') else { break };
            push(&after[..close]);
            rest = &after[close + 1..];
        }
    } else {
        without_comments
            .split(|c: char| c.is_whitespace() || c == ',')
            .for_each(&mut push);
    }
    if ids.len() > MAX_REFERENCES {
        let tail = ids.split_off(ids.len() - (MAX_REFERENCES - 1));
        ids.truncate(1);
        ids.extend(tail);
    }
    ids
}

/// The value with RFC 5322 comments (`(…)`, possibly nested) removed.
fn strip_comments(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut depth = 0usize;
    for c in raw.chars() {
        match c {
            '(' => depth += 1,
            ')' if depth > 0 => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

/// The conversation token of a plus-address (`support+<token>@domain`):
/// whatever follows the first `+` of the local part. `None` when there is
/// no `+`, or the token is empty, longer than 64 characters, or holds
/// anything but ASCII letters, digits, `-`, `_`, `.` and `=` (the daemon
/// uses it in Redis keys). The case is kept as written.
pub fn conversation_token(address: &str) -> Option<String> {
    let (local, _domain) = address.trim().rsplit_once('@')?;
    let (_base, token) = local.split_once('+')?;
    is_valid_token(token).then(|| token.to_owned())
}

/// Whether `token` can be a conversation token: 1 to 64 ASCII letters,
/// digits, `-`, `_`, `.` or `=`.
pub(crate) fn is_valid_token(token: &str) -> bool {
    !token.is_empty()
        && token.len() <= MAX_TOKEN_LEN
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'='))
}

/// The address in a raw single-address header value such as
/// `Delivered-To`: the part in angle brackets if any, else the whole value,
/// case kept (a token is case-sensitive). `None` when it is not
/// `local@domain`.
pub(crate) fn raw_address(raw: &str) -> Option<String> {
    let raw = raw.trim();
    let inner = match (raw.find('<'), raw.rfind('>')) {
        (Some(open), Some(close)) if open < close => &raw[open + 1..close],
        _ => raw,
    };
    clean_address(inner)
}

/// A bare address, trimmed, case kept; `None` unless it has the shape
/// `local@domain` with no whitespace or controls.
pub(crate) fn clean_address(raw: &str) -> Option<String> {
    let address = raw.trim().to_owned();
    let (local, domain) = address.rsplit_once('@')?;
    let valid = !local.is_empty()
        && !domain.is_empty()
        && address.len() <= 320
        && !address
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>'));
    valid.then_some(address)
}

/// The domain of an address or a Message-ID (what follows the last `@`),
/// lower-cased.
pub(crate) fn domain_of(address_or_id: &str) -> Option<String> {
    address_or_id
        .rsplit_once('@')
        .map(|(_, domain)| domain.trim().to_ascii_lowercase())
        .filter(|domain| !domain.is_empty())
}

/// Whether `domain` is one of `own_domains` or a subdomain of one.
pub(crate) fn is_own_domain(domain: &str, own_domains: &[String]) -> bool {
    own_domains.iter().any(|own| {
        let own = own.trim().trim_start_matches('.').to_ascii_lowercase();
        !own.is_empty()
            && (domain == own
                || domain
                    .strip_suffix(own.as_str())
                    .is_some_and(|head| head.ends_with('.')))
    })
}

/// The first conversation token among `recipients` (in the order given):
/// addresses on one of `own_domains` are tried first, so that a customer's
/// own plus-address in `Cc` cannot shadow ours; then the others, so that a
/// missing `own_domains` setting does not lose threading.
pub(crate) fn token_from(recipients: &[String], own_domains: &[String]) -> Option<String> {
    let own = |a: &&String| domain_of(a).is_some_and(|d| is_own_domain(&d, own_domains));
    recipients
        .iter()
        .filter(own)
        .chain(recipients.iter().filter(|a| !own(a)))
        .find_map(|a| conversation_token(a))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn ids_lose_brackets_and_whitespace() {
        assert_eq!(
            normalize_message_id("  <AbC.123@Mail.Example>\r\n").as_deref(),
            Some("AbC.123@Mail.Example")
        );
        assert_eq!(normalize_message_id("abc@x").as_deref(), Some("abc@x"));
        assert_eq!(normalize_message_id("<>"), None);
        assert_eq!(normalize_message_id("<a b@x>"), None);
        assert_eq!(
            normalize_message_id(&format!("<{}@x>", "a".repeat(300))),
            None
        );
    }

    #[test]
    fn id_lists_are_parsed_deduplicated_and_bounded() {
        let refs = "<root@a.example> (a comment <x@y>)\r\n <b@c.example>\t<root@a.example><d@e>";
        assert_eq!(
            normalize_id_list(refs),
            ["root@a.example", "b@c.example", "d@e"]
        );
        assert_eq!(normalize_id_list("one@a, two@b"), ["one@a", "two@b"]);
        assert!(normalize_id_list("").is_empty());
        let many: String = (0..200).map(|i| format!("<m{i}@x> ")).collect();
        let ids = normalize_id_list(&many);
        assert_eq!(ids.len(), MAX_REFERENCES);
        assert_eq!(ids[0], "m0@x");
        assert_eq!(ids[1], "m151@x");
        assert_eq!(ids[MAX_REFERENCES - 1], "m199@x");
    }

    #[test]
    fn tokens_come_from_plus_addresses() {
        assert_eq!(
            conversation_token("support+01HX7ABC@shop.example").as_deref(),
            Some("01HX7ABC")
        );
        assert_eq!(conversation_token("support+a+b@shop.example"), None);
        assert_eq!(conversation_token("support@shop.example"), None);
        assert_eq!(conversation_token("support+@shop.example"), None);
        assert_eq!(conversation_token("support+a b@shop.example"), None);
        assert_eq!(conversation_token("support+abc"), None);
    }

    #[test]
    fn own_domains_win() {
        let own = vec!["shop.example".to_owned()];
        let recipients = vec![
            "jane+news@mail.example".to_owned(),
            "support+t1@help.shop.example".to_owned(),
        ];
        assert_eq!(token_from(&recipients, &own).as_deref(), Some("t1"));
        assert_eq!(token_from(&recipients, &[]).as_deref(), Some("news"));
        assert!(is_own_domain("shop.example", &own));
        assert!(!is_own_domain("evilshop.example", &own));
    }

    #[test]
    fn raw_addresses() {
        assert_eq!(
            raw_address(" Support <Support+T@Shop.Example> ").as_deref(),
            Some("Support+T@Shop.Example")
        );
        assert_eq!(raw_address("x@y").as_deref(), Some("x@y"));
        assert_eq!(raw_address("not an address"), None);
    }
}
