//! The one publisher of events and outbound messages: the outbox.
//!
//! A step that changes a conversation (routing a message, a resolve, an
//! accept, a transfer, a reply, an SLA firing…) appends the events the
//! change implies to an outbox in Redis, in the same script call as the
//! change (`store::outbox`, `lua/lib.lua`). So a committed change always
//! has its events, and nothing is published for a change that did not
//! commit. Then:
//!
//! * the fast path: the step's caller publishes its entries at once
//!   ([`flush`]) and removes those JetStream acknowledged;
//! * the relay ([`relay`], on every replica): entries still there
//!   `outbox.relay_after_ms` after their step (NATS was away, the replica
//!   died in between) are claimed with a lease and published, oldest
//!   first, each conversation's in sequence order.
//!
//! An entry's id is its `Nats-Msg-Id` (`<conversation>:<seq>` for events,
//! the outbound id for replies), so publishing it twice — the fast path and
//! the relay racing, or a removal lost after the ack — is dropped by
//! JetStream's duplicate window (`nats.duplicate_window_secs`, checked
//! longer than the relay's delay and lease), and beyond it by delivery's
//! record of what each target received.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::app::App;
use crate::store::{OutboxEntry, OutboxTarget, StoreError, StreamRef};

/// The subject an entry is published on.
fn subject(app: &App, entry: &OutboxEntry) -> String {
    let subjects = app.bus.subjects();
    match &entry.target {
        OutboxTarget::Event(kind) => subjects.event(kind),
        OutboxTarget::Outbound(channel) => subjects.outbound(*channel),
    }
}

/// Publishes `entries` in order, stopping at the first failure (NATS is
/// away: the relay takes the rest later); the ids that are done: those
/// JetStream acknowledged, and those too large for NATS ever to take,
/// which are dead-lettered instead ([`too_large`]) so that one of them
/// cannot hold back the rest for ever.
async fn publish(app: &App, entries: &[OutboxEntry]) -> Vec<String> {
    let mut done = Vec::with_capacity(entries.len());
    let mut placed = Vec::new();
    for entry in entries {
        match app.bus.publish(subject(app, entry), &entry.id, entry.payload.clone()).await {
            Ok(seq) => {
                done.push(entry.id.clone());
                placed.extend(seq.and_then(|seq| stream_ref(entry, seq)));
            }
            Err(e) if e.is_too_large() => {
                if !too_large(app, entry, &e).await {
                    break;
                }
                done.push(entry.id.clone());
            }
            Err(e) => {
                tracing::warn!(error = %e, entry = %entry.id, "not published now; the outbox relay will publish it");
                break;
            }
        }
    }
    index(app, &placed).await;
    done
}

/// Where a published entry of a conversation went on its stream, for an
/// erase (`crate::privacy`): an event by its id, an outbound message by
/// its `conversation_id`.
fn stream_ref(entry: &OutboxEntry, seq: u64) -> Option<StreamRef> {
    match &entry.target {
        OutboxTarget::Event(_) => {
            let (scope, n) = entry.order_key();
            (!scope.contains(':') && n > 0).then(|| (scope.to_owned(), "events", seq, n))
        }
        OutboxTarget::Outbound(_) => {
            let v: serde_json::Value = serde_json::from_slice(&entry.payload).ok()?;
            let conv = v.get("conversation_id")?.as_str().filter(|c| !c.is_empty())?;
            Some((conv.to_owned(), "outbound", seq, 0))
        }
    }
}

/// Records where conversations' messages went on the streams; those of a
/// conversation erased meanwhile are deleted from the stream at once.
pub async fn index(app: &App, placed: &[StreamRef]) {
    match app.store.index_streams(placed).await {
        Ok(purge) if !purge.is_empty() => {
            if let Err(e) = app.bus.delete_messages(&purge).await {
                tracing::warn!(error = %e, "messages of an erased conversation published meanwhile could not be deleted");
            }
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "published, but not indexed for an erase"),
    }
}

/// An entry over the server's `max_payload`: it was not sent (that would
/// drop the connection for everyone) and never will fit, so it becomes a
/// dead letter of kind `outbox` with its payload and outbox id (for a
/// replay, `crate::replay`), and the outbox moves on.
/// Whether it was recorded (if not, it stays in the outbox for the relay).
async fn too_large(app: &App, entry: &OutboxEntry, e: &crate::bus::BusError) -> bool {
    let id: String = format!("outbox~{}", entry.id)
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || "-_.~:".contains(c) { c } else { '-' })
        .collect();
    let record = serde_json::json!({
        "id": id, "kind": "outbox", "entry": entry.id, "target": subject(app, entry), "reason": e.to_string(),
        "payload": String::from_utf8_lossy(&entry.payload), "at": chrono::Utc::now(),
    });
    match app.store.dead_letter(&id, &record, chrono::Utc::now().timestamp_millis()).await {
        Ok(()) => {
            // An event that will never be on the log must not hold its
            // conversation's later events at delivery (the ordering gap).
            if let (OutboxTarget::Event(_), (scope, seq)) = (&entry.target, entry.order_key()) {
                if seq > 0 {
                    if let Err(e) = app.store.mark_delivered_seq(scope, seq).await {
                        tracing::debug!(error = %e, "cannot move the delivery mark past a dead-lettered event; delivery waits out the gap");
                    }
                }
            }
            tracing::error!(error = %e, entry = %entry.id, "outbox entry too large for NATS; dead-lettered");
            app.metrics.poison("outbox");
            true
        }
        Err(store) => {
            tracing::warn!(error = %store, entry = %entry.id, "outbox entry too large for NATS, and it cannot be dead-lettered now");
            false
        }
    }
}

