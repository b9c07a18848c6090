//! `ilot sim` (publish a simulated fleet to a broker) and `ilot demo` (the whole service on
//! the embedded broker with a simulated city publishing to it).

use anyhow::Context;
use ilot_firmware_sim::{Fleet, MqttTarget, SimConfig, publish};
use std::path::PathBuf;

use crate::config::Config;

#[derive(clap::Args, Clone)]
pub struct FleetArgs {
    /// City profile: toulouse, rennes, vitre, dijon, paris.
    #[arg(long, default_value = "toulouse")]
    pub city: String,
    #[arg(long, default_value_t = 90)]
    pub sensors: usize,
    /// Simulated seconds per wall-clock second (0 = as fast as possible).
    #[arg(long, default_value_t = 60.0)]
    pub acceleration: f64,
    /// Measurements per sensor (default: from `--days-back` up to now).
    #[arg(long)]
    pub readings_per_sensor: Option<u64>,
    /// Days before now at which the simulated time starts.
    #[arg(long, default_value_t = 1)]
    pub days_back: i64,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Full simulator settings (faults, heat-wave scenario…) as TOML; overrides the flags above.
    #[arg(long)]
    pub scenario_file: Option<PathBuf>,
}

impl FleetArgs {
    pub fn sim_config(&self) -> anyhow::Result<SimConfig> {
        if let Some(path) = &self.scenario_file {
            let text = std::fs::read_to_string(path)?;
            return toml_from_str(&text);
        }
        let now = chrono::Utc::now().timestamp();
        let start = now - now.rem_euclid(300) - self.days_back * 86_400;
        Ok(SimConfig {
            city: self.city.clone(),
            sensors: self.sensors,
            acceleration: self.acceleration,
            // By default, catch up from `days_back` to now (later readings would be in the future).
            readings_per_sensor: self.readings_per_sensor.or(Some((self.days_back.max(0) * 288) as u64)),
            seed: self.seed,
            start: chrono::DateTime::from_timestamp(start, 0).unwrap_or_default(),
            ..SimConfig::default()
        })
    }
}

fn toml_from_str(text: &str) -> anyhow::Result<SimConfig> {
    use figment::providers::Format;
    Ok(figment::Figment::from(figment::providers::Toml::string(text)).extract()?)
}

#[derive(clap::Args)]
pub struct SimArgs {
    #[command(flatten)]
    pub fleet: FleetArgs,
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
}

#[derive(clap::Args)]
pub struct DemoArgs {
    #[command(flatten)]
    pub fleet: FleetArgs,
}

pub async fn run(args: SimArgs) -> anyhow::Result<()> {
    let fleet = Fleet::new(args.fleet.sim_config()?)?;
    let target = MqttTarget {
        host: args.host,
        port: args.port,
        client_id: args.client_id,
        username: args.username,
        password: args.password,
        ..MqttTarget::default()
    };
    let report = |s: &ilot_firmware_sim::PublishStats| eprintln!("published {} acked {}", s.published, s.acked);
    let stats = publish(&target, fleet.messages(), args.fleet.acceleration, Some(&report)).await?;
    println!("published {} messages ({} acked by the broker) in {:.1} s", stats.published, stats.acked, stats.elapsed.as_secs_f64());
    Ok(())
}

/// Publish a fleet to the (embedded) broker until the task is aborted: first the catch-up
/// from the configured start at its acceleration, then live, in real time.
pub async fn publish_forever(sim: SimConfig, host: String, port: u16) {
    let target = MqttTarget { host, port, client_id: "ilot-demo-fleet".into(), ..MqttTarget::default() };
    let catch_up_s = sim.readings_per_sensor.unwrap_or(0) as i64 * i64::from(sim.cadence_s);
    let live = SimConfig {
        start: sim.start + chrono::Duration::seconds(catch_up_s),
        readings_per_sensor: None,
        acceleration: 1.0,
        ..sim.clone()
    };
    for (phase, config) in [("catch-up", sim), ("live", live)] {
        let acceleration = config.acceleration;
        if config.readings_per_sensor == Some(0) {
            continue;
        }
        match Fleet::new(config) {
            Ok(fleet) => {
                tracing::info!(phase, "simulated fleet publishing");
                if let Err(e) = publish(&target, fleet.messages(), acceleration, None).await {
                    tracing::error!(error = %e, phase, "simulated fleet stopped");
                    return;
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "simulated fleet not started");
                return;
            }
        }
    }
}

pub async fn demo(mut config: Config, args: DemoArgs) -> anyhow::Result<()> {
    config.embedded_broker.enabled = true;
    // The demo shows data landing in Parquet within a minute rather than every five.
    if config.storage.persist_interval_s == ilot_ingest::config::StorageConfig::default().persist_interval_s {
        config.storage.persist_interval_s = 30;
    }
    config.validate().context("configuration")?;
    let sim = args.fleet.sim_config()?;
    let sensor_file = register_fleet(&mut config, &sim)?;
    println!("demo: {} simulated sensors in {} publishing to the embedded broker", sim.sensors, sim.city);
    println!("demo: fleet registered from {} (UHI views: uhi_hourly, uhi_nightly, uhi_daily)", sensor_file.display());
    crate::serve::run(config, crate::serve::Extras { simulate: Some(sim) }).await
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
}
