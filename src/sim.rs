//! `ilot sim`: publish a simulated fleet to a broker; write it as a registry file, or register
//! it with a running service. The fleet settings (`FleetArgs`, scenario files) are shared with
//! `ilot demo` (src/demo.rs).

use anyhow::Context;
use ilot_firmware_sim::{Fleet, MqttTarget, SimConfig, publish};
use reqwest::{Method, StatusCode};
use std::path::{Path, PathBuf};

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

#[cfg(test)]
mod tests;
