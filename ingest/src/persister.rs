//! The persister: every `persist_interval`, close the WAL segment, write what it covered as
//! sorted Parquet (one file per dataset partition, one atomic put each, each readings file with
//! its hourly rollup), publish the files in the
//! manifest, drop the rows from memory in the same critical section, mark the earlier readings of
//! the runs found stuck in this writer's files (`stuck_runs`), and only then delete the WAL
//! segments. A crash anywhere in between replays the WAL; deduplication makes that exact.

use arrow::array::RecordBatch;
use arrow::datatypes::DataType;
use object_store::{ObjectStoreExt, PutPayload};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::layout::{DataFilePath, Dataset, HourlyRollupPath, PartitionKey};
use crate::manifest::{DataFile, Manifest, RollupFile};
use crate::rollup;
use crate::parquet_file::{encode, sorted_file_batch};
use crate::schema::readings_to_batch;
use crate::store::{Store, StoreError, date_of};
use crate::qc::StuckRun;
use crate::wal::CommitterHandle;
use crate::{DeadLetter, Reading};
use crate::dead_letter::dead_letters_to_batch;

/// What one persist cycle wrote.
#[derive(Debug, Default, Clone, Copy)]
pub struct PersistOutcome {
    pub files: usize,
    pub rows: u64,
}

impl Store {
    /// Write one file and describe it; the caller publishes it in the manifest.
    pub(crate) async fn put_file(
        &self,
        manifest: &mut Manifest,
        dataset: Dataset,
        partition: &PartitionKey,
        batch: &RecordBatch,
        ts_column: usize,
    ) -> Result<DataFile, StoreError> {
        let bytes = encode(batch)?;
        let path = DataFilePath::new(dataset, partition, &self.writer, manifest.take_file_seq());
        let size_bytes = bytes.len() as u64;
        self.object_store.put(&path.object_path(), PutPayload::from(bytes)).await?;
        let hourly_rollup = match dataset {
            Dataset::Readings => Some(self.put_rollup(path.as_str(), batch).await?),
            Dataset::Conflicts | Dataset::DeadLetters => None,
        };
        let ts = arrow::compute::cast(batch.column(ts_column), &DataType::Int64).expect("timestamps cast to i64");
        let ts = ts.as_any().downcast_ref::<arrow::array::Int64Array>().expect("i64 array");
        Ok(DataFile {
            path: path.as_str().to_owned(),
            dataset,
            network: partition.network.clone(),
            date: partition.date,
            rows: batch.num_rows() as u64,
            size_bytes,
            min_ts_ms: arrow::compute::min(ts).unwrap_or(0),
            max_ts_ms: arrow::compute::max(ts).unwrap_or(0),
            created_at_ms: chrono::Utc::now().timestamp_millis(),
            hourly_rollup,
        })
    }

    /// Write the hourly rollup of the readings file at `readings_path` holding `batch`.
    pub(crate) async fn put_rollup(&self, readings_path: &str, batch: &RecordBatch) -> Result<RollupFile, StoreError> {
        let rollup = rollup::rollup_of(batch);
        let bytes = crate::parquet_file::encode_small(&rollup)?;
        let size_bytes = bytes.len() as u64;
        self.object_store.put(&HourlyRollupPath::of(readings_path).object_path(), PutPayload::from(bytes)).await?;
        Ok(RollupFile { version: rollup::ROLLUP_VERSION, rows: rollup.num_rows() as u64, size_bytes })
    }

