//! History quality checks end to end: readings published over MQTT come out of SQL with the
//! `STEP` (2) and `STUCK` (4) bits on exactly the expected rows, whether they arrive one per
//! message or as one shuffled backlog array, across a restart, and the simulator's injected
//! spikes and frozen sensors are caught.

mod support;

use ilot_firmware_sim::{Anomaly, FaultConfig};
use rumqttc::{AsyncClient, MqttOptions, QoS};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use support::*;

const STEP: i64 = 2;
const STUCK: i64 = 4;

use support::qc_series_value as value;

const STEPS: i64 = 60;
/// Only the spike: the return to normal (step 25) is compared with step 23.
const EXPECTED_STEP: [i64; 1] = [24];
/// From the 12th identical value (steps 36..=47 cover one hour) until the value changes.
const EXPECTED_STUCK: [i64; 5] = [47, 48, 49, 50, 51];

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
        assert_eq!(flagged(&svc, sensor, STUCK, base).await, EXPECTED_STUCK, "{sensor}: STUCK rows");
    }
    let late = svc.count(&format!("SELECT qc_flags & 6 FROM readings WHERE sensor_id = 'h1' AND to_unixtime(ts) = {}", base + 3150)).await;
    assert_eq!(late, 0, "the late reading is stored without STEP / STUCK");
}

/// A `kill -9` in the middle of the frozen stretch: the restarted service seeds its history
/// with the last stored hour, so the frozen sensor is flagged from the same reading as without
/// the restart (with an empty history it would take another hour).
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
    publish(0..44).await;
    svc.wait_for("SELECT count(*) FROM readings WHERE sensor_id = 'h3'", 44, Duration::from_secs(30)).await;
    svc.kill9();

    let svc = Service::start(&spec);
    svc.wait_healthy(Duration::from_secs(30)).await;
    publish(44..STEPS).await;
    svc.wait_for("SELECT count(*) FROM readings WHERE sensor_id = 'h3'", STEPS, Duration::from_secs(30)).await;
    assert_eq!(flagged(&svc, "h3", STEP, base).await, EXPECTED_STEP, "STEP rows");
    assert_eq!(flagged(&svc, "h3", STUCK, base).await, EXPECTED_STUCK, "STUCK rows across the restart");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulators_spikes_and_frozen_sensors_are_flagged() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let prefix = unique("t");
    let svc = Service::start(&ServiceSpec::new(dir.path(), Broker::Embedded(port), &prefix));
    svc.wait_healthy(Duration::from_secs(30)).await;

    let now = chrono::Utc::now().timestamp();
    let per_sensor = 150;
    let start = now - now.rem_euclid(300) - per_sensor as i64 * 300 - 3600;
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

    // What the simulator injected: spiked readings, and for frozen readings their position in
    // the identical run (the run starts one reading before the first `Stuck` one).
    let mut spikes = BTreeSet::new();
    let mut frozen = BTreeMap::new();
    // Readings in the hour after a frozen period, when a level shift may be STEP-flagged.
    let mut thawing = BTreeSet::new();
    let mut series: BTreeMap<String, BTreeMap<i64, f64>> = BTreeMap::new();
    let mut state: BTreeMap<String, (i64, i64)> = BTreeMap::new(); // (run, readings since thaw)
    for m in fleet.messages() {
        for r in m.readings().unwrap() {
            let key = (r.sensor.clone(), r.ts.timestamp());
            series.entry(r.sensor.clone()).or_default().insert(r.ts.timestamp(), r.temperature_c);
            if m.anomalies.contains(Anomaly::Spike) {
                spikes.insert(key.clone());
            }
            let (run, since_thaw) = state.entry(r.sensor.clone()).or_insert((0, i64::MAX));
            if m.anomalies.contains(Anomaly::Stuck) {
                *run += 1;
                frozen.insert(key, *run);
            } else {
                if *run > 0 {
                    *since_thaw = 0;
                }
                *run = 0;
                if *since_thaw < 12 {
                    thawing.insert(key);
                    *since_thaw += 1;
                }
            }
        }
    }
    assert!(spikes.len() >= 5 && !frozen.is_empty(), "the fleet has faults to find");

    let stats = publish(&target(port, &unique("pub-")), fleet.messages(), 0.0, None).await.unwrap();
    let total = fleet.expected_distinct_readings().unwrap() as i64;
    assert_eq!(stats.acked as i64, total);
    svc.wait_for("SELECT count(*) FROM readings WHERE network = 'sim'", total, Duration::from_secs(60)).await;

    let step = sim_flagged(&svc, STEP).await;
    assert!(spikes.is_subset(&step), "unflagged spikes: {:?}", spikes.difference(&step).collect::<Vec<_>>());
    // Besides spikes, only the jump back to the real temperature when a frozen sensor thaws.
    let other: Vec<_> = step.iter().filter(|k| !spikes.contains(*k) && !thawing.contains(*k)).collect();
    assert!(other.is_empty(), "STEP on normal readings: {other:?}");
    let stuck = sim_flagged(&svc, STUCK).await;
    // Identical values for an hour: the 12th value of the run (the 11th `Stuck` reading) on.
    let must: BTreeSet<_> = frozen.iter().filter(|(_, pos)| **pos >= 11).map(|(k, _)| k.clone()).collect();
    assert!(!must.is_empty());
    assert!(must.is_subset(&stuck), "missing STUCK flags: {:?}", must.difference(&stuck).collect::<Vec<_>>());
    // Outside the frozen periods, only where the simulated hour really is flat: the AR(1) noise
    // (σ 0.15 K, φ 0.9 per 5 min) sometimes varies less than 0.05 K over an hour.
    for (sensor, t) in stuck.iter().filter(|k| !frozen.contains_key(*k)) {
        let hour: Vec<f64> = series[sensor].range(t - 3599..=*t).map(|(_, v)| *v).collect();
        let mean = hour.iter().sum::<f64>() / hour.len() as f64;
        let std = (hour.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / hour.len() as f64).sqrt();
        assert!(hour.len() >= 10 && std < 0.05, "{sensor} at {t}: STUCK with std {std:.3} K over {} readings", hour.len());
    }
}

/// `(sensor, ts in s)` of the simulated network's readings whose `qc_flags` have `bit`.
async fn sim_flagged(svc: &Service, bit: i64) -> BTreeSet<(String, i64)> {
    let sql = format!("SELECT sensor_id, to_unixtime(ts) AS t FROM readings WHERE network = 'sim' AND qc_flags & {bit} <> 0");
    let rows = svc.sql(&sql).await.unwrap();
    rows.iter().map(|r| (r["sensor_id"].as_str().unwrap().to_owned(), r["t"].as_i64().unwrap())).collect()
}
