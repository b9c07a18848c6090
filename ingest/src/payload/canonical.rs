//! The canonical ilot JSON record, alone or in an array (a device uploading its backlog):
//! `{"sensor":"tls-042","ts":"2025-07-01T12:05:00Z","temperature_c":24.31,"humidity_pct":51.2,
//! "battery_v":3.61,"seq":1234}`.
//!
//! - `sensor`: optional when the topic names it; if both do, they must be equal.
//! - `ts`: an RFC 3339 string with its UTC offset, or a number of seconds since the Unix epoch
//!   (fractions allowed).
//! - `temperature_c` (°C) required; `humidity_pct` (%), `battery_v` (V) and `seq` (unsigned
//!   integer) optional. Null means absent; unknown fields are ignored.
//! - Strict types: a number given as a JSON string (`"24.3"`) is `WrongType`. Integers and floats
//!   are the same number (`25` == `25.0`).

use super::validate::{self, Fields, Invalid, JsonKind, required};
use super::{Context, Decoded, Measures, Record};
use crate::reading::Reading;

/// Keys that only a canonical record has.
const KEYS: [&str; 4] = ["temperature_c", "ts", "humidity_pct", "battery_v"];

/// Whether an object is meant as a canonical record.
pub(super) fn looks_like(fields: &Fields<'_>) -> bool {
    KEYS.iter().any(|key| fields.has(key))
}

/// One canonical record. Checks run in field order: sensor, time, temperature, humidity, battery,
/// sequence number; the first failure is the reason.
pub(super) fn decode(context: &Context<'_>, fields: &Fields<'_>) -> Result<Reading, Invalid> {
    let sensor = context.sensor(fields.string("sensor")?.as_deref())?;
    let ts_ms = context.time(timestamp(fields)?)?;
    let temperature = required("temperature_c", fields.number("temperature_c")?)?;
    let measures = Measures {
        temperature_centi_c: validate::temperature_c("temperature_c", temperature)?,
        humidity_deci_pct: fields
            .number("humidity_pct")?
            .map(|v| validate::humidity_pct("humidity_pct", v))
            .transpose()?,
        battery_mv: fields.number("battery_v")?.map(|v| validate::battery_v("battery_v", v)).transpose()?,
        seq: fields.unsigned("seq")?,
    };
    Ok(context.reading(sensor, ts_ms, measures))
}

/// An array of canonical records: each record decodes or is refused on its own.
pub(super) fn decode_batch(context: &Context<'_>, records: &[Record<'_>]) -> Decoded {
    let mut decoded = Decoded::default();
    for (index, record) in records.iter().enumerate() {
        match record.fields.as_ref().map_err(Invalid::clone).and_then(|fields| decode(context, fields)) {
            Ok(reading) => decoded.readings.push(reading),
            Err(error) => decoded.dead_letters.push(context.refuse(record.text, &format!("record {index}"), &error)),
        }
    }
    decoded
}

