//! The SLA engine: business calendars ([`calendar`]), the clocks of a
//! conversation and how events move them ([`clock`]), and durable timers in
//! Redis that fire once across replicas ([`timers`]).
//!
//! The router (a customer message), the reply route (an agent reply) and
//! the resolve route call [`observe`]: it moves the conversation's clocks
//! (stored as JSON, replaced by compare-and-set so concurrent moves are not
//! lost), and schedules or cancels the warn and breach timers of each
//! clock. Each trigger carries an id (the message id, the outbound id), so
//! a redelivered message moves nothing twice but re-schedules its timers.
//!
//! Every replica runs [`run`]: a timer that fires publishes
//! `switchboard.sla.warning` or `.breached` with the firing id as event id
//! (so it is on the bus once, whichever replica fired it and however often),
//! runs the policy's escalations (each at most once per firing), then marks
//! the clock warned or breached.

pub mod clock;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use switchboard_core::Channel;
use tokio_util::sync::CancellationToken;

use crate::model::calendar::Calendar;
use self::clock::{parse_timer_id, ClockKind, ClockState, Clocks, Stage, Target, Targets, Trigger};
use crate::store::timers::{self, Fired, TimerOptions, Timers};
use crate::app::App;
use crate::config::{Escalation, Settings, SlaPolicy};
use crate::events;
use crate::store::{ConversationRecord, TransferTarget};

/// WeChat's customer-service window.
const WECHAT_WINDOW: Duration = Duration::from_secs(48 * 3600);

/// Why an SLA step failed (it is retried).
#[derive(Debug, thiserror::Error)]
pub enum SlaError {
    /// Redis.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The timers.
    #[error(transparent)]
    Timers(#[from] timers::TimerError),
    /// NATS.
    #[error(transparent)]
    Route(#[from] crate::routing::RouteError),
    /// Stored clocks that are not what this version writes.
    #[error("unreadable SLA clocks: {0}")]
    Corrupt(String),
    /// Too many concurrent changes.
    #[error("the clocks kept changing; try again")]
    Contended,
}

/// The timers of one instance.
#[derive(Clone)]
pub struct Sla {
    timers: Timers,
}

impl std::fmt::Debug for Sla {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sla").finish_non_exhaustive()
    }
}

impl Sla {
    /// The SLA timers under `{P}:timers:sla`.
    pub fn new(settings: &Settings) -> Result<Sla, redis::RedisError> {
        let client = redis::Client::open(secrecy::ExposeSecret::expose_secret(&settings.redis.url))?;
        let keys = crate::store::Keys::new(&settings.redis.prefix);
        let opts = TimerOptions { lease: Duration::from_secs(30), ..TimerOptions::default() };
        Ok(Sla { timers: Timers::new(client, &keys.sla_timers(), opts) })
    }
}

/// The compiled calendars of a configuration.
pub fn compile_calendars(settings: &Settings) -> BTreeMap<String, Calendar> {
    settings
        .calendars
        .iter()
        .filter_map(|(name, c)| {
            // Validation refused calendars that do not parse.
            Calendar::parse(&c.timezone, &c.hours, &c.holidays, &c.overrides).ok().map(|cal| (name.clone(), cal))
        })
        .collect()
}

/// The policy for a conversation: the first `[[sla.overrides]]` entry that
/// matches, else the queue's `sla`.
pub fn policy_for<'a>(settings: &'a Settings, queue: &str, channel: &str, priority: i32) -> Option<(&'a str, &'a SlaPolicy)> {
    let name = settings
        .sla
        .overrides
        .iter()
        .find(|o| {
            o.queue.as_deref().is_none_or(|q| q == queue)
                && o.channel.as_deref().is_none_or(|c| c == channel)
                && o.min_priority.is_none_or(|p| priority >= p)
        })
        .map(|o| o.policy.as_str())
        .or_else(|| settings.queues.get(queue).and_then(|q| q.sla.as_deref()))?;
    settings.sla.policies.get_key_value(name).map(|(n, p)| (n.as_str(), p))
}

