//! The hourly rollup kept beside the readings: what `hourly_rollup` answers equals the same
//! aggregate computed from `readings`, at every stage of a day's life (in memory, several
//! files, compacted), for files written before rollups existed, and the saved latest readings
//! let a store reopen with its "now".

use ilot_ingest::layout::WriterId;
use ilot_ingest::manifest::Manifest;
use ilot_ingest::registry::RegistryHandle;
use ilot_ingest::store::Store;
use ilot_ingest::wal::WalEntry;
use ilot_ingest::{Reading, qc};
use ilot_query::{QueryEngine, QueryLimits};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

mod support;
use support::files_under;

/// 30 sensors × 24 readings of one persist cycle; every 7th reading fails a temperature check
/// and every 11th has only a non-temperature flag (kept).
fn readings(day_start_ms: i64, cycle: i64) -> Vec<Reading> {
    let mut out = Vec::new();
    for s in 0..30i64 {
        for k in 0..24i64 {
            let n = cycle * 24 + k;
            let flags = if (s + n) % 7 == 0 { qc::STEP } else if (s + n) % 11 == 0 { qc::UNKNOWN_SENSOR } else { 0 };
            out.push(Reading {
                network: "toulouse".into(),
                sensor_id: format!("tls-{s:03}"),
                ts_ms: day_start_ms + n * 300_000 + s * 997,
                temperature_centi_c: (1500 + s * 7 + (n * 37) % 400 - 200) as i16,
                humidity_deci_pct: Some(550),
                battery_mv: Some(3600),
                seq: Some(n as u64),
                received_at_ms: day_start_ms + n * 300_000 + 1500,
                qc_flags: flags,
            });
        }
    }
    out
}

const FROM_ROLLUP: &str = "SELECT sensor_id, hour, samples, temperature_sum_centi, temperature_min_c, temperature_max_c, network, date \
    FROM hourly_rollup ORDER BY sensor_id, hour";
const FROM_READINGS: &str = "SELECT sensor_id, arrow_cast((arrow_cast(ts, 'Int64') / 3600000) * 3600000, 'Timestamp(Millisecond, Some(\"UTC\"))') AS hour, \
    count(*) AS samples, CAST(sum(round(temperature_c * 100)) AS BIGINT) AS temperature_sum_centi, min(temperature_c) AS temperature_min_c, \
    max(temperature_c) AS temperature_max_c, network, date \
    FROM readings WHERE (qc_flags & 31) = 0 GROUP BY sensor_id, 2, network, date ORDER BY sensor_id, hour";

async fn table(engine: &QueryEngine, sql: &str) -> String {
    let r = engine.query(sql).await.unwrap();
    datafusion::arrow::util::pretty::pretty_format_batches(&r.batches).unwrap().to_string()
}

async fn assert_rollup_matches_readings(engine: &QueryEngine, stage: &str) -> String {
    let expected = table(engine, FROM_READINGS).await;
    assert_eq!(table(engine, FROM_ROLLUP).await, expected, "{stage}: hourly_rollup differs from the readings' aggregate");
    expected
}

