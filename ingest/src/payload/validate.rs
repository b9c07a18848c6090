//! Field validation shared by the three payload formats: strict JSON field access, identifiers,
//! measurement time (parsing and the accepted window), physical limits and quantisation.
//!
//! Every check fails with an [`Invalid`], which maps to exactly one [`DeadLetterReason`] and whose
//! `Display` is the dead-letter detail a human reads (field, offending value, limit).

use std::collections::HashMap;
use std::fmt;

use chrono::{DateTime, SecondsFormat};
use serde_json::value::RawValue;
use thiserror::Error;

use super::DecodeLimits;
use crate::dead_letter::DeadLetterReason;
use crate::reading::{quantize_centi, quantize_deci, quantize_milli};

/// Longest network or sensor identifier, in characters.
const IDENTIFIER_MAX_CHARS: usize = 64;
/// Longest piece of an offending input quoted in a dead-letter detail, in characters.
const EXCERPT_MAX_CHARS: usize = 64;

/// Why a field, a record or the origin of a message was refused.
#[derive(Debug, Clone, PartialEq, Error)]
pub(super) enum Invalid {
    #[error("`{0}` is missing (or null)")]
    Missing(&'static str),
    #[error("no sensor: neither the payload nor the topic names one")]
    NoSensor,
    #[error("`{field}` must be {expected}, found {found}")]
    WrongType { field: &'static str, expected: &'static str, found: String },
    #[error("expected a JSON object, found {0}")]
    NotAnObject(String),
    #[error("{what} is not a valid JSON string: {why}")]
    BadString { what: String, why: String },
    #[error("`{field}` = {text} is not a finite 64-bit number")]
    NonFinite { field: &'static str, text: String },
    #[error("`{field}` = {value} {unit} is physically impossible (limits {min} to {max} {unit})")]
    Impossible { field: &'static str, value: Shown, unit: &'static str, min: f64, max: f64 },
    #[error("`{field}` = {text:?} is not a valid time: {why}")]
    BadTime { field: &'static str, text: String, why: String },
    #[error("time {ts} is more than {skew} after reception ({received})")]
    InFuture { ts: Millis, received: Millis, skew: Span },
    #[error("time {ts} is more than {age} before reception ({received})")]
    TooOld { ts: Millis, received: Millis, age: Span },
    #[error("time {ts} is before {earliest}, the earliest accepted")]
    BeforeEarliest { ts: Millis, earliest: Millis },
    #[error("SenML time {seconds} s is below 2^28 s, so relative to now: the device clock is not set")]
    Relative { seconds: Shown },
    #[error("unit {unit:?} is not accepted for {quantity} (expected {expected})")]
    UnknownUnit { quantity: &'static str, unit: String, expected: &'static str },
    #[error("sensor {payload:?} in the payload differs from sensor {topic:?} in the topic")]
    SensorMismatch { topic: String, payload: String },
    #[error("{field} identifier {value:?} {why} (1 to 64 characters of A-Z a-z 0-9 . _ : -)")]
    BadIdentifier { field: &'static str, value: String, why: &'static str },
    #[error("no temperature record for sensor {sensor:?} at {ts}: a reading needs one, humidity or battery alone is not stored")]
    NoTemperature { sensor: String, ts: Millis },
    #[error("{0}")]
    Unsupported(String),
}

impl Invalid {
    /// The dead-letter reason this refusal is filed under.
    pub(super) fn reason(&self) -> DeadLetterReason {
        match self {
            Self::Missing(_) | Self::NoSensor => DeadLetterReason::MissingField,
            Self::NoTemperature { .. } => DeadLetterReason::NoTemperature,
            Self::WrongType { .. } | Self::NotAnObject(_) => DeadLetterReason::WrongType,
            Self::BadString { .. } => DeadLetterReason::MalformedJson,
            Self::NonFinite { .. } => DeadLetterReason::NonFiniteValue,
            Self::Impossible { .. } => DeadLetterReason::ImpossibleValue,
            Self::BadTime { .. } => DeadLetterReason::InvalidTimestamp,
            Self::InFuture { .. } => DeadLetterReason::TimestampInFuture,
            Self::TooOld { .. } | Self::BeforeEarliest { .. } => DeadLetterReason::TimestampTooOld,
            Self::Relative { .. } => DeadLetterReason::RelativeTimestamp,
            Self::UnknownUnit { .. } => DeadLetterReason::UnknownUnit,
            Self::SensorMismatch { .. } => DeadLetterReason::SensorMismatch,
            Self::BadIdentifier { .. } => DeadLetterReason::InvalidIdentifier,
            Self::Unsupported(_) => DeadLetterReason::UnknownFormat,
        }
    }
}

/// A `None` (absent or null) required field becomes [`Invalid::Missing`].
pub(super) fn required<T>(field: &'static str, value: Option<T>) -> Result<T, Invalid> {
    value.ok_or(Invalid::Missing(field))
}

// ---------------------------------------------------------------------------------------------
// JSON access. Values stay raw JSON text until a field is read, so that each field is typed on
// its own: a number too large for f64 (`1e400`) is reported for that field and that record, not
// as malformed JSON for the whole message.

/// The JSON type of a raw value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum JsonKind {
    Object,
    Array,
    String,
    Number,
    Bool,
    Null,
}

impl JsonKind {
    /// Raw values start at their first significant character, which tells the type.
    pub(super) fn of(raw: &RawValue) -> Self {
        match raw.get().as_bytes().first() {
            Some(b'{') => Self::Object,
            Some(b'[') => Self::Array,
            Some(b'"') => Self::String,
            Some(b't' | b'f') => Self::Bool,
            Some(b'n') => Self::Null,
            _ => Self::Number,
        }
    }
}

/// A raw value as a detail names it: `an object`, `the string "24.3"`, `the number -1`, `true`.
pub(super) fn describe(raw: &RawValue) -> String {
    match JsonKind::of(raw) {
        JsonKind::Object => "an object".to_owned(),
        JsonKind::Array => "an array".to_owned(),
        JsonKind::String => format!("the string {}", excerpt(raw.get())),
        JsonKind::Number => format!("the number {}", excerpt(raw.get())),
        JsonKind::Bool | JsonKind::Null => format!("`{}`", raw.get()),
    }
}

/// The start of an input value, cut at [`EXCERPT_MAX_CHARS`] characters, for a detail.
pub(super) fn excerpt(text: &str) -> String {
    match text.char_indices().nth(EXCERPT_MAX_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// A computed number as a detail shows it: rounded to 6 decimals, in exponent notation when very
/// large or small (`126.85` rather than `126.85000000000002`, `1e308` rather than 309 digits).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Shown(pub(super) f64);

impl fmt::Display for Shown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let value = self.0;
        if value != 0.0 && !(1e-4..1e15).contains(&value.abs()) {
            write!(f, "{value:e}")
        } else {
            write!(f, "{}", (value * 1e6).round() / 1e6)
        }
    }
}

/// A JSON number as `f64`. Strict: a number written as a string (`"24.3"`) is `WrongType`, since
/// accepting it would hide firmware bugs and make the same reading spellable two ways.
pub(super) fn number(field: &'static str, raw: &RawValue) -> Result<f64, Invalid> {
    if JsonKind::of(raw) != JsonKind::Number {
        return Err(Invalid::WrongType { field, expected: "a number", found: describe(raw) });
    }
    // JSON number syntax is a subset of Rust's float syntax; overflow parses as infinity.
    raw.get()
        .parse::<f64>()
        .ok()
        .filter(|value| value.is_finite())
        .ok_or_else(|| Invalid::NonFinite { field, text: excerpt(raw.get()) })
}

/// A JSON integer in `0..=u64::MAX`, written without fraction or exponent.
fn unsigned(field: &'static str, raw: &RawValue) -> Result<u64, Invalid> {
    raw.get().parse::<u64>().map_err(|_| Invalid::WrongType {
        field,
        expected: "an unsigned 64-bit integer",
        found: describe(raw),
    })
}

/// A JSON string, unescaped.
pub(super) fn string(field: &'static str, raw: &RawValue) -> Result<String, Invalid> {
    if JsonKind::of(raw) != JsonKind::String {
        return Err(Invalid::WrongType { field, expected: "a string", found: describe(raw) });
    }
    // The syntax check of the whole message accepts escapes such as a lone surrogate (`\ud800`)
    // that no Rust string can hold.
    serde_json::from_str(raw.get())
        .map_err(|error| Invalid::BadString { what: format!("`{field}`"), why: error.to_string() })
}

/// One JSON object with its values kept raw. A key given twice keeps its last value.
#[derive(Debug)]
pub(super) struct Fields<'a> {
    map: HashMap<String, &'a RawValue>,
}

impl<'a> Fields<'a> {
    /// The fields of `raw`, which must be an object (a record of a batch, or a whole message).
    pub(super) fn parse(raw: &'a RawValue) -> Result<Self, Invalid> {
        if JsonKind::of(raw) != JsonKind::Object {
            return Err(Invalid::NotAnObject(describe(raw)));
        }
        serde_json::from_str(raw.get())
            .map(|map| Self { map })
            .map_err(|error| Invalid::BadString { what: "an object key".to_owned(), why: error.to_string() })
    }

