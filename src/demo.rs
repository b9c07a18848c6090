//! `ilot demo`: the whole service on the embedded broker with a simulated city publishing to
//! it: days replayed as fast as possible, then live; heat-health alerts on its network; what to
//! look at, printed once there is something to see; a second demo on the same folder or ports
//! refused with how to run two.

use anyhow::Context;
use ilot_firmware_sim::{Fleet, MqttTarget, SimConfig, publish};
use std::path::PathBuf;

use crate::config::Config;
use crate::sim::{FleetArgs, Pace};

#[derive(clap::Args)]
pub struct DemoArgs {
    #[command(flatten)]
    pub fleet: FleetArgs,
    /// Pace of the catch-up, in simulated seconds per wall-clock second (0 = as fast as
    /// possible); the demo then runs live, in real time.
    #[arg(long, default_value_t = 0.0)]
    pub acceleration: f64,
    /// Days replayed before going live: 4 give at least two complete nights of heat island,
    /// closed climatological days (Tn/Tx) and the 3-day canicule indicator (`ibm`), whatever the
    /// hour the demo starts.
    #[arg(long, default_value_t = 4)]
    pub days_back: i64,
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
             \x20 {p} sql \"SELECT date, round(max(ibmn_c), 1) AS ibmn_c, round(max(ibmx_c), 1) AS ibmx_c, max(tn_threshold_c) AS sn_c, max(tx_threshold_c) AS sx_c, bool_or(canicule_criterion_met) AS canicule FROM ibm WHERE network = '{n}' GROUP BY date ORDER BY date\"\n\
             The alerts (a sensor on a spent battery and a frozen one are in the fleet; a heat wave: --scenario-file firmware-sim/scenarios/toulouse-heat-wave.toml):\n\
             \x20 curl -s {}api/alerts\n\
             The dashboard (map, sensors, networks, alerts): {}; the SQL tables and views: docs/sql.md",
            since.format("%Y-%m-%d %H:%M UTC"),
            took.as_secs_f64(),
            self.http.map_or_else(|| "http://127.0.0.1:8642/".to_owned(), |a| format!("http://{a}/")),
            self.http.map_or_else(|| "see HTTP API above".to_owned(), |a| format!("http://{a}/")),
        );
    }
}

pub async fn run(mut config: Config, args: DemoArgs) -> anyhow::Result<()> {
    config.embedded_broker.enabled = true;
    // Analysts' clients (psql, DBeaver, Grafana) are part of what the demo shows.
    config.postgres.enabled = true;
    // The demo shows data landing in Parquet within a minute rather than every five.
    if config.storage.persist_interval_s == ilot_ingest::config::StorageConfig::default().persist_interval_s {
        config.storage.persist_interval_s = 30;
    }
    let mut sim = args.fleet.sim_config(Pace { acceleration: args.acceleration, days_back: args.days_back })?;
    if !args.fleet.fixed_readings() {
        // The catch-up, then live for as long as the demo runs (unless a number was asked for).
        sim.readings_per_sensor = None;
    }
    let sensor_file = register_fleet(&mut config, &sim)?;
    show_alerts(&mut config, &mut sim)?;
    config.validate().context("configuration")?;
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

/// Alerts in the demo, unless the configuration has rules of its own: the four built-in kinds
/// over the fleet's network, as one area, evaluated as the replay arrives (a replayed past
/// counts as live: `absent_after_s` covers the simulated span). And unless a scenario file set
/// failures, two of the fleet's sensors fail six hours before now (one freezes, one runs on a
/// spent battery), so that the sensor-health alert has something to say.
pub fn show_alerts(config: &mut Config, sim: &mut SimConfig) -> anyhow::Result<()> {
    const STEPS_BEFORE_NOW: i64 = 72;
    let steps_so_far = (chrono::Utc::now() - sim.start).num_seconds() / i64::from(sim.cadence_s.max(1));
    let urban = sim.sensors - ilot_firmware_sim::rural_reference_count(sim.sensors);
    if sim.faults.failures == ilot_firmware_sim::FailureConfig::default() && urban >= 2 && steps_so_far > STEPS_BEFORE_NOW {
        sim.faults.failures = ilot_firmware_sim::FailureConfig {
            after_steps: (steps_so_far - STEPS_BEFORE_NOW) as u64,
            stuck_sensors: 1,
            flat_battery_sensors: 1,
            ..Default::default()
        };
    }
    if !config.alerts.rules.is_empty() {
        return Ok(());
    }
    config.alerts.enabled = true;
    let absent_after_s = (chrono::Utc::now() - sim.start).num_seconds().max(0) + 3 * 86_400;
    let network = sim.network();
    let rules = "\
         [[rules]]\nid = \"canicule\"\nkind = \"observed_canicule\"\n\n\
         [[rules]]\nid = \"heat\"\nkind = \"instantaneous_heat\"\nyellow_c = 35.0\norange_c = 38.0\n\n\
         [[rules]]\nid = \"uhi\"\nkind = \"strong_uhi_night\"\nmin_sensors = 3\n\n\
         [[rules]]\nid = \"health\"\nkind = \"sensor_health\"\n";
    #[derive(serde::Deserialize)]
    struct Rules {
        rules: Vec<ilot_alerts::rule::Rule>,
    }
    use figment::providers::{Format, Toml};
    let mut rules = figment::Figment::from(Toml::string(rules)).extract::<Rules>().context("the demo's alert rules")?.rules;
    for rule in &mut rules {
        rule.common.networks = vec![network.to_owned()];
        rule.common.area = ilot_alerts::rule::AreaGrouping::Network;
        rule.common.absent_after_s = Some(absent_after_s);
    }
    config.alerts.rules = rules;
    Ok(())
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