/// The targets of a conversation.
pub fn targets_for(settings: &Settings, queue: &str, channel: &str, priority: i32) -> Targets {
    let policy = policy_for(settings, queue, channel, priority);
    let target = |secs: Option<u64>| {
        let (name, p) = policy?;
        Some(Target { policy: name.to_owned(), calendar: p.calendar.clone(), target_ms: secs? * 1000, warn_at: p.warn_at })
    };
    let reply_window = (channel == Channel::Wechat.as_str()).then(|| {
        let total = WECHAT_WINDOW.as_millis() as u64;
        let warn = settings.sla.wechat_window_warn_secs * 1000;
        Target {
            policy: String::new(),
            calendar: "always".into(),
            target_ms: total,
            warn_at: total.saturating_sub(warn) as f64 / total as f64,
        }
    });
    Targets {
        first_response: target(policy.and_then(|(_, p)| p.first_response_secs)),
        next_response: target(policy.and_then(|(_, p)| p.next_response_secs)),
        resolution: target(policy.and_then(|(_, p)| p.resolution_secs)),
        pause_when_waiting: policy.is_none_or(|(_, p)| p.pause_when_waiting),
        reply_window,
    }
}

/// The first-response deadline of a new conversation (for the queue's
/// earliest-deadline-first order), and its policy name.
pub fn first_deadline(app: &App, queue: &str, channel: Channel, priority: i32, now: DateTime<Utc>) -> (i64, String) {
    let live = app.live();
    let targets = targets_for(&live.settings, queue, channel.as_str(), priority);
    let Some(first) = targets.first_response else { return (0, String::new()) };
    let cal = calendar(&live.calendars, &first.calendar);
    let due = cal.due(now, Duration::from_millis(first.target_ms));
    (due.map_or(0, |d| d.timestamp_millis()), first.policy)
}

fn calendar(calendars: &BTreeMap<String, Calendar>, name: &str) -> Calendar {
    calendars.get(name).cloned().unwrap_or_else(Calendar::always)
}

fn priority_of(record: &ConversationRecord) -> i32 {
    record.get("priority").and_then(|p| p.parse().ok()).unwrap_or(0)
}

fn read(raw: &str) -> Result<Clocks, SlaError> {
    if raw.is_empty() {
        return Ok(Clocks::default());
    }
    serde_json::from_str(raw).map_err(|e| SlaError::Corrupt(e.to_string()))
}

/// Moves a conversation's clocks for `trigger` (idempotent per
/// `trigger_id`) and schedules their timers. (The router, which reads the
/// clocks in its routing step, uses [`plan`] and [`settle`] directly.)
pub async fn observe(app: &App, conversation: &str, trigger: Trigger, trigger_id: &str, now: DateTime<Utc>) -> Result<(), SlaError> {
    if app.sla.is_none() {
        return Ok(());
    }
    let record = app.store.conversation(conversation).await?.unwrap_or_default();
    let field = |k: &str| record.get(k).map_or("", String::as_str);
    let mut clocks = app.store.sla_clocks(conversation).await?;
    for _ in 0..8 {
        let seen = Seen { queue: field("queue"), channel: field("channel"), priority: priority_of(&record), clocks: &clocks };
        let step = plan(app, trigger, trigger_id, now, seen)?;
        let written = match step.write() {
            Some((read, new)) => app.store.sla_replace(conversation, read, new).await?,
            None => true,
        };
        if written {
            return settle(app, conversation, seen, step).await;
        }
        clocks = app.store.sla_clocks(conversation).await?;
    }
    Err(SlaError::Contended)
}

/// What the caller of [`plan`] and [`settle`] read of the conversation.
#[derive(Clone, Copy, Debug)]
pub struct Seen<'a> {
    /// Its queue.
    pub queue: &'a str,
    /// Its channel.
    pub channel: &'a str,
    /// Its priority.
    pub priority: i32,
    /// Its clocks as stored (`""`: none yet).
    pub clocks: &'a str,
}

/// One move of a conversation's clocks, planned from the clocks as read
/// (see [`plan`]), to be written with a compare-and-set and then settled
/// (see [`settle`]).
#[derive(Debug)]
pub struct Step(StepKind);

#[derive(Debug)]
enum StepKind {
    /// No SLA engine.
    Off,
    /// The trigger was applied before (a redelivery): nothing to write.
    Applied(Clocks),
    /// Replace `read` by `new`.
    Write { read: String, new: String, before: Clocks, after: Clocks },
}

