//! Payload decoding: the bytes of one MQTT message become [`Reading`]s and [`DeadLetter`]s.
//!
//! This module owns the whole-message checks and the format detection. The checks run in this
//! order: size (before anything is parsed), empty, UTF-8, JSON syntax, the identifiers the topic
//! gave. The format is then told by the JSON shape:
//!
//! - an object with `temperature_c`, `ts`, `humidity_pct` or `battery_v`: a canonical ilot record
//!   (`canonical`);
//! - an object with `result` or `phenomenonTime`: a SensorThings Observation (`sensorthings`);
//! - an array: a batch, of canonical records or SenML records (`senml`) according to the keys of
//!   its first record that has either kind (`temperature_c`, `ts`… or `bn`, `n`, `v`, `t`…).
//!
//! Anything else is `UnknownFormat`. Inside a batch, each bad record becomes its own dead letter
//! (payload: that record's JSON text; detail: its index) and the good records still decode.
//! Field checks shared by the formats are in `validate`.

mod canonical;
mod senml;
mod sensorthings;
mod table;
mod validate;

use serde_json::value::RawValue;
use thiserror::Error;

use crate::dead_letter::{DeadLetter, DeadLetterReason};
use crate::reading::Reading;
use validate::{Fields, Invalid, JsonKind};

pub use senml::{Measurement, SenmlNames};
pub use table::{Cell, HumidityUnit, Rejected, TableFormat, TableRecord, TableRow, TemperatureUnit, UnknownUnitName, decode_row, place_value};

/// Bounds on what one message may hold, from the `intake` configuration.
#[derive(Debug, Clone)]
pub struct DecodeLimits {
    /// Largest payload accepted, in bytes; also the most of a payload a dead letter keeps.
    pub max_payload_bytes: usize,
    /// Most records in one batch (JSON array or SenML pack).
    pub max_batch_records: usize,
    /// How far after reception a measurement time may be (sensor clocks drift), in ms.
    pub max_future_skew_ms: i64,
    /// How far before reception a measurement time may be, in ms.
    pub max_age_ms: i64,
    /// No measurement time before this instant (Unix ms), whatever `max_age_ms` allows: the
    /// bound of an import against garbage times ([`DecodeLimits::for_history`]); `i64::MIN` live.
    pub earliest_ms: i64,
}

impl Default for DecodeLimits {
    /// 64 KiB, 10 000 records, 5 minutes ahead, 366 days back (backlogs of up to a year are
    /// legitimate: a sensor offline for months uploads everything when it comes back).
    fn default() -> Self {
        Self {
            max_payload_bytes: 65_536,
            max_batch_records: 10_000,
            max_future_skew_ms: 5 * 60 * 1000,
            max_age_ms: 366 * 24 * 3600 * 1000,
            earliest_ms: i64::MIN,
        }
    }
}

impl DecodeLimits {
    /// The limits of an import of history (`ilot import`): any age from `earliest_ms` on (the
    /// live `max_age_ms` would refuse what an archive is for), the same future tolerance.
    pub fn for_history(self, earliest_ms: i64) -> Self {
        Self { max_age_ms: i64::MAX, earliest_ms, ..self }
    }
}

/// Where the message came from, already resolved by the caller from the topic template.
#[derive(Debug, Clone)]
pub struct Origin<'a> {
    pub topic: &'a str,
    pub network: &'a str,
    /// The sensor the topic names (or the SensorThings Datastream maps to), if any.
    pub sensor: Option<&'a str>,
    /// The network's vendor names of SenML measurements (its `senml_names`), if it has settings.
    pub senml_names: Option<&'a SenmlNames>,
    /// Reception time, milliseconds since the Unix epoch, UTC.
    pub received_at_ms: i64,
}

/// The outcome of one message: at least one reading or one dead letter, often both for a batch.
#[derive(Debug, Default)]
pub struct Decoded {
    pub readings: Vec<Reading>,
    pub dead_letters: Vec<DeadLetter>,
}

/// Decodes one message. Never panics, on any input. The format is detected from the JSON shape
/// (see the module documentation); readings get the network and reception time of `origin` and
/// `qc_flags = 0`.
pub fn decode(origin: &Origin<'_>, payload: &[u8], limits: &DecodeLimits) -> Decoded {
    let context = Context { origin, limits };
    decode_message(&context, payload).unwrap_or_else(|refused| Decoded {
        readings: Vec::new(),
        dead_letters: vec![dead_letter(
            origin.topic,
            payload,
            origin.received_at_ms,
            refused.reason(),
            refused.to_string(),
            limits,
        )],
    })
}

