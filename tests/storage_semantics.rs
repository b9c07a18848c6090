//! What the storage promises about individual readings: late and out-of-order readings land
//! in their own day's partition; redeliveries and resends are stored once; a conflicting
//! duplicate is kept aside and flagged, never overwriting; a graceful stop persists everything.

mod support;

use rumqttc::{AsyncClient, MqttOptions, QoS};
use std::time::Duration;
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_duplicate_and_conflicting_readings() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let prefix = unique("t");
    let mut svc = Service::start(&ServiceSpec::new(dir.path(), Broker::Embedded(port), &prefix));
    svc.wait_healthy(Duration::from_secs(30)).await;

    let (client, mut eventloop) = AsyncClient::new(MqttOptions::new(unique("c-"), "127.0.0.1", port), 100);
    tokio::spawn(async move { while eventloop.poll().await.is_ok() {} });
    let topic = format!("{prefix}/vitre/vt-01/reading");
    let day = |d: i64| chrono::Utc::now().date_naive() - chrono::Days::new(d as u64);
    let at = |d: i64, h: u32| day(d).and_hms_opt(h, 0, 0).unwrap().and_utc().to_rfc3339();

    // Today's reading, then a backlog from three days and one day ago, out of order.
    client.publish(&topic, QoS::AtLeastOnce, false, format!(r#"{{"ts":"{}","temperature_c":21.0}}"#, at(0, 0))).await.unwrap();
    let backlog = format!(r#"[{{"ts":"{}","temperature_c":18.5}},{{"ts":"{}","temperature_c":19.25}}]"#, at(1, 3), at(3, 2));
    client.publish(&topic, QoS::AtLeastOnce, false, backlog.clone()).await.unwrap();
    // A resend of the whole backlog (int-vs-float spelling must not matter either) …
    client.publish(&topic, QoS::AtLeastOnce, false, backlog.replace("18.5", "18.50")).await.unwrap();
    client.publish(&topic, QoS::AtLeastOnce, false, format!(r#"{{"ts":"{}","temperature_c":21}}"#, at(0, 0))).await.unwrap();
    // … and a conflicting value for an existing key.
    client.publish(&topic, QoS::AtLeastOnce, false, format!(r#"{{"ts":"{}","temperature_c":25.0}}"#, at(3, 2))).await.unwrap();

    svc.wait_for("SELECT count(*) FROM readings WHERE network = 'vitre'", 3, Duration::from_secs(30)).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while svc.metric("ilot_conflicts_total", "").await < 1.0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(svc.metric("ilot_duplicates_total", "").await, 3.0, "two backlog resends and one int/float respelling");
    assert_eq!(svc.metric("ilot_conflicts_total", "").await, 1.0);
    let rows = svc.sql("SELECT CAST(date AS VARCHAR) AS d, temperature_c AS t FROM readings WHERE network = 'vitre' ORDER BY ts").await.unwrap();
    let got: Vec<(String, f64)> = rows.iter().map(|r| (r["d"].as_str().unwrap().to_owned(), r["t"].as_f64().unwrap())).collect();
    assert_eq!(
        got,
        vec![(day(3).to_string(), 19.25), (day(1).to_string(), 18.5), (day(0).to_string(), 21.0)],
        "each reading in its own day, the first value kept"
    );

    // A graceful stop persists everything: the files alone then hold every reading, each in
    // its day's partition, and the conflicting value sits in conflicts/ with its flag.
    svc.stop();
    assert_eq!(parquet_rows(dir.path()), 3);
    for d in [0, 1, 3] {
        let partition = dir.path().join(format!("readings/network=vitre/date={}", day(d)));
        assert!(partition.is_dir(), "{partition:?}");
    }
    let conflicts = dir.path().join(format!("conflicts/network=vitre/date={}", day(3)));
    assert!(conflicts.is_dir(), "conflicting duplicate kept aside in {conflicts:?}");
}
