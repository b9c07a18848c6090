//! The hourly rollup: for each sensor and UTC hour, the count, sum, minimum and maximum of its
//! QC-passed temperatures (no failed temperature check, `qc_flags & TEMPERATURE_FAILURES = 0`),
//! and the count and sum of all its stored temperatures whatever their flags (`raw_`: the
//! input of CrowdQC+, which is the quality control of crowdsourced networks).
//! Written beside every readings file when it is persisted or compacted
//! (`rollups/hourly/…`, see `layout`), and computed on the fly for rows still in memory, so the
//! hourly analytics never rescan raw readings.
//!
//! Partial rollups of one hour (several files of a day not yet compacted, plus memory) merge
//! exactly: counts and sums add (the sum is kept in integer hundredths of a degree, so the
//! mean does not depend on the order of addition), minima and maxima combine.

use arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray,
};
use arrow::datatypes::{DataType, Decimal128Type, Field, Float64Type, Int64Type, Schema, SchemaRef, TimeUnit, TimestampMillisecondType, UInt32Type};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, LazyLock};

use crate::manifest::DataFile;
use crate::qc::TEMPERATURE_FAILURES;
use crate::store::{Store, StoreError};

/// Version of what a rollup file holds. A file written with another version (another QC mask
/// or schema) is ignored and recomputed from its readings file.
pub const ROLLUP_VERSION: u32 = 2;

const HOUR_MS: i64 = 3_600_000;

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("sensor_id", DataType::Utf8, false),
        Field::new("hour", DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())), false),
        Field::new("samples", DataType::Int64, false),
        Field::new("temperature_sum_centi", DataType::Int64, false),
        Field::new("temperature_min_c", DataType::Float64, true),
        Field::new("temperature_max_c", DataType::Float64, true),
        Field::new("raw_samples", DataType::Int64, false),
        Field::new("raw_temperature_sum_centi", DataType::Int64, false),
    ]))
});

/// Columns of a rollup file (`network` and `date` are in its path, as for readings).
pub fn rollup_schema() -> SchemaRef {
    SCHEMA.clone()
}

/// One sensor-hour: its QC-passed temperatures (extremes `i64::MAX` / `i64::MIN` while there is
/// none) and every stored temperature (`raw_`), which CrowdQC+ reads.
#[derive(Clone, Copy)]
struct Hour {
    samples: i64,
    sum_centi: i64,
    min_centi: i64,
    max_centi: i64,
    raw_samples: i64,
    raw_sum_centi: i64,
}

impl Hour {
    fn of(centi: i64, passed: bool) -> Self {
        if passed {
            Hour { samples: 1, sum_centi: centi, min_centi: centi, max_centi: centi, raw_samples: 1, raw_sum_centi: centi }
        } else {
            Hour { samples: 0, sum_centi: 0, min_centi: i64::MAX, max_centi: i64::MIN, raw_samples: 1, raw_sum_centi: centi }
        }
    }

    fn merge(&mut self, o: Hour) {
        self.samples += o.samples;
        self.sum_centi += o.sum_centi;
        self.min_centi = self.min_centi.min(o.min_centi);
        self.max_centi = self.max_centi.max(o.max_centi);
        self.raw_samples += o.raw_samples;
        self.raw_sum_centi += o.raw_sum_centi;
    }
}

/// Accumulates readings and partial rollups into one row per (sensor, hour).
#[derive(Default)]
pub struct HourlyRollup {
    by_sensor: HashMap<String, BTreeMap<i64, Hour>>,
}

impl HourlyRollup {
    fn add(&mut self, sensor: &str, hour_ms: i64, h: Hour) {
        // Looked up by `&str`: a sensor already seen costs no allocation.
        let hours = match self.by_sensor.get_mut(sensor) {
            Some(hours) => hours,
            None => self.by_sensor.entry(sensor.to_owned()).or_default(),
        };
        hours.entry(hour_ms).and_modify(|known| known.merge(h)).or_insert(h);
    }

