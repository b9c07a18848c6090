//! The CrowdQC+ job over stored readings: a crowdsourced network has no analytics until the
//! job has run; then only station-hours that passed the network's CrowdQC+ level enter them,
//! and the flags are queryable in the `crowdqc` table.

use chrono::NaiveDate;
use ilot_ingest::layout::WriterId;
use ilot_ingest::registry::{CrowdQcLevel, Network, ReferenceMode, Registry, RegistryHandle, Sensor, SensorRole};
use ilot_ingest::store::Store;
use ilot_ingest::wal::WalEntry;
use ilot_ingest::Reading;
use ilot_query::crowdqc::job::run_month;
use ilot_query::{QueryEngine, QueryLimits};
use object_store::ObjectStore;
use std::collections::BTreeMap;
use std::sync::Arc;

const HOUR: i64 = 3_600_000;
/// 2025-06-01T00:00:00Z
const JUNE_1: i64 = 1_748_736_000_000;
const STATIONS: usize = 24;
/// The station in full sun: +6 K from 09 to 17 UTC.
const SUNNY: &str = "cws-07";

fn sensors() -> Vec<Sensor> {
    (0..STATIONS)
        .map(|i| Sensor {
            elevation_m: Some(35.0),
            role: SensorRole::Urban,
            cadence_s: Some(3600),
            provider: Some("netatmo".into()),
            // A 6 × 4 grid about 400 m apart: everyone has buddies within 3 km.
            ..Sensor::new("berlin-cws", &format!("cws-{i:02}"), 52.50 + (i / 6) as f64 * 0.0036, 13.40 + (i % 6) as f64 * 0.0059)
        })
        .collect()
}

/// Hourly readings for June 2025: a shared diurnal cycle, a small per-station offset and a
/// deterministic wobble; the sunny station is 6 K too warm by day.
fn readings() -> Vec<Reading> {
    let mut out = Vec::new();
    for (i, s) in sensors().iter().enumerate() {
        for h in 0..30 * 24 {
            let ts = JUNE_1 + h * HOUR;
            let hour_of_day = (h % 24) as f64;
            let mut t = 18.0 + 5.0 * (2.0 * std::f64::consts::PI * (hour_of_day - 9.0) / 24.0).sin();
            t += (i as f64 - 12.0) * 0.02 + 0.1 * ((h * 7 + i as i64 * 13) % 5) as f64 / 5.0;
            if s.sensor_id == SUNNY && (9.0..17.0).contains(&hour_of_day) {
                t += 6.0;
            }
            out.push(Reading {
                network: s.network.clone(),
                sensor_id: s.sensor_id.clone(),
                ts_ms: ts,
                temperature_centi_c: ilot_ingest::reading::quantize_centi(t).unwrap(),
                humidity_deci_pct: None,
                battery_mv: None,
                seq: None,
                received_at_ms: ts + 1000,
                qc_flags: 0,
            });
        }
    }
    out
}

async fn scalar(engine: &QueryEngine, sql: &str) -> String {
    let r = engine.query(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    datafusion::arrow::util::display::array_value_to_string(r.batches[0].column(0), 0).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crowdsourced_hours_enter_the_analytics_only_once_they_pass_crowdqc() {
    let dir = tempfile::tempdir().unwrap();
    let object_store: Arc<dyn ObjectStore> = Arc::new(object_store::local::LocalFileSystem::new_with_prefix(dir.path()).unwrap());
    let store = Store::open(object_store.clone(), WriterId::new("w1").unwrap(), false).await.unwrap();
    let mut networks = BTreeMap::new();
    networks.insert(
        "berlin-cws".to_string(),
        Network { crowdsourced: true, crowdqc_level: CrowdQcLevel::M5, reference_mode: ReferenceMode::NetworkMean, timezone: "Europe/Berlin".into(), ..Network::default() },
    );
    let registry = RegistryHandle::in_memory(Registry { networks, sensors: sensors(), ..Registry::default() });
    let engine = QueryEngine::new(store.clone(), registry.clone(), QueryLimits::default()).await.unwrap();
    let s = store.clone();
    tokio::task::spawn_blocking(move || s.apply(1, vec![WalEntry::Readings(readings())])).await.unwrap();
    store.persist(1).await.unwrap();

    assert_eq!(scalar(&engine, "SELECT count(*) FROM hourly WHERE valid").await, (STATIONS * 720).to_string());
    assert_eq!(scalar(&engine, "SELECT count(*) FROM uhi_hourly").await, "0", "not quality-controlled yet: nothing enters the analytics");

    let june = NaiveDate::from_ymd_opt(2025, 6, 17).unwrap();
    let summary = run_month(&engine, &registry.snapshot(), &object_store, "berlin-cws", june, false).await.unwrap();
    assert_eq!((summary.month.as_str(), summary.stations, summary.rows), ("2025-06", STATIONS, STATIONS * 720));
    assert_eq!(summary.path, "qc/crowdqc/network=berlin-cws/month=2025-06/crowdqc.parquet");
    assert_eq!(summary.passing[0], ("raw", STATIONS * 720));

    // The sunny station fails m2 on its warm daytime hours; the others pass.
    let sunny_day_fails = scalar(&engine, &format!("SELECT count(*) FROM crowdqc WHERE sensor_id = '{SUNNY}' AND NOT m2 AND date_part('hour', hour) BETWEEN 9 AND 16")).await;
    assert_eq!(sunny_day_fails, (30 * 8).to_string(), "every warm hour of the sunny station fails m2");
    let m5 = scalar(&engine, "SELECT count(*) FROM crowdqc WHERE m5").await;
    assert_eq!(scalar(&engine, "SELECT count(*) FROM crowdqc WHERE network = 'berlin-cws' AND month = '2025-06'").await, (STATIONS * 720).to_string());

    // Exactly the m5-passed hours reach the UHI views, and none of the sunny station's warm ones.
    assert_eq!(scalar(&engine, "SELECT count(*) FROM hourly_corrected").await, m5);
    assert_eq!(
        scalar(&engine, &format!("SELECT count(*) FROM uhi_hourly WHERE sensor_id = '{SUNNY}' AND date_part('hour', hour) BETWEEN 9 AND 16")).await,
        "0"
    );
    let worst = scalar(&engine, "SELECT max(abs(uhi_c)) FROM uhi_hourly").await.parse::<f64>().unwrap();
    assert!(worst < 1.0, "no sun-heated value left in the network anomalies: {worst}");

    // A second run replaces the month's file rather than adding to it.
    run_month(&engine, &registry.snapshot(), &object_store, "berlin-cws", june, false).await.unwrap();
    assert_eq!(scalar(&engine, "SELECT count(*) FROM crowdqc").await, (STATIONS * 720).to_string());
}
