//! `ilot sim` (publish a simulated fleet to a broker; write it as a registry file, or register
//! it with a running service) and `ilot demo` (the whole service on the embedded broker with a
//! simulated city publishing to it).

use anyhow::Context;
use ilot_firmware_sim::{Fleet, MqttTarget, SimConfig, publish};
use reqwest::{Method, StatusCode};
use std::path::{Path, PathBuf};

use crate::config::Config;

#[derive(clap::Args, Clone)]
pub struct FleetArgs {
    /// City profile: toulouse, rennes, vitre, dijon, paris.
    #[arg(long, default_value = "toulouse")]
    pub city: String,
    #[arg(long, default_value_t = 90)]
    pub sensors: usize,
    /// Measurements per sensor (default: from `--days-back` up to now).
    #[arg(long)]
    pub readings_per_sensor: Option<u64>,
    /// Values are a function of the seed, the sensor and the measurement time: the same seed
    /// resends the same readings (duplicates), whenever the run starts.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Simulator settings (faults, heat-wave scenario…) as TOML: its keys win over the flags,
    /// which give those it leaves out (firmware-sim/README.md, "Scenario files").
    #[arg(long)]
    pub scenario_file: Option<PathBuf>,
}

/// When the simulated time starts and how fast it runs: `ilot sim` and `ilot demo` differ in
/// their defaults only.
#[derive(Clone, Copy)]
pub struct Pace {
    /// Simulated seconds per wall-clock second (0 = as fast as possible).
    pub acceleration: f64,
    /// Days before now at which the simulated time starts.
    pub days_back: i64,
}

impl FleetArgs {
    pub fn sim_config(&self, pace: Pace) -> anyhow::Result<SimConfig> {
        if let Some(path) = &self.scenario_file {
            return self.scenario_config(path, pace).with_context(|| format!("scenario file {}", path.display()));
        }
        let now = chrono::Utc::now().timestamp();
        let start = now - now.rem_euclid(300) - pace.days_back * 86_400;
        Ok(SimConfig {
            city: self.city.clone(),
            sensors: self.sensors,
            acceleration: pace.acceleration,
            // By default, catch up from `days_back` to now (later readings would be in the future).
            readings_per_sensor: self.readings_per_sensor.or(Some((pace.days_back.max(0) * 288) as u64)),
            seed: self.seed,
            start: chrono::DateTime::from_timestamp(start, 0).unwrap_or_default(),
            ..SimConfig::default()
        })
    }
}

/// The key of a scenario file that `ilot sim` and `ilot demo` read besides [`SimConfig`]'s.
const DAYS_BACK_KEY: &str = "days_back";
/// The [`SimConfig`] key that ends the run before now (`ilot sim`) or before going live (`ilot demo`).
const READINGS_KEY: &str = "readings_per_sensor";

/// The fleet settings the flags give a scenario file, for the keys it leaves out.
#[derive(serde::Serialize)]
struct FlagSettings<'a> {
    city: &'a str,
    sensors: usize,
    acceleration: f64,
    seed: u64,
    start: chrono::DateTime<chrono::Utc>,
}

