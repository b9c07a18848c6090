//! Test support: run the real `ilot` binary, a private Mosquitto, and the simulated fleet.
#![allow(dead_code, unused_imports)] // each test file uses a different part of this module

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub use ilot_firmware_sim::{Fleet, MqttTarget, SimConfig, publish};
use ilot_firmware_sim::Anomaly;
use std::collections::{BTreeMap, BTreeSet};

/// A free port, whose next port is free too, never handed out before in this test process: the
/// embedded broker listens on both (MQTT 3.1.1, then 5) and refuses to start when either is
/// taken, and tests running side by side must not pick each other's second port.
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<BTreeSet<u16>> = std::sync::Mutex::new(BTreeSet::new());
    loop {
        let first = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = first.local_addr().unwrap().port();
        if port == u16::MAX || TcpListener::bind(("127.0.0.1", port + 1)).is_err() {
            continue;
        }
        let mut given = GIVEN.lock().unwrap();
        if !given.contains(&port) && !given.contains(&(port + 1)) {
            given.extend([port, port + 1]);
            return port;
        }
    }
}

/// A name unique to this test process and call, for topics, client ids and groups.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!("{prefix}{}x{}", std::process::id(), N.fetch_add(1, Ordering::SeqCst))
}

/// Which broker a test runs against.
#[derive(Clone, Debug)]
pub enum Broker {
    /// ilot's embedded broker on this port.
    Embedded(u16),
    /// An external broker (the machine's Mosquitto, or a private one).
    External(u16),
}

impl Broker {
    pub fn port(&self) -> u16 {
        match self {
            Broker::Embedded(p) | Broker::External(p) => *p,
        }
    }
}

/// Settings of one `ilot serve` process.
pub struct ServiceSpec {
    pub data_dir: PathBuf,
    pub broker: Broker,
    pub client_id: String,
    pub topic_prefix: String,
    pub persist_interval_s: u64,
    pub shared_group: Option<String>,
    pub writer_id: Option<String>,
    pub http_token: Option<String>,
    /// `http.admin_token`: the admin API's bearer token.
    pub http_admin_token: Option<String>,
    /// Connect with `mqtts://` (TLS) to an external broker.
    pub tls: bool,
    /// Extra lines of the `[mqtt]` section (e.g. `protocol = "5"`).
    pub mqtt_extra: String,
    /// Extra lines of the `[http]` section (e.g. its TLS files).
    pub http_extra: String,
    pub extra_toml: String,
}

impl ServiceSpec {
    pub fn new(data_dir: &Path, broker: Broker, topic_prefix: &str) -> Self {
        Self {
            data_dir: data_dir.to_owned(),
            broker,
            client_id: unique("ilot-test-"),
            topic_prefix: topic_prefix.to_owned(),
            persist_interval_s: 1,
            shared_group: None,
            writer_id: None,
            http_token: None,
            http_admin_token: None,
            tls: false,
            mqtt_extra: String::new(),
            http_extra: String::new(),
            extra_toml: String::new(),
        }
    }

    /// The configuration file's text.
    pub fn toml(&self) -> String {
        let (embedded, url) = match self.broker {
            Broker::Embedded(p) => (format!("[embedded_broker]\nenabled = true\nlisten = \"127.0.0.1:{p}\"\n"), String::new()),
            Broker::External(p) => {
                let scheme = if self.tls { "mqtts" } else { "mqtt" };
                (String::new(), format!("url = \"{scheme}://127.0.0.1:{p}\"\n"))
            }
        };
        let group = self.shared_group.as_ref().map(|g| format!("shared_group = \"{g}\"\n")).unwrap_or_default();
        let writer = self.writer_id.as_ref().map(|w| format!("writer_id = \"{w}\"\n")).unwrap_or_default();
        let token = self.http_token.as_ref().map(|t| format!("token = \"{t}\"\n")).unwrap_or_default()
            + &self.http_admin_token.as_ref().map(|t| format!("admin_token = \"{t}\"\n")).unwrap_or_default();
        format!(
            "[mqtt]\n{url}client_id = \"{}\"\ntopics = [\"{}/{{network}}/{{sensor}}/reading\"]\n{group}{}\n\
             [intake]\ndisconnect_grace_s = 1\nmax_age_days = 3650\n\n\
             [storage]\ndata_dir = \"{}\"\npersist_interval_s = {}\npeer_refresh_s = 1\n{writer}\n\
             [http]\nlisten = \"127.0.0.1:0\"\n{token}{}\n{embedded}\n{}",
            self.client_id,
            self.topic_prefix,
            self.mqtt_extra,
            self.data_dir.display(),
            self.persist_interval_s,
            self.http_extra,
            self.extra_toml
        )
    }
}

