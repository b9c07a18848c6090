//! `Reading`: one air-temperature observation of one sensor, the unit that flows from the MQTT
//! packet to the Parquet row.
//!
//! Values are quantised once, at decode time, to the storage resolution (0.01 °C, 0.1 %RH, 1 mV).
//! That makes "25" and "25.0" the same reading (no int-vs-float duplicates) and makes the
//! Parquet encoding lossless: what is stored is exactly what was accepted.

use serde::{Deserialize, Serialize};

/// Identity of a reading for deduplication: a sensor measures once per instant.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReadingKey {
    pub network: String,
    pub sensor_id: String,
    pub ts_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reading {
    /// Network (city or operator) the sensor belongs to, from the topic.
    pub network: String,
    /// Sensor identifier, unique within its network.
    pub sensor_id: String,
    /// Measurement time, milliseconds since the Unix epoch, UTC (the time the sensor says).
    pub ts_ms: i64,
    /// Air temperature in hundredths of a degree Celsius.
    pub temperature_centi_c: i16,
    /// Relative humidity in tenths of a percent.
    pub humidity_deci_pct: Option<i16>,
    /// Battery voltage in millivolts.
    pub battery_mv: Option<i32>,
    /// Device sequence number, when the firmware sends one.
    pub seq: Option<u64>,
    /// Time the service received the message, milliseconds since the Unix epoch, UTC.
    pub received_at_ms: i64,
    /// Quality-control bitmask, see [`crate::qc`].
    pub qc_flags: u32,
}

#[cfg(test)]
impl Reading {
    /// A temperature-only reading of network `n`, for unit tests.
    pub(crate) fn sample(sensor: &str, ts_ms: i64, centi: i16) -> Self {
        Reading {
            network: "n".into(),
            sensor_id: sensor.into(),
            ts_ms,
            temperature_centi_c: centi,
            humidity_deci_pct: None,
            battery_mv: None,
            seq: None,
            received_at_ms: 0,
            qc_flags: 0,
        }
    }
}

impl Reading {
    pub fn key(&self) -> ReadingKey {
        ReadingKey { network: self.network.clone(), sensor_id: self.sensor_id.clone(), ts_ms: self.ts_ms }
    }

    pub fn temperature_c(&self) -> f64 {
        f64::from(self.temperature_centi_c) / 100.0
    }

    pub fn humidity_pct(&self) -> Option<f64> {
        self.humidity_deci_pct.map(|h| f64::from(h) / 10.0)
    }

    pub fn battery_v(&self) -> Option<f64> {
        self.battery_mv.map(|b| f64::from(b) / 1000.0)
    }

    /// True when two readings of the same key carry the same measured values
    /// (a redelivery or a device resend, not a conflict).
    pub fn same_values(&self, other: &Reading) -> bool {
        self.temperature_centi_c == other.temperature_centi_c
            && self.humidity_deci_pct == other.humidity_deci_pct
            && self.battery_mv == other.battery_mv
    }
}

/// Quantise a temperature in °C to centi-degrees. `None` when it does not fit (the caller has
/// already rejected physically impossible values, so this only guards the cast).
pub fn quantize_centi(value: f64) -> Option<i16> {
    let q = (value * 100.0).round();
    (q >= f64::from(i16::MIN) && q <= f64::from(i16::MAX)).then_some(q as i16)
}

/// Quantise a relative humidity in % to tenths of a percent.
pub fn quantize_deci(value: f64) -> Option<i16> {
    let q = (value * 10.0).round();
    (q >= f64::from(i16::MIN) && q <= f64::from(i16::MAX)).then_some(q as i16)
}

/// Quantise a voltage in V to millivolts.
pub fn quantize_milli(value: f64) -> Option<i32> {
    let q = (value * 1000.0).round();
    (q >= f64::from(i32::MIN) && q <= f64::from(i32::MAX)).then_some(q as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_and_float_spellings_are_the_same_reading() {
        assert_eq!(quantize_centi(25.0), quantize_centi(25.0000000001));
        assert_eq!(quantize_centi(24.31), Some(2431));
        assert_eq!(quantize_centi(-3.25), Some(-325));
        assert_eq!(quantize_deci(51.25), Some(513));
    }
}
