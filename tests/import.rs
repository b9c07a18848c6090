//! `ilot import` end to end, on real files: CSV and Parquet land in the store with the live
//! intake's validation, QC flags and exactly-once semantics, are readable by the views, and give
//! exactly the rows that publishing the same readings live gives.

mod support;

use arrow::array::{Array, AsArray, Float32Array, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use rumqttc::{AsyncClient, MqttOptions, QoS};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use support::*;

const NETWORK: &str = "imp";
const STEP: i64 = 2;
const STUCK: i64 = 4;

use support::qc_series_value as value;
const STEPS: i64 = 96;
/// Rows the CSV and Parquet files store: s1's series, 30 of s2, 40 of p1.
const STORED: i64 = STEPS + 30 + 40;

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

fn import(config: &Path, files: &[&Path]) -> String {
    let mut args = vec!["import", "--network", NETWORK];
    args.extend(files.iter().map(|f| f.to_str().unwrap()));
    ilot_cli(config, &args).1
}

/// A summary line's number (`stored        130  (…)`).
fn summary(stderr: &str, label: &str) -> u64 {
    let line = stderr.lines().find(|l| l.starts_with(label)).unwrap_or_else(|| panic!("no {label:?} in\n{stderr}"));
    line[label.len()..].split_whitespace().next().unwrap().parse().unwrap()
}

/// Steps of `sensor` whose `qc_flags` have `bit`.
fn flagged(config: &Path, sensor: &str, bit: i64, base: i64) -> Vec<i64> {
    let q = format!("SELECT to_unixtime(ts) AS t FROM readings WHERE sensor_id = '{sensor}' AND qc_flags & {bit} <> 0 ORDER BY t");
    cli_sql(config, &q).iter().map(|r| (r["t"].as_i64().unwrap() - base) / 300).collect()
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
    assert_eq!(summary(&first, "rows read"), STEPS as u64 + 30 + 4 + 40, "{first}");
    assert_eq!(summary(&first, "stored"), STORED as u64, "{first}");
    assert_eq!(summary(&first, "dead letters"), 4, "{first}");
    assert_eq!(cli_count(&config, "SELECT count(*) FROM readings"), STORED);
    assert_eq!(cli_count(&config, "SELECT count(*) FROM readings WHERE sensor_id = 'p1' AND humidity_pct IS NULL"), 14);
    let s2 = cli_sql(&config, "SELECT temperature_c, humidity_pct, battery_v, qc_flags FROM readings WHERE sensor_id = 's2' ORDER BY ts LIMIT 2");
    assert_eq!(s2[1], serde_json::json!({"temperature_c": 18.1, "humidity_pct": 51.0, "battery_v": 3.6, "qc_flags": 0}));
    let reasons = dead_letter_reasons(&data);
    let expected: BTreeMap<String, usize> =
        [("wrong_type", 1), ("invalid_timestamp", 1), ("impossible_value", 1), ("unknown_sensor", 1)].map(|(r, n)| (r.to_owned(), n)).into();
    assert_eq!(reasons, expected);
    // History checks, as live: the spike is STEP, the frozen run STUCK whole.
    assert_eq!(flagged(&config, "s1", STEP, base), [24]);
    assert_eq!(flagged(&config, "s1", STUCK, base), QC_SERIES_FROZEN.collect::<Vec<_>>());
    // The views read it: the QC-passed readings of s1 (4 of its 8 hours: the frozen run and the
    // spike are left out), 3 hours of p1 and of s2 (hours cut by the base's minutes).
    assert!(cli_count(&config, "SELECT count(*) FROM hourly") >= 10);
    let samples = cli_count(&config, "SELECT sum(samples) FROM hourly");
    assert_eq!(samples, STORED - 1 - QC_SERIES_FROZEN.count() as i64, "samples in hourly");

    // Again: nothing new.
    let readings_files = parquet_rows(&data);
    let again = import(&config, &[&csv, &parquet]);
    assert_eq!((summary(&again, "stored"), summary(&again, "duplicates")), (0, STORED as u64), "{again}");
    assert_eq!(cli_count(&config, "SELECT count(*) FROM readings"), STORED);
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
    assert_eq!(cli_count(&config, &format!("SELECT count(*) FROM readings WHERE sensor_id = 's1' AND to_unixtime(ts) = {base} AND temperature_c = 20.0")), 1);
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
    svc.wait_for("SELECT count(*) FROM readings", STEPS + 30, Duration::from_secs(30)).await;
    svc.stop();

    import(&import_config, &[&csv]);
    let live = cli_sql(&svc.config_file, ROWS_SQL);
    let imported = cli_sql(&import_config, ROWS_SQL);
    assert_eq!(live.len() as i64, STEPS + 30);
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
    svc.wait_for("SELECT count(*) FROM readings", STEPS + 30, Duration::from_secs(20)).await;
    assert!(svc.count("SELECT count(*) FROM hourly").await > 0, "the views see imported rows");
    svc.stop();
}

// -----------------------------------------------------------------------------------------------
// Archives as they come: their own column names, time zones, units and gaps, old history, and
// their stations registered in the same run.

const ARCHIVE: &str = "arch";

/// A data dir of its own with the default intake (`max_age_days` = 366) and an empty registry.
fn bare_config(root: &Path) -> PathBuf {
    let config = root.join("bare.toml");
    std::fs::write(&config, format!("[storage]\ndata_dir = {:?}\n", root.join("data").to_str().unwrap())).unwrap();
    config
}

/// `ilot import --network arch <args> <files>`: stderr.
fn import_archive(config: &Path, args: &[&str], files: &[&Path]) -> String {
    let mut all = vec!["import", "--network", ARCHIVE];
    all.extend(args);
    all.extend(files.iter().map(|f| f.to_str().unwrap()));
    ilot_cli(config, &all).1
}

fn utc_s(text: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(text).unwrap().timestamp()
}

#[test]
fn archive_columns_units_and_gaps_are_declared_on_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = bare_config(dir.path());
    let csv = dir.path().join("archive.csv");
    std::fs::write(
        &csv,
        "when;station;t_k;rh;comment\n\
         2024-06-01T00:00:00Z;st1;297.46;0.523;ok\n\
         2024-06-01T01:00:00Z;st1;296.65;1;ok\n\
         2024-06-01T02:00:00Z;st1;;0.5;humidity only\n\
         2024-06-01T03:00:00Z;st1;;;nothing\n\
         2024-06-01T00:00:00Z;st2;300;;ok\n\
         2024-06-01T00:00:00Z;;290;;no station\n\
         ;st2;290;;no time\n\
         2024-06-01T01:00:00Z;st2;500;;226.85 degrees\n",
    )
    .unwrap();
    let json = dir.path().join("summary.json");
    let args = [
        "--column", "ts=when", "--column", "sensor_id=station", "--column", "temperature_c=t_k", "--column", "humidity_pct=rh",
        "--temperature-unit", "K", "--humidity-unit", "fraction", "--register-sensors", "--summary-json", json.to_str().unwrap(),
    ];
    let out = import_archive(&config, &args, &[&csv]);
    let counts = ["rows read", "stored", "gaps", "dead letters", "stations"].map(|label| summary(&out, label));
    assert_eq!(counts, [8, 3, 2, 3, 2], "{out}");
    let rows = cli_sql(&config, "SELECT sensor_id, to_unixtime(ts) AS t, temperature_c, humidity_pct, qc_flags FROM readings ORDER BY sensor_id, t");
    let t0 = utc_s("2024-06-01T00:00:00Z");
    assert_eq!(
        rows,
        [
            serde_json::json!({"sensor_id": "st1", "t": t0, "temperature_c": 24.31, "humidity_pct": 52.3, "qc_flags": 0}),
            serde_json::json!({"sensor_id": "st1", "t": t0 + 3600, "temperature_c": 23.5, "humidity_pct": 100.0, "qc_flags": 0}),
            serde_json::json!({"sensor_id": "st2", "t": t0, "temperature_c": 26.85, "qc_flags": 0}),
        ],
        "Kelvin and fractions converted, gaps not stored, registered stations not flagged UNKNOWN_SENSOR"
    );
    let reasons = dead_letter_reasons(&dir.path().join("data"));
    assert_eq!(reasons, BTreeMap::from([("missing_field".to_owned(), 2), ("impossible_value".to_owned(), 1)]));
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!((json["gaps"].as_u64(), json["dead_letters_by_reason"]["missing_field"].as_u64()), (Some(2), Some(2)), "{json}");
    assert_eq!(json["registered"]["without_coordinates"], 2);
    // Registered without coordinates; the cadence is the archive's step where it shows one.
    let sensors = cli_sql(&config, "SELECT sensor_id, lat IS NULL AND lon IS NULL AS unplaced, cadence_s FROM sensors ORDER BY sensor_id");
    assert_eq!(
        sensors,
        [
            serde_json::json!({"sensor_id": "st1", "unplaced": true, "cadence_s": 3600}),
            serde_json::json!({"sensor_id": "st2", "unplaced": true, "cadence_s": 300}),
        ]
    );
}

