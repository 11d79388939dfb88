//! The loading pipeline and its problem list.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use config::{Config, Environment, File, FileFormat, Value, ValueKind};
use serde::de::DeserializeOwned;

use super::model::*;

/// The embedded defaults: `config/default.toml`.
pub const DEFAULT_TOML: &str = include_str!("../../config/default.toml");

/// One thing wrong with the configuration, at a key path such as
/// `agents.alice.capacity.sms`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// Dotted key path (or the file, for a problem with a whole file).
    pub key: String,
    /// What is wrong, never including a secret's value.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

/// Every problem found, in the order found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Problems(pub Vec<Problem>);

impl Problems {
    pub(super) fn push(&mut self, key: impl Into<String>, message: impl Into<String>) {
        self.0.push(Problem { key: key.into(), message: message.into() });
    }

    /// Whether nothing is wrong.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for p in &self.0 {
            writeln!(f, "{p}")?;
        }
        Ok(())
    }
}
impl std::error::Error for Problems {}

/// Builds [`Settings`] from the layered sources. Kept in the settings it
/// built, so a reload reads the same sources again.
#[derive(Clone)]
pub struct Loader {
    file: Option<PathBuf>,
    overlay: Vec<String>,
    env: bool,
}

/// Shows the file, not the overlays (which may hold secrets).
impl std::fmt::Debug for Loader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loader")
            .field("file", &self.file)
            .field("overlays", &self.overlay.len())
            .field("env", &self.env)
            .finish()
    }
}

impl Default for Loader {
    fn default() -> Self {
        Loader { file: None, overlay: Vec::new(), env: true }
    }
}

impl Loader {
    /// Defaults plus `SWITCHBOARD__…` environment overrides.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a TOML file above the defaults (it must exist).
    pub fn file(mut self, path: impl Into<PathBuf>) -> Self {
        self.file = Some(path.into());
        self
    }

    /// Adds TOML text above the file (tests use this).
    pub fn overlay(mut self, toml: impl Into<String>) -> Self {
        self.overlay.push(toml.into());
        self
    }

    /// Ignores the environment (tests run many instances in one process).
    pub fn without_env(mut self) -> Self {
        self.env = false;
        self
    }

    /// Loads, resolves secrets and validates; every problem at once.
    pub fn load(&self) -> Result<Settings, Problems> {
        let mut builder = Config::builder().add_source(File::from_str(DEFAULT_TOML, FileFormat::Toml));
        if let Some(path) = &self.file {
            builder = builder.add_source(File::from(path.as_path()).format(FileFormat::Toml).required(true));
        }
        for text in &self.overlay {
            builder = builder.add_source(File::from_str(text, FileFormat::Toml));
        }
        if self.env {
            builder = builder.add_source(
                Environment::with_prefix("SWITCHBOARD").prefix_separator("__").separator("__"),
            );
        }
        let source = self.file.as_ref().map_or_else(|| "configuration".to_owned(), |p| p.display().to_string());
        let mut problems = Problems::default();
        let root = builder
            .build()
            .and_then(|c| c.try_deserialize::<BTreeMap<String, Value>>())
            .map_err(|e| {
                let mut p = Problems::default();
                p.push(source, e.to_string());
                p
            })?;
        let mut settings = build(root, &mut problems);
        settings.resolve_secrets(&mut problems);
        settings.validate(&mut problems);
        settings.source = Some(self.clone());
        if problems.is_empty() {
            Ok(settings)
        } else {
            Err(problems)
        }
    }
}

/// Assembles the typed sections. A section that does not deserialize is
/// reported and replaced by its default, so validation still runs on the
/// rest and the operator sees every problem in one pass.
fn build(mut root: BTreeMap<String, Value>, p: &mut Problems) -> Settings {
    let defaults = Config::builder()
        .add_source(File::from_str(DEFAULT_TOML, FileFormat::Toml))
        .build()
        .and_then(|c| c.try_deserialize::<BTreeMap<String, Value>>())
        .unwrap_or_default();
    // Fields are evaluated in order, so problems are reported section by section.
    macro_rules! section {
        ($name:literal) => {
            required(root.remove($name), $name, &defaults, p)
        };
    }
    let settings = Settings {
        server: section!("server"),
        log: section!("log"),
        shutdown: section!("shutdown"),
        nats: section!("nats"),
        redis: section!("redis"),
        routing: section!("routing"),
        outbound: section!("outbound"),
        delivery: section!("delivery"),
        outbox: section!("outbox"),
        reports: section!("reports"),
        retention: section!("retention"),
        security: section!("security"),
        supervisor: section!("supervisor"),
        alerts: section!("alerts"),
        csat: section!("csat"),
        integrations: section!("integrations"),
        channels: channels(root.remove("channels"), p),
        queues: named_entries(root.remove("queues"), "queues", p),
        agents: named_entries(root.remove("agents"), "agents", p),
        rules: list(root.remove("rules"), "rules", p),
        sla: sla(root.remove("sla"), p),
        calendars: named_entries(root.remove("calendars"), "calendars", p),
        bots: named_entries(root.remove("bots"), "bots", p),
        source: None,
    };
    for key in root.keys() {
        p.push(key.as_str(), "unknown section");
    }
    settings
}

