//! The typed configuration, section by section. Field comments live in
//! `config/default.toml`; these types only say what shape each key has. Each
//! submodule holds one group of sections; all of them are re-exported here.

use std::collections::BTreeMap;

mod agents;
mod bots;
mod backends;
mod care;
mod channels;
mod integrations;
mod ops;
mod routing;
mod security;
mod sending;
mod server;
mod sla;

pub use agents::*;
pub use bots::*;
pub use backends::*;
pub use care::*;
pub use channels::*;
pub use integrations::*;
pub use ops::*;
pub use routing::*;
pub use security::*;
pub use sending::*;
pub use server::*;
pub use sla::*;

/// The whole configuration, after loading and validation.
#[derive(Clone, Debug)]
pub struct Settings {
    /// `[server]`
    pub server: ServerSettings,
    /// `[log]`
    pub log: LogSettings,
    /// `[shutdown]`
    pub shutdown: ShutdownSettings,
    /// `[nats]`
    pub nats: NatsSettings,
    /// `[redis]`
    pub redis: RedisSettings,
    /// `[routing]`
    pub routing: RoutingSettings,
    /// `[outbound]`
    pub outbound: OutboundSettings,
    /// `[delivery]`
    pub delivery: DeliverySettings,
    /// `[outbox]`
    pub outbox: OutboxSettings,
    /// `[reports]`
    pub reports: ReportsSettings,
    /// `[retention]`
    pub retention: RetentionSettings,
    /// `[security]`
    pub security: SecuritySettings,
    /// `[channels.*]`
    pub channels: ChannelsSettings,
    /// `[queues.<name>]`
    pub queues: BTreeMap<String, QueueSettings>,
    /// `[agents.<id>]`
    pub agents: BTreeMap<String, AgentSettings>,
    /// `[[rules]]`
    pub rules: Vec<RuleSettings>,
    /// `[sla]`
    pub sla: SlaSettings,
    /// `[calendars.<name>]`
    pub calendars: BTreeMap<String, CalendarSettings>,
    /// `[bots.<name>]`
    pub bots: BTreeMap<String, BotSettings>,
    /// `[supervisor]`
    pub supervisor: SupervisorSettings,
    /// `[alerts]`
    pub alerts: AlertsSettings,
    /// `[csat]`
    pub csat: CsatSettings,
    /// `[integrations.*]`
    pub integrations: IntegrationsSettings,
    /// The sources these settings were loaded from, read again by a reload.
    pub source: Option<super::Loader>,
}
