//! Real-data benchmark (issue 10, see BENCHMARKS.md), two parts driving the built `ilot` binary
//! on fresh temporary stores:
//!
//! 1. **Archive**: the one-command `ilot import` of a month of an hourly crowdsourced archive
//!    (the Netatmo Berlin June 2017 file of `../shared/uhi-validation/`, 1,715,040 rows, as in
//!    tests/crowdqc_netatmo.rs), then `ilot qc` (CrowdQC+ m1–o3) on it: wall time and peak RSS
//!    of each; against the same work in DuckDB (`benches/duckdb_real_data.py`: the archive
//!    written as day-partitioned Parquet, then CrowdQC+ m1–m3 in SQL, MAD for Qn), in the
//!    same run. The flags' pass counts of both are printed beside the reference ones.
//! 2. **Recompute**: a year of a simulated network (ILOT_BENCH_SENSORS=1000 sensors ×
//!    ILOT_BENCH_DAYS=365 days at ILOT_BENCH_STEP_S=3600 s, with frozen stretches) imported
//!    (timed apart), then `ilot qc --flags` twice: with the settings it was imported with
//!    (nothing to rewrite) and after lowering the network's `stuck_window_s` so that the
//!    3-reading stretches become stuck (their day files rewritten): wall, peak RSS, readings/s.
//!
//! Run: `cargo bench --workspace --bench real_data` (both parts); ILOT_BENCH_PART=1 or 2 runs
//! one; ILOT_BENCH_PYTHON names the Python with `duckdb` (`pip install duckdb==2.0.0`).

