//! The team's own figures: a consumer of the event log (durable consumer
//! `reports`, shared by the replicas: each event goes to one of them)
//! counts every conversation event into hour buckets in Redis, one atomic
//! script per event (`store/lua/reports.lua`), and [`query`] reads them
//! back for `GET /api/v1/reports/summary` and the dashboard.
//!
//! What is counted, in the UTC hour the fact happened (the event's `time`)
//! and under `all`, the event's queue, its channel and (where one is
//! named) its agent:
//!
//! * **conversations**: opened — a conversation's first event (`seq` 1:
//!   `queued`, `assigned` or `offered`, carrying the first customer
//!   message). Per agent: each conversation once per agent it was assigned
//!   or transferred to. **complaints**: those of them tagged `complaint`
//!   by the rules (read from the conversation at its opening).
//! * **first response**: opening → the first `replied` (the agent who
//!   replied); **next response**: a customer message after a reply (or a
//!   reopening) → the next `replied`; **resolution**: opening (or the last
//!   reopening) → `resolved`. Wall-clock seconds, from the events' `time`;
//!   the SLA clocks count business time separately.
//! * **resolved**, **reopened**, **transferred** (per agent: the agent it
//!   left): one per event.
//! * **SLA clocks** met/breached per clock: each run of a clock once —
//!   breached by its `switchboard.sla.breached` event, or when it stops
//!   (first/next response at a reply, resolution at a resolve) as stored
//!   in the conversation's clocks: `met` unless it went past its target.
//!   A run that restarted before the consumer handled its stop counts only
//!   if it breached.
//! * **satisfaction**: `switchboard.conversation.rated` with `data.score`:
//!   responses, the sum and a count per score.
//!
//! Durations go into a fixed log-bucket histogram ([`histogram`]: √2
//! steps from 1 s): percentiles are within ±19 %.
//!
//! Redelivery: every event id counts once (`{P}:rpt:seen:<id>`). Order:
//! the events of one conversation are counted in their `seq` order (a
//! later one waits, in progress, for the earlier ones, by whichever
//! replica); an event whose predecessor is still missing after the order
//! wait (four ack waits, at least 30 s, from when it reached the log) is
//! counted anyway, with what the conversation's state knows then (a
//! duration whose start is missing is not counted). Undecodable events are
//! terminated and counted in `switchboard_poison_messages_total{stage="reports"}`.

pub mod histogram;
pub mod query;

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{AckKind, Message};
use tokio_util::sync::CancellationToken;

use crate::app::App;
use crate::bus::consume::{ack, decode_or_term, patiently, run_durable};
use crate::events::{self, Event};
use crate::store::{ReportEvent, ReportOutcome, StoreError};

pub use histogram::Percentiles;
pub use query::{last_hour, today, Minute, Row, Today};

/// Events counted at once by one replica.
const WORKERS: usize = 16;

/// Runs the reports consumer until `cancel` fires.
pub async fn run(app: Arc<App>, cancel: CancellationToken) {
    let subjects = app.bus.subjects();
    let (stream, filter) = (subjects.events_stream(), subjects.events_all());
    let stop = cancel.clone();
    run_durable(&app.bus, "reports", stream, filter, WORKERS, cancel, |msg| {
        let (app, stop) = (app.clone(), stop.clone());
        async move { handle(&app, msg, &stop).await }
    })
    .await;
}

/// How long an event waits for its conversation's earlier events before
/// it is counted anyway (as delivery waits: four ack waits, at least 30 s).
fn order_wait(ack_wait_secs: u64) -> Duration {
    Duration::from_secs(ack_wait_secs.saturating_mul(4).max(30))
}

/// Whether the reports count anything of an event of this type.
fn counted_type(t: &str) -> bool {
    [
        events::QUEUED,
        events::ASSIGNED,
        events::OFFERED,
        events::MESSAGE,
        events::REPLIED,
        events::RESOLVED,
        events::REOPENED,
        events::HANDED_OFF,
        events::TRANSFERRED,
        events::SLA_BREACHED,
        events::RATED,
    ]
    .contains(&t)
}

/// What the script needs of an event; `None` for events the reports skip
/// (of no conversation, of a type that counts nothing) so that they take
/// no Redis round trip — except that every event of a conversation with a
/// `seq` must move its order mark, so those are passed on.
fn report_event<'a>(event: &'a Event) -> Option<ReportEvent<'a>> {
    let d = &event.data;
    if d.conversation_id.is_empty() || (event.seq.is_none() && !counted_type(&event.event_type)) {
        return None;
    }
    let breach = d
        .sla
        .as_ref()
        .filter(|_| event.event_type == events::SLA_BREACHED)
        .and_then(|sla| Some((sla.get("clock")?.as_str()?, sla.get("run").and_then(serde_json::Value::as_u64))))
        .filter(|(clock, _)| crate::model::ClockKind::parse(clock).is_some());
    Some(ReportEvent {
        id: &event.id,
        event_type: &event.event_type,
        conversation: &d.conversation_id,
        seq: event.seq.unwrap_or(0),
        time_ms: event.time.timestamp_millis(),
        queue: &d.queue,
        agent: d.agent.as_deref().unwrap_or(""),
        channel: &d.channel,
        from_agent: d.from_agent.as_deref().unwrap_or(""),
        inbound: d.message.as_ref().is_some_and(|m| m.direction == "inbound"),
        score: d.score.filter(|_| event.event_type == events::RATED),
        breach,
        force: false,
    })
}

