//! The SLA clocks of one conversation and how conversation events move
//! them. Pure: time and calendars come in as arguments, so every rule is
//! unit-tested exactly; the engine (`super`) stores the state in Redis and
//! turns each clock's warn and breach instants into timers.
//!
//! - **first response**: from the first customer message of a conversation
//!   (or of its reopening) to the first agent reply;
//! - **next response**: from a customer message that follows an agent
//!   reply to the next agent reply;
//! - **resolution**: from the opening to the resolve; paused while the
//!   conversation waits on the customer when the policy says so;
//! - **reply window**: WeChat's own 48-hour window for customer-service
//!   messages, restarted by every customer message, always on the clock.
//!
//! A clock counts business time only (its policy's calendar). Once
//! breached it keeps its outcome; a stopped clock is `met` when the time
//! used was within the target.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::calendar::Calendar;

pub use crate::model::{ClockKind, ClockState};

/// One clock.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Clock {
    /// Which clock.
    pub kind: ClockKind,
    /// Its run: a next-response clock restarts with every new exchange, a
    /// reopened conversation starts new runs; timers carry the run so an
    /// old run's timer never fires on a new one.
    pub run: u32,
    /// The policy (`""` for the reply window).
    pub policy: String,
    /// The calendar name (`always` for the reply window).
    pub calendar: String,
    /// The target in business milliseconds.
    pub target_ms: u64,
    /// Share of the target at which to warn.
    pub warn_at: f64,
    /// State.
    pub state: ClockState,
    /// When the clock (re)started counting.
    pub since: DateTime<Utc>,
    /// Business milliseconds used before `since` (earlier, paused spans).
    pub used_ms: u64,
    /// When the warning is due, while running and not warned.
    pub warn_due: Option<DateTime<Utc>>,
    /// When the breach is due, while running and not breached.
    pub breach_due: Option<DateTime<Utc>>,
    /// Whether the warning fired.
    pub warned: bool,
    /// Whether the breach fired (or the clock stopped past its target).
    pub breached: bool,
    /// When it stopped.
    pub stopped_at: Option<DateTime<Utc>>,
    /// The policy's further warning thresholds for this clock (its
    /// `warnings` ladder), each fired once per run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<Step>,
}

/// One further warning threshold of a clock.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// Its index in the policy's `warnings`.
    pub index: usize,
    /// Share of the target.
    pub at: f64,
    /// When it is due, while running and not fired.
    pub due: Option<DateTime<Utc>>,
    /// Whether it fired.
    pub done: bool,
}

impl Clock {
    /// A clock starting at `now`.
    pub fn start(kind: ClockKind, run: u32, target: &Target, now: DateTime<Utc>, cal: &Calendar) -> Clock {
        let mut clock = Clock {
            kind,
            run,
            policy: target.policy.clone(),
            calendar: target.calendar.clone(),
            target_ms: target.target_ms,
            warn_at: target.warn_at,
            state: ClockState::Running,
            since: now,
            used_ms: 0,
            warn_due: None,
            breach_due: None,
            warned: false,
            breached: false,
            stopped_at: None,
            steps: target.steps.iter().map(|&(index, at)| Step { index, at, due: None, done: false }).collect(),
        };
        clock.plan(cal);
        clock
    }

    /// Business time used up to `now`.
    pub fn used(&self, now: DateTime<Utc>, cal: &Calendar) -> u64 {
        let running = match self.state {
            ClockState::Running => millis(cal.business_time(self.since, now)),
            ClockState::Paused | ClockState::Stopped => 0,
        };
        self.used_ms.saturating_add(running)
    }

    /// Stops counting (pause or stop), keeping the time used.
    fn halt(&mut self, now: DateTime<Utc>, cal: &Calendar, state: ClockState) {
        if self.state == ClockState::Running {
            self.used_ms = self.used(now, cal);
        }
        self.state = state;
        self.warn_due = None;
        self.breach_due = None;
        for step in &mut self.steps {
            step.due = None;
        }
        if state == ClockState::Stopped {
            self.stopped_at = Some(now);
            if self.used_ms > self.target_ms {
                self.breached = true;
            }
        }
    }

