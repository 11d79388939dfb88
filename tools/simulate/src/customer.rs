//! One simulated customer: the shop's profile where they are known (VIP
//! tier, identities on two channels linked so that the conversation
//! follows them), the first message, the wait for an answer, the
//! follow-ups after a think, possibly on a second channel.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::time::Instant;

use crate::ctx::Ctx;
use crate::plan::{Ch, Customer};
use crate::send;
use crate::webchat::{self, Visitor};

/// The profile the shop keeps: tier and the identities of the channels
/// the customer uses (web chat joins through the signed identity instead).
async fn put_profile(ctx: &Ctx, c: &Customer) {
    let Some(admin) = &ctx.target.admin_token else { return };
    let mut identities = Vec::new();
    for ch in [Some(c.first), c.second].into_iter().flatten() {
        match ch {
            Ch::Sms => identities.push(json!({"kind": "phone", "value": ctx.phone(c)})),
            Ch::Email => identities.push(json!({"kind": "email", "value": ctx.email(c)})),
            Ch::Wechat => {
                if let Some(a) = ctx.target.wechat.first() {
                    identities.push(json!({"kind": format!("wechat:{}", a.name), "value": ctx.open_id(c)}));
                }
            }
            Ch::Webchat => {}
        }
    }
    let mut attributes = json!({"name": c.name, "language": c.lang.code()});
    if c.vip {
        attributes["tier"] = json!("vip");
    }
    let body = json!({"identities": identities, "attributes": attributes});
    let url = ctx.url(&format!("/api/v1/customers/{}", ctx.shop_id(c)));
    match ctx.http.put(url).bearer_auth(admin).json(&body).send().await {
        Ok(r) if r.status().is_success() => {}
        Ok(r) => ctx.stats.error(format!("profile_{}", r.status().as_u16())),
        Err(_) => ctx.stats.error("profile_transport"),
    }
}

/// Plays `c` from its arrival to its last answer (or the run's end).
pub async fn play(ctx: Arc<Ctx>, c: Customer) {
    tokio::time::sleep_until(ctx.start + c.at).await;
    ctx.stats.conversations.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    if c.vip {
        ctx.stats.vip.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    let known = c.vip || c.second.is_some();
    if known && [Some(c.first), c.second].into_iter().flatten().any(|ch| ch != Ch::Webchat) {
        put_profile(&ctx, &c).await;
    }
    let mut visitor: Option<Visitor> = None;
    for (k, text) in c.messages.iter().enumerate() {
        let ch = if k == 0 { c.first } else { c.second.unwrap_or(c.first) };
        if k > 0 {
            let think = ctx.paced(c.think.get(k - 1).copied().unwrap_or(Duration::from_secs(5)));
            // No follow-up that could not be answered before the end.
            if Instant::now() + think + ctx.paced(Duration::from_secs(8)) > ctx.end {
                break;
            }
            wait(&mut visitor, think).await;
        }
        if ch == Ch::Webchat && visitor.is_none() {
            visitor = webchat::open(&ctx, &c, known).await;
            if visitor.is_none() {
                break;
            }
        }
        let address = ctx.address(&c, ch, visitor.as_ref().map(|v| v.visitor_id.as_str()));
        let seen = ctx.inbox.count(&address);
        let taken = match (ch, visitor.as_mut()) {
            (Ch::Sms, _) => send::sms(&ctx, &c, text).await,
            (Ch::Wechat, _) => send::wechat(&ctx, &c, text).await,
            (Ch::Email, _) => send::email(&ctx, &c, k, text).await,
            (Ch::Webchat, Some(v)) => v.say(&ctx, text).await,
            (Ch::Webchat, None) => false,
        };
        if !taken {
            break;
        }
        ctx.stats.sent(ch.name());
        if k == 1 && c.second.is_some() {
            ctx.stats.switched.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        if !answered(&ctx, &mut visitor, &address, seen).await {
            ctx.stats.unanswered.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            break;
        }
    }
    if let Some(v) = visitor {
        v.close().await;
    }
}

/// Waits `think`, keeping a web chat socket alive.
async fn wait(visitor: &mut Option<Visitor>, think: Duration) {
    let until = Instant::now() + think;
    while Instant::now() < until {
        let step = (until - Instant::now()).min(Duration::from_secs(20));
        tokio::time::sleep(step).await;
        if let Some(v) = visitor.as_mut() {
            v.ping().await;
        }
    }
}

/// Waits for a reply beyond `seen` to `address`, until the run's end.
async fn answered(ctx: &Ctx, visitor: &mut Option<Visitor>, address: &str, seen: u64) -> bool {
    loop {
        let slice = (Instant::now() + Duration::from_secs(20)).min(ctx.end);
        if ctx.inbox.wait_beyond(address, seen, slice).await {
            return true;
        }
        if Instant::now() >= ctx.end {
            return false;
        }
        if let Some(v) = visitor.as_mut() {
            v.ping().await;
        }
    }
}
