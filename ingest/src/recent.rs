//! The last stretch of each sensor's stored stream, read back when the service starts to seed
//! the intake's QC history (`STEP`, `STUCK`: see `qc::history`), so that a restart does not
//! blind those checks. Sensors are found in the latest-reading cache; only sensors heard from in
//! the last day, and only the files and in-memory rows that can hold their last `window`, are read.

use std::collections::HashMap;
use std::sync::Arc;

use crate::Reading;
use crate::layout::Dataset;
use crate::manifest::DataFile;
use crate::schema::{StoredRows, partition_of_batch};
use crate::store::{Store, StoreError};

/// Sensors silent for longer are not seeded (the history forgets them after as long anyway).
const ACTIVE_MS: i64 = 24 * 3_600_000;

impl Store {
    /// Each active sensor's readings in `(newest − window_ms, newest]`, `newest` its latest
    /// measurement, with the flags they were stored with. `now_ms`: the wall clock.
    pub async fn recent_readings(&self, window_ms: i64, now_ms: i64) -> Result<Vec<Reading>, StoreError> {
        // Network → sensor → start of its window.
        let mut since: HashMap<String, HashMap<String, i64>> = HashMap::new();
        for r in self.latest_readings().into_iter().filter(|r| r.ts_ms > now_ms - ACTIVE_MS) {
            since.entry(r.network).or_default().insert(r.sensor_id, r.ts_ms - window_ms);
        }
        let network_since: HashMap<&str, i64> =
            since.iter().filter_map(|(n, sensors)| Some((n.as_str(), *sensors.values().min()?))).collect();
        let snapshot = self.snapshot();
        let files: Vec<Arc<DataFile>> = snapshot
            .files
            .into_iter()
            .filter(|f| f.dataset == Dataset::Readings)
            .filter(|f| f.network.as_deref().and_then(|n| network_since.get(n)).is_some_and(|start| f.max_ts_ms > *start))
            .collect();
        let mut out = Vec::new();
        let mut keep = |network: &str, batch: &arrow::array::RecordBatch| {
            let Some(sensors) = since.get(network) else { return };
            let rows = StoredRows::of(batch);
            for i in 0..batch.num_rows() {
                if sensors.get(rows.sensors.value(i)).is_some_and(|start| rows.ts.value(i) > *start) {
                    out.push(rows.reading(network, i));
                }
            }
        };
        // One file at a time: only the rows kept stay in memory.
        for f in &files {
            let network = f.network.clone().unwrap_or_default();
            for batch in self.read_intact_files(std::slice::from_ref(f)).await? {
                keep(&network, &batch);
            }
        }
        for b in snapshot.batches.iter().filter(|b| b.num_rows() > 0) {
            let (network, _) = partition_of_batch(b);
            keep(&network, b);
        }
        Ok(out)
    }
}
