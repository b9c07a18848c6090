//! Per-reading quality-control flags: a bitmask stored with every reading in `qc_flags`
//! (0 = no check failed). Bits are a public contract (docs/sql.md). Checks that need only the
//! reading itself run at decode time; checks over a sensor's history extend this set.

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

/// Limits of the single-reading checks.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
#[serde(default)]
pub struct RangeLimits {
    pub min_temperature_c: f64,
    pub max_temperature_c: f64,
    pub max_humidity_pct: f64,
}

impl Default for RangeLimits {
    fn default() -> Self {
        Self { min_temperature_c: -40.0, max_temperature_c: 55.0, max_humidity_pct: 100.0 }
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
