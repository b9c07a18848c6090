//! Dead letters: messages that could not become readings, kept with the raw payload, the topic,
//! the receive time and a machine-readable reason. A dead letter is written to the WAL like a
//! reading and acked, so a poison message never blocks the session, and it is counted in metrics.
//! Persisted as `dead_letters/date=<received date>/<writer>-<seq>.parquet` ([`dead_letter_file_schema`]).

use arrow::array::{ArrayRef, BinaryBuilder, Date32Array, RecordBatch, StringArray, StringBuilder, TimestampMillisecondBuilder};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use serde::{Deserialize, Serialize};
use std::sync::{Arc, LazyLock};

use crate::schema::{epoch_day, followed_by, utc_ms};

/// Why a message (or one record of a batch) was refused. The `code()` strings are a public
/// contract: they appear in the `dead_letters` table and in the
/// `ilot_dead_letters_total{reason=…}` metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DeadLetterReason {
    /// Payload larger than `intake.max_payload_bytes`.
    PayloadTooLarge,
    /// Payload bytes are not valid UTF-8.
    NotUtf8,
    /// Payload is empty.
    EmptyPayload,
    /// Payload is not well-formed JSON.
    MalformedJson,
    /// JSON, but neither the canonical document, SenML nor a SensorThings Observation.
    UnknownFormat,
    /// A required field is missing (sensor, time or temperature).
    MissingField,
    /// A field has the wrong JSON type (e.g. a temperature given as an object).
    WrongType,
    /// A value is NaN, infinite, or a number too large to represent.
    NonFiniteValue,
    /// A value no sensor on Earth can measure (e.g. 150 °C, humidity below 0 or above 110 %).
    ImpossibleValue,
    /// The measurement time cannot be parsed.
    InvalidTimestamp,
    /// The measurement time is further in the future than `intake.max_future_skew`.
    TimestampInFuture,
    /// The measurement time is older than `intake.max_age` (wrong clock, epoch 0…).
    TimestampTooOld,
    /// SenML relative time (t < 2^28) from a device without a clock.
    RelativeTimestamp,
    /// A unit that is not one ilot knows (SenML `u`).
    UnknownUnit,
    /// The topic does not match any configured topic template.
    TopicMismatch,
    /// The sensor named in the payload differs from the one in the topic.
    SensorMismatch,
    /// Sensor or network identifier empty, too long, or with forbidden characters.
    InvalidIdentifier,
    /// A batch (JSON array or SenML pack) with no record in it.
    EmptyBatch,
    /// A batch with more records than `intake.max_batch_records`.
    BatchTooLarge,
    /// A sensor that is not in the registry, when the network refuses unknown sensors.
    UnknownSensor,
    /// SensorThings Datastream id not mapped to a sensor.
    UnknownDatastream,
    /// SenML records of a sensor and instant with humidity or battery but no temperature (a
    /// volts-only pack): a reading needs a temperature. Last, as variants are numbered in the WAL.
    NoTemperature,
}

impl DeadLetterReason {
    pub const ALL: [DeadLetterReason; 22] = [
        Self::PayloadTooLarge,
        Self::NotUtf8,
        Self::EmptyPayload,
        Self::MalformedJson,
        Self::UnknownFormat,
        Self::MissingField,
        Self::WrongType,
        Self::NonFiniteValue,
        Self::ImpossibleValue,
        Self::InvalidTimestamp,
        Self::TimestampInFuture,
        Self::TimestampTooOld,
        Self::RelativeTimestamp,
        Self::UnknownUnit,
        Self::TopicMismatch,
        Self::SensorMismatch,
        Self::InvalidIdentifier,
        Self::EmptyBatch,
        Self::BatchTooLarge,
        Self::UnknownSensor,
        Self::UnknownDatastream,
        Self::NoTemperature,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Self::PayloadTooLarge => "payload_too_large",
            Self::NotUtf8 => "not_utf8",
            Self::EmptyPayload => "empty_payload",
            Self::MalformedJson => "malformed_json",
            Self::UnknownFormat => "unknown_format",
            Self::MissingField => "missing_field",
            Self::WrongType => "wrong_type",
            Self::NonFiniteValue => "non_finite_value",
            Self::ImpossibleValue => "impossible_value",
            Self::InvalidTimestamp => "invalid_timestamp",
            Self::TimestampInFuture => "timestamp_in_future",
            Self::TimestampTooOld => "timestamp_too_old",
            Self::RelativeTimestamp => "relative_timestamp",
            Self::UnknownUnit => "unknown_unit",
            Self::TopicMismatch => "topic_mismatch",
            Self::SensorMismatch => "sensor_mismatch",
            Self::InvalidIdentifier => "invalid_identifier",
            Self::EmptyBatch => "empty_batch",
            Self::BatchTooLarge => "batch_too_large",
            Self::UnknownSensor => "unknown_sensor",
            Self::UnknownDatastream => "unknown_datastream",
            Self::NoTemperature => "no_temperature",
        }
    }
}

