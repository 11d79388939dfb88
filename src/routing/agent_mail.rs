//! Agents answering by email: a conversation mailed to an agent carries a
//! reply address with a token signed by the agent's API token
//! ([`reply_token`]); the agent's answer to it comes in as an email on the
//! inbound stream, is checked here ([`sender_and_conversation`]), and
//! `commands::reply::MailReply` turns it into that agent's reply to the
//! customer, on the customer's channel.

use std::collections::BTreeMap;

use hmac::{Hmac, Mac};
use secrecy::ExposeSecret;
use sha2::Sha256;
use switchboard_core::InboundMessage;

use crate::config::{AgentSettings, DeliverTarget};

/// Characters of the signature in the token.
const SIGNATURE_CHARS: usize = 16;

/// The token of the reply address for `agent` on `conversation`, signed
/// with the agent's API token (rotating the token voids old addresses).
pub fn reply_token(agent_token: &str, conversation: &str) -> String {
    format!("a.{conversation}.{}", signature(agent_token, conversation))
}

fn signature(agent_token: &str, conversation: &str) -> String {
    // HMAC takes keys of any length; an empty MAC matches nothing.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(agent_token.as_bytes()) else { return String::new() };
    mac.update(b"switchboard-agent-reply:");
    mac.update(conversation.to_ascii_uppercase().as_bytes());
    let bytes = mac.finalize().into_bytes();
    bytes.iter().take(SIGNATURE_CHARS / 2).map(|b| format!("{b:02x}")).collect()
}

/// The conversation and signature of an agent reply token (`a.<id>.<sig>`,
/// any case: mail systems may change it).
fn parse_token(token: &str) -> Option<(String, String)> {
    let rest = token.strip_prefix("a.").or_else(|| token.strip_prefix("A."))?;
    let (conversation, sig) = rest.split_once('.')?;
    (conversation.len() == 26 && sig.len() == SIGNATURE_CHARS)
        .then(|| (conversation.to_ascii_uppercase(), sig.to_ascii_lowercase()))
}

/// Whether an inbound email is addressed to an agent reply token.
pub fn is_agent_mail(inbound: &InboundMessage) -> bool {
    inbound.metadata.get("conversation_token").and_then(parse_token).is_some()
}

/// The agent whose `email` delivery target is `address`.
fn agent_by_address<'a>(agents: &'a BTreeMap<String, AgentSettings>, address: &str) -> Option<(&'a str, &'a AgentSettings)> {
    agents.iter().find_map(|(id, a)| {
        a.deliver
            .iter()
            .any(|t| matches!(t, DeliverTarget::Email { address: own } if own.eq_ignore_ascii_case(address.trim())))
            .then_some((id.as_str(), a))
    })
}

/// What an email to an agent reply token is.
#[derive(Debug, PartialEq, Eq)]
pub enum MailCheck {
    /// Signed for this agent: its text is the agent's reply on the
    /// conversation (if the agent may still reply there).
    Signed {
        /// The agent.
        agent: String,
        /// The conversation.
        conversation: String,
    },
    /// Not from an agent, or not signed for the sender.
    Refused(&'static str),
}

/// Checks an email to an agent reply token: the sender must be an agent's
/// configured address, and the token signed with that agent's API token.
pub fn sender_and_conversation(agents: &BTreeMap<String, AgentSettings>, mail: &InboundMessage) -> MailCheck {
    let Some((conversation, sig)) = mail.metadata.get("conversation_token").and_then(parse_token) else {
        return MailCheck::Refused("the reply token does not parse");
    };
    let Some((agent, settings)) = agent_by_address(agents, &mail.customer) else {
        return MailCheck::Refused("the sender is no agent's configured address");
    };
    let token = settings.token.as_ref().map(|t| t.expose_secret().to_owned()).unwrap_or_default();
    let expected = signature(&token, &conversation);
    if expected.is_empty() || !bool::from(subtle::ConstantTimeEq::ct_eq(expected.as_bytes(), sig.as_bytes())) {
        return MailCheck::Refused("the reply token is not signed for this agent");
    }
    MailCheck::Signed { agent: agent.to_owned(), conversation }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_verify_in_any_case_and_only_for_their_agent() {
        let token = reply_token("alice-token", "01HF3ZK3RQ8V5M2XW7T0G9J6CE");
        assert!(token.len() <= 64, "fits the email channel's token limit");
        let (conv, sig) = parse_token(&token.to_ascii_lowercase()).unwrap_or_default();
        assert_eq!(conv, "01HF3ZK3RQ8V5M2XW7T0G9J6CE");
        assert_eq!(sig, signature("alice-token", &conv));
        assert_ne!(sig, signature("bob-token", &conv));
        assert_ne!(sig, signature("alice-token", "01HF3ZK3RQ8V5M2XW7T0G9J6CF"));
        for bad in ["", "a.", "a.short.0123456789abcdef", "b.01HF3ZK3RQ8V5M2XW7T0G9J6CE.0123456789abcdef", "01HF3ZK3RQ8V5M2XW7T0G9J6CE"] {
            assert!(parse_token(bad).is_none(), "{bad}");
        }
    }
}