    /// Resumes a paused clock at `now`.
    fn resume(&mut self, now: DateTime<Utc>, cal: &Calendar) {
        if self.state == ClockState::Paused {
            self.state = ClockState::Running;
            self.since = now;
            self.plan(cal);
        }
    }

    /// Works out the warn and breach instants of a running clock from the
    /// business time left.
    fn plan(&mut self, cal: &Calendar) {
        let left = |at_ms: u64| Duration::from_millis(at_ms.saturating_sub(self.used_ms));
        let warn_ms = (self.target_ms as f64 * self.warn_at) as u64;
        self.warn_due = (!self.warned).then(|| cal.due(self.since, left(warn_ms))).flatten();
        self.breach_due = (!self.breached).then(|| cal.due(self.since, left(self.target_ms))).flatten();
        for step in &mut self.steps {
            let at_ms = (self.target_ms as f64 * step.at) as u64;
            step.due = (!step.done).then(|| cal.due(self.since, left(at_ms))).flatten();
        }
    }

    /// Carries a running clock over to a new configuration at `now`: the
    /// business time used so far is counted on the calendar it ran on
    /// (`old`), the rest is planned on `new` with the policy's new target
    /// (`target`, if the policy still has one).
    pub fn rebase(&mut self, now: DateTime<Utc>, old: &Calendar, new: &Calendar, target: Option<&Target>) {
        if self.state != ClockState::Running {
            return;
        }
        self.used_ms = self.used(now, old);
        self.since = now;
        if let Some(t) = target {
            self.target_ms = t.target_ms;
            self.warn_at = t.warn_at;
            self.calendar = t.calendar.clone();
            let done = |index: usize| self.steps.iter().any(|s| s.index == index && s.done);
            self.steps = t.steps.iter().map(|&(index, at)| Step { index, at, due: None, done: done(index) }).collect();
        }
        self.plan(new);
    }

    /// `met`, `breached`, or `running`/`paused` while undecided.
    pub fn outcome(&self) -> crate::model::SlaOutcome {
        use crate::model::SlaOutcome;
        match (self.state, self.breached) {
            (_, true) => SlaOutcome::Breached,
            (ClockState::Stopped, false) => SlaOutcome::Met,
            (ClockState::Running, false) => SlaOutcome::Running,
            (ClockState::Paused, false) => SlaOutcome::Paused,
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// One target of a policy.
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    /// Policy name.
    pub policy: String,
    /// Calendar name.
    pub calendar: String,
    /// Business milliseconds.
    pub target_ms: u64,
    /// Share at which to warn.
    pub warn_at: f64,
    /// Further warning thresholds: (index in the policy's `warnings`, share).
    pub steps: Vec<(usize, f64)>,
}

/// The targets that apply to a conversation (from its policy).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Targets {
    /// First response.
    pub first_response: Option<Target>,
    /// Next response.
    pub next_response: Option<Target>,
    /// Resolution.
    pub resolution: Option<Target>,
    /// Pause resolution while waiting on the customer.
    pub pause_when_waiting: bool,
    /// WeChat's reply window, for WeChat conversations.
    pub reply_window: Option<Target>,
}

/// All clocks of one conversation, as stored.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Clocks {
    /// Bumped by every change (optimistic concurrency in Redis).
    pub version: u64,
    /// The clocks, the latest run of each kind.
    pub clocks: Vec<Clock>,
    /// Whether a customer message waits for an agent reply.
    pub awaiting_reply: bool,
    /// Whether the first response of the current run happened.
    pub responded: bool,
    /// The id of the last trigger applied (a redelivered trigger is not
    /// applied twice).
    #[serde(default)]
    pub last_trigger: String,
}

/// What happened to the conversation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// A customer message (the first one opens the clocks).
    CustomerMessage,
    /// The conversation was reopened by a customer message.
    Reopened,
    /// An agent replied.
    AgentReply,
    /// Resolved.
    Resolved,
}

impl Clocks {
    /// The clock of `kind`, if any.
    pub fn get(&self, kind: ClockKind) -> Option<&Clock> {
        self.clocks.iter().find(|c| c.kind == kind)
    }