    /// Whether the key is present, even with a null value.
    pub(super) fn has(&self, key: &str) -> bool {
        self.map.contains_key(key)
    }

    pub(super) fn keys(&self) -> impl Iterator<Item = &str> {
        self.map.keys().map(String::as_str)
    }

    /// The raw value of a field; `None` when it is absent or null (null means absent).
    pub(super) fn get(&self, key: &str) -> Option<&'a RawValue> {
        self.map.get(key).copied().filter(|raw| JsonKind::of(raw) != JsonKind::Null)
    }

    pub(super) fn number(&self, field: &'static str) -> Result<Option<f64>, Invalid> {
        self.get(field).map(|raw| number(field, raw)).transpose()
    }

    pub(super) fn string(&self, field: &'static str) -> Result<Option<String>, Invalid> {
        self.get(field).map(|raw| string(field, raw)).transpose()
    }

    pub(super) fn unsigned(&self, field: &'static str) -> Result<Option<u64>, Invalid> {
        self.get(field).map(|raw| unsigned(field, raw)).transpose()
    }
}

// ---------------------------------------------------------------------------------------------
// Identifiers.

/// Network and sensor identifiers: 1 to 64 characters of `[A-Za-z0-9._:-]`.
pub(super) fn identifier(field: &'static str, value: &str) -> Result<(), Invalid> {
    let why = if value.is_empty() {
        "is empty"
    } else if !value.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-')) {
        "has a forbidden character"
    } else if value.len() > IDENTIFIER_MAX_CHARS {
        "is too long"
    } else {
        return Ok(());
    };
    Err(Invalid::BadIdentifier { field, value: excerpt(value), why })
}

