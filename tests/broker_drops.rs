//! Messages the broker drops are seen: with Mosquitto's message-count queue limit, QoS 1 readings
//! queued for an offline ilot are acknowledged to their publisher and then discarded. ilot reads
//! the broker's `$SYS` drop counter and shows it in `/metrics` and `/healthz`; a broker refusing
//! `$SYS` leaves the intake healthy.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};
use support::*;

/// Wait until `metric` reaches at least `min`; its last value.
async fn wait_metric(svc: &Service, metric: &str, min: f64) -> f64 {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let value = svc.metric(metric, "").await;
        if value >= min || Instant::now() > deadline {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn mosquitto_client(program: &str, args: &[&str], stdin: &str) {
    let mut child = Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{program} on PATH (Debian package mosquitto-clients): {e}"));
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), stdin.as_bytes()).unwrap();
    assert!(child.wait().unwrap().success(), "{program} {args:?} failed");
}

async fn readings_dropped_by_the_broker_show_in_metrics_and_health(mqtt_extra: &str) {
    let dir = tempfile::tempdir().unwrap();
    // A queue of 100 messages per client (Mosquitto's default is 1000), statistics every second.
    let mosquitto = Mosquitto::start_with(&dir.path().join("broker"), "max_queued_messages 100\nsys_interval 1\n");
    let port = mosquitto.port.to_string();
    let prefix = unique("t");
    let mut spec = ServiceSpec::new(&dir.path().join("data"), Broker::External(mosquitto.port), &prefix);
    spec.mqtt_extra = mqtt_extra.to_owned();
    let mut svc = Service::start(&spec);
    svc.wait_healthy(Duration::from_secs(30)).await;
    let deadline = Instant::now() + Duration::from_secs(15);
    while svc.health().await.1["broker_messages_dropped"].is_null() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (status, body) = svc.health().await;
    assert_eq!((status, &body["broker_messages_dropped"], &body["degraded"]), (200, &0.into(), &false.into()), "{body}");

    // ilot stopped, its session kept: the broker queues 100 of the 500 readings and drops the rest.
    svc.stop();
    let fleet = fleet(&prefix, "dijon", 5, 100);
    let stats = publish(&target(mosquitto.port, &unique("pub-")), fleet.messages(), 0.0, None).await.unwrap();
    assert_eq!(stats.acked, 500, "the broker acknowledged every reading");
    let svc = Service::start(&spec);
    svc.wait_healthy(Duration::from_secs(30)).await;
    let dropped = wait_metric(&svc, "ilot_broker_messages_dropped", 400.0).await;
    assert_eq!(dropped, 400.0, "the broker's counter");
    svc.wait_for("SELECT count(*) FROM readings", 100, Duration::from_secs(30)).await;
    let (status, body) = svc.health().await;
    assert_eq!(status, 200, "lost readings degrade the service, its intake works: {body}");
    assert_eq!((&body["healthy"], &body["degraded"], &body["broker_messages_dropped"]), (&true.into(), &true.into(), &400.into()), "{body}");
    let warning = body["warnings"].as_array().unwrap().iter().map(|w| w.as_str().unwrap()).find(|w| w.contains("the broker dropped messages"));
    let warning = warning.unwrap_or_else(|| panic!("a warning: {body}"));
    assert!(warning.contains("reads 400") && warning.contains("max_queued_messages 0") && warning.contains("deploy/mosquitto"), "{warning}");

    // Another subscriber's session overflows while ilot watches: the counter is broker-wide,
    // and the rise is counted as observed.
    let observed_before = svc.metric("ilot_broker_drops_observed_total", "").await;
    let lazy = ["-p", port.as_str(), "-i", "lazy-subscriber", "-c", "-q", "1", "-t", "lazy/#", "-W", "1"];
    // Each run ends by timing out (`-W 1`), after making or resuming the session.
    let lazy_session = || Command::new("mosquitto_sub").args(lazy).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).status();
    lazy_session().expect("mosquitto_sub on PATH");
    let lines: String = (0..300).map(|i| format!("{i}\n")).collect();
    mosquitto_client("mosquitto_pub", &["-p", &port, "-q", "1", "-t", "lazy/x", "-l"], &lines);
    lazy_session().unwrap();
    assert_eq!(wait_metric(&svc, "ilot_broker_messages_dropped", 600.0).await, 600.0);
    assert_eq!(wait_metric(&svc, "ilot_broker_drops_observed_total", observed_before + 200.0).await, observed_before + 200.0);
    assert_eq!(svc.health().await.1["broker_messages_dropped"], 600);
    assert_eq!(svc.count("SELECT count(*) FROM readings").await, 100, "$SYS publishes are not readings");
    assert_eq!(svc.metric("ilot_messages_received_total", "").await, 100.0, "nor intake traffic");
    assert_eq!(svc.metric("ilot_dead_letters_total", "").await, 0.0, "nor dead letters");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readings_dropped_by_the_broker_show_over_mqtt_3_1_1() {
    readings_dropped_by_the_broker_show_in_metrics_and_health("").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readings_dropped_by_the_broker_show_over_mqtt_5() {
    readings_dropped_by_the_broker_show_in_metrics_and_health("protocol = \"5\"\n").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_refusing_its_statistics_leaves_the_intake_healthy() {
    let dir = tempfile::tempdir().unwrap();
    let broker_dir = dir.path().join("broker");
    std::fs::create_dir_all(&broker_dir).unwrap();
    // `#` does not grant `$SYS`: Mosquitto grants the subscription to the statistics but never
    // delivers them (other brokers answer SUBACK 0x80; both only end the watch).
    let acl = broker_dir.join("acl");
    std::fs::write(&acl, "topic readwrite #\n").unwrap();
    let mosquitto = Mosquitto::start_with(&broker_dir, &format!("acl_file {}\nsys_interval 1\n", acl.display()));
    let prefix = unique("t");
    let svc = Service::start(&ServiceSpec::new(&dir.path().join("data"), Broker::External(mosquitto.port), &prefix));
    svc.wait_healthy(Duration::from_secs(30)).await;
    let fleet = fleet(&prefix, "dijon", 2, 10);
    publish(&target(mosquitto.port, &unique("pub-")), fleet.messages(), 0.0, None).await.unwrap();
    svc.wait_for("SELECT count(*) FROM readings", 20, Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (status, body) = svc.health().await;
    assert_eq!(status, 200, "{body}");
    assert_eq!((&body["subscribed"], &body["reconnects_last_minute"], &body["degraded"]), (&true.into(), &0.into(), &false.into()), "{body}");
    assert!(body["broker_messages_dropped"].is_null(), "no statistics: {body}");
}
