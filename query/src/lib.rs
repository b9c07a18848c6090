//! ilot query side: SQL over the readings, for analysts, dashboards and alert rules.
//!
//! `engine` (the read-only, bounded SQL session: `sql_shape` refuses what nests too deep,
//! `bounded_functions` what would materialise too much, `executor` runs it on threads of its
//! own, `time_slice` makes every query yield them often, `memory_watchdog` cancels queries when the process is over its budget) → `dataset_table` (`readings`, `conflicts`,
//! `dead_letters`: files ∪ memory, one snapshot) → `pruning` (dates and networks a query can touch) + `parquet_scan` (the files' half) → `output` (table, CSV, JSON,
//! Arrow). The registry as tables: `registry_tables` (`sensors`, `networks`). Heat analytics:
//! `analytics` (the UHI, Tn/Tx and IBM views, one `.sql` file each), SQL functions
//! `heat_indices`, `local_time`, `night` + `solar`; `hourly_rollup_table` (per sensor-hour
//! aggregates kept beside the readings, the hourly views' input); `crowdqc` (CrowdQC+ levels) on
//! `robust_stats` (Qn, median, t and normal quantiles). `pg_compat`: PostgreSQL's catalog, for
//! the PostgreSQL wire endpoint's clients.

pub mod analytics;
pub mod bounded_functions;
pub mod crowdqc;
pub mod crowdqc_table;
pub mod dataset_table;
pub mod engine;
pub mod executor;
pub mod heat_indices;
pub mod hourly_rollup_table;
pub mod latest_table;
pub mod local_time;
pub mod memory_watchdog;
pub mod night;
pub mod output;
pub mod parquet_scan;
pub mod period_summary;
pub mod pg_compat;
pub mod pruning;
pub mod registry_tables;
pub mod robust_stats;
pub mod snapshot_table;
pub mod solar;
pub mod sql_shape;
pub mod time_slice;

pub use engine::{QueryEngine, QueryError, QueryLimits, QueryResult};
/// The values bound to `$n` placeholders by [`QueryEngine::query_with_params`].
pub use datafusion::common::ScalarValue;
/// The error a [`snapshot_table::SnapshotTable`]'s rows may fail with.
pub use datafusion::error::DataFusionError;