/// A dead letter for a whole message, keeping at most `limits.max_payload_bytes` of its payload.
/// Callers use it for what they refuse before decoding (no topic template matches, unknown
/// SensorThings Datastream…).
pub fn dead_letter(
    origin_topic: &str,
    payload: &[u8],
    received_at_ms: i64,
    reason: DeadLetterReason,
    detail: impl Into<String>,
    limits: &DecodeLimits,
) -> DeadLetter {
    let kept = &payload[..payload.len().min(limits.max_payload_bytes)];
    DeadLetter { topic: origin_topic.to_owned(), payload: kept.to_vec(), received_at_ms, reason, detail: detail.into() }
}

/// Why a whole message was refused.
#[derive(Debug, Error)]
enum Refused {
    #[error("payload is {len} bytes, more than the limit of {max}")]
    TooLarge { len: usize, max: usize },
    #[error("payload is empty")]
    Empty,
    #[error("payload is only whitespace ({0} bytes)")]
    Blank(usize),
    #[error("payload is not UTF-8: {0}")]
    NotUtf8(#[from] std::str::Utf8Error),
    #[error("payload is not well-formed JSON: {0}")]
    MalformedJson(#[source] serde_json::Error),
    #[error("{0}")]
    UnknownFormat(String),
    #[error("batch is an empty JSON array")]
    EmptyBatch,
    #[error("batch has {len} records, more than the limit of {max}")]
    BatchTooLarge { len: usize, max: usize },
    #[error(
        "SenML pack has no temperature, humidity or battery record (told by a known name, the network's \
         senml_names, or for a name without measurement by unit Cel, K, %RH, V): it has {0}"
    )]
    NoMeasurement(String),
    #[error("record {index}: {source}")]
    InRecord { index: usize, source: Invalid },
    #[error(transparent)]
    Invalid(#[from] Invalid),
}

impl Refused {
    fn reason(&self) -> DeadLetterReason {
        match self {
            Self::TooLarge { .. } => DeadLetterReason::PayloadTooLarge,
            Self::Empty | Self::Blank(_) => DeadLetterReason::EmptyPayload,
            Self::NotUtf8(_) => DeadLetterReason::NotUtf8,
            Self::MalformedJson(_) => DeadLetterReason::MalformedJson,
            Self::UnknownFormat(_) => DeadLetterReason::UnknownFormat,
            Self::EmptyBatch => DeadLetterReason::EmptyBatch,
            Self::BatchTooLarge { .. } => DeadLetterReason::BatchTooLarge,
            Self::NoMeasurement(_) => DeadLetterReason::MissingField,
            Self::InRecord { source: invalid, .. } | Self::Invalid(invalid) => invalid.reason(),
        }
    }
}

/// What the format decoders share: where the message came from and the limits.
struct Context<'a> {
    origin: &'a Origin<'a>,
    limits: &'a DecodeLimits,
}

/// The quantised values of one reading.
struct Measures {
    temperature_centi_c: i16,
    humidity_deci_pct: Option<i16>,
    battery_mv: Option<i32>,
    seq: Option<u64>,
}

impl Context<'_> {
    /// The sensor of a record, from the payload and/or the topic.
    fn sensor(&self, in_payload: Option<&str>) -> Result<String, Invalid> {
        validate::sensor(self.origin.sensor, in_payload)
    }

    /// A measurement time checked against the reception time.
    fn time(&self, ts_ms: i64) -> Result<i64, Invalid> {
        validate::time_window(ts_ms, self.origin.received_at_ms, self.limits)
    }

    fn reading(&self, sensor_id: String, ts_ms: i64, measures: Measures) -> Reading {
        Reading {
            network: self.origin.network.to_owned(),
            sensor_id,
            ts_ms,
            temperature_centi_c: measures.temperature_centi_c,
            humidity_deci_pct: measures.humidity_deci_pct,
            battery_mv: measures.battery_mv,
            seq: measures.seq,
            received_at_ms: self.origin.received_at_ms,
            qc_flags: 0,
        }
    }

    /// A dead letter for part of a message (`location`: "record 3", "records 1, 4").
    fn refuse(&self, payload: &str, location: &str, error: &Invalid) -> DeadLetter {
        dead_letter(
            self.origin.topic,
            payload.as_bytes(),
            self.origin.received_at_ms,
            error.reason(),
            format!("{location}: {error}"),
            self.limits,
        )
    }
}

