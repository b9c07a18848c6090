//! One flipped byte in the WAL loses at most the record it hits, through the product path:
//! readings acknowledged over MQTT, `kill -9` before any persist, a byte flipped a third of the
//! way into the segment, restart. Every other reading is stored, and the loss is reported in
//! `/healthz` (degraded, with the segment and offset) and `/metrics`.

mod support;

use std::time::Duration;
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flipped_wal_byte_costs_one_record_and_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let mosquitto = Mosquitto::start(&dir.path().join("broker"));
    let prefix = unique("wal");
    let data = dir.path().join("data");
    let mut spec = ServiceSpec::new(&data, Broker::External(mosquitto.port), &prefix);
    spec.persist_interval_s = 3600;
    let mut svc = Service::start(&spec);
    svc.wait_healthy(Duration::from_secs(30)).await;
    let stats = publish(&target(mosquitto.port, &unique("pub-")), fleet(&prefix, "brest", 30, 10).messages(), 0.0, None).await.unwrap();
    assert_eq!(stats.acked, 300);
    svc.wait_for("SELECT count(*) FROM readings", 300, Duration::from_secs(30)).await;
    svc.kill9();

    let segments: Vec<_> = std::fs::read_dir(data.join("wal"))
        .unwrap()
        .flat_map(|w| std::fs::read_dir(w.unwrap().path()).unwrap())
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wal"))
        .collect();
    let segment = segments.iter().max_by_key(|p| std::fs::metadata(p).unwrap().len()).expect("a WAL segment");
    let mut bytes = std::fs::read(segment).unwrap();
    let at = bytes.len() / 3;
    bytes[at] ^= 0x5A;
    std::fs::write(segment, bytes).unwrap();

    let svc = Service::start(&spec);
    svc.wait_healthy(Duration::from_secs(30)).await;
    let stored = svc.count("SELECT count(*) FROM readings").await;
    assert!((299..=300).contains(&stored), "at most the one record hit is lost: {stored} of 300 stored");
    let (status, health) = svc.health().await;
    assert_eq!((status, &health["degraded"]), (200, &serde_json::json!(true)), "{health}");
    assert!(health["warnings"].to_string().contains("unreadable at offset"), "{health}");
    assert_eq!(svc.metric("ilot_wal_damaged_regions_total", "").await, 1.0);
}
