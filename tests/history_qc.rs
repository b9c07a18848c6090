//! History quality checks end to end: readings published over MQTT come out of SQL with the
//! `STEP` (2) and `STUCK` (4) bits on exactly the expected rows, whether they arrive one per
//! message or as one shuffled backlog array, across a restart, and the simulator's injected
//! spikes and frozen sensors are caught.

mod support;

use arrow::array::AsArray;
use ilot_firmware_sim::FaultConfig;
use rumqttc::{AsyncClient, MqttOptions, QoS};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;
use support::*;

const STEP: i64 = 2;
const STUCK: i64 = 4;

use support::qc_series_value as value;

const STEPS: i64 = 96;
/// Only the spike: the return to normal (step 25) is compared with step 23.
const EXPECTED_STEP: [i64; 1] = [24];

/// The whole frozen run, from its first reading: step 72 (the 37th identical value, 3 hours
/// after step 36) completes it and marks steps 36..=71, then each identical value is flagged
/// as it arrives, until the value changes.
fn expected_stuck() -> Vec<i64> {
    QC_SERIES_FROZEN.collect()
}

fn body(ts_s: i64, t: f64) -> String {
    let ts = chrono::DateTime::from_timestamp(ts_s, 0).unwrap().to_rfc3339();
    format!(r#"{{"ts":"{ts}","temperature_c":{t:.2}}}"#)
}

/// Steps of `sensor` whose `qc_flags` have `bit`.
async fn flagged(svc: &Service, sensor: &str, bit: i64, base: i64) -> Vec<i64> {
    let sql = format!("SELECT to_unixtime(ts) AS t FROM readings WHERE sensor_id = '{sensor}' AND qc_flags & {bit} <> 0 ORDER BY t");
    let rows = svc.sql(&sql).await.unwrap();
    rows.iter().map(|r| (r["t"].as_i64().unwrap() - base) / 300).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn step_and_stuck_flags_are_set_as_readings_arrive() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let prefix = unique("t");
    let svc = Service::start(&ServiceSpec::new(dir.path(), Broker::Embedded(port), &prefix));
    svc.wait_healthy(Duration::from_secs(30)).await;

    let now = chrono::Utc::now().timestamp();
    let base = now - now.rem_euclid(300) - 86_400;
    let (client, mut eventloop) = AsyncClient::new(MqttOptions::new(unique("hist-"), "127.0.0.1", port), 100);
    tokio::spawn(async move { while eventloop.poll().await.is_ok() {} });

    // h1: one message per reading, in order, then a late reading 15 K off (not checked).
    let h1 = format!("{prefix}/tls/h1/reading");
    for i in 0..STEPS {
        client.publish(&h1, QoS::AtLeastOnce, false, body(base + i * 300, value(i))).await.unwrap();
    }
    client.publish(&h1, QoS::AtLeastOnce, false, body(base + 10 * 300 + 150, 35.0)).await.unwrap();
    // h2: the same series as one backlog array, newest first: checked in ts order.
    let backlog: Vec<String> = (0..STEPS).rev().map(|i| body(base + i * 300, value(i))).collect();
    client.publish(format!("{prefix}/tls/h2/reading"), QoS::AtLeastOnce, false, format!("[{}]", backlog.join(","))).await.unwrap();

    svc.wait_for("SELECT count(*) FROM readings WHERE sensor_id = 'h1'", STEPS + 1, Duration::from_secs(30)).await;
    svc.wait_for("SELECT count(*) FROM readings WHERE sensor_id = 'h2'", STEPS, Duration::from_secs(30)).await;
    for sensor in ["h1", "h2"] {
        assert_eq!(flagged(&svc, sensor, STEP, base).await, EXPECTED_STEP, "{sensor}: STEP rows");
        assert_eq!(flagged(&svc, sensor, STUCK, base).await, expected_stuck(), "{sensor}: STUCK rows");
    }
    let late = svc.count(&format!("SELECT qc_flags & 6 FROM readings WHERE sensor_id = 'h1' AND to_unixtime(ts) = {}", base + 3150)).await;
    assert_eq!(late, 0, "the late reading is stored without STEP / STUCK");
}

/// A `kill -9` in the middle of the frozen stretch, before the run lasts 3 hours (after step
/// 60: 25 identical values, stored in files): the restarted service seeds its history with each
/// sensor's last stored readings, so step 72 still completes the run, from its first reading,
/// and marks the readings the previous process stored (in files) as well as its own (in memory,
/// then in its files at the next persist).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn step_and_stuck_checks_go_on_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let prefix = unique("t");
    let spec = ServiceSpec::new(dir.path(), Broker::Embedded(port), &prefix);
    let now = chrono::Utc::now().timestamp();
    let base = now - now.rem_euclid(300) - 86_400;
    let topic = format!("{prefix}/tls/h3/reading");
    let publish = |steps: std::ops::Range<i64>| {
        let topic = topic.clone();
        async move {
            let (client, mut eventloop) = AsyncClient::new(MqttOptions::new(unique("hist-"), "127.0.0.1", port), 100);
            tokio::spawn(async move { while eventloop.poll().await.is_ok() {} });
            for i in steps {
                client.publish(&topic, QoS::AtLeastOnce, false, body(base + i * 300, value(i))).await.unwrap();
            }
        }
    };

    let mut svc = Service::start(&spec);
    svc.wait_healthy(Duration::from_secs(30)).await;
    publish(0..61).await;
    svc.wait_for("SELECT count(*) FROM readings WHERE sensor_id = 'h3'", 61, Duration::from_secs(30)).await;
    // Everything it received is in its files, none of it stuck yet, when it dies.
    wait_for_files(dir.path(), base, Duration::from_secs(30), |steps| steps.len() == 61 && steps.values().all(|f| f & STUCK == 0)).await;
    svc.kill9();

    let svc = Service::start(&spec);
    svc.wait_healthy(Duration::from_secs(30)).await;
    publish(61..STEPS).await;
    svc.wait_for("SELECT count(*) FROM readings WHERE sensor_id = 'h3'", STEPS, Duration::from_secs(30)).await;
    assert_eq!(flagged(&svc, "h3", STEP, base).await, EXPECTED_STEP, "STEP rows");
    // The run's readings still in memory are marked as soon as the run is applied, those the
    // previous process stored in files at the next persist cycle (storage.persist_interval_s,
    // 1 s here).
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while flagged(&svc, "h3", STUCK, base).await != expected_stuck() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(flagged(&svc, "h3", STUCK, base).await, expected_stuck(), "STUCK rows across the restart");
    let stuck_in_files = |steps: &BTreeMap<i64, i64>| steps.iter().filter(|(_, f)| *f & STUCK != 0).map(|(i, _)| *i).collect::<Vec<_>>();
    wait_for_files(dir.path(), base, Duration::from_secs(30), |steps| steps.len() as i64 == STEPS && stuck_in_files(steps) == expected_stuck()).await;
}

