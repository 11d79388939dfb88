//! Bot first, person on request: a queue with `bot = "<name>"` opens its
//! conversations in state `bot` (no agent, no capacity taken; see
//! `lua/route.lua`), and after the router has stored each customer message
//! of such a conversation, [`take_turn`] lets the bot answer it: an FAQ
//! bot from its configured answers, a webhook bot from an external service
//! (`crate::bots`). The answer, the hand-off to a person and the counters
//! that force one (`max_misses`, `max_bot_turns`) are one atomic step in
//! Redis (`lua/bot.lua`), marked per customer message so that a
//! redelivered message, on any replica, gets no second answer.
//!
//! A hand-off queues the conversation and places it as routing does any
//! other, keeping the thread (the agent sees the bot's turns); its SLA
//! clocks start then: the bot's answers are not the team's first response.

use chrono::{DateTime, Utc};
use switchboard_core::{Channel, InboundMessage};

use super::RouteError;
use crate::app::App;
use crate::bots::{faq, message, message_id, texts, webhook, Bots, HANDOFF_REPLY, MISS_REPLY};
use crate::config::{AnswerThen, BotKind, BotSettings};
use crate::model::{Conversation, ConversationState};
use crate::store::{BotStep, RouteResult};

/// The thread a webhook bot is shown.
const TURN_HISTORY: usize = 10;

/// What the bot decided about one message, before the counters have their say.
#[derive(Debug, PartialEq)]
enum Decision {
    /// An answer, maybe followed by a resolve or a hand-off.
    Reply { text: String, then: Option<AnswerThen> },
    /// No answer matched: the miss reply (or a hand-off at `max_misses`).
    Miss,
    /// A person takes over, maybe in another queue.
    Handoff { reason: String, queue: Option<String> },
    /// Close the conversation.
    Resolve,
}

/// Lets the conversation's bot answer the customer message routing just
/// stored, when the conversation is with a bot. Errors are Redis' (the
/// message is retried, and the step's mark makes the retry answer once).
pub async fn take_turn(app: &App, inbound: &InboundMessage, routed: &RouteResult) -> Result<(), RouteError> {
    let Some(conv) = app.store.conversation(&routed.conversation).await? else { return Ok(()) };
    if conv.state != ConversationState::Bot {
        if routed.duplicate {
            resume_clocks(app, &conv, &routed.message_id).await?;
        }
        return Ok(());
    }
    let address = conv.address.clone().unwrap_or_default();
    if conv.channel == Channel::Sms && app.store.is_opted_out(&conv.account, &address).await? {
        // The customer sent STOP: the bot says nothing more (a person may
        // still take the conversation from the API).
        return Ok(());
    }
    let live = app.live();
    let bot = conv.bot.as_deref().and_then(|name| live.bots.get(name));
    let keywords = &live.settings.routing.handoff_keywords;
    let decision = match bot {
        _ if faq::wants_person(&inbound.text, keywords) => {
            Decision::Handoff { reason: "the customer asked for a person".into(), queue: None }
        }
        None => Decision::Handoff { reason: "the bot is no longer configured".into(), queue: None },
        Some(b) if b.settings.kind == BotKind::Faq => match b.faq.answer(&inbound.text) {
            Some(a) => match a.reply.pick(conv.language.as_deref()) {
                Some(text) => Decision::Reply { text: text.to_owned(), then: a.then },
                None => Decision::Miss,
            },
            None => Decision::Miss,
        },
        Some(b) => ask_webhook(app, &live.bots, &b.settings, &conv, &routed.message_id, inbound).await,
    };
    let language = conv.language.as_deref();
    let now = Utc::now();
    let (action, reason, then, say_text, queue) = match decision {
        Decision::Reply { text, then } => {
            let then = match then {
                Some(AnswerThen::Resolve) => "resolve",
                Some(AnswerThen::Handoff) => "handoff",
                None => "",
            };
            ("reply", String::new(), then, Some(text), None)
        }
        Decision::Miss => {
            let miss = bot.and_then(|b| b.settings.miss_reply.clone()).unwrap_or_else(|| texts(&MISS_REPLY));
            ("miss", String::new(), "", miss.pick(language).map(str::to_owned), None)
        }
        Decision::Handoff { reason, queue } => ("handoff", reason, "", None, queue),
        Decision::Resolve => ("resolve", String::new(), "", None, None),
    };
    let handoff = bot.and_then(|b| b.settings.handoff_reply.clone()).unwrap_or_else(|| texts(&HANDOFF_REPLY));
    let id = |what: &str| message_id(what, &conv.id, &routed.message_id);
    let say = say_text.map(|t| message(&conv, "bot", &id("bot"), &t, now));
    let notice = handoff.pick(language).map(|t| message(&conv, "bot", &id("bot-handoff"), t, now));
    // The hand-off's queue: one the bot named, if configured, else its own.
    let queue = queue.filter(|q| live.settings.has_queue(q) && *q != conv.queue);
    let target = queue.as_deref().unwrap_or(&conv.queue);
    let priority = i32::try_from(conv.priority).unwrap_or(0);
    let (deadline_ms, sla) = crate::sla::first_deadline(app, target, conv.channel, priority, now);
    let queue_json = match &queue {
        Some(q) => {
            let mut class = live.classifier.queue(q).to_json();
            class.sla = sla;
            serde_json::to_string(&class).unwrap_or_default()
        }
        None => String::new(),
    };
    let limits = bot.map_or((0, 0), |b| (b.settings.max_misses, b.settings.max_bot_turns));
    let step = BotStep {
        conversation: &conv.id,
        message_id: &routed.message_id,
        action,
        reason: &reason,
        max_misses: limits.0,
        max_turns: limits.1,
        then,
        channel: conv.channel.as_str(),
        ttl_secs: crate::outbound::STATE_TTL.as_secs(),
        deadline_ms,
        queue_json,
        say,
        notice,
        now_ms: now.timestamp_millis(),
    };
    let (outcome, entries) = app.store.bot_step(&step).await?;
    match outcome.outcome.as_str() {
        "handed_off" => {
            tracing::info!(conversation = %conv.id, reason = %outcome.reason, state = %outcome.state, "bot handed off to a person");
            // The first-response clock starts now, before the events that
            // tell agents (and the reports) of the hand-off go out.
            handoff_clocks(app, &conv.id, &routed.message_id, now).await?;
            crate::outbox::flush_events(app, &entries).await;
            // Closed hours or a wait ahead: the customer is told.
            crate::office::after_message(app, &conv.id, now).await?;
            return Ok(());
        }
        "replied" | "resolved" => tracing::info!(conversation = %conv.id, outcome = %outcome.outcome, "bot answered"),
        "duplicate" => resume_clocks(app, &conv, &routed.message_id).await?,
        _ => {}
    }
    crate::outbox::flush_events(app, &entries).await;
    Ok(())
}