impl FleetArgs {
    /// A scenario file over the flags: the file's keys win, the flags (defaults included) give
    /// `city`, `sensors`, `seed`, `acceleration` and the span where it says nothing of them. The
    /// span: `start` (an absolute time) or `days_back` (days before now, the `--days-back` flag
    /// by default), not both; `readings_per_sensor` (else the flag's) or, when neither gives
    /// it, every measurement from `start` up to now.
    fn scenario_config(&self, path: &Path, pace: Pace) -> anyhow::Result<SimConfig> {
        use figment::providers::{Format, Serialized, Toml};
        let text = std::fs::read_to_string(path)?;
        let mut file: figment::value::Dict = figment::Figment::from(Toml::string(&text)).extract()?;
        let days_back = file.remove(DAYS_BACK_KEY).map(|v| v.deserialize::<i64>()).transpose()?;
        anyhow::ensure!(days_back.is_none() || !file.contains_key("start"), "give `start` or `days_back`, not both");
        let pace = Pace { days_back: days_back.unwrap_or(pace.days_back), ..pace };
        let flags = FleetArgs { scenario_file: None, ..self.clone() }.sim_config(pace)?;
        let flags = FlagSettings { city: &flags.city, sensors: flags.sensors, acceleration: flags.acceleration, seed: flags.seed, start: flags.start };
        let fixed_readings = file.contains_key(READINGS_KEY);
        let mut config: SimConfig = figment::Figment::from(Serialized::defaults(flags)).merge(Serialized::defaults(file)).extract()?;
        if !fixed_readings {
            let span_s = (chrono::Utc::now() - config.start).num_seconds().max(0) as u64;
            config.readings_per_sensor = self.readings_per_sensor.or(Some(span_s / u64::from(config.cadence_s.max(1))));
        }
        Ok(config)
    }

    /// Whether the number of readings is fixed (`--readings-per-sensor`, or the scenario
    /// file's `readings_per_sensor`), rather than running up to now.
    pub fn fixed_readings(&self) -> bool {
        use figment::providers::{Format, Toml};
        let in_file = |path: &PathBuf| figment::Figment::from(Toml::file_exact(path)).contains(READINGS_KEY);
        self.readings_per_sensor.is_some() || self.scenario_file.as_ref().is_some_and(in_file)
    }
}

#[derive(clap::Args)]
#[command(group = clap::ArgGroup::new("fleet_output").args(["registry_out", "register"]).multiple(true))]
pub struct SimArgs {
    #[command(flatten)]
    pub fleet: FleetArgs,
    /// Simulated seconds per wall-clock second (0 = as fast as possible).
    #[arg(long, default_value_t = 60.0)]
    pub acceleration: f64,
    /// Days before now at which the simulated time starts.
    #[arg(long, default_value_t = 1)]
    pub days_back: i64,
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    #[arg(long, default_value_t = 1883)]
    pub port: u16,
    #[arg(long, default_value = "ilot-sim")]
    pub client_id: String,
    #[arg(long, env = "ILOT_SIM_USERNAME")]
    pub username: Option<String>,
    #[arg(long, env = "ILOT_SIM_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
    /// Write the fleet as a registry sensor file for `registry.sensor_files`: GeoJSON when FILE
    /// ends in `.geojson` or `.json`, CSV otherwise.
    #[arg(long, value_name = "FILE")]
    pub registry_out: Option<PathBuf>,
    /// Register the fleet with the service at this base URL (e.g. http://127.0.0.1:8642) through
    /// its admin API before publishing: its sensors, and its network's département.
    #[arg(long, value_name = "URL")]
    pub register: Option<String>,
    /// The service's `http.admin_token`, for `--register`.
    #[arg(long, env = "ILOT_HTTP__ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Only write (`--registry-out`) or register (`--register`) the fleet; publish nothing.
    #[arg(long, requires = "fleet_output")]
    pub no_publish: bool,
}

#[derive(clap::Args)]
pub struct DemoArgs {
    #[command(flatten)]
    pub fleet: FleetArgs,
    /// Pace of the catch-up, in simulated seconds per wall-clock second (0 = as fast as
    /// possible); the demo then runs live, in real time.
    #[arg(long, default_value_t = 0.0)]
    pub acceleration: f64,
    /// Days replayed before going live: 3 give at least two complete nights of heat island and
    /// a whole climatological day (Tn/Tx), whatever the hour the demo starts.
    #[arg(long, default_value_t = 3)]
    pub days_back: i64,
}