/// Deserializes one value, reporting unknown keys and type errors with
/// their full key paths. serde stops at the first error, so after each one
/// the offending key is put back to its default (or dropped) and the value
/// is tried again: one pass reports every mistake in the entry.
fn typed<T: DeserializeOwned>(path: &str, value: Value, p: &mut Problems) -> Option<T> {
    typed_with_defaults(path, value, None, p)
}

fn typed_with_defaults<T: DeserializeOwned>(
    path: &str,
    mut value: Value,
    defaults: Option<&Value>,
    p: &mut Problems,
) -> Option<T> {
    let mut unknown = std::collections::BTreeSet::new();
    let mut outcome = None;
    for _ in 0..64 {
        let mut record = |field: serde_ignored::Path<'_>| {
            unknown.insert(field.to_string());
        };
        let de = serde_ignored::Deserializer::new(value.clone(), &mut record);
        match serde_path_to_error::deserialize::<_, T>(de) {
            Ok(v) => {
                outcome = Some(v);
                break;
            }
            Err(e) => {
                let segments: Vec<String> = e.path().iter().filter_map(segment_key).collect();
                let at = e.path().iter().fold(String::new(), |mut at, seg| {
                    match seg {
                        serde_path_to_error::Segment::Seq { index } => at.push_str(&format!("[{index}]")),
                        other => {
                            if let Some(k) = segment_key(other) {
                                at = join(&at, &k);
                            }
                        }
                    }
                    at
                });
                p.push(join(path, &at), clean_message(&e.into_inner().to_string()));
                if segments.is_empty() || !repair(&mut value, &segments, defaults) {
                    break;
                }
            }
        }
    }
    for field in unknown {
        p.push(join(path, &field), "unknown key");
    }
    outcome
}

fn segment_key(s: &serde_path_to_error::Segment) -> Option<String> {
    use serde_path_to_error::Segment;
    match s {
        Segment::Map { key } => Some(key.clone()),
        Segment::Seq { index } => Some(index.to_string()),
        Segment::Enum { .. } | Segment::Unknown => None,
    }
}

/// Replaces the value at `segments` by its default, or removes it; a key
/// that is not there (a missing field) removes its parent instead. Inside
/// lists nothing is repaired. Returns whether anything changed.
fn repair(value: &mut Value, segments: &[String], defaults: Option<&Value>) -> bool {
    let Some((last, parents)) = segments.split_last() else { return false };
    if parents.iter().any(|s| s.parse::<usize>().is_ok()) {
        return false;
    }
    let default = defaults.and_then(|d| lookup(d, segments)).cloned();
    let Some(container) = lookup_mut(value, parents) else { return false };
    let present = match &mut container.kind {
        ValueKind::Table(t) => match default {
            Some(d) if t.contains_key(last) => {
                t.insert(last.clone(), d);
                true
            }
            _ => t.shift_remove(last).is_some(),
        },
        // Removing an element would shift the indices of later problems.
        _ => return false,
    };
    present || (!parents.is_empty() && repair(value, parents, defaults))
}

fn lookup<'v>(value: &'v Value, segments: &[String]) -> Option<&'v Value> {
    segments.iter().try_fold(value, |v, s| match &v.kind {
        ValueKind::Table(t) => t.get(s),
        ValueKind::Array(a) => a.get(s.parse::<usize>().ok()?),
        _ => None,
    })
}

fn lookup_mut<'v>(value: &'v mut Value, segments: &[String]) -> Option<&'v mut Value> {
    segments.iter().try_fold(value, |v, s| match &mut v.kind {
        ValueKind::Table(t) => t.get_mut(s),
        ValueKind::Array(a) => a.get_mut(s.parse::<usize>().ok()?),
        _ => None,
    })
}

