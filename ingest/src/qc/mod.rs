//! Per-reading quality-control flags: a bitmask stored with every reading in `qc_flags`
//! (0 = no check failed). Bits are a public contract (docs/sql.md).
//!
//! Checks that need only the reading itself ([`single_reading_flags`]) run in the router at
//! decode time; checks over a sensor's recent history (`STEP`, `STUCK`) run right after, in the
//! intake's sequential decode task, see [`history::SensorHistory`]. Both are set before the WAL
//! commit, so the WAL carries them and a replay reproduces them.

pub mod history;

pub use history::{HistoryLimits, SensorHistory};

use crate::Reading;

/// Temperature outside the plausible range for France (−40 … 55 °C by default).
pub const RANGE: u32 = 1 << 0;
/// Jump larger than the step limit since the sensor's previous reading.
pub const STEP: u32 = 1 << 1;
/// Identical values for too long: a frozen sensor or a platform repeating its last value.
pub const STUCK: u32 = 1 << 2;
/// Measurement time suspicious (ahead of the receive time beyond tolerance, or clock problems).
pub const TIMESTAMP: u32 = 1 << 3;
/// Same sensor and time as a stored reading but another value: kept aside, never overwriting.
pub const CONFLICT: u32 = 1 << 4;
/// Relative humidity above 100 % (accepted up to 110 %, flagged).
pub const HUMIDITY_RANGE: u32 = 1 << 5;
/// The sensor was not in the registry when the reading arrived (policy `flag`). Informational:
/// the analytics use registered sensors, so registering it later brings its history in.
pub const UNKNOWN_SENSOR: u32 = 1 << 6;
/// The bits that disqualify a temperature from the analytics (`qc_flags & 31 = 0` passes; the
/// analytics SQL writes the literal, checked against this constant by a test).
pub const TEMPERATURE_FAILURES: u32 = RANGE | STEP | STUCK | TIMESTAMP | CONFLICT;

/// Limits of the quality checks (`[intake.qc]`): the single-reading ranges, and the history
/// checks in `[intake.qc.history]`.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
#[serde(default)]
pub struct RangeLimits {
    pub min_temperature_c: f64,
    pub max_temperature_c: f64,
    pub max_humidity_pct: f64,
    /// Step and persistence checks over each sensor's last hour.
    #[serde(default)]
    pub history: HistoryLimits,
}

impl Default for RangeLimits {
    fn default() -> Self {
        Self { min_temperature_c: -40.0, max_temperature_c: 55.0, max_humidity_pct: 100.0, history: HistoryLimits::default() }
    }
}

/// Flags that depend on the reading alone.
pub fn single_reading_flags(r: &Reading, limits: &RangeLimits) -> u32 {
    let mut flags = 0;
    let t = r.temperature_c();
    if t < limits.min_temperature_c || t > limits.max_temperature_c {
        flags |= RANGE;
    }
    if r.humidity_pct().is_some_and(|h| h > limits.max_humidity_pct) {
        flags |= HUMIDITY_RANGE;
    }
    if r.ts_ms > r.received_at_ms {
        flags |= TIMESTAMP;
    }
    flags
}

/// The per-reading step every intake path runs (the MQTT router and `ilot import`): the
/// single-reading flags, then the registry's unknown-sensor policy (policy `flag` adds
/// [`UNKNOWN_SENSOR`]). `Err(detail)`: the reading must become an `unknown_sensor` dead letter.
pub fn admit(r: &mut Reading, limits: &RangeLimits, registry: &crate::registry::Registry) -> Result<(), String> {
    r.qc_flags |= single_reading_flags(r, limits);
    if registry.sensor(&r.network, &r.sensor_id).is_some() {
        return Ok(());
    }
    match registry.unknown_sensor_policy(&r.network) {
        crate::registry::UnknownSensorPolicy::Flag => {
            r.qc_flags |= UNKNOWN_SENSOR;
            Ok(())
        }
        crate::registry::UnknownSensorPolicy::DeadLetter => {
            Err(format!("sensor {:?} of network {:?} is not in the registry", r.sensor_id, r.network))
        }
    }
}
