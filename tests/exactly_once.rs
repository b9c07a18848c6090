//! The foundation's promise: every reading published with QoS 1 ends up exactly once in SQL
//! and in the Parquet files, through the embedded broker and through Mosquitto, and survives
//! `kill -9` of the service.

mod support;

use std::time::Duration;
use support::*;

async fn ten_thousand_readings(broker: Broker, mqtt_extra: &str) {
    let dir = tempfile::tempdir().unwrap();
    let prefix = unique("t");
    let mut spec = ServiceSpec::new(dir.path(), broker.clone(), &prefix);
    spec.mqtt_extra = mqtt_extra.to_owned();
    let svc = Service::start(&spec);
    svc.wait_healthy(Duration::from_secs(30)).await;

    let fleet = fleet(&prefix, "toulouse", 100, 100);
    assert_eq!(fleet.expected_distinct_readings(), Some(10_000));
    let stats = publish(&target(broker.port(), &unique("pub-")), fleet.messages(), 0.0, None).await.unwrap();
    assert_eq!(stats.acked, 10_000);

    svc.wait_for("SELECT count(*) FROM readings", 10_000, Duration::from_secs(60)).await;
    // Persisted within a few persist intervals: then the files alone hold every reading.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while parquet_rows(dir.path()) < 10_000 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(parquet_rows(dir.path()), 10_000, "the parquet crate reads every reading from the files");
    assert_eq!(svc.count("SELECT count(*) FROM readings").await, 10_000);
    assert_eq!(svc.count("SELECT count(DISTINCT sensor_id) FROM readings").await, 100);
    let distinct = svc.count("SELECT count(*) FROM (SELECT DISTINCT sensor_id, ts FROM readings)").await;
    assert_eq!(distinct, 10_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_readings_through_the_embedded_broker() {
    ten_thousand_readings(Broker::Embedded(free_port()), "").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_readings_through_mosquitto() {
    let dir = tempfile::tempdir().unwrap();
    let mosquitto = Mosquitto::start(&dir.path().join("broker"));
    ten_thousand_readings(Broker::External(mosquitto.port), "").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_readings_over_mqtt_5_through_mosquitto() {
    let dir = tempfile::tempdir().unwrap();
    let mosquitto = Mosquitto::start(&dir.path().join("broker"));
    ten_thousand_readings(Broker::External(mosquitto.port), "protocol = \"5\"\n").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_readings_over_mqtt_5_through_the_embedded_broker() {
    ten_thousand_readings(Broker::Embedded(free_port()), "protocol = \"5\"\n").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readings_through_the_machines_mosquitto_on_1883() {
    let port = ilot_firmware_sim::local_broker::ensure_machine_broker();
    let dir = tempfile::tempdir().unwrap();
    let prefix = unique("t");
    let svc = Service::start(&ServiceSpec::new(dir.path(), Broker::External(port), &prefix));
    svc.wait_healthy(Duration::from_secs(30)).await;
    // Paced (~400 msg/s): the machine's broker keeps Mosquitto's defaults, whose queue limit of
    // 1000 messages silently drops QoS 1 bursts (see deploy/mosquitto/mosquitto.conf).
    let fleet = fleet(&prefix, "rennes", 20, 100);
    let stats = publish(&target(port, &unique("pub-")), fleet.messages(), 6_000.0, None).await.unwrap();
    assert_eq!(stats.acked, 2_000);
    svc.wait_for("SELECT count(*) FROM readings WHERE network = 'rennes'", 2_000, Duration::from_secs(60)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_a_stream_loses_and_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mosquitto = Mosquitto::start(&dir.path().join("broker"));
    let prefix = unique("t");
    let spec = ServiceSpec::new(&dir.path().join("data"), Broker::External(mosquitto.port), &prefix);
    let mut svc = Service::start(&spec);
    svc.wait_healthy(Duration::from_secs(30)).await;

    let fleet = fleet(&prefix, "toulouse", 250, 200);
    let port = mosquitto.port;
    let publisher = tokio::spawn(async move { publish(&target(port, &unique("pub-")), fleet.messages(), 0.0, None).await });

    // Kill the service while readings stream in and some are not yet persisted.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let n = svc.count("SELECT count(*) FROM readings").await;
        if n >= 10_000 || std::time::Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    svc.kill9();
    let mut svc = Service::start(&spec);
    let stats = publisher.await.unwrap().unwrap();
    assert_eq!(stats.acked, 50_000);
    svc.wait_for("SELECT count(*) FROM readings", 50_000, Duration::from_secs(120)).await;
    let distinct = svc.count("SELECT count(*) FROM (SELECT DISTINCT sensor_id, ts FROM readings)").await;
    assert_eq!(distinct, 50_000, "no reading stored twice");
    // After a graceful stop the files alone, read without ilot, hold every reading once: no
    // file half-published by the killed process is left behind.
    svc.stop();
    assert_eq!(parquet_rows(&spec.data_dir), 50_000);
}