pub async fn run(args: SimArgs) -> anyhow::Result<()> {
    let fleet = Fleet::new(args.fleet.sim_config(Pace { acceleration: args.acceleration, days_back: args.days_back })?)?;
    if let Some(path) = &args.registry_out {
        write_registry_file(&fleet, path)?;
    }
    if let Some(url) = &args.register {
        register_with_service(&fleet, url, args.admin_token.as_deref()).await?;
    }
    if args.no_publish {
        return Ok(());
    }
    let target = MqttTarget {
        host: args.host,
        port: args.port,
        client_id: args.client_id,
        username: args.username,
        password: args.password,
        ..MqttTarget::default()
    };
    let report = |s: &ilot_firmware_sim::PublishStats| eprintln!("published {} acked {}", s.published, s.acked);
    let stats = publish(&target, fleet.messages(), fleet.config().acceleration, Some(&report)).await?;
    println!("published {} messages ({} acked by the broker) in {:.1} s", stats.published, stats.acked, stats.elapsed.as_secs_f64());
    Ok(())
}

/// Write the fleet's registry file, in the format its name says, and tell how to use it.
fn write_registry_file(fleet: &Fleet, path: &Path) -> anyhow::Result<()> {
    let geojson = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("geojson") || e.eq_ignore_ascii_case("json"));
    let text = if geojson { fleet.registry_geojson() } else { fleet.registry_csv() };
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    println!(
        "wrote the {} sensors of network {} to {}: list it in registry.sensor_files, with the network's département \
         ([registry.networks.{}] departement = \"{}\")",
        fleet.sensors().len(),
        fleet.network(),
        path.display(),
        fleet.network(),
        fleet.climate().city().departement,
    );
    Ok(())
}

/// Register the fleet with a running service through its admin API: `PUT` its sensors, then
/// give its network the city's département unless it has one (`GET` then `PUT` of the
/// network's settings, so that the others are kept). The token is sent, never printed.
async fn register_with_service(fleet: &Fleet, base: &str, admin_token: Option<&str>) -> anyhow::Result<()> {
    let admin = AdminApi::new(base, admin_token)?;
    admin.send(Method::PUT, &["sensors"], Some(("text/csv", fleet.registry_csv()))).await?;
    let network = fleet.network();
    let path = ["networks", network];
    let mut settings = match admin.send(Method::GET, &path, None).await? {
        Some(answer) => answer["settings"].clone(),
        None => serde_json::json!({}),
    };
    let departement = fleet.climate().city().departement;
    let existing = settings.get("departement").and_then(serde_json::Value::as_str).map(str::to_owned);
    if existing.is_none() {
        settings["departement"] = departement.into();
        admin.send(Method::PUT, &path, Some(("application/json", settings.to_string()))).await?;
    }
    println!(
        "registered the {} sensors of network {network} with {} (département {})",
        fleet.sensors().len(),
        admin.base,
        existing.as_deref().unwrap_or(departement)
    );
    Ok(())
}

/// A service's admin API (`/api/admin/...`), for `ilot sim --register`.
struct AdminApi {
    base: reqwest::Url,
    token: Option<String>,
    client: reqwest::Client,
}

impl AdminApi {
    fn new(base: &str, token: Option<&str>) -> anyhow::Result<AdminApi> {
        let base = reqwest::Url::parse(base).with_context(|| format!("--register {base:?}: not a URL"))?;
        anyhow::ensure!(!base.cannot_be_a_base(), "--register {base}: not a base URL (e.g. http://127.0.0.1:8642)");
        Ok(AdminApi { base, token: token.map(str::to_owned), client: reqwest::Client::new() })
    }