/// One element of a batch: its exact JSON text (the payload of its dead letter) and its fields,
/// or why it is not an object.
struct Record<'a> {
    text: &'a str,
    fields: Result<Fields<'a>, Invalid>,
}

fn decode_message(context: &Context<'_>, payload: &[u8]) -> Result<Decoded, Refused> {
    let text = check_bytes(payload, context.limits)?;
    let root: &RawValue = serde_json::from_str(text).map_err(Refused::MalformedJson)?;
    check_origin(context.origin)?;
    match JsonKind::of(root) {
        JsonKind::Object => decode_object(context, &Fields::parse(root)?),
        JsonKind::Array => decode_batch(context, root),
        _ => Err(Refused::UnknownFormat(format!(
            "payload is {}; expected a JSON object (canonical record, SensorThings Observation) \
             or array (batch, SenML pack)",
            validate::describe(root)
        ))),
    }
}

/// Size, emptiness and encoding: the checks that need no parsing.
fn check_bytes<'p>(payload: &'p [u8], limits: &DecodeLimits) -> Result<&'p str, Refused> {
    if payload.len() > limits.max_payload_bytes {
        return Err(Refused::TooLarge { len: payload.len(), max: limits.max_payload_bytes });
    }
    if payload.is_empty() {
        return Err(Refused::Empty);
    }
    if payload.iter().all(|byte| matches!(byte, b' ' | b'\t' | b'\n' | b'\r')) {
        return Err(Refused::Blank(payload.len()));
    }
    Ok(std::str::from_utf8(payload)?)
}

/// The identifiers the caller took from the topic.
fn check_origin(origin: &Origin<'_>) -> Result<(), Invalid> {
    validate::identifier("network", origin.network)?;
    origin.sensor.map_or(Ok(()), |sensor| validate::identifier("sensor", sensor))
}

fn decode_object(context: &Context<'_>, fields: &Fields<'_>) -> Result<Decoded, Refused> {
    let reading = if canonical::looks_like(fields) {
        canonical::decode(context, fields)?
    } else if sensorthings::looks_like(fields) {
        sensorthings::decode(context, fields)?
    } else {
        return Err(Refused::UnknownFormat(
            "JSON object with none of the keys temperature_c, ts, humidity_pct, battery_v \
             (canonical ilot) or result, phenomenonTime (SensorThings); a SenML pack is an array"
                .to_owned(),
        ));
    };
    Ok(Decoded { readings: vec![reading], dead_letters: Vec::new() })
}

fn decode_batch(context: &Context<'_>, root: &RawValue) -> Result<Decoded, Refused> {
    let items: Vec<&RawValue> = serde_json::from_str(root.get()).map_err(Refused::MalformedJson)?;
    if items.is_empty() {
        return Err(Refused::EmptyBatch);
    }
    if items.len() > context.limits.max_batch_records {
        return Err(Refused::BatchTooLarge { len: items.len(), max: context.limits.max_batch_records });
    }
    let records: Vec<Record<'_>> =
        items.into_iter().map(|raw| Record { text: raw.get(), fields: Fields::parse(raw) }).collect();
    let format = records.iter().filter_map(|record| record.fields.as_ref().ok()).find_map(BatchFormat::of);
    match format {
        Some(BatchFormat::Canonical) => Ok(canonical::decode_batch(context, &records)),
        Some(BatchFormat::SenMl) => senml::decode_pack(context, &records),
        None => Err(Refused::UnknownFormat(
            "JSON array with no object having canonical ilot keys (temperature_c, ts…) \
             or SenML keys (bn, n, v, t…)"
                .to_owned(),
        )),
    }
}

/// What the records of an array are.
enum BatchFormat {
    Canonical,
    SenMl,
}

