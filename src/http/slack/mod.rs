//! The Slack app's inbound side: `POST /integrations/slack/events`
//! (verified by `verify`).

pub mod verify;
