//! Arrow schemas of the readings, in the two forms ilot uses.
//!
//! - **Stored** (Parquet files and in-memory batches): values kept exactly at sensor resolution
//!   as decimals (`DECIMAL(5,2)` °C, `DECIMAL(4,1)` %RH, `DECIMAL(5,3)` V), which Parquet stores as
//!   small integers and every reader (DuckDB, Spark, pyarrow) decodes to the right number.
//! - **Public** (the SQL `readings` table, a contract documented in `docs/sql.md`): the same
//!   column names, with measured values as `DOUBLE`.
//!
//! `network` and `date` are Hive partition columns: in the path of a file, not inside it.

use arrow::array::{
    Array, ArrayRef, AsArray, Date32Builder, Decimal128Builder, RecordBatch, StringBuilder, TimestampMillisecondBuilder,
    UInt32Builder, UInt64Builder,
};
use arrow::datatypes::{DataType, Decimal128Type, Field, Schema, SchemaRef, TimeUnit, TimestampMillisecondType, UInt32Type, UInt64Type};
use std::sync::{Arc, LazyLock};

use crate::Reading;

pub const TEMPERATURE_TYPE: DataType = DataType::Decimal128(5, 2);
pub const HUMIDITY_TYPE: DataType = DataType::Decimal128(4, 1);
pub const BATTERY_TYPE: DataType = DataType::Decimal128(5, 3);

/// Measured values that are decimals on disk and `DOUBLE` in SQL.
pub const DECIMAL_COLUMNS: [&str; 3] = ["temperature_c", "humidity_pct", "battery_v"];

/// A UTC timestamp in milliseconds, as ilot stores every instant.
pub(crate) fn utc_ms() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
}

static FILE_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("sensor_id", DataType::Utf8, false),
        Field::new("ts", utc_ms(), false),
        Field::new("temperature_c", TEMPERATURE_TYPE, false),
        Field::new("humidity_pct", HUMIDITY_TYPE, true),
        Field::new("battery_v", BATTERY_TYPE, true),
        Field::new("seq", DataType::UInt64, true),
        Field::new("received_at", utc_ms(), false),
        Field::new("qc_flags", DataType::UInt32, false),
    ]))
});

/// Columns inside a readings Parquet file.
pub fn file_schema() -> SchemaRef {
    FILE_SCHEMA.clone()
}

/// Partition columns, appended after the file columns.
pub fn partition_fields() -> Vec<Field> {
    vec![Field::new("network", DataType::Utf8, false), Field::new("date", DataType::Date32, false)]
}

/// File columns followed by partition columns: the shape of in-memory batches.
pub fn stored_schema() -> SchemaRef {
    static S: LazyLock<SchemaRef> = LazyLock::new(|| followed_by(&file_schema(), partition_fields()));
    S.clone()
}

/// `file`'s columns followed by `partitions`: a dataset's stored schema.
pub fn followed_by(file: &Schema, partitions: Vec<Field>) -> SchemaRef {
    let mut fields: Vec<Field> = file.fields().iter().map(|f| f.as_ref().clone()).collect();
    fields.extend(partitions);
    Arc::new(Schema::new(fields))
}

/// The public SQL schema: the stored schema with decimals shown as `DOUBLE`.
pub fn public_schema() -> SchemaRef {
    static S: LazyLock<SchemaRef> = LazyLock::new(|| {
        let fields: Vec<Field> = stored_schema()
            .fields()
            .iter()
            .map(|f| {
                if DECIMAL_COLUMNS.contains(&f.name().as_str()) {
                    Field::new(f.name(), DataType::Float64, f.is_nullable())
                } else {
                    f.as_ref().clone()
                }
            })
            .collect();
        Arc::new(Schema::new(fields))
    });
    S.clone()
}

/// Days since the Unix epoch of a UTC millisecond timestamp: the `date` partition value.
pub fn epoch_day(ts_ms: i64) -> i32 {
    ts_ms.div_euclid(86_400_000) as i32
}