impl Step {
    /// The compare-and-set to make: (the clocks as read, the new clocks).
    pub fn write(&self) -> Option<(&str, &str)> {
        match &self.0 {
            StepKind::Write { read, new, .. } => Some((read, new)),
            _ => None,
        }
    }
}

/// Plans the move of the clocks `seen.clocks` for `trigger` (idempotent per
/// `trigger_id`), without writing anything.
pub fn plan(app: &App, trigger: Trigger, trigger_id: &str, now: DateTime<Utc>, seen: Seen<'_>) -> Result<Step, SlaError> {
    if app.sla.is_none() {
        return Ok(Step(StepKind::Off));
    }
    let mut state = read(seen.clocks)?;
    if state.last_trigger == trigger_id {
        return Ok(Step(StepKind::Applied(state)));
    }
    let live = app.live();
    let targets = targets_for(&live.settings, seen.queue, seen.channel, seen.priority);
    let cal = |name: &str| calendar(&live.calendars, name);
    let before = state.clone();
    state.apply(trigger, now, &targets, &cal);
    state.last_trigger = trigger_id.to_owned();
    let new = serde_json::to_string(&state).map_err(|e| SlaError::Corrupt(e.to_string()))?;
    Ok(Step(StepKind::Write { read: seen.clocks.to_owned(), new, before, after: state }))
}

/// After a step's compare-and-set succeeded (or it had nothing to write):
/// counts the clocks that stopped, cancels the timers no longer wanted and
/// schedules the wanted ones.
pub async fn settle(app: &App, conversation: &str, seen: Seen<'_>, step: Step) -> Result<(), SlaError> {
    let Some(sla) = app.sla.as_ref() else { return Ok(()) };
    let (clocks, mut stale) = match step.0 {
        StepKind::Off => return Ok(()),
        // Done before: its step may have stopped short of cancelling, so
        // every timer this state may have had goes.
        StepKind::Applied(state) => {
            let stale = state.all_timer_ids(conversation);
            (state, stale)
        }
        StepKind::Write { before, after, .. } => {
            record_outcomes(app, &before, &after, seen.queue, seen.channel, seen.priority);
            let stale: Vec<String> = before.timers(conversation).into_iter().map(|(id, _)| id).collect();
            (after, stale)
        }
    };
    let wanted = clocks.timers(conversation);
    stale.retain(|id| !wanted.iter().any(|(w, _)| w == id));
    if !stale.is_empty() {
        sla.timers.cancel_many(stale).await?;
    }
    if !wanted.is_empty() {
        let batch: Vec<(String, i64, String)> =
            wanted.into_iter().map(|(id, at)| (id, at.timestamp_millis(), conversation.to_owned())).collect();
        sla.timers.schedule_many(batch).await?;
    }
    Ok(())
}

/// Counts the clocks that stopped in this step (attainment).
fn record_outcomes(app: &App, before: &Clocks, after: &Clocks, queue: &str, channel: &str, priority: i32) {
    for c in &after.clocks {
        let was_running = before.get(c.kind).is_some_and(|b| b.run == c.run && b.state != ClockState::Stopped);
        if c.state == ClockState::Stopped && was_running && c.kind != ClockKind::ReplyWindow {
            app.metrics.sla_clock(queue, channel, &priority.to_string(), c.kind.as_str(), c.outcome().as_str());
            if c.kind == ClockKind::FirstResponse {
                app.metrics.first_response(queue, channel, c.used_ms as f64 / 1000.0);
            }
        }
    }
}

