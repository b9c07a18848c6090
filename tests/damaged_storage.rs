//! Damaged storage degrades, never blocks: with a data file deleted, then one corrupted, then a
//! rollup deleted and the saved "now" corrupted, the service and `ilot sql` start, `readings`
//! and the heat views answer from what is left with a warning, `ilot check` names each problem
//! (exit 1) and `ilot check --repair` repairs what can be (a clean check afterwards).

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;
use support::*;

const NETWORK: &str = "dmg";
const WRITER: &str = "dmg-writer";
const READINGS: &str = "SELECT count(*) AS n FROM readings";
const HOURLY: &str = "SELECT count(*) AS n FROM hourly";
/// What `hourly` must count: the (sensor, hour) pairs of the QC-passed readings left.
const HOURS_OF_READINGS: &str = "SELECT count(*) AS n FROM (SELECT DISTINCT sensor_id, date_trunc('hour', ts) FROM readings WHERE qc_flags & 31 = 0)";

/// The writer's readings files as its manifest lists them: (path, rows).
fn readings_files(data: &Path) -> Vec<(String, i64)> {
    let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(data.join(format!("_ilot/manifests/{WRITER}.json"))).unwrap()).unwrap();
    manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["dataset"] == "readings")
        .map(|f| (f["path"].as_str().unwrap().to_owned(), f["rows"].as_i64().unwrap()))
        .collect()
}

/// One integer through POST /api/sql, with the answer's `x-ilot-warning` header.
async fn count_and_warning(svc: &Service, sql: &str) -> (i64, Option<String>) {
    let r = reqwest::Client::new().post(format!("{}/api/sql", svc.base())).body(sql.to_owned()).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200, "{sql}");
    let warning = r.headers().get("x-ilot-warning").map(|w| w.to_str().unwrap().to_owned());
    let rows: Vec<serde_json::Value> = r.json().await.unwrap();
    (rows[0]["n"].as_i64().unwrap(), warning)
}

