//! ilot HTTP surface: the web dashboard at `/` (the citizen view at `/public`, the intake status
//! page at `/status`), `/healthz`, `/metrics` (Prometheus), and the JSON API for dashboards and
//! analysts under `/api` (described by `GET /api/openapi.json`).
//!
//! `server` (route table, router, limits) → `auth` (reader and admin bearer tokens) → `error`
//! (JSON errors) → `health` → `sql_api` (`POST /api/sql`) → `heat_api` (networks, sensors,
//! UHI, Tn/Tx, IBM, QC) → `map_api` (the dashboard's map and calendar, the citizen view) → `web`
//! (the dashboard's pages and files, `dashboards/web/`) → `registry_api` (admin: sensors,
//! networks) → `alerts_api` (alerts, CAP, webhook subscriptions) → `openapi`. Beside it, `postgres`: the PostgreSQL wire-protocol
//! endpoint over the same query engine, credentials and SQL rate limit (`rate_limit`); `tls`: the
//! certificates of both listeners.

pub mod alerts_api;
pub mod auth;
pub mod error;
pub mod health;
pub mod heat_api;
pub mod map_api;
pub mod openapi;
pub mod postgres;
pub mod rate_limit;
pub mod registry_api;
pub mod server;
pub mod sql_api;
pub mod tls;
pub mod web;

pub use server::{HttpConfig, HttpError, HttpListener, HttpState, bind, serve};
