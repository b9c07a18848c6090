//! Files damaged while the store is open: the scan that meets one fails once, naming it; later
//! queries answer from the rest (a damaged rollup: from the readings), the store lists it, and
//! its writer quarantines an unreadable file, rewrites the rollup and, on repair, drops a
//! missing file from its manifest.

use ilot_ingest::damage::{FileKind, Problem};
use ilot_ingest::layout::WriterId;
use ilot_ingest::registry::RegistryHandle;
use ilot_ingest::store::Store;
use ilot_ingest::wal::WalEntry;
use ilot_ingest::Reading;
use ilot_query::{QueryEngine, QueryLimits};
use std::sync::Arc;
use std::time::Duration;

mod support;
use support::files_under;

/// 10 sensors × 48 readings (every 30 minutes) of one UTC day.
fn day_of_readings(day_start_ms: i64) -> Vec<Reading> {
    (0..10)
        .flat_map(|s| {
            (0..48i64).map(move |k| Reading {
                network: "toulouse".into(),
                sensor_id: format!("tls-{s:03}"),
                ts_ms: day_start_ms + k * 1_800_000,
                temperature_centi_c: (1500 + s * 7 + k * 3) as i16,
                humidity_deci_pct: Some(550),
                battery_mv: Some(3600),
                seq: Some(k as u64),
                received_at_ms: day_start_ms + k * 1_800_000 + 1500,
                qc_flags: 0,
            })
        })
        .collect()
}

async fn count(engine: &QueryEngine, sql: &str) -> Result<i64, String> {
    let r = engine.query(sql).await.map_err(|e| e.to_string())?;
    let column = r.batches[0].column(0).as_any().downcast_ref::<datafusion::arrow::array::Int64Array>().unwrap().clone();
    Ok(column.value(0))
}

const READINGS: &str = "SELECT count(*) FROM readings";
const ROLLUP_HOURS: &str = "SELECT count(*) FROM hourly_rollup";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_damaged_while_open_fails_one_query_then_is_left_out() {
    let dir = tempfile::tempdir().unwrap();
    let object_store = Arc::new(object_store::local::LocalFileSystem::new_with_prefix(dir.path()).unwrap());
    let store = Store::open(object_store, WriterId::new("w1").unwrap(), false).await.unwrap();
    let engine = QueryEngine::new(store.clone(), RegistryHandle::in_memory(Default::default()), QueryLimits::default()).await.unwrap();
    let now = chrono::Utc::now().timestamp_millis();
    // Three closed days, one file each.
    for (seg, days_ago) in [(1u64, 5i64), (2, 4), (3, 3)] {
        let batch = day_of_readings((now / 86_400_000 - days_ago) * 86_400_000);
        let s = store.clone();
        tokio::task::spawn_blocking(move || s.apply(seg, vec![WalEntry::Readings(batch)])).await.unwrap();
        store.persist(seg).await.unwrap();
    }
    let files = files_under(dir.path(), "readings");
    assert_eq!(files.len(), 3);
    assert_eq!(count(&engine, READINGS).await.unwrap(), 1440);
    assert_eq!(count(&engine, ROLLUP_HOURS).await.unwrap(), 720);
    assert!(store.damage_warning().is_none());

    // A data file deleted: the query that meets it fails naming it, the next ones leave it out.
    let (missing, unreadable) = (&files[0], &files[1]);
    std::fs::remove_file(dir.path().join(missing)).unwrap();
    let err = count(&engine, READINGS).await.unwrap_err();
    assert!(err.contains(missing.as_str()) && err.contains("left out of queries"), "{err}");
    assert_eq!(count(&engine, READINGS).await.unwrap(), 960);
    assert_eq!(count(&engine, ROLLUP_HOURS).await.unwrap(), 480, "its rollup is left out with it");
    let damaged = store.damaged_files();
    assert_eq!((damaged[0].path.as_str(), damaged[0].kind, &damaged[0].problem), (missing.as_str(), FileKind::Readings, &Problem::Missing));
    assert!(store.damage_warning().unwrap().contains(missing.as_str()));

    // A footer overwritten, the size unchanged.
    let path = dir.path().join(unreadable);
    let mut bytes = std::fs::read(&path).unwrap();
    let n = bytes.len();
    bytes[n - 40..n - 8].fill(0xA5);
    std::fs::write(&path, &bytes).unwrap();
    let err = count(&engine, READINGS).await.unwrap_err();
    assert!(err.contains(unreadable.as_str()), "{err}");
    assert_eq!(count(&engine, READINGS).await.unwrap(), 480);

    // The last day's rollup deleted: its hours come from its readings.
    let rollup = files[2].replacen("readings/", "rollups/hourly/", 1);
    std::fs::remove_file(dir.path().join(&rollup)).unwrap();
    assert!(count(&engine, ROLLUP_HOURS).await.unwrap_err().contains(&rollup));
    assert_eq!(count(&engine, ROLLUP_HOURS).await.unwrap(), 240, "computed from the readings");

    // The writer's next compaction run quarantines the unreadable file and rewrites the rollup;
    // a repair drops the missing file from its manifest.
    store.compact(now, Duration::ZERO).await.unwrap();
    assert!(dir.path().join("quarantine").join(unreadable).is_file() && !path.exists());
    assert!(dir.path().join(&rollup).is_file());
    let left: Vec<String> = store.damaged_files().iter().filter(|d| d.quarantined_to.is_none()).map(|d| d.path.clone()).collect();
    assert_eq!(left, [missing.clone()]);
    let outcome = store.repair().await.unwrap();
    assert_eq!((outcome.quarantined, outcome.dropped_missing), (0, 1));
    assert_eq!(count(&engine, READINGS).await.unwrap(), 480);
    assert_eq!(count(&engine, ROLLUP_HOURS).await.unwrap(), 240);
    let manifest = std::fs::read_to_string(dir.path().join("_ilot/manifests/w1.json")).unwrap();
    assert!(!manifest.contains(missing.as_str()) && !manifest.contains(unreadable.as_str()), "{manifest}");
}
