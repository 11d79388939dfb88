//! The integration suite: the real daemon, in-process, against the real NATS
//! and Redis, each test isolated by its own prefix; providers and agent
//! tools are local fakes that record what they received.
#![allow(clippy::unwrap_used, clippy::disallowed_methods)] // tests: local peers, bounded by their own deadlines

mod admin_secrets;
mod bench;
mod bots;
mod browser;
mod capacity;
mod cli;
mod concurrency;
mod conformance;
mod crypt;
mod csat;
mod dashboard;
mod delivery;
mod email;
mod faults;
mod flood;
mod http_errors;
mod ladder;
mod layout;
mod monitoring;
mod ids;
mod openapi;
mod outbox;
mod privacy;
mod quiet;
mod oversize;
mod readiness;
mod reconnect;
mod reload_secrets;
mod replay;
mod robots;
mod reports;
mod routing;
mod scoping;
mod sending;
mod simulate;
mod tls;
mod sla;
mod slack;
mod sms_more;
mod sms_path;
mod supervisor;
mod wechat;
mod support;
mod webchat;
mod webdriver;