impl std::fmt::Display for DeadLetterReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

/// A refused message, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    pub topic: String,
    /// The payload exactly as received (truncated to `intake.max_payload_bytes` when oversize).
    pub payload: Vec<u8>,
    pub received_at_ms: i64,
    pub reason: DeadLetterReason,
    /// Human-readable detail: which field, which value, what was expected.
    pub detail: String,
}

static FILE_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("received_at", utc_ms(), false),
        Field::new("topic", DataType::Utf8, false),
        Field::new("reason", DataType::Utf8, false),
        Field::new("detail", DataType::Utf8, false),
        Field::new("payload", DataType::Binary, false),
    ]))
});

/// Columns inside a dead-letters Parquet file.
pub fn dead_letter_file_schema() -> SchemaRef {
    FILE_SCHEMA.clone()
}

/// What a dead letter has beyond its file's columns: the writer that received it (from the
/// file's name) and the UTC date of `received_at` (from its path), in this order.
pub fn dead_letter_partition_fields() -> Vec<Field> {
    vec![Field::new("writer", DataType::Utf8, true), Field::new("date", DataType::Date32, false)]
}

/// File columns followed by [`dead_letter_partition_fields`]: the shape of dead letters still in memory.
pub fn dead_letter_stored_schema() -> SchemaRef {
    static S: LazyLock<SchemaRef> = LazyLock::new(|| followed_by(&dead_letter_file_schema(), dead_letter_partition_fields()));
    S.clone()
}

/// Dead letters as written in their Parquet file.
pub fn dead_letters_to_batch<'a>(items: impl IntoIterator<Item = &'a DeadLetter>) -> RecordBatch {
    let mut at = TimestampMillisecondBuilder::new().with_timezone("UTC");
    let (mut topic, mut reason, mut detail, mut payload) = (StringBuilder::new(), StringBuilder::new(), StringBuilder::new(), BinaryBuilder::new());
    for d in items {
        at.append_value(d.received_at_ms);
        topic.append_value(&d.topic);
        reason.append_value(d.reason.code());
        detail.append_value(&d.detail);
        payload.append_value(&d.payload);
    }
    let cols: Vec<ArrayRef> =
        vec![Arc::new(at.finish()), Arc::new(topic.finish()), Arc::new(reason.finish()), Arc::new(detail.finish()), Arc::new(payload.finish())];
    RecordBatch::try_new(dead_letter_file_schema(), cols).expect("dead-letter batch matches its schema")
}

/// Dead letters of `writer` not yet persisted, in [`dead_letter_stored_schema`].
pub fn held_dead_letters_batch<'a>(writer: &str, items: &[&'a DeadLetter]) -> RecordBatch {
    let file = dead_letters_to_batch(items.iter().copied());
    let mut cols = file.columns().to_vec();
    cols.push(Arc::new(StringArray::from(vec![writer; items.len()])));
    cols.push(Arc::new(Date32Array::from_iter_values(items.iter().map(|d| epoch_day(d.received_at_ms)))));
    RecordBatch::try_new(dead_letter_stored_schema(), cols).expect("held dead letters match the stored schema")
}
