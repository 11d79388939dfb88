//! The agents, played through the daemon's agent API with their own
//! bearer tokens: each sets itself available, polls its conversations,
//! accepts offers, replies after a human delay, transfers some to another
//! queue, resolves those where the customer has gone quiet, and now and
//! then goes away for a while and comes back.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use serde_json::{json, Value};
use tokio::time::Instant;

use crate::config::Agent;
use crate::content::{agent_lines, Lang};
use crate::ctx::Ctx;
use crate::stop::{is_stopped, Stop};

/// How often an agent looks at its conversations.
const POLL: Duration = Duration::from_millis(250);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Action {
    Accept,
    Reply,
    Transfer,
    Resolve,
}

/// An action planned for a conversation seen in `state`.
#[derive(Debug)]
struct Planned {
    action: Action,
    state: String,
    due: Instant,
}

/// One agent at work.
struct Desk<'a> {
    ctx: &'a Ctx,
    agent: &'a Agent,
    rng: StdRng,
    plans: HashMap<String, Planned>,
    waiting_since: HashMap<String, Instant>,
    transferred: std::collections::HashSet<String>,
}

/// Plays `agent` until `stop`.
pub async fn play(ctx: Arc<Ctx>, agent: Agent, index: u64, stop: Stop) {
    let mut desk = Desk {
        ctx: &ctx,
        agent: &agent,
        rng: StdRng::seed_from_u64(ctx.seed ^ (0x9e37_79b9_7f4a_7c15_u64.wrapping_mul(index + 1))),
        plans: HashMap::new(),
        waiting_since: HashMap::new(),
        transferred: std::collections::HashSet::new(),
    };
    desk.status("available").await;
    let mut next_break = Instant::now() + desk.between(40.0, 90.0);
    while !is_stopped(&stop) {
        if Instant::now() >= next_break {
            desk.status("away").await;
            ctx.stats.away_spells.fetch_add(1, Ordering::Relaxed);
            let pause = desk.between(4.0, 8.0);
            let mut stop2 = stop.clone();
            let _ = tokio::time::timeout(pause, stop2.wait_for(|s| *s)).await;
            desk.status("available").await;
            next_break = Instant::now() + desk.between(40.0, 90.0);
        }
        desk.round().await;
        tokio::time::sleep(POLL).await;
    }
    desk.status("away").await;
}

/// A command's outcome: 2xx done, 403/404/409 overtaken by events (the
/// offer lapsed, the conversation moved on), anything else an error.
fn outcome(ctx: &Ctx, what: &str, r: Result<reqwest::Response, reqwest::Error>) -> bool {
    match r {
        Ok(r) if r.status().is_success() => true,
        Ok(r) if matches!(r.status().as_u16(), 403 | 404 | 409) => {
            ctx.stats.races.fetch_add(1, Ordering::Relaxed);
            false
        }
        Ok(r) => {
            ctx.stats.error(format!("agent_{what}_{}", r.status().as_u16()));
            false
        }
        Err(_) => {
            ctx.stats.error(format!("agent_{what}_transport"));
            false
        }
    }
}

