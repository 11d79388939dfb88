//! Peak alerts (`[alerts]`): every replica runs [`run`], which every
//! `alerts.evaluate_every_secs` reads the live figures and hands each
//! alert's figure and threshold to `lua/alerts.lua`. The alerts' state is in
//! Redis (`{P}:alerts`) and changes only in that script, atomically, so a
//! crossing fires once and resolves once however many replicas evaluate:
//! the replica whose evaluation changes the state appends the
//! `switchboard.ops.alert` event to the outbox in the same step (an event
//! of no conversation, id `ops:<n>`, `data.supervisors = true`, so delivery
//! sends it to the `[sla] supervisors` targets), and publishes it.
//!
//! The alerts, each scoped to a queue or to `all`:
//! * `queue_waiting`: a queue's waiting conversations over `queue_waiting_max`;
//! * `longest_wait`: a queue's longest wait (s) over `longest_wait_secs_max`;
//! * `agents_available`: fewer agents available than `agents_available_min`;
//! * `inbound_surge`: the inbound rate (messages per minute) of the last 5
//!   minutes over `inbound_surge_factor` × the trailing average rate of the
//!   `surge_baseline_hours` before them, and at least
//!   `surge_min_per_minute`. The counts are per minute in Redis
//!   (`{P}:inbound:<minute>`, written by routing), so every replica sees the
//!   same rate.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio_util::sync::CancellationToken;

use crate::app::{App, Live};
use crate::config::AlertsSettings;
use crate::store::{AlertCheck, LiveRead, StoreError};

/// The window of the surge's recent rate, in minutes.
const RECENT_MINUTES: usize = 5;

/// Evaluates the alerts until `cancel` fires.
pub async fn run(app: Arc<App>, cancel: CancellationToken) {
    let every = app.settings.alerts.evaluate_every();
    loop {
        // A little jitter keeps replicas from evaluating in lockstep.
        let jitter = Duration::from_millis(rand::random::<u64>() % (every.as_millis() as u64 / 4 + 1));
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(every + jitter) => {}
        }
        if let Err(e) = evaluate_once(&app).await {
            tracing::debug!(error = %e, "alerts: Redis unavailable; evaluating again later");
        }
    }
}

/// One evaluation: how many alerts fired or resolved by it.
pub async fn evaluate_once(app: &App) -> Result<usize, StoreError> {
    let a = &app.settings.alerts;
    let minutes = if a.inbound_surge_factor > 0.0 { RECENT_MINUTES + a.surge_baseline_hours as usize * 60 } else { 0 };
    let (live, read) = super::read(app, minutes).await?;
    let list = checks(a, &live, &read, Utc::now().timestamp_millis());
    let (clear_ms, warmup_ms) = (a.clear_after_secs.saturating_mul(1000), a.surge_baseline_hours.saturating_mul(3_600_000));
    let (changed, entries) = app.store.evaluate_alerts(&list, clear_ms, warmup_ms, Utc::now().timestamp_millis()).await?;
    if changed > 0 {
        tracing::info!(changed, "peak alerts fired or resolved");
        crate::outbox::flush_events(app, &entries).await;
    }
    Ok(changed)
}

/// Every alert's figure, threshold and whether it is crossed. An alert
/// turned off (threshold 0) is never crossed, so one firing resolves.
pub fn checks(a: &AlertsSettings, live: &Live, read: &LiveRead, now_ms: i64) -> Vec<AlertCheck> {
    let mut out = Vec::new();
    for q in &read.queues {
        let waiting = q.waiting as f64;
        let max = a.queue_waiting_max as f64;
        out.push(AlertCheck { alert: "queue_waiting", scope: q.queue.clone(), figure: waiting, threshold: max, over: max > 0.0 && waiting > max });
        let wait = if q.oldest_ms > 0 { ((now_ms - q.oldest_ms).max(0) / 1000) as f64 } else { 0.0 };
        let max = a.longest_wait_secs_max as f64;
        out.push(AlertCheck { alert: "longest_wait", scope: q.queue.clone(), figure: wait, threshold: max, over: max > 0.0 && wait > max });
    }
    let configured = |agent: &str| live.settings.agents.contains_key(agent);
    let available = read.agents.iter().filter(|ag| configured(&ag.agent) && ag.status == "available").count() as f64;
    let min = a.agents_available_min as f64;
    out.push(AlertCheck { alert: "agents_available", scope: "all".into(), figure: available, threshold: min, over: min > 0.0 && available < min });
    let (rate, baseline) = rates(&read.inbound, a.surge_baseline_hours as usize * 60);
    let threshold = (a.inbound_surge_factor * baseline).max(a.surge_min_per_minute);
    let over = a.inbound_surge_factor > 0.0 && rate >= a.surge_min_per_minute && rate > a.inbound_surge_factor * baseline;
    out.push(AlertCheck { alert: "inbound_surge", scope: "all".into(), figure: round2(rate), threshold: round2(threshold), over });
    out
}