async fn handle(app: &App, msg: Message, stop: &CancellationToken) {
    let Some(event) = decode_or_term::<Event>(&msg, &app.metrics, "reports").await else { return };
    let Some(mut report) = report_event(&event) else {
        app.metrics.report_event("ignored");
        ack(&msg, AckKind::Ack).await;
        return;
    };
    let on_log_since = msg
        .info()
        .ok()
        .and_then(|i| chrono::DateTime::<chrono::Utc>::from_timestamp(i.published.unix_timestamp(), 0))
        .map(|published| (chrono::Utc::now() - published).to_std().unwrap_or_default())
        .unwrap_or_default();
    let order_wait = order_wait(app.settings.nats.ack_wait_secs);
    let started = tokio::time::Instant::now();
    let retention = app.settings.reports.retention_secs();
    let transient = |e: &StoreError| e.is_transient();
    let mut polls = 0u32;
    loop {
        report.force = on_log_since + started.elapsed() >= order_wait;
        let outcome = patiently(&msg, "reports", &app.metrics, stop, transient, || app.store.report_event(&report, retention)).await;
        match outcome {
            None => return,
            Some(Ok(ReportOutcome::Wait)) => {
                polls += 1;
                let pause = Duration::from_millis(match polls {
                    0..=4 => 2,
                    5..=8 => 10,
                    _ => 50,
                });
                tokio::select! {
                    _ = stop.cancelled() => {
                        ack(&msg, AckKind::Nak(None)).await;
                        return;
                    }
                    _ = tokio::time::sleep(pause) => {}
                }
            }
            Some(Ok(done)) => {
                if report.force && done == ReportOutcome::Counted {
                    tracing::warn!(conversation = %event.data.conversation_id, seq = report.seq, "an earlier event of the conversation never reached the reports; counted out of order");
                }
                app.metrics.report_event(if done == ReportOutcome::Counted { "counted" } else { "duplicate" });
                ack(&msg, AckKind::Ack).await;
                return;
            }
            Some(Err(e)) => {
                // Not counted: redelivered later, when Redis answers again.
                tracing::warn!(error = %e, "cannot count an event into the reports; retrying it");
                ack(&msg, AckKind::Nak(Some(Duration::from_millis(500)))).await;
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(t: &str, seq: Option<u64>, conversation: &str) -> Event {
        let data = events::EventData { conversation_id: conversation.into(), ..Default::default() };
        let mut e = Event::new(t, format!("{conversation}:1"), "/s", chrono::Utc::now(), data);
        e.seq = seq;
        e
    }

    #[test]
    fn events_of_no_conversation_are_skipped() {
        assert!(report_event(&event(events::AGENT_AWAY, Some(3), "")).is_none());
        assert!(report_event(&event(events::REPLIED, None, "")).is_none());
    }

    #[test]
    fn events_with_a_seq_move_the_order_mark_whatever_their_type() {
        assert!(report_event(&event(events::SLA_WARNING, Some(4), "C1")).is_some());
        assert!(report_event(&event(events::SLA_WARNING, None, "C1")).is_none());
        assert!(report_event(&event(events::REPLIED, None, "C1")).is_some());
    }

    #[test]
    fn a_breach_names_its_clock_and_run_and_a_score_only_counts_on_a_rating() {
        let mut e = event(events::SLA_BREACHED, Some(2), "C1");
        e.data.sla = Some(serde_json::json!({"clock": "first_response", "run": 2}));
        assert_eq!(report_event(&e).unwrap().breach, Some(("first_response", Some(2))));
        e.data.sla = Some(serde_json::json!({"clock": "no such clock"}));
        assert_eq!(report_event(&e).unwrap().breach, None);
        let mut r = event(events::RATED, Some(3), "C1");
        r.data.score = Some(4);
        assert_eq!(report_event(&r).unwrap().score, Some(4));
        let mut q = event(events::REPLIED, Some(3), "C1");
        q.data.score = Some(4);
        assert_eq!(report_event(&q).unwrap().score, None);
    }

    #[test]
    fn the_order_wait_outlasts_a_redelivery() {
        assert_eq!(order_wait(5), Duration::from_secs(30));
        assert_eq!(order_wait(30), Duration::from_secs(120));
    }
}
