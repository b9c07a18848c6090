//! ilot's configuration: one TOML file (`--config`, else `./ilot.toml` when present) overlaid
//! by `ILOT_*` environment variables (`ILOT_MQTT__URL`, `ILOT_STORAGE__DATA_DIR`, … — a double
//! underscore separates section and key). Every key and default is listed in README.md (the
//! test module `documented_keys` checks the table against these structs).
//! [`Config::validate`] holds the rules a service's configuration must keep; `ilot serve` and
//! `ilot demo` check them before they touch anything.

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use ilot_dashboards::HttpConfig;
pub use ilot_ingest::config::ConfigError;
use ilot_ingest::config::{IntakeConfig, MqttConfig, StorageConfig};
use ilot_ingest::intake::connection;
use ilot_ingest::topic::TopicTemplate;
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
    pub postgres: ilot_dashboards::postgres::PostgresConfig,
    pub query: QueryLimits,
    pub embedded_broker: EmbeddedBrokerConfig,
    pub registry: RegistryConfig,
    pub crowdqc: ilot_query::crowdqc::job::CrowdQcSchedule,
    pub alerts: ilot_alerts::AlertsConfig,
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

    /// The rules a service's configuration must keep, checked before `ilot serve` or `ilot demo`
    /// touch the store, the WAL or the broker: the first value that cannot work, named by its
    /// key. The `[http]` rules are [`HttpConfig::validate`]'s, a network's settings
    /// `Network::validate`'s.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let (mqtt, intake, storage, query) = (&self.mqtt, &self.intake, &self.storage, &self.query);
        let zero = [
            ("mqtt.receive_maximum", mqtt.receive_maximum == 0),
            ("intake.max_payload_bytes", intake.max_payload_bytes == 0),
            ("intake.max_batch_records", intake.max_batch_records == 0),
            ("intake.max_age_days", intake.max_age_days <= 0),
            ("intake.queue_capacity", intake.queue_capacity == 0),
            ("intake.qc.history.step_cadence_s", intake.qc.history.step_cadence_s == 0),
            ("intake.qc.history.stuck_window_s", intake.qc.history.stuck_window_s == 0),
            ("storage.persist_interval_s", storage.persist_interval_s == 0),
            ("storage.max_buffered_rows", storage.max_buffered_rows == 0),
            ("storage.compaction_interval_s", storage.compaction_interval_s == 0),
            ("storage.retired_file_grace_s", storage.retired_file_grace_s == 0),
            ("query.memory_limit_mib", query.memory_limit_mib == 0),
            ("query.timeout_s", query.timeout_s == 0),
            ("query.max_result_rows", query.max_result_rows == 0),
            ("query.max_concurrent", query.max_concurrent == 0),
        ];
        if let Some((key, _)) = zero.into_iter().find(|(_, is_zero)| *is_zero) {
            return Err(ConfigError::new(key, "must be at least 1"));
        }
        self.validate_mqtt()?;
        self.validate_intake()?;
        self.validate_storage()?;
        self.http.validate()?;
        self.postgres.validate(&ilot_dashboards::auth::credentials(&self.http))?;
        let port = self.embedded_broker.listen.port();
        if self.embedded_broker.enabled && (port == 0 || port == u16::MAX) {
            return Err(ConfigError::new("embedded_broker.listen", format!("port {port}: use 1-65534 (MQTT 5 listens on the next port)")));
        }
        self.alerts.validate().map_err(|e| ConfigError::new(e.key(), e.reason()))?;
        for (name, network) in &self.registry.networks {
            network.validate(name).map_err(|message| ConfigError::new(format!("registry.networks.{name}"), message))?;
        }
        Ok(())
    }

    fn validate_mqtt(&self) -> Result<(), ConfigError> {
        let mqtt = &self.mqtt;
        // The embedded broker replaces the URL (and needs no CA).
        if !self.embedded_broker.enabled {
            let (_, _, tls) = connection::parse_url(&mqtt.url)
                .map_err(|_| ConfigError::new("mqtt.url", format!("{:?}: expected mqtt://host[:port] or mqtts://host[:port]", mqtt.url)))?;
            if mqtt.ca_file.is_some() && !tls {
                return Err(ConfigError::new("mqtt.ca_file", "set, but mqtt.url is not mqtts://: there is no certificate to check"));
            }
        }
        if mqtt.client_id.trim().is_empty() {
            return Err(ConfigError::new("mqtt.client_id", "empty: the broker keeps the session under this id"));
        }
        if mqtt.username.as_deref().is_some_and(|u| u.trim().is_empty()) {
            return Err(ConfigError::new("mqtt.username", "empty: give a value or leave the key out"));
        }
        if let Some(password) = &mqtt.password {
            password.check("mqtt.password")?;
            if mqtt.username.is_none() {
                return Err(ConfigError::new("mqtt.password", "set without mqtt.username: it would never be sent"));
            }
        }
        if mqtt.keep_alive_s > u64::from(u16::MAX) {
            return Err(ConfigError::new("mqtt.keep_alive_s", "at most 65535 (the MQTT limit)"));
        }
        if mqtt.topics.is_empty() {
            return Err(ConfigError::new("mqtt.topics", "empty: nothing would be subscribed"));
        }
        for template in &mqtt.topics {
            TopicTemplate::parse(template).map_err(|e| ConfigError::new("mqtt.topics", format!("{template:?}: {e}")))?;
        }
        if let Some(group) = &mqtt.shared_group
            && (group.is_empty() || group.contains(['/', '+', '#']))
        {
            return Err(ConfigError::new("mqtt.shared_group", format!("{group:?}: a share name is not empty and has no `/`, `+` or `#`")));
        }
        Ok(())
    }

    fn validate_intake(&self) -> Result<(), ConfigError> {
        let (intake, qc) = (&self.intake, &self.intake.qc);
        if intake.max_future_skew_s < 0 {
            return Err(ConfigError::new("intake.max_future_skew_s", "must not be negative"));
        }
        if let Err(e) = qc.check() {
            return Err(ConfigError::new(format!("intake.qc.{}", e.key), e.message));
        }
        Ok(())
    }

    fn validate_storage(&self) -> Result<(), ConfigError> {
        let storage = &self.storage;
        if storage.data_dir.as_os_str().is_empty() {
            return Err(ConfigError::new("storage.data_dir", "empty"));
        }
        crate::storage::writer_id(storage, &self.mqtt.client_id).map_err(|e| {
            // Without its own key, the writer id is the client id's.
            ConfigError::new(if storage.writer_id.is_some() { "storage.writer_id" } else { "mqtt.client_id" }, e.to_string())
        })?;
        // Other writers delete the files their compaction replaced after the grace: no query may
        // start on a list of their files older than that.
        if storage.peer_refresh_s.saturating_mul(2) >= storage.retired_file_grace_s {
            let message = format!("{} must be under half of storage.retired_file_grace_s ({})", storage.peer_refresh_s, storage.retired_file_grace_s);
            return Err(ConfigError::new("storage.peer_refresh_s", message));
        }
        Ok(())
    }
}

