//! ilot HTTP surface: `/healthz`, `/metrics` (Prometheus), `POST /api/sql` for dashboards and
//! analysts, and the status page at `/`.
//!
//! `server` (router, auth, limits) → `health` → `sql_api`.

pub mod auth;
pub mod health;
pub mod server;
pub mod sql_api;

pub use server::{HttpConfig, HttpState, serve};
