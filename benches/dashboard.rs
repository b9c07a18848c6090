//! Dashboard benchmark (see BENCHMARKS.md "Dashboard and PostgreSQL wire"): a 10,000-sensor
//! network (`support/fleet.rs`, 3 days at 5 minutes in the July heat wave) imported with
//! `ilot import`, then one release `ilot serve` measured three ways in the same run:
//!
//! 1. **The map's data** (`GET /api/map`, gzip accepted as a browser does): the first request
//!    (it computes the map), then 50 concurrent clients for 20 s: latency p50/p99/max and
//!    requests/s. Beside it, the same 50 clients on a static file of the same server
//!    (`/assets/leaflet/leaflet.js`): the floor of the HTTP stack.
//! 2. **First load** of the dashboard in headless Chromium (`dashboards/web/tests/first_load.mjs`):
//!    bytes on the wire and the time until every sensor is drawn, 5 cold loads; at 10,000
//!    sensors, and on `ilot demo`'s 90-sensor city.
//! 3. **PostgreSQL wire against HTTP**: the same analyst queries through psycopg and through
//!    `POST /api/sql`, alternating in one Python process (`benches/pg_vs_http.py`).
//!
//! Run: `cargo bench --bench dashboard` (ILOT_BENCH_SENSORS=10000, ILOT_BENCH_DIR keeps the
//! generated store for the next run). Needs Chromium, `npm ci` in dashboards/web and psycopg,
//! as the tests do.

use chrono::NaiveDate;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod support;
use support::{Ilot, Running, env_or, run};
#[path = "support/fleet.rs"]
mod fleet;
use fleet::{NETWORK, generate, sensors, write_registry};

const DAYS: u64 = 3;
const CLIENTS: usize = 50;
const LOAD_SECS: u64 = 20;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// `CLIENTS` clients asking for `path` in a loop for `LOAD_SECS`: sorted latencies (ms), bytes.
async fn load(http: &str, path: &str) -> (Vec<f64>, usize) {
    let deadline = Instant::now() + Duration::from_secs(LOAD_SECS);
    let mut tasks = Vec::new();
    for _ in 0..CLIENTS {
        let url = format!("http://{http}{path}");
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let (mut latencies, mut bytes) = (Vec::new(), 0);
            while Instant::now() < deadline {
                let t = Instant::now();
                let response = client.get(&url).header("accept-encoding", "gzip").send().await.expect("request");
                assert!(response.status().is_success(), "{url}: {}", response.status());
                bytes = response.bytes().await.expect("body").len();
                latencies.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            (latencies, bytes)
        }));
    }
    let (mut all, mut bytes) = (Vec::new(), 0);
    for task in tasks {
        let (latencies, b) = task.await.unwrap();
        all.extend(latencies);
        bytes = b;
    }
    all.sort_by(f64::total_cmp);
    (all, bytes)
}

fn report(name: &str, latencies: &[f64], bytes: usize) -> f64 {
    let p99 = percentile(latencies, 0.99);
    println!(
        "{name}: {} requests in {LOAD_SECS} s by {CLIENTS} clients = {:.0}/s, {bytes} bytes each; p50 {:.1} ms, p99 {p99:.1} ms, max {:.1} ms",
        latencies.len(),
        latencies.len() as f64 / LOAD_SECS as f64,
        percentile(latencies, 0.5),
        latencies.last().unwrap()
    );
    p99
}