/// `ts`, as UTC milliseconds (not yet checked against the reception time).
fn timestamp(fields: &Fields<'_>) -> Result<i64, Invalid> {
    const FIELD: &str = "ts";
    let raw = required(FIELD, fields.get(FIELD))?;
    match JsonKind::of(raw) {
        JsonKind::String => validate::rfc3339_ms(FIELD, &validate::string(FIELD, raw)?),
        JsonKind::Number => validate::number(FIELD, raw).map(validate::epoch_seconds_ms),
        _ => Err(Invalid::WrongType {
            field: FIELD,
            expected: "an RFC 3339 string or a number of seconds since the epoch",
            found: validate::describe(raw),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{T0_MS, decode_default, origin};
    use crate::DeadLetterReason;

    #[test]
    fn full_record_decodes_quantised() {
        let payload = br#"{"sensor":"tls-042","ts":"2025-07-01T12:05:00Z","temperature_c":24.31,
            "humidity_pct":51.2,"battery_v":3.61,"seq":1234,"firmware":"2.1"}"#;
        let decoded = decode_default(&origin(None), payload);
        assert!(decoded.dead_letters.is_empty(), "{:?}", decoded.dead_letters);
        let [reading] = decoded.readings.as_slice() else { panic!("{:?}", decoded.readings) };
        assert_eq!(reading.network, "tls");
        assert_eq!(reading.sensor_id, "tls-042");
        assert_eq!(reading.ts_ms, T0_MS);
        assert_eq!(reading.temperature_centi_c, 2431);
        assert_eq!(reading.humidity_deci_pct, Some(512));
        assert_eq!(reading.battery_mv, Some(3610));
        assert_eq!(reading.seq, Some(1234));
        assert_eq!(reading.received_at_ms, super::super::tests::RECEIVED_MS);
        assert_eq!(reading.qc_flags, 0);
    }

    #[test]
    fn sensor_may_come_from_the_topic_and_optional_fields_may_be_null() {
        let payload = br#"{"ts":"2025-07-01T14:05:00+02:00","temperature_c":25,"humidity_pct":null,"seq":null}"#;
        let decoded = decode_default(&origin(Some("tls-042")), payload);
        let [reading] = decoded.readings.as_slice() else { panic!("{decoded:?}") };
        assert_eq!((reading.sensor_id.as_str(), reading.ts_ms), ("tls-042", T0_MS));
        assert_eq!((reading.humidity_deci_pct, reading.battery_mv, reading.seq), (None, None, None));
    }

    #[test]
    fn integer_float_and_epoch_spellings_give_the_same_reading() {
        let spellings: [&[u8]; 3] = [
            br#"{"sensor":"a","ts":"2025-07-01T12:05:00Z","temperature_c":25}"#,
            br#"{"sensor":"a","ts":1751371500,"temperature_c":25.0}"#,
            br#"{"sensor":"a","ts":1751371500.0001,"temperature_c":25.000000001}"#,
        ];
        let readings: Vec<_> = spellings.iter().map(|p| decode_default(&origin(None), p).readings).collect();
        assert_eq!(readings[0].len(), 1);
        assert!(readings.iter().all(|r| r == &readings[0]), "{readings:?}");
    }

    #[test]
    fn epoch_seconds_keep_their_milliseconds() {
        let decoded = decode_default(&origin(None), br#"{"sensor":"a","ts":1751371500.25,"temperature_c":20}"#);
        assert_eq!(decoded.readings[0].ts_ms, T0_MS + 250);
    }

    #[test]
    fn a_single_bad_object_is_one_dead_letter_without_location() {
        let payload = br#"{"sensor":"a","ts":"2025-07-01T12:05:00Z","temperature_c":"24.3"}"#;
        let decoded = decode_default(&origin(None), payload);
        assert!(decoded.readings.is_empty());
        let [dead] = decoded.dead_letters.as_slice() else { panic!("{decoded:?}") };
        assert_eq!(dead.reason, DeadLetterReason::WrongType);
        assert_eq!(dead.detail, r#"`temperature_c` must be a number, found the string "24.3""#);
        assert_eq!(dead.payload, payload);
    }

    #[test]
    fn batch_records_decode_in_order_and_bad_ones_keep_their_own_text() {
        let payload = br#"[ {"sensor":"a","ts":1751371500,"temperature_c":20},
            {"sensor":"a", "ts":1751371800, "temperature_c":150},
            {"sensor":"b","ts":1751371800,"temperature_c":21.5} ]"#;
        let decoded = decode_default(&origin(None), payload);
        let sensors: Vec<_> = decoded.readings.iter().map(|r| r.sensor_id.as_str()).collect();
        assert_eq!(sensors, ["a", "b"]);
        let [dead] = decoded.dead_letters.as_slice() else { panic!("{decoded:?}") };
        assert_eq!(dead.reason, DeadLetterReason::ImpossibleValue);
        assert_eq!(dead.payload, br#"{"sensor":"a", "ts":1751371800, "temperature_c":150}"#);
        assert_eq!(dead.detail, "record 1: `temperature_c` = 150 °C is physically impossible (limits -90 to 70 °C)");
    }

    #[test]
    fn first_failing_check_names_the_reason() {
        let payload = br#"{"sensor":"a b","ts":"never","temperature_c":500}"#;
        let decoded = decode_default(&origin(None), payload);
        assert_eq!(decoded.dead_letters[0].reason, DeadLetterReason::InvalidIdentifier);
    }
}
