//! The heat-analytics views over a synthetic network whose answer is known: UHI intensity with
//! elevation correction and a rural reference set, nights, days, months, LCZ strata, network
//! anomalies, climatological Tn/Tx and the IBM of the domain reference's Toulouse example.
//! Every view must give the same numbers from memory and from Parquet, and from the period
//! summaries kept for closed days as from their computation.

use ilot_ingest::layout::WriterId;
use ilot_ingest::qc;
use ilot_ingest::registry::{IbmAlignment, Lcz, Network, ReferenceMode, Registry, RegistryHandle, Sensor, SensorRole};
use ilot_ingest::store::Store;
use ilot_ingest::wal::WalEntry;
use ilot_ingest::Reading;
use ilot_query::{QueryEngine, QueryLimits};
use std::collections::BTreeMap;
use std::sync::Arc;

mod support;
use support::files_under;

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;
/// 2025-07-01T00:00:00Z
const JULY_1: i64 = 1_751_328_000_000;

fn sensor(network: &str, id: &str, role: SensorRole, lcz: &str, z: f64) -> Sensor {
    Sensor {
        elevation_m: Some(z),
        lcz: Lcz::parse(lcz),
        role,
        height_m: Some(3.0),
        insee: Some("31555".into()),
        departement: Some("31".into()),
        ..Sensor::new(network, id, 43.6, 1.44)
    }
}

/// Toulouse: two rural LCZ D stations (the mean reference), three urban ones. Each urban
/// station's true UHI is `(night, day)`; every station also sits at its own elevation, which
/// the views must correct for.
struct Station {
    id: &'static str,
    role: SensorRole,
    lcz: &'static str,
    z: f64,
    uhi_night: f64,
    uhi_day: f64,
}

const STATIONS: [Station; 5] = [
    Station { id: "rural-n", role: SensorRole::Rural, lcz: "D", z: 200.0, uhi_night: 0.2, uhi_day: 0.2 },
    Station { id: "rural-s", role: SensorRole::Rural, lcz: "D", z: 180.0, uhi_night: -0.2, uhi_day: -0.2 },
    Station { id: "centre", role: SensorRole::Urban, lcz: "2", z: 140.0, uhi_night: 3.0, uhi_day: 1.0 },
    Station { id: "capitole", role: SensorRole::Urban, lcz: "2", z: 146.0, uhi_night: 3.4, uhi_day: 1.2 },
    Station { id: "faubourg", role: SensorRole::Urban, lcz: "6", z: 150.0, uhi_night: 2.0, uhi_day: 0.5 },
];
/// Mean elevation of the reference stations.
const Z_REF: f64 = 190.0;

fn is_night_hour(ts_ms: i64) -> bool {
    let h = (ts_ms % DAY) / HOUR;
    !(3..21).contains(&h)
}

fn base_temperature(ts_ms: i64) -> f64 {
    let h = (ts_ms % DAY) as f64 / HOUR as f64;
    22.0 + 6.0 * (2.0 * std::f64::consts::PI * (h - 9.0) / 24.0).sin()
}

fn reading(network: &str, sensor: &str, ts_ms: i64, t: f64, flags: u32) -> Reading {
    Reading {
        network: network.into(),
        sensor_id: sensor.into(),
        ts_ms,
        temperature_centi_c: ilot_ingest::reading::quantize_centi(t).unwrap(),
        humidity_deci_pct: None,
        battery_mv: None,
        seq: None,
        received_at_ms: ts_ms + 1000,
        qc_flags: flags,
    }
}