/// The sensor of a record: the one the payload names, which must then equal the topic's when the
/// topic names one too, or else the topic's (`topic` has been validated with the origin).
pub(super) fn sensor(topic: Option<&str>, payload: Option<&str>) -> Result<String, Invalid> {
    match (topic, payload) {
        (_, Some(named)) => {
            identifier("sensor", named)?;
            match topic {
                Some(from_topic) if from_topic != named => {
                    Err(Invalid::SensorMismatch { topic: from_topic.to_owned(), payload: named.to_owned() })
                }
                _ => Ok(named.to_owned()),
            }
        }
        (Some(from_topic), None) => Ok(from_topic.to_owned()),
        (None, None) => Err(Invalid::NoSensor),
    }
}

// ---------------------------------------------------------------------------------------------
// Time.

/// Milliseconds since the Unix epoch; displays as RFC 3339 UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Millis(pub(super) i64);

impl fmt::Display for Millis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match DateTime::from_timestamp_millis(self.0) {
            Some(time) => f.write_str(&time.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
            None => write!(f, "{} ms after the epoch", self.0),
        }
    }
}

/// A duration in milliseconds; displays in the largest unit that divides it (`5 min`, `366 d`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Span(i64);

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [(i64, &str); 4] = [(86_400_000, "d"), (3_600_000, "h"), (60_000, "min"), (1_000, "s")];
        match UNITS.iter().find(|(ms, _)| self.0 != 0 && self.0 % ms == 0) {
            Some((ms, unit)) => write!(f, "{} {unit}", self.0 / ms),
            None => write!(f, "{} ms", self.0),
        }
    }
}