/// The first-load script against `http`, at `sensors` sensors.
fn first_load(http: &str, sensors: usize) -> String {
    let web = Path::new(env!("CARGO_MANIFEST_DIR")).join("dashboards/web");
    let out = Command::new("node")
        .arg("tests/first_load.mjs")
        .current_dir(&web)
        .env("ILOT_BASE", format!("http://{http}"))
        .env("ILOT_SENSORS", sensors.to_string())
        .env("ILOT_RUNS", "5")
        .output()
        .expect("node");
    assert!(out.status.success(), "first_load.mjs: {}", String::from_utf8_lossy(&out.stderr));
    let result: serde_json::Value = serde_json::from_slice(out.stdout.split(|b| *b == b'\n').find(|l| l.starts_with(b"{")).unwrap()).unwrap();
    let runs = result["runs"].as_array().unwrap();
    let mut ms: Vec<f64> = runs.iter().map(|r| r["ms"].as_f64().unwrap()).collect();
    ms.sort_by(f64::total_cmp);
    let bytes = runs[0]["bytes"].as_f64().unwrap();
    format!("{:.0} KB on the wire ({}), map drawn in median {:.0} ms (min {:.0}, max {:.0}) over {} cold loads", bytes / 1000.0, result["bytes_by_type"], percentile(&ms, 0.5), ms[0], ms[ms.len() - 1], ms.len())
}

fn pg_vs_http(http: &str, postgres: &str) {
    let queries = [
        ("nightly UHI, 3 nights x 10k sensors", format!("SELECT sensor_id, night, uhi_mean_c, uhi_max_c FROM uhi_nightly WHERE network = '{NETWORK}' ORDER BY night, sensor_id")),
        ("latest reading per sensor", "SELECT network, sensor_id, ts, temperature_c, qc_flags FROM latest_readings ORDER BY sensor_id".into()),
        ("one sensor's 3 days", format!("SELECT ts, temperature_c, humidity_pct FROM readings WHERE network = '{NETWORK}' AND sensor_id = 'bench-0042' ORDER BY ts")),
        ("daily Tn/Tx over the network", "SELECT date, count(*) AS n, avg(tn_c) AS tn, avg(tx_c) AS tx FROM daily_tn_tx GROUP BY date ORDER BY date".into()),
        ("SELECT 1 (protocol floor)", "SELECT 1 AS one".into()),
    ];
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/pg_vs_http.py");
    let (host, port) = postgres.rsplit_once(':').unwrap();
    let mut child = Command::new(std::env::var("ILOT_BENCH_PYTHON").unwrap_or_else(|_| "python3".into()))
        .arg(&script)
        .env("PGHOST", host)
        .env("PGPORT", port)
        .env("ILOT_HTTP", http)
        .env("ILOT_RUNS", "20")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3");
    let input: String = queries.iter().map(|(name, sql)| format!("{name}\t{sql}\n")).collect();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), input.as_bytes()).unwrap();
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "pg_vs_http.py failed");
    let results: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    println!(
        "\n| query | rows | rows in Python: psycopg | … HTTP CSV parsed | ratio | protocol alone: libpq | … HTTP CSV bytes | ratio |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|"
    );
    for (name, _) in &queries {
        let r = &results[name];
        let median = |key: &str| {
            let mut v: Vec<f64> = r[key].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
            v.sort_by(f64::total_cmp);
            percentile(&v, 0.5)
        };
        let (pg, http, pg_raw, http_raw) = (median("pg_ms"), median("http_ms"), median("pg_raw_ms"), median("http_raw_ms"));
        println!("| {name} | {} | {pg:.2} | {http:.2} | {:.2} | {pg_raw:.2} | {http_raw:.2} | {:.2} |", r["rows"], pg / http, pg_raw / http_raw);
    }
}

