//! The canonical ilot reading payload and topic, as the ingest side decodes them.
//!
//! Topic `{prefix}/{network}/{sensor}/reading`; body one JSON object
//! `{"sensor":"tls-001","ts":"2025-07-01T12:05:00Z","temperature_c":24.31,"humidity_pct":51.2,"battery_v":3.61,"seq":1234}`
//! or, for a backlog upload, a JSON array of such objects. Values are rounded to the storage
//! resolution (0.01 °C, 0.1 %RH, 1 mV) before they are written.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::sensor::round_to;

/// One reading as published.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReadingPayload {
    pub sensor: String,
    /// Measurement time as the sensor's clock says it, RFC 3339 UTC with `Z`, whole seconds.
    #[serde(with = "rfc3339_seconds")]
    pub ts: DateTime<Utc>,
    pub temperature_c: f64,
    pub humidity_pct: f64,
    pub battery_v: f64,
    /// Per-sensor sequence number, +1 per measurement.
    pub seq: u64,
}

impl ReadingPayload {
    /// A reading with values rounded to the published resolution.
    pub fn rounded(
        sensor: &str,
        ts: DateTime<Utc>,
        temperature_c: f64,
        humidity_pct: f64,
        battery_v: f64,
        seq: u64,
    ) -> ReadingPayload {
        ReadingPayload {
            sensor: sensor.to_owned(),
            ts,
            temperature_c: round_to(temperature_c, 100.0),
            humidity_pct: round_to(humidity_pct, 10.0),
            battery_v: round_to(battery_v, 1000.0),
            seq,
        }
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Body of a backlog upload: the readings as one JSON array.
    pub fn array_to_json(readings: &[ReadingPayload]) -> Vec<u8> {
        serde_json::to_vec(readings).unwrap_or_default()
    }

    /// Decode a body: one object or an array of objects.
    pub fn decode(body: &[u8]) -> Result<Vec<ReadingPayload>, serde_json::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Body {
            One(ReadingPayload),
            Many(Vec<ReadingPayload>),
        }
        match serde_json::from_slice(body)? {
            Body::One(reading) => Ok(vec![reading]),
            Body::Many(readings) => Ok(readings),
        }
    }
}

/// `{prefix}/{network}/{sensor}/reading`.
pub fn reading_topic(prefix: &str, network: &str, sensor: &str) -> String {
    format!("{prefix}/{network}/{sensor}/reading")
}

mod rfc3339_seconds {
    use chrono::{DateTime, SecondsFormat, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(ts: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&ts.to_rfc3339_opts(SecondsFormat::Secs, true))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<DateTime<Utc>, D::Error> {
        let text = String::deserialize(deserializer)?;
        DateTime::parse_from_rfc3339(&text)
            .map(|ts| ts.to_utc())
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const CANONICAL: &str = r#"{"sensor":"tls-001","ts":"2025-07-01T12:05:00Z","temperature_c":24.31,"humidity_pct":51.2,"battery_v":3.61,"seq":1234}"#;

    fn example() -> ReadingPayload {
        let ts = Utc.with_ymd_and_hms(2025, 7, 1, 12, 5, 0).unwrap();
        ReadingPayload::rounded("tls-001", ts, 24.3149, 51.23, 3.6101, 1234)
    }

    #[test]
    fn serializes_to_the_canonical_form() {
        assert_eq!(String::from_utf8(example().to_json()).unwrap(), CANONICAL);
        assert_eq!(
            reading_topic("ilot", "toulouse", "tls-001"),
            "ilot/toulouse/tls-001/reading"
        );
    }

    #[test]
    fn round_trips_objects_and_arrays() {
        assert_eq!(
            ReadingPayload::decode(CANONICAL.as_bytes()).unwrap(),
            vec![example()]
        );
        let mut second = example();
        second.ts += chrono::TimeDelta::minutes(5);
        second.seq += 1;
        let batch = vec![example(), second];
        let body = ReadingPayload::array_to_json(&batch);
        assert!(body.starts_with(b"[{") && body.ends_with(b"}]"));
        assert_eq!(ReadingPayload::decode(&body).unwrap(), batch);
    }

    #[test]
    fn rounds_to_the_storage_resolution() {
        let ts = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap();
        let reading = ReadingPayload::rounded("x", ts, -3.25648, 99.96, 3.59951, 0);
        assert_eq!(
            (
                reading.temperature_c,
                reading.humidity_pct,
                reading.battery_v
            ),
            (-3.26, 100.0, 3.6)
        );
        let text = String::from_utf8(reading.to_json()).unwrap();
        assert!(
            text.contains(r#""ts":"2025-01-01T00:00:00Z""#)
                && text.contains(r#""temperature_c":-3.26,"#),
            "{text}"
        );
    }
}