/// Netatmo-like Parquet: `p_id` Int64, `time` timestamp (ms, UTC), `ta` with nulls, `lon`, `lat`,
/// `z` Int64 and a flag column to ignore. Station 101 has a gap; 102 moved for two of its rows.
fn netatmo_like(path: &Path) {
    use arrow::array::{BooleanArray, TimestampMillisecondArray};
    let t0 = utc_s("2017-06-01T00:00:00Z") * 1000;
    let rows: Vec<(i64, i64, Option<f64>, f64, f64, i64)> = (0..6)
        .map(|h| (101, t0 + h * 3_600_000, (h != 3).then_some(15.0 + h as f64), 13.40, 52.50, 34))
        .chain((0..6).map(|h| {
            let (lon, lat) = if h < 2 { (13.42, 52.52) } else { (13.41, 52.51) };
            (102, t0 + h * 3_600_000, Some(16.0 + h as f64 / 10.0), lon, lat, 40)
        }))
        .collect();
    let schema = Arc::new(Schema::new(vec![
        Field::new("p_id", DataType::Int64, false),
        Field::new("time", DataType::Timestamp(arrow::datatypes::TimeUnit::Millisecond, Some("UTC".into())), false),
        Field::new("ta", DataType::Float64, true),
        Field::new("lon", DataType::Float64, false),
        Field::new("lat", DataType::Float64, false),
        Field::new("z", DataType::Int64, false),
        Field::new("m5", DataType::Boolean, false),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Int64Array::from(rows.iter().map(|r| r.0).collect::<Vec<_>>())),
            Arc::new(TimestampMillisecondArray::from(rows.iter().map(|r| r.1).collect::<Vec<_>>()).with_timezone("UTC")),
            Arc::new(Float64Array::from(rows.iter().map(|r| r.2).collect::<Vec<_>>())),
            Arc::new(Float64Array::from(rows.iter().map(|r| r.3).collect::<Vec<_>>())),
            Arc::new(Float64Array::from(rows.iter().map(|r| r.4).collect::<Vec<_>>())),
            Arc::new(Int64Array::from(rows.iter().map(|r| r.5).collect::<Vec<_>>())),
            Arc::new(BooleanArray::from(vec![true; rows.len()])),
        ],
    )
    .unwrap();
    let mut writer = parquet::arrow::ArrowWriter::try_new(std::fs::File::create(path).unwrap(), schema, None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
}

#[test]
fn a_parquet_archive_with_its_own_names_and_integer_ids_registers_its_stations() {
    let dir = tempfile::tempdir().unwrap();
    let config = bare_config(dir.path());
    let parquet = dir.path().join("netatmo_like.parquet");
    netatmo_like(&parquet);
    let good_csv = dir.path().join("good.csv");
    std::fs::write(&good_csv, "p_id,time,ta,z\n103,2017-06-01T00:00:00Z,12.5,50\n").unwrap();

    // A mapped column one file lacks stops the import before anything is read.
    let out = std::process::Command::new(ilot_bin())
        .args(["--config", config.to_str().unwrap(), "import", "--network", ARCHIVE, "--column", "sensor_id=p_id", "--column", "ts=time"])
        .args(["--column", "temperature_c=ta", "--column", "lon=lon", good_csv.to_str().unwrap(), parquet.to_str().unwrap()])
        .env("RUST_LOG", "error")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("good.csv: no column \"lon\" (mapped to lon)") && stderr.contains("the file has: p_id, time, ta, z"), "{stderr}");
    assert_eq!(cli_count(&config, "SELECT count(*) FROM readings"), 0, "nothing imported, not even the first file");

    let mapping = dir.path().join("netatmo.toml");
    std::fs::write(&mapping, "sensor_id = \"p_id\"\nts = \"time\"\ntemperature_c = \"ta\"\nlon = \"lon\"\nlat = \"lat\"\nelevation_m = \"z\"\n").unwrap();
    let out = import_archive(&config, &["--columns", mapping.to_str().unwrap(), "--register-sensors", "--crowdsourced"], &[&parquet]);
    assert_eq!((summary(&out, "stored"), summary(&out, "gaps"), summary(&out, "stations")), (11, 1, 2), "{out}");
    assert!(out.contains("registered    2 new, 0 updated, 0 unchanged stations"), "{out}");
    assert!(out.contains("1 stations moved within the file, kept the (lon, lat) most rows give: 102 (2)"), "{out}");
    assert_eq!(cli_count(&config, "SELECT count(*) FROM readings WHERE sensor_id = '101' AND qc_flags & 64 = 0"), 5, "integer ids become text");
    let sensors = cli_sql(&config, "SELECT sensor_id, lat, lon, elevation_m, cadence_s, role FROM sensors ORDER BY sensor_id");
    assert_eq!(
        sensors,
        [
            serde_json::json!({"sensor_id": "101", "lat": 52.5, "lon": 13.4, "elevation_m": 34.0, "cadence_s": 3600, "role": "urban"}),
            serde_json::json!({"sensor_id": "102", "lat": 52.51, "lon": 13.41, "elevation_m": 40.0, "cadence_s": 3600, "role": "urban"}),
        ]
    );
    assert_eq!(cli_sql(&config, &format!("SELECT crowdsourced FROM networks WHERE network = '{ARCHIVE}'")), [serde_json::json!({"crowdsourced": true})]);

    // Again: nothing new, and the registered stations stay as they are.
    let again = import_archive(&config, &["--columns", mapping.to_str().unwrap(), "--register-sensors"], &[&parquet]);
    assert_eq!((summary(&again, "stored"), summary(&again, "duplicates")), (0, 11), "{again}");
    assert!(again.contains("registered    0 new, 0 updated, 2 unchanged stations"), "{again}");
}