    /// Send a request to `/api/admin/<segments>`: the answer's JSON, or `None` for a 404 to a
    /// `GET`; an error naming the method, the URL, the status and the body for anything else.
    async fn send(&self, method: Method, segments: &[&str], body: Option<(&str, String)>) -> anyhow::Result<Option<serde_json::Value>> {
        let mut url = self.base.clone();
        url.path_segments_mut().map_err(|()| anyhow::anyhow!("{}: not a base URL", self.base))?.pop_if_empty().extend(["api", "admin"]).extend(segments);
        let mut request = self.client.request(method.clone(), url.clone());
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some((content_type, body)) = body {
            request = request.header(reqwest::header::CONTENT_TYPE, content_type).body(body);
        }
        let response = request.send().await.with_context(|| format!("{method} {url}"))?;
        let status = response.status();
        let text = response.text().await.with_context(|| format!("{method} {url}: reading the answer"))?;
        let hint = match status {
            _ if status.is_success() => return Ok(Some(serde_json::from_str(&text).with_context(|| format!("{method} {url}: not JSON: {text}"))?)),
            StatusCode::NOT_FOUND if method == Method::GET => return Ok(None),
            StatusCode::UNAUTHORIZED => " (give the service's http.admin_token with --admin-token or ILOT_HTTP__ADMIN_TOKEN)",
            _ => "",
        };
        anyhow::bail!("{method} {url}: {status}: {}{hint}", text.trim())
    }
}

/// Publish the demo fleet to the (embedded) broker until the task is aborted: what it measured
/// before now (the catch-up) at the configured acceleration, then live, in real time. Values
/// depend on the measurement time only, so a restarted demo resends duplicates.
pub async fn publish_forever(sim: SimConfig, host: String, port: u16, out: DemoOutput) {
    let target = MqttTarget { host, port, client_id: "ilot-demo-fleet".into(), ..MqttTarget::default() };
    let fleet = match Fleet::new(sim.clone()) {
        Ok(fleet) => fleet,
        Err(e) => return tracing::error!(error = %e, "simulated fleet not started"),
    };
    let started = std::time::Instant::now();
    let mut stream = fleet.messages().peekable();
    let mut caught_up = 0;
    // Until nothing measured before now is left: a slow catch-up lets "now" move on meanwhile.
    loop {
        let now = chrono::Utc::now();
        if stream.peek().is_none_or(|m| m.sim_time > now) {
            break;
        }
        let past = std::iter::from_fn(|| stream.next_if(|m| m.sim_time <= now));
        match publish(&target, past, sim.acceleration, None).await {
            Ok(stats) => caught_up += stats.readings,
            Err(e) => return tracing::error!(error = %e, phase = "catch-up", "simulated fleet stopped"),
        }
    }
    out.caught_up(caught_up, sim.start, started.elapsed());
    if let Some(first) = stream.peek() {
        // Real time is paced from the first live message: it waits for its moment.
        tokio::time::sleep((first.sim_time - chrono::Utc::now()).to_std().unwrap_or_default()).await;
        if let Err(e) = publish(&target, stream, 1.0, None).await {
            tracing::error!(error = %e, phase = "live", "simulated fleet stopped");
        }
    }
}

/// What the demo tells the person who started it: where to look, and when there is something
/// to see.
#[derive(Clone)]
pub struct DemoOutput {
    /// How to invoke this binary again (`ilot`, or its path when not on the PATH).
    program: String,
    network: String,
    sensors: usize,
    /// The HTTP API's address, once bound.
    http: Option<std::net::SocketAddr>,
}

impl DemoOutput {
    fn new(sim: &SimConfig) -> DemoOutput {
        let program = std::env::args().next().filter(|p| p.contains('/')).unwrap_or_else(|| "ilot".to_owned());
        DemoOutput { program, network: sim.network().to_owned(), sensors: sim.sensors, http: None }
    }

    /// The same, with the address the HTTP API listens on.
    pub fn listening_on(self, http: std::net::SocketAddr) -> DemoOutput {
        DemoOutput { http: Some(http), ..self }
    }

    fn started(&self, sim: &SimConfig) {
        let days_back = (chrono::Utc::now() - sim.start).num_minutes() as f64 / 1440.0;
        println!(
            "demo: {} simulated sensors of {} publish to the embedded broker: the last {days_back:.1} days replayed {}, then live (one reading per sensor every {} min)",
            self.sensors,
            self.network,
            if sim.acceleration > 0.0 { format!("at {}× real time", sim.acceleration) } else { "as fast as possible".to_owned() },
            sim.cadence_s / 60,
        );
    }