/// The trigger id of a hand-off's clock start.
fn handoff_trigger(message_id: &str) -> String {
    format!("handoff:{message_id}")
}

async fn handoff_clocks(app: &App, conv: &str, message_id: &str, now: DateTime<Utc>) -> Result<(), RouteError> {
    crate::sla::observe(app, conv, crate::sla::clock::Trigger::CustomerMessage, &handoff_trigger(message_id), now)
        .await
        .map_err(|e| RouteError::Sla(e.to_string()))
}

/// A redelivered message whose bot step handed off before the clocks were
/// started (the replica stopped in between): start them now. Clocks that
/// exist were started (and moved since); they are left alone.
async fn resume_clocks(app: &App, conv: &Conversation, message_id: &str) -> Result<(), RouteError> {
    if conv.handed_off_at.is_none() || conv.state == ConversationState::Bot {
        return Ok(());
    }
    if !app.store.sla_clocks(&conv.id).await?.is_empty() {
        return Ok(());
    }
    let at = conv.handed_off_at.unwrap_or_else(Utc::now);
    handoff_clocks(app, &conv.id, message_id, at).await
}

/// Asks a webhook bot; anything but a valid signed answer hands off.
async fn ask_webhook(
    app: &App,
    bots: &Bots,
    bot: &BotSettings,
    conv: &Conversation,
    message_id: &str,
    inbound: &InboundMessage,
) -> Decision {
    let Some(client) = bots.client() else {
        return Decision::Handoff { reason: "the bot could not be reached".into(), queue: None };
    };
    let history = app.store.messages(&conv.id).await.unwrap_or_default();
    let messages: Vec<webhook::TurnMessage> = history
        .iter()
        .rev()
        .take(TURN_HISTORY)
        .rev()
        .filter_map(|m| crate::model::Message::from_json(&m.to_string()))
        .filter(|m| m.direction != crate::model::Direction::Note)
        .map(|m| webhook::TurnMessage {
            id: m.id,
            direction: match m.direction {
                crate::model::Direction::Inbound => "inbound".into(),
                _ => "outbound".into(),
            },
            author: m.author.or(m.agent.map(|_| "agent".to_owned())),
            text: m.text,
            at: m.at,
        })
        .collect();
    let profile = match &conv.customer {
        Some(c) => app.store.customer_fields(c).await.unwrap_or_default(),
        None => Default::default(),
    };
    let turn = webhook::Turn {
        kind: "switchboard.bot.turn",
        conversation: webhook::TurnConversation {
            id: conv.id.clone(),
            channel: conv.channel.as_str().to_owned(),
            queue: conv.queue.clone(),
            customer: conv.customer.clone().unwrap_or_default(),
            language: conv.language.clone().filter(|l| !l.is_empty()),
            tier: profile.get("tier").cloned().filter(|t| !t.is_empty()),
        },
        message: webhook::TurnMessage {
            id: message_id.to_owned(),
            direction: "inbound".into(),
            author: None,
            text: inbound.text.clone(),
            at: inbound.received_at,
        },
        messages,
    };
    match webhook::call(client, bot, &turn, Utc::now().timestamp()).await {
        Ok(webhook::Action::Reply { text }) => Decision::Reply { text, then: None },
        Ok(webhook::Action::Resolve) => Decision::Resolve,
        Ok(webhook::Action::Handoff { queue, reason }) => Decision::Handoff {
            reason: reason.filter(|r| !r.trim().is_empty()).map_or_else(|| "the bot handed off".to_owned(), |r| r.chars().take(200).collect()),
            queue,
        },
        Err(e) => {
            tracing::warn!(conversation = %conv.id, error = %e, "webhook bot failed; handing off to a person");
            Decision::Handoff { reason: e.to_string(), queue: None }
        }
    }
}

