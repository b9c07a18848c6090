//! The newest reading of every sensor, by measurement time (not arrival): the dashboards'
//! "now", answered from memory instead of a scan. Fed by every reading the store accepts.
//!
//! Each writer saves its cache as `_ilot/latest/<writer>.parquet` at every persist, before the
//! manifest that publishes the persisted rows, so the union of these small files always covers
//! every published reading. A store opens, and takes in other writers' new files, by reading
//! them (one row per sensor and writer) instead of the data; only files of a writer that saved
//! none (written before saved caches existed) or whose cache does not read (a cache: logged,
//! recorded in `damage`, rewritten at its writer's next persist) are read, the last
//! [`SEED_DAYS`] days of them.

use arrow::array::{AsArray, RecordBatch};
use chrono::NaiveDate;
use futures::TryStreamExt;
use object_store::{ObjectStoreExt, PutPayload};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use crate::Reading;
use crate::layout::{DataFilePath, Dataset, latest_dir, latest_path, latest_writer_of};
use crate::manifest::DataFile;
use crate::parquet_file;
use crate::schema::{StoredRows, readings_to_batch};
use crate::store::{Store, StoreError};

/// Days of data, before the newest file of each network, read to seed the cache: a sensor
/// silent for longer shows no latest reading until it reports again.
pub const SEED_DAYS: i64 = 7;

/// Network → sensor → newest reading: looked up by `&str`, so a reading that is not newer (the
/// common case on the apply path) costs no allocation.
#[derive(Default)]
pub struct LatestReadings {
    by_network: RwLock<HashMap<String, HashMap<String, Reading>>>,
}

impl LatestReadings {
    /// Keep `r` if it is its sensor's newest measurement.
    pub fn observe(&self, r: &Reading) {
        let mut map = self.by_network.write().expect("latest lock");
        let sensors = match map.get_mut(r.network.as_str()) {
            Some(sensors) => sensors,
            None => map.entry(r.network.clone()).or_default(),
        };
        match sensors.get_mut(r.sensor_id.as_str()) {
            Some(known) if known.ts_ms >= r.ts_ms => {}
            Some(known) => *known = r.clone(),
            None => {
                sensors.insert(r.sensor_id.clone(), r.clone());
            }
        }
    }

    /// Observe the rows of a stored batch (file columns) of `network`.
    pub fn observe_batch(&self, network: &str, batch: &RecordBatch) {
        let rows = StoredRows::of(batch);
        // Newest row per sensor in this batch first, then one map update per sensor.
        let mut newest: HashMap<&str, usize> = HashMap::new();
        for i in 0..batch.num_rows() {
            let e = newest.entry(rows.sensors.value(i)).or_insert(i);
            if rows.ts.value(i) > rows.ts.value(*e) {
                *e = i;
            }
        }
        for (_, i) in newest {
            self.observe(&rows.reading(network, i));
        }
    }

    /// Observe every row of a saved cache (stored schema, `network` column included).
    fn observe_saved(&self, batch: &RecordBatch) {
        let rows = StoredRows::of(batch);
        let networks = batch.column_by_name("network").expect("saved caches have network").as_string::<i32>();
        for i in 0..batch.num_rows() {
            self.observe(&rows.reading(networks.value(i), i));
        }
    }

    /// Every sensor's newest reading, sorted by network and sensor.
    pub fn snapshot(&self) -> Vec<Reading> {
        let mut out: Vec<Reading> = self.by_network.read().expect("latest lock").values().flat_map(|s| s.values().cloned()).collect();
        out.sort_by(|a, b| (&a.network, &a.sensor_id).cmp(&(&b.network, &b.sensor_id)));
        out
    }
}

