//! The recompute of stored flags (`ilot qc --flags`): after a rule or registry change
//! (thresholds in `[intake.qc]` or a network's `qc` keys, sensors registered or removed), the
//! single-sensor flags of a network's stored readings over a period are computed again exactly
//! as the intake would set them today — [`qc::admit`]'s single-reading flags and registry
//! policy, then the history checks of [`DayByDay`] — and each file whose flags change is
//! replaced, by the writer that owns it, with a copy carrying the new flags and a new hourly
//! rollup. The period summaries built from the old rollups become stale and are recomputed at
//! the next query; CrowdQC+ reads every stored value whatever its flags, so its results stand.
//!
//! Days are read in date order, all writers' files of a day at once. The day before the period
//! gives the checks their context (read, not rewritten), and days after it are read until no
//! run of identical values can still reach back into it. Run it with the services stopped: it
//! takes each writer's lock before rewriting that writer's files, so a running service makes it
//! stop with an error naming it; readings still in a WAL keep their flags.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::UInt32Type;
use chrono::NaiveDate;
use object_store::ObjectStore;

use crate::compactor::Replacement;
use crate::layout::{DataFilePath, Dataset, PartitionKey, WriterId};
use crate::manifest::DataFile;
use crate::qc::{self, DayByDay, RangeLimits};
use crate::registry::Registry;
use crate::schema::{StoredRows, with_qc_flags};
use crate::store::{Store, StoreError};
use crate::wal::WriterLock;
use crate::Reading;

#[derive(Debug, thiserror::Error)]
pub enum RequalifyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("file {0}: no writer in its name")]
    UnknownWriter(String),
    #[error("writer {0:?}: {1}")]
    Writer(String, String),
    #[error(transparent)]
    Locked(#[from] crate::wal::WalError),
}

/// What to recompute.
#[derive(Debug, Clone)]
pub struct RequalifyOptions {
    pub network: String,
    /// First and last UTC day (inclusive); `None`: from the first stored day, to the last.
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    /// `[intake.qc]`, which the network's own `qc` keys override.
    pub limits: RangeLimits,
    /// The store's local directory, whose writes are fsync'd; `None` for object storage.
    pub local_root: Option<std::path::PathBuf>,
    /// The local data directory holding the writers' WAL folders, whose locks are taken before
    /// a writer's files are rewritten (a running service holds its own).
    pub data_dir: std::path::PathBuf,
}

/// What a recompute did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RequalifySummary {
    pub network: String,
    pub days: usize,
    pub readings: u64,
    /// Readings whose flags changed.
    pub changed: u64,
    /// Readings flagged `STEP` / `STUCK` after the recompute.
    pub step: u64,
    pub stuck: u64,
    pub files_replaced: usize,
}

/// Recompute the flags of `options.network` over the period; `progress` sees the summary after
/// each day.
pub async fn requalify(
    object_store: Arc<dyn ObjectStore>,
    registry: &Registry,
    options: &RequalifyOptions,
    mut progress: impl FnMut(&RequalifySummary, NaiveDate),
) -> Result<RequalifySummary, RequalifyError> {
    let reader_id = WriterId::new("requalify").map_err(|e| RequalifyError::Writer("requalify".into(), e))?;
    let reader = Store::open(object_store.clone(), reader_id, true).await?;
    let mut files_by_day: BTreeMap<NaiveDate, Vec<Arc<DataFile>>> = BTreeMap::new();
    for f in reader.snapshot().files.into_iter().filter(|f| f.dataset == Dataset::Readings && f.network.as_deref() == Some(options.network.as_str())) {
        files_by_day.entry(f.date).or_default().push(f);
    }
    let limits = registry.qc_limits(&options.network, &options.limits);
    let context_from = options.from.map(|d| d - chrono::Days::new(1));
    let in_period = |d: NaiveDate| options.from.is_none_or(|f| d >= f) && options.to.is_none_or(|t| d <= t);
    let mut job = Job { options, registry, object_store, writers: HashMap::new(), held: BTreeMap::new(), summary: RequalifySummary::default() };
    job.summary.network = options.network.clone();
    // Every writer whose files may be rewritten is locked first: a running service stops the
    // recompute before anything changes.
    for f in files_by_day.iter().filter(|(d, _)| in_period(**d)).flat_map(|(_, fs)| fs) {
        job.writer(writer_of(f)?).await?;
    }
    let mut pass = DayByDay::new();
    let days: BTreeSet<NaiveDate> = files_by_day.keys().copied().filter(|d| context_from.is_none_or(|c| *d >= c)).collect();
    for date in days {
        if options.to.is_some_and(|t| date > t) && !job.held.keys().any(|d| in_period(*d)) {
            break;
        }
        let mut readings = Vec::new();
        let mut stored = Vec::new();
        for f in &files_by_day[&date] {
            let batches = reader.read_intact_files(std::slice::from_ref(f)).await?;
            let batch = arrow::compute::concat_batches(&crate::schema::file_schema(), &batches).map_err(|e| StoreError::from(crate::parquet_file::ParquetFileError::from(e)))?;
            let rows = StoredRows::of(&batch);
            for i in 0..batch.num_rows() {
                let mut r = rows.reading(&options.network, i);
                r.qc_flags = 0;
                readings.push(r);
            }
            stored.push((f.clone(), batch));
        }
        job.held.insert(date, stored);
        for (day, rs) in pass.push(date, readings, |_| limits.history) {
            job.finish_day(day, rs, in_period(day)).await?;
            if in_period(day) {
                progress(&job.summary, day);
            }
        }
    }
    for (day, rs) in pass.finish() {
        job.finish_day(day, rs, in_period(day)).await?;
        if in_period(day) {
            progress(&job.summary, day);
        }
    }
    for (store, _lock) in job.writers.values() {
        store.delete_retired(Duration::ZERO).await;
    }
    Ok(job.summary)
}

