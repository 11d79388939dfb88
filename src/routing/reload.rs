//! Reload: the configuration read again (SIGHUP, the admin route, a
//! replica's run-time change of agents or queues) and its routing sections
//! put in force, or refused with every problem while the old one stays.

use std::collections::HashMap;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::{drain, sync_agents, RouteError};
use crate::app::App;
use crate::config::Settings;

/// What a reload changed.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ReloadReport {
    /// Agents, queues and rules now in force.
    pub agents: usize,
    /// Queues.
    pub queues: usize,
    /// Rules.
    pub rules: usize,
    /// Sections that differ but only take effect after a restart.
    pub restart_needed: Vec<&'static str>,
}

/// Why a reload was refused; the previous configuration stays in force.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The new configuration has problems (all of them listed).
    #[error("the new configuration is invalid:\n{0}")]
    Invalid(crate::config::Problems),
    /// The instance was not started from reloadable sources.
    #[error("this instance has no configuration source to reload")]
    NoSource,
    /// Redis refused the new agents; the configuration is in force but the
    /// next reload (or restart) must repeat the sync.
    #[error(transparent)]
    Route(#[from] RouteError),
}

/// Reads the configuration again (SIGHUP, `POST /api/v1/admin/reload`) and
/// puts its routing sections (queues, agents and their tokens, rules,
/// routing, SLA, calendars) in force, with the rotated secrets that can
/// be (see [`crate::config::changes`]). A configuration with problems is
/// refused with every problem and the old one stays.
pub async fn reload(app: &App) -> Result<ReloadReport, ReloadError> {
    let entries = app.store.runtime_entries().await.map_err(RouteError::from)?;
    reload_with(app, entries).await
}

/// The value of a run-time entry deleted through the admin API.
pub const DELETED: &str = "!deleted";

/// The `*_file` keys in a run-time entry at `path` (`agents.bob`), with
/// their full paths. Run-time entries take inline secrets only: a file
/// named through the admin API would be read by the daemon with its own
/// rights (any token file, a FIFO, `/dev/zero`), and the answer would tell
/// whether a path exists.
pub fn file_keys(path: &str, value: &serde_json::Value) -> Vec<String> {
    let mut found = Vec::new();
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                let at = format!("{path}.{k}");
                if k.ends_with("_file") {
                    found.push(at.clone());
                }
                found.extend(file_keys(&at, v));
            }
        }
        serde_json::Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                found.extend(file_keys(&format!("{path}[{i}]"), v));
            }
        }
        _ => {}
    }
    found
}

/// The problem of a `*_file` key in a run-time entry.
pub const RUNTIME_FILE_KEY: &str = "run-time (admin API) entries take inline secrets only; `*_file` keys belong in the configuration file or the environment";

/// Loads the configuration from `source` with the run-time agents and
/// queues (`agents.<id>` / `queues.<name>` → a TOML document holding that
/// one entry, or [`DELETED`]) layered over it, and validates the whole.
pub fn load_with_runtime(
    source: &crate::config::Loader,
    entries: &HashMap<String, String>,
) -> Result<Settings, crate::config::Problems> {
    let mut loader = source.clone();
    let mut keys: Vec<&String> = entries.keys().collect();
    keys.sort();
    let mut deleted = Vec::new();
    let mut refused = crate::config::Problems::default();
    for key in keys {
        let Some((section, name)) = key.split_once('.') else { continue };
        if entries[key] == DELETED {
            deleted.push((section, name));
            continue;
        }
        // Stored before file keys were refused at the API: never read them.
        let files = toml::from_str::<toml::Value>(&entries[key])
            .ok()
            .and_then(|v| serde_json::to_value(v).ok())
            .map(|v| file_keys("", &v))
            .unwrap_or_default();
        if files.is_empty() {
            loader = loader.overlay(entries[key].clone());
        }
        for f in files {
            refused.0.push(crate::config::Problem { key: f.trim_start_matches('.').to_owned(), message: RUNTIME_FILE_KEY.into() });
        }
    }
    if !refused.is_empty() {
        return Err(refused);
    }
    let mut settings = loader.load()?;
    for (section, name) in deleted {
        match section {
            "agents" => drop(settings.agents.remove(name)),
            "queues" => drop(settings.queues.remove(name)),
            _ => {}
        }
    }
    // A reload starts again from the same sources.
    settings.source = Some(source.clone());
    Ok(settings)
}