/// Run the `ilot` binary on the service's configuration: (exit code, stdout, stderr).
fn ilot(svc_config: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(ilot_bin()).arg("--config").arg(svc_config).args(args).env("RUST_LOG", "warn").output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// A start on the damaged store: `readings` counts `expected`, `hourly` agrees with the
/// readings left, and both answers carry a warning naming `named` (when given).
async fn answers_from_the_rest(svc: &Service, expected: i64, named: Option<&str>) {
    let (n, warning) = count_and_warning(svc, READINGS).await;
    assert_eq!(n, expected, "readings left");
    let (hours, hourly_warning) = count_and_warning(svc, HOURLY).await;
    assert_eq!(hours, count_and_warning(svc, HOURS_OF_READINGS).await.0, "hourly agrees with the readings left");
    assert!(hours > 0);
    if let Some(path) = named {
        for w in [&warning, &hourly_warning] {
            assert!(w.as_deref().is_some_and(|w| w.contains(path)), "warning {w:?} names {path}");
        }
    }
}

/// `ilot sql` starts on the damaged store and counts `expected`; its warning (if any) on stderr.
fn ilot_sql_counts(config: &Path, expected: i64) -> String {
    let (code, out, err) = ilot(config, &["sql", "--format", "csv", READINGS]);
    assert_eq!((code, out.as_str()), (0, format!("n\n{expected}\n").as_str()), "{err}");
    err
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_files_degrade_queries_and_check_repairs_them() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let prefix = unique("t");
    // 4 sensors, one reading every 5 minutes for 58 hours: three or four UTC days.
    let fleet = fleet(&prefix, NETWORK, 4, 700);
    let total = fleet.expected_distinct_readings().unwrap() as i64;
    let sensors = dir.path().join("sensors.csv");
    std::fs::write(&sensors, fleet.registry_csv()).unwrap();
    let client_id = unique("dmg-");
    let spec = || {
        let mut spec = ServiceSpec::new(&data, Broker::Embedded(free_port()), &prefix);
        spec.client_id = client_id.clone();
        spec.writer_id = Some(WRITER.into());
        spec.extra_toml = format!("[registry]\nsensor_files = [{:?}]\n", sensors.to_str().unwrap());
        spec
    };

    let first = spec();
    let mut svc = Service::start(&first);
    svc.wait_healthy(Duration::from_secs(30)).await;
    let stats = publish(&target(first.broker.port(), &unique("pub-")), fleet.messages(), 0.0, None).await.unwrap();
    assert_eq!(stats.acked as i64, total);
    svc.wait_for(READINGS, total, Duration::from_secs(60)).await;
    svc.stop();
    let config = svc.config_file.clone();
    let files = readings_files(&data);
    let days: std::collections::BTreeSet<&str> = files.iter().filter_map(|(p, _)| p.split('/').nth(2)).collect();
    assert!(files.len() >= 3 && days.len() >= 2, "{files:?}");
    assert_eq!(ilot(&config, &["check"]).0, 0, "a sound store checks clean");

    // (a) A data file deleted.
    let (deleted, rows) = &files[0];
    std::fs::remove_file(data.join(deleted)).unwrap();
    let mut expected = total - rows;
    let (code, out, _) = ilot(&config, &["check"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.lines().any(|l| l.starts_with(&format!("{deleted}: missing"))), "{out}");
    let mut svc = Service::start(&spec());
    answers_from_the_rest(&svc, expected, Some(deleted)).await;
    assert_eq!(svc.metric("ilot_damaged_files", "").await, 1.0);
    let (status, health) = svc.health().await;
    assert_eq!((status, &health["degraded"]), (200, &serde_json::json!(true)), "degraded, still ingesting: {health}");
    assert!(health["damaged_files"].to_string().contains(deleted.as_str()), "/healthz names the file: {health}");
    assert!(ilot_sql_counts(&config, expected).contains(deleted.as_str()), "ilot sql warns on stderr");
    svc.stop();
    let (code, out, err) = ilot(&config, &["check", "--repair"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(!readings_files(&data).iter().any(|(p, _)| p == deleted), "dropped from the manifest");
    assert_eq!(ilot(&config, &["check"]).0, 0);

    // (b) A data file corrupted: bytes overwritten in the middle, and the end cut off.
    let (corrupted, rows) = &files[1];
    let file = data.join(corrupted);
    let mut bytes = std::fs::read(&file).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle..middle + 64].fill(0xA5);
    bytes.truncate(bytes.len() - 100);
    std::fs::write(&file, &bytes).unwrap();
    expected -= rows;
    let (code, out, _) = ilot(&config, &["check"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.lines().any(|l| l.starts_with(&format!("{corrupted}: unreadable"))), "{out}");
    let mut svc = Service::start(&spec());
    answers_from_the_rest(&svc, expected, Some(corrupted)).await;
    // Its writer moved it to quarantine and out of its manifest.
    assert!(data.join("quarantine").join(corrupted).is_file() && !file.exists());
    assert!(!readings_files(&data).iter().any(|(p, _)| p == corrupted));
    ilot_sql_counts(&config, expected);
    svc.stop();
    let (code, out, _) = ilot(&config, &["check"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("quarantine/{corrupted}: quarantined")), "{out}");

    // (c) The saved "now" corrupted and a rollup deleted: caches, rebuilt.
    let latest = format!("_ilot/latest/{WRITER}.parquet");
    std::fs::write(data.join(&latest), b"PAR1 not a parquet file PAR1").unwrap();
    let rollup = files[2].0.replacen("readings/", "rollups/hourly/", 1);
    std::fs::remove_file(data.join(&rollup)).unwrap();
    let (code, out, _) = ilot(&config, &["check"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.lines().any(|l| l.starts_with(&format!("{latest}: unreadable"))), "{out}");
    assert!(out.lines().any(|l| l.starts_with(&format!("{rollup}: missing"))), "{out}");
    let mut svc = Service::start(&spec());
    answers_from_the_rest(&svc, expected, Some(&rollup)).await;
    assert_eq!(svc.count("SELECT count(*) FROM latest_readings").await, 4, "\"now\" rebuilt from the data");
    assert!(ilot_sql_counts(&config, expected).contains(&latest));
    svc.stop();
    let (code, out, err) = ilot(&config, &["check", "--repair"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(data.join(&rollup).is_file(), "rollup rewritten");
    assert_eq!(ilot(&config, &["check", "--deep"]).0, 0);
    let err = ilot_sql_counts(&config, expected);
    assert!(!err.contains("warning"), "repaired: no warning any more: {err}");
}
