//! The `email` delivery target: conversation events mailed to the agent's
//! own mailbox through an email account's SMTP relay, with a `Reply-To`
//! that carries a token signed for that agent and conversation
//! (`support+a.<conversation>.<signature>@domain`). The agent's emailed
//! answer arrives through the email channel; [`agent_reply`] recognises it
//! (sender = the agent's configured address, valid signature) and sends its
//! text, quoted history stripped, to the customer on the customer's
//! channel.

use secrecy::ExposeSecret;
use switchboard_core::{OutboundMessage, SendError};
use switchboard_email::ReplyHeaders;

use super::Attempt;
use crate::app::App;
use crate::events::{self, Event};

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
        automated: None,
        created_at: event.time,
    };
    let headers = ReplyHeaders {
        in_reply_to: None,
        references: vec![],
        subject: format!("[switchboard] {} {what}", d.customer.address),
        conversation_token: crate::routing::agent_mail::reply_token(&token, &d.conversation_id),
    };
    match sender.send(&msg, &headers).await {
        Ok(_) => Attempt::Done,
        Err(SendError::Retryable { reason, .. }) => Attempt::Retry(reason),
        Err(SendError::Permanent { reason, .. }) => Attempt::Failed(reason),
    }
}