#[test]
fn naive_local_times_take_the_declared_zone_across_daylight_saving_changes() {
    let dir = tempfile::tempdir().unwrap();
    let config = bare_config(dir.path());
    let csv = dir.path().join("paris.csv");
    // Autumn: 02:00 happens twice (the earlier, summer-time instant is taken, so the second one
    // is the same reading again: here a conflict). Spring: 02:30 does not exist.
    std::fs::write(
        &csv,
        "sensor_id,ts,temperature_c\n\
         p,2024-10-27 01:00,14.0\n\
         p,2024-10-27 02:00,13.5\n\
         p,2024-10-27 02:00,13.0\n\
         p,2024-10-27 03:00,12.5\n\
         p,2024-03-31 02:30,8.0\n\
         p,2024-03-31T03:00:00,8.5\n",
    )
    .unwrap();
    let out = import_archive(&config, &["--timezone", "Europe/Paris"], &[&csv]);
    assert_eq!((summary(&out, "stored"), summary(&out, "conflicts"), summary(&out, "dead letters")), (4, 1, 1), "{out}");
    assert!(out.contains("invalid_timestamp"), "{out}");
    let french = dir.path().join("french.csv");
    std::fs::write(&french, "sensor_id;ts;temperature_c\np;27/10/2024 04:00;12,0\n").unwrap();
    import_archive(&config, &["--timezone", "Europe/Paris", "--ts-format", "%d/%m/%Y %H:%M"], &[&french]);
    let times: Vec<i64> = cli_sql(&config, "SELECT to_unixtime(ts) AS t FROM readings ORDER BY t").iter().map(|r| r["t"].as_i64().unwrap()).collect();
    let utc = ["2024-03-31T01:00:00Z", "2024-10-26T23:00:00Z", "2024-10-27T00:00:00Z", "2024-10-27T02:00:00Z", "2024-10-27T03:00:00Z"];
    assert_eq!(times, utc.map(utc_s));
    let kept = cli_sql(&config, "SELECT temperature_c FROM readings WHERE to_unixtime(ts) = 1729987200");
    assert_eq!(kept, [serde_json::json!({"temperature_c": 13.5})], "the first 02:00 is stored, the second is a conflict");
}