/// After a reload: every running clock is carried over to the new
/// calendars and targets (the time used so far counted on the old ones)
/// and its timers re-planned. Returns how many conversations changed.
pub async fn replan(app: &App, old: &crate::app::Live) -> Result<usize, SlaError> {
    let Some(sla) = app.sla.as_ref() else { return Ok(0) };
    let live = app.live();
    let mut changed = 0;
    for conversation in app.store.sla_conversations().await? {
        let record = app.store.conversation(&conversation).await?.unwrap_or_default();
        let field = |k: &str| record.get(k).cloned().unwrap_or_default();
        let targets = targets_for(&live.settings, &field("queue"), &field("channel"), priority_of(&record));
        let now = Utc::now();
        for _ in 0..8 {
            let raw = app.store.sla_clocks(&conversation).await?;
            let mut state = read(&raw)?;
            if !state.clocks.iter().any(|c| c.state == ClockState::Running) {
                break;
            }
            for c in &mut state.clocks {
                let target = match c.kind {
                    ClockKind::FirstResponse => targets.first_response.as_ref(),
                    ClockKind::NextResponse => targets.next_response.as_ref(),
                    ClockKind::Resolution => targets.resolution.as_ref(),
                    ClockKind::ReplyWindow => targets.reply_window.as_ref(),
                };
                let old_cal = calendar(&old.calendars, &c.calendar);
                let new_cal = calendar(&live.calendars, target.map_or(c.calendar.as_str(), |t| t.calendar.as_str()));
                c.rebase(now, &old_cal, &new_cal, target);
            }
            state.version += 1;
            let json = serde_json::to_string(&state).map_err(|e| SlaError::Corrupt(e.to_string()))?;
            if app.store.sla_replace(&conversation, &raw, &json).await? {
                let wanted: Vec<(String, i64, String)> = state
                    .timers(&conversation)
                    .into_iter()
                    .map(|(id, at)| (id, at.timestamp_millis(), conversation.clone()))
                    .collect();
                sla.timers.schedule_many(wanted).await?;
                changed += 1;
                break;
            }
        }
    }
    Ok(changed)
}

/// The clocks of a conversation as the API shows them.
pub async fn clocks_view(app: &App, conversation: &str) -> Result<Vec<crate::model::SlaClock>, SlaError> {
    let clocks = read(&app.store.sla_clocks(conversation).await?)?;
    let live = app.live();
    let now = Utc::now();
    Ok(clocks
        .clocks
        .iter()
        .map(|c| crate::model::SlaClock {
            clock: c.kind,
            policy: c.policy.clone(),
            calendar: c.calendar.clone(),
            target_secs: c.target_ms as f64 / 1000.0,
            state: c.state,
            outcome: c.outcome(),
            due: c.breach_due,
            warn_at: c.warn_due,
            elapsed_business_secs: c.used(now, &calendar(&live.calendars, &c.calendar)) as f64 / 1000.0,
            warned: c.warned,
            breached: c.breached,
            stopped_at: c.stopped_at,
        })
        .collect())
}

/// Fires this replica's share of SLA timers until `cancel` fires.
pub async fn run(app: Arc<App>, cancel: CancellationToken) {
    let Some(sla) = app.sla.clone() else { return };
    let handler = move |fired: Fired| {
        let app = app.clone();
        async move {
            fire(&app, &fired).await.map_err(|e| {
                tracing::warn!(error = %e, timer = %fired.id, "SLA timer failed; it will fire again");
                e.to_string()
            })
        }
    };
    sla.timers.run(handler, cancel).await;
}

