//! ilot heat-health alerts: rules over ilot's SQL views, one durable lifecycle per (rule,
//! area), deliveries as signed webhooks (Standard Webhooks) and CAP 1.2 documents.
//!
//! Reading order: `level` (green < yellow < orange < red) → `lifecycle` (the state machine of
//! one alert: pending, raised, updated, cleared; hysteresis, escalation, absence, late data)
//! → `alert_store` (states, alerts, events and the delivery outbox in one SQLite transaction)
//! → `subscription` (who wants which alerts) → `outbound_url` (SSRF: where a webhook may go)
//! → `signature` (`webhook-signature`) → `retry` (when to try again) → `delivery` (the outbox
//! drained to each endpoint, in order). What is watched: `rule` (kinds, settings, the SQL
//! templates in `rules/`) and `evaluator` (when, as of which time, one commit per
//! evaluation); what is said: `payload` (the JSON event) and `cap` (CAP 1.2). `config` is
//! `[alerts]`; `service` ([`Alerting`]) is how a process runs it and its interfaces use it.

pub mod alert_store;
pub mod cap;
pub mod config;
pub mod delivery;
pub mod evaluator;
pub mod level;
pub mod lifecycle;
pub mod outbound_url;
pub mod payload;
pub mod retry;
pub mod rule;
pub mod service;
pub mod signature;
pub mod subscription;

pub use config::AlertsConfig;
pub use service::Alerting;
pub use level::Level;