impl Store {
    /// Save this writer's cache (called before each manifest commit that publishes rows).
    pub(crate) async fn save_latest(&self) -> Result<(), StoreError> {
        let batch = readings_to_batch(&self.latest.snapshot());
        let bytes = parquet_file::encode_small(&batch)?;
        let path = latest_path(&self.writer);
        self.object_store.put(&path, PutPayload::from(bytes)).await?;
        self.damage.forget([path.as_ref()]);
        Ok(())
    }

    /// Seed the cache with what `files` hold: from the saved caches of their writers (all saved
    /// caches are read: they are small), and from the recent files themselves for writers that
    /// saved none (stores written before saved caches existed) or whose cache does not read.
    pub(crate) async fn seed_latest(&self, files: &[Arc<DataFile>]) -> Result<(), StoreError> {
        let saved: Vec<_> = self.object_store.list(Some(&latest_dir())).try_collect().await?;
        let mut writers = std::collections::HashSet::new();
        for meta in saved {
            let Some(writer) = meta.location.filename().and_then(latest_writer_of) else { continue };
            let batches = match self.read_object(meta.location.as_ref()).await {
                Ok(batches) => batches,
                // Recorded and logged with its path by `read_object`: its writer's files are read instead.
                Err(e) if e.damage().is_some() => continue,
                Err(e) => return Err(e),
            };
            self.damage.forget([meta.location.as_ref()]);
            writers.insert(writer.to_owned());
            for batch in batches {
                self.latest.observe_saved(&batch);
            }
        }
        let unsaved: Vec<Arc<DataFile>> = files
            .iter()
            .filter(|f| {
                let name = f.path.rsplit('/').next().unwrap_or_default();
                DataFilePath::writer_of(name).is_none_or(|w| !writers.contains(w))
            })
            .cloned()
            .collect();
        self.seed_latest_from_files(&unsaved).await
    }

    /// Feed the latest-reading cache from the readings files of the last [`SEED_DAYS`] days of
    /// data of each network among `files`.
    async fn seed_latest_from_files(&self, files: &[Arc<DataFile>]) -> Result<(), StoreError> {
        let mut newest: BTreeMap<Option<&str>, NaiveDate> = BTreeMap::new();
        for f in files.iter().filter(|f| f.dataset == Dataset::Readings) {
            let e = newest.entry(f.network.as_deref()).or_insert(f.date);
            *e = (*e).max(f.date);
        }
        let recent: Vec<Arc<DataFile>> = files
            .iter()
            .filter(|f| f.dataset == Dataset::Readings)
            .filter(|f| newest.get(&f.network.as_deref()).is_some_and(|d| f.date >= *d - chrono::Days::new(SEED_DAYS as u64)))
            .cloned()
            .collect();
        for f in &recent {
            let network = f.network.clone().unwrap_or_default();
            for batch in self.read_intact_files(std::slice::from_ref(f)).await? {
                self.latest.observe_batch(&network, &batch);
            }
        }
        Ok(())
    }

}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(sensor: &str, ts_ms: i64, centi: i16) -> Reading {
        Reading { battery_mv: Some(3600), ..Reading::sample(sensor, ts_ms, centi) }
    }

    #[test]
    fn the_newest_measurement_wins_whatever_the_arrival_order() {
        let latest = LatestReadings::default();
        latest.observe(&r("a", 2_000, 2100));
        latest.observe(&r("a", 1_000, 1900)); // late backlog: older, ignored
        latest.observe(&r("b", 5_000, 1500));
        let batch = crate::schema::readings_to_batch(&[r("a", 3_000, 2200), r("a", 2_500, 2000), r("b", 4_000, 1400)]);
        latest.observe_batch("n", &batch);
        let snap = latest.snapshot();
        assert_eq!(snap.iter().map(|r| (r.sensor_id.as_str(), r.ts_ms, r.temperature_centi_c)).collect::<Vec<_>>(), [("a", 3_000, 2200), ("b", 5_000, 1500)]);
        assert_eq!(snap[0].battery_mv, Some(3600), "values survive the round trip through a batch");
    }
}