/// An RFC 3339 time with its UTC offset (`Z` or `±hh:mm`), as UTC milliseconds. Digits below the
/// millisecond are truncated.
pub(super) fn rfc3339_ms(field: &'static str, text: &str) -> Result<i64, Invalid> {
    DateTime::parse_from_rfc3339(text).map(|time| time.timestamp_millis()).map_err(|error| Invalid::BadTime {
        field,
        text: excerpt(text),
        why: format!("expected RFC 3339 with a UTC offset, like 2025-07-01T12:05:00Z ({error})"),
    })
}

/// Seconds since the epoch (finite, fractions allowed) as milliseconds, rounded to the nearest
/// (a decimal fraction is not exact in binary). Saturates far outside the representable range;
/// the time window then refuses the value.
pub(super) fn epoch_seconds_ms(seconds: f64) -> i64 {
    (seconds * 1000.0).round() as i64
}

/// Accepts a measurement time no later than reception + `max_future_skew_ms` and no earlier than
/// reception − `max_age_ms` nor `earliest_ms` (all bounds included).
pub(super) fn time_window(ts_ms: i64, received_at_ms: i64, limits: &DecodeLimits) -> Result<i64, Invalid> {
    let (ts, received) = (Millis(ts_ms), Millis(received_at_ms));
    if ts_ms > received_at_ms.saturating_add(limits.max_future_skew_ms) {
        Err(Invalid::InFuture { ts, received, skew: Span(limits.max_future_skew_ms) })
    } else if ts_ms < received_at_ms.saturating_sub(limits.max_age_ms) {
        Err(Invalid::TooOld { ts, received, age: Span(limits.max_age_ms) })
    } else if ts_ms < limits.earliest_ms {
        Err(Invalid::BeforeEarliest { ts, earliest: Millis(limits.earliest_ms) })
    } else {
        Ok(ts_ms)
    }
}

// ---------------------------------------------------------------------------------------------
// Physical limits and quantisation. Only the impossible is refused here: values that are merely
// suspicious (60 °C, 102 %RH) are accepted and left to quality control.

struct PhysicalRange {
    unit: &'static str,
    min: f64,
    max: f64,
}

const TEMPERATURE: PhysicalRange = PhysicalRange { unit: "°C", min: -90.0, max: 70.0 };
const HUMIDITY: PhysicalRange = PhysicalRange { unit: "%RH", min: 0.0, max: 110.0 };
const BATTERY: PhysicalRange = PhysicalRange { unit: "V", min: 0.0, max: 60.0 };

fn quantise<T>(
    field: &'static str,
    value: f64,
    range: &PhysicalRange,
    quantize: fn(f64) -> Option<T>,
) -> Result<T, Invalid> {
    let impossible =
        || Invalid::Impossible { field, value: Shown(value), unit: range.unit, min: range.min, max: range.max };
    if !(range.min..=range.max).contains(&value) {
        return Err(impossible());
    }
    quantize(value).ok_or_else(impossible)
}

/// Air temperature in °C, within [−90, 70], to hundredths of a degree.
pub(super) fn temperature_c(field: &'static str, value: f64) -> Result<i16, Invalid> {
    quantise(field, value, &TEMPERATURE, quantize_centi)
}

/// Relative humidity in %, within [0, 110], to tenths of a percent.
pub(super) fn humidity_pct(field: &'static str, value: f64) -> Result<i16, Invalid> {
    quantise(field, value, &HUMIDITY, quantize_deci)
}

