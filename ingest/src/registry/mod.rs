//! The sensor registry: networks ([`Network`]: UHI reference, night window, canicule
//! thresholds, unknown-sensor policy) and their stations ([`Sensor`]: coordinates, elevation,
//! LCZ, role, cadence …).
//!
//! Sources, in order: the registry last saved by the admin API (`_ilot/registry.json` in the
//! object store, shared by every writer and by `ilot sql`), overlaid by the configuration
//! (`[registry.networks.*]` and the `sensor_files`): what the files say wins at start, what the
//! admin API changes is saved at once. [`RegistryHandle`] hands out immutable snapshots, so a
//! reader never sees half an update.

mod file;
mod network;
mod sensor;
pub mod thresholds;

pub use file::{SensorFileError, parse_sensors, read_sensors};
pub use network::{CrowdQcLevel, IbmAlignment, Network, NightMode, ReferenceMode, ThresholdsInForce, UnknownSensorPolicy};
pub use sensor::{DEFAULT_CADENCE_S, Lcz, Sensor, SensorRole};

use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

/// `[registry]` in `ilot.toml`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RegistryConfig {
    /// CSV or GeoJSON files of sensors, loaded at start.
    pub sensor_files: Vec<PathBuf>,
    /// Settings per network.
    pub networks: BTreeMap<String, Network>,
    /// Policy for unknown sensors of networks that have no settings.
    pub unknown_sensors: UnknownSensorPolicy,
}

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error(transparent)]
    File(#[from] SensorFileError),
    #[error("invalid registry entry: {0}")]
    Invalid(String),
    #[error("registry storage: {0}")]
    Storage(#[from] object_store::Error),
    #[error("stored registry {path} is corrupt: {detail}")]
    Corrupt { path: String, detail: String },
}

/// One consistent view of the registry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Registry {
    pub networks: BTreeMap<String, Network>,
    /// Sorted by (network, sensor_id).
    pub sensors: Vec<Sensor>,
    pub unknown_sensors: UnknownSensorPolicy,
}

impl Registry {
    pub fn sensor(&self, network: &str, sensor_id: &str) -> Option<&Sensor> {
        self.sensors
            .binary_search_by(|s| (s.network.as_str(), s.sensor_id.as_str()).cmp(&(network, sensor_id)))
            .ok()
            .map(|i| &self.sensors[i])
    }

    pub fn network(&self, name: &str) -> Option<&Network> {
        self.networks.get(name)
    }

