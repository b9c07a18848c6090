//! ilot's configuration: one TOML file (`--config`, else `./ilot.toml` when present) overlaid
//! by `ILOT_*` environment variables (`ILOT_MQTT__URL`, `ILOT_STORAGE__DATA_DIR`, … — a double
//! underscore separates section and key). Every key and default is listed in README.md.

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use ilot_dashboards::HttpConfig;
use ilot_ingest::config::{IntakeConfig, MqttConfig, StorageConfig};
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
}

impl Config {
    pub fn load(file: Option<&Path>) -> Result<Config, Box<figment::Error>> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        match file {
            Some(path) => figment = figment.merge(Toml::file_exact(path)),
            None if Path::new("ilot.toml").exists() => figment = figment.merge(Toml::file_exact("ilot.toml")),
            None => {}
        }
        figment.merge(Env::prefixed("ILOT_").split("__")).extract().map_err(Box::new)
    }
}
