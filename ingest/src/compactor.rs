//! Compaction: once a day is closed (its end plus `compaction_delay` has passed), merge the
//! files of each (network, day) into one sorted file, with its hourly rollup. The swap
//! ([`Store::replace_readings`], also used when stored flags change) is atomic for readers: the
//! new file replaces the old ones in the manifest and in the query state in one critical
//! section, and the old files are deleted only after a grace period longer than any query may
//! run.

use object_store::ObjectStoreExt;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;

use crate::layout::{Dataset, PartitionKey};
use crate::manifest::{DataFile, Manifest};
use crate::parquet_file::sorted_file_batch;
use crate::store::{Store, StoreError};

/// Files replaced (by compaction or new flags), waiting for their grace period to end.
#[derive(Default)]
pub struct Retired {
    files: Vec<(Instant, String)>,
}

/// Old readings files of this writer, and what replaces them: one file of `batch`.
pub(crate) struct Replacement {
    pub old: Vec<DataFile>,
    pub partition: PartitionKey,
    pub batch: RecordBatch,
}

impl Store {
    /// Compact every closed (network, day) partition with more than one readings file, after
    /// quarantining this writer's unreadable files and writing missing or damaged rollups
    /// (damaged files are left alone). Returns the number of partitions compacted.
    pub async fn compact(&self, now_ms: i64, delay: Duration) -> Result<usize, StoreError> {
        self.quarantine_unreadable_files().await?;
        self.write_missing_rollups().await?;
        let started = Instant::now();
        let mut manifest = self.manifest.lock().await;
        let mut groups: BTreeMap<PartitionKey, Vec<DataFile>> = BTreeMap::new();
        for f in manifest.files.iter().filter(|f| f.dataset == Dataset::Readings && !self.damage.contains(&f.path)) {
            let day_end_ms = (f.date + chrono::Days::new(1)).and_hms_opt(0, 0, 0).expect("midnight").and_utc().timestamp_millis();
            if day_end_ms + delay.as_millis() as i64 <= now_ms {
                groups.entry(PartitionKey { network: f.network.clone(), date: f.date }).or_default().push(f.clone());
            }
        }
        let mut compacted = 0;
        for (partition, files) in groups.into_iter().filter(|(_, fs)| fs.len() > 1) {
            let arcs: Vec<Arc<DataFile>> = files.iter().cloned().map(Arc::new).collect();
            let batches = self.read_files(&arcs).await?;
            let merged = sorted_file_batch(&batches)?;
            let rows_in: u64 = files.iter().map(|f| f.rows).sum();
            assert_eq!(merged.num_rows() as u64, rows_in, "compaction must neither lose nor invent rows");
            let count = files.len();
            self.replace_readings(&mut manifest, vec![Replacement { old: files, partition: partition.clone(), batch: merged }]).await?;
            compacted += 1;
            tracing::info!(partition = ?partition, files = count, rows = rows_in, "compacted");
        }
        drop(manifest);
        if compacted > 0 {
            metrics::histogram!("ilot_compaction_seconds").record(started.elapsed().as_secs_f64());
            metrics::counter!("ilot_compactions_total").increment(compacted as u64);
            self.update_file_gauges();
        }
        Ok(compacted)
    }

