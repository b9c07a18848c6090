//! A broker restart in the middle of a stream: intake resumes by itself, nothing is lost,
//! and `/healthz` reports the stall while it lasts.

mod support;

use std::time::Duration;
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn intake_resumes_after_a_broker_restart_mid_stream() {
    let dir = tempfile::tempdir().unwrap();
    let mut mosquitto = Mosquitto::start(&dir.path().join("broker"));
    let prefix = unique("t");
    let svc = Service::start(&ServiceSpec::new(&dir.path().join("data"), Broker::External(mosquitto.port), &prefix));
    svc.wait_healthy(Duration::from_secs(30)).await;

    // 10,000 readings paced over ~8 s of wall time (100 sensors, 100 steps of 300 s).
    let fleet = fleet(&prefix, "dijon", 100, 100);
    let port = mosquitto.port;
    let publisher = tokio::spawn(async move { publish(&target(port, &unique("pub-")), fleet.messages(), 4_000.0, None).await });

    svc.wait_for("SELECT CASE WHEN count(*) > 1000 THEN 1 ELSE 0 END FROM readings", 1, Duration::from_secs(30)).await;
    mosquitto.stop();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut reported = None;
    while std::time::Instant::now() < deadline {
        let (status, body) = svc.health().await;
        if status == 503 {
            reported = Some(body);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let body = reported.expect("/healthz reports the stall while the broker is down");
    assert!(body["problems"].to_string().contains("broker connection lost"), "{body}");
    let stalled_at = svc.count("SELECT count(*) FROM readings").await;
    assert!(stalled_at < 10_000, "the outage happened mid-stream ({stalled_at} stored)");

    mosquitto.restart();
    svc.wait_healthy(Duration::from_secs(30)).await;
    let stats = publisher.await.unwrap().unwrap();
    assert_eq!(stats.acked, 10_000);
    svc.wait_for("SELECT count(*) FROM readings", 10_000, Duration::from_secs(60)).await;
    assert_eq!(svc.count("SELECT count(*) FROM (SELECT DISTINCT sensor_id, ts FROM readings)").await, 10_000);
    assert_eq!(svc.health().await.0, 200);
}
