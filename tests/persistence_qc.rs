//! The persistence (`STUCK`) rule end to end, the "done when" of its issue: through the real
//! intake (MQTT into `ilot serve`) and through `ilot import`, a sensor frozen for ten hours is
//! flagged whole, from its first frozen reading, while genuine plateaus (a 0.1 K sensor holding
//! each value for 40–60 minutes, an hourly station holding one for 2–4 hours) are not; and
//! changing the persistence window then running `ilot qc --flags` on the same store changes the
//! flags and the nightly UHI accordingly, and setting it back brings them back.

mod support;

use rumqttc::{AsyncClient, MqttOptions, QoS};
use std::collections::BTreeMap;
use std::f64::consts::TAU;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use support::*;

const STUCK: i64 = 4;
const ROWS_SQL: &str = "SELECT network, sensor_id, to_unixtime(ts) AS t, qc_flags FROM readings ORDER BY network, sensor_id, t";

/// One reading of a fixture, and whether the test expects it `STUCK`.
struct Row {
    network: &'static str,
    sensor: &'static str,
    ts_s: i64,
    /// Published and imported with two decimals.
    temperature_c: f64,
    stuck: bool,
}

impl Row {
    fn value(&self) -> String {
        format!("{:.2}", self.temperature_c)
    }
}

/// Midnight UTC `days` days ago.
fn midnight(days: i64) -> i64 {
    let now = chrono::Utc::now().timestamp();
    now - now.rem_euclid(86_400) - days * 86_400
}

fn rfc3339(ts_s: i64) -> String {
    chrono::DateTime::from_timestamp(ts_s, 0).unwrap().to_rfc3339()
}

/// The fixture's own sanity: a run the test expects `STUCK` is a whole run of identical values
/// (its neighbours hold other values), so the expectation is exactly "the whole run".
fn check_fixture(rows: &[Row]) {
    for w in rows.windows(2).filter(|w| (w[0].network, w[0].sensor) == (w[1].network, w[1].sensor)) {
        assert!(w[0].value() != w[1].value() || w[0].stuck == w[1].stuck, "{} {} at {}: a stuck run reaches further", w[1].network, w[1].sensor, w[1].ts_s);
    }
}

/// Rows as `ROWS_SQL` returns them, with `STUCK` where expected.
fn expected_rows(rows: &[Row]) -> Vec<serde_json::Value> {
    let mut sorted: Vec<&Row> = rows.iter().collect();
    sorted.sort_by_key(|r| (r.network, r.sensor, r.ts_s));
    sorted
        .iter()
        .map(|r| serde_json::json!({"network": r.network, "sensor_id": r.sensor, "t": r.ts_s, "qc_flags": if r.stuck { STUCK } else { 0 }}))
        .collect()
}

/// Registry file: every sensor of `rows`, with its cadence and role.
fn sensor_file(dir: &Path, rows: &[Row], cadence_s: impl Fn(&str) -> u32, role: impl Fn(&str) -> &'static str) -> PathBuf {
    let mut sensors: Vec<(&str, &str)> = rows.iter().map(|r| (r.network, r.sensor)).collect();
    sensors.dedup();
    let mut csv = String::from("network,sensor_id,lat,lon,lcz,role,cadence_s\n");
    for (i, (network, sensor)) in sensors.iter().enumerate() {
        let lcz = if role(sensor) == "rural" { "D" } else { "2" };
        csv += &format!("{network},{sensor},{:.3},1.440,{lcz},{},{}\n", 43.6 + 0.01 * i as f64, role(sensor), cadence_s(network));
    }
    let path = dir.join("sensors.csv");
    std::fs::write(&path, csv).unwrap();
    path
}

/// Configuration of an offline store (`ilot import`, `ilot sql`, `ilot qc`) in `data`.
fn offline_config(dir: &Path, data: &str, registry_toml: &str) -> PathBuf {
    let config = dir.join(format!("{data}.toml"));
    let toml = format!("[intake]\nmax_age_days = 3650\n\n[storage]\ndata_dir = {:?}\n\n{registry_toml}", dir.join(data).to_str().unwrap());
    std::fs::write(&config, toml).unwrap();
    config
}

