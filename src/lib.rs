//! switchboard: an omnichannel message router for customer service.
//!
//! Providers' webhooks are verified and normalized by the channel crates,
//! published to NATS JetStream, routed to agents by the routing core with
//! its state in Redis, and delivered to agents as CloudEvents; replies go
//! back out through the outbound stream. See `README.md` for operation and
//! `../shared/SPEC.md` for the product.

pub mod app;
pub mod bench;
pub mod bots;
pub mod bus;
pub mod chat;
pub mod classify;
pub mod commands;
pub mod config;
pub mod csat;
pub mod daemon;
pub mod delivery;
pub mod escalation;
pub mod events;
pub mod health;
pub mod http;
pub mod idle;
pub mod inbound;
pub mod model;
pub mod notices;
pub mod office;
pub mod outbound;
pub mod outbox;
pub mod privacy;
pub mod replay;
pub mod reports;
pub mod routing;
pub mod sealing;
pub mod senders;
pub mod shutdown;
pub mod signing;
pub mod sla;
pub mod store;
pub mod supervisor;
pub mod targets;
pub mod telemetry;

pub use daemon::run;