#[test]
fn history_older_than_the_intake_age_limit_imports_and_garbage_times_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let config = bare_config(dir.path());
    let csv = dir.path().join("1990.csv");
    std::fs::write(
        &csv,
        "sensor_id,ts,temperature_c\n\
         old,1990-01-01T00:00:00Z,2.5\n\
         old,1990-01-01T01:00:00Z,2.0\n\
         old,1000-01-01T00:00:00Z,2.0\n\
         old,2999-01-01T00:00:00Z,2.0\n",
    )
    .unwrap();
    let out = import_archive(&config, &[], &[&csv]);
    assert_eq!((summary(&out, "stored"), summary(&out, "dead letters")), (2, 2), "max_age_days (366) does not apply: {out}");
    let reasons = dead_letter_reasons(&dir.path().join("data"));
    assert_eq!(reasons, BTreeMap::from([("timestamp_too_old".to_owned(), 1), ("timestamp_in_future".to_owned(), 1)]));
    let details: Vec<String> = parquet_batches(&dir.path().join("data/dead_letters"))
        .iter()
        .flat_map(|b| b.column_by_name("detail").unwrap().as_string::<i32>().iter().map(|d| d.unwrap().to_owned()).collect::<Vec<_>>())
        .collect();
    assert!(details.iter().any(|d| d.contains("is before 1850-01-01T00:00:00Z, the earliest accepted")), "{details:?}");
    assert_eq!(cli_count(&config, "SELECT count(*) FROM readings WHERE date = DATE '1990-01-01'"), 2);

    let later = import_archive(&config, &["--not-before", "1995-01-01"], &[&csv]);
    assert_eq!((summary(&later, "stored"), summary(&later, "duplicates"), summary(&later, "dead letters")), (0, 0, 4), "{later}");
}
