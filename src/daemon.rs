//! Wiring: [`run`] builds one instance's [`App`], starts its workers and
//! HTTP listener, serves until the cancellation token fires, and then
//! drains within the bound.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::app::{App, Live};
use crate::bus::{Bus, BusError};
use crate::config::Settings;
use crate::health::{self, Readiness};
use crate::senders::Senders;
use crate::store::{Store, StoreError};
use crate::targets::Targets;
use crate::telemetry::Metrics;

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// NATS options are unusable.
    #[error(transparent)]
    Bus(#[from] BusError),
    /// Redis options are unusable.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A provider sender could not be built.
    #[error("cannot set up a provider sender: {0}")]
    Sender(String),
    /// The web chat channel could not be set up.
    #[error("cannot set up the web chat: {0}")]
    Webchat(String),
    /// The delivery HTTP client could not be built.
    #[error("cannot set up delivery: {0}")]
    Delivery(#[from] reqwest::Error),
}

/// Installs the data keys (`[security]`), or warns when a listener off
/// loopback suggests production and nothing is encrypted at rest.
fn install_keys(settings: &Settings) {
    let keyring = settings.security.keyring();
    match &keyring {
        Some(k) => tracing::info!(keys = ?k.ids(), current = k.current(), "encryption at rest on"),
        None if !settings.server.listen.ip().is_loopback() => tracing::warn!(
            listen = %settings.server.listen,
            "[security] data_keys is empty: customer messages, notes and CSAT comments are stored in plain text"
        ),
        None => {}
    }
    crate::sealing::install(keyring);
}

/// Runs one instance on `listener` until `shutdown` fires, then stops
/// intake, lets in-flight work finish within `shutdown.timeout_secs`, and
/// returns. NATS and Redis may be down at start: the instance serves
/// `/readyz` 503 and sets itself up when they come.
pub async fn run(settings: Settings, listener: TcpListener, shutdown: CancellationToken) -> Result<(), StartError> {
    install_keys(&settings);
    let bus = Bus::connect(&settings.nats).await?;
    let store = Store::new(&settings.redis)?.with_chat_ttl(settings.retention.webchat_ttl());
    let app = Arc::new(App {
        event_source: format!("/switchboard/{}", settings.nats.prefix),
        live: ArcSwap::from_pointee(Live::new(settings.clone())),
        senders: ArcSwap::from_pointee(Senders::new(&settings).map_err(StartError::Sender)?),
        targets: Targets::new(&settings.delivery, settings.server.public_base())?,
        chat: crate::chat::Chat::new(&settings).map_err(StartError::Webchat)?,
        sla_timers: crate::app::sla_timers(&settings).map_err(|_| StoreError::Url)?,
        closing: shutdown.clone(),
        metrics: Metrics::new(),
        readiness: Readiness::new(),
        bus,
        store,
        settings,
    });
    let tracker = TaskTracker::new();
    // Workers stop on `work`; it is cancelled after HTTP intake has stopped.
    let work = CancellationToken::new();

    tracker.spawn(health::watch(
        app.readiness.clone(),
        app.bus.clone(),
        app.store.clone(),
        app.metrics.clone(),
        Duration::from_millis(500),
        work.clone(),
    ));
    tracker.spawn(start_workers(app.clone(), tracker.clone(), work.clone()));
    tracker.spawn(reload_on_hangup(app.clone(), work.clone()));

    let addr = listener.local_addr().ok();
    let limits = crate::http::Limits::from_settings(&app.settings.server);
    tracing::info!(listen = ?addr, max_connections = limits.max_connections, "switchboard serving");
    let http_shutdown = CancellationToken::new();
    let http = tokio::spawn(crate::http::serve(
        listener,
        crate::http::router(app.clone()),
        limits,
        app.metrics.clone(),
        http_shutdown.clone(),
    ));

    shutdown.cancelled().await;
    app.readiness.drain();
    http_shutdown.cancel();
    tracing::info!("shutting down: intake stopped, draining in-flight work");
    let bound = app.settings.shutdown.timeout();
    let drained = tokio::time::timeout(bound, async {
        if let Err(e) = http.await {
            tracing::warn!(error = %e, "HTTP server task failed");
        }
        work.cancel();
        tracker.close();
        tracker.wait().await;
    })
    .await;
    if drained.is_err() {
        work.cancel();
        tracing::warn!(
            bound_secs = bound.as_secs(),
            "drain bound reached; unfinished messages stay unacknowledged and will be redelivered"
        );
    }
    // Flush acks and publishes still buffered in the client.
    let _ = tokio::time::timeout(Duration::from_secs(1), app.bus.client().flush()).await;
    tracing::info!("switchboard stopped");
    Ok(())
}

/// Sets up streams and agent state (retrying while NATS or Redis are down),
/// then starts the router, sender, delivery and reports workers.
async fn start_workers(app: Arc<App>, tracker: TaskTracker, cancel: CancellationToken) {
    // The streams first: intake needs nothing else, so it is ready while
    // Redis may still be away.
    let streams = || async {
        app.bus.ensure_streams(app.settings.retention.stream_cap()).await.map_err(|e| e.to_string())?;
        app.bus.ensure_audit_stream(app.settings.retention.audit_max_age()).await.map_err(|e| e.to_string())
    };
    if !set_up(&cancel, streams).await {
        return;
    }
    app.readiness.streams_ready();
    if !set_up(&cancel, || async { crate::routing::sync_agents(&app, None).await.map_err(|e| e.to_string()) }).await {
        return;
    }
    // Agents and queues changed through the admin API live in Redis: pick
    // them up now, and whenever a replica announces a change.
    match app.store.runtime_entries().await {
        Ok(entries) if !entries.is_empty() => {
            if let Err(e) = crate::routing::reload_with(&app, entries).await {
                tracing::error!(error = %e, "the run-time agents and queues could not be applied");
            }
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "cannot read the run-time agents and queues"),
    }
    tracker.spawn(crate::routing::follow_runtime_changes(app.clone(), cancel.clone()));
    app.readiness.workers_started();
    tracker.spawn(crate::inbound::run(app.clone(), cancel.clone()));
    tracker.spawn(crate::outbound::run(app.clone(), cancel.clone()));
    tracker.spawn(crate::routing::sweep(app.clone(), cancel.clone()));
    tracker.spawn(crate::escalation::run(app.clone(), cancel.clone()));
    tracker.spawn(crate::outbox::relay(app.clone(), cancel.clone()));
    tracker.spawn(crate::reports::run(app.clone(), cancel.clone()));
    tracker.spawn(crate::privacy::retention::run(app.clone(), cancel.clone()));
    tracker.spawn(crate::supervisor::alerts::run(app.clone(), cancel.clone()));
    tracker.spawn(crate::delivery::run(app, cancel));
}

/// Runs `step` until it succeeds (backing off from 200 ms to 5 s while
/// NATS or Redis are down); `false` when `cancel` fired first.
async fn set_up<F, Fut>(cancel: &CancellationToken, step: F) -> bool
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let mut wait = Duration::from_millis(200);
    loop {
        let result = tokio::select! {
            _ = cancel.cancelled() => return false,
            r = step() => r,
        };
        match result {
            Ok(()) => return true,
            Err(e) => {
                tracing::warn!(error = %e, "set-up not possible yet; retrying");
                tokio::select! {
                    _ = cancel.cancelled() => return false,
                    _ = tokio::time::sleep(wait) => {}
                }
                wait = (wait * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// Reloads the routing configuration on SIGHUP until `cancel` fires.
async fn reload_on_hangup(app: Arc<App>, cancel: CancellationToken) {
    let Ok(mut hangups) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else {
        tracing::warn!("cannot listen for SIGHUP; reload through the admin API");
        return;
    };
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            got = hangups.recv() => if got.is_none() { return },
        }
        // The reload logs what needs a restart, and the secrets it changed.
        let reloaded = crate::routing::reload(&app).await;
        if let Err(e) = &reloaded {
            tracing::error!(error = %e, "reload refused; the previous configuration stays in force");
        }
        // An operator's action like the admin API's reload: on the audit trail.
        let entry = crate::privacy::audit::AuditEntry {
            action: "config.reload",
            actor: crate::privacy::audit::Actor { kind: "signal", id: "SIGHUP".into() },
            method: "SIGNAL".into(),
            route: "SIGHUP".into(),
            target: Default::default(),
            status: if reloaded.is_ok() { 200 } else { 422 },
            client: None,
            forwarded_for: None,
        };
        crate::privacy::audit::record(&app, entry).await;
    }
}
