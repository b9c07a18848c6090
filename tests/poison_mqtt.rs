//! One oversized message cannot stop the intake: a 10 MiB QoS 1 publish between good readings,
//! on MQTT 3.1.1 and on MQTT 5, sent by an independent client (`mosquitto_pub`) through a
//! private Mosquitto without a message size limit (as a broker configured without the shipped
//! `message_size_limit` would be). The good readings are stored, the big one is dead-lettered
//! and acknowledged, the session is never dropped, and `/healthz` says so throughout.

mod support;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;
use support::*;

fn mosquitto_pub(port: u16, topic: &str, args: &[&str], stdin: Option<&str>) {
    let mut child = Command::new("mosquitto_pub")
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-q", "1", "-t", topic, "-i", &unique("pub-")])
        .args(args)
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .spawn()
        .expect("mosquitto_pub on PATH (Debian package mosquitto-clients)");
    if let Some(text) = stdin {
        child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    }
    assert!(child.wait().unwrap().success(), "mosquitto_pub failed");
}

/// `n` readings of one sensor, one JSON document per line, minutes apart from `first_minute`.
fn readings(sensor: &str, first_minute: i64, n: i64) -> String {
    let now = chrono::Utc::now().timestamp() / 60 * 60;
    (first_minute..first_minute + n)
        .map(|m| {
            let ts = chrono::DateTime::from_timestamp(now - 86_400 + m * 60, 0).unwrap().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            format!("{{\"sensor\":\"{sensor}\",\"ts\":\"{ts}\",\"temperature_c\":{}.5}}\n", 20 + m % 5)
        })
        .collect()
}

async fn big_message_between_good_ones(mqtt_extra: &str) {
    let dir = tempfile::tempdir().unwrap();
    let mosquitto = Mosquitto::start_with(&dir.path().join("broker"), "message_size_limit 0\n");
    let prefix = unique("poison");
    let mut spec = ServiceSpec::new(&dir.path().join("data"), Broker::External(mosquitto.port), &prefix);
    spec.mqtt_extra = mqtt_extra.to_owned();
    let svc = Service::start(&spec);
    svc.wait_healthy(Duration::from_secs(30)).await;
    let topic = format!("{prefix}/lyon/s-1/reading");

    mosquitto_pub(mosquitto.port, &topic, &["-l"], Some(&readings("s-1", 0, 20)));
    let big = dir.path().join("big.json");
    std::fs::write(&big, format!("{{\"sensor\":\"s-1\",\"note\":\"{}\"}}", "x".repeat(10 << 20))).unwrap();
    mosquitto_pub(mosquitto.port, &topic, &["-f", big.to_str().unwrap()], None);
    mosquitto_pub(mosquitto.port, &topic, &["-l"], Some(&readings("s-1", 20, 20)));

    // Healthy at every look while the readings arrive, and never reconnected.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = svc.health().await;
        assert_eq!(status, 200, "healthy throughout: {body}");
        assert_eq!(body["reconnects_last_minute"], 0, "{body}");
        if svc.count("SELECT count(*) FROM readings").await == 40 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "40 good readings stored");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(svc.metric("ilot_dead_letters_total", "payload_too_large").await, 1.0, "the big one is dead-lettered once");
    assert_eq!(svc.metric("ilot_broker_connection_errors_total", "").await, 0.0, "the session was never dropped");
    let (status, body) = svc.health().await;
    assert!(status == 200 && body["connected"] == true && body["subscribed"] == true, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_10_mib_message_on_mqtt_3_1_1_is_dead_lettered_and_the_stream_goes_on() {
    big_message_between_good_ones("").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_10_mib_message_on_mqtt_5_is_dead_lettered_and_the_stream_goes_on() {
    big_message_between_good_ones("protocol = \"5\"\n").await;
}
