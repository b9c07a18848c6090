//! `Store`: the state the intake, the persister, the compactor and the query side share.
//! Under one lock it holds the published files (from the manifest) and the durable rows not yet
//! in Parquet, so a query snapshot sees every row exactly once: a persist adds its files and
//! drops the rows they contain in the same critical section.

use arrow::array::RecordBatch;
use chrono::NaiveDate;
use object_store::{ObjectStore, ObjectStoreExt};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use crate::damage::DamagedFiles;
use crate::dedup::{KeyIndex, Verdict};
use crate::layout::{Dataset, PartitionKey, WriterId};
use crate::manifest::{DataFile, Manifest, ManifestError};
use crate::parquet_file::ParquetFileError;
use crate::dead_letter::held_dead_letters_batch;
use crate::schema::{epoch_day, readings_to_batch};
use crate::wal::WalEntry;
use crate::latest::LatestReadings;
use crate::repeated_warning::RepeatedWarning;
use crate::{DeadLetter, Reading, qc};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("object store: {0}")]
    ObjectStore(#[from] object_store::Error),
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(transparent)]
    Parquet(#[from] ParquetFileError),
    #[error("fsync of stored files failed: {0}")]
    Durability(String),
}

/// Rows made durable by one WAL commit, tagged with their segment.
pub(crate) struct Buffered<T> {
    pub segment: u64,
    pub item: T,
}

/// A dead letter not yet in Parquet, and the writer that received it (another writer, for a
/// reader replaying that writer's WAL).
pub(crate) struct HeldDeadLetter {
    pub writer: WriterId,
    pub letter: DeadLetter,
}

#[derive(Default)]
pub(crate) struct State {
    pub files: Vec<Arc<DataFile>>,
    pub readings: BTreeMap<PartitionKey, Vec<Buffered<RecordBatch>>>,
    pub dead_letters: Vec<Buffered<HeldDeadLetter>>,
    pub conflicts: Vec<Buffered<Reading>>,
    /// Runs found stuck, to mark in this writer's files at the next persist (see `stuck_runs`).
    pub stuck_runs: Vec<Buffered<qc::StuckRun>>,
    /// Rows in `readings`, kept up to date by whoever changes it.
    pub buffered_rows: usize,
}

/// What a query reads of one dataset: its published files plus its rows in memory, as batches
/// of its stored schema (file columns, then partition columns).
#[derive(Clone, Default)]
pub struct Snapshot {
    pub files: Vec<Arc<DataFile>>,
    pub batches: Vec<RecordBatch>,
}

pub struct Store {
    pub(crate) object_store: Arc<dyn ObjectStore>,
    pub(crate) writer: WriterId,
    pub(crate) state: RwLock<State>,
    pub(crate) index: Mutex<KeyIndex>,
    /// Serialises manifest edits (persist, compaction).
    pub(crate) manifest: tokio::sync::Mutex<Manifest>,
    runtime: tokio::runtime::Handle,
    /// When the object store is a local directory: its root, to fsync what is written there
    /// (object_store's local backend does not).
    local_root: std::sync::OnceLock<std::path::PathBuf>,
    /// Every sensor's newest reading by measurement time.
    pub(crate) latest: LatestReadings,
    /// Files found missing or unreadable: left out of snapshots and reads (see `damage`).
    pub(crate) damage: DamagedFiles,
    /// Files replaced (compaction, new flags), deleted after a grace period (see `compactor`).
    pub(crate) retired: Mutex<crate::compactor::Retired>,
    /// Conflicting duplicates, logged a few a minute (a replayed backlog can hold thousands).
    conflicts_warning: RepeatedWarning,
    /// Counts the changes that can change an answer (new readings, new flags, other writers'
    /// files), for whoever re-evaluates when data changes (the alert rules).
    changes: tokio::sync::watch::Sender<u64>,
}

impl Store {
    /// Log the summaries of rate-limited warnings whose minute is over (every few seconds),
    /// or of everything counted (`now`, at shutdown).
    pub fn summarise_warnings(&self, now: bool) {
        self.conflicts_warning.flush(now);
    }

    /// A receiver that sees the change count move (see `changes`).
    pub fn subscribe_changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.subscribe()
    }

    pub(crate) fn record_change(&self) {
        self.changes.send_modify(|n| *n += 1);
    }
}

pub fn date_of(ts_ms: i64) -> NaiveDate {
    NaiveDate::from_num_days_from_ce_opt(epoch_day(ts_ms) + 719_163).expect("date in range")
}