    /// Add the rows of a readings batch (stored or file schema: `sensor_id`, `ts`,
    /// `temperature_c` as a decimal in hundredths, `qc_flags`): every row to the raw counts, the
    /// QC-passed ones to the others.
    pub fn add_readings(&mut self, batch: &RecordBatch) {
        let col = |name: &str| batch.column_by_name(name).unwrap_or_else(|| panic!("readings batches have {name}"));
        let sensors = col("sensor_id").as_string::<i32>();
        let ts = col("ts").as_primitive::<TimestampMillisecondType>();
        let centi = col("temperature_c").as_primitive::<Decimal128Type>();
        let flags = col("qc_flags").as_primitive::<UInt32Type>();
        // Readings files are sorted by (sensor, ts): runs of one sensor-hour fold before the map.
        let mut run: Option<(usize, i64, Hour)> = None;
        for i in 0..batch.num_rows() {
            let hour_ms = ts.value(i).div_euclid(HOUR_MS) * HOUR_MS;
            let one = Hour::of(centi.value(i) as i64, flags.value(i) & TEMPERATURE_FAILURES == 0);
            match &mut run {
                Some((at, h, acc)) if *h == hour_ms && sensors.value(*at) == sensors.value(i) => acc.merge(one),
                _ => {
                    if let Some((at, h, acc)) = run.take() {
                        self.add(sensors.value(at), h, acc);
                    }
                    run = Some((i, hour_ms, one));
                }
            }
        }
        if let Some((at, h, acc)) = run {
            self.add(sensors.value(at), h, acc);
        }
    }

    /// Add a partial rollup (a rollup file's batch, [`rollup_schema`] columns first).
    pub fn add_rollup(&mut self, batch: &RecordBatch) {
        let sensors = batch.column(0).as_string::<i32>();
        let hours = batch.column(1).as_primitive::<TimestampMillisecondType>();
        let samples = batch.column(2).as_primitive::<Int64Type>();
        let sums = batch.column(3).as_primitive::<Int64Type>();
        let mins = batch.column(4).as_primitive::<Float64Type>();
        let maxs = batch.column(5).as_primitive::<Float64Type>();
        let raw_samples = batch.column(6).as_primitive::<Int64Type>();
        let raw_sums = batch.column(7).as_primitive::<Int64Type>();
        let centi = |a: &Float64Array, i: usize, none: i64| if a.is_null(i) { none } else { (a.value(i) * 100.0).round() as i64 };
        for i in 0..batch.num_rows() {
            let h = Hour {
                samples: samples.value(i),
                sum_centi: sums.value(i),
                min_centi: centi(mins, i, i64::MAX),
                max_centi: centi(maxs, i, i64::MIN),
                raw_samples: raw_samples.value(i),
                raw_sum_centi: raw_sums.value(i),
            };
            self.add(sensors.value(i), hours.value(i), h);
        }
    }

    /// One row per (sensor, hour), sorted by sensor then hour ([`rollup_schema`]).
    pub fn finish(self) -> RecordBatch {
        let mut sensors: Vec<(String, BTreeMap<i64, Hour>)> = self.by_sensor.into_iter().collect();
        sensors.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let rows: Vec<((&str, i64), Hour)> =
            sensors.iter().flat_map(|(s, hours)| hours.iter().map(move |(h, v)| ((s.as_str(), *h), *v))).collect();
        let columns: Vec<ArrayRef> = vec![
            Arc::new(rows.iter().map(|((s, _), _)| Some(*s)).collect::<StringArray>()),
            Arc::new(TimestampMillisecondArray::from_iter_values(rows.iter().map(|((_, h), _)| *h)).with_timezone("UTC")),
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|(_, h)| h.samples))),
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|(_, h)| h.sum_centi))),
            Arc::new(rows.iter().map(|(_, h)| (h.samples > 0).then(|| h.min_centi as f64 / 100.0)).collect::<Float64Array>()),
            Arc::new(rows.iter().map(|(_, h)| (h.samples > 0).then(|| h.max_centi as f64 / 100.0)).collect::<Float64Array>()),
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|(_, h)| h.raw_samples))),
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|(_, h)| h.raw_sum_centi))),
        ];
        RecordBatch::try_new(rollup_schema(), columns).expect("rollup batch matches its schema")
    }
}

/// The hourly rollup of one readings file's rows.
pub fn rollup_of(batch: &RecordBatch) -> RecordBatch {
    let mut r = HourlyRollup::default();
    r.add_readings(batch);
    r.finish()
}

