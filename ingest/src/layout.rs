//! The storage layout, in one place: every path ilot reads or writes is built here, from newtypes.
//!
//! Object store (local directory or S3 bucket prefix):
//! ```text
//! readings/network=<network>/date=<YYYY-MM-DD>/<writer>-<seq>.parquet   Hive-partitioned readings
//! rollups/hourly/network=<network>/date=<YYYY-MM-DD>/<writer>-<seq>.parquet  hourly rollup of the readings file of the same name
//! conflicts/network=<network>/date=<YYYY-MM-DD>/<writer>-<seq>.parquet  conflicting duplicates, kept aside
//! dead_letters/date=<YYYY-MM-DD>/<writer>-<seq>.parquet                 refused messages
//! _ilot/manifests/<writer>.json                                        the files each writer has published
//! _ilot/latest/<writer>.parquet                                         the newest reading of each sensor, as that writer last saw it
//! _ilot/registry.json                                                  sensors and networks saved by the admin API
//! quarantine/<original path>                                           a data file found unreadable, out of its manifest (see `damage`)
//! qc/crowdqc/network=<network>/month=<YYYY-MM>/crowdqc.parquet           CrowdQC+ levels of a network-month (`ilot qc`)
//! summaries/<summary>/network=<network>/month=<YYYY-MM>/<first>_<last>_<inputs>.parquet
//!                                                                      a period summary of a network-month's closed days
//! ```
//! Local disk only: `<wal_dir>/<writer>/<seq>.wal`, the write-ahead log segments,
//! `<wal_dir>/<writer>/quarantine/<seq>.wal`, damaged segments kept for forensics, and
//! `<wal_dir>/<writer>/LOCK`, held by the one process acting as that writer (its pid inside).
//!
//! Manifests live outside `readings/` so that DuckDB, Spark or pyarrow can read the readings
//! directory as a plain Hive-partitioned dataset.

use chrono::NaiveDate;
use object_store::path::Path as ObjectPath;
use std::path::{Path, PathBuf};

/// Prefix of the readings dataset.
pub const READINGS_DIR: &str = "readings";
pub const CONFLICTS_DIR: &str = "conflicts";
pub const DEAD_LETTERS_DIR: &str = "dead_letters";
pub const MANIFESTS_DIR: &str = "_ilot/manifests";

/// Which kind of dataset a data file belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dataset {
    Readings,
    Conflicts,
    DeadLetters,
}

impl Dataset {
    fn dir(self) -> &'static str {
        match self {
            Dataset::Readings => READINGS_DIR,
            Dataset::Conflicts => CONFLICTS_DIR,
            Dataset::DeadLetters => DEAD_LETTERS_DIR,
        }
    }
}

/// A partition of a dataset: a network (absent for dead letters) and a UTC date.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct PartitionKey {
    pub network: Option<String>,
    pub date: NaiveDate,
}

impl PartitionKey {
    pub fn prefix(&self, dataset: Dataset) -> String {
        match &self.network {
            Some(n) => format!("{}/network={}/date={}", dataset.dir(), n, self.date.format("%Y-%m-%d")),
            None => format!("{}/date={}", dataset.dir(), self.date.format("%Y-%m-%d")),
        }
    }
}

/// Path of one immutable Parquet data file. File names sort by creation within a writer.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DataFilePath(String);