impl Store {
    /// Open the store of `writer`. `other_manifests` adds files of other writers to what
    /// queries see (read-only tools looking at a whole deployment).
    pub async fn open(object_store: Arc<dyn ObjectStore>, writer: WriterId, include_other_writers: bool) -> Result<Arc<Self>, StoreError> {
        let manifest = Manifest::load(object_store.as_ref(), &writer).await?;
        let mut files: Vec<Arc<DataFile>> = manifest.files.iter().cloned().map(Arc::new).collect();
        if include_other_writers {
            files = Manifest::load_all(object_store.as_ref())
                .await?
                .into_iter()
                .flat_map(|m| m.files)
                .map(Arc::new)
                .collect();
        }
        let store = Arc::new(Self {
            object_store,
            writer,
            state: RwLock::new(State { files: files.clone(), ..State::default() }),
            index: Mutex::new(KeyIndex::default()),
            manifest: tokio::sync::Mutex::new(manifest),
            runtime: tokio::runtime::Handle::current(),
            local_root: std::sync::OnceLock::new(),
            latest: LatestReadings::default(),
            damage: DamagedFiles::default(),
            retired: Mutex::default(),
            conflicts_warning: RepeatedWarning::new("conflicting duplicate kept aside", "conflicting duplicates kept aside"),
            changes: tokio::sync::watch::channel(0).0,
        });
        store.check_presence(&files).await?;
        store.damage.publish_gauge();
        // Left out of queries either way: a failed move is retried before each compaction run.
        if let Err(e) = store.quarantine_unreadable_files().await {
            tracing::error!(error = %e, "could not quarantine unreadable data files");
        }
        store.seed_latest(&files).await?;
        Ok(store)
    }

    /// Every sensor's newest reading by measurement time (the dashboards' "now").
    pub fn latest_readings(&self) -> Vec<Reading> {
        self.latest.snapshot()
    }

    pub fn object_store(&self) -> Arc<dyn ObjectStore> {
        self.object_store.clone()
    }

    /// Declare that the object store is the local directory `root`: files and manifests written
    /// there are then fsync'd (with their directories) before the WAL that covers them is deleted.
    pub fn fsync_local_writes(&self, root: std::path::PathBuf) {
        let _ = self.local_root.set(root);
    }