fn main() {
    let n = env_or("ILOT_BENCH_SENSORS", 10_000) as usize;
    let start = NaiveDate::from_ymd_opt(2025, 7, 14).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let root = std::env::var_os("ILOT_BENCH_DIR").map(std::path::PathBuf::from).unwrap_or_else(|| tmp.path().to_path_buf());
    std::fs::create_dir_all(&root).unwrap();
    let (input, data, sensors_csv, config) = (root.join("input"), root.join("data"), root.join("sensors.csv"), root.join("ilot.toml"));
    println!("# dashboard benchmark: {n} sensors, {DAYS} days from {start} at 5 min, store {}", root.display());
    let fleet = sensors(n);
    write_registry(&sensors_csv, &fleet);
    std::fs::write(
        &config,
        format!(
            "[storage]\ndata_dir = {data:?}\n\n[intake]\nmax_age_days = 4000\n\n[query]\nper_client_per_minute = 0\n\n\
             [postgres]\nenabled = true\nlisten = \"127.0.0.1:0\"\n\n[registry]\nsensor_files = [{sensors_csv:?}]\n\n[registry.networks.{NETWORK}]\ndepartement = \"31\"\n"
        ),
    )
    .unwrap();
    let ilot = Ilot { bin: env!("CARGO_BIN_EXE_ilot").to_string(), config: config.clone() };
    let imported = data.join("bench-imported.txt");
    if !imported.exists() {
        let rows = generate(&input, &fleet, start, DAYS);
        let mut files: Vec<String> = std::fs::read_dir(&input).unwrap().map(|e| e.unwrap().path().display().to_string()).filter(|p| p.ends_with(".parquet")).collect();
        files.sort();
        let mut args = vec!["import", "--network", NETWORK, "--progress-s", "0"];
        args.extend(files.iter().map(String::as_str));
        let r = run(&ilot.argv(&args));
        assert!(r.ok, "ilot import: {}", r.stderr);
        println!("import: {rows} readings in {:.1} s, peak RSS {:.0} MiB; {}", r.secs, r.rss_mib, r.stdout.trim());
        std::fs::write(&imported, rows.to_string()).unwrap();
    }

    let mut serve = Command::new(&ilot.bin);
    serve.args(["--config", config.to_str().unwrap(), "serve"]).env("ILOT_HTTP__LISTEN", "127.0.0.1:0").env("ILOT_EMBEDDED_BROKER__ENABLED", "true").env(
        "ILOT_EMBEDDED_BROKER__LISTEN",
        format!("127.0.0.1:{}", std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()),
    );
    let service = Running::start(serve, true);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let client = reqwest::Client::new();
        let url = format!("http://{}/api/map", service.http);
        let t = Instant::now();
        let map: serde_json::Value = client.get(&url).send().await.unwrap().json().await.unwrap();
        let features = map["features"].as_array().map_or(0, Vec::len);
        assert_eq!(features, n, "every sensor on the map");
        println!("map: first request (computed) {:.0} ms for {features} sensors", t.elapsed().as_secs_f64() * 1000.0);
        let (latencies, bytes) = load(&service.http, "/api/map").await;
        let p99 = report("GET /api/map (gzip)", &latencies, bytes);
        println!("  p99 / goal (50 ms) = {:.2}", p99 / 50.0);
        let (latencies, bytes) = load(&service.http, "/assets/leaflet/leaflet.js").await;
        let floor = report("GET /assets/leaflet/leaflet.js (gzip; the HTTP stack's floor)", &latencies, bytes);
        println!("  map p99 / static file p99 = {:.2}", p99 / floor);
    });
    println!("first load, {n} sensors: {}", first_load(&service.http, n));
    pg_vs_http(&service.http, service.postgres.as_deref().expect("the PostgreSQL endpoint"));
    drop(service);

    let demo_dir = tempfile::tempdir().unwrap();
    let demo_config = demo_dir.path().join("ilot.toml");
    std::fs::write(
        &demo_config,
        format!(
            "[storage]\ndata_dir = {:?}\n\n[http]\nlisten = \"127.0.0.1:0\"\n\n[postgres]\nlisten = \"127.0.0.1:0\"\n\n[embedded_broker]\nlisten = \"127.0.0.1:{}\"\n",
            demo_dir.path().join("data"),
            std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
        ),
    )
    .unwrap();
    let mut cmd = Command::new(&ilot.bin);
    cmd.args(["--config", demo_config.to_str().unwrap(), "demo", "--sensors", "90"]);
    let demo = Running::start(cmd, true);
    std::thread::sleep(Duration::from_secs(5));
    println!("first load, the demo's 90 sensors: {}", first_load(&demo.http, 90));
}
