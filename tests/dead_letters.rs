//! Bad input never crashes or blocks the intake: a corpus of bad payloads, published over MQTT
//! between good readings, is dead-lettered with one reason each, counted in metrics and
//! stored with the raw payload, while every good reading is stored. Dead letters and
//! conflicting duplicates are SQL tables, the same before and after they reach Parquet, through
//! `ilot sql` and `POST /api/sql`.

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

/// The rows of each query through `POST /api/sql`.
async fn over_http(svc: &Service, queries: &[&str]) -> Vec<Vec<serde_json::Value>> {
    let mut answers = Vec::new();
    for query in queries {
        answers.push(svc.sql(query).await.unwrap_or_else(|e| panic!("{query}: {e}")));
    }
    answers
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_and_conflicts_are_sql_tables_before_and_after_persist() {
    let dir = tempfile::tempdir().unwrap();
    let (port, prefix) = (free_port(), unique("t"));
    let mut spec = ServiceSpec::new(dir.path(), Broker::Embedded(port), &prefix);
    // Nothing reaches Parquet before the service stops: first the rows held in memory and the WAL.
    spec.persist_interval_s = 3600;
    let mut svc = Service::start(&spec);
    svc.wait_healthy(Duration::from_secs(30)).await;

    let (client, mut eventloop) = AsyncClient::new(MqttOptions::new(unique("bad-"), "127.0.0.1", port), 100);
    tokio::spawn(async move { while eventloop.poll().await.is_ok() {} });
    let topic = format!("{prefix}/toulouse/s1/reading");
    let ts = (chrono::Utc::now() - chrono::Duration::minutes(10)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let reading = |t: f64| format!(r#"{{"ts":"{ts}","temperature_c":{t}}}"#).into_bytes();
    for payload in [reading(20.0), b"{not json".to_vec(), b"{not json either".to_vec(), vec![0xff, 0xfe, 0x00, 0x7b]] {
        client.publish(topic.clone(), QoS::AtLeastOnce, false, payload).await.unwrap();
    }
    svc.wait_for("SELECT count(*) FROM readings", 1, Duration::from_secs(30)).await;
    // The same sensor and instant with another value, after the first is stored.
    client.publish(topic.clone(), QoS::AtLeastOnce, false, reading(21.5)).await.unwrap();
    svc.wait_for("SELECT count(*) FROM dead_letters", 3, Duration::from_secs(30)).await;
    svc.wait_for("SELECT count(*) FROM conflicts", 1, Duration::from_secs(30)).await;
    assert!(!dir.path().join("dead_letters").exists() && !dir.path().join("conflicts").exists(), "nothing persisted yet");

    let reasons = serde_json::json!([{"reason": "malformed_json", "n": 2}, {"reason": "not_utf8", "n": 1}]);
    let by_reason = "SELECT reason, count(*) AS n FROM dead_letters GROUP BY 1 ORDER BY 1";
    let letters = "SELECT topic, detail <> '' AS explained, payload_text, encode(payload, 'hex') AS payload_hex, writer, \
                   date = CAST(received_at AS DATE) AS dated FROM dead_letters ORDER BY received_at, payload_hex";
    let writer = spec.client_id.clone();
    let expected_letters = serde_json::json!([
        {"topic": topic, "explained": true, "payload_text": "{not json", "payload_hex": "7b6e6f74206a736f6e", "writer": writer, "dated": true},
        {"topic": topic, "explained": true, "payload_text": "{not json either", "payload_hex": "7b6e6f74206a736f6e20656974686572", "writer": writer, "dated": true},
        {"topic": topic, "explained": true, "payload_hex": "fffe007b", "writer": writer, "dated": true},
    ]);
    let conflicts = "SELECT network, sensor_id, arrow_cast(ts, 'Int64') AS ts_ms, temperature_c, qc_flags & 16 AS conflict, received_at >= ts AS arrived \
                     FROM conflicts";
    let ts_ms = chrono::DateTime::parse_from_rfc3339(&ts).unwrap().timestamp_millis();
    let expected_conflicts = serde_json::json!([{"network": "toulouse", "sensor_id": "s1", "ts_ms": ts_ms, "temperature_c": 21.5, "conflict": 16, "arrived": true}]);
    // What it conflicted with: the stored reading of the same key.
    let against = "SELECT c.temperature_c AS kept_aside, r.temperature_c AS stored FROM conflicts c JOIN readings r USING (network, sensor_id, ts)";
    let expected_against = serde_json::json!([{"kept_aside": 21.5, "stored": 20.0}]);

    let queries = [by_reason, letters, conflicts, against];
    let expected = [reasons, expected_letters, expected_conflicts, expected_against];
    let check = |via: &str, rows: Vec<Vec<serde_json::Value>>| {
        for ((query, expected), rows) in queries.iter().zip(&expected).zip(rows) {
            assert_eq!(&serde_json::Value::from(rows), expected, "{via}: {query}");
        }
    };
    let config = svc.config_file.clone();
    let from_cli = || queries.iter().map(|q| cli_sql(&config, q)).collect::<Vec<_>>();

    // Before persist: in the service's memory, and in its WAL for `ilot sql`.
    check("POST /api/sql, in memory", over_http(&svc, &queries).await);
    check("ilot sql, from the WAL", from_cli());

    // After persist (the service persists as it stops): from the files, then through a service again.
    svc.stop();
    assert!(dir.path().join("dead_letters").exists() && dir.path().join("conflicts").exists(), "persisted at shutdown");
    check("ilot sql, from the files", from_cli());
    let svc = Service::start(&spec);
    svc.wait_healthy(Duration::from_secs(30)).await;
    check("POST /api/sql, from the files", over_http(&svc, &queries).await);

    // Read-only like every table.
    for refused in ["INSERT INTO dead_letters SELECT * FROM dead_letters", "INSERT INTO conflicts SELECT * FROM conflicts", "DROP TABLE conflicts"] {
        let err = svc.sql(refused).await.unwrap_err();
        assert!(err.contains("not_read_only"), "{refused}: {err}");
    }
}
