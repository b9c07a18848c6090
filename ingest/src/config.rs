//! Configuration of the intake and storage, as read from the `[mqtt]`, `[intake]` and
//! `[storage]` sections of `ilot.toml` (and `ILOT_*` environment variables). Every default is
//! documented in README.md.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// MQTT protocol version spoken to the broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum MqttProtocol {
    #[default]
    #[serde(rename = "3.1.1")]
    V311,
    #[serde(rename = "5")]
    V5,
}

/// A secret that never appears in logs or `Debug` output.
#[derive(Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("\"***\"")
    }
}

impl Secret {
    /// A secret that is given must be one: empty or only white space (`ILOT_HTTP__TOKEN=`)
    /// authenticates nothing and is refused under its `key`.
    pub fn check(&self, key: &str) -> Result<(), ConfigError> {
        if self.0.trim().is_empty() {
            return Err(ConfigError::new(key, "empty: give a value or leave the key out"));
        }
        Ok(())
    }
}

/// A configuration value that cannot work, named by its key as written in `ilot.toml`
/// (`http.token`, `registry.networks.rennes`, …): the service refuses to start with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct ConfigError {
    pub key: String,
    pub message: String,
}

impl ConfigError {
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self { key: key.into(), message: message.into() }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MqttConfig {
    /// `mqtt://host:port` or `mqtts://host:port` (TLS). Ignored when the embedded broker runs.
    pub url: String,
    /// Stable client id: the broker keeps this session (and its unacked messages) across
    /// restarts of ilot. Two ilot processes must never share one.
    pub client_id: String,
    pub username: Option<String>,
    pub password: Option<Secret>,
    /// Topic templates; placeholders `{network}`, `{sensor}`, `{datastream}`.
    pub topics: Vec<String>,
    /// Shared-subscription group (`$share/<group>/…`): ingest processes of one group split
    /// the stream between them.
    pub shared_group: Option<String>,
    pub protocol: MqttProtocol,
    pub keep_alive_s: u64,
    /// Session expiry for MQTT 5 (seconds); MQTT 3.1.1 sessions persist until cleaned.
    pub session_expiry_s: u32,
    /// Receive window asked from the broker (MQTT 5 Receive Maximum); set the broker's
    /// `max_inflight_messages` to match for MQTT 3.1.1.
    pub receive_maximum: u16,
    /// Watch the broker's count of dropped messages (`$SYS` statistics, see
    /// `intake::broker_stats`); off for a broker whose ACL refuses `$SYS`.
    pub broker_stats: bool,
    /// PEM file of the CA that signed the broker's certificate; system roots when absent.
    pub ca_file: Option<PathBuf>,
    /// SensorThings datastream id → `network/sensor`.
    pub datastreams: BTreeMap<String, String>,
}

impl Default for MqttConfig {
    fn default() -> Self {
        Self {
            url: "mqtt://127.0.0.1:1883".into(),
            client_id: "ilot-ingest-1".into(),
            username: None,
            password: None,
            topics: vec!["ilot/{network}/{sensor}/reading".into(), "v1.1/Datastreams({datastream})/Observations".into()],
            shared_group: None,
            protocol: MqttProtocol::V311,
            keep_alive_s: 30,
            session_expiry_s: 7 * 24 * 3600,
            receive_maximum: 1000,
            broker_stats: true,
            ca_file: None,
            datastreams: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IntakeConfig {
    pub max_payload_bytes: usize,
    pub max_batch_records: usize,
    pub max_future_skew_s: i64,
    pub max_age_days: i64,
    /// Messages waiting for the WAL before the intake stops reading from the broker.
    pub queue_capacity: usize,
    /// `/healthz` fails after the broker connection has been lost this long.
    pub disconnect_grace_s: u64,
    /// `/healthz` fails when subscribed and nothing arrived for this long (0 = never).
    pub max_silence_s: u64,
    pub qc: crate::qc::RangeLimits,
}

impl Default for IntakeConfig {
    fn default() -> Self {
        Self {
            max_payload_bytes: 65_536,
            max_batch_records: 10_000,
            max_future_skew_s: 300,
            max_age_days: 366,
            queue_capacity: 65_536,
            disconnect_grace_s: 0,
            max_silence_s: 0,
            qc: crate::qc::RangeLimits::default(),
        }
    }
}

impl IntakeConfig {
    pub fn decode_limits(&self) -> crate::payload::DecodeLimits {
        crate::payload::DecodeLimits {
            max_payload_bytes: self.max_payload_bytes,
            max_batch_records: self.max_batch_records,
            max_future_skew_ms: self.max_future_skew_s * 1000,
            max_age_ms: self.max_age_days * 86_400_000,
            earliest_ms: i64::MIN,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// Local directory: WAL, and the data files when `url` is unset.
    pub data_dir: PathBuf,
    /// Object store for the data files: `file:///path` or `s3://bucket/prefix`. Defaults to
    /// `data_dir`. S3 credentials come from the usual `AWS_*` environment variables.
    pub url: Option<String>,
    /// Identity of this process's files and manifest; must differ between processes sharing
    /// one store. Defaults to the MQTT client id.
    pub writer_id: Option<String>,
    pub persist_interval_s: u64,
    /// Persist early when this many rows wait in memory (bounds memory at high rates).
    pub max_buffered_rows: usize,
    pub compaction_interval_s: u64,
    /// A day is compacted this long after it ends (late readings still come in before).
    pub compaction_delay_s: u64,
    /// Files replaced by compaction are deleted after this (longer than any query may run).
    pub retired_file_grace_s: u64,
    /// Reload the other writers' manifests (shared subscription, `ilot import`) this often so
    /// this service's queries see their files; 0 = never. Must stay well under
    /// `retired_file_grace_s`.
    pub peer_refresh_s: u64,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./data"),
            url: None,
            writer_id: None,
            persist_interval_s: 300,
            max_buffered_rows: 2_000_000,
            compaction_interval_s: 600,
            compaction_delay_s: 6 * 3600,
            retired_file_grace_s: 600,
            peer_refresh_s: 30,
        }
    }
}
