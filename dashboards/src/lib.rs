//! ilot HTTP surface: `/healthz`, `/metrics` (Prometheus), the status page at `/`, and the JSON
//! API for dashboards and analysts under `/api` (described by `GET /api/openapi.json`).
//!
//! `server` (route table, router, limits) → `auth` (reader and admin bearer tokens) → `error`
//! (JSON errors) → `health` → `sql_api` (`POST /api/sql`) → `heat_api` (networks, sensors,
//! UHI, Tn/Tx, IBM, QC) → `registry_api` (admin: sensors, networks) → `alerts_api` (alerts,
//! CAP, webhook subscriptions) → `openapi`. Beside it, `postgres`: the PostgreSQL wire-protocol
//! endpoint over the same query engine, credentials and SQL rate limit (`rate_limit`).

pub mod alerts_api;
pub mod auth;
pub mod error;
pub mod health;
pub mod heat_api;
pub mod openapi;
pub mod postgres;
pub mod rate_limit;
pub mod registry_api;
pub mod server;
pub mod sql_api;

pub use server::{HttpConfig, HttpError, HttpState, bind, serve};