impl DataFilePath {
    pub fn new(dataset: Dataset, partition: &PartitionKey, writer: &WriterId, seq: u64) -> Self {
        Self(format!("{}/{}-{:012}.parquet", partition.prefix(dataset), writer.0, seq))
    }
    /// The writer that created a data file, from its file name `<writer>-<12 digits>.parquet`.
    pub fn writer_of(file_name: &str) -> Option<&str> {
        let (writer, seq) = file_name.strip_suffix(".parquet")?.rsplit_once('-')?;
        (seq.len() == 12 && seq.bytes().all(|b| b.is_ascii_digit())).then_some(writer)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn object_path(&self) -> ObjectPath {
        ObjectPath::from(self.0.as_str())
    }
}

/// Prefix of the hourly rollups (one beside each readings file, see `rollup`).
pub const HOURLY_ROLLUPS_DIR: &str = "rollups/hourly";

/// Path of the hourly rollup of one readings file: same partition, same file name, under
/// [`HOURLY_ROLLUPS_DIR`]. Deleted and published together with its readings file.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HourlyRollupPath(String);

impl HourlyRollupPath {
    pub fn of(readings_file: &str) -> Self {
        let rest = readings_file.strip_prefix(READINGS_DIR).unwrap_or_else(|| panic!("{readings_file} is not a readings file"));
        Self(format!("{HOURLY_ROLLUPS_DIR}{rest}"))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn object_path(&self) -> ObjectPath {
        ObjectPath::from(self.0.as_str())
    }
}

/// Identity of one ingest process's output (its files and its manifest). Stable across restarts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WriterId(String);

impl WriterId {
    pub fn new(id: &str) -> Result<Self, String> {
        let ok = !id.is_empty()
            && id.len() <= 64
            && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        ok.then(|| Self(id.to_owned())).ok_or_else(|| format!("writer id {id:?}: use 1-64 of [A-Za-z0-9_-]"))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Path of a writer's manifest.
pub fn manifest_path(writer: &WriterId) -> ObjectPath {
    ObjectPath::from(format!("{MANIFESTS_DIR}/{}.json", writer.0))
}

/// Prefix of the CrowdQC+ results dataset.
pub const CROWDQC_DIR: &str = "qc/crowdqc";

/// Path of the CrowdQC+ result of one network and UTC month (replaced whole by each run).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrowdQcFilePath(String);

impl CrowdQcFilePath {
    pub fn new(network: &str, month: NaiveDate) -> Self {
        Self(format!("{CROWDQC_DIR}/network={network}/month={}/crowdqc.parquet", month.format("%Y-%m")))
    }
    /// The folder of every month's result for a network.
    pub fn network_dir(network: &str) -> ObjectPath {
        ObjectPath::from(format!("{CROWDQC_DIR}/network={network}"))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn object_path(&self) -> ObjectPath {
        ObjectPath::from(self.0.as_str())
    }
}

/// Prefix of the period summaries (see `query::period_summary`): derived, rebuilt at will.
pub const SUMMARIES_DIR: &str = "summaries";

/// Path of a period summary of one network-month: periods `first..=last`, computed from inputs
/// whose digest is `inputs`. A chunk whose name does not match the store's present inputs is
/// stale and is replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SummaryChunkPath(String);

impl SummaryChunkPath {
    pub fn new(summary: &str, network: &str, first: NaiveDate, last: NaiveDate, inputs: u64) -> Self {
        Self(format!(
            "{}/{}_{}_{inputs:016x}.parquet",
            Self::month_dir(summary, network, first),
            first.format("%Y-%m-%d"),
            last.format("%Y-%m-%d")
        ))
    }
    /// The folder of a summary's chunks for the month of `day`.
    pub fn month_dir(summary: &str, network: &str, day: NaiveDate) -> String {
        format!("{SUMMARIES_DIR}/{summary}/network={network}/month={}", day.format("%Y-%m"))
    }
    /// The folder of all of a summary's chunks for a network.
    pub fn network_dir(summary: &str, network: &str) -> ObjectPath {
        ObjectPath::from(format!("{SUMMARIES_DIR}/{summary}/network={network}"))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn object_path(&self) -> ObjectPath {
        ObjectPath::from(self.0.as_str())
    }
}

/// Prefix of the quarantined data files.
pub const QUARANTINE_DIR: &str = "quarantine";

/// Where a data file found unreadable is moved when it leaves its manifest: its original path
/// under [`QUARANTINE_DIR`], for an operator to inspect (nothing reads it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuarantinePath(String);

impl QuarantinePath {
    pub fn of(path: &str) -> Self {
        Self(format!("{QUARANTINE_DIR}/{path}"))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn object_path(&self) -> ObjectPath {
        ObjectPath::from(self.0.as_str())
    }
}

/// The sensor registry as last saved by the admin API.
pub fn registry_path() -> ObjectPath {
    ObjectPath::from("_ilot/registry.json")
}

/// Prefix of every writer's saved latest-reading cache.
pub const LATEST_DIR: &str = "_ilot/latest";

/// Folder holding every writer's saved latest-reading cache.
pub fn latest_dir() -> ObjectPath {
    ObjectPath::from(LATEST_DIR)
}

/// A writer's saved latest-reading cache (see `latest`).
pub fn latest_path(writer: &WriterId) -> ObjectPath {
    ObjectPath::from(format!("{LATEST_DIR}/{}.parquet", writer.0))
}

/// The writer whose saved latest-reading cache is the file `file_name` (`<writer>.parquet`).
pub fn latest_writer_of(file_name: &str) -> Option<&str> {
    file_name.strip_suffix(".parquet")
}

/// Folder holding every writer's manifest.
pub fn manifests_dir() -> ObjectPath {
    ObjectPath::from(MANIFESTS_DIR)
}

/// Path of one WAL segment on local disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalSegmentPath(PathBuf);

impl WalSegmentPath {
    pub fn new(wal_dir: &Path, seq: u64) -> Self {
        Self(wal_dir.join(format!("{seq:020}.wal")))
    }
    /// The segment number of a file in the WAL directory, None for other files.
    pub fn parse_seq(file_name: &str) -> Option<u64> {
        file_name.strip_suffix(".wal")?.parse().ok()
    }
    pub fn as_path(&self) -> &Path {
        &self.0
    }
}

/// Where a damaged WAL segment is moved, under the same file name, once its readable records are
/// in Parquet: kept for forensics until the operator removes it (see `wal::segment`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalQuarantinePath(PathBuf);

impl WalQuarantinePath {
    pub fn new(wal_dir: &Path, seq: u64) -> Self {
        Self(WalSegmentPath::new(&Self::dir(wal_dir), seq).0)
    }
    /// The quarantine folder of a WAL directory.
    pub fn dir(wal_dir: &Path) -> PathBuf {
        wal_dir.join("quarantine")
    }
    pub fn as_path(&self) -> &Path {
        &self.0
    }
}

/// The WAL folder of `writer`, under the local data directory (also with object storage).
pub fn wal_dir(data_dir: &Path, writer: &WriterId) -> PathBuf {
    data_dir.join("wal").join(writer.as_str())
}

/// The lock file of a WAL directory (see `wal::WriterLock`).
pub fn wal_lock_path(wal_dir: &Path) -> PathBuf {
    wal_dir.join("LOCK")
}

/// Network identifiers end up in paths, so they are held to a stricter alphabet than sensors.
pub fn valid_network(network: &str) -> bool {
    !network.is_empty()
        && network.len() <= 64
        && network.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        && !network.starts_with('.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_hive_partitioned() {
        let p = PartitionKey { network: Some("toulouse".into()), date: NaiveDate::from_ymd_opt(2025, 7, 1).unwrap() };
        let w = WriterId::new("ilot-1").unwrap();
        assert_eq!(
            DataFilePath::new(Dataset::Readings, &p, &w, 7).as_str(),
            "readings/network=toulouse/date=2025-07-01/ilot-1-000000000007.parquet"
        );
        assert_eq!(
            HourlyRollupPath::of("readings/network=toulouse/date=2025-07-01/ilot-1-000000000007.parquet").as_str(),
            "rollups/hourly/network=toulouse/date=2025-07-01/ilot-1-000000000007.parquet"
        );
        assert_eq!(
            QuarantinePath::of("readings/network=toulouse/date=2025-07-01/ilot-1-000000000007.parquet").as_str(),
            "quarantine/readings/network=toulouse/date=2025-07-01/ilot-1-000000000007.parquet"
        );
        assert_eq!(DataFilePath::writer_of("ilot-1-000000000007.parquet"), Some("ilot-1"));
        assert_eq!(DataFilePath::writer_of("ilot-000000000007.parquet"), Some("ilot"), "not ilot-1's");
        assert_eq!(DataFilePath::writer_of("ilot-1-7.parquet"), None);
        assert_eq!(WalSegmentPath::parse_seq("00000000000000000042.wal"), Some(42));
        assert_eq!(WalSegmentPath::parse_seq("x.tmp"), None);
        assert!(!valid_network("../etc") && !valid_network("a/b") && valid_network("rennes-urban_2"));
    }
}