    /// Persist everything applied from WAL segments up to `closed`.
    pub async fn persist(&self, closed: u64) -> Result<PersistOutcome, StoreError> {
        let started = Instant::now();
        let (readings, dead, conflicts, stuck_runs) = {
            let state = self.state.read().expect("store lock");
            let readings: BTreeMap<PartitionKey, Vec<RecordBatch>> = state
                .readings
                .iter()
                .map(|(p, bs)| (p.clone(), bs.iter().filter(|b| b.segment <= closed).map(|b| b.item.clone()).collect::<Vec<_>>()))
                .filter(|(_, bs)| !bs.is_empty())
                .collect();
            let dead: Vec<DeadLetter> = state.dead_letters.iter().filter(|b| b.segment <= closed).map(|b| b.item.letter.clone()).collect();
            let conflicts: Vec<Reading> = state.conflicts.iter().filter(|b| b.segment <= closed).map(|b| b.item.clone()).collect();
            let stuck_runs: Vec<StuckRun> = state.stuck_runs.iter().filter(|b| b.segment <= closed).map(|b| b.item.clone()).collect();
            (readings, dead, conflicts, stuck_runs)
        };
        if readings.is_empty() && dead.is_empty() && conflicts.is_empty() && stuck_runs.is_empty() {
            return Ok(PersistOutcome::default());
        }
        let mut manifest = self.manifest.lock().await;
        let mut written = Vec::new();
        for (partition, batches) in &readings {
            let batch = sorted_file_batch(batches)?;
            written.push(self.put_file(&mut manifest, Dataset::Readings, partition, &batch, 1).await?);
        }
        let mut conflicts_by_partition: BTreeMap<PartitionKey, Vec<Reading>> = BTreeMap::new();
        for r in conflicts {
            conflicts_by_partition
                .entry(PartitionKey { network: Some(r.network.clone()), date: date_of(r.ts_ms) })
                .or_default()
                .push(r);
        }
        for (partition, rs) in &conflicts_by_partition {
            let batch = sorted_file_batch(&[readings_to_batch(rs)])?;
            written.push(self.put_file(&mut manifest, Dataset::Conflicts, partition, &batch, 1).await?);
        }
        let mut dead_by_date: BTreeMap<PartitionKey, Vec<DeadLetter>> = BTreeMap::new();
        for d in dead {
            dead_by_date.entry(PartitionKey { network: None, date: date_of(d.received_at_ms) }).or_default().push(d);
        }
        for (partition, ds) in &dead_by_date {
            written.push(self.put_file(&mut manifest, Dataset::DeadLetters, partition, &dead_letters_to_batch(ds), 0).await?);
        }
        self.make_durable(written.iter().flat_map(DataFile::object_paths)).await?;
        self.save_latest().await?;
        // The runs logged up to `closed` were applied before the rows were taken from memory, so
        // the files just written carry their marks; mark the files published before, and only
        // then let the manifest say these segments are persisted (a crash in between replays
        // them, runs included).
        if !stuck_runs.is_empty() {
            self.mark_stuck_in_files(&mut manifest, &stuck_runs).await?;
        }
        manifest
            .commit(self.object_store.as_ref(), &self.writer, |m| {
                m.files.extend(written.iter().cloned());
                m.wal_persisted_upto = m.wal_persisted_upto.max(closed);
            })
            .await?;
        self.make_durable([crate::layout::manifest_path(&self.writer).as_ref()]).await?;
        let outcome = PersistOutcome {
            files: written.len(),
            rows: written.iter().filter(|f| f.dataset == Dataset::Readings).map(|f| f.rows).sum(),
        };
        {
            let mut state = self.state.write().expect("store lock");
            state.files.extend(written.into_iter().map(Arc::new));
            let mut dropped = 0;
            for batches in state.readings.values_mut() {
                batches.retain(|b| {
                    let keep = b.segment > closed;
                    dropped += if keep { 0 } else { b.item.num_rows() };
                    keep
                });
            }
            state.buffered_rows -= dropped;
            state.readings.retain(|_, bs| !bs.is_empty());
            state.dead_letters.retain(|b| b.segment > closed);
            state.conflicts.retain(|b| b.segment > closed);
        }
        if !stuck_runs.is_empty() {
            self.state.write().expect("store lock").stuck_runs.retain(|b| b.segment > closed);
        }
        metrics::histogram!("ilot_persist_seconds").record(started.elapsed().as_secs_f64());
        metrics::counter!("ilot_persisted_rows_total").increment(outcome.rows);
        self.update_file_gauges();
        Ok(outcome)
    }

    pub(crate) fn update_file_gauges(&self) {
        let state = self.state.read().expect("store lock");
        let mut per_partition: BTreeMap<(Option<&str>, chrono::NaiveDate), usize> = BTreeMap::new();
        for f in state.files.iter().filter(|f| f.dataset == Dataset::Readings) {
            *per_partition.entry((f.network.as_deref(), f.date)).or_default() += 1;
        }
        metrics::gauge!("ilot_readings_files").set(per_partition.values().sum::<usize>() as f64);
        metrics::gauge!("ilot_readings_files_per_partition_max").set(per_partition.values().copied().max().unwrap_or(0) as f64);
        metrics::gauge!("ilot_buffered_rows").set(state.buffered_rows as f64);
    }
}

/// One persist cycle: rotate the WAL, persist, then drop the covered segments.
pub async fn persist_cycle<T: Send + 'static>(store: &Store, committer: &CommitterHandle<T>) -> Result<PersistOutcome, String> {
    let closed = committer.rotate().await.map_err(|e| e.to_string())?;
    let outcome = store.persist(closed).await.map_err(|e| e.to_string())?;
    committer.remove_upto(closed).await.map_err(|e| e.to_string())?;
    store.evict_cold_keys();
    Ok(outcome)
}

/// Run persist cycles every `interval`, or sooner when more than `max_buffered_rows` wait in
/// memory, until `shutdown` fires.
pub async fn run_persister<T: Send + 'static>(
    store: Arc<Store>,
    committer: CommitterHandle<T>,
    interval: Duration,
    max_buffered_rows: usize,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let mut last = Instant::now();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(250).min(interval)) => {}
            _ = shutdown.changed() => break,
        }
        if last.elapsed() < interval && store.buffered_rows() < max_buffered_rows {
            continue;
        }
        last = Instant::now();
        match persist_cycle(&store, &committer).await {
            Ok(o) if o.files > 0 => tracing::info!(files = o.files, rows = o.rows, "persisted"),
            Ok(_) => {}
            Err(e) => {
                metrics::counter!("ilot_persist_errors_total").increment(1);
                tracing::error!(error = %e, "persist failed; rows stay in the WAL and memory, retrying next cycle");
            }
        }
    }
}