use arrow::array::{Float64Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use chrono::{Datelike, NaiveDate};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

mod support;
use support::{Ilot, Run, env_or, gauss, mix, run, unit};

const NETATMO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/uhi-validation/netatmoBer_2017-06_crowdqcplus_1.1.1.parquet");
const ARCHIVE_NETWORK: &str = "netatmo-ber";
/// Values passing m1, m2, m3 in the reference implementation's output (the archive's README).
const REFERENCE_PASSED: [u64; 3] = [1_461_204, 1_308_343, 1_300_016];
const FLEET_NETWORK: &str = "fleet";
const DAY_MS: i64 = 86_400_000;

fn ilot(config: &Path) -> Ilot {
    Ilot { bin: env!("CARGO_BIN_EXE_ilot").to_string(), config: config.to_path_buf() }
}

fn checked(what: &str, r: Run) -> Run {
    assert!(r.ok, "{what} failed:\n{}\n{}", r.stdout, r.stderr);
    r
}

// ---------------------------------------------------------------------------------------------
// Part 1: the archive

fn archive(root: &Path) {
    if !Path::new(NETATMO).exists() {
        println!("part 1 skipped: {NETATMO} is absent (the shared/ folder with uhi-validation/ belongs beside the clone)");
        return;
    }
    let config = root.join("archive.toml");
    std::fs::write(&config, format!("[storage]\ndata_dir = {:?}\n", root.join("archive-data").to_str().unwrap())).unwrap();
    let ilot = ilot(&config);
    println!("# part 1: one month of an hourly crowdsourced archive ({NETATMO})");

    let import = checked(
        "ilot import",
        run(&ilot.argv(&[
            "import", "--network", ARCHIVE_NETWORK, "--column", "sensor_id=p_id", "--column", "ts=time", "--column", "temperature_c=ta", "--column", "lon=lon",
            "--column", "lat=lat", "--column", "elevation_m=z", "--register-sensors", "--crowdsourced", "--progress-s", "0", NETATMO,
        ])),
    );
    println!("ilot import: {:.2} s, peak RSS {:.0} MiB\n{}", import.secs, import.rss_mib, import.stderr.trim());
    let qc = checked("ilot qc", run(&ilot.argv(&["qc", "--network", ARCHIVE_NETWORK, "--month", "2017-06", "--progress-s", "0"])));
    println!("ilot qc: {:.2} s, peak RSS {:.0} MiB\n{}", qc.secs, qc.rss_mib, qc.stdout.trim());
    let counts = checked(
        "ilot sql",
        run(&ilot.argv(&[
            "sql", "--format", "csv",
            &format!(
                "SELECT sum(CASE WHEN m1 THEN 1 ELSE 0 END), sum(CASE WHEN m2 THEN 1 ELSE 0 END), sum(CASE WHEN m3 THEN 1 ELSE 0 END) \
                 FROM crowdqc WHERE network = '{ARCHIVE_NETWORK}' AND month = '2017-06'"
            ),
        ])),
    );
    let ilot_passed: Vec<u64> = counts.stdout.lines().nth(1).unwrap_or_default().split(',').map(|c| c.trim().parse().unwrap_or(0)).collect();

    let python = std::env::var("ILOT_BENCH_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/duckdb_real_data.py");
    let out = root.join("duckdb");
    std::fs::create_dir_all(&out).unwrap();
    let duck = run(&[python, script.display().to_string(), "--archive".into(), NETATMO.into(), "--out".into(), out.display().to_string()]);
    print!("{}", duck.stderr);
    if !duck.ok {
        println!("DuckDB skipped (pip install duckdb==2.0.0)");
        return;
    }
    let duck: serde_json::Value = serde_json::from_str(&duck.stdout).expect("the DuckDB script prints JSON");
    let (d_import, d_qc) = (&duck["import"], &duck["qc"]);
    let f = |v: &serde_json::Value, k: &str| v[k].as_f64().unwrap_or(f64::NAN);
    let duck_passed: Vec<u64> = ["m1", "m2", "m3"].iter().map(|m| d_qc["passed"][m].as_u64().unwrap_or(0)).collect();

    println!("\nDuckDB {} (2 threads, memory_limit 1GiB)", duck["version"].as_str().unwrap_or("-"));
    println!("\n| work | ilot (s) | ilot peak RSS (MiB) | DuckDB (s) | DuckDB peak RSS (MiB) | time ilot/DuckDB | RSS ilot/DuckDB |");
    println!("|---|---|---|---|---|---|---|");
    let (di, dq) = ((f(d_import, "s"), f(d_import, "peak_rss_mib")), (f(d_qc, "s"), f(d_qc, "peak_rss_mib")));
    for (name, (s, m), (ds, dm)) in [("import (ilot) / day-partitioned Parquet (DuckDB)", (import.secs, import.rss_mib), di), ("qc: CrowdQC+ m1–o3 (ilot) / m1–m3 (DuckDB)", (qc.secs, qc.rss_mib), dq)]
    {
        println!("| {name} | {s:.2} | {m:.0} | {ds:.2} | {dm:.0} | {:.2} | {:.2} |", s / ds, m / dm);
    }
    println!("\n| values passing | reference (R, Qn) | ilot | DuckDB (MAD) |\n|---|---|---|---|");
    for (k, level) in ["m1", "m2", "m3"].iter().enumerate() {
        println!("| {level} | {} | {} | {} |", REFERENCE_PASSED[k], ilot_passed.get(k).copied().unwrap_or(0), duck_passed[k]);
    }
}

// ---------------------------------------------------------------------------------------------
// Part 2: the recompute of stored flags

/// Frozen stretches of sensor `s` on `day` (start reading, length) among `per_day` readings: on
/// 1 % of sensor-days one of 4–8 readings in the first half of the day (stuck with the import's
/// settings), and, in the first week of each month, on 5 % of sensor-days one of 3 readings in
/// the second half (stuck only once the window is lowered to 2 steps).
fn frozen(s: u64, day: i64, mday: u32, per_day: usize) -> [Option<(usize, usize)>; 2] {
    let key = mix(s ^ (day as u64) << 24);
    let long = (unit(s, day as u64, 51) < 0.01).then(|| {
        let len = 4 + (key % 5) as usize;
        ((key >> 8) as usize % (per_day / 2 - len), len)
    });
    let short = (mday <= 7 && unit(s, day as u64, 52) < 0.05).then(|| (per_day / 2 + (key >> 16) as usize % (per_day / 2 - 3), 3));
    [long, short]
}

/// Temperature (°C, 0.01) of sensor `s` at `ts_ms`: seasonal and diurnal cycle, a per-sensor
/// offset, noise.
fn temperature(s: u64, ts_ms: i64) -> f64 {
    use std::f64::consts::PI;
    let doy = (ts_ms.div_euclid(DAY_MS) % 365) as f64;
    let hour = ts_ms.rem_euclid(DAY_MS) as f64 / 3_600_000.0;
    let c = 12.0 - 9.0 * (2.0 * PI * (doy - 20.0) / 365.0).cos() + 5.0 * (2.0 * PI * (hour - 9.0) / 24.0).sin() + 1.5 * gauss(s, 0, 11) + 0.3 * gauss(s, ts_ms as u64, 31);
    (c * 100.0).round() / 100.0
}

/// One Parquet file per month of the fleet's readings; returns (rows, readings in 4–8-reading
/// stretches, readings in 3-reading stretches).
fn generate(dir: &Path, sensors: u64, start: NaiveDate, days: u64, step_ms: i64) -> (u64, u64, u64) {
    std::fs::create_dir_all(dir).unwrap();
    let schema = Arc::new(Schema::new(vec![
        Field::new("sensor_id", DataType::Utf8, false),
        Field::new("ts", DataType::Int64, false),
        Field::new("temperature_c", DataType::Float64, false),
    ]));
    let props = WriterProperties::builder().set_compression(Compression::ZSTD(ZstdLevel::try_new(1).unwrap())).build();
    let per_day = (DAY_MS / step_ms) as usize;
    let (mut rows, mut long_held, mut short_held) = (0, 0, 0);
    let end = start + chrono::Days::new(days);
    let mut month = start;
    while month < end {
        let next = (month + chrono::Months::new(1)).with_day(1).unwrap().min(end);
        let path = dir.join(format!("{}.parquet", month.format("%Y-%m")));
        let mut writer = ArrowWriter::try_new(std::fs::File::create(&path).unwrap(), schema.clone(), Some(props.clone())).unwrap();
        for s in 0..sensors {
            let (mut ts, mut temp) = (Vec::new(), Vec::new());
            for date in month.iter_days().take_while(|d| *d < next) {
                let day0 = date.and_hms_opt(0, 0, 0).unwrap().and_utc().timestamp_millis();
                let stretches = frozen(s, day0 / DAY_MS, date.day(), per_day);
                for i in 0..per_day {
                    let t = day0 + i as i64 * step_ms;
                    let held = stretches.iter().flatten().find(|(from, len)| (*from..from + len).contains(&i));
                    ts.push(t);
                    temp.push(temperature(s, held.map_or(t, |(from, _)| day0 + *from as i64 * step_ms)));
                }
                long_held += stretches[0].map_or(0, |(_, len)| len as u64);
                short_held += stretches[1].map_or(0, |(_, len)| len as u64);
            }
            rows += ts.len() as u64;
            let ids = StringArray::from(vec![format!("{FLEET_NETWORK}-{s:04}"); ts.len()]);
            let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(ids), Arc::new(Int64Array::from(ts)), Arc::new(Float64Array::from(temp))]).unwrap();
            writer.write(&batch).unwrap();
        }
        writer.close().unwrap();
        month = next;
    }
    (rows, long_held, short_held)
}