    /// Every network that has settings or sensors, with its settings (defaults when none).
    pub fn network_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.networks.keys().cloned().collect();
        names.extend(self.sensors.iter().map(|s| s.network.clone()));
        names.sort();
        names.dedup();
        names
    }

    pub fn settings(&self, network: &str) -> Network {
        self.networks.get(network).cloned().unwrap_or_else(|| Network { unknown_sensors: self.unknown_sensors, ..Network::default() })
    }

    /// The quality-control thresholds of `network`: `base` (`[intake.qc]`) with the network's
    /// own `qc` keys.
    pub fn qc_limits(&self, network: &str, base: &crate::qc::RangeLimits) -> crate::qc::RangeLimits {
        self.networks.get(network).map_or_else(|| base.clone(), |n| n.qc.apply(base))
    }

    pub fn unknown_sensor_policy(&self, network: &str) -> UnknownSensorPolicy {
        self.networks.get(network).map_or(self.unknown_sensors, |n| n.unknown_sensors)
    }

    /// The stations the network's UHI reference is formed from: the configured ones, or every
    /// `rural` station (`min`, `mean`), or every station (`network_mean`).
    pub fn reference_sensors(&self, network: &str) -> Vec<String> {
        let settings = self.settings(network);
        let of_network = self.sensors.iter().filter(|s| s.network == network);
        match settings.reference_mode {
            ReferenceMode::NetworkMean => of_network.map(|s| s.sensor_id.clone()).collect(),
            _ if !settings.reference_sensors.is_empty() => settings.reference_sensors.clone(),
            _ => of_network.filter(|s| s.role == SensorRole::Rural).map(|s| s.sensor_id.clone()).collect(),
        }
    }

    /// Add or replace sensors (by network and sensor_id), each validated; the number upserted.
    pub fn upsert_sensors(&mut self, sensors: impl IntoIterator<Item = Sensor>) -> Result<usize, RegistryError> {
        let mut n = 0;
        for s in sensors {
            s.validate().map_err(RegistryError::Invalid)?;
            match self.sensors.binary_search_by(|x| (x.network.as_str(), x.sensor_id.as_str()).cmp(&(&s.network, &s.sensor_id))) {
                Ok(i) => self.sensors[i] = s,
                Err(i) => self.sensors.insert(i, s),
            }
            n += 1;
        }
        Ok(n)
    }

    /// Once per load: which networks have stations without coordinates, and what they miss.
    fn warn_unplaced(&self) {
        let mut unplaced: BTreeMap<&str, usize> = BTreeMap::new();
        for s in self.sensors.iter().filter(|s| s.lat.is_none()) {
            *unplaced.entry(s.network.as_str()).or_default() += 1;
        }
        for (network, stations) in unplaced {
            tracing::warn!(
                network,
                stations,
                "stations without coordinates: no CrowdQC+ (m1 fails them, so no analytics in a crowdsourced network), no sun-based night \
                 (night_mode = sun), no place on maps"
            );
        }
    }

    fn check(&self) -> Result<(), RegistryError> {
        for (name, n) in &self.networks {
            n.validate(name).map_err(RegistryError::Invalid)?;
            for r in &n.reference_sensors {
                if self.sensor(name, r).is_none() && !self.sensors.iter().all(|s| &s.network != name) {
                    return Err(RegistryError::Invalid(format!("network {name}: reference sensor {r:?} is not registered")));
                }
            }
        }
        Ok(())
    }
}

/// The live registry: snapshots for readers, saved changes for the admin API.
pub struct RegistryHandle {
    current: RwLock<Arc<Registry>>,
    store: Arc<dyn ObjectStore>,
    save: tokio::sync::Mutex<()>,
}

impl RegistryHandle {
    /// The saved registry overlaid by the configuration.
    pub async fn open(store: Arc<dyn ObjectStore>, config: &RegistryConfig) -> Result<Arc<Self>, RegistryError> {
        let path = crate::layout::registry_path();
        let mut registry = match store.get(&path).await {
            Ok(got) => {
                let bytes = got.bytes().await?;
                serde_json::from_slice::<Registry>(&bytes).map_err(|e| RegistryError::Corrupt { path: path.to_string(), detail: e.to_string() })?
            }
            Err(object_store::Error::NotFound { .. }) => Registry::default(),
            Err(e) => return Err(e.into()),
        };
        registry.unknown_sensors = config.unknown_sensors;
        registry.networks.extend(config.networks.clone());
        for f in &config.sensor_files {
            let sensors = read_sensors(f)?;
            tracing::info!(file = %f.display(), sensors = sensors.len(), "sensor registry file loaded");
            registry.upsert_sensors(sensors)?;
        }
        registry.check()?;
        registry.warn_unplaced();
        Ok(Arc::new(Self { current: RwLock::new(Arc::new(registry)), store, save: tokio::sync::Mutex::new(()) }))
    }

    /// A registry that is never saved (tests, tools).
    pub fn in_memory(registry: Registry) -> Arc<Self> {
        Arc::new(Self {
            current: RwLock::new(Arc::new(registry)),
            store: Arc::new(object_store::memory::InMemory::new()),
            save: tokio::sync::Mutex::new(()),
        })
    }

    pub fn snapshot(&self) -> Arc<Registry> {
        self.current.read().expect("registry lock").clone()
    }

