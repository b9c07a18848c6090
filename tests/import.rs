//! `ilot import` end to end, on real files: CSV and Parquet land in the store with the live
//! intake's validation, QC flags and exactly-once semantics, are readable by the views, and give
//! exactly the rows that publishing the same readings live gives.

mod support;

use arrow::array::{Array, AsArray, Float32Array, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use rumqttc::{AsyncClient, MqttOptions, QoS};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;
use support::*;

const NETWORK: &str = "imp";
const STEP: i64 = 2;
const STUCK: i64 = 4;

use support::qc_series_value as value;
const STEPS: i64 = 60;

/// Start of the series: two days ago, on a 5-minute boundary.
fn base_s() -> i64 {
    let now = chrono::Utc::now().timestamp();
    now - now.rem_euclid(300) - 2 * 86_400
}

fn rfc3339(ts_s: i64) -> String {
    chrono::DateTime::from_timestamp(ts_s, 0).unwrap().to_rfc3339()
}

/// Registry (sensors s1, s2, p1 of the network, unknown sensors refused) and configuration.
fn setup(root: &Path, data: &str) -> PathBuf {
    let sensors = root.join("sensors.csv");
    std::fs::write(&sensors, format!("network,sensor_id,lat,lon\n{NETWORK},s1,43.6,1.44\n{NETWORK},s2,43.61,1.45\n{NETWORK},p1,43.62,1.46\n")).unwrap();
    let config = root.join(format!("{data}.toml"));
    std::fs::write(&config, format!("[intake]\nmax_age_days = 3650\n\n[storage]\ndata_dir = {:?}\n\n{}", root.join(data).to_str().unwrap(), registry_toml(&sensors))).unwrap();
    config
}

fn registry_toml(sensors: &Path) -> String {
    format!("[registry]\nsensor_files = [{:?}]\n\n[registry.networks.{NETWORK}]\nunknown_sensors = \"dead_letter\"\n", sensors.to_str().unwrap())
}

/// `;`-separated CSV: s1 is the history series (RFC 3339 times), s2 has humidity and battery
/// (Unix milliseconds, decimal commas), then four bad rows.
fn csv_file(path: &Path, base: i64) {
    let mut text = String::from("sensor_id;ts;temperature_c;humidity_pct;battery_v\n");
    for i in 0..STEPS {
        text += &format!("s1;{};{:.2};;\n", rfc3339(base + i * 300), value(i));
    }
    for i in 0..30 {
        text += &format!("s2;{};{};{};3,6\n", (base + i * 300) * 1000, format!("{:.2}", 18.0 + 0.1 * i as f64).replace('.', ","), 50 + i);
    }
    text += &format!("s1;{};warm;;\n", rfc3339(base + 7 * 300 + 1));
    text += "s1;yesterday;20;;\n";
    text += &format!("s2;{};150;;\n", (base + 7 * 300 + 2) * 1000);
    text += &format!("zz;{};20;;\n", rfc3339(base));
    std::fs::write(path, text).unwrap();
}

/// Parquet: p1 with Int64 ms times, Float32 temperatures, Float64 humidity with nulls.
fn parquet_file(path: &Path, base: i64) {
    let n = 40;
    let schema = Arc::new(Schema::new(vec![
        Field::new("sensor_id", DataType::Utf8, false),
        Field::new("ts", DataType::Int64, false),
        Field::new("temperature_c", DataType::Float32, false),
        Field::new("humidity_pct", DataType::Float64, true),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from(vec!["p1"; n])),
            Arc::new(Int64Array::from((0..n as i64).map(|i| (base + i * 300) * 1000).collect::<Vec<_>>())),
            Arc::new(Float32Array::from((0..n).map(|i| 15.0 + 0.25 * (i % 4) as f32).collect::<Vec<_>>())),
            Arc::new(Float64Array::from((0..n).map(|i| (i % 3 != 0).then_some(60.0 + i as f64)).collect::<Vec<_>>())),
        ],
    )
    .unwrap();
    let mut writer = parquet::arrow::ArrowWriter::try_new(std::fs::File::create(path).unwrap(), schema, None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
}

/// Run `ilot --config <config> <args>`; stderr on success, panic otherwise.
fn ilot(config: &Path, args: &[&str]) -> (String, String) {
    let out = Command::new(ilot_bin())
        .arg("--config")
        .arg(config)
        .args(args)
        .env("RUST_LOG", "error")
        .output()
        .expect("run ilot");
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned());
    assert!(out.status.success(), "ilot {args:?} failed:\n{stdout}\n{stderr}");
    (stdout, stderr)
}

fn import(config: &Path, files: &[&Path]) -> String {
    let mut args = vec!["import", "--network", NETWORK];
    args.extend(files.iter().map(|f| f.to_str().unwrap()));
    ilot(config, &args).1
}

/// A summary line's number (`stored        130  (…)`).
fn summary(stderr: &str, label: &str) -> u64 {
    let line = stderr.lines().find(|l| l.starts_with(label)).unwrap_or_else(|| panic!("no {label:?} in\n{stderr}"));
    line[label.len()..].split_whitespace().next().unwrap().parse().unwrap()
}

fn sql(config: &Path, query: &str) -> Vec<serde_json::Value> {
    let (stdout, _) = ilot(config, &["sql", "--format", "json", query]);
    let text = stdout.trim();
    if text.is_empty() { Vec::new() } else { serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}")) }
}

fn count(config: &Path, query: &str) -> i64 {
    sql(config, query)[0].as_object().unwrap().values().next().unwrap().as_i64().unwrap()
}

/// Steps of `sensor` whose `qc_flags` have `bit`.
fn flagged(config: &Path, sensor: &str, bit: i64, base: i64) -> Vec<i64> {
    let q = format!("SELECT to_unixtime(ts) AS t FROM readings WHERE sensor_id = '{sensor}' AND qc_flags & {bit} <> 0 ORDER BY t");
    sql(config, &q).iter().map(|r| (r["t"].as_i64().unwrap() - base) / 300).collect()
}

/// Every row of the Parquet files under `dir` (conflicts, dead letters: no SQL table).
fn parquet_batches(dir: &Path) -> Vec<RecordBatch> {
    let mut out = Vec::new();
    if !dir.exists() {
        return out;
    }
    for e in std::fs::read_dir(dir).unwrap().map(Result::unwrap) {
        let p = e.path();
        if p.is_dir() {
            out.extend(parquet_batches(&p));
        } else if p.extension().is_some_and(|x| x == "parquet") {
            let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReader::try_new(std::fs::File::open(&p).unwrap(), 1024).unwrap();
            out.extend(reader.map(Result::unwrap));
        }
    }
    out
}

fn dead_letter_reasons(data: &Path) -> BTreeMap<String, usize> {
    let mut reasons = BTreeMap::new();
    for b in parquet_batches(&data.join("dead_letters")) {
        let col = b.column_by_name("reason").unwrap().as_string::<i32>().clone();
        for i in 0..col.len() {
            *reasons.entry(col.value(i).to_owned()).or_default() += 1;
        }
    }
    reasons
}

const ROWS_SQL: &str = "SELECT sensor_id, to_unixtime(ts) AS t, temperature_c, humidity_pct, battery_v, qc_flags FROM readings ORDER BY sensor_id, t";

#[test]
fn csv_and_parquet_import_once_with_live_validation_flags_and_conflicts() {
    let dir = tempfile::tempdir().unwrap();
    let config = setup(dir.path(), "data");
    let data = dir.path().join("data");
    let base = base_s();
    let (csv, parquet) = (dir.path().join("history.csv"), dir.path().join("p1.parquet"));
    csv_file(&csv, base);
    parquet_file(&parquet, base);

    let first = import(&config, &[&csv, &parquet]);
    assert_eq!(summary(&first, "rows read"), 60 + 30 + 4 + 40, "{first}");
    assert_eq!(summary(&first, "stored"), 130, "{first}");
    assert_eq!(summary(&first, "dead letters"), 4, "{first}");
    assert_eq!(count(&config, "SELECT count(*) FROM readings"), 130);
    assert_eq!(count(&config, "SELECT count(*) FROM readings WHERE sensor_id = 'p1' AND humidity_pct IS NULL"), 14);
    let s2 = sql(&config, "SELECT temperature_c, humidity_pct, battery_v, qc_flags FROM readings WHERE sensor_id = 's2' ORDER BY ts LIMIT 2");
    assert_eq!(s2[1], serde_json::json!({"temperature_c": 18.1, "humidity_pct": 51.0, "battery_v": 3.6, "qc_flags": 0}));
    let reasons = dead_letter_reasons(&data);
    let expected: BTreeMap<String, usize> =
        [("wrong_type", 1), ("invalid_timestamp", 1), ("impossible_value", 1), ("unknown_sensor", 1)].map(|(r, n)| (r.to_owned(), n)).into();
    assert_eq!(reasons, expected);
    // History checks, as live: the spike is STEP, the frozen hour STUCK.
    assert_eq!(flagged(&config, "s1", STEP, base), [24]);
    assert_eq!(flagged(&config, "s1", STUCK, base), [47, 48, 49, 50, 51]);
    // The views read it: 5 hours of s1, 3 of p1 and of s2 (hours cut by the base's minutes).
    assert!(count(&config, "SELECT count(*) FROM hourly") >= 10);
    let samples = count(&config, "SELECT sum(samples) FROM hourly");
    assert!((120..=130).contains(&samples), "{samples} samples in hourly");

    // Again: nothing new.
    let readings_files = parquet_rows(&data);
    let again = import(&config, &[&csv, &parquet]);
    assert_eq!((summary(&again, "stored"), summary(&again, "duplicates")), (0, 130), "{again}");
    assert_eq!(count(&config, "SELECT count(*) FROM readings"), 130);
    assert_eq!(parquet_rows(&data), readings_files, "no readings file added");

    // A row conflicting with a stored one goes to conflicts; the stored value stays.
    let conflict = dir.path().join("conflict.csv");
    std::fs::write(&conflict, format!("sensor_id,ts,temperature_c\ns1,{},19.5\ns1,{},20.0\n", rfc3339(base), rfc3339(base + 7200 * 10))).unwrap();
    let third = import(&config, &[&conflict]);
    assert_eq!((summary(&third, "stored"), summary(&third, "conflicts")), (1, 1), "{third}");
    let conflicts = parquet_batches(&data.join("conflicts"));
    assert_eq!(conflicts.iter().map(RecordBatch::num_rows).sum::<usize>(), 1);
    let flags = conflicts[0].column_by_name("qc_flags").unwrap().as_primitive::<arrow::datatypes::UInt32Type>().value(0);
    assert_eq!(flags & 16, 16, "CONFLICT bit");
    assert_eq!(count(&config, &format!("SELECT count(*) FROM readings WHERE sensor_id = 's1' AND to_unixtime(ts) = {base} AND temperature_c = 20.0")), 1);
    let manifests: Vec<_> = std::fs::read_dir(data.join("_ilot/manifests")).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    assert_eq!(manifests, [format!("import-{NETWORK}.json")]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_stores_exactly_what_live_intake_stores() {
    let dir = tempfile::tempdir().unwrap();
    let base = base_s();
    let csv = dir.path().join("history.csv");
    csv_file(&csv, base);

    // Live: the same rows published one per message, in file order, to a service.
    let port = free_port();
    let prefix = unique("imp");
    let mut spec = ServiceSpec::new(&dir.path().join("live"), Broker::Embedded(port), &prefix);
    let import_config = setup(dir.path(), "imported");
    spec.extra_toml = registry_toml(&dir.path().join("sensors.csv"));
    let mut svc = Service::start(&spec);
    svc.wait_healthy(Duration::from_secs(30)).await;
    let (client, mut eventloop) = AsyncClient::new(MqttOptions::new(unique("imp-"), "127.0.0.1", port), 100);
    tokio::spawn(async move { while eventloop.poll().await.is_ok() {} });
    let text = std::fs::read_to_string(&csv).unwrap();
    for line in text.lines().skip(1) {
        let cells: Vec<&str> = line.split(';').collect();
        let ts = match cells[1].parse::<i64>() {
            Ok(ms) => serde_json::json!(rfc3339(ms / 1000)),
            Err(_) => serde_json::json!(cells[1]),
        };
        let mut body = serde_json::json!({"ts": ts});
        for (key, cell) in [("temperature_c", cells[2]), ("humidity_pct", cells[3]), ("battery_v", cells[4])] {
            if !cell.is_empty() {
                body[key] = cell.replace(',', ".").parse::<f64>().map_or(serde_json::json!(cell), |v| serde_json::json!(v));
            }
        }
        let topic = format!("{prefix}/{NETWORK}/{}/reading", cells[0]);
        client.publish(topic, QoS::AtLeastOnce, false, body.to_string()).await.unwrap();
    }
    svc.wait_for("SELECT count(*) FROM readings", 90, Duration::from_secs(30)).await;
    svc.stop();

    import(&import_config, &[&csv]);
    let live = sql(&svc.config_file, ROWS_SQL);
    let imported = sql(&import_config, ROWS_SQL);
    assert_eq!(live.len(), 90);
    assert_eq!(imported, live, "same keys, values and qc_flags");
    assert_eq!(dead_letter_reasons(&dir.path().join("imported")), dead_letter_reasons(&dir.path().join("live")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_service_shows_imported_history() {
    let dir = tempfile::tempdir().unwrap();
    let base = base_s();
    let csv = dir.path().join("history.csv");
    csv_file(&csv, base);
    setup(dir.path(), "unused");
    let mut spec = ServiceSpec::new(&dir.path().join("data"), Broker::Embedded(free_port()), &unique("imp"));
    spec.extra_toml = registry_toml(&dir.path().join("sensors.csv"));
    let mut svc = Service::start(&spec);
    svc.wait_healthy(Duration::from_secs(30)).await;
    assert_eq!(svc.count("SELECT count(*) FROM readings").await, 0);

    // Imported into the service's own store while it runs: its API shows the rows once the
    // import's manifest is reloaded (storage.peer_refresh_s, 1 s in tests).
    import(&svc.config_file, &[&csv]);
    svc.wait_for("SELECT count(*) FROM readings", 90, Duration::from_secs(20)).await;
    assert!(svc.count("SELECT count(*) FROM hourly").await > 0, "the views see imported rows");
    svc.stop();
}