    fn caught_up(&self, readings: u64, since: chrono::DateTime<chrono::Utc>, took: std::time::Duration) {
        let (p, n) = (&self.program, &self.network);
        println!(
            "demo: caught up: {readings} readings since {} published in {:.0} s (stored as they arrive); now live. The heat island:\n\
             \x20 {p} sql \"SELECT night, count(*) AS sensors, round(avg(uhi_mean_c), 2) AS uhi_mean_c, round(max(uhi_max_c), 2) AS uhi_max_c FROM uhi_nightly WHERE network = '{n}' GROUP BY night ORDER BY night\"\n\
             \x20 {p} sql \"SELECT u.sensor_id, u.night, round(u.uhi_mean_c, 2) AS uhi_c, s.lcz, u.time_window FROM uhi_nightly u JOIN sensors s ON s.network = u.network AND s.sensor_id = u.sensor_id WHERE u.network = '{n}' ORDER BY u.night DESC, uhi_c DESC LIMIT 10\"\n\
             \x20 {p} sql \"SELECT date, round(min(tn_c), 1) AS coolest_tn_c, round(max(tn_c), 1) AS warmest_tn_c, round(max(tx_c), 1) AS tx_c, bool_or(tn_provisional OR tx_provisional) AS provisional FROM daily_tn_tx WHERE network = '{n}' GROUP BY date ORDER BY date\"\n\
             The status page: {}; the SQL tables and views: docs/sql.md",
            since.format("%Y-%m-%d %H:%M UTC"),
            took.as_secs_f64(),
            self.http.map_or_else(|| "see HTTP API above".to_owned(), |a| format!("http://{a}/")),
        );
    }
}

pub async fn demo(mut config: Config, args: DemoArgs) -> anyhow::Result<()> {
    config.embedded_broker.enabled = true;
    // The demo shows data landing in Parquet within a minute rather than every five.
    if config.storage.persist_interval_s == ilot_ingest::config::StorageConfig::default().persist_interval_s {
        config.storage.persist_interval_s = 30;
    }
    config.validate().context("configuration")?;
    let mut sim = args.fleet.sim_config(Pace { acceleration: args.acceleration, days_back: args.days_back })?;
    if !args.fleet.fixed_readings() {
        // The catch-up, then live for as long as the demo runs (unless a number was asked for).
        sim.readings_per_sensor = None;
    }
    let sensor_file = register_fleet(&mut config, &sim)?;
    let out = DemoOutput::new(&sim);
    out.started(&sim);
    println!("demo: fleet registered from {} (positions, LCZ, rural references, département)", sensor_file.display());
    let data_dir = config.storage.data_dir.clone();
    crate::serve::run(config, crate::serve::Extras { simulate: Some((sim, out)) }).await.map_err(|e| with_second_demo_hint(e, &data_dir))
}

