//! Storage benchmark (see BENCHMARKS.md): bytes per reading on disk after compaction, whole
//! files, against default-like Parquet and CSV of the same rows written in the same run.
//!
//! Run: `cargo bench --bench storage` (ILOT_BENCH_SENSORS, ILOT_BENCH_DAYS to resize).

use arrow::array::{Float64Array, RecordBatch, StringArray, TimestampMillisecondArray};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use ilot_firmware_sim::{Fleet, SimConfig};
use ilot_ingest::layout::WriterId;
use ilot_ingest::reading::{quantize_centi, quantize_deci, quantize_milli};
use ilot_ingest::store::Store;
use ilot_ingest::wal::WalEntry;
use ilot_ingest::Reading;
use std::sync::Arc;
use std::time::Duration;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn dir_bytes(dir: &std::path::Path) -> u64 {
    let mut total = 0;
    for e in std::fs::read_dir(dir).unwrap().map(Result::unwrap) {
        let p = e.path();
        total += if p.is_dir() { dir_bytes(&p) } else { e.metadata().unwrap().len() };
    }
    total
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let sensors = env_or("ILOT_BENCH_SENSORS", 1_000) as usize;
    let days = env_or("ILOT_BENCH_DAYS", 7);
    let steps = days * 288;
    let start = chrono::DateTime::parse_from_rfc3339("2025-06-01T00:00:00Z").unwrap().with_timezone(&chrono::Utc);
    let fleet = Fleet::new(SimConfig {
        city: "toulouse".into(),
        sensors,
        readings_per_sensor: Some(steps),
        acceleration: 0.0,
        seed: 3,
        start,
        ..SimConfig::default()
    })
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let object_store = Arc::new(object_store::local::LocalFileSystem::new_with_prefix(dir.path()).unwrap());
    let store = Store::open(object_store, WriterId::new("bench").unwrap(), false).await.unwrap();

    // Readings as the intake would build them, with a realistic receive delay (0.2–3 s).
    let mut batch = Vec::new();
    let mut csv = Vec::new();
    let mut segment = 1;
    let (mut sensor_col, mut ts_col, mut t_col, mut h_col, mut b_col, mut r_col) = (vec![], vec![], vec![], vec![], vec![], vec![]);
    for m in fleet.messages() {
        for p in m.readings().unwrap() {
            let ts_ms = p.ts.timestamp_millis();
            let delay = 200 + (ts_ms / 300_000 * 7919 + p.seq as i64 * 104_729) % 2800;
            let r = Reading {
                network: "toulouse".into(),
                sensor_id: p.sensor.clone(),
                ts_ms,
                temperature_centi_c: quantize_centi(p.temperature_c).unwrap(),
                humidity_deci_pct: quantize_deci(p.humidity_pct),
                battery_mv: quantize_milli(p.battery_v),
                seq: Some(p.seq),
                received_at_ms: ts_ms + delay,
                qc_flags: 0,
            };
            csv.push(format!("{},{},{},{},{},{}\n", r.sensor_id, p.ts.to_rfc3339(), p.temperature_c, p.humidity_pct, p.battery_v, r.received_at_ms));
            sensor_col.push(r.sensor_id.clone());
            ts_col.push(ts_ms);
            t_col.push(r.temperature_c());
            h_col.push(r.humidity_pct().unwrap());
            b_col.push(r.battery_v().unwrap());
            r_col.push(r.received_at_ms);
            batch.push(r);
        }
        if batch.len() >= 500_000 {
            let s = store.clone();
            let b = std::mem::take(&mut batch);
            tokio::task::spawn_blocking(move || s.apply(segment, vec![WalEntry::Readings(b)])).await.unwrap();
            store.persist(segment).await.unwrap();
            segment += 1;
        }
    }
    let s = store.clone();
    tokio::task::spawn_blocking(move || s.apply(segment, vec![WalEntry::Readings(batch)])).await.unwrap();
    store.persist(segment).await.unwrap();
    let far_future = start.timestamp_millis() + 400 * 86_400_000;
    store.compact(far_future, Duration::ZERO).await.unwrap();
    store.delete_retired(Duration::ZERO).await;
    let rows = ts_col.len() as f64;
    let ours = dir_bytes(&dir.path().join("readings"));
    let files = store.snapshot().files.len();

    // Peers in the same run: the same rows as default-like Parquet (float64, default writer) and CSV.
    let schema = Arc::new(Schema::new(vec![
        Field::new("sensor_id", DataType::Utf8, false),
        Field::new("ts", DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())), false),
        Field::new("temperature_c", DataType::Float64, false),
        Field::new("humidity_pct", DataType::Float64, false),
        Field::new("battery_v", DataType::Float64, false),
        Field::new("received_at", DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())), false),
    ]));
    let to_us = |v: &Vec<i64>| TimestampMillisecondArray::from(v.iter().map(|x| x * 1000).collect::<Vec<_>>());
    let plain = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from(sensor_col)),
            Arc::new(arrow::compute::cast(&to_us(&ts_col), schema.field(1).data_type()).unwrap()),
            Arc::new(Float64Array::from(t_col)),
            Arc::new(Float64Array::from(h_col)),
            Arc::new(Float64Array::from(b_col)),
            Arc::new(arrow::compute::cast(&to_us(&r_col), schema.field(5).data_type()).unwrap()),
        ],
    )
    .unwrap();
    let mut default_like = Vec::new();
    let mut w = parquet::arrow::ArrowWriter::try_new(&mut default_like, schema, None).unwrap();
    w.write(&plain).unwrap();
    w.close().unwrap();
    let csv_bytes: usize = csv.iter().map(String::len).sum();

    println!("# storage benchmark: {sensors} sensors x {days} days at 5 min = {rows} readings");
    println!("ilot compacted Parquet (whole files on disk): {ours} bytes in {files} files = {:.2} B/reading", ours as f64 / rows);
    println!("default-like Parquet (float64, µs, default writer): {:.2} B/reading", default_like.len() as f64 / rows);
    println!("CSV: {:.2} B/reading", csv_bytes as f64 / rows);
}