/// Steps of h3 and their `qc_flags` in the readings files the manifests list, read with the
/// `parquet` crate (no service, no DataFusion); `None` while a file is being replaced.
fn h3_in_files(data: &Path, base: i64) -> Option<BTreeMap<i64, i64>> {
    let mut steps = BTreeMap::new();
    for manifest in std::fs::read_dir(data.join("_ilot/manifests")).ok()? {
        let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(manifest.ok()?.path()).ok()?).ok()?;
        for file in manifest["files"].as_array()?.iter().filter(|f| f["dataset"] == "readings") {
            let file = std::fs::File::open(data.join(file["path"].as_str()?)).ok()?;
            for batch in parquet::arrow::arrow_reader::ParquetRecordBatchReader::try_new(file, 1024).ok()? {
                let batch = batch.ok()?;
                let sensors = batch.column_by_name("sensor_id")?.as_string::<i32>();
                let ts = batch.column_by_name("ts")?.as_primitive::<arrow::datatypes::TimestampMillisecondType>();
                let flags = batch.column_by_name("qc_flags")?.as_primitive::<arrow::datatypes::UInt32Type>();
                for i in (0..batch.num_rows()).filter(|i| sensors.value(*i) == "h3") {
                    steps.insert((ts.value(i) / 1000 - base) / 300, i64::from(flags.value(i)));
                }
            }
        }
    }
    Some(steps)
}

