//! Per-reading quality-control flags: a bitmask stored with every reading in `qc_flags`
//! (0 = no check failed). Bits are a public contract (docs/sql.md).
//!
//! Checks that need only the reading itself ([`single_reading_flags`]) run in the router at
//! decode time; checks over a sensor's history (`STEP`, `STUCK`) run right after, in the
//! intake's sequential decode task, see [`history::SensorHistory`]. Both are set before the WAL
//! commit, so the WAL carries them and a replay reproduces them; a run found stuck later marks
//! its earlier readings through a [`StuckRun`] logged in the WAL. Every threshold can be set
//! per network ([`QcOverrides`]), and `requalify` recomputes the flags of stored readings after
//! a rule or registry change.

pub mod history;

pub use history::{DayByDay, HistoryLimits, SensorHistory, StuckRun};

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
/// The bits the history checks set.
pub const HISTORY_FLAGS: u32 = STEP | STUCK;
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
    /// Step and persistence checks over each sensor's history.
    #[serde(default)]
    pub history: HistoryLimits,
}

/// A threshold that cannot work: its key within `[intake.qc]` and why.
#[derive(Debug, thiserror::Error)]
#[error("{key}: {message}")]
pub struct QcLimitError {
    pub key: &'static str,
    pub message: String,
}

impl RangeLimits {
    /// Refuse thresholds that cannot work.
    pub fn check(&self) -> Result<(), QcLimitError> {
        let fail = |key, message: String| Err(QcLimitError { key, message });
        if self.min_temperature_c.is_nan() || self.max_temperature_c.is_nan() || self.min_temperature_c >= self.max_temperature_c {
            return fail("max_temperature_c", format!("{} must be above min_temperature_c ({})", self.max_temperature_c, self.min_temperature_c));
        }
        let h = &self.history;
        for (key, value) in [("max_humidity_pct", self.max_humidity_pct), ("history.step_limit_k", h.step_limit_k)] {
            if value.is_nan() || value <= 0.0 {
                return fail(key, "must be above 0".into());
            }
        }
        if h.step_cadence_s == 0 {
            return fail("history.step_cadence_s", "must be above 0".into());
        }
        if h.stuck_window_s == 0 || h.stuck_window_s > history::MAX_STUCK_WINDOW_S {
            return fail("history.stuck_window_s", format!("must be in 1..={} s", history::MAX_STUCK_WINDOW_S));
        }
        if h.stuck_min_samples < 2 {
            return fail("history.stuck_min_samples", "must be at least 2".into());
        }
        Ok(())
    }
}

/// One network's quality-control thresholds (`[registry.networks.<name>.qc]`): each key set
/// replaces the one of `[intake.qc]` (or `[intake.qc.history]`), so that an hourly
/// crowdsourced network and a 5-minute municipal one live in the same store.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct QcOverrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_temperature_c: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_temperature_c: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_humidity_pct: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step_limit_k: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step_cadence_s: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stuck_window_s: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stuck_min_samples: Option<u32>,
}

impl QcOverrides {
    /// `base` with these overrides.
    pub fn apply(&self, base: &RangeLimits) -> RangeLimits {
        let h = &base.history;
        RangeLimits {
            min_temperature_c: self.min_temperature_c.unwrap_or(base.min_temperature_c),
            max_temperature_c: self.max_temperature_c.unwrap_or(base.max_temperature_c),
            max_humidity_pct: self.max_humidity_pct.unwrap_or(base.max_humidity_pct),
            history: HistoryLimits {
                step_limit_k: self.step_limit_k.unwrap_or(h.step_limit_k),
                step_cadence_s: self.step_cadence_s.unwrap_or(h.step_cadence_s),
                stuck_window_s: self.stuck_window_s.unwrap_or(h.stuck_window_s),
                stuck_min_samples: self.stuck_min_samples.unwrap_or(h.stuck_min_samples),
            },
        }
    }
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
/// `limits`: `[intake.qc]`, which the network's own thresholds override.
pub fn admit(r: &mut Reading, limits: &RangeLimits, registry: &crate::registry::Registry) -> Result<(), String> {
    r.qc_flags |= single_reading_flags(r, &registry.qc_limits(&r.network, limits));
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
