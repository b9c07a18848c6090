//! Simulated street air-temperature sensor fleets for ilot: realistic urban and rural readings
//! (seasonal and diurnal cycles, Local Climate Zone heat-island offsets, heat waves), sensor and
//! transport faults, and an MQTT publisher that paces on simulated time and waits for every
//! PUBACK.
//!
//! Used for demos, as the exactly-countable source of the integration tests and as the load
//! generator of the benchmarks. What a sensor measures is a function of the seed, the sensor and
//! the measurement time (not of where the run starts): a restarted simulator resends the same
//! readings, which ilot stores once and counts as duplicates.
//!
//! ```no_run
//! # async fn demo() -> Result<(), ilot_firmware_sim::SimError> {
//! use ilot_firmware_sim::{Fleet, MqttTarget, SimConfig, publish};
//! let fleet = Fleet::new(SimConfig { sensors: 90, readings_per_sensor: Some(288), seed: 7, ..SimConfig::default() })?;
//! let stats = publish(&MqttTarget::default(), fleet.messages(), f64::INFINITY, None).await?;
//! assert_eq!(Some(stats.readings), fleet.expected_distinct_readings());
//! # Ok(()) }
//! ```
//!
//! Modules, from the science to the wire: `city` (profiles) → `lcz` (zones and their offsets) →
//! `sensor` (a sensor and the fleet layout) → `climate` (temperature and humidity model) →
//! `faults` (fault vocabulary) → `payload` (canonical JSON and topic) → `fleet` and `stream`
//! (the deterministic message stream) → `publisher` and `connection` (MQTT, QoS 1). `registry`
//! writes the fleet as the sensor file ilot's registry reads ([`Fleet::registry_csv`],
//! [`Fleet::registry_geojson`]).
//!
//! `ilot sim --scenario-file` reads a [`SimConfig`] from TOML: the format, its precedence over
//! the command line and the examples of `scenarios/` are in the crate's `README.md`.

pub mod city;
pub mod climate;
mod config;
mod connection;
mod error;
mod faults;
mod fleet;
mod lcz;
pub mod local_broker;
mod payload;
mod publisher;
mod registry;
mod sensor;
mod stream;

pub use city::{CITIES, CityProfile};
pub use climate::Climate;
pub use config::{FLAT_BATTERY_V, FailureConfig, FaultConfig, MAX_OFFLINE_STEPS, Scenario, SimConfig};
pub use error::SimError;
pub use faults::{Anomalies, Anomaly, MalformedKind};
pub use fleet::{Fleet, MessageKind, SimMessage};
pub use lcz::{Lcz, SensorRole};
pub use payload::{ReadingPayload, reading_topic};
pub use publisher::{MqttTarget, PublishStats, publish};
pub use registry::{REGISTRY_CSV_COLUMNS, REGISTRY_PROVIDER};
pub use sensor::{SimSensor, rural_reference_count};
pub use stream::MessageStream;