    /// Make objects durable on a local store (no-op for S3: a completed put is durable).
    pub(crate) async fn make_durable<P: AsRef<str>>(&self, paths: impl IntoIterator<Item = P>) -> Result<(), StoreError> {
        let Some(root) = self.local_root.get().cloned() else { return Ok(()) };
        let files: Vec<std::path::PathBuf> = paths.into_iter().map(|p| root.join(p.as_ref())).collect();
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            let mut dirs = std::collections::BTreeSet::new();
            for f in &files {
                std::fs::File::open(f)?.sync_all()?;
                let mut dir = f.parent();
                while let Some(d) = dir.filter(|d| d.starts_with(&root)) {
                    dirs.insert(d.to_owned());
                    dir = d.parent();
                }
            }
            for d in dirs {
                std::fs::File::open(&d)?.sync_all()?;
            }
            Ok(())
        })
        .await
        .expect("fsync task")
        .map_err(|e| StoreError::Durability(e.to_string()))
    }

    /// WAL segments up to this one are already in Parquet: replay skips them.
    pub async fn wal_persisted_upto(&self) -> u64 {
        self.manifest.lock().await.wal_persisted_upto
    }

    /// A consistent view of the readings for one query (damaged files left out, damaged rollups
    /// ignored).
    pub fn snapshot(&self) -> Snapshot {
        self.snapshot_of(Dataset::Readings)
    }

    /// [`Self::snapshot`] of any dataset. In memory, readings and conflicts are batches of
    /// `schema::stored_schema` (one partition each), dead letters one batch of
    /// `dead_letter::dead_letter_stored_schema` per writer.
    pub fn snapshot_of(&self, dataset: Dataset) -> Snapshot {
        let damaged = !self.damage.is_empty();
        let state = self.state.read().expect("store lock");
        let files = state
            .files
            .iter()
            .filter(|f| f.dataset == dataset)
            .filter_map(|f| if damaged { self.intact(f) } else { Some(f.clone()) })
            .collect();
        let batches = match dataset {
            Dataset::Readings => state.readings.values().flatten().map(|b| b.item.clone()).collect(),
            Dataset::Conflicts => {
                let mut by_partition: BTreeMap<(&str, i32), Vec<Reading>> = BTreeMap::new();
                for r in state.conflicts.iter().map(|b| &b.item) {
                    by_partition.entry((r.network.as_str(), epoch_day(r.ts_ms))).or_default().push(r.clone());
                }
                by_partition.values().map(|rs| readings_to_batch(rs)).collect()
            }
            Dataset::DeadLetters => {
                let mut by_writer: BTreeMap<&str, Vec<&DeadLetter>> = BTreeMap::new();
                for held in state.dead_letters.iter().map(|b| &b.item) {
                    by_writer.entry(held.writer.as_str()).or_default().push(&held.letter);
                }
                by_writer.iter().map(|(writer, letters)| held_dead_letters_batch(writer, letters)).collect()
            }
        };
        Snapshot { files, batches }
    }

    /// Rows in memory, not yet in Parquet.
    pub fn buffered_rows(&self) -> usize {
        self.state.read().expect("store lock").buffered_rows
    }

    /// Apply durable WAL entries: deduplicate, set aside conflicts and dead letters, and make the
    /// new readings queryable. Called by the committer after each fsync, and at replay.
    /// Blocks while it loads a partition's keys from storage (first reading of a day).
    pub fn apply(&self, segment: u64, entries: Vec<WalEntry>) {
        self.apply_from(&self.writer, segment, entries);
    }

    /// [`Self::apply`] for a reader's store (`ilot sql`, `ilot qc`): entries of `writer`'s WAL,
    /// so that queries see what that writer holds and has not persisted yet. Its conflicts were
    /// logged by that writer: they are not logged again.
    pub fn apply_replayed(&self, writer: &WriterId, segment: u64, entries: Vec<WalEntry>) {
        self.apply_from(writer, segment, entries);
    }

    fn apply_from(&self, writer: &WriterId, segment: u64, entries: Vec<WalEntry>) {
        let own = writer == &self.writer;
        let mut fresh: BTreeMap<PartitionKey, Vec<Reading>> = BTreeMap::new();
        let mut dead = Vec::new();
        let mut conflicts = Vec::new();
        let mut stuck_runs = Vec::new();
        {
            let mut index = self.index.lock().expect("key index lock");
            for entry in entries {
                match entry {
                    WalEntry::DeadLetter(d) => {
                        metrics::counter!("ilot_dead_letters_total", "reason" => d.reason.code()).increment(1);
                        dead.push(Buffered { segment, item: HeldDeadLetter { writer: writer.clone(), letter: d } });
                    }
                    WalEntry::Readings(readings) => {
                        for mut r in readings {
                            let partition = PartitionKey { network: Some(r.network.clone()), date: date_of(r.ts_ms) };
                            if !index.is_loaded(&partition) {
                                let stored = self.load_partition_blocking(&partition);
                                index.load(partition.clone(), &stored);
                            }
                            match index.check_insert(&partition, &r) {
                                Verdict::New => fresh.entry(partition).or_default().push(r),
                                Verdict::Duplicate => metrics::counter!("ilot_duplicates_total").increment(1),
                                Verdict::Conflict => {
                                    metrics::counter!("ilot_conflicts_total").increment(1);
                                    if own {
                                        self.conflicts_warning.record(|| format!("{}/{} at {}", r.network, r.sensor_id, chrono::DateTime::from_timestamp_millis(r.ts_ms).unwrap_or_default().format("%Y-%m-%dT%H:%M:%SZ")));
                                    }
                                    r.qc_flags |= qc::CONFLICT;
                                    conflicts.push(Buffered { segment, item: r });
                                }
                            }
                        }
                    }
                    WalEntry::StuckRun(run) => stuck_runs.push(Buffered { segment, item: run }),
                }
            }
        }
        for r in fresh.values().flatten() {
            self.latest.observe(r);
        }
        let stored: usize = fresh.values().map(Vec::len).sum();
        metrics::counter!("ilot_readings_stored_total").increment(stored as u64);
        let batches: Vec<_> = fresh.into_iter().map(|(p, rs)| (p, readings_to_batch(&rs))).collect();
        let mut state = self.state.write().expect("store lock");
        for (p, batch) in batches {
            state.buffered_rows += batch.num_rows();
            state.readings.entry(p).or_default().push(Buffered { segment, item: batch });
        }
        state.dead_letters.extend(dead);
        state.conflicts.extend(conflicts);
        for run in &stuck_runs {
            state.mark_stuck_in_memory(&run.item);
        }
        let changed = stored > 0 || !stuck_runs.is_empty();
        state.stuck_runs.extend(stuck_runs);
        metrics::gauge!("ilot_buffered_rows").set(state.buffered_rows as f64);
        drop(state);
        if changed {
            self.record_change();
        }
    }

    /// Rows already published for a partition, read from its files (retrying while storage fails:
    /// deduplication must not guess; a damaged file is left out, its keys are lost with it).
    fn load_partition_blocking(&self, partition: &PartitionKey) -> Vec<RecordBatch> {
        let files: Vec<Arc<DataFile>> = {
            let state = self.state.read().expect("store lock");
            state
                .files
                .iter()
                .filter(|f| f.dataset == Dataset::Readings && f.network == partition.network && f.date == partition.date)
                .cloned()
                .collect()
        };
        if files.is_empty() {
            return Vec::new();
        }
        let mut backoff = Duration::from_millis(100);
        loop {
            let result = std::thread::scope(|s| {
                s.spawn(|| self.runtime.block_on(self.read_intact_files(&files))).join().expect("partition loader panicked")
            });
            match result {
                Ok(batches) => return batches,
                Err(e) => {
                    tracing::error!(error = %e, partition = ?partition, "cannot load stored keys; retrying");
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    /// Every row of `files`; the first that cannot be read fails the whole (a damaged one is
    /// recorded, see `damage`).
    pub(crate) async fn read_files(&self, files: &[Arc<DataFile>]) -> Result<Vec<RecordBatch>, StoreError> {
        let mut out = Vec::new();
        for f in files {
            out.extend(self.read_object(&f.path).await?);
        }
        Ok(out)
    }

    pub fn key_index_stats(&self) -> (usize, usize) {
        let index = self.index.lock().expect("key index lock");
        (index.partitions(), index.keys())
    }
}

impl Store {
    /// Forget the keys of partitions idle for ten minutes, older than yesterday, with nothing in
    /// memory: a late reading for them reloads the keys from Parquet.
    pub(crate) fn evict_cold_keys(&self) {
        let yesterday = date_of(chrono::Utc::now().timestamp_millis()) - chrono::Days::new(1);
        let buffered: Vec<PartitionKey> = self.state.read().expect("store lock").readings.keys().cloned().collect();
        let before = std::time::Instant::now().checked_sub(Duration::from_secs(600));
        if let Some(before) = before {
            let mut index = self.index.lock().expect("key index lock");
            index.evict_untouched(before, |p| p.date >= yesterday || buffered.contains(p));
        }
    }
}

impl Store {
    /// Forget the keys of these partitions (a bulk import that has persisted them): a later
    /// reading for one of them reloads its keys from Parquet. Only for partitions with nothing
    /// buffered in memory.
    pub fn evict_keys(&self, partitions: &[PartitionKey]) {
        let buffered: Vec<PartitionKey> = self.state.read().expect("store lock").readings.keys().cloned().collect();
        let mut index = self.index.lock().expect("key index lock");
        for p in partitions.iter().filter(|p| !buffered.contains(p)) {
            index.evict(p);
        }
    }
}

impl Store {
    /// Delete this writer's data files that no manifest lists: left by a crash between a file's
    /// put and the manifest save, or by compaction before its old files were deleted. ilot never
    /// reads them, but a reader listing directories (DuckDB, Spark) would count them twice.
    /// Called once at start, before the intake runs.
    pub async fn remove_orphans(&self) -> Result<usize, StoreError> {
        use futures::TryStreamExt;
        let listed: std::collections::HashSet<String> =
            self.manifest.lock().await.files.iter().flat_map(|f| f.object_paths()).collect();
        let mut removed = 0;
        use crate::layout::{CONFLICTS_DIR, DEAD_LETTERS_DIR, HOURLY_ROLLUPS_DIR, READINGS_DIR};
        for dir in [READINGS_DIR, HOURLY_ROLLUPS_DIR, CONFLICTS_DIR, DEAD_LETTERS_DIR] {
            let prefix = object_store::path::Path::from(dir);
            let metas: Vec<_> = self.object_store.list(Some(&prefix)).try_collect().await?;
            for meta in metas {
                let path = meta.location.to_string();
                let owned = meta.location.filename().is_some_and(|n| crate::layout::DataFilePath::writer_of(n) == Some(self.writer.as_str()));
                if owned && !listed.contains(&path) {
                    self.object_store.delete(&meta.location).await?;
                    tracing::warn!(%path, "removed a data file no manifest lists (left by a crash or an interrupted compaction)");
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }
}
