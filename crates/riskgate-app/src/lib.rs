//! riskgate's use cases: every business action once, with its checks,
//! action-log entries, events and clock reads, for every transport alike.
//!
//! The CLI (`riskgate`), the HTTP server (`riskgate-server`) and the bus
//! worker (`riskgate-bus`) parse, authenticate, call a function of this
//! crate and render its answer. This crate knows no clap, axum, NATS client
//! or file format: records come in parsed, answers go out as values, events
//! leave through an [`events::EventSink`].
//!
//! Errors: a use case refuses a request with an [`AppError`] (stable code,
//! field, message) inside the `anyhow::Error` it returns; anything else is
//! an internal failure (store connection, stored data that does not decode).
//! [`classify`] tells which is which for the transports.

pub mod accounts;
pub mod actionlog;
pub mod analysis;
pub mod anchor;
pub mod app;
pub mod cases;
pub mod committee_gate;
pub mod committees;
pub mod drift;
pub mod error;
pub mod events;
pub mod explain;
pub mod feedback;
pub mod imports;
pub mod integrity;
pub mod kpi;
pub mod levels;
pub mod model;
pub mod moneyflow;
pub mod overrides;
pub mod postclearance;
mod referrals;
pub mod report;
pub mod rules;
pub mod screening;
pub mod settings;
pub mod specialised;
pub mod tasks;
pub mod webhooks;

pub use app::{App, StoreAt, day_start, now};
pub use error::{AppError, Kind, classify};
