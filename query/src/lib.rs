//! ilot query side: SQL over the readings, for analysts, dashboards and alert rules.
//!
//! `engine` (the read-only, bounded SQL session) → `readings_table` (files ∪ memory, one
//! snapshot) → `pruning` (dates and networks a query can touch) → `output` (table, CSV, JSON,
//! Arrow). Heat analytics: `heat_indices` and `local_time` (SQL functions), `robust_stats` (Qn, median, t and
//! normal quantiles for the quality control).

pub mod crowdqc;
pub mod engine;
pub mod heat_indices;
pub mod local_time;
pub mod output;
pub mod pruning;
pub mod readings_table;
pub mod robust_stats;

pub use engine::{QueryEngine, QueryError, QueryLimits, QueryResult};
