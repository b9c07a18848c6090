//! Compaction under concurrent queries: counts never change while files are merged, and a
//! value reads the same from memory as from Parquet.

use ilot_ingest::registry::RegistryHandle;
use ilot_ingest::layout::WriterId;
use ilot_ingest::store::Store;
use ilot_ingest::wal::WalEntry;
use ilot_ingest::Reading;
use ilot_query::{QueryEngine, QueryLimits};
use std::sync::Arc;
use std::time::Duration;

mod support;
use support::files_under;

fn readings(day_start_ms: i64, sensors: usize, steps: i64, seed: i64) -> Vec<Reading> {
    let mut out = Vec::new();
    for s in 0..sensors {
        for k in 0..steps {
            out.push(Reading {
                network: "toulouse".into(),
                sensor_id: format!("tls-{s:03}"),
                ts_ms: day_start_ms + (seed * steps + k) * 300_000,
                temperature_centi_c: (1500 + s as i64 * 7 + k * 3) as i16,
                humidity_deci_pct: Some(550),
                battery_mv: Some(3600),
                seq: Some(k as u64),
                received_at_ms: day_start_ms + (seed * steps + k) * 300_000 + 1500,
                qc_flags: 0,
            });
        }
    }
    out
}

async fn count(engine: &QueryEngine, sql: &str) -> String {
    let r = engine.query(sql).await.unwrap();
    datafusion::arrow::util::pretty::pretty_format_batches(&r.batches).unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_never_change_while_compaction_runs() {
    let dir = tempfile::tempdir().unwrap();
    let object_store = Arc::new(object_store::local::LocalFileSystem::new_with_prefix(dir.path()).unwrap());
    let store = Store::open(object_store, WriterId::new("w1").unwrap(), false).await.unwrap();
    let engine = Arc::new(QueryEngine::new(store.clone(), RegistryHandle::in_memory(Default::default()), QueryLimits::default()).await.unwrap());

    // Three days ago, so the day is closed; six persist cycles → six files in one partition.
    let now = chrono::Utc::now().timestamp_millis();
    let day = (now / 86_400_000 - 3) * 86_400_000;
    let mut total = 0;
    for seg in 1..=6u64 {
        let batch = readings(day, 40, 24, seg as i64 - 1);
        total += batch.len();
        let s = store.clone();
        tokio::task::spawn_blocking(move || s.apply(seg, vec![WalEntry::Readings(batch)])).await.unwrap();
        if seg == 6 {
            break; // the last batch stays in memory
        }
        store.persist(seg).await.unwrap();
        assert_eq!(store.wal_persisted_upto().await, seg, "replay skips what is in Parquet");
    }
    let before_sum = count(&engine, "SELECT sensor_id, ts, temperature_c, humidity_pct, battery_v FROM readings ORDER BY sensor_id, ts").await;
    let expected = count(&engine, "SELECT count(*) AS n FROM readings").await;
    assert!(expected.contains(&total.to_string()), "{expected}");

    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let q = {
        let (engine, stop, expected) = (engine.clone(), stop.clone(), expected.clone());
        tokio::spawn(async move {
            let mut runs = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                assert_eq!(count(&engine, "SELECT count(*) AS n FROM readings").await, expected, "count changed during compaction");
                runs += 1;
            }
            runs
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(store.compact(now, Duration::ZERO).await.unwrap(), 1);
    store.persist(6).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    assert!(q.await.unwrap() > 0);

    assert_eq!(count(&engine, "SELECT count(*) AS n FROM readings").await, expected);
    // The same values whether read from memory (before) or from compacted Parquet (after).
    assert_eq!(count(&engine, "SELECT sensor_id, ts, temperature_c, humidity_pct, battery_v FROM readings ORDER BY sensor_id, ts").await, before_sum);
    store.delete_retired(Duration::ZERO).await;
    let files = files_under(dir.path(), "readings");
    assert_eq!(files.len(), 2, "one compacted file plus the last persisted one: {files:?}");
}
