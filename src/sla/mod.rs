//! The SLA engine: business calendars ([`calendar`]) and durable timers in
//! Redis that fire once across replicas ([`timers`]).

pub mod calendar;
pub mod timers;
