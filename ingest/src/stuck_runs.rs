//! Runs of identical values found stuck after their first readings were stored
//! (`qc::history`): the store marks those readings `STUCK` in memory as soon as the run is
//! applied from the WAL, and in this writer's files at the next persist, before the WAL segment
//! that logged the run is removed. A crash in between replays the run: marking is idempotent.
//! Readings of the run in another writer's files keep their flags (`ilot qc --flags` recomputes
//! them).

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::{Decimal128Type, TimestampMillisecondType, UInt32Type};

use crate::compactor::Replacement;
use crate::layout::{Dataset, PartitionKey};
use crate::manifest::Manifest;
use crate::qc::{STUCK, StuckRun};
use crate::schema::with_qc_flags;
use crate::store::{State, Store, StoreError, date_of};

/// `batch` (stored rows of `network`) with `STUCK` added to the rows the runs cover (their
/// sensor, span and value); `None` when no row changes.
pub(crate) fn mark_stuck(batch: &RecordBatch, network: &str, runs: &[&StuckRun]) -> Option<RecordBatch> {
    let sensors = batch.column_by_name("sensor_id")?.as_string::<i32>();
    let ts = batch.column_by_name("ts")?.as_primitive::<TimestampMillisecondType>();
    let flags = batch.column_by_name("qc_flags")?.as_primitive::<UInt32Type>();
    let centi = batch.column_by_name("temperature_c")?.as_primitive::<Decimal128Type>();
    let mut changed = false;
    let new_flags: Vec<u32> = (0..batch.num_rows())
        .map(|i| {
            let f = flags.value(i);
            if f & STUCK == 0 && runs.iter().any(|run| run.covers(network, sensors.value(i), ts.value(i), centi.value(i) as i16)) {
                changed = true;
                f | STUCK
            } else {
                f
            }
        })
        .collect();
    changed.then(|| with_qc_flags(batch, new_flags))
}

impl State {
    /// Mark the run's readings still in memory.
    pub(crate) fn mark_stuck_in_memory(&mut self, run: &StuckRun) {
        let days = date_of(run.from_ts_ms)..=date_of(run.to_ts_ms);
        for (partition, batches) in self.readings.iter_mut() {
            if partition.network.as_deref() != Some(run.network.as_str()) || !days.contains(&partition.date) {
                continue;
            }
            for b in batches.iter_mut() {
                if let Some(marked) = mark_stuck(&b.item, &run.network, &[run]) {
                    b.item = marked;
                }
            }
        }
    }
}

impl Store {
    /// Mark the runs' readings in this writer's published files: each file holding one of
    /// them is replaced by a copy with the new flags. Returns the number of files replaced.
    pub(crate) async fn mark_stuck_in_files(&self, manifest: &mut Manifest, runs: &[StuckRun]) -> Result<usize, StoreError> {
        let mut replacements = Vec::new();
        let candidates: Vec<_> = manifest
            .files
            .iter()
            .filter(|f| f.dataset == Dataset::Readings && !self.damage.contains(&f.path))
            .filter_map(|f| {
                let network = f.network.as_deref()?;
                let hits: Vec<&StuckRun> =
                    runs.iter().filter(|r| r.network == network && r.from_ts_ms <= f.max_ts_ms && r.to_ts_ms >= f.min_ts_ms).collect();
                (!hits.is_empty()).then(|| (f.clone(), hits))
            })
            .collect();
        for (file, hits) in candidates {
            let batches = match self.read_object(&file.path).await {
                Ok(batches) => batches,
                // Recorded as damaged: left out, reported, its rows are not marked.
                Err(e) if e.damage().is_some() => continue,
                Err(e) => return Err(e),
            };
            let batch = arrow::compute::concat_batches(&crate::schema::file_schema(), &batches).map_err(crate::parquet_file::ParquetFileError::from)?;
            let network = file.network.clone().expect("readings files have a network");
            if let Some(marked) = mark_stuck(&batch, &network, &hits) {
                let partition = PartitionKey { network: Some(network), date: file.date };
                replacements.push(Replacement { old: vec![file], partition, batch: marked });
            }
        }
        let replaced = replacements.len();
        self.replace_readings(manifest, replacements).await?;
        if replaced > 0 {
            tracing::info!(files = replaced, runs = runs.len(), "marked the earlier readings of stuck runs");
        }
        Ok(replaced)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Reading;
    use crate::schema::readings_to_batch;

    #[test]
    fn only_the_runs_readings_gain_the_flag() {
        // Sensor a: 20.00 °C at 0, 1, 3 s, a late 21.50 at 2 s; sensor b alike.
        let value = |i: i64| if i % 4 == 2 { 2150 } else { 2000 };
        let rs: Vec<Reading> = (0..8).map(|i| Reading::sample(if i < 4 { "a" } else { "b" }, (i % 4) * 1000, value(i))).collect();
        let batch = readings_to_batch(&rs);
        let run = StuckRun { network: "n".into(), sensor_id: "a".into(), from_ts_ms: 1000, to_ts_ms: 3000, centi_c: 2000 };
        let marked = mark_stuck(&batch, "n", &[&run]).expect("rows change");
        let flags: Vec<u32> = marked.column_by_name("qc_flags").unwrap().as_primitive::<UInt32Type>().values().to_vec();
        assert_eq!(flags, [0, STUCK, 0, STUCK, 0, 0, 0, 0], "the late 21.50 was never part of the run");
        assert!(mark_stuck(&marked, "n", &[&run]).is_none(), "marking twice changes nothing");
        assert!(mark_stuck(&batch, "other", &[&run]).is_none());
    }
}
