//! Analytics benchmark (see BENCHMARKS.md): ilot's heat-analytics queries over a year of a
//! 1,000-sensor network, against DuckDB on the same Parquet files in the same run.
//!
//! 1. **Generate** the readings deterministically (seasonal + diurnal cycle, a July heat wave,
//!    per-sensor urban offsets stronger at night, day-to-day weather shared by the network,
//!    noise, dropouts, 2-hour outages, rare spikes; 0.01 °C / 0.1 %RH), one Parquet file per
//!    month, plus the registry CSV (10 % `rural` sensors in LCZ D) and the configuration.
//! 2. **Import** them with the release binary, `ilot import --network bench` (rows/s, peak RSS).
//! 3. **Query** with `ilot sql --format csv` (fresh process each time, best of 3, peak RSS;
//!    `SELECT 1` gives the process start cost, reported as raw and net) under
//!    `query.memory_limit_mib = 1024`: nightly UHI, daily Tn/Tx, IBM, the latest reading per
//!    sensor ("now") and one sensor's week.
//! 4. **DuckDB** (`benches/duckdb_analytics.py`, in one Python process, same thread count and
//!    memory limit) runs its plain and its best equivalent SQL on `<store>/readings`, including
//!    an hourly rollup table whose creation is timed separately; the results are compared.
//!
//! Run: `cargo bench --bench analytics` (ILOT_BENCH_SENSORS=1000, ILOT_BENCH_DAYS=365 by
//! default; ILOT_BENCH_DIR keeps the generated files and store for the next run, which then
//! skips generation and import; ILOT_BENCH_PYTHON names the Python with `duckdb`).

use chrono::NaiveDate;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

mod support;
use support::{Ilot, Run, Running, env_or, run};
#[path = "support/fleet.rs"]
mod fleet;
use fleet::{NETWORK, generate, sensors, write_registry};

const WEEK_SENSOR: &str = "bench-0042";
const RUNS: usize = 3;
/// Runs per query through the running service (each is milliseconds to a second).
const SERVICE_RUNS: usize = 5;

fn write_config(path: &Path, data: &Path, sensors_csv: &Path) {
    let toml = format!(
        "[storage]\ndata_dir = {data:?}\n\n[intake]\nmax_age_days = 4000\n\n[query]\nmemory_limit_mib = 1024\ntimeout_s = 3600\nper_client_per_minute = 0\n\n\
         [registry]\nsensor_files = [{sensors_csv:?}]\n\n[registry.networks.{NETWORK}]\ndepartement = \"31\"\n"
    );
    std::fs::write(path, toml).unwrap();
}

// ---------------------------------------------------------------------------------------------
// Timed processes

impl Ilot {
    /// Best of `RUNS` fresh `ilot sql` processes (time and RSS of the fastest; RSS max over runs).
    fn sql(&self, sql: &str) -> Result<Run, String> {
        let mut best: Option<Run> = None;
        let mut rss_max: f64 = 0.0;
        for _ in 0..RUNS {
            let r = run(&self.argv(&["sql", "--format", "csv", sql]));
            if !r.ok {
                return Err(r.stderr.trim().to_string());
            }
            rss_max = rss_max.max(r.rss_mib);
            if best.as_ref().is_none_or(|b| r.secs < b.secs) {
                best = Some(r);
            }
        }
        let mut best = best.unwrap();
        best.rss_mib = rss_max;
        Ok(best)
    }
}

/// A running `ilot serve` on the bench store (embedded broker, HTTP on a free loopback port,
/// open API as on loopback without a token): the dashboards' path, with no process start.
struct Service {
    running: Running,
}

impl Service {
    fn start(ilot: &Ilot) -> Service {
        let broker = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut cmd = Command::new(&ilot.bin);
        cmd.args(["--config", ilot.config.to_str().unwrap(), "serve"])
            .env("ILOT_HTTP__LISTEN", "127.0.0.1:0")
            .env("ILOT_EMBEDDED_BROKER__ENABLED", "true")
            .env("ILOT_EMBEDDED_BROKER__LISTEN", format!("127.0.0.1:{broker}"))
            .env("ILOT_STORAGE__WRITER_ID", "bench-service")
            .env("ILOT_STORAGE__PEER_REFRESH_S", "1");
        Service { running: Running::start(cmd, false) }
    }