impl Store {
    /// The merged hourly rollup of one partition's `files` and in-memory `batches` (stored
    /// schema): the files' rollups where they are current, else their readings, plus the rows
    /// in memory. One row per (sensor, hour).
    pub async fn merged_hourly_rollup(&self, files: &[Arc<DataFile>], batches: &[RecordBatch]) -> Result<RecordBatch, StoreError> {
        use futures::{StreamExt, TryStreamExt};
        // A day still receiving data has a file per persist cycle: fetch them concurrently (each
        // fetch is a round trip on S3), merge in any order (the merge is exact).
        let loaded: Vec<(bool, Vec<RecordBatch>)> = futures::stream::iter(files.to_vec())
            .map(|f| self.load_for_rollup(f))
            .buffer_unordered(CONCURRENT_FETCHES)
            .try_collect()
            .await?;
        let mut merged = HourlyRollup::default();
        for (is_rollup, file_batches) in &loaded {
            for batch in file_batches {
                if *is_rollup { merged.add_rollup(batch) } else { merged.add_readings(batch) }
            }
        }
        for b in batches {
            merged.add_readings(b);
        }
        Ok(merged.finish())
    }

    /// A file's rollup batches (`true`), or its readings when it has no current rollup or that
    /// does not read (recorded as damaged; a damaged readings file gives no rows).
    async fn load_for_rollup(&self, f: Arc<DataFile>) -> Result<(bool, Vec<RecordBatch>), StoreError> {
        if let Some((path, _)) = f.current_rollup().filter(|(p, _)| !self.damage.contains(p.as_str())) {
            match self.read_object(path.as_str()).await {
                Ok(batches) => return Ok((true, batches)),
                Err(e) if e.damage().is_some() => {}
                Err(e) => return Err(e),
            }
        }
        Ok((false, self.read_intact_files(std::slice::from_ref(&f)).await?))
    }
}

/// Rollup or readings files fetched at once when a partition is merged.
const CONCURRENT_FETCHES: usize = 16;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Reading;
    use crate::schema::readings_to_batch;

    fn r(sensor: &str, ts_ms: i64, centi: i16, flags: u32) -> Reading {
        Reading { qc_flags: flags, ..Reading::sample(sensor, ts_ms, centi) }
    }

    #[test]
    fn one_row_per_sensor_hour_passed_and_raw_and_partials_merge_exactly() {
        let h0 = 1_751_328_000_000; // 2025-07-01T00:00Z
        let rows = [
            r("a", h0, 2000, 0),
            r("a", h0 + 300_000, 2050, 0),
            r("a", h0 + 600_000, 3000, crate::qc::STEP), // failed: not counted
            r("a", h0 + 600_000, 2500, crate::qc::UNKNOWN_SENSOR), // not a temperature failure
            r("b", h0 + HOUR_MS + 5, -150, 0),
            r("a", h0 + HOUR_MS, 1900, 0),
            r("c", h0, 4000, crate::qc::STUCK), // an hour with nothing passed: raw only
        ];
        let whole = rollup_of(&readings_to_batch(&rows));
        assert_eq!(whole.num_rows(), 4);
        let raw = |c| whole.column(c).as_primitive::<Int64Type>().values().to_vec();
        assert_eq!(raw(6), [4, 1, 1, 1], "every stored temperature counts raw");
        assert_eq!(raw(7), [2000 + 2050 + 3000 + 2500, 1900, -150, 4000]);
        assert_eq!(raw(2)[3], 0);
        assert!(whole.column(4).is_null(3) && whole.column(5).is_null(3), "no extremes without a passed value");
        let sums = whole.column(3).as_primitive::<Int64Type>();
        assert_eq!((sums.value(0), sums.value(1), sums.value(2)), (2000 + 2050 + 2500, 1900, -150));
        assert_eq!(whole.column(4).as_primitive::<Float64Type>().value(0), 20.0);
        assert_eq!(whole.column(5).as_primitive::<Float64Type>().value(0), 25.0);
        assert_eq!(whole.column(4).as_primitive::<Float64Type>().value(2), -1.5);
        assert_eq!(whole.column(2).as_primitive::<Int64Type>().values().iter().sum::<i64>(), 5);
        let rows = &rows[..6];
        let whole = rollup_of(&readings_to_batch(rows));

        // Split in two files plus memory, merged: the same rows, exactly.
        let mut merged = HourlyRollup::default();
        merged.add_rollup(&rollup_of(&readings_to_batch(&rows[..2])));
        merged.add_rollup(&rollup_of(&readings_to_batch(&rows[2..4])));
        merged.add_readings(&readings_to_batch(&rows[4..]));
        assert_eq!(merged.finish(), whole);
    }
}
