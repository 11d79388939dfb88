//! The `email` delivery target: conversation events mailed to the agent's
//! own mailbox through an email account's SMTP relay, with a `Reply-To`
//! that carries a token signed for that agent and conversation
//! (`support+a.<conversation>.<signature>@domain`). The agent's emailed
//! answer arrives through the email channel; [`agent_reply`] recognises it
//! (sender = the agent's configured address, valid signature) and sends its
//! text, quoted history stripped, to the customer on the customer's
//! channel.

use hmac::{Hmac, Mac};
use secrecy::ExposeSecret;
use sha2::Sha256;
use switchboard_core::{InboundMessage, Masked, OutboundMessage, SendError};
use switchboard_email::ReplyHeaders;

use super::Attempt;
use crate::app::App;
use crate::config::{AgentSettings, DeliverTarget};
use crate::events::{self, Event};

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

/// Mails one event to an agent.
pub async fn deliver(app: &App, address: &str, event: &Event) -> Attempt {
    let d = &event.data;
    // The agent's own reply and bookkeeping events are not worth a mail.
    if d.conversation_id.is_empty() || event.event_type == events::REPLIED || event.event_type == events::TYPING {
        return Attempt::Skipped;
    }
    let live = app.live();
    let Some(agent) = d.agent.as_ref().and_then(|a| live.settings.agents.get(a)) else { return Attempt::Skipped };
    let Some(token) = agent.token.as_ref().map(|t| t.expose_secret().to_owned()) else { return Attempt::Skipped };
    let preferred = (d.channel == "email").then_some(d.account.as_str());
    let senders = app.senders();
    let Some((account, sender)) = senders.email_for(preferred) else {
        return Attempt::Failed("no email account with an smtp_url to send agent mail".into());
    };
    let what = event.event_type.rsplit('.').next().unwrap_or("event").replace('_', " ");
    let mut body = format!(
        "Conversation {what}\nCustomer: {} ({})\nQueue: {}\n",
        d.customer.address,
        d.channel,
        if d.queue.is_empty() { "-" } else { &d.queue }
    );
    if let Some(m) = &d.message {
        body.push_str(&format!("\n{}\n", m.text));
    }
    if let Some(reason) = d.reason.as_deref().or(d.error.as_deref()) {
        body.push_str(&format!("\n({reason})\n"));
    }
    body.push_str(&format!(
        "\n-- \nReply to this email to answer the customer on their channel; only your text above the quote is sent.\n{}/api/v1/conversations/{}\n",
        live.settings.server.public_base(),
        d.conversation_id
    ));
    let msg = OutboundMessage {
        id: format!("{}~mail", event.id),
        conversation_id: d.conversation_id.clone(),
        channel: switchboard_core::Channel::Email,
        account: account.to_owned(),
        to: address.to_owned(),
        text: body,
        media_urls: vec![],
        media_ids: vec![],
        agent: d.agent.clone(),
        created_at: event.time,
    };
    let headers = ReplyHeaders {
        in_reply_to: None,
        references: vec![],
        subject: format!("[switchboard] {} {what}", d.customer.address),
        conversation_token: reply_token(&token, &d.conversation_id),
    };
    match sender.send(&msg, &headers).await {
        Ok(_) => Attempt::Done,
        Err(SendError::Retryable { reason, .. }) => Attempt::Retry(reason),
        Err(SendError::Permanent { reason, .. }) => Attempt::Failed(reason),
    }
}

/// The agent whose `email` delivery target is `address`.
fn agent_by_address<'a>(agents: &'a std::collections::BTreeMap<String, AgentSettings>, address: &str) -> Option<(&'a str, &'a AgentSettings)> {
    agents.iter().find_map(|(id, a)| {
        a.deliver
            .iter()
            .any(|t| matches!(t, DeliverTarget::Email { address: own } if own.eq_ignore_ascii_case(address.trim())))
            .then_some((id.as_str(), a))
    })
}

/// Handles an email to an agent reply token: from the agent's configured
/// address with a valid signature, on a conversation that agent holds, its
/// text goes to the customer as the agent's reply; anything else is dropped
/// with a warning (never routed as a customer message: the token is ours).
pub async fn agent_reply(app: &App, inbound: &InboundMessage) -> Result<(), crate::routing::RouteError> {
    let Some((conversation, sig)) = inbound.metadata.get("conversation_token").and_then(parse_token) else { return Ok(()) };
    let live = app.live();
    let refuse = |why: &str| {
        tracing::warn!(from = %Masked(&inbound.customer), %conversation, why, "agent reply mail refused");
        Ok(())
    };
    let Some((agent, settings)) = agent_by_address(&live.settings.agents, &inbound.customer) else {
        return refuse("the sender is no agent's configured address");
    };
    let token = settings.token.as_ref().map(|t| t.expose_secret().to_owned()).unwrap_or_default();
    let expected = signature(&token, &conversation);
    if expected.is_empty() || !bool::from(subtle::ConstantTimeEq::ct_eq(expected.as_bytes(), sig.as_bytes())) {
        return refuse("the reply token is not signed for this agent");
    }
    let Some(conv) = app.store.conversation(&conversation).await? else { return refuse("no such conversation") };
    if conv.get("agent").map(String::as_str) != Some(agent) {
        return refuse("the conversation is not the agent's");
    }
    let text = inbound.text.trim().to_owned();
    if text.is_empty() {
        return refuse("the mail has no text above the quote");
    }
    let reply = crate::outbound::reply::Reply {
        // The inbound id: a redelivered mail submits the same reply, which
        // JetStream and the sender absorb.
        id: format!("{}~reply", inbound.id),
        agent: Some(agent.to_owned()),
        text,
        media_urls: vec![],
        media: vec![],
    };
    let once = format!("{}:agentmail:{}", app.store.keys().base(), inbound.id);
    if !app.store.first_seen(&once, std::time::Duration::from_secs(7 * 24 * 3600)).await? {
        return Ok(());
    }
    match crate::outbound::reply::submit(app, &conversation, &conv, reply, chrono::Utc::now()).await {
        Ok(_) => {
            tracing::info!(%conversation, %agent, "agent replied by email");
            Ok(())
        }
        Err(crate::outbound::reply::ReplyError::Unavailable(e)) => {
            app.store.release(&once).await?;
            Err(crate::routing::RouteError::Reply(e))
        }
        Err(e) => refuse(&e.to_string()),
    }
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
