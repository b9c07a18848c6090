//! The CrowdQC+ job (`ilot qc`): one network and UTC month at a time, it reads the network's
//! hourly means of every stored value (`hourly_raw`: like its reference implementation,
//! CrowdQC+ gets the raw values, not those the single-sensor checks passed) on the regular grid
//! CrowdQC+ expects (every registered station × every hour of the month, missing hours as
//! nulls), runs the level chain m1 … o3, and writes the flags as
//! one Parquet file per network-month (`qc/crowdqc/network=…/month=…/crowdqc.parquet`, replaced
//! whole by each run), which SQL reads as the `crowdqc` table. `ilot serve` also runs it on
//! a schedule ([`run_scheduled`], `[crowdqc] interval_s`) over the current month.

use chrono::{Datelike, NaiveDate};
use datafusion::arrow::array::{Array, ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use ilot_ingest::layout::{CrowdQcFilePath, valid_network};
use ilot_ingest::registry::Registry;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use std::collections::HashMap;
use std::sync::Arc;

use super::{CrowdQcFlags, CrowdQcGrid, run};
use crate::QueryEngine;

#[derive(Debug, thiserror::Error)]
pub enum CrowdQcJobError {
    #[error("network {0:?} has no registered sensors")]
    NoSensors(String),
    #[error("invalid network name {0:?}")]
    InvalidNetwork(String),
    #[error("reading the hourly values: {0}")]
    Query(#[from] crate::QueryError),
    #[error("writing the result: {0}")]
    Storage(#[from] object_store::Error),
    #[error("encoding the result: {0}")]
    Encode(String),
}

/// What one run found: rows passing each level, and where the result went.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CrowdQcSummary {
    pub network: String,
    pub month: String,
    pub stations: usize,
    pub rows: usize,
    /// (level, rows passing it) for raw, m1 … m5, o1 … o3.
    pub passing: Vec<(&'static str, usize)>,
    /// Readings of the checked hours that failed a single-sensor check (`qc_flags & 31 <> 0`):
    /// CrowdQC+ saw them as every other value; the heat views leave them out too.
    pub single_check_failures: i64,
    pub path: String,
}

/// Columns of a result file (the `crowdqc` table adds `network` and `month` from the path).
pub fn file_schema() -> SchemaRef {
    let flag = |n: &str| Field::new(n, DataType::Boolean, false);
    Arc::new(Schema::new(vec![
        Field::new("sensor_id", DataType::Utf8, false),
        Field::new("hour", DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())), false),
        Field::new("ta", DataType::Float64, true),
        flag("m1"),
        flag("m2"),
        flag("m3"),
        flag("m4"),
        flag("m5"),
        flag("isolated"),
        flag("o1"),
        Field::new("ta_int", DataType::Float64, true),
        flag("o2"),
        flag("o3"),
    ]))
}

/// Run CrowdQC+ over `network` for the UTC month starting at `month` (any day of it).
pub async fn run_month(
    engine: &QueryEngine,
    registry: &Registry,
    store: &Arc<dyn ObjectStore>,
    network: &str,
    month: NaiveDate,
    keep_isolated: bool,
) -> Result<CrowdQcSummary, CrowdQcJobError> {
    if !valid_network(network) {
        return Err(CrowdQcJobError::InvalidNetwork(network.into()));
    }
    let first = month.with_day(1).expect("day 1 exists");
    let next = first.checked_add_months(chrono::Months::new(1)).expect("month in range");
    let sensors: Vec<_> = registry.sensors.iter().filter(|s| s.network == network).collect();
    if sensors.is_empty() {
        return Err(CrowdQcJobError::NoSensors(network.into()));
    }
    let sql = format!(
        "SELECT sensor_id, arrow_cast(hour, 'Int64') AS hour_ms, temperature_mean_c, single_check_failures FROM hourly_raw \
         WHERE network = '{network}' AND valid AND date >= DATE '{first}' AND date < DATE '{next}'"
    );
    let result = engine.query_whole(&sql).await?;
    let mut values: HashMap<(String, i64), f64> = HashMap::new();
    let mut single_check_failures = 0;
    for b in &result.batches {
        let failures = b.column(3).as_any().downcast_ref::<Int64Array>().expect("failures are Int64");
        single_check_failures += failures.values().iter().sum::<i64>();
        let ids = b.column(0).as_any().downcast_ref::<StringArray>().expect("sensor_id is text");
        let hours = b.column(1).as_any().downcast_ref::<Int64Array>().expect("hour_ms is Int64");
        let temps = b.column(2).as_any().downcast_ref::<Float64Array>().expect("temperature is double");
        for i in 0..b.num_rows() {
            if !temps.is_null(i) {
                values.insert((ids.value(i).to_owned(), hours.value(i)), temps.value(i));
            }
        }
    }

    let start_ms = first.and_hms_opt(0, 0, 0).expect("midnight").and_utc().timestamp_millis();
    let hours = (next - first).num_days() * 24;
    let mut grid = CrowdQcGrid::default();
    for (station, s) in sensors.iter().enumerate() {
        for h in 0..hours {
            let t = start_ms + h * 3_600_000;
            grid.station.push(station as i64);
            grid.time_ms.push(t);
            grid.ta.push(values.get(&(s.sensor_id.clone(), t)).copied());
            grid.lon.push(s.lon);
            grid.lat.push(s.lat);
            grid.z.push(s.elevation_m);
        }
    }
    let grid = Arc::new(grid);
    let flags = {
        let grid = grid.clone();
        tokio::task::spawn_blocking(move || run(&grid, keep_isolated)).await.expect("CrowdQC+ does not panic")
    };

    let names: Vec<&str> = sensors.iter().map(|s| s.sensor_id.as_str()).collect();
    let batch = result_batch(&grid, &flags, &names).map_err(|e| CrowdQcJobError::Encode(e.to_string()))?;
    let bytes = ilot_ingest::parquet_file::encode(&batch).map_err(|e| CrowdQcJobError::Encode(e.to_string()))?;
    let path = CrowdQcFilePath::new(network, first);
    store.put(&path.object_path(), PutPayload::from(bytes)).await?;

    let count = |v: &[bool]| v.iter().filter(|&&b| b).count();
    let summary = CrowdQcSummary {
        network: network.into(),
        month: first.format("%Y-%m").to_string(),
        stations: sensors.len(),
        rows: grid.len(),
        passing: vec![
            ("raw", grid.ta.iter().filter(|t| t.is_some()).count()),
            ("m1", count(&flags.m1)),
            ("m2", count(&flags.m2)),
            ("m3", count(&flags.m3)),
            ("m4", count(&flags.m4)),
            ("m5", count(&flags.m5)),
            ("o1", count(&flags.o1)),
            ("o2", count(&flags.o2)),
            ("o3", count(&flags.o3)),
        ],
        single_check_failures,
        path: path.as_str().to_owned(),
    };
    tracing::info!(network, month = %summary.month, stations = summary.stations, passing = ?summary.passing, "CrowdQC+ run stored");
    Ok(summary)
}

fn result_batch(grid: &CrowdQcGrid, flags: &CrowdQcFlags, names: &[&str]) -> Result<RecordBatch, datafusion::arrow::error::ArrowError> {
    let bools = |v: &[bool]| -> ArrayRef { Arc::new(BooleanArray::from(v.to_vec())) };
    RecordBatch::try_new(
        file_schema(),
        vec![
            Arc::new(grid.station.iter().map(|&s| Some(names[s as usize])).collect::<StringArray>()),
            Arc::new(TimestampMillisecondArray::from(grid.time_ms.clone()).with_timezone("UTC")),
            Arc::new(Float64Array::from(grid.ta.clone())),
            bools(&flags.m1),
            bools(&flags.m2),
            bools(&flags.m3),
            bools(&flags.m4),
            bools(&flags.m5),
            bools(&flags.isolated),
            bools(&flags.o1),
            Arc::new(Float64Array::from(flags.ta_int.clone())),
            bools(&flags.o2),
            bools(&flags.o3),
        ],
    )
}

/// `[crowdqc]` in `ilot.toml`: the service's own CrowdQC+ runs.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CrowdQcSchedule {
    /// Run over the current UTC month (and the previous one during the first days of a month,
    /// while its last days may still change) of every crowdsourced network this often; 0 = never.
    pub interval_s: u64,
    /// CrowdQC+ `m5_keep_isolated`.
    pub keep_isolated: bool,
}