/// One warn or breach timer.
async fn fire(app: &App, fired: &Fired) -> Result<(), SlaError> {
    let Some((conversation, kind, run, stage)) = parse_timer_id(&fired.id) else { return Ok(()) };
    let raw = app.store.sla_clocks(&conversation).await?;
    let state = read(&raw)?;
    let Some(clock) = state.get(kind).filter(|c| c.run == run && c.state == ClockState::Running).cloned() else {
        return Ok(()); // Stopped or restarted since: nothing to say.
    };
    if (stage == Stage::Warning && clock.warned) || (stage == Stage::Breach && clock.breached) {
        return Ok(());
    }
    let record = app.store.conversation(&conversation).await?.unwrap_or_default();
    let live = app.live();
    let policy = live.settings.sla.policies.get(&clock.policy);
    let actions: Vec<Escalation> = match (kind, stage, policy) {
        // The reply window closing: the conversation goes up its queue.
        (ClockKind::ReplyWindow, Stage::Warning, _) => vec![Escalation::RaisePriority { by: 10 }],
        (ClockKind::ReplyWindow, Stage::Breach, _) => vec![],
        (_, Stage::Warning, Some(p)) => p.on_warning.clone(),
        (_, Stage::Breach, Some(p)) => p.on_breach.clone(),
        (_, _, None) => vec![],
    };
    let now = Utc::now();
    let event_type = if stage == Stage::Warning { events::SLA_WARNING } else { events::SLA_BREACHED };
    let used = clock.used(now, &calendar(&live.calendars, &clock.calendar));
    let details = serde_json::json!({
        "clock": kind.as_str(),
        "policy": clock.policy,
        "target_secs": clock.target_ms as f64 / 1000.0,
        "due": clock.breach_due,
        "elapsed_business_secs": used as f64 / 1000.0,
        "escalations": actions.iter().map(describe).collect::<Vec<_>>(),
    });
    // Once per firing: a firing handled again (a crash before the clock
    // was marked) appends nothing new.
    let req = crate::store::EmitRequest {
        event_type,
        conversation: &conversation,
        cause: &fired.firing_id,
        supervisors: actions.contains(&Escalation::Notify),
        sla: Some(details.to_string()),
        ..Default::default()
    };
    if let Some(emitted) = app.store.emit(&req, now.timestamp_millis()).await? {
        crate::outbox::flush_events(app, &emitted.entries).await;
    }
    app.metrics.sla_event(record.get("queue").map_or("", String::as_str), kind.as_str(), if stage == Stage::Warning { "warning" } else { "breach" });
    tracing::info!(conversation = %conversation, clock = kind.as_str(), stage = ?stage, "SLA {}", if stage == Stage::Warning { "warning" } else { "breach" });
    for (i, action) in actions.iter().enumerate() {
        let once = format!("{}:sla:done:{}:{i}", app.store.keys().base(), fired.firing_id);
        if app.store.first_seen(&once, Duration::from_secs(24 * 3600)).await? {
            if let Err(e) = escalate(app, &conversation, &record, action, now).await {
                app.store.release(&once).await?;
                return Err(e);
            }
        }
    }
    // Mark the clock; a concurrent move of the clocks makes us read again.
    for _ in 0..8 {
        let raw = app.store.sla_clocks(&conversation).await?;
        let mut state = read(&raw)?;
        let Some(c) = state.clocks.iter_mut().find(|c| c.kind == kind && c.run == run) else { return Ok(()) };
        match stage {
            Stage::Warning => c.warned = true,
            Stage::Breach => c.breached = true,
        }
        state.version += 1;
        let json = serde_json::to_string(&state).map_err(|e| SlaError::Corrupt(e.to_string()))?;
        if app.store.sla_replace(&conversation, &raw, &json).await? {
            return Ok(());
        }
    }
    Err(SlaError::Contended)
}

fn describe(action: &Escalation) -> String {
    match action {
        Escalation::RaisePriority { by } => format!("raise_priority +{by}"),
        Escalation::Reroute { queue } => format!("reroute {}", queue.as_deref().unwrap_or("overflow")),
        Escalation::Notify => "notify supervisors".into(),
        Escalation::Reoffer => "reoffer".into(),
    }
}

/// Runs one escalation action.
async fn escalate(
    app: &App,
    conversation: &str,
    record: &ConversationRecord,
    action: &Escalation,
    now: DateTime<Utc>,
) -> Result<(), SlaError> {
    let now_ms = now.timestamp_millis();
    match action {
        Escalation::Notify => Ok(()), // The event itself goes to the supervisors.
        Escalation::RaisePriority { by } => {
            app.store.raise_priority(conversation, *by, now_ms).await?;
            Ok(())
        }
        Escalation::Reroute { queue } => {
            let live = app.live();
            let from = record.get("queue").cloned().unwrap_or_default();
            let target = queue.clone().or_else(|| live.settings.queues.get(&from).and_then(|q| q.overflow.clone()));
            let Some(target) = target.filter(|t| *t != from && live.settings.has_queue(t)) else { return Ok(()) };
            if record.get("state").map(String::as_str) != Some("queued") {
                // It is with an agent already; re-routing would take it away.
                return Ok(());
            }
            let why = format!("SLA escalation: re-routed from {from}");
            let (_, events) =
                app.store.reroute(conversation, &TransferTarget::Queue(live.classifier.queue(&target).to_json()), &why, now_ms).await?;
            crate::outbox::flush_events(app, &events).await;
            Ok(())
        }
        Escalation::Reoffer => {
            let (outcome, events) = app.store.reoffer(conversation, now_ms).await?;
            crate::outbox::flush_events(app, &events).await;
            if outcome.from.is_empty() {
                return Ok(());
            }
            crate::routing::drain(app).await?;
            Ok(())
        }
    }
}