impl Desk<'_> {
    /// A human delay of `lo..hi` seconds at pace 1.
    fn between(&mut self, lo: f64, hi: f64) -> Duration {
        self.ctx.paced(Duration::from_secs_f64(self.rng.gen_range(lo..hi)))
    }

    async fn status(&self, status: &str) {
        let url = self.ctx.url(&format!("/api/v1/agents/{}/status", self.agent.id));
        let r = self.ctx.http.put(url).bearer_auth(&self.agent.token).json(&json!({"status": status})).send().await;
        outcome(self.ctx, "status", r);
    }

    /// One look at the conversations, and whatever is due.
    async fn round(&mut self) {
        let url = self.ctx.url(&format!("/api/v1/agents/{}/conversations", self.agent.id));
        let r = self.ctx.http.get(url).bearer_auth(&self.agent.token).send().await;
        let list: Value = match r {
            Ok(r) if r.status().is_success() => r.json().await.unwrap_or(Value::Null),
            other => {
                outcome(self.ctx, "list", other);
                return;
            }
        };
        let conversations = list["conversations"].as_array().cloned().unwrap_or_default();
        let listed: std::collections::HashSet<String> =
            conversations.iter().filter_map(|c| c["id"].as_str().map(str::to_owned)).collect();
        self.plans.retain(|id, _| listed.contains(id));
        self.waiting_since.retain(|id, _| listed.contains(id));
        let now = Instant::now();
        for c in &conversations {
            let (Some(id), Some(state)) = (c["id"].as_str(), c["state"].as_str()) else { continue };
            if self.plans.get(id).is_some_and(|p| p.state != state) {
                self.plans.remove(id);
            }
            if state != "waiting" {
                self.waiting_since.remove(id);
            }
            if self.plans.contains_key(id) {
                continue;
            }
            let planned = match state {
                "offered" => Some((Action::Accept, self.between(1.0, 4.0))),
                "assigned" if !self.transferred.contains(id) && self.rng.gen_bool(0.12) => {
                    Some((Action::Transfer, self.between(2.0, 6.0)))
                }
                "assigned" => Some((Action::Reply, self.between(3.0, 12.0))),
                "waiting" => {
                    let since = *self.waiting_since.entry(id.to_owned()).or_insert(now);
                    // The customer has gone quiet: wrap up.
                    let quiet = self.between(8.0, 16.0);
                    (now.duration_since(since) >= quiet).then_some((Action::Resolve, Duration::ZERO))
                }
                _ => None,
            };
            if let Some((action, delay)) = planned {
                self.plans.insert(id.to_owned(), Planned { action, state: state.to_owned(), due: now + delay });
            }
        }
        let due: Vec<(String, Action)> =
            self.plans.iter().filter(|(_, p)| p.due <= now).map(|(id, p)| (id.clone(), p.action)).collect();
        for (id, action) in due {
            self.plans.remove(&id);
            let conversation = conversations.iter().find(|c| c["id"] == id.as_str()).cloned().unwrap_or(Value::Null);
            self.act(&id, action, &conversation).await;
        }
    }

    async fn act(&mut self, id: &str, action: Action, c: &Value) {
        let ctx = self.ctx;
        let url = |verb: &str| ctx.url(&format!("/api/v1/conversations/{id}/{verb}"));
        let http = &ctx.http;
        let token = &self.agent.token;
        match action {
            Action::Accept => {
                let r = http.post(url("accept")).bearer_auth(token).json(&json!({})).send().await;
                if outcome(ctx, "accept", r) {
                    ctx.stats.accepted.fetch_add(1, Ordering::Relaxed);
                }
            }
            Action::Reply => {
                let lang = if c["language"] == "zh" { Lang::Zh } else { Lang::En };
                let lines = agent_lines(lang);
                let text = lines[self.rng.gen_range(0..lines.len())];
                let r = http.post(url("reply")).bearer_auth(token).json(&json!({"text": text})).send().await;
                if outcome(ctx, "reply", r) {
                    ctx.stats.agent_replies.fetch_add(1, Ordering::Relaxed);
                }
            }
            Action::Transfer => {
                self.transferred.insert(id.to_owned());
                let from = c["queue"].as_str().unwrap_or_default();
                let to = ["general", "returns", "complaints"]
                    .into_iter()
                    .find(|q| *q != from && ctx.target.queues.contains(*q))
                    .or_else(|| ctx.target.queues.iter().map(String::as_str).find(|q| *q != from));
                let Some(to) = to else { return };
                let body = json!({"queue": to, "note": "Passing this to colleagues who handle it."});
                let r = http.post(url("transfer")).bearer_auth(token).json(&body).send().await;
                if outcome(ctx, "transfer", r) {
                    ctx.stats.transferred.fetch_add(1, Ordering::Relaxed);
                }
            }
            Action::Resolve => {
                let r = http.post(url("resolve")).bearer_auth(token).json(&json!({})).send().await;
                if outcome(ctx, "resolve", r) {
                    ctx.stats.resolved.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
}
