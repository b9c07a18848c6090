//! OGC SensorThings API v1.1 Observations, as created over MQTT on
//! `v1.1/Datastreams(<id>)/Observations`:
//! `{"phenomenonTime":"2025-07-01T12:05:00Z","resultTime":"2025-07-01T12:05:02Z","result":24.3}`.
//!
//! - The sensor is the one the caller mapped the Datastream to ([`super::Origin::sensor`]).
//! - `result` is the air temperature in °C (a number; strings are `WrongType`).
//! - `phenomenonTime` is required (ilot never substitutes its own clock for the sensor's): an RFC
//!   3339 instant, or an interval `start/end`, of which the end is the measurement time.
//! - `resultTime`, `resultQuality`, `parameters` and other properties are not read.

use super::validate::{self, Fields, Invalid, required};
use super::{Context, Measures};
use crate::reading::Reading;

/// Keys that tell an Observation.
const KEYS: [&str; 2] = ["result", "phenomenonTime"];

/// Whether an object is meant as an Observation.
pub(super) fn looks_like(fields: &Fields<'_>) -> bool {
    KEYS.iter().any(|key| fields.has(key))
}

/// One Observation. Checks run in this order: sensor, time, result.
pub(super) fn decode(context: &Context<'_>, fields: &Fields<'_>) -> Result<Reading, Invalid> {
    let sensor = context.sensor(None)?;
    let ts_ms = context.time(phenomenon_time(fields)?)?;
    let result = required("result", fields.number("result")?)?;
    let measures = Measures {
        temperature_centi_c: validate::temperature_c("result", result)?,
        humidity_deci_pct: None,
        battery_mv: None,
        seq: None,
    };
    Ok(context.reading(sensor, ts_ms, measures))
}

/// `phenomenonTime` as UTC milliseconds: the instant, or the end of the interval.
fn phenomenon_time(fields: &Fields<'_>) -> Result<i64, Invalid> {
    const FIELD: &str = "phenomenonTime";
    let text = required(FIELD, fields.string(FIELD)?)?;
    let Some((start, end)) = text.split_once('/') else {
        return validate::rfc3339_ms(FIELD, &text);
    };
    let (start_ms, end_ms) = (validate::rfc3339_ms(FIELD, start)?, validate::rfc3339_ms(FIELD, end)?);
    if end_ms < start_ms {
        return Err(Invalid::BadTime {
            field: FIELD,
            text: validate::excerpt(&text),
            why: "the interval ends before it starts".to_owned(),
        });
    }
    Ok(end_ms)
}

#[cfg(test)]
mod tests {
    use super::super::tests::{T0_MS, decode_default, origin};
    use crate::DeadLetterReason;

    #[test]
    fn observation_decodes_with_the_mapped_sensor() {
        let payload = br#"{"phenomenonTime":"2025-07-01T12:05:00Z","resultTime":"2025-07-01T12:05:02Z","result":24.3}"#;
        let decoded = decode_default(&origin(Some("tls-042")), payload);
        let [reading] = decoded.readings.as_slice() else { panic!("{decoded:?}") };
        assert_eq!((reading.sensor_id.as_str(), reading.ts_ms, reading.temperature_centi_c), ("tls-042", T0_MS, 2430));
        assert_eq!((reading.humidity_deci_pct, reading.battery_mv, reading.seq), (None, None, None));
    }

    #[test]
    fn result_time_is_optional_and_an_interval_gives_its_end() {
        let payload = br#"{"phenomenonTime":"2025-07-01T12:00:00Z/2025-07-01T12:05:00Z","result":24}"#;
        let decoded = decode_default(&origin(Some("tls-042")), payload);
        assert_eq!(decoded.readings.iter().map(|r| r.ts_ms).collect::<Vec<_>>(), [T0_MS]);
    }

    #[test]
    fn refusals() {
        for (payload, sensor, reason) in [
            (&br#"{"phenomenonTime":"2025-07-01T12:05:00Z","result":24}"#[..], None, DeadLetterReason::MissingField),
            (br#"{"result":24}"#, Some("s"), DeadLetterReason::MissingField),
            (br#"{"phenomenonTime":"2025-07-01T12:05:00Z"}"#, Some("s"), DeadLetterReason::MissingField),
            (br#"{"phenomenonTime":"2025-07-01T12:05:00Z","result":{"t":24}}"#, Some("s"), DeadLetterReason::WrongType),
            (br#"{"phenomenonTime":1751371500,"result":24}"#, Some("s"), DeadLetterReason::WrongType),
            (
                br#"{"phenomenonTime":"2025-07-01T12:00:00Z/PT5M","result":24}"#,
                Some("s"),
                DeadLetterReason::InvalidTimestamp,
            ),
            (
                br#"{"phenomenonTime":"2025-07-01T13:00:00Z","result":24}"#,
                Some("s"),
                DeadLetterReason::TimestampInFuture,
            ),
            (
                br#"{"phenomenonTime":"2025-07-01T12:05:00Z","result":-95}"#,
                Some("s"),
                DeadLetterReason::ImpossibleValue,
            ),
        ] {
            let decoded = decode_default(&origin(sensor), payload);
            assert!(decoded.readings.is_empty());
            assert_eq!(decoded.dead_letters[0].reason, reason, "{}", String::from_utf8_lossy(payload));
        }
    }
}
