//! Bad input never crashes or blocks the intake: a corpus of bad payloads, published over MQTT
//! between good readings, is dead-lettered with one reason each, counted in metrics and
//! stored with the raw payload, while every good reading is stored.

mod support;

use rumqttc::{AsyncClient, MqttOptions, QoS};
use std::time::Duration;
use support::*;

fn corpus(prefix: &str, now: chrono::DateTime<chrono::Utc>) -> Vec<(String, Vec<u8>, &'static str)> {
    let t = |s: &str| format!("{prefix}/toulouse/{s}/reading");
    let ts = (now - chrono::Duration::minutes(10)).to_rfc3339();
    let future = (now + chrono::Duration::days(2)).to_rfc3339();
    let old = (now - chrono::Duration::days(4000)).to_rfc3339();
    let epoch = now.timestamp() - 600;
    vec![
        (t("s1"), b"".to_vec(), "empty_payload"),
        (t("s1"), b"{not json".to_vec(), "malformed_json"),
        (t("s1"), vec![0xff, 0xfe, 0x00, 0x7b], "not_utf8"),
        (t("s1"), br#""just a string""#.to_vec(), "unknown_format"),
        (t("s1"), br#"{"hello":"world"}"#.to_vec(), "unknown_format"),
        (t("s1"), format!(r#"{{"ts":"{ts}"}}"#).into_bytes(), "missing_field"),
        (t("s1"), br#"{"temperature_c":21.5}"#.to_vec(), "missing_field"),
        (t("s1"), format!(r#"{{"ts":"{ts}","temperature_c":"21.5"}}"#).into_bytes(), "wrong_type"),
        (t("s1"), format!(r#"{{"ts":"{ts}","temperature_c":{{"v":1}}}}"#).into_bytes(), "wrong_type"),
        (t("s1"), format!(r#"{{"ts":"{ts}","temperature_c":1e999}}"#).into_bytes(), "non_finite_value"),
        (t("s1"), format!(r#"{{"ts":"{ts}","temperature_c":150.0}}"#).into_bytes(), "impossible_value"),
        (t("s1"), format!(r#"{{"ts":"{ts}","temperature_c":20.0,"humidity_pct":-5}}"#).into_bytes(), "impossible_value"),
        (t("s1"), br#"{"ts":"yesterday","temperature_c":20.0}"#.to_vec(), "invalid_timestamp"),
        (t("s1"), format!(r#"{{"ts":"{future}","temperature_c":20.0}}"#).into_bytes(), "timestamp_in_future"),
        (t("s1"), format!(r#"{{"ts":"{old}","temperature_c":20.0}}"#).into_bytes(), "timestamp_too_old"),
        (t("s1"), br#"[{"bn":"s1:","n":"temperature","u":"Cel","v":21.0,"t":5}]"#.to_vec(), "relative_timestamp"),
        (t("s1"), format!(r#"[{{"bn":"s1:","bt":{epoch},"n":"temperature","u":"degF","v":70.0}}]"#).into_bytes(), "unknown_unit"),
        (format!("{prefix}/tou:louse/s1/reading"), format!(r#"{{"ts":"{ts}","temperature_c":20.0}}"#).into_bytes(), "invalid_identifier"),
        (t("s1"), format!(r#"{{"sensor":"s2","ts":"{ts}","temperature_c":20.0}}"#).into_bytes(), "sensor_mismatch"),
        (t("bad sensor!"), format!(r#"{{"ts":"{ts}","temperature_c":20.0}}"#).into_bytes(), "invalid_identifier"),
        (t("s1"), b"[]".to_vec(), "empty_batch"),
        (t("s1"), format!("[{}]", vec!["{}"; 10_001].join(",")).into_bytes(), "batch_too_large"),
        (t("s1"), format!(r#"{{"ts":{},"temperature_c":20.0}}"#, now.timestamp_millis()).into_bytes(), "timestamp_in_future"),
        (t("s1"), br#"{"ts":0,"temperature_c":20.0}"#.to_vec(), "timestamp_too_old"),
        (t("s1"), format!(r#"{{"ts":"{ts}","temperature_c":20.0,"pad":"{}"}}"#, "x".repeat(70_000)).into_bytes(), "payload_too_large"),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_bad_payload_is_dead_lettered_while_good_readings_flow() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let prefix = unique("t");
    let svc = Service::start(&ServiceSpec::new(dir.path(), Broker::Embedded(port), &prefix));
    svc.wait_healthy(Duration::from_secs(30)).await;

    let now = chrono::Utc::now();
    let corpus = corpus(&prefix, now);
    let kinds: std::collections::BTreeSet<_> = corpus.iter().map(|(_, _, r)| *r).collect();
    assert!(corpus.len() >= 20, "at least 20 kinds of bad payload ({})", corpus.len());
    assert!(kinds.len() >= 17, "covering the decoder's reasons ({})", kinds.len());

    let mut opts = MqttOptions::new(unique("bad-"), "127.0.0.1", port);
    opts.set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut eventloop) = AsyncClient::new(opts, 100);
    tokio::spawn(async move { while eventloop.poll().await.is_ok() {} });
    for (i, (topic, payload, _)) in corpus.iter().enumerate() {
        client.publish(topic.clone(), QoS::AtLeastOnce, false, payload.clone()).await.unwrap();
        // A good reading after every bad one: the intake must not be blocked by what came before.
        let ts = (now - chrono::Duration::minutes(60 + i as i64)).to_rfc3339();
        let good = format!(r#"{{"ts":"{ts}","temperature_c":{}.25,"humidity_pct":55.5}}"#, 15 + i);
        client.publish(format!("{prefix}/toulouse/good/reading"), QoS::AtLeastOnce, false, good).await.unwrap();
    }

    svc.wait_for("SELECT count(*) FROM readings WHERE sensor_id = 'good'", corpus.len() as i64, Duration::from_secs(30)).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while svc.metric("ilot_dead_letters_total", "").await < corpus.len() as f64 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for reason in &kinds {
        let expected = corpus.iter().filter(|(_, _, r)| r == reason).count() as f64;
        let got = svc.metric("ilot_dead_letters_total", &format!("reason=\"{reason}\"")).await;
        assert_eq!(got, expected, "dead letters with reason {reason}");
    }
    assert_eq!(svc.metric("ilot_dead_letters_total", "").await, corpus.len() as f64);
    assert_eq!(svc.health().await.0, 200, "the service is still healthy");

    // Dead letters are persisted as Parquet with their raw payload and reason.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let mut found = 0;
    while std::time::Instant::now() < deadline {
        found = count_dead_letter_rows(&dir.path().join("dead_letters"));
        if found >= corpus.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(found, corpus.len());
}

fn count_dead_letter_rows(dir: &std::path::Path) -> usize {
    use parquet::file::reader::FileReader;
    let mut n = 0;
    let Ok(days) = std::fs::read_dir(dir) else { return 0 };
    for day in days.map(Result::unwrap) {
        for f in std::fs::read_dir(day.path()).unwrap().map(Result::unwrap) {
            let reader = parquet::file::serialized_reader::SerializedFileReader::new(std::fs::File::open(f.path()).unwrap()).unwrap();
            n += reader.metadata().file_metadata().num_rows() as usize;
        }
    }
    n
}