/// A section present in the embedded defaults: on a type error its default
/// stands in, so later checks still run.
fn required<T: DeserializeOwned>(value: Option<Value>, path: &str, defaults: &BTreeMap<String, Value>, p: &mut Problems) -> T {
    let default = defaults.get(path);
    if let Some(v) = value.and_then(|v| typed_with_defaults(path, v, default, p)) {
        return v;
    }
    match default.cloned().map(|d| d.try_deserialize::<T>()) {
        Some(Ok(v)) => v,
        // Reaching here means config/default.toml itself is broken, which the
        // test suite rules out; there is no sensible value to continue with.
        _ => panic_free_default(path),
    }
}

#[allow(clippy::panic)]
fn panic_free_default<T>(path: &str) -> T {
    panic!("embedded default for `{path}` does not load")
}

fn table(value: Option<Value>, path: &str, p: &mut Problems) -> BTreeMap<String, Value> {
    let Some(value) = value else { return BTreeMap::new() };
    match value.into_table() {
        Ok(t) => t.into_iter().collect(),
        Err(e) => {
            p.push(path, clean_message(&e.to_string()));
            BTreeMap::new()
        }
    }
}

/// Checks the `[a-z0-9_-]` rule for account, queue and agent names.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

fn named_entries<T: DeserializeOwned>(value: Option<Value>, path: &str, p: &mut Problems) -> BTreeMap<String, T> {
    let mut out = BTreeMap::new();
    for (name, v) in table(value, path, p) {
        let at = join(path, &name);
        if !valid_name(&name) {
            p.push(at.as_str(), "names are lower-case letters, digits, `_` and `-` (at most 64)");
            continue;
        }
        if let Some(entry) = typed(&at, v, p) {
            out.insert(name, entry);
        }
    }
    out
}

fn list<T: DeserializeOwned>(value: Option<Value>, path: &str, p: &mut Problems) -> Vec<T> {
    let Some(value) = value else { return Vec::new() };
    match value.into_array() {
        Ok(items) => items
            .into_iter()
            .enumerate()
            .filter_map(|(i, v)| typed(&format!("{path}[{i}]"), v, p))
            .collect(),
        Err(e) => {
            p.push(path, clean_message(&e.to_string()));
            Vec::new()
        }
    }
}

fn channels(value: Option<Value>, p: &mut Problems) -> ChannelsSettings {
    let mut t = table(value, "channels", p);
    let webchat = t.remove("webchat").and_then(|v| typed("channels.webchat", v, p));
    let out = ChannelsSettings {
        sms: named_entries(t.remove("sms"), "channels.sms", p),
        wechat: named_entries(t.remove("wechat"), "channels.wechat", p),
        email: named_entries(t.remove("email"), "channels.email", p),
        webchat,
    };
    for key in t.keys() {
        p.push(join("channels", key), "unknown channel, expected one of: sms, wechat, email, webchat");
    }
    out
}

fn sla(value: Option<Value>, p: &mut Problems) -> SlaSettings {
    let mut t = table(value, "sla", p);
    let policies = named_entries(t.remove("policies"), "sla.policies", p);
    let overrides = t.remove("overrides").and_then(|v| typed("sla.overrides", v, p)).unwrap_or_default();
    let supervisors = t.remove("supervisors").and_then(|v| typed("sla.supervisors", v, p)).unwrap_or_default();
    let notify = t.remove("notify").and_then(|v| typed("sla.notify", v, p)).unwrap_or_default();
    let wechat_window_warn_secs =
        t.remove("wechat_window_warn_secs").and_then(|v| typed("sla.wechat_window_warn_secs", v, p)).unwrap_or(4 * 3600);
    for key in t.keys() {
        p.push(join("sla", key), "unknown key");
    }
    SlaSettings { policies, overrides, supervisors, notify, wechat_window_warn_secs }
}

fn join(path: &str, field: &str) -> String {
    match (path.is_empty(), field.is_empty()) {
        (_, true) => path.to_owned(),
        (true, false) => field.to_owned(),
        (false, false) => format!("{path}.{field}"),
    }
}

/// The config crate appends "for key `…`" and origins to some messages; the
/// key path is already ours, so keep only the first clause.
fn clean_message(msg: &str) -> String {
    msg.split(" for key ").next().unwrap_or(msg).trim().to_owned()
}
