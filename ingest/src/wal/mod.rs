//! Write-ahead log: the durability boundary. A message is acknowledged to the broker only after
//! its entry is in a WAL segment that has been fsync'd. Segments are replayed at start and
//! removed only once everything in them is in Parquet and listed in the manifest; a segment found
//! damaged at replay is quarantined instead of removed.

mod committer;
mod lock;
mod segment;

pub use committer::{Committer, CommitterHandle, Submission};
pub use lock::WriterLock;
pub use segment::{FileWal, ReplayedEntry, WalDamage, WalReplay};

use crate::{DeadLetter, Reading};
use serde::{Deserialize, Serialize};

/// One logged message: the readings it decoded to, or why it was refused; and the runs of
/// identical values its readings showed to be stuck, reaching back to readings logged before
/// (new variants go last: the WAL stores the variant's position).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum WalEntry {
    Readings(Vec<Reading>),
    DeadLetter(DeadLetter),
    StuckRun(crate::qc::StuckRun),
}

#[derive(Debug, thiserror::Error)]
pub enum WalError {
    #[error("WAL I/O on {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("{}: held by process {holder} (another ilot acting as this writer: stop it, or give this one another storage.writer_id / mqtt.client_id)", dir.display())]
    Locked { dir: std::path::PathBuf, holder: String },
    #[error("WAL entry could not be encoded: {0}")]
    Encode(#[from] postcard::Error),
    #[error("WAL committer has stopped")]
    Stopped,
}

/// The seam between the committer and the log medium.
pub trait Wal: Send {
    /// Append entries and make them durable before returning (one fsync for the whole batch).
    fn append(&mut self, entries: &[WalEntry]) -> Result<(), WalError>;
    /// Segment currently written to.
    fn current_segment(&self) -> u64;
    /// Close the current segment and open the next; returns the closed segment's number.
    fn rotate(&mut self) -> Result<u64, WalError>;
    /// Delete closed segments up to and including `upto`: their content is in Parquet. A segment
    /// found damaged at replay is quarantined rather than deleted.
    fn remove_upto(&mut self, upto: u64) -> Result<(), WalError>;
}