/// The fast path: publishes a step's entries and removes what JetStream
/// acknowledged, with (in the same Redis round trip) the SLA clocks'
/// compare-and-set `sla` = (conversation, read, new). `Ok(false)` when the
/// clocks changed since they were read. A publish failure is not an error:
/// the entries are committed and the relay publishes them.
pub async fn flush(app: &App, entries: &[OutboxEntry], sla: Option<(&str, &str, &str)>) -> Result<bool, StoreError> {
    let done = publish(app, entries).await;
    app.metrics.outbox_published("fast", done.len());
    app.store.outbox_done(&done, sla).await
}

/// [`flush`] for a step with no SLA part, where a failure to remove what
/// was published only means the relay publishes it again (a duplicate
/// JetStream drops): logged, not returned. Whether every entry was
/// published.
pub async fn flush_events(app: &App, entries: &[OutboxEntry]) -> bool {
    if entries.is_empty() {
        return true;
    }
    let done = publish(app, entries).await;
    app.metrics.outbox_published("fast", done.len());
    let all = done.len() == entries.len();
    if let Err(e) = app.store.outbox_done(&done, None).await {
        tracing::warn!(error = %e, "published, but still in the outbox; the relay will publish it again (a duplicate)");
    }
    all
}

/// Orders a relay batch: each scope's (conversation's) entries by
/// sequence, scopes by their oldest entry's place in the batch (the claim
/// returns oldest first).
fn in_order(mut entries: Vec<OutboxEntry>) -> Vec<OutboxEntry> {
    let mut first_seen = std::collections::HashMap::new();
    for (i, e) in entries.iter().enumerate() {
        first_seen.entry(e.order_key().0.to_owned()).or_insert(i);
    }
    entries.sort_by_key(|e| {
        let (scope, seq) = e.order_key();
        (first_seen.get(scope).copied().unwrap_or(usize::MAX), seq)
    });
    entries
}

/// One look of the relay: claims what is due, publishes it in order,
/// removes what was acknowledged. How many entries it published.
pub async fn relay_once(app: &App) -> Result<usize, StoreError> {
    let o = &app.settings.outbox;
    let now = chrono::Utc::now().timestamp_millis();
    let claimed = app.store.outbox_claim(now, o.relay_after_ms, o.relay_lease_ms, o.relay_batch).await?;
    if claimed.is_empty() {
        return Ok(0);
    }
    let n = claimed.len();
    let done = publish(app, &in_order(claimed)).await;
    app.metrics.outbox_published("relay", done.len());
    app.store.outbox_done(&done, None).await?;
    if done.len() < n {
        tracing::warn!(published = done.len(), claimed = n, "outbox relay: NATS refused; the rest is claimed again after the lease");
    } else {
        tracing::info!(published = n, "outbox relay published entries left behind by their steps");
    }
    Ok(done.len())
}

/// Runs the relay until `cancel` fires. Every replica runs one; their
/// claims are leased, so each entry is normally published by one.
pub async fn relay(app: Arc<App>, cancel: CancellationToken) {
    let mut looks = 0u64;
    loop {
        // A little jitter keeps replicas' relays from looking in lockstep.
        let jitter = rand::random::<u64>() % (app.settings.outbox.relay_interval_ms / 4 + 1);
        let period = app.settings.outbox.interval() + Duration::from_millis(jitter);
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(period) => {}
        }
        match relay_once(&app).await {
            // Published a full batch: there may be more, look again at once.
            Ok(n) if n >= app.settings.outbox.relay_batch => continue,
            Ok(_) => {}
            Err(e) => tracing::debug!(error = %e, "outbox relay: Redis unavailable; looking again"),
        }
        looks += 1;
        if looks % 20 == 0 {
            if let Ok((n, _)) = app.store.outbox_depth().await {
                app.metrics.set_outbox_pending(n);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::OutboxTarget;

    fn entry(id: &str) -> OutboxEntry {
        OutboxEntry { id: id.into(), target: OutboxTarget::Event("t".into()), payload: bytes::Bytes::new() }
    }

    #[test]
    fn a_relay_batch_keeps_each_conversations_sequence() {
        // Claimed oldest first, but a conversation's entries may be tied in
        // time and come back in the zset's lexical order ("C:10" < "C:9").
        let batch = vec![entry("C:10"), entry("D:1"), entry("C:9"), entry("C:11"), entry("D:2")];
        let ids: Vec<String> = in_order(batch).into_iter().map(|e| e.id).collect();
        assert_eq!(ids, ["C:9", "C:10", "C:11", "D:1", "D:2"]);
    }
}