/// The writer that owns a data file, from its name.
fn writer_of(file: &DataFile) -> Result<&str, RequalifyError> {
    let file_name = file.path.rsplit('/').next().unwrap_or_default();
    DataFilePath::writer_of(file_name).ok_or_else(|| RequalifyError::UnknownWriter(file.path.clone()))
}

struct Job<'a> {
    options: &'a RequalifyOptions,
    registry: &'a Registry,
    object_store: Arc<dyn ObjectStore>,
    /// The stores of the writers whose files are replaced, opened as needed, with their locks.
    writers: HashMap<String, (Arc<Store>, WriterLock)>,
    /// Each day's files and their stored rows, until the day's new flags are final.
    held: BTreeMap<NaiveDate, Vec<(Arc<DataFile>, RecordBatch)>>,
    summary: RequalifySummary,
}

impl Job<'_> {
    /// `readings`: the day's readings with their final flags; replace the files that change
    /// if the day is in the period.
    async fn finish_day(&mut self, day: NaiveDate, readings: Vec<Reading>, in_period: bool) -> Result<(), RequalifyError> {
        let files = self.held.remove(&day).unwrap_or_default();
        if !in_period {
            return Ok(());
        }
        self.summary.days += 1;
        // The history flags of each checked reading by (sensor, ts, value): a copy of the same
        // reading stored by another writer gets them too; another value at that key was never
        // checked (a conflict) and gets none.
        let mut history: HashMap<(&str, i64), (i16, u32)> = HashMap::with_capacity(readings.len());
        for r in &readings {
            // The checked copy comes first (checks and day order are stable).
            let bits = r.qc_flags & qc::HISTORY_FLAGS;
            let entry = history.entry((r.sensor_id.as_str(), r.ts_ms)).or_insert((r.temperature_centi_c, 0));
            if entry.0 == r.temperature_centi_c {
                entry.1 |= bits;
            }
        }
        let mut by_writer: BTreeMap<String, Vec<Replacement>> = BTreeMap::new();
        for (file, batch) in files {
            let rows = StoredRows::of(&batch);
            let old = batch.column_by_name("qc_flags").expect("readings have qc_flags").as_primitive::<UInt32Type>();
            let new: Vec<u32> = (0..batch.num_rows())
                .map(|i| {
                    let mut r = rows.reading(&self.options.network, i);
                    r.qc_flags = 0;
                    // Under the `dead_letter` policy an unknown sensor's stored readings keep
                    // the flags of a registered one: they cannot be refused any more.
                    let _ = qc::admit(&mut r, &self.options.limits, self.registry);
                    let checked = history.get(&(r.sensor_id.as_str(), r.ts_ms)).filter(|(centi, _)| *centi == r.temperature_centi_c);
                    r.qc_flags | checked.map_or(0, |(_, bits)| *bits)
                })
                .collect();
            self.summary.readings += new.len() as u64;
            self.summary.step += new.iter().filter(|f| *f & qc::STEP != 0).count() as u64;
            self.summary.stuck += new.iter().filter(|f| *f & qc::STUCK != 0).count() as u64;
            let changed = new.iter().zip(old.values()).filter(|(n, o)| n != o).count() as u64;
            if changed == 0 {
                continue;
            }
            self.summary.changed += changed;
            let writer = writer_of(&file)?.to_owned();
            let partition = PartitionKey { network: Some(self.options.network.clone()), date: day };
            let batch = with_qc_flags(&batch, new);
            by_writer.entry(writer).or_default().push(Replacement { old: vec![file.as_ref().clone()], partition, batch });
        }
        for (writer, replacements) in by_writer {
            self.summary.files_replaced += replacements.len();
            let store = self.writer(&writer).await?;
            let mut manifest = store.manifest.lock().await;
            store.replace_readings(&mut manifest, replacements).await?;
        }
        Ok(())
    }

    async fn writer(&mut self, id: &str) -> Result<Arc<Store>, RequalifyError> {
        if let Some((store, _)) = self.writers.get(id) {
            return Ok(store.clone());
        }
        let writer = WriterId::new(id).map_err(|e| RequalifyError::Writer(id.into(), e))?;
        let lock = WriterLock::acquire(&crate::layout::wal_dir(&self.options.data_dir, &writer))?;
        let store = Store::open(self.object_store.clone(), writer, false).await?;
        if let Some(root) = &self.options.local_root {
            store.fsync_local_writes(root.clone());
        }
        self.writers.insert(id.to_owned(), (store.clone(), lock));
        Ok(store)
    }
}