/// `ilot import` of the rows of `network`, as one CSV file.
fn import(dir: &Path, config: &Path, rows: &[Row], network: &str) {
    let mut csv = String::from("sensor_id,ts,temperature_c\n");
    for r in rows.iter().filter(|r| r.network == network) {
        csv += &format!("{},{},{}\n", r.sensor, rfc3339(r.ts_s), r.value());
    }
    let file = dir.join(format!("{network}.csv"));
    std::fs::write(&file, csv).unwrap();
    ilot_cli(config, &["import", "--network", network, file.to_str().unwrap()]);
}

/// `n` values of a sensor holding each value for `lengths` readings in turn, the level going
/// up then down by `step_c` (`base_c`, `base_c + step_c` … `base_c + 10 step_c`, and back).
fn plateaus(n: usize, lengths: &[usize], base_c: f64, step_c: f64) -> Vec<f64> {
    let mut values = Vec::with_capacity(n);
    let mut p = 0;
    while values.len() < n {
        let level = (p % 20).min(20 - p % 20) as f64;
        values.extend(std::iter::repeat_n(base_c + step_c * level, lengths[p % lengths.len()]));
        p += 1;
    }
    values.truncate(n);
    values
}

/// The issue's cases, from midnight `day0` UTC:
/// (a) `city/frozen`, 5-minute readings for a day, frozen for 10 hours (steps 100..=220);
/// (b) `city/calm`, a 0.1 K sensor in calm weather holding each value 40 to 60 minutes;
/// (c) `stations/plateau`, an hourly station holding each value 2, 3 or 4 hours (3 to 5
///     readings) for two days, and `stations/frozen`, an hourly station frozen for 7 hours
///     (8 readings: an hourly station needs 6 identical readings over 3 hours).
fn done_when_fixture(day0: i64) -> Vec<Row> {
    let mut rows = Vec::new();
    let normal = |i: i64| 20.0 + 0.5 * (TAU * i as f64 / 288.0).sin() + 0.1 * (i % 2) as f64;
    let frozen = 100..=220;
    for i in 0..288 {
        let temperature_c = if frozen.contains(&i) { normal(*frozen.start()) } else { normal(i) };
        rows.push(Row { network: "city", sensor: "frozen", ts_s: day0 + i * 300, temperature_c, stuck: frozen.contains(&i) });
    }
    // 9 to 13 readings: 40 to 60 minutes.
    for (i, t) in plateaus(288, &[9, 11, 13, 10, 12], 18.0, 0.1).into_iter().enumerate() {
        rows.push(Row { network: "city", sensor: "calm", ts_s: day0 + i as i64 * 300, temperature_c: t, stuck: false });
    }
    for (i, t) in plateaus(48, &[3, 4, 5], 10.0, 0.5).into_iter().enumerate() {
        rows.push(Row { network: "stations", sensor: "plateau", ts_s: day0 + i as i64 * 3600, temperature_c: t, stuck: false });
    }
    let frozen = 20..=27;
    for i in 0..48 {
        let at = if frozen.contains(&i) { *frozen.start() } else { i };
        let temperature_c = 8.0 + 0.4 * (at % 3) as f64;
        rows.push(Row { network: "stations", sensor: "frozen", ts_s: day0 + i * 3600, temperature_c, stuck: frozen.contains(&i) });
    }
    check_fixture(&rows);
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_sensor_is_flagged_whole_and_genuine_plateaus_are_not() {
    let dir = tempfile::tempdir().unwrap();
    let rows = done_when_fixture(midnight(5));
    let expected = expected_rows(&rows);
    let sensors = sensor_file(dir.path(), &rows, |network| if network == "stations" { 3600 } else { 300 }, |_| "urban");
    let registry_toml = format!("[registry]\nsensor_files = [{:?}]\n", sensors.to_str().unwrap());

    // Live: one message per reading, each sensor in time order.
    let port = free_port();
    let prefix = unique("pqc");
    let mut spec = ServiceSpec::new(&dir.path().join("live"), Broker::Embedded(port), &prefix);
    spec.extra_toml = registry_toml.clone();
    let mut svc = Service::start(&spec);
    svc.wait_healthy(Duration::from_secs(30)).await;
    let (client, mut eventloop) = AsyncClient::new(MqttOptions::new(unique("pqc-"), "127.0.0.1", port), 100);
    tokio::spawn(async move { while eventloop.poll().await.is_ok() {} });
    for r in &rows {
        let body = format!(r#"{{"ts":"{}","temperature_c":{}}}"#, rfc3339(r.ts_s), r.value());
        client.publish(format!("{prefix}/{}/{}/reading", r.network, r.sensor), QoS::AtLeastOnce, false, body).await.unwrap();
    }
    svc.wait_for("SELECT count(*) FROM readings", rows.len() as i64, Duration::from_secs(60)).await;
    // Readings of a run persisted before the run completed show their mark after the next
    // persist cycle (storage.persist_interval_s, 1 s here).
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut live = svc.sql(ROWS_SQL).await.unwrap();
    while live != expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
        live = svc.sql(ROWS_SQL).await.unwrap();
    }
    assert_flags(&live, &expected, "live");
    // The recompute rewrites writers' files: it refuses to run beside the service that owns
    // them, before changing anything.
    let deadline = Instant::now() + Duration::from_secs(30);
    while parquet_rows(&spec.data_dir) < rows.len() as i64 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let beside = std::process::Command::new(ilot_bin()).arg("--config").arg(&svc.config_file).args(["qc", "--flags", "--network", "city"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&beside.stderr);
    assert!(!beside.status.success() && stderr.contains("held by process"), "{stderr}");
    svc.stop();
    assert_flags(&cli_sql(&svc.config_file, ROWS_SQL), &expected, "live, stored");
    let (after, _) = ilot_cli(&svc.config_file, &["qc", "--flags", "--network", "city", "--progress-s", "0"]);
    let after: serde_json::Value = serde_json::from_str(after.trim()).unwrap();
    assert_eq!(after["changed"], 0, "the stopped service's flags are what a recompute gives: {after}");

    // The same readings through `ilot import`, one network at a time.
    let config = offline_config(dir.path(), "imported", &registry_toml);
    import(dir.path(), &config, &rows, "city");
    import(dir.path(), &config, &rows, "stations");
    assert_flags(&cli_sql(&config, ROWS_SQL), &expected, "imported");
}

/// `got == expected`, or fail naming the rows that differ.
fn assert_flags(got: &[serde_json::Value], expected: &[serde_json::Value], what: &str) {
    if got != expected {
        let key = |r: &serde_json::Value| (r["network"].to_string(), r["sensor_id"].to_string(), r["t"].as_i64().unwrap());
        let got: BTreeMap<_, _> = got.iter().map(|r| (key(r), r["qc_flags"].clone())).collect();
        let wrong: Vec<_> =
            expected.iter().filter(|r| got.get(&key(r)) != Some(&r["qc_flags"])).map(|r| (key(r), got.get(&key(r)).cloned(), r["qc_flags"].clone())).collect();
        panic!("{what}: {} rows, {} expected; (row, qc_flags, expected): {wrong:?}", got.len(), expected.len());
    }
}

const RC: &str = "rc";
/// Night window of the network (default), UTC hours [21, 3).
const NIGHT_HOURS: [i64; 6] = [21, 22, 23, 24, 25, 26];

/// A small network over the night of the evening `night` (midnight UTC, s): `r1` rural
/// reference, `u1` and `u2` urban, 5-minute readings from 12:00 to 12:00 the next day, the city
/// cooling by 0.25 K an hour. `u1` holds one value from 23:00 to 01:00 (2 hours, 25 readings)
/// and `u2` from 22:00 to 23:05 (65 minutes, 14 readings): `stuck` marks them, which a
/// 1-hour window flags and the default 3 hours does not.
fn night_fixture(night: i64) -> Vec<Row> {
    let noon = night + 12 * 3600;
    let r1 = |i: i64| 24.0 - 0.25 * i as f64 / 12.0 + 0.05 * (i % 2) as f64;
    let mut rows = Vec::new();
    for i in 0..288 {
        rows.push(Row { network: RC, sensor: "r1", ts_s: noon + i * 300, temperature_c: r1(i), stuck: false });
    }
    let urban = |sensor: &'static str, offset: fn(i64) -> f64, held: std::ops::RangeInclusive<i64>| {
        (0..288).map(move |i| {
            let at = if held.contains(&i) { *held.start() } else { i };
            Row { network: RC, sensor, ts_s: noon + i * 300, temperature_c: r1(at) + offset(at), stuck: held.contains(&i) }
        })
    };
    // 23:00 is step 132 after noon, 22:00 step 120.
    rows.extend(urban("u1", |i| 2.0 + 0.03 * (i % 3) as f64, 132..=156));
    rows.extend(urban("u2", |i| 1.0 + 0.02 * (i % 4) as f64, 120..=133));
    check_fixture(&rows);
    rows
}

/// What `uhi_nightly` should say of `sensor` for the night starting at midnight `night` (s),
/// from the fixture: hours whose sensor and reference both have ≥ 10 of 12 readings passing
/// (`passes`), ΔT = difference of the hourly means; `None` below 5 valid hours of 6.
fn expected_uhi(rows: &[Row], sensor: &str, night: i64, passes: impl Fn(&Row) -> bool) -> Option<(f64, i64)> {
    let hour_mean = |s: &str, h: i64| {
        let from = night + h * 3600;
        let hour = rows.iter().filter(|r| r.sensor == s && (from..from + 3600).contains(&r.ts_s) && passes(r));
        let values: Vec<f64> = hour.map(|r| r.value().parse().unwrap()).collect();
        (values.len() >= 10).then(|| values.iter().sum::<f64>() / values.len() as f64)
    };
    let deltas: Vec<f64> = NIGHT_HOURS.iter().filter_map(|h| Some(hour_mean(sensor, *h)? - hour_mean("r1", *h)?)).collect();
    (deltas.len() >= 5).then(|| (deltas.iter().sum::<f64>() / deltas.len() as f64, deltas.len() as i64))
}

/// `uhi_nightly` of the network: sensor → (uhi_mean_c, hours_valid) for the night `date`.
fn uhi_nightly(config: &Path, date: chrono::NaiveDate) -> BTreeMap<String, (f64, i64)> {
    let q = format!("SELECT sensor_id, uhi_mean_c, hours_valid FROM uhi_nightly WHERE network = '{RC}' AND night = DATE '{date}' ORDER BY sensor_id");
    let night = |r: &serde_json::Value| (r["uhi_mean_c"].as_f64().unwrap(), r["hours_valid"].as_i64().unwrap());
    cli_sql(config, &q).iter().map(|r| (r["sensor_id"].as_str().unwrap().to_owned(), night(r))).collect()
}

fn assert_uhi(got: &BTreeMap<String, (f64, i64)>, expected: &[(&str, Option<(f64, i64)>)], what: &str) {
    let expected: BTreeMap<String, (f64, i64)> = expected.iter().filter_map(|(s, e)| Some((s.to_string(), (*e)?))).collect();
    assert_eq!(got.keys().collect::<Vec<_>>(), expected.keys().collect::<Vec<_>>(), "{what}: sensors of the night in uhi_nightly: {got:?}");
    for (sensor, (uhi, hours)) in &expected {
        let (got_uhi, got_hours) = got[sensor];
        assert!((got_uhi - uhi).abs() < 1e-4 && got_hours == *hours, "{what}: {sensor}: uhi_nightly ({got_uhi}, {got_hours} h), expected ({uhi}, {hours} h)");
    }
}

/// `ilot qc --flags` with the given arguments: its JSON summary.
fn recompute(config: &Path, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["qc", "--flags", "--network", RC, "--progress-s", "0"];
    all.extend(args);
    let (stdout, _) = ilot_cli(config, &all);
    let lines: Vec<&str> = stdout.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one summary line for one network: {stdout}");
    serde_json::from_str(lines[0]).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

#[test]
fn changing_the_window_and_recomputing_changes_the_flags_and_the_nightly_uhi() {
    let dir = tempfile::tempdir().unwrap();
    let night = midnight(5);
    let date = chrono::DateTime::from_timestamp(night, 0).unwrap().date_naive();
    let rows = night_fixture(night);
    let sensors = sensor_file(dir.path(), &rows, |_| 300, |sensor| if sensor == "r1" { "rural" } else { "urban" });
    let registry = |qc: &str| format!("[registry]\nsensor_files = [{:?}]\n\n[registry.networks.{RC}]\n{qc}", sensors.to_str().unwrap());
    let config = offline_config(dir.path(), "data", &registry(""));
    let one_hour_window = format!("\n[registry.networks.{RC}.qc]\nstuck_window_s = 3600\n");
    import(dir.path(), &config, &rows, RC);

    // Default window (3 hours): no run is stuck, every night hour counts.
    let not_stuck: Vec<serde_json::Value> = expected_rows(&rows).into_iter().map(|mut r| { r["qc_flags"] = 0.into(); r }).collect();
    assert_flags(&cli_sql(&config, ROWS_SQL), &not_stuck, "default window");
    let every_reading = |_: &Row| true;
    let default_uhi = uhi_nightly(&config, date);
    let (u1, u2) = (expected_uhi(&rows, "u1", night, every_reading), expected_uhi(&rows, "u2", night, every_reading));
    assert_uhi(&default_uhi, &[("r1", Some((0.0, 6))), ("u1", u1), ("u2", u2)], "default window");

    // A 1-hour window for this network: both holds are stuck, whole. u1 loses hours 23 and 00
    // (4 of 6 left: the night is incomplete and left out); u2 loses hour 22 only (hour 23 keeps
    // 10 of 12 readings), so its night stays, from 5 hours, with another ΔT.
    offline_config(dir.path(), "data", &registry(&one_hour_window));
    let summary = recompute(&config, &[]);
    let held = rows.iter().filter(|r| r.stuck).count() as i64;
    let counts = |s: &serde_json::Value| (s["network"].as_str().map(str::to_owned), s["changed"].as_i64(), s["stuck"].as_i64(), s["step"].as_i64());
    assert_eq!(counts(&summary), (Some(RC.to_owned()), Some(held), Some(held), Some(0)), "{summary}");
    assert!(summary["files_replaced"].as_i64().unwrap() > 0, "{summary}");
    assert_flags(&cli_sql(&config, ROWS_SQL), &expected_rows(&rows), "1-hour window");
    let passes = |r: &Row| !r.stuck;
    let short_uhi = uhi_nightly(&config, date);
    assert_eq!(expected_uhi(&rows, "u1", night, passes), None, "the fixture makes u1's night incomplete");
    let u2 = expected_uhi(&rows, "u2", night, passes);
    assert!(u2.is_some_and(|(uhi, hours)| hours == 5 && (uhi - default_uhi["u2"].0).abs() > 0.01), "the fixture changes u2's night: {u2:?}");
    assert_uhi(&short_uhi, &[("r1", Some((0.0, 6))), ("u1", None), ("u2", u2)], "1-hour window");

    // The window back to its default, recomputed over the night's two days: as imported.
    offline_config(dir.path(), "data", &registry(""));
    let next_day = date + chrono::Days::new(1);
    let summary = recompute(&config, &["--from", &date.to_string(), "--to", &next_day.to_string()]);
    assert_eq!(counts(&summary), (Some(RC.to_owned()), Some(held), Some(0), Some(0)), "{summary}");
    assert_flags(&cli_sql(&config, ROWS_SQL), &not_stuck, "default window again");
    assert_eq!(uhi_nightly(&config, date), default_uhi, "the nightly UHI as first computed");
}