    /// One query's wall time through `POST /api/sql?format=csv`, and its answer.
    async fn sql(&self, client: &reqwest::Client, sql: &str) -> Result<(f64, String), String> {
        let t = Instant::now();
        let response = client.post(format!("http://{}/api/sql?format=csv", self.running.http)).body(sql.to_owned()).send().await.map_err(|e| e.to_string())?;
        let status = response.status();
        let body = response.text().await.map_err(|e| e.to_string())?;
        let secs = t.elapsed().as_secs_f64();
        if status.is_success() { Ok((secs, body)) } else { Err(format!("{status}: {body}")) }
    }
}

/// Best of `SERVICE_RUNS` of each query through a running service, once it sees every
/// sensor's latest reading (its peer refresh has taken in the imported files).
fn service_times(ilot: &Ilot, queries: &[(&str, String)]) -> Vec<(String, f64, Vec<f64>)> {
    let service = Service::start(ilot);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let seen = service.sql(&client, "SELECT count(*) FROM latest_readings").await;
            if seen.as_ref().is_ok_and(|(_, csv)| csv_rows(csv).1.first().is_some_and(|r| num(&r[0]) > 0.0)) {
                break;
            }
            assert!(Instant::now() < deadline, "the service never saw the imported data: {seen:?}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let mut out = Vec::new();
        for (name, sql) in queries {
            let mut best = f64::INFINITY;
            let mut answer = String::new();
            for _ in 0..SERVICE_RUNS {
                let (secs, csv) = service.sql(&client, sql).await.unwrap_or_else(|e| panic!("service {name}: {e}"));
                if secs < best {
                    (best, answer) = (secs, csv);
                }
            }
            out.push((name.to_string(), best, summarise(name, &answer)));
        }
        out
    })
}

/// CSV output (header + rows) → rows of cells.
fn csv_rows(text: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let mut lines = text.lines().filter(|l| !l.is_empty());
    let header = lines.next().unwrap_or_default().split(',').map(str::to_string).collect();
    (header, lines.map(|l| l.split(',').map(str::to_string).collect()).collect())
}

fn num(cell: &str) -> f64 {
    cell.trim().parse().unwrap_or(f64::NAN)
}

fn ts_ms(cell: &str) -> f64 {
    let c = cell.trim();
    chrono::DateTime::parse_from_rfc3339(c)
        .map(|t| t.timestamp_millis())
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(c, "%Y-%m-%dT%H:%M:%S%.f").map(|t| t.and_utc().timestamp_millis()))
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(c, "%Y-%m-%d %H:%M:%S%.f").map(|t| t.and_utc().timestamp_millis()))
        .map_or(f64::NAN, |t| t as f64)
}

/// The numbers compared with DuckDB's for each query.
fn summarise(name: &str, csv: &str) -> Vec<f64> {
    let (header, rows) = csv_rows(csv);
    match name {
        "now" => {
            let col = header.iter().position(|h| h == "ts" || h.starts_with("max(")).unwrap_or(1);
            let t: Vec<f64> = rows.iter().map(|r| ts_ms(&r[col])).collect();
            vec![rows.len() as f64, t.iter().copied().fold(f64::NAN, f64::min), t.iter().copied().fold(f64::NAN, f64::max)]
        }
        "week" => vec![rows.len() as f64, rows.iter().map(|r| num(&r[1])).sum()],
        _ => rows.first().map(|r| r.iter().map(|c| num(c)).collect()).unwrap_or_default(),
    }
}

fn agree(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() <= 1e-6 * x.abs().max(y.abs()).max(1.0) || (x.is_nan() && y.is_nan()))
}

fn fmt_vec(v: &[f64]) -> String {
    v.iter().map(|x| if x.fract() == 0.0 && x.abs() < 1e15 { format!("{x:.0}") } else { format!("{x:.6}") }).collect::<Vec<_>>().join(", ")
}

// ---------------------------------------------------------------------------------------------