/// July 1–6 2025 at 5 minutes. Rural-n's readings of July 3, 02:00–02:59 are STUCK-flagged
/// (the hour is then incomplete and dropped from the reference); centre has one flagged spike.
fn uhi_readings() -> Vec<Reading> {
    let mut out = Vec::new();
    for st in &STATIONS {
        let mut ts = JULY_1;
        while ts < JULY_1 + 6 * DAY {
            let uhi = if is_night_hour(ts) { st.uhi_night } else { st.uhi_day };
            let t = base_temperature(ts) + uhi - 0.0065 * (st.z - Z_REF);
            let stuck = st.id == "rural-n" && (JULY_1 + 2 * DAY + 2 * HOUR..JULY_1 + 2 * DAY + 3 * HOUR).contains(&ts);
            let spike = st.id == "centre" && ts == JULY_1 + DAY + 22 * HOUR;
            let (t, flags) = if spike { (t + 12.0, qc::STEP) } else if stuck { (t, qc::STUCK) } else { (t, 0) };
            out.push(reading("toulouse", st.id, ts, t, flags));
            ts += 300_000;
        }
    }
    out
}

/// The domain reference's IBM example (Toulouse, Sn/Sx 21/36): Tn = 20, 22, 22, 23 and Tx = 33,
/// 35, 36, 37 for D..D+3, D = 2025-07-10. The series is 28 °C except Tn(D) at D 04:00 (only in
/// Tn(D)'s window) and Tx(D) at D 15:00.
fn ibm_readings(network: &str) -> Vec<Reading> {
    let d = JULY_1 + 9 * DAY;
    let tn = [20.0, 22.0, 22.0, 23.0];
    let tx = [33.0, 35.0, 36.0, 37.0];
    let mut extremes = BTreeMap::new();
    for k in 0..4 {
        extremes.insert(d + k * DAY + 4 * HOUR, tn[k as usize]);
        extremes.insert(d + k * DAY + 15 * HOUR, tx[k as usize]);
    }
    let mut out = Vec::new();
    let mut ts = d - 12 * HOUR;
    while ts < d + 4 * DAY + 12 * HOUR {
        out.push(reading(network, "station", ts, extremes.get(&ts).copied().unwrap_or(28.0), 0));
        ts += 300_000;
    }
    out
}

fn registry() -> Arc<RegistryHandle> {
    let mut networks = BTreeMap::new();
    networks.insert("toulouse".to_string(), Network { departement: Some("31".into()), reference_mode: ReferenceMode::Mean, ..Network::default() });
    networks.insert(
        "blagnac".to_string(),
        Network { departement: Some("31".into()), reference_mode: ReferenceMode::NetworkMean, ..Network::default() },
    );
    // The same station as a network with the trailing IBM window (D-2..D).
    networks.insert(
        "muret".to_string(),
        Network {
            departement: Some("31".into()),
            reference_mode: ReferenceMode::NetworkMean,
            ibm_alignment: IbmAlignment::Trailing,
            ..Network::default()
        },
    );
    let mut sensors: Vec<Sensor> = STATIONS.iter().map(|s| sensor("toulouse", s.id, s.role, s.lcz, s.z)).collect();
    sensors.push(sensor("blagnac", "station", SensorRole::Rural, "D", 151.0));
    sensors.push(sensor("muret", "station", SensorRole::Rural, "D", 151.0));
    sensors.sort_by(|a, b| (&a.network, &a.sensor_id).cmp(&(&b.network, &b.sensor_id)));
    RegistryHandle::in_memory(Registry { networks, sensors, ..Registry::default() })
}

