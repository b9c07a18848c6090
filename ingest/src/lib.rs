//! ilot intake: from the MQTT packet to the Parquet row.
//!
//! Follow a reading through the modules in this order:
//! `intake` (MQTT session, ordered acks) → `topic` (which network and sensor) → `payload`
//! (bytes to [`Reading`]s or [`DeadLetter`]s) → `qc` (single-reading and history flags) → `wal` (fsync'd
//! group commit; the PUBACK leaves after it) → `store` + `dedup` (queryable in memory, exactly
//! once) → `persister` (sorted Parquet, one atomic put per file) → `manifest` (the files the
//! query side reads; each readings file with its hourly `rollup`) → `stuck_runs` (runs found
//! stuck mark their earlier readings) → `compactor` (one file per network and closed day). Paths: `layout`; listening addresses: `listen`. Files found missing or unreadable:
//! `damage` (left out, reported, quarantined; caches rebuilt). Flags recomputed after a rule or
//! registry change: `requalify`; history imported from files: `backfill`.

#[cfg(feature = "embedded-broker")]
pub mod broker;
pub mod backfill;
pub mod compactor;
pub mod config;
pub mod damage;
pub mod dead_letter;
pub mod dedup;
pub mod health;
pub mod intake;
pub mod latest;
pub mod layout;
pub mod listen;
pub mod manifest;
pub mod parquet_file;
pub mod payload;
pub mod peers;
pub mod persister;
pub mod qc;
pub mod reading;
pub mod recent;
pub mod registry;
pub mod repeated_warning;
pub mod requalify;
pub mod rollup;
pub mod schema;
pub mod store;
mod stuck_runs;
pub mod topic;
pub mod wal;

pub use dead_letter::{DeadLetter, DeadLetterReason};
pub use reading::{Reading, ReadingKey};