/// The data directory's writer lock, or a port, held by another process.
fn taken(e: &(dyn std::error::Error + 'static)) -> bool {
    use ilot_ingest::{listen::ListenError, wal::WalError};
    let listen = match e.downcast_ref::<ilot_dashboards::HttpError>() {
        Some(ilot_dashboards::HttpError::Bind(l)) => Some(l),
        _ => e.downcast_ref::<ListenError>(),
    };
    #[cfg(feature = "embedded-broker")]
    let listen = listen.or(match e.downcast_ref::<ilot_ingest::broker::BrokerError>() {
        Some(ilot_ingest::broker::BrokerError::Listen(l)) => Some(l),
        _ => None,
    });
    listen.is_some_and(ListenError::in_use) || matches!(e.downcast_ref::<WalError>(), Some(WalError::Locked { .. }))
}

/// A demo that meets another one (its data directory or ports taken) says how to run two.
fn with_second_demo_hint(error: anyhow::Error, data_dir: &std::path::Path) -> anyhow::Error {
    if !error.chain().any(taken) {
        return error;
    }
    anyhow::anyhow!(
        "{error:#}\nAnother ilot (a demo?) already runs with {} or these ports. To run a second demo beside it, give it its \
         own data directory and ports:\n  ILOT_STORAGE__DATA_DIR=./data-2 ILOT_HTTP__LISTEN=127.0.0.1:8652 \
         ILOT_EMBEDDED_BROKER__LISTEN=127.0.0.1:11893 ilot demo",
        data_dir.display()
    )
}

/// File the demo writes its fleet's registry entries to, in the data folder.
pub const DEMO_SENSOR_FILE: &str = "demo-sensors.csv";

/// Register the simulated fleet before the service starts, so that the heat-island views have
/// stations, a rural reference and thresholds: the sensors as a registry CSV in
/// `<data_dir>/demo-sensors.csv`, added to `registry.sensor_files`, and the network's
/// département from the city profile unless the configuration sets one. The catch-up and live
/// fleets of [`publish_forever`] have the same sensors (same seed, city and size).
pub fn register_fleet(config: &mut Config, sim: &SimConfig) -> anyhow::Result<PathBuf> {
    let fleet = Fleet::new(sim.clone())?;
    let dir = &config.storage.data_dir;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join(DEMO_SENSOR_FILE);
    std::fs::write(&path, fleet.registry_csv()).with_context(|| format!("writing {}", path.display()))?;
    if !config.registry.sensor_files.contains(&path) {
        config.registry.sensor_files.push(path.clone());
    }
    let network = config.registry.networks.entry(fleet.network().to_owned()).or_default();
    if network.departement.is_none() {
        network.departement = Some(fleet.climate().city().departement.to_owned());
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_registers_its_fleet() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::default();
        config.storage.data_dir = dir.path().join("data");
        let sim = SimConfig { city: "rennes".into(), sensors: 30, seed: 5, readings_per_sensor: Some(1), ..SimConfig::default() };
        let path = register_fleet(&mut config, &sim).unwrap();
        assert_eq!(path, dir.path().join("data").join(DEMO_SENSOR_FILE));
        let sensors = ilot_ingest::registry::read_sensors(&path).unwrap();
        assert_eq!(sensors.len(), 30);
        assert!(sensors.iter().all(|s| s.network == "rennes" && s.departement.as_deref() == Some("35")));
        let rural = sensors.iter().filter(|s| s.role == ilot_ingest::registry::SensorRole::Rural).count();
        assert_eq!(rural, 3);
        assert_eq!(config.registry.networks["rennes"].departement.as_deref(), Some("35"));
        // Idempotent, and a configured département is kept.
        config.registry.networks.get_mut("rennes").unwrap().departement = Some("22".into());
        register_fleet(&mut config, &sim).unwrap();
        assert_eq!(config.registry.sensor_files, vec![path]);
        assert_eq!(config.registry.networks["rennes"].departement.as_deref(), Some("22"));
    }

    #[test]
    fn the_registry_reads_back_both_registry_files_with_every_attribute() {
        let dir = tempfile::tempdir().unwrap();
        let sim = SimConfig { city: "dijon".into(), network: Some("dijon-sim".into()), sensors: 25, cadence_s: 600, readings_per_sensor: Some(1), ..SimConfig::default() };
        let fleet = Fleet::new(sim).unwrap();
        for name in ["fleet.csv", "fleet.geojson", "fleet.json"] {
            let path = dir.path().join(name);
            write_registry_file(&fleet, &path).unwrap();
            let sensors = ilot_ingest::registry::read_sensors(&path).unwrap();
            assert_eq!(sensors.len(), 25, "{name}");
            for (read, simulated) in sensors.iter().zip(fleet.sensors()) {
                let role = match simulated.role {
                    ilot_firmware_sim::SensorRole::Urban => ilot_ingest::registry::SensorRole::Urban,
                    ilot_firmware_sim::SensorRole::RuralReference => ilot_ingest::registry::SensorRole::Rural,
                };
                let expected = ilot_ingest::registry::Sensor {
                    network: "dijon-sim".into(),
                    sensor_id: simulated.id.clone(),
                    name: Some(format!("Simulated {} (LCZ {})", simulated.id, simulated.lcz.label())),
                    lat: Some(simulated.lat),
                    lon: Some(simulated.lon),
                    elevation_m: None,
                    lcz: ilot_ingest::registry::Lcz::parse(simulated.lcz.label()),
                    role,
                    height_m: None,
                    shield: None,
                    cadence_s: Some(600),
                    insee: None,
                    departement: Some("21".into()),
                    provider: Some(ilot_firmware_sim::REGISTRY_PROVIDER.into()),
                    licence: None,
                };
                assert_eq!(*read, expected, "{name}");
            }
        }
        assert!(std::fs::read_to_string(dir.path().join("fleet.json")).unwrap().starts_with('{'), "GeoJSON");
    }

    fn flags(scenario_file: Option<PathBuf>) -> FleetArgs {
        FleetArgs { city: "paris".into(), sensors: 12, readings_per_sensor: None, seed: 4, scenario_file }
    }

    const PACE: Pace = Pace { acceleration: 60.0, days_back: 1 };

    /// The shipped examples cannot drift from the format: each one builds a fleet.
    #[test]
    fn every_shipped_scenario_file_builds_a_fleet() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("firmware-sim/scenarios");
        let files: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
        assert!(files.len() >= 2, "{files:?}");
        for path in files {
            assert_eq!(path.extension().and_then(|e| e.to_str()), Some("toml"), "{}", path.display());
            let config = flags(Some(path.clone())).sim_config(PACE).unwrap_or_else(|e| panic!("{}: {e:#}", path.display()));
            Fleet::new(config).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        }
    }

    #[test]
    fn a_scenario_file_wins_over_the_flags_which_give_what_it_leaves_out() {
        let dir = tempfile::tempdir().unwrap();
        let file = |text: &str| {
            let path = dir.path().join(format!("{}.toml", text.len()));
            std::fs::write(&path, text).unwrap();
            flags(Some(path)).sim_config(PACE)
        };
        let now = chrono::Utc::now();
        let config = file("city = \"rennes\"\ndays_back = 2\ncadence_s = 600\n[faults]\nspike_rate = 0.01\n").unwrap();
        assert_eq!((config.city.as_str(), config.sensors, config.seed, config.acceleration), ("rennes", 12, 4, 60.0));
        assert_eq!(config.faults.spike_rate, 0.01);
        let days_back = (now - config.start).num_minutes();
        assert!((2 * 1440..2 * 1440 + 5).contains(&days_back), "{days_back}");
        // Up to now at the file's cadence: two days of 10-minute steps.
        assert!((287..=288).contains(&config.readings_per_sensor.unwrap()), "{:?}", config.readings_per_sensor);
        // Without `days_back`, the flag's; an absolute start runs up to now unless told otherwise.
        let config = file("sensors = 30\n").unwrap();
        assert!((1440..1445).contains(&(now - config.start).num_minutes()));
        assert_eq!((config.city.as_str(), config.sensors, config.readings_per_sensor), ("paris", 30, Some(288)));
        let start = now - chrono::Duration::hours(10);
        let config = file(&format!("start = \"{}\"\n", start.to_rfc3339())).unwrap();
        assert_eq!((config.start.timestamp(), config.readings_per_sensor), (start.timestamp(), Some(120)));
        let config = file(&format!("start = \"{}\"\nreadings_per_sensor = 3\n", start.to_rfc3339())).unwrap();
        assert_eq!(config.readings_per_sensor, Some(3));
        for (text, error) in [
            ("days_back = 2\nstart = \"2025-07-01T00:00:00Z\"\n", "not both"),
            ("citty = \"rennes\"\n", "citty"),
            ("[faults]\nspike = 0.1\n", "spike"),
        ] {
            let e = format!("{:#}", file(text).unwrap_err());
            assert!(e.contains("scenario file") && e.contains(error), "{text}: {e}");
        }
    }
}