/// Battery voltage in V, within [0, 60], to millivolts.
pub(super) fn battery_v(field: &'static str, value: f64) -> Result<i32, Invalid> {
    quantise(field, value, &BATTERY, quantize_milli)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> &RawValue {
        serde_json::from_str(text).expect("test JSON")
    }

    #[test]
    fn identifiers_accept_only_1_to_64_safe_characters() {
        for good in ["tls-042", "a", "urn:dev:ilot:tls.042_b", &"x".repeat(64)] {
            assert_eq!(identifier("sensor", good), Ok(()), "{good}");
        }
        for (bad, why) in [
            ("", "is empty"),
            ("tls 042", "has a forbidden character"),
            ("tls/042", "has a forbidden character"),
            ("tls+", "has a forbidden character"),
            ("capteur-é", "has a forbidden character"),
            (&"x".repeat(65), "is too long"),
        ] {
            let error = identifier("sensor", bad).expect_err(bad);
            assert_eq!(error.reason(), DeadLetterReason::InvalidIdentifier);
            assert!(error.to_string().contains(why), "{error}");
        }
    }

    #[test]
    fn sensor_comes_from_payload_or_topic_and_they_must_agree() {
        assert_eq!(sensor(Some("a"), None), Ok("a".to_owned()));
        assert_eq!(sensor(None, Some("b")), Ok("b".to_owned()));
        assert_eq!(sensor(Some("b"), Some("b")), Ok("b".to_owned()));
        assert_eq!(sensor(Some("a"), Some("b")).map_err(|e| e.reason()), Err(DeadLetterReason::SensorMismatch));
        assert_eq!(sensor(Some("a"), Some("b c")).map_err(|e| e.reason()), Err(DeadLetterReason::InvalidIdentifier));
        assert_eq!(sensor(None, None).map_err(|e| e.reason()), Err(DeadLetterReason::MissingField));
    }

    #[test]
    fn rfc3339_times_convert_offsets_to_utc() {
        let utc = rfc3339_ms("ts", "2025-07-01T12:05:00Z");
        assert_eq!(utc, Ok(1_751_371_500_000));
        assert_eq!(rfc3339_ms("ts", "2025-07-01T14:05:00+02:00"), utc);
        assert_eq!(rfc3339_ms("ts", "2025-07-01T12:05:00.1239Z"), Ok(1_751_371_500_123));
        for bad in ["2025-07-01T12:05:00", "2025-07-01", "1751371500", "2025-13-01T00:00:00Z", ""] {
            let error = rfc3339_ms("ts", bad).expect_err(bad);
            assert_eq!(error.reason(), DeadLetterReason::InvalidTimestamp);
        }
    }

    #[test]
    fn epoch_seconds_round_to_the_millisecond_and_saturate() {
        assert_eq!(epoch_seconds_ms(1_751_371_500.123), 1_751_371_500_123);
        assert_eq!(epoch_seconds_ms(1e300), i64::MAX);
        assert_eq!(epoch_seconds_ms(-1e300), i64::MIN);
    }

    #[test]
    fn time_window_bounds_are_inclusive() {
        let limits = DecodeLimits::default();
        let now = 1_751_371_800_000;
        let latest = now + limits.max_future_skew_ms;
        let earliest = now - limits.max_age_ms;
        assert_eq!(time_window(latest, now, &limits), Ok(latest));
        assert_eq!(time_window(earliest, now, &limits), Ok(earliest));
        let future = time_window(latest + 1, now, &limits).expect_err("future");
        assert_eq!(future.reason(), DeadLetterReason::TimestampInFuture);
        assert!(future.to_string().contains("more than 5 min after reception (2025-07-01T12:10:00Z)"), "{future}");
        let old = time_window(earliest - 1, now, &limits).expect_err("old");
        assert_eq!(old.reason(), DeadLetterReason::TimestampTooOld);
        assert!(old.to_string().contains("366 d"), "{old}");
        assert!(time_window(i64::MAX, i64::MAX, &limits).is_ok());
        assert!(time_window(i64::MIN, i64::MIN, &limits).is_ok());
    }

    #[test]
    fn history_limits_accept_any_age_from_the_earliest_time() {
        let now = 1_751_371_800_000;
        let earliest = -3_786_825_600_000; // 1850-01-01
        let limits = DecodeLimits::default().for_history(earliest);
        assert_eq!(time_window(631_152_000_000, now, &limits), Ok(631_152_000_000), "1990 is history, not too old");
        assert_eq!(time_window(earliest, now, &limits), Ok(earliest));
        let garbage = time_window(earliest - 1, now, &limits).expect_err("before 1850");
        assert_eq!(garbage.reason(), DeadLetterReason::TimestampTooOld);
        assert_eq!(garbage.to_string(), "time 1849-12-31T23:59:59.999Z is before 1850-01-01T00:00:00Z, the earliest accepted");
        let future = time_window(now + limits.max_future_skew_ms + 1, now, &limits).expect_err("future");
        assert_eq!(future.reason(), DeadLetterReason::TimestampInFuture);
    }

    #[test]
    fn physical_limits_refuse_only_the_impossible() {
        assert_eq!(temperature_c("t", -90.0), Ok(-9000));
        assert_eq!(temperature_c("t", 70.0), Ok(7000));
        assert_eq!(temperature_c("t", 60.0), Ok(6000), "suspicious is not impossible");
        assert_eq!(humidity_pct("h", 102.0), Ok(1020), "suspicious is not impossible");
        assert_eq!(humidity_pct("h", 0.0), Ok(0));
        assert_eq!(battery_v("b", 3.61), Ok(3610));
        for error in [
            temperature_c("t", 70.001).err(),
            temperature_c("t", -90.5).err(),
            humidity_pct("h", -0.1).err(),
            humidity_pct("h", 110.1).err(),
            battery_v("b", -0.01).err(),
            battery_v("b", 60.5).err(),
        ] {
            assert_eq!(error.map(|e| e.reason()), Some(DeadLetterReason::ImpossibleValue));
        }
        let detail = temperature_c("temperature_c", 150.0).expect_err("impossible").to_string();
        assert_eq!(detail, "`temperature_c` = 150 °C is physically impossible (limits -90 to 70 °C)");
    }

    #[test]
    fn numbers_are_strict_and_finite() {
        assert_eq!(number("v", raw("25")), number("v", raw("25.0")));
        assert_eq!(number("v", raw("-1.5e1")), Ok(-15.0));
        assert_eq!(number("v", raw("1e-400")), Ok(0.0));
        let overflow = number("v", raw("1e400")).expect_err("overflow");
        assert_eq!(overflow.reason(), DeadLetterReason::NonFiniteValue);
        assert_eq!(overflow.to_string(), "`v` = 1e400 is not a finite 64-bit number");
        let string = number("v", raw(r#""24.3""#)).expect_err("string");
        assert_eq!(string.to_string(), r#"`v` must be a number, found the string "24.3""#);
        assert_eq!(unsigned("seq", raw("18446744073709551615")), Ok(u64::MAX));
        for bad in ["-1", "1.5", "1e3", "18446744073709551616", "\"7\""] {
            assert_eq!(unsigned("seq", raw(bad)).map_err(|e| e.reason()), Err(DeadLetterReason::WrongType), "{bad}");
        }
    }

    #[test]
    fn fields_treat_null_as_absent_and_keep_raw_text() {
        let fields = Fields::parse(raw(r#"{"a":null,"b":"x\u00e9","c":[1, 2]}"#)).expect("object");
        assert!(fields.has("a"));
        assert_eq!(fields.get("a").map(RawValue::get), None);
        assert_eq!(fields.string("b"), Ok(Some("xé".to_owned())));
        assert_eq!(fields.get("c").map(RawValue::get), Some("[1, 2]"));
        assert_eq!(fields.number("zz"), Ok(None));
        let lone_surrogate = Fields::parse(raw(r#"{"s":"\ud800"}"#)).expect("object");
        assert_eq!(lone_surrogate.string("s").map_err(|e| e.reason()), Err(DeadLetterReason::MalformedJson));
        assert_eq!(Fields::parse(raw("[1]")).map_err(|e| e.reason()).err(), Some(DeadLetterReason::WrongType));
    }

    #[test]
    fn excerpts_cut_long_values_on_a_char_boundary() {
        assert_eq!(excerpt("short"), "short");
        let long = "é".repeat(100);
        assert_eq!(excerpt(&long), format!("{}…", "é".repeat(EXCERPT_MAX_CHARS)));
    }

    #[test]
    fn spans_display_in_the_largest_whole_unit() {
        assert_eq!(Span(300_000).to_string(), "5 min");
        assert_eq!(Span(31_622_400_000).to_string(), "366 d");
        assert_eq!(Span(1_500).to_string(), "1500 ms");
        assert_eq!(Span(0).to_string(), "0 ms");
    }

    #[test]
    fn computed_numbers_display_short() {
        assert_eq!(Shown(400.0 - 273.15).to_string(), "126.85");
        assert_eq!(Shown(1e308).to_string(), "1e308");
        assert_eq!(Shown(-2.5e-7).to_string(), "-2.5e-7");
        assert_eq!(Shown(-60.0).to_string(), "-60");
        assert_eq!(Shown(0.0).to_string(), "0");
    }
}