fn main() {
    let n_sensors = env_or("ILOT_BENCH_SENSORS", 1_000) as usize;
    let days = env_or("ILOT_BENCH_DAYS", 365);
    // The window is centred on the July heat wave (a full year: 2025-01-18 .. 2026-01-17).
    let start = NaiveDate::from_ymd_opt(2025, 7, 20).unwrap() - chrono::Days::new(days / 2);
    let last_day = start + chrono::Days::new(days - 1);
    let keep = std::env::var_os("ILOT_BENCH_DIR").map(PathBuf::from);
    let tmp = tempfile::tempdir().unwrap();
    let root = keep.clone().unwrap_or_else(|| tmp.path().to_path_buf());
    std::fs::create_dir_all(&root).unwrap();
    let (input, data) = (root.join("input"), root.join("data"));
    let (sensors_csv, config) = (root.join("sensors.csv"), root.join("ilot.toml"));
    let params = format!("sensors={n_sensors} days={days} start={start}");
    let marker = root.join("bench-params.txt");
    if let Ok(previous) = std::fs::read_to_string(&marker) {
        assert_eq!(previous.lines().next().unwrap_or(""), params, "{} holds another scale: use another ILOT_BENCH_DIR", root.display());
    }
    println!("# analytics benchmark: {n_sensors} sensors, {days} days ({start} .. {last_day}) at 5 min, store {}", root.display());

    let fleet = sensors(n_sensors);
    write_registry(&sensors_csv, &fleet);
    write_config(&config, &data, &sensors_csv);
    let ilot = Ilot { bin: env!("CARGO_BIN_EXE_ilot").to_string(), config: config.clone() };

    // 1. Input files.
    let rows_file = input.join("rows.txt");
    let rows: u64 = match std::fs::read_to_string(&rows_file).ok().and_then(|t| t.trim().parse().ok()) {
        Some(rows) => {
            println!("input: reusing {} ({rows} readings)", input.display());
            rows
        }
        None => {
            let t = Instant::now();
            let rows = generate(&input, &fleet, start, days);
            std::fs::write(&rows_file, rows.to_string()).unwrap();
            std::fs::write(&marker, &params).unwrap();
            println!("input: generated {rows} readings in {:.1} s", t.elapsed().as_secs_f64());
            rows
        }
    };
    let mut files: Vec<String> =
        std::fs::read_dir(&input).unwrap().map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|x| x == "parquet")).map(|p| p.display().to_string()).collect();
    files.sort();

    // 2. Import.
    let imported = data.join("bench-imported.txt");
    if imported.exists() {
        println!("import: reusing the store ({})", std::fs::read_to_string(&imported).unwrap().trim());
    } else {
        let mut args = vec!["import", "--network", NETWORK, "--progress-s", "0"];
        args.extend(files.iter().map(String::as_str));
        let r = run(&ilot.argv(&args));
        assert!(r.ok, "ilot import failed:\n{}", r.stderr);
        let line = format!("{rows} readings in {:.1} s = {:.0} rows/s, peak RSS {:.0} MiB", r.secs, rows as f64 / r.secs, r.rss_mib);
        println!("import: {line}\n{}", r.stderr.trim());
        std::fs::write(&imported, line).unwrap();
    }

    // 3. ilot.
    let week_start = start + chrono::Days::new(days / 2);
    let week_end = week_start + chrono::Days::new(7);
    let week_sql = format!(
        "SELECT ts, temperature_c FROM readings WHERE sensor_id = '{WEEK_SENSOR}' AND ts >= TIMESTAMP '{week_start} 00:00:00' AND ts < TIMESTAMP '{week_end} 00:00:00'"
    );
    let now_fallback = format!("SELECT sensor_id, max(ts) FROM readings WHERE date >= DATE '{}' GROUP BY sensor_id", last_day - chrono::Days::new(1));
    let queries: Vec<(&str, String)> = vec![
        ("uhi_nightly", "SELECT count(*), avg(uhi_mean_c), max(uhi_max_c) FROM uhi_nightly".into()),
        ("daily_tn_tx", "SELECT count(*), avg(tn_c), avg(tx_c) FROM daily_tn_tx".into()),
        ("ibm", "SELECT count(*), sum(CASE WHEN canicule_criterion_met THEN 1 ELSE 0 END) FROM ibm".into()),
        ("now", "SELECT * FROM latest_readings".into()),
        ("week", week_sql),
    ];
    let start_cost = ilot.sql("SELECT 1").expect("SELECT 1");
    println!("ilot process start (SELECT 1): {:.3} s, peak RSS {:.0} MiB", start_cost.secs, start_cost.rss_mib);
    let mut ilot_results = Vec::new();
    for (name, sql) in &queries {
        let mut sql = sql.clone();
        let mut result = ilot.sql(&sql);
        if *name == "now" && result.is_err() {
            println!("note: `latest_readings` is not available ({}); 'now' falls back to max(ts) over the last two days", result.err().unwrap());
            sql = now_fallback.clone();
            result = ilot.sql(&sql);
        }
        let r = result.unwrap_or_else(|e| panic!("{name}: {e}"));
        println!("ilot {name}: {:.3} s (net {:.3} s), peak RSS {:.0} MiB  [{sql}]", r.secs, r.secs - start_cost.secs, r.rss_mib);
        ilot_results.push((name.to_string(), r.secs, r.rss_mib, summarise(name, &r.stdout)));
    }

    // 3b. The same queries through a running service (the dashboards' path).
    let service = service_times(&ilot, &queries);
    for (name, secs, _) in &service {
        println!("ilot service {name}: {secs:.3} s  (POST /api/sql)");
    }

    // 4. DuckDB.
    let python = std::env::var("ILOT_BENCH_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/duckdb_analytics.py");
    let argv: Vec<String> = [
        python.as_str(),
        script.to_str().unwrap(),
        "--store",
        data.to_str().unwrap(),
        "--sensors",
        sensors_csv.to_str().unwrap(),
        "--last-day",
        &last_day.to_string(),
        "--week-sensor",
        WEEK_SENSOR,
        "--week-start",
        &week_start.to_string(),
        "--runs",
        &RUNS.to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let duck = run(&argv);
    let duck: serde_json::Value = if duck.ok {
        print!("{}", duck.stderr);
        serde_json::from_str(&duck.stdout).expect("DuckDB script prints JSON")
    } else {
        println!("DuckDB skipped (pip install duckdb==2.0.0): {}", duck.stderr.trim());
        serde_json::Value::Null
    };

    // 5. Table and comparison.
    println!("\nDuckDB {}: hourly rollup created in {:.3} s; DuckDB process peak RSS {:.0} MiB", duck["version"].as_str().unwrap_or("-"), duck["rollup_create_s"].as_f64().unwrap_or(f64::NAN), duck["peak_rss_mib"].as_f64().unwrap_or(f64::NAN));
    println!("\n| query | ilot best (s) | ilot net of start (s) | ilot service (s) | ilot peak RSS (MiB) | DuckDB plain (s) | DuckDB best scan (s) | DuckDB best (s) | best variant | ilot/DuckDB best, raw | ilot/DuckDB best, net | ilot service/DuckDB best |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    let mut disagreements = Vec::new();
    for (name, secs, rss, ilot_values) in &ilot_results {
        let q = &duck["queries"][name];
        let plain = q["plain"]["s"].as_f64().unwrap_or(f64::NAN);
        let (mut best, mut variant, mut scan) = (f64::INFINITY, String::from("-"), f64::INFINITY);
        for (v, r) in q.as_object().into_iter().flatten() {
            let s = r["s"].as_f64().unwrap_or(f64::INFINITY);
            if v != "rollup" {
                scan = scan.min(s); // best without the precomputed rollup table
            }
            if s < best {
                (best, variant) = (s, v.clone());
            }
            let d: Vec<f64> = r["result"].as_array().into_iter().flatten().map(|x| x.as_f64().unwrap_or(f64::NAN)).collect();
            if !agree(ilot_values, &d) {
                disagreements.push(format!("{name} [{v}]: ilot [{}] vs DuckDB [{}]", fmt_vec(ilot_values), fmt_vec(&d)));
            }
        }
        let net = secs - start_cost.secs;
        let (served, served_values) = service.iter().find(|(n, _, _)| n == name).map(|(_, s, v)| (*s, v.clone())).unwrap_or((f64::NAN, Vec::new()));
        if !agree(ilot_values, &served_values) {
            disagreements.push(format!("{name} [service]: ilot sql [{}] vs service [{}]", fmt_vec(ilot_values), fmt_vec(&served_values)));
        }
        println!(
            "| {name} | {secs:.3} | {net:.3} | {served:.3} | {rss:.0} | {plain:.3} | {scan:.3} | {best:.3} | {variant} | {:.2} | {:.2} | {:.2} |",
            secs / best,
            net / best,
            served / best
        );
    }
    println!("\nresults (ilot): ");
    for (name, _, _, v) in &ilot_results {
        println!("  {name}: [{}]", fmt_vec(v));
    }
    if duck.is_null() {
        return;
    }
    if disagreements.is_empty() {
        println!("DuckDB agrees with ilot on every query and variant (relative 1e-6)");
    } else {
        println!("DISAGREEMENTS between DuckDB and ilot:");
        for d in &disagreements {
            println!("  {d}");
        }
    }
}