/// A running `ilot serve`.
pub struct Service {
    pub child: Child,
    pub http: SocketAddr,
    pub config_file: PathBuf,
    token: Option<String>,
    /// What it printed on stdout so far.
    pub stdout: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

/// A demo configuration (`dir/ilot.toml`) on these ports (0: any free one for HTTP) with its own
/// data directory, `dir/data`.
pub fn demo_config(dir: &Path, http_port: u16, broker_port: u16) -> PathBuf {
    let config = dir.join("ilot.toml");
    std::fs::write(
        &config,
        format!(
            "[storage]\ndata_dir = \"{}\"\n\n[http]\nlisten = \"127.0.0.1:{http_port}\"\n\n[postgres]\nlisten = \"127.0.0.1:0\"\n\n[embedded_broker]\nlisten = \"127.0.0.1:{broker_port}\"\n",
            dir.join("data").display()
        ),
    )
    .unwrap();
    config
}

/// The `ilot` binary cargo built for these tests, or the one `ILOT_BIN` names (a benchmark
/// comparing two builds of ilot in one run).
pub fn ilot_bin() -> &'static str {
    static BIN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BIN.get_or_init(|| std::env::var("ILOT_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_ilot").to_owned()))
}

impl Service {
    pub fn start(spec: &ServiceSpec) -> Service {
        std::fs::create_dir_all(&spec.data_dir).unwrap();
        let config_file = spec.data_dir.join(format!("{}.toml", spec.client_id));
        std::fs::File::create(&config_file).unwrap().write_all(spec.toml().as_bytes()).unwrap();
        let log = std::env::var("ILOT_TEST_LOG").unwrap_or_else(|_| "warn,rumqttd=off".into());
        Service::spawn(&config_file, &["serve"], Some(&log), Stdio::inherit(), spec.http_token.clone())
            .unwrap_or_else(|e| panic!("ilot serve: {e}"))
    }

    /// `ilot --config <config_file> demo <args>` as a user runs it (default logging), its stderr
    /// written to `stderr`; an error with that stderr when it stops before listening.
    pub fn demo(config_file: &Path, args: &[&str], stderr: &Path) -> Result<Service, String> {
        let log = std::fs::File::create(stderr).unwrap();
        let demo = [&["demo"], args].concat();
        Service::spawn(config_file, &demo, None, Stdio::from(log), None)
            .map_err(|e| format!("{e}\n{}", std::fs::read_to_string(stderr).unwrap_or_default()))
    }