/// Build an in-memory batch (stored schema) from readings of one partition.
pub fn readings_to_batch(readings: &[Reading]) -> RecordBatch {
    let n = readings.len();
    let mut sensor = StringBuilder::with_capacity(n, n * 12);
    let mut ts = TimestampMillisecondBuilder::with_capacity(n).with_timezone("UTC");
    let mut temp = Decimal128Builder::with_capacity(n).with_data_type(TEMPERATURE_TYPE);
    let mut hum = Decimal128Builder::with_capacity(n).with_data_type(HUMIDITY_TYPE);
    let mut bat = Decimal128Builder::with_capacity(n).with_data_type(BATTERY_TYPE);
    let mut seq = UInt64Builder::with_capacity(n);
    let mut recv = TimestampMillisecondBuilder::with_capacity(n).with_timezone("UTC");
    let mut qc = UInt32Builder::with_capacity(n);
    let mut network = StringBuilder::with_capacity(n, n * 8);
    let mut date = Date32Builder::with_capacity(n);
    for r in readings {
        sensor.append_value(&r.sensor_id);
        ts.append_value(r.ts_ms);
        temp.append_value(i128::from(r.temperature_centi_c));
        hum.append_option(r.humidity_deci_pct.map(i128::from));
        bat.append_option(r.battery_mv.map(i128::from));
        seq.append_option(r.seq);
        recv.append_value(r.received_at_ms);
        qc.append_value(r.qc_flags);
        network.append_value(&r.network);
        date.append_value(epoch_day(r.ts_ms));
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(sensor.finish()),
        Arc::new(ts.finish()),
        Arc::new(temp.finish()),
        Arc::new(hum.finish()),
        Arc::new(bat.finish()),
        Arc::new(seq.finish()),
        Arc::new(recv.finish()),
        Arc::new(qc.finish()),
        Arc::new(network.finish()),
        Arc::new(date.finish()),
    ];
    RecordBatch::try_new(stored_schema(), columns).expect("readings batch matches the stored schema")
}

/// `batch` (file or stored schema) with `flags` as its `qc_flags` column.
pub fn with_qc_flags(batch: &RecordBatch, flags: Vec<u32>) -> RecordBatch {
    let index = batch.schema().index_of("qc_flags").expect("readings batches have qc_flags");
    let mut columns = batch.columns().to_vec();
    columns[index] = Arc::new(arrow::array::UInt32Array::from(flags));
    RecordBatch::try_new(batch.schema(), columns).expect("same schema, same length")
}

/// The partition (network, day) of an in-memory batch of the store (one partition per batch).
pub fn partition_of_batch(b: &RecordBatch) -> (String, i32) {
    let network = b.column_by_name("network").expect("stored batches have network").as_string::<i32>().value(0).to_owned();
    let day = b.column_by_name("date").expect("stored batches have date").as_primitive::<arrow::datatypes::Date32Type>().value(0);
    (network, day)
}

/// The columns of a stored batch (file columns, in memory or read back from Parquet), typed:
/// the inverse of [`readings_to_batch`].
pub struct StoredRows<'a> {
    pub sensors: &'a arrow::array::StringArray,
    pub ts: &'a arrow::array::TimestampMillisecondArray,
    temperature: &'a arrow::array::Decimal128Array,
    humidity: &'a arrow::array::Decimal128Array,
    battery: &'a arrow::array::Decimal128Array,
    seq: &'a arrow::array::UInt64Array,
    received: &'a arrow::array::TimestampMillisecondArray,
    flags: &'a arrow::array::UInt32Array,
}

impl<'a> StoredRows<'a> {
    pub fn of(batch: &'a RecordBatch) -> Self {
        let col = |name: &str| batch.column_by_name(name).unwrap_or_else(|| panic!("stored batches have {name}"));
        Self {
            sensors: col("sensor_id").as_string::<i32>(),
            ts: col("ts").as_primitive::<TimestampMillisecondType>(),
            temperature: col("temperature_c").as_primitive::<Decimal128Type>(),
            humidity: col("humidity_pct").as_primitive::<Decimal128Type>(),
            battery: col("battery_v").as_primitive::<Decimal128Type>(),
            seq: col("seq").as_primitive::<UInt64Type>(),
            received: col("received_at").as_primitive::<TimestampMillisecondType>(),
            flags: col("qc_flags").as_primitive::<UInt32Type>(),
        }
    }

    /// Row `i` as a reading of `network`.
    pub fn reading(&self, network: &str, i: usize) -> Reading {
        Reading {
            network: network.to_owned(),
            sensor_id: self.sensors.value(i).to_owned(),
            ts_ms: self.ts.value(i),
            temperature_centi_c: self.temperature.value(i) as i16,
            humidity_deci_pct: self.humidity.is_valid(i).then(|| self.humidity.value(i) as i16),
            battery_mv: self.battery.is_valid(i).then(|| self.battery.value(i) as i32),
            seq: self.seq.is_valid(i).then(|| self.seq.value(i)),
            received_at_ms: self.received.value(i),
            qc_flags: self.flags.value(i),
        }
    }
}