impl Default for CrowdQcSchedule {
    fn default() -> Self {
        Self { interval_s: 3600, keep_isolated: false }
    }
}

/// The months a scheduled run covers on `today`: the current one, and the previous one during
/// the first three days of a month.
pub fn scheduled_months(today: NaiveDate) -> Vec<NaiveDate> {
    let first = today.with_day(1).expect("day 1 exists");
    let mut months = vec![first];
    if today.day() <= 3 {
        months.insert(0, first.checked_sub_months(chrono::Months::new(1)).expect("month in range"));
    }
    months
}

/// Run CrowdQC+ on every crowdsourced network every `schedule.interval_s` until `shutdown`.
/// A failed run is logged and counted, and retried at the next tick.
pub async fn run_scheduled(
    engine: Arc<QueryEngine>,
    registry: Arc<ilot_ingest::registry::RegistryHandle>,
    store: Arc<dyn ObjectStore>,
    schedule: CrowdQcSchedule,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    if schedule.interval_s == 0 {
        return;
    }
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(schedule.interval_s));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        let snapshot = registry.snapshot();
        for network in snapshot.network_names().into_iter().filter(|n| snapshot.settings(n).crowdsourced) {
            for month in scheduled_months(chrono::Utc::now().date_naive()) {
                // On the query threads: a month of CrowdQC+ is seconds of CPU the intake must not wait for.
                let (job_engine, job_registry, job_store, job_network) = (engine.clone(), snapshot.clone(), store.clone(), network.clone());
                let keep_isolated = schedule.keep_isolated;
                let job = async move { run_month(&job_engine, &job_registry, &job_store, &job_network, month, keep_isolated).await };
                let result = engine.run_job(job).await.map_err(CrowdQcJobError::from).and_then(|r| r);
                if let Err(e) = result {
                    metrics::counter!("ilot_crowdqc_failures_total").increment(1);
                    tracing::warn!(network, month = %month.format("%Y-%m"), error = %e, "scheduled CrowdQC+ run failed; retrying at the next tick");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_previous_month_is_rechecked_in_the_first_days() {
        let d = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        assert_eq!(scheduled_months(d(2026, 1, 2)), [d(2025, 12, 1), d(2026, 1, 1)]);
        assert_eq!(scheduled_months(d(2026, 7, 20)), [d(2026, 7, 1)]);
    }
}