    fn get_mut(&mut self, kind: ClockKind) -> Option<&mut Clock> {
        self.clocks.iter_mut().find(|c| c.kind == kind)
    }

    /// Replaces (or adds) the clock of its kind with a new run.
    fn restart(&mut self, kind: ClockKind, target: Option<&Target>, now: DateTime<Utc>, calendar: &dyn Fn(&str) -> Calendar) {
        let Some(target) = target else { return };
        let run = self.get(kind).map_or(1, |c| c.run + 1);
        let clock = Clock::start(kind, run, target, now, &calendar(&target.calendar));
        self.clocks.retain(|c| c.kind != kind);
        self.clocks.push(clock);
    }

    /// Moves the clocks for `trigger` at `now`. `calendar` maps a calendar
    /// name to the calendar (unknown names count as `always`).
    pub fn apply(&mut self, trigger: Trigger, now: DateTime<Utc>, targets: &Targets, calendar: &dyn Fn(&str) -> Calendar) {
        self.version += 1;
        let halt = |clocks: &mut Clocks, kind: ClockKind, state: ClockState| {
            if let Some(c) = clocks.get_mut(kind) {
                if c.state != ClockState::Stopped {
                    let cal = calendar(&c.calendar);
                    c.halt(now, &cal, state);
                }
            }
        };
        match trigger {
            Trigger::CustomerMessage | Trigger::Reopened => {
                let fresh = trigger == Trigger::Reopened || self.get(ClockKind::FirstResponse).is_none() && !self.responded;
                if fresh {
                    self.responded = false;
                    self.restart(ClockKind::FirstResponse, targets.first_response.as_ref(), now, calendar);
                    self.restart(ClockKind::Resolution, targets.resolution.as_ref(), now, calendar);
                    self.clocks.retain(|c| c.kind != ClockKind::NextResponse);
                } else if self.responded && !self.awaiting_reply {
                    self.restart(ClockKind::NextResponse, targets.next_response.as_ref(), now, calendar);
                }
                if let Some(c) = self.get_mut(ClockKind::Resolution) {
                    let cal = calendar(&c.calendar);
                    c.resume(now, &cal);
                }
                self.restart(ClockKind::ReplyWindow, targets.reply_window.as_ref(), now, calendar);
                self.awaiting_reply = true;
            }
            Trigger::AgentReply => {
                halt(self, ClockKind::FirstResponse, ClockState::Stopped);
                halt(self, ClockKind::NextResponse, ClockState::Stopped);
                if targets.pause_when_waiting {
                    halt(self, ClockKind::Resolution, ClockState::Paused);
                }
                self.responded = true;
                self.awaiting_reply = false;
            }
            Trigger::Resolved => {
                for kind in [ClockKind::FirstResponse, ClockKind::NextResponse, ClockKind::Resolution, ClockKind::ReplyWindow] {
                    halt(self, kind, ClockState::Stopped);
                }
                self.awaiting_reply = false;
            }
        }
    }

    /// The timers the clocks need now: `(timer id, due)` for each pending
    /// warning and breach of a running clock. Ids are
    /// `<conversation>|<kind>|<run>|warn` or `…|breach`.
    pub fn timers(&self, conversation: &str) -> Vec<(String, DateTime<Utc>)> {
        let mut out = Vec::new();
        for c in &self.clocks {
            if c.state != ClockState::Running {
                continue;
            }
            if let Some(at) = c.warn_due.filter(|_| !c.warned) {
                out.push((timer_id(conversation, c.kind, c.run, Stage::Warning), at));
            }
            if let Some(at) = c.breach_due.filter(|_| !c.breached) {
                out.push((timer_id(conversation, c.kind, c.run, Stage::Breach), at));
            }
            for step in c.steps.iter().filter(|s| !s.done) {
                if let Some(at) = step.due {
                    out.push((timer_id(conversation, c.kind, c.run, Stage::Step(step.index)), at));
                }
            }
        }
        out
    }

