//! Fault vocabulary: what can be wrong with a published reading ([`Anomaly`]) and the varieties
//! of undecodable messages ([`MalformedKind`]) the ingest must dead-letter.
//!
//! Every malformed variety is invalid for any reasonable decoder of the canonical payload (no
//! "lenient" reading could accept it), so the count of valid readings stays exact.

use crate::ReadingPayload;

/// Something wrong inside a message that still decodes: the ingest stores it, QC flags it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Anomaly {
    /// Published after a later reading of the same sensor.
    OutOfOrder,
    /// Temperature and humidity frozen at an earlier value.
    Stuck,
    /// Temperature 8–15 K too warm for one reading.
    Spike,
    /// `ts` shifted by the sensor's clock error.
    ClockSkew,
}

/// Set of [`Anomaly`]s carried by a message (a backlog array carries the union of its readings').
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Anomalies(u8);

impl Anomalies {
    pub fn contains(self, anomaly: Anomaly) -> bool {
        self.0 & Self::bit(anomaly) != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub(crate) fn insert(&mut self, anomaly: Anomaly) {
        self.0 |= Self::bit(anomaly);
    }

    pub(crate) fn union(self, other: Anomalies) -> Anomalies {
        Anomalies(self.0 | other.0)
    }

    fn bit(anomaly: Anomaly) -> u8 {
        1 << anomaly as u8
    }
}

/// Varieties of undecodable messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MalformedKind {
    /// Zero-byte body.
    Empty,
    /// Firmware debug output instead of JSON, with non-UTF-8 bytes.
    NotJson,
    /// Valid payload cut off in the middle (radio frame lost).
    Truncated,
    /// Object without `temperature_c`.
    MissingTemperature,
    /// Temperature as a French-locale string: `"temperature_c":"24,31"`.
    TemperatureAsText,
    /// Number out of the f64 range: `"temperature_c":1e999`.
    OutOfRangeNumber,
    /// Wrong JSON types: `"ts":null`, `"temperature_c":[24.31]`.
    WrongTypes,
}

pub(crate) const MALFORMED_KINDS: [MalformedKind; 7] = [
    MalformedKind::Empty,
    MalformedKind::NotJson,
    MalformedKind::Truncated,
    MalformedKind::MissingTemperature,
    MalformedKind::TemperatureAsText,
    MalformedKind::OutOfRangeNumber,
    MalformedKind::WrongTypes,
];

impl MalformedKind {
    /// A body of this kind derived from a real reading (same sensor and time).
    pub fn body(self, reading: &ReadingPayload) -> Vec<u8> {
        let ReadingPayload {
            sensor,
            temperature_c,
            humidity_pct,
            battery_v,
            seq,
            ..
        } = reading;
        let ts = reading
            .ts
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        match self {
            MalformedKind::Empty => Vec::new(),
            MalformedKind::NotJson => {
                let mut body = format!("ERR {sensor} i2c timeout t=").into_bytes();
                body.extend_from_slice(&[0xff, 0xfe, 0x00, 0x17]);
                body
            }
            MalformedKind::Truncated => {
                let mut body = reading.to_json();
                body.truncate(body.len() / 2);
                body
            }
            MalformedKind::MissingTemperature => format!(
                r#"{{"sensor":"{sensor}","ts":"{ts}","humidity_pct":{humidity_pct},"battery_v":{battery_v},"seq":{seq}}}"#
            )
            .into_bytes(),
            MalformedKind::TemperatureAsText => {
                let text = format!("{temperature_c:.2}").replace('.', ",");
                format!(
                    r#"{{"sensor":"{sensor}","ts":"{ts}","temperature_c":"{text}","humidity_pct":{humidity_pct},"battery_v":{battery_v},"seq":{seq}}}"#
                )
                .into_bytes()
            }
            MalformedKind::OutOfRangeNumber => format!(
                r#"{{"sensor":"{sensor}","ts":"{ts}","temperature_c":1e999,"humidity_pct":{humidity_pct},"battery_v":{battery_v},"seq":{seq}}}"#
            )
            .into_bytes(),
            MalformedKind::WrongTypes => format!(
                r#"{{"sensor":"{sensor}","ts":null,"temperature_c":[{temperature_c}],"humidity_pct":{humidity_pct},"battery_v":{battery_v},"seq":{seq}}}"#
            )
            .into_bytes(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    #[test]
    fn anomaly_sets() {
        let mut set = Anomalies::default();
        assert!(set.is_empty());
        set.insert(Anomaly::Spike);
        let both = set.union({
            let mut other = Anomalies::default();
            other.insert(Anomaly::ClockSkew);
            other
        });
        assert!(both.contains(Anomaly::Spike) && both.contains(Anomaly::ClockSkew));
        assert!(!both.contains(Anomaly::Stuck) && !both.contains(Anomaly::OutOfOrder));
    }

    #[test]
    fn every_malformed_kind_fails_to_decode() {
        let ts = Utc.with_ymd_and_hms(2025, 7, 1, 12, 5, 0).unwrap();
        let reading = ReadingPayload::rounded("tls-001", ts, 24.31, 51.2, 3.61, 1234);
        for kind in MALFORMED_KINDS {
            let body = kind.body(&reading);
            assert!(
                ReadingPayload::decode(&body).is_err(),
                "{kind:?}: {}",
                String::from_utf8_lossy(&body)
            );
            assert_ne!(body, reading.to_json());
        }
        let text = String::from_utf8(MalformedKind::TemperatureAsText.body(&reading)).unwrap();
        assert!(text.contains(r#""temperature_c":"24,31""#), "{text}");
        // Structurally valid JSON except where it is meant not to be.
        let as_value =
            |kind: MalformedKind| serde_json::from_slice::<serde_json::Value>(&kind.body(&reading));
        assert!(as_value(MalformedKind::MissingTemperature).is_ok());
        assert!(as_value(MalformedKind::WrongTypes).is_ok());
        assert!(as_value(MalformedKind::OutOfRangeNumber).is_err());
    }
}
