//! SLA escalations: every replica runs [`run`], which fires its share of
//! the SLA timers (`store::timers`, once across replicas). A timer that
//! fires publishes `switchboard.sla.warning` or `.breached` with the firing
//! id as event id (so it is on the bus once, whichever replica fired it and
//! however often), runs the policy's escalations (each at most once per
//! firing: raise the priority, re-route to the overflow queue, re-offer to
//! another agent, notify the supervisors), then marks the clock warned or
//! breached. The clocks themselves, and how messages move them, are in
//! [`crate::sla`].

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio_util::sync::CancellationToken;

use crate::app::App;
use crate::config::Escalation;
use crate::events;
use crate::commands::escalate::Escalate;
use crate::commands::CommandError;
use crate::sla::clock::{parse_timer_id, ClockKind, ClockState, Stage};
use crate::sla::{calendar, read, SlaError};
use crate::store::timers::Fired;
use crate::store::StoreError;

/// Why a firing failed (the timer fires again).
#[derive(Debug, thiserror::Error)]
enum FireError {
    #[error(transparent)]
    Sla(#[from] SlaError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Command(#[from] CommandError),
    #[error(transparent)]
    Route(#[from] crate::routing::RouteError),
    #[error(transparent)]
    Office(crate::office::OfficeError),
}

/// Fires this replica's share of SLA timers until `cancel` fires.
pub async fn run(app: Arc<App>, cancel: CancellationToken) {
    let timers = app.sla_timers.clone();
    let handler = move |fired: Fired| {
        let app = app.clone();
        async move {
            fire(&app, &fired).await.map_err(|e| {
                tracing::warn!(error = %e, timer = %fired.id, "SLA timer failed; it will fire again");
                e.to_string()
            })
        }
    };
    timers.run(handler, cancel).await;
}

/// One warn or breach timer.
async fn fire(app: &App, fired: &Fired) -> Result<(), FireError> {
    if let Some((conversation, round)) = crate::csat::timer(&fired.id) {
        return Ok(crate::csat::ask(app, conversation, round).await?);
    }
    if let Some((quiet, conversation)) = crate::idle::timer(&fired.id) {
        return Ok(crate::idle::fire(app, quiet, conversation, &fired.payload).await?);
    }
    if let Some(conversation) = fired.id.strip_prefix(crate::office::WAIT_TIMER) {
        return crate::office::waiting_due(app, conversation).await.map_err(FireError::Office);
    }
    let Some((conversation, kind, run, stage)) = parse_timer_id(&fired.id) else { return Ok(()) };
    let raw = app.store.sla_clocks(&conversation).await?;
    let state = read(&raw).map_err(FireError::Sla)?;
    let Some(clock) = state.get(kind).filter(|c| c.run == run && c.state == ClockState::Running).cloned() else {
        return Ok(()); // Stopped or restarted since: nothing to say.
    };
    let step_done = |i: usize| clock.steps.iter().find(|s| s.index == i).is_none_or(|s| s.done);
    let fired_before = match stage {
        Stage::Warning => clock.warned,
        Stage::Breach => clock.breached,
        Stage::Step(i) => step_done(i),
    };
    if fired_before {
        // Marked before; its at-risk entry may not have followed (a crash).
        crate::sla::at_risk_after(app, &conversation, &state, true).await?;
        return Ok(());
    }
    let record = app.store.conversation(&conversation).await?;
    let live = app.live();
    let policy = live.settings.sla.policies.get(&clock.policy);
    let actions: Vec<Escalation> = match (kind, stage, policy) {
        // The reply window closing: the conversation goes up its queue.
        (ClockKind::ReplyWindow, Stage::Warning, _) => vec![Escalation::RaisePriority { by: 10 }],
        (ClockKind::ReplyWindow, Stage::Breach, _) => vec![],
        (_, Stage::Warning, Some(p)) => p.on_warning.clone(),
        (_, Stage::Breach, Some(p)) => p.on_breach.clone(),
        (_, Stage::Step(i), Some(p)) => p.warnings.get(i).map(|w| w.actions.clone()).unwrap_or_default(),
        (_, Stage::Step(_), None) => vec![],
        (_, _, None) => vec![],
    };
    let now = Utc::now();
    let event_type = if stage == Stage::Breach { events::SLA_BREACHED } else { events::SLA_WARNING };
    let share = match stage {
        Stage::Warning => Some(clock.warn_at),
        Stage::Step(i) => clock.steps.iter().find(|s| s.index == i).map(|s| s.at),
        Stage::Breach => None,
    };
    let used = clock.used(now, &calendar(&live.calendars, &clock.calendar));
    let details = serde_json::json!({
        "clock": kind.as_str(),
        "run": clock.run,
        "policy": clock.policy,
        "target_secs": clock.target_ms as f64 / 1000.0,
        "due": clock.breach_due,
        "elapsed_business_secs": used as f64 / 1000.0,
        "escalations": actions.iter().map(describe).collect::<Vec<_>>(),
        "at": share,
        "step": match stage { Stage::Step(i) => Some(i), _ => None },
    });
    let notify: Vec<String> = actions.iter().filter_map(|a| match a { Escalation::Notify { to } => to.clone(), _ => None }).collect();
    // Once per firing: a firing handled again (a crash before the clock
    // was marked) appends nothing new.
    let req = crate::store::EmitRequest {
        event_type,
        conversation: &conversation,
        cause: &fired.firing_id,
        supervisors: actions.contains(&Escalation::Notify { to: None }),
        notify,
        sla: Some(details.to_string()),
        ..Default::default()
    };
    if let Some(emitted) = app.store.emit(&req, now.timestamp_millis()).await? {
        crate::outbox::flush_events(app, &emitted.entries).await;
    }
    let label = if stage == Stage::Breach { "breach" } else { "warning" };
    app.metrics.sla_event(record.as_ref().map_or("", |c| c.queue.as_str()), kind.as_str(), label);
    tracing::info!(conversation = %conversation, clock = kind.as_str(), stage = ?stage, "SLA {label}");
    // A conversation gone since (erased) gets no escalation steps.
    if let Some(record) = &record {
        for (i, action) in actions.iter().enumerate() {
            let once = app.store.keys().escalation_done(&fired.firing_id, i);
            if app.store.first_seen(&once, Duration::from_secs(24 * 3600)).await? {
                let step = Escalate { conversation: &conversation, record, action, now };
                if let Err(e) = step.apply(app).await {
                    app.store.release(&once).await?;
                    return Err(e.into());
                }
            }
        }
    }
    // Mark the clock; a concurrent move of the clocks makes us read again.
    for _ in 0..8 {
        let raw = app.store.sla_clocks(&conversation).await?;
        let mut state = read(&raw).map_err(FireError::Sla)?;
        let Some(c) = state.clocks.iter_mut().find(|c| c.kind == kind && c.run == run) else { return Ok(()) };
        match stage {
            Stage::Warning => c.warned = true,
            Stage::Breach => c.breached = true,
            Stage::Step(i) => c.steps.iter_mut().filter(|s| s.index == i).for_each(|s| s.done = true),
        }
        state.version += 1;
        let json = serde_json::to_string(&state).map_err(|e| FireError::Sla(SlaError::Corrupt(e.to_string())))?;
        if app.store.sla_replace(&conversation, &raw, &json).await? {
            // Warned: at risk until it stops or breaches; breached: no more.
            crate::sla::at_risk_after(app, &conversation, &state, true).await?;
            return Ok(());
        }
    }
    Err(SlaError::Contended.into())
}

fn describe(action: &Escalation) -> String {
    match action {
        Escalation::RaisePriority { by } => format!("raise_priority +{by}"),
        Escalation::Reroute { queue, .. } => format!("reroute {}", queue.as_deref().unwrap_or("overflow")),
        Escalation::Notify { to: None } => "notify supervisors".into(),
        Escalation::Notify { to: Some(list) } => format!("notify {list}"),
        Escalation::Reoffer => "reoffer".into(),
    }
}