    /// Every timer id any clock of this state may have scheduled (to cancel
    /// what is no longer needed).
    pub fn all_timer_ids(&self, conversation: &str) -> Vec<String> {
        self.clocks
            .iter()
            .flat_map(|c| {
                let steps = c.steps.iter().map(|s| Stage::Step(s.index));
                [Stage::Warning, Stage::Breach].into_iter().chain(steps).map(|s| timer_id(conversation, c.kind, c.run, s))
            })
            .collect()
    }
}

/// Warning or breach.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// `warn_at` of the target.
    Warning,
    /// The target.
    Breach,
    /// A further warning threshold (its index in the policy's `warnings`).
    Step(usize),
}

/// The id of a clock's timer.
pub fn timer_id(conversation: &str, kind: ClockKind, run: u32, stage: Stage) -> String {
    let kind = kind.as_str();
    match stage {
        Stage::Warning => format!("{conversation}|{kind}|{run}|warn"),
        Stage::Breach => format!("{conversation}|{kind}|{run}|breach"),
        Stage::Step(i) => format!("{conversation}|{kind}|{run}|step{i}"),
    }
}

/// The parts of a timer id.
pub fn parse_timer_id(id: &str) -> Option<(String, ClockKind, u32, Stage)> {
    let mut parts = id.split('|');
    let conversation = parts.next()?.to_owned();
    let kind = ClockKind::parse(parts.next()?)?;
    let run = parts.next()?.parse().ok()?;
    let stage = match parts.next()? {
        "warn" => Stage::Warning,
        "breach" => Stage::Breach,
        other => Stage::Step(other.strip_prefix("step")?.parse().ok()?),
    };
    parts.next().is_none().then_some((conversation, kind, run, stage))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::BTreeMap;

    use chrono::TimeZone;

    use super::*;

    fn office() -> Calendar {
        let hours: BTreeMap<String, Vec<String>> =
            ["mon", "tue", "wed", "thu", "fri"].iter().map(|d| (d.to_string(), vec!["09:00-18:00".to_owned()])).collect();
        Calendar::parse("Asia/Shanghai", &hours, &[], &BTreeMap::new()).unwrap()
    }

    fn calendars(name: &str) -> Calendar {
        if name == "office" {
            office()
        } else {
            Calendar::always()
        }
    }

    fn target(secs: u64, calendar: &str) -> Target {
        Target { policy: "p".into(), calendar: calendar.into(), target_ms: secs * 1000, warn_at: 0.5, steps: vec![] }
    }

    fn targets() -> Targets {
        Targets {
            first_response: Some(target(60, "always")),
            next_response: Some(target(120, "always")),
            resolution: Some(target(3600, "always")),
            pause_when_waiting: true,
            reply_window: None,
        }
    }

    fn t(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + secs, 0).unwrap()
    }

    #[test]
    fn first_response_starts_with_the_first_message_and_stops_at_the_reply() {
        let mut c = Clocks::default();
        c.apply(Trigger::CustomerMessage, t(0), &targets(), &calendars);
        let first = c.get(ClockKind::FirstResponse).unwrap();
        assert_eq!((first.warn_due, first.breach_due), (Some(t(30)), Some(t(60))));
        assert_eq!(c.timers("c1").len(), 4, "first response and resolution, warn and breach each");
        // A second customer message before any reply changes nothing.
        let before = c.get(ClockKind::FirstResponse).cloned();
        c.apply(Trigger::CustomerMessage, t(10), &targets(), &calendars);
        assert_eq!(c.get(ClockKind::FirstResponse).cloned(), before);
        c.apply(Trigger::AgentReply, t(20), &targets(), &calendars);
        let first = c.get(ClockKind::FirstResponse).unwrap();
        assert_eq!((first.outcome().as_str(), first.used_ms), ("met", 20_000));
        let resolution = c.get(ClockKind::Resolution).unwrap();
        assert_eq!(resolution.state, ClockState::Paused, "waiting on the customer");
        assert!(c.timers("c1").is_empty(), "nothing runs while waiting on the customer");
    }

    #[test]
    fn further_warning_steps_are_planned_paused_and_resumed_with_their_clock() {
        let mut targets = targets();
        targets.resolution = Some(Target { steps: vec![(0, 0.8), (1, 0.9)], ..target(1000, "always") });
        let mut c = Clocks::default();
        c.apply(Trigger::CustomerMessage, t(0), &targets, &calendars);
        let res = c.get(ClockKind::Resolution).unwrap();
        assert_eq!(res.steps.iter().map(|s| s.due).collect::<Vec<_>>(), vec![Some(t(800)), Some(t(900))]);
        let ids: Vec<String> = c.timers("c1").into_iter().map(|(id, _)| id).collect();
        assert!(ids.contains(&"c1|resolution|1|step0".to_owned()) && ids.contains(&"c1|resolution|1|step1".to_owned()), "{ids:?}");
        // Paused at 100 s while waiting on the customer, resumed at 300 s: 100 s used.
        c.apply(Trigger::AgentReply, t(100), &targets, &calendars);
        assert!(c.get(ClockKind::Resolution).unwrap().steps.iter().all(|s| s.due.is_none()));
        c.apply(Trigger::CustomerMessage, t(300), &targets, &calendars);
        let res = c.get(ClockKind::Resolution).unwrap();
        assert_eq!(res.steps[0].due, Some(t(1000)), "800 s of business time, 100 s used before the pause");
        assert!(c.all_timer_ids("c1").contains(&"c1|resolution|1|step1".to_owned()));
    }

    #[test]
    fn next_response_restarts_per_exchange_and_resolution_resumes() {
        let mut c = Clocks::default();
        c.apply(Trigger::CustomerMessage, t(0), &targets(), &calendars);
        c.apply(Trigger::AgentReply, t(20), &targets(), &calendars);
        c.apply(Trigger::CustomerMessage, t(100), &targets(), &calendars);
        let next = c.get(ClockKind::NextResponse).unwrap();
        assert_eq!((next.run, next.breach_due), (1, Some(t(220))));
        let resolution = c.get(ClockKind::Resolution).unwrap();
        // 20 s used before the pause; 3580 s left from t(100).
        assert_eq!((resolution.state, resolution.breach_due), (ClockState::Running, Some(t(100 + 3580))));
        c.apply(Trigger::AgentReply, t(400), &targets(), &calendars);
        assert_eq!(c.get(ClockKind::NextResponse).unwrap().outcome().as_str(), "breached", "300 s used of 120");
        c.apply(Trigger::CustomerMessage, t(500), &targets(), &calendars);
        assert_eq!(c.get(ClockKind::NextResponse).unwrap().run, 2);
        c.apply(Trigger::Resolved, t(600), &targets(), &calendars);
        let resolution = c.get(ClockKind::Resolution).unwrap();
        assert_eq!((resolution.outcome().as_str(), resolution.used_ms), ("met", 20_000 + 300_000 + 100_000));
        assert!(c.timers("c1").is_empty());
    }

    #[test]
    fn business_hours_clocks_skip_the_night_and_the_weekend() {
        let mut targets = targets();
        targets.first_response = Some(Target { warn_at: 0.8, ..target(4 * 3600, "office") });
        let mut c = Clocks::default();
        // Friday 2027-01-15 17:50 in Shanghai (09:50 UTC).
        let friday = Utc.with_ymd_and_hms(2027, 1, 15, 9, 50, 0).unwrap();
        c.apply(Trigger::CustomerMessage, friday, &targets, &calendars);
        let first = c.get(ClockKind::FirstResponse).unwrap();
        // Monday 12:50 Shanghai = 04:50 UTC; warning at 80 % (3 h 12 min): Monday 12:02.
        assert_eq!(first.breach_due, Some(Utc.with_ymd_and_hms(2027, 1, 18, 4, 50, 0).unwrap()));
        assert_eq!(first.warn_due, Some(Utc.with_ymd_and_hms(2027, 1, 18, 4, 2, 0).unwrap()));
        // Replied Monday 09:30 local: 40 business minutes used.
        c.apply(Trigger::AgentReply, Utc.with_ymd_and_hms(2027, 1, 18, 1, 30, 0).unwrap(), &targets, &calendars);
        assert_eq!(c.get(ClockKind::FirstResponse).unwrap().used_ms, 40 * 60 * 1000);
    }

    #[test]
    fn a_reopened_conversation_starts_new_runs() {
        let mut c = Clocks::default();
        c.apply(Trigger::CustomerMessage, t(0), &targets(), &calendars);
        c.apply(Trigger::AgentReply, t(10), &targets(), &calendars);
        c.apply(Trigger::Resolved, t(20), &targets(), &calendars);
        c.apply(Trigger::Reopened, t(1000), &targets(), &calendars);
        let first = c.get(ClockKind::FirstResponse).unwrap();
        assert_eq!((first.run, first.state, first.breach_due), (2, ClockState::Running, Some(t(1060))));
        assert_eq!(c.get(ClockKind::Resolution).unwrap().run, 2);
        let ids: Vec<String> = c.timers("c1").into_iter().map(|(id, _)| id).collect();
        assert!(ids.contains(&"c1|first_response|2|breach".to_owned()), "{ids:?}");
    }

    #[test]
    fn the_reply_window_restarts_with_every_customer_message() {
        let mut targets = targets();
        targets.reply_window = Some(Target { policy: String::new(), calendar: "always".into(), target_ms: 48 * 3600 * 1000, warn_at: 44.0 / 48.0, steps: vec![] });
        let mut c = Clocks::default();
        c.apply(Trigger::CustomerMessage, t(0), &targets, &calendars);
        c.apply(Trigger::AgentReply, t(10), &targets, &calendars);
        let window = c.get(ClockKind::ReplyWindow).unwrap();
        assert_eq!(window.state, ClockState::Running, "replies do not stop the window");
        assert_eq!(window.warn_due, Some(t(44 * 3600)));
        c.apply(Trigger::CustomerMessage, t(3600), &targets, &calendars);
        let window = c.get(ClockKind::ReplyWindow).unwrap();
        assert_eq!((window.run, window.breach_due), (2, Some(t(3600 + 48 * 3600))));
    }

    #[test]
    fn a_reloaded_calendar_plans_the_rest_of_a_running_clock() {
        let mut c = Clocks::default();
        let mut policy = targets();
        policy.first_response = Some(Target { warn_at: 0.5, ..target(4 * 3600, "always") });
        c.apply(Trigger::CustomerMessage, t(0), &policy, &calendars);
        // After 1 h on `always`, the policy moves to office hours with a 2 h target.
        let now = Utc.with_ymd_and_hms(2027, 1, 15, 9, 50, 0).unwrap(); // Friday 17:50 Shanghai
        let mut first = c.get(ClockKind::FirstResponse).unwrap().clone();
        first.since = now - chrono::TimeDelta::hours(1);
        first.rebase(now, &Calendar::always(), &office(), Some(&Target { warn_at: 0.5, ..target(2 * 3600, "office") }));
        assert_eq!(first.used_ms, 3600 * 1000);
        // 1 h left of business time from Friday 17:50: Monday 09:50 local (01:50 UTC).
        assert_eq!(first.breach_due, Some(Utc.with_ymd_and_hms(2027, 1, 18, 1, 50, 0).unwrap()));
        assert_eq!((first.calendar.as_str(), first.target_ms), ("office", 2 * 3600 * 1000));
    }

    #[test]
    fn timer_ids_round_trip() {
        let step = timer_id("01HF", ClockKind::Resolution, 2, Stage::Step(1));
        assert_eq!(parse_timer_id(&step), Some(("01HF".into(), ClockKind::Resolution, 2, Stage::Step(1))));
        assert_eq!(parse_timer_id("01HF|resolution|2|stepx"), None);
        let id = timer_id("01HF", ClockKind::NextResponse, 3, Stage::Breach);
        assert_eq!(id, "01HF|next_response|3|breach");
        assert_eq!(parse_timer_id(&id), Some(("01HF".into(), ClockKind::NextResponse, 3, Stage::Breach)));
        for bad in ["", "a|b", "a|first_response|x|warn", "a|first_response|1|late", "a|first_response|1|warn|x"] {
            assert_eq!(parse_timer_id(bad), None, "{bad}");
        }
    }
}