#[cfg(test)]
mod documented_keys;

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment::Jail's closures return figment::Error
mod tests {
    use super::*;

    #[test]
    fn the_shipped_production_example_is_a_valid_configuration() {
        // In a jail: the environment test below sets ILOT_* variables meanwhile.
        figment::Jail::expect_with(|jail| {
            let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/ilot.toml");
            let config = Config::load(Some(&path)).map_err(|e| e.to_string())?;
            assert_eq!(config.mqtt.protocol, ilot_ingest::config::MqttProtocol::V5);
            assert!(config.mqtt.url.starts_with("mqtts://"));
            assert_eq!(config.mqtt.datastreams["1001"], "toulouse/tls-001");
            assert_eq!(config.query.memory_limit_mib, 2048);
            // Its public listener needs the token its comments say comes from the environment.
            assert_eq!(config.validate().unwrap_err().key, "http.token");
            jail.set_env("ILOT_HTTP__TOKEN", "a-long-random-token");
            jail.set_env("ILOT_MQTT__PASSWORD", "broker-secret");
            jail.set_env("ILOT_ALERTS__SUBSCRIPTIONS__CCAS__SECRET", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
            let config = Config::load(Some(&path)).map_err(|e| e.to_string())?;
            config.validate().map_err(|e| e.to_string())?;
            assert_eq!(config.alerts.rules.len(), 3);
            assert!(config.postgres.enabled && config.postgres.tls_cert_file.is_some());
            Ok(())
        });
    }

    #[test]
    fn the_defaults_are_valid() {
        Config::default().validate().unwrap();
    }

    /// One change to a configuration.
    type Change = fn(&mut Config);

    /// The error `change` makes of the default configuration.
    fn refused(change: impl FnOnce(&mut Config)) -> ConfigError {
        let mut config = Config::default();
        change(&mut config);
        config.validate().unwrap_err()
    }

    #[test]
    fn an_unprotected_or_unusable_http_configuration_is_refused_with_its_key() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("ILOT_HTTP__LISTEN", "0.0.0.0:8642");
            let err = Config::load(None).map_err(|e| e.to_string())?.validate().unwrap_err();
            assert_eq!(err.to_string(), "http.token: required when http.listen (0.0.0.0:8642) is not a loopback address");
            // An admin token alone leaves the read API open: still refused.
            jail.set_env("ILOT_HTTP__ADMIN_TOKEN", "admin-secret");
            assert_eq!(Config::load(None).map_err(|e| e.to_string())?.validate().unwrap_err().key, "http.token");
            jail.set_env("ILOT_HTTP__TOKEN", "reader-secret");
            Config::load(None).map_err(|e| e.to_string())?.validate().map_err(|e| e.to_string())?;
            // `ILOT_HTTP__TOKEN=`: a public listener refusing everything.
            jail.set_env("ILOT_HTTP__TOKEN", "");
            let err = Config::load(None).map_err(|e| e.to_string())?.validate().unwrap_err();
            assert_eq!((err.key.as_str(), err.message.contains("empty")), ("http.token", true), "{err}");
            Ok(())
        });
        let secret = |s: &str| Some(ilot_ingest::config::Secret(s.into()));
        assert_eq!(refused(|c| c.http.token = secret("   ")).key, "http.token");
        assert_eq!(refused(|c| c.http.admin_token = secret("")).key, "http.admin_token");
        assert_eq!(refused(|c| c.http.token = secret("abc ")).key, "http.token", "a header cannot carry it");
        assert_eq!(refused(|c| c.http.token = secret("clé-été")).key, "http.token", "nor this");
        assert_eq!(refused(|c| (c.http.token, c.http.admin_token) = (secret("same"), secret("same"))).key, "http.admin_token");
        assert_eq!(refused(|c| (c.mqtt.username, c.mqtt.password) = (Some("ilot".into()), secret(" "))).key, "mqtt.password");
        assert_eq!(refused(|c| c.mqtt.password = secret("secret")).key, "mqtt.password", "a password without a user is never sent");
        assert_eq!(refused(|c| c.mqtt.username = Some(String::new())).key, "mqtt.username");
    }

    #[test]
    fn nonsense_values_are_refused_with_their_key() {
        let zero: &[(&str, Change)] = &[
            ("query.timeout_s", |c| c.query.timeout_s = 0),
            ("query.memory_limit_mib", |c| c.query.memory_limit_mib = 0),
            ("query.max_result_rows", |c| c.query.max_result_rows = 0),
            ("query.max_concurrent", |c| c.query.max_concurrent = 0),
            ("intake.max_payload_bytes", |c| c.intake.max_payload_bytes = 0),
            ("intake.max_batch_records", |c| c.intake.max_batch_records = 0),
            ("intake.max_age_days", |c| c.intake.max_age_days = -1),
            ("intake.queue_capacity", |c| c.intake.queue_capacity = 0),
            ("intake.qc.history.step_cadence_s", |c| c.intake.qc.history.step_cadence_s = 0),
            ("intake.qc.history.stuck_window_s", |c| c.intake.qc.history.stuck_window_s = 0),
            ("mqtt.receive_maximum", |c| c.mqtt.receive_maximum = 0),
            ("storage.persist_interval_s", |c| c.storage.persist_interval_s = 0),
            ("storage.max_buffered_rows", |c| c.storage.max_buffered_rows = 0),
            ("storage.compaction_interval_s", |c| c.storage.compaction_interval_s = 0),
            ("storage.retired_file_grace_s", |c| c.storage.retired_file_grace_s = 0),
        ];
        for (key, change) in zero {
            let err = refused(*change);
            assert_eq!(err.to_string(), format!("{key}: must be at least 1"));
        }
        let err = refused(|c| c.storage.peer_refresh_s = 300);
        assert_eq!(err.to_string(), "storage.peer_refresh_s: 300 must be under half of storage.retired_file_grace_s (600)");
        let others: &[(&str, Change)] = &[
            ("mqtt.url", |c| c.mqtt.url = "http://broker:1883".into()),
            ("mqtt.ca_file", |c| c.mqtt.ca_file = Some("/etc/ilot/ca.pem".into())),
            ("mqtt.client_id", |c| c.mqtt.client_id = " ".into()),
            ("mqtt.client_id", |c| c.mqtt.client_id = "x".repeat(65)),
            ("storage.writer_id", |c| c.storage.writer_id = Some("a/b".into())),
            ("mqtt.keep_alive_s", |c| c.mqtt.keep_alive_s = 70_000),
            ("mqtt.topics", |c| c.mqtt.topics.clear()),
            ("mqtt.topics", |c| c.mqtt.topics = vec!["ilot/#".into()]),
            ("mqtt.shared_group", |c| c.mqtt.shared_group = Some("a/b".into())),
            ("intake.max_future_skew_s", |c| c.intake.max_future_skew_s = -1),
            ("intake.qc.max_temperature_c", |c| c.intake.qc.max_temperature_c = -50.0),
            ("intake.qc.history.step_limit_k", |c| c.intake.qc.history.step_limit_k = f64::NAN),
            ("storage.data_dir", |c| c.storage.data_dir = "".into()),
            ("registry.networks.rennes", |c| {
                let night = ilot_ingest::registry::Network { night_start_utc_hour: 3, night_end_utc_hour: 3, ..Default::default() };
                c.registry.networks.insert("rennes".into(), night);
            }),
        ];
        for (key, change) in others {
            assert_eq!(refused(*change).key, *key);
        }
        // The embedded broker replaces the URL, and needs the port after its own.
        let mut embedded = Config::default();
        (embedded.embedded_broker.enabled, embedded.mqtt.url) = (true, "ignored".into());
        embedded.validate().unwrap();
        embedded.embedded_broker.listen.set_port(u16::MAX);
        assert_eq!(embedded.validate().unwrap_err().key, "embedded_broker.listen");
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