impl BatchFormat {
    fn of(fields: &Fields<'_>) -> Option<Self> {
        if canonical::looks_like(fields) {
            Some(Self::Canonical)
        } else if senml::looks_like(fields) {
            Some(Self::SenMl)
        } else {
            None
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use std::collections::HashSet;

    use super::*;

    /// Reception time of the test messages: 2025-07-01T12:10:00Z.
    pub(super) const RECEIVED_MS: i64 = 1_751_371_800_000;
    /// Measurement time of the good test records: 2025-07-01T12:05:00Z.
    pub(super) const T0_MS: i64 = 1_751_371_500_000;
    const TOPIC: &str = "ilot/tls/tls-042/reading";

    pub(super) fn origin(sensor: Option<&'static str>) -> Origin<'static> {
        Origin { topic: TOPIC, network: "tls", sensor, senml_names: None, received_at_ms: RECEIVED_MS }
    }

    pub(super) fn decode_default(origin: &Origin<'_>, payload: &[u8]) -> Decoded {
        decode(origin, payload, &DecodeLimits::default())
    }

    /// One kind of bad payload and what decoding it must give.
    struct Case {
        kind: &'static str,
        payload: Vec<u8>,
        origin: Origin<'static>,
        reason: DeadLetterReason,
        /// Good records decoded alongside (0 for a whole-message refusal).
        good: usize,
        /// The payload its dead letter must hold, and the start of its detail.
        bad_part: Vec<u8>,
        detail_prefix: &'static str,
    }

    const GOOD_A: &str =
        r#"{"sensor":"tls-042","ts":"2025-07-01T12:05:00Z","temperature_c":24.31,"humidity_pct":51.2}"#;
    const GOOD_B: &str = r#"{"sensor":"tls-042","ts":1751371200,"temperature_c":23.9,"battery_v":3.6,"seq":7}"#;
    const SENML_GOOD: &str = r#"{"bn":"urn:dev:ilot:tls-042:","bt":1751371500,"n":"temperature","u":"Cel","v":24.31},{"n":"humidity","u":"%RH","v":51.2},{"n":"temperature","u":"Cel","v":24.5,"t":-300}"#;

    /// The whole message is refused.
    fn whole(kind: &'static str, payload: impl Into<Vec<u8>>, reason: DeadLetterReason) -> Case {
        let payload = payload.into();
        Case { kind, bad_part: payload.clone(), payload, origin: origin(None), reason, good: 0, detail_prefix: "" }
    }

    /// One bad record between two good ones in a canonical batch.
    fn in_batch(kind: &'static str, record: &str, reason: DeadLetterReason) -> Case {
        Case {
            kind,
            payload: format!("[{GOOD_A},{record},{GOOD_B}]").into_bytes(),
            origin: origin(None),
            reason,
            good: 2,
            bad_part: record.as_bytes().to_vec(),
            detail_prefix: "record 1: ",
        }
    }

    /// One bad record after three good ones (two readings) in a SenML pack.
    fn in_pack(kind: &'static str, record: &str, reason: DeadLetterReason) -> Case {
        Case {
            kind,
            payload: format!("[{SENML_GOOD},{record}]").into_bytes(),
            origin: origin(Some("tls-042")),
            reason,
            good: 2,
            bad_part: record.as_bytes().to_vec(),
            detail_prefix: "record 3: ",
        }
    }

    fn with_origin(case: Case, origin: Origin<'static>) -> Case {
        Case { origin, ..case }
    }

    fn corpus() -> Vec<Case> {
        use DeadLetterReason as R;
        let limits = DecodeLimits::default();
        let oversize = format!("{GOOD_A}{}", " ".repeat(limits.max_payload_bytes));
        let too_many = format!("[{}{{}}]", "{},".repeat(limits.max_batch_records));
        let long_sensor = format!(r#"{{"sensor":"{}","ts":1751371500,"temperature_c":20}}"#, "s".repeat(65));
        let observation = |body: &str| format!(r#"{{"phenomenonTime":"2025-07-01T12:05:00Z",{body}}}"#);
        vec![
            // Whole message: bytes, syntax, shape.
            whole("empty payload", "", R::EmptyPayload),
            whole("whitespace only", " \r\n\t ", R::EmptyPayload),
            whole("larger than max_payload_bytes", oversize, R::PayloadTooLarge),
            whole("invalid UTF-8", &b"{\"sensor\":\"tls-\xff\",\"temperature_c\":20}"[..], R::NotUtf8),
            whole("truncated JSON", r#"{"sensor":"tls-042","ts":"2025-07-01T12:0"#, R::MalformedJson),
            whole("trailing garbage", format!("{GOOD_A} x"), R::MalformedJson),
            whole("NaN literal", r#"{"sensor":"a","ts":1751371500,"temperature_c":NaN}"#, R::MalformedJson),
            whole("single quotes", "{'temperature_c': 20}", R::MalformedJson),
            whole("JSON string", r#""24.3""#, R::UnknownFormat),
            whole("JSON number", "24.3", R::UnknownFormat),
            whole("JSON null", "null", R::UnknownFormat),
            whole("object of another shape", r#"{"temp":24.3,"time":"2025-07-01T12:05:00Z"}"#, R::UnknownFormat),
            whole(
                "bare SenML record, not in a pack",
                r#"{"n":"temperature","u":"Cel","v":20,"bt":1751371500}"#,
                R::UnknownFormat,
            ),
            whole("array of numbers", "[24.3, 24.4]", R::UnknownFormat),
            whole("empty array", "[ ]", R::EmptyBatch),
            whole("more records than max_batch_records", too_many, R::BatchTooLarge),
            whole(
                "SenML version too new",
                r#"[{"bver":13,"bn":"tls-042:","bt":1751371500,"n":"temperature","v":20}]"#,
                R::UnknownFormat,
            ),
            whole(
                "SenML base time of the wrong type",
                r#"[{"bn":"tls-042:","bt":"now","n":"temperature","v":20}]"#,
                R::WrongType,
            ),
            whole(
                "SenML pack of unknown measurements",
                r#"[{"bn":"tls-042:","bt":1751371500,"n":"rssi","v":-80}]"#,
                R::MissingField,
            ),
            with_origin(
                whole("network from the topic invalid", GOOD_A, R::InvalidIdentifier),
                Origin { network: "tls net", ..origin(None) },
            ),
            with_origin(whole("sensor from the topic invalid", GOOD_A, R::InvalidIdentifier), origin(Some("tls+042"))),
            // SensorThings Observations.
            with_origin(
                whole("Observation result as a string", observation(r#""result":"24.3""#), R::WrongType),
                origin(Some("tls-042")),
            ),
            with_origin(
                whole("Observation result overflowing f64", observation(r#""result":-1e999"#), R::NonFiniteValue),
                origin(Some("tls-042")),
            ),
            with_origin(
                whole(
                    "Observation without result",
                    observation(r#""resultTime":"2025-07-01T12:05:00Z""#),
                    R::MissingField,
                ),
                origin(Some("tls-042")),
            ),
            with_origin(
                whole(
                    "Observation interval ending before it starts",
                    r#"{"phenomenonTime":"2025-07-01T12:05:00Z/2025-07-01T12:00:00Z","result":20}"#,
                    R::InvalidTimestamp,
                ),
                origin(Some("tls-042")),
            ),
            whole("Observation without any sensor", observation(r#""result":20"#), R::MissingField),
            // Canonical records inside a batch: the good records around them still decode.
            in_batch("record not an object", "42", R::WrongType),
            in_batch(
                "temperature missing",
                r#"{"sensor":"tls-042","ts":1751371500,"humidity_pct":50}"#,
                R::MissingField,
            ),
            in_batch(
                "temperature null",
                r#"{"sensor":"tls-042","ts":1751371500,"temperature_c":null}"#,
                R::MissingField,
            ),
            in_batch(
                "temperature as a string",
                r#"{"sensor":"tls-042","ts":1751371500,"temperature_c":"24.3"}"#,
                R::WrongType,
            ),
            in_batch(
                "temperature as an object",
                r#"{"sensor":"tls-042","ts":1751371500,"temperature_c":{"value":24.3}}"#,
                R::WrongType,
            ),
            in_batch(
                "temperature overflowing f64",
                r#"{"sensor":"tls-042","ts":1751371500,"temperature_c":1e400}"#,
                R::NonFiniteValue,
            ),
            in_batch(
                "temperature impossible",
                r#"{"sensor":"tls-042","ts":1751371500,"temperature_c":150}"#,
                R::ImpossibleValue,
            ),
            in_batch(
                "humidity above 110 %",
                r#"{"sensor":"tls-042","ts":1751371500,"temperature_c":20,"humidity_pct":120}"#,
                R::ImpossibleValue,
            ),
            in_batch(
                "battery negative",
                r#"{"sensor":"tls-042","ts":1751371500,"temperature_c":20,"battery_v":-1}"#,
                R::ImpossibleValue,
            ),
            in_batch("time missing", r#"{"sensor":"tls-042","temperature_c":20}"#, R::MissingField),
            in_batch(
                "time unparsable",
                r#"{"sensor":"tls-042","ts":"yesterday","temperature_c":20}"#,
                R::InvalidTimestamp,
            ),
            in_batch(
                "time without UTC offset",
                r#"{"sensor":"tls-042","ts":"2025-07-01T12:05:00","temperature_c":20}"#,
                R::InvalidTimestamp,
            ),
            in_batch("time as a boolean", r#"{"sensor":"tls-042","ts":true,"temperature_c":20}"#, R::WrongType),
            in_batch(
                "time an hour ahead",
                r#"{"sensor":"tls-042","ts":"2025-07-01T13:10:00Z","temperature_c":20}"#,
                R::TimestampInFuture,
            ),
            in_batch(
                "time in milliseconds, not seconds",
                r#"{"sensor":"tls-042","ts":1751371500000,"temperature_c":20}"#,
                R::TimestampInFuture,
            ),
            in_batch("time at the epoch", r#"{"sensor":"tls-042","ts":0,"temperature_c":20}"#, R::TimestampTooOld),
            in_batch(
                "time overflowing f64",
                r#"{"sensor":"tls-042","ts":1e999,"temperature_c":20}"#,
                R::NonFiniteValue,
            ),
            in_batch(
                "sensor with a space",
                r#"{"sensor":"tls 042","ts":1751371500,"temperature_c":20}"#,
                R::InvalidIdentifier,
            ),
            in_batch("sensor too long", &long_sensor, R::InvalidIdentifier),
            in_batch("sensor as a number", r#"{"sensor":42,"ts":1751371500,"temperature_c":20}"#, R::WrongType),
            in_batch(
                "string with a lone surrogate",
                r#"{"sensor":"tls-\ud800","ts":1751371500,"temperature_c":20}"#,
                R::MalformedJson,
            ),
            in_batch(
                "sequence number negative",
                r#"{"sensor":"tls-042","ts":1751371500,"temperature_c":20,"seq":-1}"#,
                R::WrongType,
            ),
            in_batch("no sensor in payload nor topic", r#"{"ts":1751371500,"temperature_c":20}"#, R::MissingField),
            with_origin(
                in_batch(
                    "sensor differs from the topic's",
                    r#"{"sensor":"tls-043","ts":1751371500,"temperature_c":20}"#,
                    R::SensorMismatch,
                ),
                origin(Some("tls-042")),
            ),
            // SenML records inside a pack: the good records before them still decode.
            in_pack(
                "SenML time relative (clock not set)",
                r#"{"bt":0,"t":12,"n":"temperature","u":"Cel","v":20}"#,
                R::RelativeTimestamp,
            ),
            in_pack(
                "SenML time overflowing after bt + t",
                r#"{"bt":1e308,"t":1e308,"n":"temperature","v":20}"#,
                R::NonFiniteValue,
            ),
            in_pack(
                "SenML temperature in Fahrenheit",
                r#"{"n":"temperature","u":"degF","v":75,"t":60}"#,
                R::UnknownUnit,
            ),
            in_pack("SenML humidity in plain %", r#"{"n":"humidity","u":"%","v":50}"#, R::UnknownUnit),
            in_pack(
                "SenML temperature impossible in kelvin",
                r#"{"n":"temperature","u":"K","v":400,"t":60}"#,
                R::ImpossibleValue,
            ),
            in_pack("SenML string value", r#"{"n":"temperature","vs":"hot","t":60}"#, R::WrongType),
            in_pack("SenML value missing", r#"{"n":"temperature","u":"Cel","t":60}"#, R::MissingField),
            in_pack("SenML value overflowing f64", r#"{"n":"temperature","v":1e400,"t":60}"#, R::NonFiniteValue),
            in_pack("SenML name of another sensor", r#"{"bn":"tls-043:","n":"temperature","v":20}"#, R::SensorMismatch),
            in_pack(
                "SenML sensor name with a space",
                r#"{"bn":"tls 042:","n":"temperature","v":20}"#,
                R::InvalidIdentifier,
            ),
            in_pack("SenML time too old", r#"{"bt":1600000000,"n":"temperature","v":20}"#, R::TimestampTooOld),
            Case {
                detail_prefix: "record 3: no temperature",
                ..in_pack(
                    "SenML humidity without temperature",
                    r#"{"n":"humidity","u":"%RH","v":50,"t":600}"#,
                    R::NoTemperature,
                )
            },
        ]
    }

    #[test]
    fn corpus_of_bad_payloads_gives_the_exact_reason_and_keeps_good_records() {
        let limits = DecodeLimits::default();
        let corpus = corpus();
        let kinds: HashSet<_> = corpus.iter().map(|case| case.kind).collect();
        assert_eq!(kinds.len(), corpus.len(), "kinds must be distinct");
        assert!(corpus.len() >= 20);
        for case in &corpus {
            let decoded = decode(&case.origin, &case.payload, &limits);
            let [dead] = decoded.dead_letters.as_slice() else {
                panic!("{}: expected one dead letter, got {decoded:?}", case.kind)
            };
            assert_eq!(dead.reason, case.reason, "{}: {}", case.kind, dead.detail);
            assert_eq!(decoded.readings.len(), case.good, "{}: {decoded:?}", case.kind);
            assert!(decoded.readings.iter().all(|r| r.sensor_id == "tls-042" && r.network == "tls"), "{}", case.kind);
            assert!(dead.detail.starts_with(case.detail_prefix), "{}: {}", case.kind, dead.detail);
            assert!(dead.detail.len() > case.detail_prefix.len() + 10, "{}: {}", case.kind, dead.detail);
            let kept = &case.bad_part[..case.bad_part.len().min(limits.max_payload_bytes)];
            assert_eq!(dead.payload, kept, "{}", case.kind);
            assert_eq!((dead.topic.as_str(), dead.received_at_ms), (case.origin.topic, RECEIVED_MS), "{}", case.kind);
        }
        // Every reason decoding can give is exercised; the others are the caller's.
        let exercised: HashSet<_> = corpus.iter().map(|case| case.reason).collect();
        let callers =
            [DeadLetterReason::TopicMismatch, DeadLetterReason::UnknownSensor, DeadLetterReason::UnknownDatastream];
        for reason in DeadLetterReason::ALL.into_iter().filter(|r| !callers.contains(r)) {
            assert!(exercised.contains(&reason), "no corpus case for {reason}");
        }
    }

    #[test]
    fn good_records_of_a_batch_decode_exactly() {
        let decoded = decode_default(&origin(None), format!("[{GOOD_A},{GOOD_B}]").as_bytes());
        assert!(decoded.dead_letters.is_empty());
        let got: Vec<_> = decoded
            .readings
            .iter()
            .map(|r| (r.ts_ms, r.temperature_centi_c, r.humidity_deci_pct, r.battery_mv, r.seq))
            .collect();
        assert_eq!(got, [(T0_MS, 2431, Some(512), None, None), (T0_MS - 300_000, 2390, None, Some(3600), Some(7))]);
    }

    #[test]
    fn oversize_payload_is_refused_before_parsing_and_truncated() {
        let limits = DecodeLimits { max_payload_bytes: 16, ..DecodeLimits::default() };
        let decoded = decode(&origin(None), b"\xff\xfe not even UTF-8 or JSON", &limits);
        let [dead] = decoded.dead_letters.as_slice() else { panic!("{decoded:?}") };
        assert_eq!(dead.reason, DeadLetterReason::PayloadTooLarge);
        assert_eq!(dead.detail, "payload is 25 bytes, more than the limit of 16");
        assert_eq!(dead.payload, b"\xff\xfe not even UTF-");
    }

    #[test]
    fn array_format_follows_its_first_recognisable_record() {
        let payload = format!(r#"[17, {{"x":1}}, {GOOD_A}, {{"n":"temperature","v":20}}]"#);
        let decoded = decode_default(&origin(None), payload.as_bytes());
        assert_eq!(decoded.readings.len(), 1);
        let reasons: Vec<_> = decoded.dead_letters.iter().map(|d| (d.reason, d.detail.split(':').next())).collect();
        assert_eq!(
            reasons,
            [
                (DeadLetterReason::WrongType, Some("record 0")),
                (DeadLetterReason::MissingField, Some("record 1")),
                (DeadLetterReason::MissingField, Some("record 3")),
            ]
        );
    }

    #[test]
    fn dead_letter_helper_truncates_the_payload() {
        let limits = DecodeLimits { max_payload_bytes: 4, ..DecodeLimits::default() };
        let dead = dead_letter("t/x", b"abcdefgh", 5, DeadLetterReason::TopicMismatch, "no template matches", &limits);
        assert_eq!(
            dead,
            DeadLetter {
                topic: "t/x".to_owned(),
                payload: b"abcd".to_vec(),
                received_at_ms: 5,
                reason: DeadLetterReason::TopicMismatch,
                detail: "no template matches".to_owned(),
            }
        );
    }

    #[test]
    fn deeply_nested_json_is_refused_without_recursion() {
        let arrays = format!("{}{}", "[".repeat(30_000), "]".repeat(30_000));
        let objects = format!(r#"{}1{}"#, r#"{"a":"#.repeat(10_000), "}".repeat(10_000));
        let in_batch = format!("[{GOOD_A},{}]", "[".repeat(20_000));
        for (payload, reason) in [
            (arrays, DeadLetterReason::UnknownFormat),
            (objects, DeadLetterReason::UnknownFormat),
            (in_batch, DeadLetterReason::MalformedJson),
        ] {
            let decoded = decode_default(&origin(None), payload.as_bytes());
            assert_eq!(decoded.dead_letters.iter().map(|d| d.reason).collect::<Vec<_>>(), [reason]);
        }
    }

    /// xorshift64*: deterministic pseudo-random numbers without a dependency.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    fn assert_decodes_to_something(payload: &[u8], limits: &DecodeLimits) {
        for sensor in [None, Some("tls-042")] {
            let decoded = decode(&origin(sensor), payload, limits);
            assert!(
                !decoded.readings.is_empty() || !decoded.dead_letters.is_empty(),
                "nothing out of {:?}",
                String::from_utf8_lossy(payload)
            );
            assert!(
                decoded
                    .dead_letters
                    .iter()
                    .all(|d| d.payload.len() <= limits.max_payload_bytes && !d.detail.is_empty())
            );
        }
    }

    #[test]
    fn never_panics_on_random_bytes_or_truncated_and_mutated_payloads() {
        const TOKENS: [&str; 32] = [
            "{",
            "}",
            "[",
            "]",
            ",",
            ":",
            "\"",
            "\"temperature_c\"",
            "\"ts\"",
            "\"sensor\"",
            "\"n\"",
            "\"v\"",
            "\"bt\"",
            "\"t\"",
            "\"bver\"",
            "\"result\"",
            "\"phenomenonTime\"",
            "\"2025-07-01T12:05:00Z\"",
            "1e400",
            "-",
            "0",
            "1751371500",
            ".5",
            "e9",
            "null",
            "true",
            " ",
            "\\u",
            "\\ud800",
            "\"urn:dev:ilot:a:temperature\"",
            "/",
            "\u{e9}",
        ];
        let limits = DecodeLimits { max_batch_records: 50, ..DecodeLimits::default() };
        let mut rng = Rng(0x1107_2025);
        for _ in 0..400 {
            let mut payload = Vec::new();
            for _ in 0..rng.below(60) {
                if rng.below(5) == 0 {
                    payload.push(rng.next() as u8);
                } else {
                    payload.extend_from_slice(TOKENS[rng.below(TOKENS.len())].as_bytes());
                }
            }
            assert_decodes_to_something(&payload, &limits);
        }
        let valid = [
            format!("[{GOOD_A},{GOOD_B}]"),
            format!("[{SENML_GOOD}]"),
            r#"{"phenomenonTime":"2025-07-01T12:00:00Z/2025-07-01T12:05:00Z","result":24.3}"#.to_owned(),
        ];
        for text in &valid {
            let bytes = text.as_bytes();
            for cut in 0..=bytes.len() {
                assert_decodes_to_something(&bytes[..cut], &limits);
            }
            for _ in 0..200 {
                let mut mutated = bytes.to_vec();
                let at = rng.below(mutated.len());
                mutated[at] = TOKENS[rng.below(TOKENS.len())].as_bytes()[0] ^ (rng.next() as u8 & 0x01);
                assert_decodes_to_something(&mutated, &limits);
            }
        }
    }
}