/// What refers to queue `name` (rules, overflows, SLA overrides, the
/// default queue): it cannot be deleted while anything does.
pub fn queue_references(settings: &Settings, name: &str) -> Vec<String> {
    let mut refs = Vec::new();
    if settings.routing.default_queue == name {
        refs.push("routing.default_queue".to_owned());
    }
    for (i, r) in settings.rules.iter().enumerate() {
        if r.then.queue.as_deref() == Some(name) {
            refs.push(format!("rules[{i}] ({})", r.name));
        }
    }
    for (q, s) in &settings.queues {
        if s.overflow.as_deref() == Some(name) {
            refs.push(format!("queues.{q}.overflow"));
        }
    }
    for (i, o) in settings.sla.overrides.iter().enumerate() {
        if o.queue.as_deref() == Some(name) {
            refs.push(format!("sla.overrides[{i}]"));
        }
    }
    refs
}

/// [`reload`] with the run-time entries given.
pub async fn reload_with(app: &App, entries: HashMap<String, String>) -> Result<ReloadReport, ReloadError> {
    let old = app.live();
    let source = old.settings.source.clone().ok_or(ReloadError::NoSource)?;
    let mut new = tokio::task::spawn_blocking(move || load_with_runtime(&source, &entries))
        .await
        .map_err(|_| ReloadError::NoSource)?
        .map_err(ReloadError::Invalid)?;
    let restart_needed = crate::config::changes::restart_needed(&app.settings, &new);
    let rotated = crate::config::changes::changed_secrets(&old.settings, &new);
    // The channels run on with their start-time keys and the new secrets.
    new.channels = crate::config::changes::with_rotated_secrets(&app.settings.channels, &new.channels);
    crate::app::rotate_channel_secrets(app, &old.settings.channels, &new.channels).map_err(|message| {
        ReloadError::Invalid(crate::config::Problems(vec![crate::config::Problem { key: "channels".into(), message }]))
    })?;
    let report = ReloadReport {
        agents: new.agents.len(),
        queues: new.queues.len(),
        rules: new.rules.len(),
        restart_needed,
    };
    app.live.store(Arc::new(crate::app::Live::new(new)));
    sync_agents(app, Some(&old.settings)).await?;
    // Targets disabled by a 410 get another chance: the operator may have fixed them.
    app.store.enable_targets().await.map_err(RouteError::from)?;
    // Running SLA clocks follow the new calendars and targets.
    match crate::sla::replan(app, &old).await {
        Ok(n) if n > 0 => tracing::info!(conversations = n, "SLA clocks re-planned for the new configuration"),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "SLA clocks keep their old plan until they next move"),
    }
    drain(app).await?;
    if !rotated.is_empty() {
        // The key paths only, never the values.
        tracing::info!(secrets = ?rotated, "secrets changed by the reload");
    }
    if !report.restart_needed.is_empty() {
        tracing::warn!(sections = ?report.restart_needed, "reloaded; changes to these sections take effect after a restart");
    }
    tracing::info!(agents = report.agents, queues = report.queues, rules = report.rules, "configuration reloaded");
    Ok(report)
}

/// Reloads when another replica (or this one) changed agents or queues at
/// run time, until `cancel` fires.
pub async fn follow_runtime_changes(app: Arc<App>, cancel: CancellationToken) {
    let mut changes = match app.bus.client().subscribe(app.bus.subjects().config_changed()).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "cannot follow run-time configuration changes");
            return;
        }
    };
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            change = futures::StreamExt::next(&mut changes) => if change.is_none() { return },
        }
        if let Err(e) = reload(&app).await {
            tracing::error!(error = %e, "a run-time configuration change could not be applied here");
        }
    }
}

