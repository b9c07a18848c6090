//! ilot's configuration: one TOML file (`--config`, else `./ilot.toml` when present) overlaid
//! by `ILOT_*` environment variables (`ILOT_MQTT__URL`, `ILOT_STORAGE__DATA_DIR`, … — a double
//! underscore separates section and key). Every key and default is listed in README.md.

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use ilot_dashboards::HttpConfig;
use ilot_ingest::config::{IntakeConfig, MqttConfig, StorageConfig};
use ilot_ingest::registry::RegistryConfig;
use ilot_query::QueryLimits;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::Path;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmbeddedBrokerConfig {
    /// Run the embedded broker (demo and tests; production uses a real broker).
    pub enabled: bool,
    /// Its MQTT 3.1.1 listener; MQTT 5 listens on the next port. Not 1883, which a real broker
    /// may hold.
    pub listen: SocketAddr,
}

impl Default for EmbeddedBrokerConfig {
    fn default() -> Self {
        Self { enabled: false, listen: "127.0.0.1:11883".parse().expect("valid address") }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub mqtt: MqttConfig,
    pub intake: IntakeConfig,
    pub storage: StorageConfig,
    pub http: HttpConfig,
    pub query: QueryLimits,
    pub embedded_broker: EmbeddedBrokerConfig,
    pub registry: RegistryConfig,
    pub crowdqc: ilot_query::crowdqc::job::CrowdQcSchedule,
}

impl Config {
    pub fn load(file: Option<&Path>) -> Result<Config, Box<figment::Error>> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        match file {
            Some(path) => figment = figment.merge(Toml::file_exact(path)),
            None if Path::new("ilot.toml").exists() => figment = figment.merge(Toml::file_exact("ilot.toml")),
            None => {}
        }
        // Only `ILOT_<SECTION>__<KEY>` variables are configuration: `ILOT_CONFIG` (the file's
        // path) and other `ILOT_*` variables (benchmarks, wrappers) must not be read as keys.
        figment.merge(Env::prefixed("ILOT_").filter(|key| key.as_str().contains("__")).split("__")).extract().map_err(Box::new)
    }
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment::Jail's closures return figment::Error
mod tests {
    use super::*;

    #[test]
    fn the_shipped_production_example_is_a_valid_configuration() {
        // In a jail: the environment test below sets ILOT_* variables meanwhile.
        figment::Jail::expect_with(|_| {
            let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/ilot.toml");
            let config = Config::load(Some(&path)).map_err(|e| e.to_string())?;
            assert_eq!(config.mqtt.protocol, ilot_ingest::config::MqttProtocol::V5);
            assert!(config.mqtt.url.starts_with("mqtts://"));
            assert_eq!(config.mqtt.datastreams["1001"], "toulouse/tls-001");
            assert_eq!(config.query.memory_limit_mib, 2048);
            Ok(())
        });
    }

    #[test]
    fn only_section_key_variables_are_configuration() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("ILOT_CONFIG", "/nonexistent/ilot.toml");
            jail.set_env("ILOT_BENCH_SENSORS", "100");
            jail.set_env("ILOT_MQTT__URL", "mqtt://broker.example:1883");
            jail.set_env("ILOT_STORAGE__PEER_REFRESH_S", "5");
            let config = Config::load(None).map_err(|e| e.to_string())?;
            assert_eq!(config.mqtt.url, "mqtt://broker.example:1883");
            assert_eq!(config.storage.peer_refresh_s, 5);
            Ok(())
        });
    }

    #[test]
    fn unknown_keys_are_refused() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("bad.toml", "[mqtt]\nurll = \"mqtt://x\"\n")?;
            let err = Config::load(Some(Path::new("bad.toml"))).unwrap_err().to_string();
            assert!(err.contains("urll"), "{err}");
            Ok(())
        });
    }
}