    /// Apply a change and save the result; nothing changes if it is invalid or cannot be saved.
    async fn update(&self, change: impl FnOnce(&mut Registry) -> Result<(), RegistryError>) -> Result<Arc<Registry>, RegistryError> {
        let _one_at_a_time = self.save.lock().await;
        let mut next = (*self.snapshot()).clone();
        change(&mut next)?;
        next.check()?;
        let json = serde_json::to_vec_pretty(&next).expect("registry serialises");
        self.store.put(&crate::layout::registry_path(), PutPayload::from(json)).await?;
        let next = Arc::new(next);
        *self.current.write().expect("registry lock") = next.clone();
        metrics::gauge!("ilot_registry_sensors").set(next.sensors.len() as f64);
        Ok(next)
    }

    /// Save the registry in force (the saved one overlaid by the configuration), so that
    /// `ilot sql`, `ilot qc` and other writers see what this service uses.
    pub async fn save(&self) -> Result<(), RegistryError> {
        self.update(|_| Ok(())).await.map(drop)
    }

    pub async fn upsert_sensors(&self, sensors: Vec<Sensor>) -> Result<usize, RegistryError> {
        let mut n = 0;
        self.update(|r| {
            n = r.upsert_sensors(sensors)?;
            Ok(())
        })
        .await?;
        Ok(n)
    }

    /// Remove a sensor; false when it was not registered.
    pub async fn remove_sensor(&self, network: &str, sensor_id: &str) -> Result<bool, RegistryError> {
        let mut found = false;
        self.update(|r| {
            let before = r.sensors.len();
            r.sensors.retain(|s| !(s.network == network && s.sensor_id == sensor_id));
            found = r.sensors.len() < before;
            Ok(())
        })
        .await?;
        Ok(found)
    }

    pub async fn put_network(&self, name: &str, settings: Network) -> Result<(), RegistryError> {
        self.update(|r| {
            r.networks.insert(name.to_owned(), settings);
            Ok(())
        })
        .await
        .map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sensor(network: &str, id: &str, role: SensorRole) -> Sensor {
        Sensor { role, ..Sensor::new(network, id, 43.6, 1.44) }
    }

    #[tokio::test]
    async fn changes_are_saved_and_survive_a_reopen_under_the_configuration() {
        let store: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
        let mut config = RegistryConfig::default();
        config.networks.insert("toulouse".into(), Network { departement: Some("31".into()), ..Network::default() });
        let reg = RegistryHandle::open(store.clone(), &config).await.unwrap();
        reg.upsert_sensors(vec![sensor("toulouse", "tls-002", SensorRole::Urban), sensor("toulouse", "tls-001", SensorRole::Rural)]).await.unwrap();
        assert_eq!(reg.snapshot().reference_sensors("toulouse"), ["tls-001"], "mean of the rural set by default");
        assert!(reg.remove_sensor("toulouse", "tls-002").await.unwrap());
        assert!(!reg.remove_sensor("toulouse", "nope").await.unwrap());
        let bad = Network { reference_mode: ReferenceMode::Single, ..Network::default() };
        assert!(reg.put_network("toulouse", bad).await.is_err());
        assert_eq!(reg.snapshot().settings("toulouse").departement.as_deref(), Some("31"), "a refused change changes nothing");

        let reopened = RegistryHandle::open(store, &config).await.unwrap().snapshot();
        assert_eq!(reopened.sensors.len(), 1);
        assert!(reopened.sensor("toulouse", "tls-001").is_some());
    }

    #[test]
    fn an_unconfigured_network_gets_the_default_policy() {
        let r = Registry { unknown_sensors: UnknownSensorPolicy::DeadLetter, ..Registry::default() };
        assert_eq!(r.unknown_sensor_policy("anywhere"), UnknownSensorPolicy::DeadLetter);
        assert_eq!(r.settings("anywhere").night_start_utc_hour, 21);
    }
}
