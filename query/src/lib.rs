//! ilot query side: SQL over the readings, for analysts, dashboards and alert rules.
//!
//! `engine` (the read-only, bounded SQL session) → `readings_table` (files ∪ memory, one
//! snapshot) → `pruning` (dates and networks a query can touch) → `output` (table, CSV, JSON,
//! Arrow).

pub mod engine;
pub mod output;
pub mod pruning;
pub mod readings_table;

pub use engine::{QueryEngine, QueryError, QueryLimits, QueryResult};