/// The configuration of the fleet's store: its registry, and `stuck_window_s` for the network
/// (3 readings of the stretch never suffice to be stuck: `stuck_min_samples` = 3).
fn write_fleet_config(path: &Path, data: &Path, sensors_csv: &Path, stuck_window_s: i64) {
    let toml = format!(
        "[storage]\ndata_dir = {data:?}\n\n[intake]\nmax_age_days = 4000\n\n[registry]\nsensor_files = [{sensors_csv:?}]\n\n\
         [registry.networks.{FLEET_NETWORK}]\n\n[registry.networks.{FLEET_NETWORK}.qc]\nstuck_window_s = {stuck_window_s}\nstuck_min_samples = 3\n"
    );
    std::fs::write(path, toml).unwrap();
}

fn recompute(root: &Path) {
    let sensors = env_or("ILOT_BENCH_SENSORS", 1_000);
    let days = env_or("ILOT_BENCH_DAYS", 365);
    let step_s = env_or("ILOT_BENCH_STEP_S", 3_600) as i64;
    assert!(DAY_MS % (step_s * 1000) == 0 && DAY_MS / (step_s * 1000) >= 24, "ILOT_BENCH_STEP_S must divide a day into 24 readings or more");
    let start = NaiveDate::from_ymd_opt(2025, 1, 1).unwrap();
    println!("\n# part 2: recompute of stored flags, {sensors} sensors × {days} days at {step_s} s from {start}");
    let (input, data, sensors_csv, config) = (root.join("fleet-input"), root.join("fleet-data"), root.join("fleet-sensors.csv"), root.join("fleet.toml"));
    let t = Instant::now();
    let (rows, long_held, short_held) = generate(&input, sensors, start, days, step_s * 1000);
    println!("generated {rows} readings in {:.1} s: {long_held} in 4–8-reading frozen stretches, {short_held} in 3-reading ones", t.elapsed().as_secs_f64());
    let mut csv = String::from("network,sensor_id,lat,lon,lcz,role,cadence_s\n");
    for s in 0..sensors {
        csv += &format!("{FLEET_NETWORK},{FLEET_NETWORK}-{s:04},{:.5},{:.5},6,urban,{step_s}\n", 52.4 + 0.2 * unit(s, 1, 81), 13.2 + 0.3 * unit(s, 2, 81));
    }
    std::fs::write(&sensors_csv, csv).unwrap();
    write_fleet_config(&config, &data, &sensors_csv, 3 * step_s);
    let ilot = ilot(&config);

    let mut files: Vec<String> = std::fs::read_dir(&input).unwrap().map(|e| e.unwrap().path().display().to_string()).collect();
    files.sort();
    let mut args = vec!["import", "--network", FLEET_NETWORK, "--progress-s", "0"];
    args.extend(files.iter().map(String::as_str));
    let import = checked("ilot import", run(&ilot.argv(&args)));
    println!("ilot import: {:.1} s = {:.0} rows/s, peak RSS {:.0} MiB\n{}", import.secs, rows as f64 / import.secs, import.rss_mib, import.stderr.trim());

    let flags = |label: &str| {
        let r = checked("ilot qc --flags", run(&ilot.argv(&["qc", "--flags", "--network", FLEET_NETWORK, "--progress-s", "0"])));
        let summary: serde_json::Value = serde_json::from_str(r.stdout.trim()).unwrap_or_else(|e| panic!("{e}: {}", r.stdout));
        println!("ilot qc --flags, {label}: {:.1} s, peak RSS {:.0} MiB: {summary}", r.secs, r.rss_mib);
        (label.to_owned(), r, summary)
    };
    let unchanged = flags(&format!("unchanged (stuck_window_s = {})", 3 * step_s));
    write_fleet_config(&config, &data, &sensors_csv, 2 * step_s);
    let lowered = flags(&format!("stuck_window_s {} → {}", 3 * step_s, 2 * step_s));

    println!("\n| ilot qc --flags | wall (s) | peak RSS (MiB) | readings | readings/s | flags changed | STUCK after | files replaced |");
    println!("|---|---|---|---|---|---|---|---|");
    for (label, r, s) in [&unchanged, &lowered] {
        let readings = s["readings"].as_u64().unwrap_or(0);
        println!(
            "| {label} | {:.1} | {:.0} | {readings} | {:.0} | {} | {} | {} |",
            r.secs,
            r.rss_mib,
            readings as f64 / r.secs,
            s["changed"],
            s["stuck"],
            s["files_replaced"]
        );
    }
    println!("expected: STUCK {long_held} with the import's settings, {} once lowered ({short_held} changed)", long_held + short_held);
}

fn main() {
    let part = std::env::var("ILOT_BENCH_PART").unwrap_or_else(|_| "both".into());
    let tmp = tempfile::tempdir().unwrap();
    if part == "1" || part == "both" {
        archive(tmp.path());
    }
    if part == "2" || part == "both" {
        recompute(tmp.path());
    }
}
