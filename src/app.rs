//! What the handlers and workers of one instance share: one [`App`],
//! built by [`crate::daemon::run`], holding the connections, the live
//! (reloadable) configuration and the channel senders.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio_util::sync::CancellationToken;

use crate::bus::Bus;
use crate::config::{ChannelsSettings, Settings};
use crate::targets::Targets;
use crate::health::Readiness;
use crate::senders::Senders;
use crate::classify::Classifier;
use crate::model::calendar::Calendar;
use crate::store::timers::{TimerOptions, Timers};
use crate::store::Store;
use crate::telemetry::Metrics;

/// Everything a handler or worker of one instance shares.
#[derive(Debug)]
pub struct App {
    /// The validated configuration.
    pub settings: Settings,
    /// NATS JetStream.
    pub bus: Bus,
    /// Redis.
    pub store: Store,
    /// Prometheus registry.
    pub metrics: Metrics,
    /// Readiness state.
    pub readiness: Readiness,
    /// The reloadable routing configuration (queues, agents, rules, SLA,
    /// calendars, tokens) and its compiled rules; see [`App::live`].
    pub live: ArcSwap<Live>,
    /// Provider senders, built again by a reload that rotates their
    /// credentials; see [`App::senders`].
    pub senders: ArcSwap<Senders>,
    /// Agent delivery targets.
    pub targets: Targets,
    /// CloudEvents `source` of this instance's events.
    pub event_source: String,
    /// The web chat channel, when configured.
    pub chat: Option<crate::chat::Chat>,
    /// The SLA timers (`{P}:timers:sla`).
    pub sla_timers: Timers,
    /// Fires when the instance starts shutting down: long-lived
    /// connections (web chat sockets) close so the drain can finish.
    pub closing: CancellationToken,
}

/// The configuration routing works with, replaced as a whole by a reload.
#[derive(Debug)]
pub struct Live {
    /// The settings of the last successful load. The routing sections
    /// (queues, agents, rules, routing, SLA, calendars), the agents' tokens
    /// and delivery secrets, `server.admin_token` and the secrets of the
    /// channel accounts running take effect on reload; the rest needs a
    /// restart. Its `channels` are the start-time ones with the secrets of
    /// the last load (see [`crate::config::changes::with_rotated_secrets`]).
    pub settings: Settings,
    /// The compiled rules.
    pub classifier: Classifier,
    /// The compiled business calendars.
    pub calendars: BTreeMap<String, Calendar>,
    /// The compiled bots.
    pub bots: crate::bots::Bots,
}

impl Live {
    /// Compiles `settings`.
    pub fn new(settings: Settings) -> Live {
        Live {
            classifier: Classifier::new(&settings),
            calendars: compile_calendars(&settings),
            bots: crate::bots::Bots::new(&settings),
            settings,
        }
    }
}

impl App {
    /// The routing configuration in force now. Hold it for one decision,
    /// not across a long wait, so a reload takes effect promptly.
    pub fn live(&self) -> Arc<Live> {
        self.live.load_full()
    }

    /// The provider senders in force now.
    pub fn senders(&self) -> Arc<Senders> {
        self.senders.load_full()
    }

    /// Base of the redelivery backoff for failed bus messages.
    pub fn retry_base(&self) -> Duration {
        Duration::from_millis(500)
    }

    /// Cap of the redelivery backoff for failed bus messages.
    pub fn retry_cap(&self) -> Duration {
        Duration::from_secs(60)
    }
}

/// Puts the rotated channel secrets (`old` → `new`, the live channels
/// before and after a reload) in force where they are held outside the
/// live settings: the provider senders are built again when their
/// credentials changed, and the web chat signs sessions with a new
/// `session_secret`. Nothing is replaced unless all of it could be built.
pub(crate) fn rotate_channel_secrets(app: &App, old: &ChannelsSettings, new: &ChannelsSettings) -> Result<(), String> {
    let senders = if crate::config::changes::sender_credentials_differ(old, new) {
        let mut settings = app.settings.clone();
        settings.channels = new.clone();
        Some(Senders::new(&settings)?)
    } else {
        None
    };
    let issuer = match (&app.chat, &old.webchat, &new.webchat) {
        (Some(_), Some(o), Some(n)) if !crate::config::changes::same_secret(o.session_secret.as_ref(), n.session_secret.as_ref()) => {
            Some(crate::chat::issuer(n)?)
        }
        _ => None,
    };
    if let Some(senders) = senders {
        app.senders.store(Arc::new(senders));
        tracing::info!("provider senders rebuilt with the reloaded credentials");
    }
    if let (Some(chat), Some(issuer)) = (&app.chat, issuer) {
        chat.rotate(issuer);
        tracing::info!("web chat sessions are signed with the reloaded session secret");
    }
    Ok(())
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

/// The SLA timers of `settings`' Redis, under `{P}:timers:sla`.
pub fn sla_timers(settings: &Settings) -> Result<Timers, redis::RedisError> {
    let client = crate::store::client(&settings.redis)?;
    let keys = crate::store::Keys::new(&settings.redis.prefix);
    let opts = TimerOptions { lease: Duration::from_secs(30), ..TimerOptions::default() };
    Ok(Timers::new(client, &keys.sla_timers(), opts))
}
