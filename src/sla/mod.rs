//! The SLA clocks of conversations: how events move them ([`clock`]),
//! over the business calendars (`model::calendar`), with their warn and
//! breach timers kept in Redis (`store::timers`).
//!
//! The router (a customer message), the reply route (an agent reply) and
//! the resolve route call [`observe`] (or [`plan`] and [`settle`] around
//! the router's own write): it moves the conversation's clocks (stored as
//! JSON, replaced by compare-and-set so concurrent moves are not lost), and
//! schedules or cancels the warn and breach timers of each clock. Each
//! trigger carries an id (the message id, the outbound id), so a
//! redelivered message moves nothing twice but re-schedules its timers.
//! What happens when a timer fires is in `crate::escalation`.

pub mod clock;

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use switchboard_core::Channel;

use crate::model::calendar::Calendar;
use self::clock::{ClockKind, ClockState, Clocks, Target, Targets, Trigger};
use crate::store::timers;
use crate::app::{App, Live};
use crate::config::{Settings, SlaPolicy};
use crate::model::Conversation;

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
    /// Stored clocks that are not what this version writes.
    #[error("unreadable SLA clocks: {0}")]
    Corrupt(String),
    /// Too many concurrent changes.
    #[error("the clocks kept changing; try again")]
    Contended,
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
    let target = |secs: Option<u64>, clock: &str| {
        let (name, p) = policy?;
        let steps = p.warnings.iter().enumerate().filter(|(_, w)| w.clock.as_deref().is_none_or(|c| c == clock)).map(|(i, w)| (i, w.at)).collect();
        Some(Target { policy: name.to_owned(), calendar: p.calendar.clone(), target_ms: secs? * 1000, warn_at: p.warn_at, steps })
    };
    let reply_window = (channel == Channel::Wechat.as_str()).then(|| {
        let total = WECHAT_WINDOW.as_millis() as u64;
        let warn = settings.sla.wechat_window_warn_secs * 1000;
        Target {
            policy: String::new(),
            calendar: "always".into(),
            target_ms: total,
            warn_at: total.saturating_sub(warn) as f64 / total as f64,
            steps: vec![],
        }
    });
    Targets {
        first_response: target(policy.and_then(|(_, p)| p.first_response_secs), "first_response"),
        next_response: target(policy.and_then(|(_, p)| p.next_response_secs), "next_response"),
        resolution: target(policy.and_then(|(_, p)| p.resolution_secs), "resolution"),
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

pub(crate) fn calendar(calendars: &BTreeMap<String, Calendar>, name: &str) -> Calendar {
    calendars.get(name).cloned().unwrap_or_else(Calendar::always)
}

/// The queue, channel and priority of `conversation` its clocks follow
/// (none, of a conversation gone since).
fn placement(conversation: Option<&Conversation>) -> (String, String, i32) {
    conversation.map_or_else(Default::default, |c| {
        (c.queue.clone(), c.channel.as_str().to_owned(), i32::try_from(c.priority).unwrap_or(0))
    })
}

pub(crate) fn read(raw: &str) -> Result<Clocks, SlaError> {
    if raw.is_empty() {
        return Ok(Clocks::default());
    }
    serde_json::from_str(raw).map_err(|e| SlaError::Corrupt(e.to_string()))
}

/// Moves a conversation's clocks for `trigger` (idempotent per
/// `trigger_id`) and schedules their timers. (The router, which reads the
/// clocks in its routing step, uses [`plan`] and [`settle`] directly.)
pub async fn observe(app: &App, conversation: &str, trigger: Trigger, trigger_id: &str, now: DateTime<Utc>) -> Result<(), SlaError> {
    let (queue, channel, priority) = placement(app.store.conversation(conversation).await?.as_ref());
    let mut clocks = app.store.sla_clocks(conversation).await?;
    for _ in 0..8 {
        let seen = Seen { queue: &queue, channel: &channel, priority, clocks: &clocks };
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
    let timers = &app.sla_timers;
    let mut warned_before = false;
    let (clocks, mut stale) = match step.0 {
        // Done before: its step may have stopped short of cancelling, so
        // every timer this state may have had goes.
        StepKind::Applied(state) => {
            let stale = state.all_timer_ids(conversation);
            (state, stale)
        }
        StepKind::Write { before, after, .. } => {
            record_outcomes(app, &before, &after, seen.queue, seen.channel, seen.priority);
            let stale: Vec<String> = before.timers(conversation).into_iter().map(|(id, _)| id).collect();
            warned_before = before.clocks.iter().any(|c| c.warned);
            (after, stale)
        }
    };
    at_risk_after(app, conversation, &clocks, warned_before).await?;
    let wanted = clocks.timers(conversation);
    stale.retain(|id| !wanted.iter().any(|(w, _)| w == id));
    if !stale.is_empty() {
        timers.cancel_many(stale).await?;
    }
    if !wanted.is_empty() {
        let batch: Vec<(String, i64, String)> =
            wanted.into_iter().map(|(id, at)| (id, at.timestamp_millis(), conversation.to_owned())).collect();
        timers.schedule_many(batch).await?;
    }
    Ok(())
}

/// The clocks of `clocks` at SLA risk (the supervisor's figure): running
/// past their warning and not breached, with their breach due (ms).
pub(crate) fn at_risk(clocks: &Clocks) -> Vec<(&'static str, i64)> {
    clocks
        .clocks
        .iter()
        .filter(|c| c.kind != ClockKind::ReplyWindow && c.state == ClockState::Running && c.warned && !c.breached)
        .filter_map(|c| Some((c.kind.as_str(), c.breach_due?.timestamp_millis())))
        .collect()
}

/// Brings the conversation's entries of `{P}:atrisk` in line with
/// `clocks`, as written. Only a conversation with a clock that warned (now,
/// or before this step when `warned_before`) can have any, so the common
/// step costs no round trip.
pub(crate) async fn at_risk_after(app: &App, conversation: &str, clocks: &Clocks, warned_before: bool) -> Result<(), SlaError> {
    if !warned_before && !clocks.clocks.iter().any(|c| c.warned) {
        return Ok(());
    }
    let kinds = [ClockKind::FirstResponse, ClockKind::NextResponse, ClockKind::Resolution].map(ClockKind::as_str);
    app.store.sync_at_risk(conversation, &at_risk(clocks), &kinds).await?;
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
pub async fn replan(app: &App, old: &Live) -> Result<usize, SlaError> {
    let timers = &app.sla_timers;
    let live = app.live();
    let mut changed = 0;
    for conversation in app.store.sla_conversations().await? {
        let (queue, channel, priority) = placement(app.store.conversation(&conversation).await?.as_ref());
        let targets = targets_for(&live.settings, &queue, &channel, priority);
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
                at_risk_after(app, &conversation, &state, false).await?;
                let wanted: Vec<(String, i64, String)> = state
                    .timers(&conversation)
                    .into_iter()
                    .map(|(id, at)| (id, at.timestamp_millis(), conversation.clone()))
                    .collect();
                timers.schedule_many(wanted).await?;
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