    /// The first line it printed on stdout starting with `starts_with`, waited for up to `timeout`.
    pub fn wait_line(&self, starts_with: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(line) = self.stdout.lock().unwrap().iter().find(|l| l.starts_with(starts_with)) {
                return line.clone();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("ilot did not print {starts_with:?} within {timeout:?}: {:?}", self.stdout.lock().unwrap());
    }

    /// Start `ilot` and wait for the HTTP address it prints; every stdout line is kept.
    fn spawn(config_file: &Path, args: &[&str], log: Option<&str>, stderr: Stdio, token: Option<String>) -> Result<Service, String> {
        let mut command = Command::new(ilot_bin());
        command.arg("--config").arg(config_file).args(args).stdout(Stdio::piped()).stderr(stderr);
        match log {
            Some(log) => command.env("RUST_LOG", log),
            None => command.env_remove("RUST_LOG"),
        };
        let mut child = command.spawn().expect("spawn ilot");
        let stdout = child.stdout.take().unwrap();
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let kept = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line.trim().strip_prefix("HTTP API") {
                    let url = rest.split_whitespace().next().unwrap_or_default().to_owned();
                    let _ = tx.send(url);
                }
                kept.lock().unwrap().push(line);
            }
        });
        let Ok(url) = rx.recv_timeout(Duration::from_secs(60)) else {
            let _ = child.kill();
            let status = child.wait().unwrap();
            return Err(format!("ilot {args:?} printed no HTTP address ({status})"));
        };
        let http: SocketAddr = url.trim_start_matches("http://").trim_start_matches("https://").trim_end_matches('/').parse().unwrap();
        Ok(Service { child, http, config_file: config_file.to_owned(), token, stdout: lines })
    }

    pub fn base(&self) -> String {
        format!("http://{}", self.http)
    }

    /// Run SQL through the HTTP API; rows as JSON objects.
    pub async fn sql(&self, sql: &str) -> Result<Vec<serde_json::Value>, String> {
        let mut request = reqwest::Client::new().post(format!("{}/api/sql?format=json", self.base())).body(sql.to_owned());
        if let Some(t) = &self.token {
            request = request.bearer_auth(t);
        }
        let r = request
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = r.status();
        let body = r.text().await.map_err(|e| e.to_string())?;
        if !status.is_success() {
            return Err(format!("{status}: {body}"));
        }
        serde_json::from_str(&body).map_err(|e| format!("{e}: {body}"))
    }

    pub async fn count(&self, sql: &str) -> i64 {
        let rows = self.sql(sql).await.expect("query runs");
        rows[0].as_object().unwrap().values().next().unwrap().as_i64().unwrap()
    }

    /// Wait until `sql` (one integer) returns `expected`, or fail with the last value.
    pub async fn wait_for(&self, sql: &str, expected: i64, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let mut last = String::from("no answer");
        while Instant::now() < deadline {
            match self.sql(sql).await {
                Ok(rows) => {
                    let value = rows[0].as_object().unwrap().values().next().unwrap().as_i64().unwrap();
                    if value == expected {
                        return;
                    }
                    last = value.to_string();
                }
                Err(e) => last = format!("an error: {e}"),
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("{sql}: expected {expected}, still {last} after {timeout:?}");
    }

    pub async fn health(&self) -> (u16, serde_json::Value) {
        let r = reqwest::get(format!("{}/healthz", self.base())).await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap())
    }

    pub async fn metrics(&self) -> String {
        reqwest::get(format!("{}/metrics", self.base())).await.unwrap().text().await.unwrap()
    }

    /// Value of a Prometheus counter/gauge (sum over label sets matching `filter`).
    pub async fn metric(&self, name: &str, filter: &str) -> f64 {
        self.metrics()
            .await
            .lines()
            .filter(|l| !l.starts_with('#') && (l.starts_with(&format!("{name} ")) || l.starts_with(&format!("{name}{{"))) && l.contains(filter))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    pub async fn wait_healthy(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.health().await.0 == 200 && self.health().await.1["subscribed"] == true {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("service not healthy: {:?}", self.health().await);
    }

    pub fn kill9(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Graceful stop (SIGTERM), waiting for the process to end.
    pub fn stop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if self.child.try_wait().unwrap().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.kill9();
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A private Mosquitto with the shipped `deploy/` settings, on a free port, with its own
/// persistence folder: tests may stop and restart it without touching the machine's broker.
pub struct Mosquitto {
    pub port: u16,
    dir: PathBuf,
    child: Option<Child>,
    extra: String,
}

impl Mosquitto {
    /// A private broker with the shipped settings (deploy/mosquitto/mosquitto.conf).
    pub fn start(dir: &Path) -> Mosquitto {
        Self::start_with(dir, "")
    }

    /// The same, with `extra` lines appended (a later setting overrides the shipped one).
    pub fn start_with(dir: &Path, extra: &str) -> Mosquitto {
        std::fs::create_dir_all(dir).unwrap();
        let mut m = Mosquitto { port: free_port(), dir: dir.to_owned(), child: None, extra: extra.to_owned() };
        m.restart();
        m
    }

    pub fn restart(&mut self) {
        let shipped = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/mosquitto/mosquitto.conf")).unwrap();
        let conf = shipped
            .replace("listener 1883 127.0.0.1", &format!("listener {} 127.0.0.1", self.port))
            .replace("persistence_location /var/lib/mosquitto/", &format!("persistence_location {}/", self.dir.display()))
            // Started as root, Mosquitto would switch to the `mosquitto` user, which cannot write
            // its database into the test's temporary folder.
            + "\nuser root\n"
            + &self.extra;
        let path = self.dir.join("mosquitto.conf");
        std::fs::write(&path, conf).unwrap();
        let child = Command::new("mosquitto").args(["-c", path.to_str().unwrap()]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("mosquitto on PATH");
        self.child = Some(child);
        wait_port(self.port);
    }

    /// Stop gracefully (SIGTERM: the broker saves its sessions).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill").args(["-TERM", &c.id().to_string()]).status();
            let _ = c.wait();
        }
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub fn wait_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("nothing listens on 127.0.0.1:{port}");
}

/// A deterministic fleet of `sensors` × `per_sensor` valid readings ending before now.
pub fn fleet(prefix: &str, network: &str, sensors: usize, per_sensor: u64) -> Fleet {
    let now = chrono::Utc::now().timestamp();
    let span = per_sensor as i64 * 300;
    let start = now - now.rem_euclid(300) - span - 3600;
    Fleet::new(SimConfig {
        city: "toulouse".into(),
        network: Some(network.into()),
        sensors,
        readings_per_sensor: Some(per_sensor),
        acceleration: 0.0,
        seed: 7,
        topic_prefix: prefix.into(),
        start: chrono::DateTime::from_timestamp(start, 0).unwrap(),
        ..SimConfig::default()
    })
    .expect("valid fleet")
}

pub fn target(port: u16, client_id: &str) -> MqttTarget {
    MqttTarget { host: "127.0.0.1".into(), port, client_id: client_id.into(), ..MqttTarget::default() }
}

/// Rows in every readings Parquet file under `data_dir`, read with the `parquet` crate
/// directly (an independent reader: no manifest, no DataFusion).
pub fn parquet_rows(data_dir: &Path) -> i64 {
    fn walk(dir: &Path, total: &mut i64) {
        for e in std::fs::read_dir(dir).unwrap().map(Result::unwrap) {
            let p = e.path();
            if p.is_dir() {
                walk(&p, total);
            } else if p.extension().is_some_and(|x| x == "parquet") {
                let f = std::fs::File::open(&p).unwrap();
                let reader = parquet::file::serialized_reader::SerializedFileReader::new(f).unwrap();
                use parquet::file::reader::FileReader;
                *total += reader.metadata().file_metadata().num_rows();
            }
        }
    }
    let mut total = 0;
    let dir = data_dir.join("readings");
    if dir.exists() {
        walk(&dir, &mut total);
    }
    total
}

/// Step `i` of the hand-made QC series shared by the history and import tests (5-minute
/// cadence, °C): alternating 20.0 / 20.3 (never flagged), a 30 °C spike at step 24, a sensor
/// frozen at 21.0 °C for steps 36..84 (4 hours: the 37th identical value, step 72, completes
/// the 3-hour run), normal again.
#[allow(dead_code)]
pub fn qc_series_value(i: i64) -> f64 {
    match i {
        24 => 30.0,
        36..84 => 21.0,
        _ => 20.0 + 0.3 * (i % 2) as f64,
    }
}

/// Steps of the QC series frozen at 21.0 °C: the whole run is `STUCK`, its first reading included.
pub const QC_SERIES_FROZEN: std::ops::RangeInclusive<i64> = 36..=83;

/// A simulated reading: (sensor, ts in s).
pub type Key = (String, i64);

/// What the simulator injected into a fleet's stream, read before anything is published.
#[derive(Default)]
pub struct Injected {
    pub spikes: BTreeSet<Key>,
    /// Each frozen period as its run of identical values, in time order: the reading the sensor
    /// froze at (the one before its first `Stuck` reading, with the same value), then its
    /// `Stuck` readings.
    pub frozen_runs: Vec<Vec<Key>>,
    /// The first hour of readings after a frozen period: the jump back to the real temperature
    /// may be STEP-flagged until the step limit (which grows with the gap) covers it.
    pub thawing: BTreeSet<Key>,
}

impl Injected {
    /// Read from the fleet's message stream (one reading per message: no backlog faults).
    pub fn of(fleet: &Fleet) -> Injected {
        let mut injected = Injected::default();
        // Per sensor: its previous reading, the frozen run it is in, readings since it thawed.
        let mut state: BTreeMap<String, (Option<Key>, Option<usize>, u32)> = BTreeMap::new();
        for m in fleet.messages() {
            for r in m.readings().unwrap() {
                let key = (r.sensor.clone(), r.ts.timestamp());
                if m.anomalies.contains(Anomaly::Spike) {
                    injected.spikes.insert(key.clone());
                }
                let (previous, run, since_thaw) = state.entry(r.sensor.clone()).or_insert((None, None, u32::MAX));
                if m.anomalies.contains(Anomaly::Stuck) {
                    let i = *run.get_or_insert_with(|| {
                        injected.frozen_runs.push(previous.iter().cloned().collect());
                        injected.frozen_runs.len() - 1
                    });
                    injected.frozen_runs[i].push(key.clone());
                } else {
                    if run.take().is_some() {
                        *since_thaw = 0;
                    }
                    if *since_thaw < 12 {
                        injected.thawing.insert(key.clone());
                        *since_thaw += 1;
                    }
                }
                *previous = Some(key);
            }
        }
        injected
    }

    /// Every reading of the frozen runs.
    pub fn frozen(&self) -> BTreeSet<Key> {
        self.frozen_runs.iter().flatten().cloned().collect()
    }

    /// What the service must flag `STUCK` under the default persistence rule: every reading of
    /// the frozen runs lasting the window (3 h) with enough readings (6), the first included.
    pub fn must_be_stuck(&self) -> BTreeSet<Key> {
        let limits = ilot_ingest::qc::HistoryLimits::default();
        let stuck = |run: &&Vec<Key>| {
            run.len() >= limits.stuck_min_samples as usize && run[run.len() - 1].1 - run[0].1 >= i64::from(limits.stuck_window_s)
        };
        self.frozen_runs.iter().filter(stuck).flatten().cloned().collect()
    }
}

/// Run `ilot --config <config> <args>` to completion: (stdout, stderr), or, when it fails, its
/// exit status and what it printed.
pub fn try_ilot_cli(config: &Path, args: &[&str]) -> Result<(String, String), String> {
    let out = Command::new(ilot_bin()).arg("--config").arg(config).args(args).env("RUST_LOG", "error").output().expect("run ilot");
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned());
    if out.status.success() {
        return Ok((stdout, stderr));
    }
    let printed: Vec<&str> = [stdout.trim(), stderr.trim()].into_iter().filter(|s| !s.is_empty()).collect();
    Err(format!("{}: {}", out.status, printed.join("\n")))
}

/// Run `ilot --config <config> <args>` to completion: (stdout, stderr); panics if it fails.
pub fn ilot_cli(config: &Path, args: &[&str]) -> (String, String) {
    try_ilot_cli(config, args).unwrap_or_else(|e| panic!("ilot {args:?} failed, {e}"))
}

/// Rows of `query` run by `ilot sql` on the store of `config` (no service), as JSON objects, or
/// why it failed.
pub fn try_cli_sql(config: &Path, query: &str) -> Result<Vec<serde_json::Value>, String> {
    let (stdout, _) = try_ilot_cli(config, &["sql", "--format", "json", query])?;
    let text = stdout.trim();
    if text.is_empty() { Ok(Vec::new()) } else { serde_json::from_str(text).map_err(|e| format!("{e}: {text}")) }
}

/// Rows of `query` run by `ilot sql` on the store of `config` (no service), as JSON objects.
pub fn cli_sql(config: &Path, query: &str) -> Vec<serde_json::Value> {
    try_cli_sql(config, query).unwrap_or_else(|e| panic!("{query}: {e}"))
}

/// The one integer `query` returns through `ilot sql`.
pub fn cli_count(config: &Path, query: &str) -> i64 {
    cli_sql(config, query)[0].as_object().unwrap().values().next().unwrap().as_i64().unwrap()
}

/// Peak resident memory (`VmHWM`) of process `pid`, in MiB (0 when unreadable).
pub fn peak_rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

pub fn run(cmd: &mut Command) {
    let out = cmd.stdout(Stdio::null()).stderr(Stdio::piped()).output().unwrap();
    assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A CA (`ca.pem`) and a server certificate for 127.0.0.1 (`server.pem`, `server.key`), made
/// with the openssl command.
pub fn make_certs(dir: &Path) {
    let d = |f: &str| dir.join(f).to_str().unwrap().to_owned();
    run(Command::new("openssl").args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=ilot test CA"])
        .args(["-keyout", &d("ca.key"), "-out", &d("ca.pem")]));
    run(Command::new("openssl").args(["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1"])
        .args(["-keyout", &d("server.key"), "-out", &d("server.csr")]));
    std::fs::write(dir.join("san.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n").unwrap();
    run(Command::new("openssl").args(["x509", "-req", "-days", "2", "-CAcreateserial"])
        .args(["-in", &d("server.csr"), "-CA", &d("ca.pem"), "-CAkey", &d("ca.key"), "-out", &d("server.pem"), "-extfile", &d("san.ext")]));
}