async fn rows(engine: &QueryEngine, sql: &str) -> Vec<Vec<String>> {
    let r = engine.query(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    let mut out = Vec::new();
    for b in &r.batches {
        for i in 0..b.num_rows() {
            out.push(
                b.columns()
                    .iter()
                    .map(|c| datafusion::arrow::util::display::array_value_to_string(c, i).unwrap())
                    .collect(),
            );
        }
    }
    out
}

fn f(v: &str) -> f64 {
    v.parse().unwrap_or_else(|_| panic!("not a number: {v:?}"))
}

/// One query per view, rounded so that summation order cannot change the text.
const VIEW_QUERIES: [&str; 10] = [
    "SELECT network, sensor_id, hour, samples, round(completeness, 6), valid, round(temperature_mean_c, 6) FROM hourly ORDER BY 1, 2, 3",
    "SELECT network, sensor_id, hour, round(uhi_c, 6), reference_mode, reference_used, reference_n FROM uhi_hourly ORDER BY 1, 2, 3",
    "SELECT network, sensor_id, night, round(uhi_mean_c, 6), round(uhi_max_c, 6), hours_valid, hours_expected FROM uhi_nightly ORDER BY 1, 2, 3",
    "SELECT network, sensor_id, date, round(uhi_mean_c, 6), hours_valid FROM uhi_daily ORDER BY 1, 2, 3",
    "SELECT network, sensor_id, month, days_valid, nights_valid, strong_uhi_nights FROM uhi_monthly ORDER BY 1, 2, 3",
    "SELECT network, night, lcz, round(delta_vs_lcz_d_c, 6), stations, lcz_d_stations FROM uhi_lcz_nightly ORDER BY 1, 2, 3",
    "SELECT network, sensor_id, hour, round(anomaly_mean_c, 6), round(anomaly_median_c, 6), stations FROM network_anomaly_hourly ORDER BY 1, 2, 3",
    "SELECT network, sensor_id, date, tn_c, tx_c, round(tn_completeness, 6), round(tx_completeness, 6) FROM daily_tn_tx ORDER BY 1, 2, 3",
    "SELECT network, sensor_id, date, round(delta_tn_c, 6), round(delta_tx_c, 6) FROM uhi_tn_tx ORDER BY 1, 2, 3",
    "SELECT network, sensor_id, date, round(ibmn_c, 6), round(ibmx_c, 6), canicule_criterion_met FROM ibm ORDER BY 1, 2, 3",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn views_give_the_known_answers_from_memory_and_from_parquet() {
    let dir = tempfile::tempdir().unwrap();
    let object_store = Arc::new(object_store::local::LocalFileSystem::new_with_prefix(dir.path()).unwrap());
    let store = Store::open(object_store, WriterId::new("w1").unwrap(), false).await.unwrap();
    let engine = QueryEngine::new(store.clone(), registry(), QueryLimits::default()).await.unwrap();
    let s = store.clone();
    tokio::task::spawn_blocking(move || {
        s.apply(1, vec![WalEntry::Readings(uhi_readings())]);
        s.apply(2, vec![WalEntry::Readings(ibm_readings("blagnac"))]);
        s.apply(2, vec![WalEntry::Readings(ibm_readings("muret"))]);
    })
    .await
    .unwrap();

    check_uhi(&engine).await;
    check_tn_tx_and_ibm(&engine).await;

    let mut from_memory = Vec::new();
    for q in VIEW_QUERIES {
        let r = rows(&engine, q).await;
        assert!(!r.is_empty(), "{q} is empty");
        from_memory.push(r);
    }
    store.persist(2).await.unwrap();
    assert_eq!(store.buffered_rows(), 0, "everything is in Parquet now");
    for (q, before) in VIEW_QUERIES.iter().zip(&from_memory) {
        assert_eq!(&rows(&engine, q).await, before, "{q}: memory and Parquet disagree");
    }

    // "now": the newest measurement of each sensor, from the cache, and the same after a
    // restart (from the cache saved with the data).
    const LATEST: &str = "SELECT network, sensor_id, ts, temperature_c FROM latest_readings ORDER BY 1, 2";
    const LATEST_BY_SCAN: &str = "SELECT network, sensor_id, max(ts), last_value(temperature_c ORDER BY ts) FROM readings GROUP BY 1, 2 ORDER BY 1, 2";
    let latest = rows(&engine, LATEST).await;
    assert_eq!(latest.len(), STATIONS.len() + 2);
    assert_eq!(latest, rows(&engine, LATEST_BY_SCAN).await);
    drop(engine);
    let object_store = Arc::new(object_store::local::LocalFileSystem::new_with_prefix(dir.path()).unwrap());
    let reopened = Store::open(object_store, WriterId::new("w1").unwrap(), false).await.unwrap();
    let engine = QueryEngine::new(reopened, registry(), QueryLimits::default()).await.unwrap();
    assert_eq!(rows(&engine, LATEST).await, latest, "seeded from Parquet at start");
}

async fn check_uhi(engine: &QueryEngine) {
    // Nightly UHI: exactly the urban stations' night offsets, elevation-corrected.
    let nights = rows(engine, "SELECT sensor_id, night, uhi_mean_c, uhi_max_c, hours_valid, hours_expected, reference_mode, reference_stations, time_window FROM uhi_nightly WHERE network = 'toulouse' ORDER BY 1, 2").await;
    for st in STATIONS.iter().filter(|s| s.role == SensorRole::Urban) {
        let mine: Vec<_> = nights.iter().filter(|r| r[0] == st.id).collect();
        // Nights of July 1..5 are whole; June 30's starts before the data (3 of 6 hours).
        assert_eq!(mine.len(), 5, "{}: {mine:?}", st.id);
        for r in &mine {
            // The night of July 2 has rural-n's stuck hour (July 3, 02:00): the reference is
            // rural-s alone then, 0.2 K cooler, and that hour's dT is 0.2 K higher.
            let (mean, max) = if r[1] == "2025-07-02" { (st.uhi_night + 0.2 / 6.0, st.uhi_night + 0.2) } else { (st.uhi_night, st.uhi_night) };
            // centre's spike hour keeps 11 of 12 samples: its mean moves by the diurnal slope.
            let tolerance = if st.id == "centre" && r[1] == "2025-07-02" { 0.02 + 0.07 / 6.0 } else { 0.02 };
            assert!((f(&r[2]) - mean).abs() < tolerance, "{}: night mean {r:?}", st.id);
            assert!((f(&r[3]) - max).abs() < 0.02, "{}: night max {r:?}", st.id);
            assert_eq!((&r[6][..], &r[7][..], &r[8][..]), ("mean", "rural-n,rural-s", "night 21:00-03:00 UTC"));
        }
    }
    // The spike (flagged) leaves its hour at 11 of 12 samples: still valid, still the same mean.
    let spike_hour = rows(engine, "SELECT samples, valid, temperature_max_c - temperature_mean_c < 1.0 FROM hourly WHERE sensor_id = 'centre' AND hour = TIMESTAMP '2025-07-02T22:00:00Z'").await;
    assert_eq!(spike_hour, [["11", "true", "true"]]);
    // The stuck hour makes rural-n's hour invalid: the reference is rural-s alone then.
    let stuck = rows(engine, "SELECT reference_n, reference_used FROM uhi_reference_hourly WHERE network = 'toulouse' AND hour = TIMESTAMP '2025-07-03T02:00:00Z'").await;
    assert_eq!(stuck, [["1", "rural-s"]]);

    // Daily means: (6 night hours + 18 day hours) / 24.
    let daily = rows(engine, "SELECT sensor_id, uhi_mean_c, hours_valid FROM uhi_daily WHERE network = 'toulouse' AND date = DATE '2025-07-04' ORDER BY 1").await;
    for st in STATIONS.iter().filter(|s| s.role == SensorRole::Urban) {
        let r = daily.iter().find(|r| r[0] == st.id).unwrap();
        let expected = (6.0 * st.uhi_night + 18.0 * st.uhi_day) / 24.0;
        assert!((f(&r[1]) - expected).abs() < 0.02, "{}: {r:?} vs {expected}", st.id);
        assert_eq!(r[2], "24");
    }
    // July has 31 days and the data covers 6: no monthly mean, but the counts are there.
    let monthly = rows(engine, "SELECT daily_uhi_mean_c IS NULL, days_valid, nights_valid, days_in_month FROM uhi_monthly WHERE sensor_id = 'centre'").await;
    assert_eq!(monthly, [["true", "6", "5", "31"]]);

    // LCZ strata: LCZ 2 (centre 3.0, capitole 3.4) - LCZ D (rural mean 0) = 3.2 with 2 and 2 stations.
    let lcz = rows(engine, "SELECT lcz, label, delta_vs_lcz_d_c, stations, lcz_d_stations FROM uhi_lcz_nightly WHERE night = DATE '2025-07-02' ORDER BY lcz").await;
    let lcz2 = lcz.iter().find(|r| r[0] == "2").unwrap();
    assert_eq!((&lcz2[1][..], &lcz2[3][..], &lcz2[4][..]), ("dT LCZ 2 - LCZ D", "2", "2"));
    assert!((f(&lcz2[2]) - 3.2).abs() < 0.02, "{lcz2:?}");
    let lcz6 = lcz.iter().find(|r| r[0] == "6").unwrap();
    assert!((f(&lcz6[2]) - 2.0).abs() < 0.02, "{lcz6:?}");

    // Network anomalies at a night hour: a_i = T'_i - mean of the five.
    let mean_night = STATIONS.iter().map(|s| s.uhi_night).sum::<f64>() / 5.0;
    let anomaly = rows(engine, "SELECT sensor_id, anomaly_mean_c, stations FROM network_anomaly_hourly WHERE network = 'toulouse' AND hour = TIMESTAMP '2025-07-04T23:00:00Z' ORDER BY 1").await;
    assert_eq!(anomaly.len(), 5);
    for st in &STATIONS {
        let r = anomaly.iter().find(|r| r[0] == st.id).unwrap();
        assert!((f(&r[1]) - (st.uhi_night - mean_night)).abs() < 0.02, "{r:?}");
    }
}

async fn check_tn_tx_and_ibm(engine: &QueryEngine) {
    let days = rows(engine, "SELECT date, tn_c, tx_c, tn_provisional, tx_provisional, tropical_night, hot_day FROM daily_tn_tx WHERE network = 'blagnac' AND date BETWEEN DATE '2025-07-10' AND DATE '2025-07-13' ORDER BY date").await;
    let expect = [("2025-07-10", "20.0", "33.0"), ("2025-07-11", "22.0", "35.0"), ("2025-07-12", "22.0", "36.0"), ("2025-07-13", "23.0", "37.0")];
    assert_eq!(days.len(), 4, "{days:?}");
    for (r, (d, tn, tx)) in days.iter().zip(expect) {
        assert_eq!((&r[0][..], &r[1][..], &r[2][..], &r[3][..], &r[4][..], &r[5][..], &r[6][..]), (d, tn, tx, "false", "false", "true", "true"));
    }
    // The last day's Tn window is only 75 % covered and closed long ago: no value.
    let partial = rows(engine, "SELECT tn_c IS NULL, round(tn_completeness, 2), tropical_night IS NULL FROM daily_tn_tx WHERE network = 'blagnac' AND date = DATE '2025-07-14'").await;
    assert_eq!(partial, [["true", "0.75", "true"]], "nor a tropical-night flag from the partial minimum");

    let ibm = rows(engine, "SELECT date, round(ibmn_c, 2), round(ibmx_c, 2), tn_threshold_c, tx_threshold_c, canicule_criterion_met, provisional, window_first_day, window_last_day, ibm_alignment FROM ibm WHERE network = 'blagnac' ORDER BY date").await;
    assert_eq!(
        ibm,
        [
            ["2025-07-10", "21.33", "34.67", "21.0", "36.0", "false", "false", "2025-07-10", "2025-07-12", "forward"],
            ["2025-07-11", "22.33", "36.0", "21.0", "36.0", "true", "false", "2025-07-11", "2025-07-13", "forward"],
        ],
        "the domain reference's worked example"
    );
    let trailing = rows(engine, "SELECT date, round(ibmn_c, 2), round(ibmx_c, 2), canicule_criterion_met, window_first_day, window_last_day, ibm_alignment FROM ibm WHERE network = 'muret' ORDER BY date").await;
    assert_eq!(
        trailing,
        [
            ["2025-07-12", "21.33", "34.67", "false", "2025-07-10", "2025-07-12", "trailing"],
            ["2025-07-13", "22.33", "36.0", "true", "2025-07-11", "2025-07-13", "trailing"],
        ],
        "the same days with the window D-2..D"
    );

    // dTn / dTx: centre against the rural mean, elevation-corrected, recomputed here by brute
    // force over the generated series.
    let extreme = |st: &Station, from: i64, pick: fn(f64, f64) -> f64, init: f64| {
        (0..288).map(|k| from + k * 300_000).fold(init, |acc, ts| {
            let uhi = if is_night_hour(ts) { st.uhi_night } else { st.uhi_day };
            pick(acc, base_temperature(ts) + uhi)
        })
    };
    let d = JULY_1 + 3 * DAY;
    let tn = |st: &Station| extreme(st, d - 6 * HOUR, f64::min, f64::INFINITY);
    let tx = |st: &Station| extreme(st, d + 6 * HOUR, f64::max, f64::NEG_INFINITY);
    let (centre, rural) = (&STATIONS[2], &STATIONS[..2]);
    let expected_dtn = tn(centre) - rural.iter().map(tn).sum::<f64>() / 2.0;
    let expected_dtx = tx(centre) - rural.iter().map(tx).sum::<f64>() / 2.0;
    let delta = rows(engine, "SELECT delta_tn_c, delta_tx_c, reference_tn_n FROM uhi_tn_tx WHERE sensor_id = 'centre' AND date = DATE '2025-07-04'").await;
    assert_eq!(delta.len(), 1);
    assert!((f(&delta[0][0]) - expected_dtn).abs() < 0.015, "{delta:?} vs {expected_dtn}");
    assert!((f(&delta[0][1]) - expected_dtx).abs() < 0.015, "{delta:?} vs {expected_dtx}");
    assert_eq!(delta[0][2], "2");
}

/// The folders (summary, network, month) holding period-summary chunks.
fn chunk_dirs(root: &std::path::Path) -> Vec<String> {
    let mut dirs: Vec<String> = files_under(root, "summaries").iter().map(|p| p.rsplit_once('/').unwrap().0.to_owned()).collect();
    dirs.dedup();
    dirs
}

fn apply(store: &Arc<Store>, segment: u64, readings: Vec<Reading>) -> tokio::task::JoinHandle<()> {
    let s = store.clone();
    tokio::task::spawn_blocking(move || s.apply(segment, vec![WalEntry::Readings(readings)]))
}

/// Closed days' nightly and daily UHI and Tn/Tx are kept as chunks after the first query and read from
/// them after; a registry change or a late reading makes a chunk stale, and it is recomputed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn period_summaries_are_kept_for_closed_days_and_recomputed_when_an_input_changes() {
    const NIGHTLY: &str = VIEW_QUERIES[2];
    const BLAGNAC_TN: &str = "SELECT tn_c, tn_samples FROM daily_tn_tx WHERE network = 'blagnac' AND date = DATE '2025-07-12'";
    let dir = tempfile::tempdir().unwrap();
    let object_store = Arc::new(object_store::local::LocalFileSystem::new_with_prefix(dir.path()).unwrap());
    let store = Store::open(object_store, WriterId::new("w1").unwrap(), false).await.unwrap();
    let registry = registry();
    let engine = QueryEngine::new(store.clone(), registry.clone(), QueryLimits::default()).await.unwrap();
    apply(&store, 1, uhi_readings()).await.unwrap();
    apply(&store, 2, ibm_readings("blagnac")).await.unwrap();
    apply(&store, 2, ibm_readings("muret")).await.unwrap();

    // Days with rows in memory are open: computed at each query, nothing kept.
    let mut live = Vec::new();
    for q in VIEW_QUERIES {
        live.push(rows(&engine, q).await);
    }
    assert!(chunk_dirs(dir.path()).is_empty(), "nothing is kept while rows are in memory");

    // Persisted, the days (July 2025) are closed: the first query keeps one chunk per summary
    // and network-month, the next ones read them; the numbers do not change.
    store.persist(2).await.unwrap();
    for (q, expected) in VIEW_QUERIES.iter().zip(&live) {
        assert_eq!(&rows(&engine, q).await, expected, "{q}: computed for the chunk");
    }
    let mut expected_dirs = Vec::new();
    for summary in ["tn_tx_day_summary", "uhi_day_summary", "uhi_night_summary"] {
        for (network, month) in [("blagnac", "2025-07"), ("muret", "2025-07"), ("toulouse", "2025-06"), ("toulouse", "2025-07")] {
            expected_dirs.push(format!("summaries/{summary}/network={network}/month={month}"));
        }
    }
    assert_eq!(chunk_dirs(dir.path()), expected_dirs);
    let chunks = files_under(dir.path(), "summaries");
    assert_eq!(chunks.len(), expected_dirs.len(), "one chunk per folder: {chunks:?}");
    for (q, expected) in VIEW_QUERIES.iter().zip(&live) {
        assert_eq!(&rows(&engine, q).await, expected, "{q}: read from the chunk");
    }
    assert_eq!(files_under(dir.path(), "summaries"), chunks, "valid chunks are not rewritten");
    let plan = rows(&engine, "EXPLAIN SELECT * FROM uhi_night_summary").await;
    assert!(plan.iter().flatten().any(|cell| cell.contains("summaries/uhi_night_summary/network=toulouse/month=2025-07/")), "{plan:?}");

    // A registry change: Toulouse's reference becomes the coldest rural station (rural-s,
    // 0.2 K under the mean), so every urban night is 0.2 K warmer; the stale chunks are replaced.
    let mut toulouse = registry.snapshot().network("toulouse").unwrap().clone();
    toulouse.reference_mode = ReferenceMode::Min;
    registry.put_network("toulouse", toulouse).await.unwrap();
    let changed = rows(&engine, NIGHTLY).await;
    assert_ne!(changed, live[2]);
    let centre: Vec<f64> = changed.iter().filter(|r| r[1] == "centre" && r[5] == r[6]).map(|r| f(&r[3])).collect();
    assert_eq!(centre.len(), 5, "{changed:?}");
    assert!(centre.iter().all(|uhi| (uhi - 3.2).abs() < 0.03), "{centre:?}");
    let replaced = files_under(dir.path(), "summaries/uhi_night_summary/network=toulouse/month=2025-07");
    let new: Vec<_> = replaced.iter().filter(|f| !chunks.contains(f)).collect();
    assert_eq!(new.len(), 1, "the chunk was recomputed under a new name: {replaced:?}");
    assert_eq!(replaced.len(), 2, "the stale chunk is kept for a grace period (a running query may read it)");
    std::fs::remove_dir_all(dir.path().join("summaries")).unwrap();
    assert_eq!(rows(&engine, NIGHTLY).await, changed, "the same as computed from scratch");

    // A late reading on a closed day: blagnac's Tn of July 12 (22 °C) falls to 15 °C. Its new
    // file makes the kept chunk stale; the same reading for muret is seen from memory at once.
    assert_eq!(rows(&engine, BLAGNAC_TN).await, [["22.0", "288"]]);
    let late = |network: &str| vec![reading(network, "station", JULY_1 + 11 * DAY + 4 * HOUR + 150_000, 15.0, 0)];
    let before = files_under(dir.path(), "summaries/tn_tx_day_summary/network=blagnac/month=2025-07");
    apply(&store, 3, late("blagnac")).await.unwrap();
    store.persist(3).await.unwrap();
    assert_eq!(rows(&engine, BLAGNAC_TN).await, [["15.0", "289"]], "from the recomputed chunk");
    let after = files_under(dir.path(), "summaries/tn_tx_day_summary/network=blagnac/month=2025-07");
    assert!(after.iter().any(|f| !before.contains(f)), "the late file made the chunk stale: {after:?}");
    let muret_tn = BLAGNAC_TN.replace("blagnac", "muret");
    apply(&store, 4, late("muret")).await.unwrap();
    assert_eq!(rows(&engine, &muret_tn).await, [["15.0", "289"]], "from memory");
    store.persist(4).await.unwrap();
    assert_eq!(rows(&engine, &muret_tn).await, [["15.0", "289"]], "from the chunk");
}