/// (messages per minute over the last 5 minutes, the average per minute of
/// the `baseline_minutes` before them) from per-minute counts, this minute
/// first.
fn rates(counts: &[u64], baseline_minutes: usize) -> (f64, f64) {
    let recent: u64 = counts.iter().take(RECENT_MINUTES).sum();
    let before: u64 = counts.iter().skip(RECENT_MINUTES).take(baseline_minutes).sum();
    (recent as f64 / RECENT_MINUTES as f64, before as f64 / baseline_minutes.max(1) as f64)
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{AgentLive, QueueLive};

    fn settings(extra: &str) -> crate::config::Settings {
        crate::config::Loader::new()
            .without_env()
            .overlay(format!("[queues.general]\n[agents.alice]\ntoken = \"a\"\n[agents.bob]\ntoken = \"b\"\n{extra}"))
            .load()
            .unwrap_or_else(|p| panic!("{p}"))
    }

    fn find<'a>(list: &'a [AlertCheck], alert: &str, scope: &str) -> &'a AlertCheck {
        list.iter().find(|c| c.alert == alert && c.scope == scope).unwrap_or_else(|| panic!("no {alert} {scope}"))
    }

    #[test]
    fn thresholds_cross_only_when_on() {
        let s = settings("[alerts]\nqueue_waiting_max = 2\nlongest_wait_secs_max = 60\nagents_available_min = 2\n");
        let live = Live::new(s.clone());
        let now = 10_000_000;
        let read = LiveRead {
            queues: vec![QueueLive { queue: "general".into(), waiting: 3, oldest_ms: now - 61_000 }],
            agents: vec![
                AgentLive { agent: "alice".into(), status: "available".into(), ..Default::default() },
                AgentLive { agent: "bob".into(), status: "away".into(), ..Default::default() },
            ],
            ..Default::default()
        };
        let list = checks(&s.alerts, &live, &read, now);
        assert!(find(&list, "queue_waiting", "general").over);
        assert_eq!(find(&list, "longest_wait", "general").figure, 61.0);
        assert!(find(&list, "longest_wait", "general").over);
        assert!(find(&list, "agents_available", "all").over);
        assert!(!find(&list, "inbound_surge", "all").over, "no inbound traffic is no surge");
        // Off: never crossed, whatever the figure.
        let off = settings("[alerts]\nqueue_waiting_max = 0\nlongest_wait_secs_max = 0\n");
        let list = checks(&off.alerts, &Live::new(off.clone()), &read, now);
        assert!(!find(&list, "queue_waiting", "general").over && !find(&list, "longest_wait", "general").over);
        assert!(!find(&list, "agents_available", "all").over);
    }

    #[test]
    fn a_surge_is_the_recent_rate_against_the_trailing_average() {
        let s = settings("[alerts]\ninbound_surge_factor = 3.0\nsurge_baseline_hours = 1\nsurge_min_per_minute = 5\n");
        let live = Live::new(s.clone());
        // 60 baseline minutes at 4 a minute; the last 5 at 13 a minute.
        let mut counts = vec![13u64; 5];
        counts.extend(std::iter::repeat_n(4, 60));
        let read = LiveRead { inbound: counts.clone(), ..Default::default() };
        let surge = find(&checks(&s.alerts, &live, &read, 0), "inbound_surge", "all").clone();
        assert_eq!((surge.figure, surge.threshold, surge.over), (13.0, 12.0, true));
        // 11 a minute is under 3 × 4.
        counts[..5].fill(11);
        let read = LiveRead { inbound: counts, ..Default::default() };
        assert!(!find(&checks(&s.alerts, &live, &read, 0), "inbound_surge", "all").over);
        // From a quiet baseline, the minimum rate decides.
        let read = LiveRead { inbound: vec![4; 5], ..Default::default() };
        assert!(!find(&checks(&s.alerts, &live, &read, 0), "inbound_surge", "all").over);
        let read = LiveRead { inbound: vec![5; 5], ..Default::default() };
        assert!(find(&checks(&s.alerts, &live, &read, 0), "inbound_surge", "all").over);
    }
}