    /// Give this writer's readings files without a current hourly rollup (written before
    /// rollups existed, or with another [`crate::rollup::ROLLUP_VERSION`]) or whose rollup is
    /// damaged their rollup. Until then the query side computes it from the readings. Returns
    /// the number of files done.
    pub async fn write_missing_rollups(&self) -> Result<usize, StoreError> {
        let mut manifest = self.manifest.lock().await;
        let missing: Vec<DataFile> = manifest
            .files
            .iter()
            .filter(|f| f.dataset == Dataset::Readings && !self.damage.contains(&f.path))
            .filter(|f| f.current_rollup().is_none_or(|(path, _)| self.damage.contains(path.as_str())))
            .cloned()
            .collect();
        let mut done = 0;
        for file in &missing {
            let batches = match self.read_object(&file.path).await {
                Ok(batches) => batches,
                // Recorded as damaged: quarantined or reported, not rolled up.
                Err(e) if e.damage().is_some() => continue,
                Err(e) => return Err(e),
            };
            let batch = arrow::compute::concat_batches(&crate::schema::file_schema(), &batches).map_err(crate::parquet_file::ParquetFileError::from)?;
            let rollup = self.put_rollup(&file.path, &batch).await?;
            let updated = DataFile { hourly_rollup: Some(rollup), ..file.clone() };
            self.make_durable(updated.object_paths()).await?;
            manifest
                .commit(self.object_store.as_ref(), &self.writer, |m| {
                    if let Some(f) = m.files.iter_mut().find(|f| f.path == updated.path) {
                        *f = updated.clone();
                    }
                })
                .await?;
            let mut state = self.state.write().expect("store lock");
            if let Some(f) = state.files.iter_mut().find(|f| f.path == updated.path) {
                *f = Arc::new(updated);
            }
            drop(state);
            // Queries read it again once its new size is in the state.
            self.damage.forget([crate::layout::HourlyRollupPath::of(&file.path).as_str()]);
            done += 1;
        }
        if done > 0 {
            self.make_durable([crate::layout::manifest_path(&self.writer).as_ref()]).await?;
            tracing::info!(files = done, "wrote the hourly rollups of older readings files and of damaged rollups");
        }
        Ok(done)
    }

    /// Replace readings files of this writer, each group of old files by one file of its
    /// batch (file schema, sorted as files are: see `sorted_file_batch`), with its hourly
    /// rollup: written and made durable, then swapped in the manifest and in the query state;
    /// the old files are retired.
    pub(crate) async fn replace_readings(&self, manifest: &mut Manifest, replacements: Vec<Replacement>) -> Result<(), StoreError> {
        for Replacement { old: files, partition, batch } in replacements {
            let new_file = self.put_file(manifest, Dataset::Readings, &partition, &batch, 1).await?;
            let old: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
            self.make_durable(new_file.object_paths()).await?;
            manifest
                .commit(self.object_store.as_ref(), &self.writer, |m| {
                    m.files.retain(|f| !old.contains(&f.path.as_str()));
                    m.files.push(new_file.clone());
                })
                .await?;
            self.make_durable([crate::layout::manifest_path(&self.writer).as_ref()]).await?;
            {
                let mut state = self.state.write().expect("store lock");
                state.files.retain(|f| !old.contains(&f.path.as_str()));
                state.files.push(Arc::new(new_file));
            }
            let old_objects: Vec<String> = files.iter().flat_map(DataFile::object_paths).collect();
            self.damage.forget(&old_objects);
            self.retired.lock().expect("retired lock").files.extend(old_objects.into_iter().map(|p| (Instant::now(), p)));
        }
        Ok(())
    }

    /// Delete retired files whose grace period is over.
    pub async fn delete_retired(&self, grace: Duration) {
        let retired = std::mem::take(&mut self.retired.lock().expect("retired lock").files);
        let mut keep = Vec::new();
        for (at, path) in retired {
            if at.elapsed() < grace {
                keep.push((at, path));
            } else if let Err(e) = self.object_store.delete(&object_store::path::Path::from(path.as_str())).await {
                tracing::warn!(error = %e, %path, "could not delete a compacted-away file; will retry");
                keep.push((at, path));
            }
        }
        self.retired.lock().expect("retired lock").files.extend(keep);
    }
}

/// Compact every `interval` until `shutdown` fires.
pub async fn run_compactor(
    store: Arc<Store>,
    interval: Duration,
    delay: Duration,
    grace: Duration,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = shutdown.changed() => break,
        }
        if let Err(e) = store.compact(chrono::Utc::now().timestamp_millis(), delay).await {
            metrics::counter!("ilot_compaction_errors_total").increment(1);
            tracing::error!(error = %e, "compaction failed; will retry");
        }
        store.delete_retired(grace).await;
    }
}