async fn open(root: &Path) -> (Arc<Store>, QueryEngine) {
    let object_store = Arc::new(object_store::local::LocalFileSystem::new_with_prefix(root).unwrap());
    let store = Store::open(object_store, WriterId::new("w1").unwrap(), false).await.unwrap();
    let engine = QueryEngine::new(store.clone(), RegistryHandle::in_memory(Default::default()), QueryLimits::default()).await.unwrap();
    (store, engine)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rollup_equals_the_readings_aggregate_through_a_days_life() {
    let dir = tempfile::tempdir().unwrap();
    let (store, engine) = open(dir.path()).await;
    let now = chrono::Utc::now().timestamp_millis();
    let day = (now / 86_400_000 - 3) * 86_400_000;

    // Cycles 0..3 persisted (three files, hours shared between them), cycle 3 in memory.
    for seg in 1..=4u64 {
        let batch = readings(day, seg as i64 - 1);
        let s = store.clone();
        tokio::task::spawn_blocking(move || s.apply(seg, vec![WalEntry::Readings(batch)])).await.unwrap();
        if seg < 4 {
            store.persist(seg).await.unwrap();
        }
        assert_rollup_matches_readings(&engine, &format!("after cycle {seg}")).await;
    }
    let expected = table(&engine, FROM_ROLLUP).await;
    assert!(expected.contains("| tls-029"), "{expected}");
    let rollups = files_under(dir.path(), "rollups/hourly");
    let data = files_under(dir.path(), "readings");
    assert_eq!(rollups.len(), 3, "one rollup per readings file: {rollups:?}");
    assert_eq!(rollups, data.iter().map(|p| p.replacen("readings", "rollups/hourly", 1)).collect::<Vec<_>>());

    // Compaction: one file and one rollup, read straight from Parquet; same rows.
    store.persist(4).await.unwrap();
    assert_eq!(store.compact(now, Duration::ZERO).await.unwrap(), 1);
    assert_eq!(table(&engine, FROM_ROLLUP).await, expected, "compacted");
    store.delete_retired(Duration::ZERO).await;
    assert_eq!(files_under(dir.path(), "rollups/hourly").len(), 1, "the replaced files' rollups are deleted with them");
    // A closed, compacted day is scanned from its rollup file, with nothing merged in memory
    // (and an analyst's EXPLAIN shows it).
    let plan = table(&engine, &format!("EXPLAIN {FROM_ROLLUP}")).await;
    assert!(plan.contains("rollups/hourly") && !plan.contains("partition_sizes"), "{plan}");

    // Pruning: a day's filter on `hour` or `date` reads that day only, with the same numbers.
    let one_sensor = "SELECT count(*) AS n, sum(samples) AS s FROM hourly_rollup WHERE sensor_id = 'tls-004'";
    let pruned = format!("{one_sensor} AND hour >= to_timestamp_millis({day}) AND hour < to_timestamp_millis({})", day + 86_400_000);
    assert_eq!(table(&engine, one_sensor).await, table(&engine, &pruned).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_without_a_rollup_are_read_from_their_readings_then_given_one() {
    let dir = tempfile::tempdir().unwrap();
    let now = chrono::Utc::now().timestamp_millis();
    let day = (now / 86_400_000 - 3) * 86_400_000;
    {
        let (store, _) = open(dir.path()).await;
        let batch = readings(day, 0);
        let s = store.clone();
        tokio::task::spawn_blocking(move || s.apply(1, vec![WalEntry::Readings(batch)])).await.unwrap();
        store.persist(1).await.unwrap();
    }
    // Make it a store written before rollups existed: no rollup file, no manifest entry, no
    // saved latest readings.
    let manifest_file = dir.path().join("_ilot/manifests/w1.json");
    let mut manifest: Manifest = serde_json::from_slice(&std::fs::read(&manifest_file).unwrap()).unwrap();
    manifest.files.iter_mut().for_each(|f| f.hourly_rollup = None);
    std::fs::write(&manifest_file, serde_json::to_vec(&manifest).unwrap()).unwrap();
    std::fs::remove_dir_all(dir.path().join("rollups")).unwrap();
    std::fs::remove_dir_all(dir.path().join("_ilot/latest")).unwrap();

    let (store, engine) = open(dir.path()).await;
    let expected = assert_rollup_matches_readings(&engine, "legacy file").await;
    assert_eq!(store.latest_readings().len(), 30, "seeded from the readings files when no latest readings were saved");
    assert_eq!(store.write_missing_rollups().await.unwrap(), 1);
    assert_eq!(store.write_missing_rollups().await.unwrap(), 0, "done once");
    assert_eq!(files_under(dir.path(), "rollups/hourly").len(), 1);
    assert_eq!(table(&engine, FROM_ROLLUP).await, expected, "from the new rollup file");

    // An orphan rollup (a crash between its put and the manifest) is removed at start.
    let orphan = dir.path().join("rollups/hourly/network=toulouse/date=2000-01-01/w1-000000000099.parquet");
    std::fs::create_dir_all(orphan.parent().unwrap()).unwrap();
    std::fs::write(&orphan, b"partial").unwrap();
    assert_eq!(store.remove_orphans().await.unwrap(), 1);
    assert!(!orphan.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reopened_store_has_every_sensors_latest_reading_from_the_saved_cache() {
    let dir = tempfile::tempdir().unwrap();
    let now = chrono::Utc::now().timestamp_millis();
    // Two days a month apart: the older day's sensors are beyond any scan of recent files.
    let old_day = (now / 86_400_000 - 40) * 86_400_000;
    let new_day = (now / 86_400_000 - 2) * 86_400_000;
    let before = {
        let (store, _) = open(dir.path()).await;
        let mut old = readings(old_day, 0);
        old.iter_mut().for_each(|r| r.sensor_id = format!("old-{}", r.sensor_id));
        for (seg, batch) in [(1u64, old), (2, readings(new_day, 0))] {
            let s = store.clone();
            tokio::task::spawn_blocking(move || s.apply(seg, vec![WalEntry::Readings(batch)])).await.unwrap();
            store.persist(seg).await.unwrap();
        }
        store.latest_readings()
    };
    assert_eq!(before.len(), 60);
    assert_eq!(files_under(dir.path(), "_ilot/latest"), ["_ilot/latest/w1.parquet"]);
    let (store, engine) = open(dir.path()).await;
    assert_eq!(store.latest_readings(), before, "the same newest readings, the month-old sensors included");
    assert!(table(&engine, "SELECT count(*) AS n FROM latest_readings").await.contains("| 60 |"));
}