/// Wait until h3's rows in the files satisfy `done`, or fail with the last ones seen.
async fn wait_for_files(data: &Path, base: i64, timeout: Duration, done: impl Fn(&BTreeMap<i64, i64>) -> bool) -> BTreeMap<i64, i64> {
    let deadline = std::time::Instant::now() + timeout;
    let mut last = BTreeMap::new();
    while std::time::Instant::now() < deadline {
        if let Some(steps) = h3_in_files(data, base) {
            if done(&steps) {
                return steps;
            }
            last = steps;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("h3 in the files (step: qc_flags) after {timeout:?}: {last:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulators_spikes_and_frozen_sensors_are_flagged() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let prefix = unique("t");
    let svc = Service::start(&ServiceSpec::new(dir.path(), Broker::Embedded(port), &prefix));
    svc.wait_healthy(Duration::from_secs(30)).await;

    // A fixed start: spikes are a function of the measurement time, and this span's are each
    // between two normal readings (a spike right after another, or on a sensor's first reading,
    // has no normal neighbour to step from).
    let per_sensor = 150;
    let start = chrono::NaiveDate::from_ymd_opt(2025, 7, 2).unwrap().and_hms_opt(6, 0, 0).unwrap().and_utc().timestamp();
    let fleet = Fleet::new(SimConfig {
        network: Some("sim".into()),
        sensors: 10,
        readings_per_sensor: Some(per_sensor),
        acceleration: 0.0,
        seed: 11,
        topic_prefix: prefix.clone(),
        start: chrono::DateTime::from_timestamp(start, 0).unwrap(),
        faults: FaultConfig { spike_rate: 0.02, stuck_sensors: 3, ..FaultConfig::default() },
        ..SimConfig::default()
    })
    .unwrap();

    let injected = Injected::of(&fleet);
    assert!(injected.spikes.len() >= 5 && injected.frozen_runs.len() == 3, "the fleet has faults to find");

    let stats = publish(&target(port, &unique("pub-")), fleet.messages(), 0.0, None).await.unwrap();
    let total = fleet.expected_distinct_readings().unwrap() as i64;
    assert_eq!(stats.acked as i64, total);
    svc.wait_for("SELECT count(*) FROM readings WHERE network = 'sim'", total, Duration::from_secs(60)).await;

    let step = sim_flagged(&svc, STEP).await;
    let spikes = &injected.spikes;
    assert!(spikes.is_subset(&step), "unflagged spikes: {:?}", spikes.difference(&step).collect::<Vec<_>>());
    // Besides spikes, only the jump back to the real temperature when a frozen sensor thaws.
    let other: Vec<_> = step.iter().filter(|k| !spikes.contains(*k) && !injected.thawing.contains(*k)).collect();
    assert!(other.is_empty(), "STEP on normal readings: {other:?}");
    // Each frozen run (3 to 6 hours) whole, from the reading the sensor froze at, and nothing
    // else: the AR(1) noise (σ 0.15 K) never repeats a value for 3 hours.
    let stuck = sim_flagged(&svc, STUCK).await;
    let must = injected.must_be_stuck();
    assert_eq!(must, injected.frozen(), "every simulated frozen run lasts the persistence window");
    assert_eq!(stuck, must, "STUCK rows: missing {:?}, extra {:?}", must.difference(&stuck).collect::<Vec<_>>(), stuck.difference(&must).collect::<Vec<_>>());
}

/// `(sensor, ts in s)` of the simulated network's readings whose `qc_flags` have `bit`.
async fn sim_flagged(svc: &Service, bit: i64) -> BTreeSet<(String, i64)> {
    let sql = format!("SELECT sensor_id, to_unixtime(ts) AS t FROM readings WHERE network = 'sim' AND qc_flags & {bit} <> 0");
    let rows = svc.sql(&sql).await.unwrap();
    rows.iter().map(|r| (r["sensor_id"].as_str().unwrap().to_owned(), r["t"].as_i64().unwrap())).collect()
}
