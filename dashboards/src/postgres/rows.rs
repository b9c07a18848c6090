//! An engine result as PostgreSQL `DataRow`s, a batch at a time. Each column is looked at once
//! per batch (its type, its time zone, the client's `DateStyle` parsed into a format), then its
//! values are written row by row into one buffer that the rows share. The common types —
//! text, integers, floats, booleans, timestamps, dates — are written here, with the same bytes
//! as arrow-pg (its tests say so); any other type (decimals, lists, intervals, the catalog's
//! `oid` and `"char"` aliases …) goes through arrow-pg's value encoder. Encoding value by value
//! through arrow-pg made results of 10,000 rows twice as slow over this endpoint as over HTTP
//! (BENCHMARKS.md "Dashboard and PostgreSQL wire").

use arrow::array::temporal_conversions::as_datetime;
use arrow::array::timezone::Tz;
use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, PrimitiveArray, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{
    ArrowPrimitiveType, DataType, Date32Type, Field, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, TimeUnit,
    TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType,
};
use bytes::{BufMut, BytesMut};
use chrono::format::{Item, StrftimeItems};
use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, TimeZone, Utc};
use datafusion_postgres::arrow_pg::encoder::encode_value;
use pgwire::api::Type;
use pgwire::api::results::{DataRowEncoder, FieldFormat, FieldInfo};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::data::DataRow;
use pgwire::types::format::FormatOptions;
use pgwire::types::format::date_style::DateStyle;
use pgwire::types::format::float_digits::ExtraFloatDigits;
use postgres_types::{IsNull, ToSql};
use std::error::Error;
use std::fmt::Write;
use std::str::FromStr;
use std::sync::Arc;

type ValueResult = Result<IsNull, Box<dyn Error + Sync + Send>>;

/// `batch`'s rows, in the formats and types of `fields` (one per column, as described to the
/// client), with the client's `options`.
pub fn encode_batch(batch: &RecordBatch, fields: &[FieldInfo], options: &FormatOptions) -> PgWireResult<Vec<DataRow>> {
    let schema = batch.schema();
    let mut columns = Vec::with_capacity(fields.len());
    for ((array, field), pg) in batch.columns().iter().zip(schema.fields()).zip(fields) {
        columns.push(Column::new(array, field, pg, options)?);
    }
    let mut out = BytesMut::with_capacity(64 * 1024);
    let mut rows = Vec::with_capacity(batch.num_rows());
    for row in 0..batch.num_rows() {
        for column in &mut columns {
            column.put(row, &mut out)?;
        }
        rows.push(DataRow::new(out.split(), columns.len() as i16));
    }
    Ok(rows)
}

/// One column of a batch, ready to write its values as `pg` describes them to the client.
struct Column<'a> {
    values: Values,
    pg: &'a FieldInfo,
}

/// A column's values, by how they are written.
enum Values {
    /// Text types: the same bytes in both formats.
    Text(ArrayRef),
    Int16(PrimitiveArray<Int16Type>),
    Int32(PrimitiveArray<Int32Type>),
    Int64(PrimitiveArray<Int64Type>),
    Float32(PrimitiveArray<Float32Type>, ExtraFloatDigits),
    Float64(PrimitiveArray<Float64Type>, ExtraFloatDigits),
    Bool(BooleanArray),
    /// Instants as i64 in `unit`; with a time zone, `timestamptz` shown in that zone. `iso`:
    /// the client's `DateStyle` is ISO, which [`put_iso`] writes without chrono's formatter.
    Timestamp { array: ArrayRef, unit: TimeUnit, zone: Option<Tz>, text: Vec<Item<'static>>, iso: bool },
    Date { array: PrimitiveArray<Date32Type>, text: Vec<Item<'static>>, iso: bool },
    /// Anything else, value by value through arrow-pg.
    Other { array: ArrayRef, arrow_field: Field, encoder: DataRowEncoder },
}

impl<'a> Column<'a> {
    fn new(array: &ArrayRef, field: &Field, pg: &'a FieldInfo, options: &FormatOptions) -> PgWireResult<Self> {
        // Dictionary-encoded columns (partition values) are written as their values.
        let original = array;
        let array = match array.data_type() {
            DataType::Dictionary(_, value) if is_plain(value) => cast(array, value).map_err(api_error)?,
            _ => array.clone(),
        };
        let date_style = || DateStyle::new(&options.date_style);
        let digits = || ExtraFloatDigits(options.extra_float_digits);
        // The pg type is checked too: arrow-pg gives some columns another type (`oid`, `"char"`).
        let values = match (array.data_type(), pg.datatype()) {
            (DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View, &Type::TEXT) => Values::Text(array),
            (DataType::Int16 | DataType::UInt8, &Type::INT2) => Values::Int16(cast(&array, &DataType::Int16).map_err(api_error)?.as_primitive().clone()),
            (DataType::Int32 | DataType::UInt16, &Type::INT4) => Values::Int32(cast(&array, &DataType::Int32).map_err(api_error)?.as_primitive().clone()),
            (DataType::Int64 | DataType::UInt32, &Type::INT8) => Values::Int64(cast(&array, &DataType::Int64).map_err(api_error)?.as_primitive().clone()),
            (DataType::Float32, &Type::FLOAT4) => Values::Float32(array.as_primitive().clone(), digits()),
            (DataType::Float64, &Type::FLOAT8) => Values::Float64(array.as_primitive().clone(), digits()),
            (DataType::Boolean, &Type::BOOL) => Values::Bool(array.as_boolean().clone()),
            (DataType::Timestamp(unit, zone), &Type::TIMESTAMP | &Type::TIMESTAMPTZ) => {
                let zone = zone.as_deref().map(Tz::from_str).transpose().map_err(api_error)?;
                let style = date_style();
                let (naive_format, zoned_format) = (style.full_format_str(), style.full_tz_format_smolstr());
                let iso = naive_format == ISO_FORMAT && zoned_format == ISO_TZ_FORMAT;
                let text = if zone.is_some() { parse(&zoned_format) } else { parse(naive_format) };
                Values::Timestamp { unit: *unit, zone, text, array, iso }
            }
            (DataType::Date32, &Type::DATE) => {
                let format = date_style().date_format_str().to_owned();
                Values::Date { array: array.as_primitive().clone(), text: parse(&format), iso: format == ISO_DATE_FORMAT }
            }
            _ => Values::Other { arrow_field: field.clone(), encoder: DataRowEncoder::new(Arc::new(vec![pg.clone()])), array: original.clone() },
        };
        Ok(Column { values, pg })
    }

    /// Writes row `row`'s value: its length (-1 for NULL), then its bytes.
    fn put(&mut self, row: usize, out: &mut BytesMut) -> PgWireResult<()> {
        let (format, ty) = (self.pg.format(), self.pg.datatype());
        let written = match &mut self.values {
            Values::Other { array, arrow_field, encoder } => {
                encode_value(encoder, array, row, arrow_field, self.pg)?;
                out.put_slice(&encoder.take_row().data);
                return Ok(());
            }
            Values::Text(array) if array.is_null(row) => None,
            Values::Text(array) => {
                let text = match array.data_type() {
                    DataType::Utf8 => array.as_string::<i32>().value(row),
                    DataType::LargeUtf8 => array.as_string::<i64>().value(row),
                    _ => array.as_string_view().value(row),
                };
                Some(put_with_length(out, |out| {
                    out.put_slice(text.as_bytes());
                    Ok(IsNull::No)
                }))
            }
            Values::Int16(a) => a.is_valid(row).then(|| typed(out, &a.value(row), format, ty, |out, v| write_display(out, v))),
            Values::Int32(a) => a.is_valid(row).then(|| typed(out, &a.value(row), format, ty, |out, v| write_display(out, v))),
            Values::Int64(a) => a.is_valid(row).then(|| typed(out, &a.value(row), format, ty, |out, v| write_display(out, v))),
            Values::Bool(a) => a.is_valid(row).then(|| typed(out, &a.value(row), format, ty, |out, v| text(if *v { "t" } else { "f" }, out))),
            Values::Float32(a, digits) => a.is_valid(row).then(|| typed(out, &a.value(row), format, ty, |out, v| text(&digits.format_f32(*v), out))),
            Values::Float64(a, digits) => a.is_valid(row).then(|| typed(out, &a.value(row), format, ty, |out, v| text(&digits.format_f64(*v), out))),
            Values::Timestamp { array, unit, zone, text, iso } => instant(array, *unit, row).map(|naive| match zone {
                Some(zone) => {
                    let local: DateTime<FixedOffset> = Utc.from_utc_datetime(&naive).with_timezone(zone).fixed_offset();
                    let offset_s = Some(local.offset().local_minus_utc());
                    typed(out, &local, format, ty, |out, local| if *iso && put_iso(out, &local.naive_local(), offset_s) {
                        Ok(IsNull::No)
                    } else {
                        write_display(out, local.format_with_items(text.iter()))
                    })
                }
                None => typed(out, &naive, format, ty, |out, naive| if *iso && put_iso(out, naive, None) {
                    Ok(IsNull::No)
                } else {
                    write_display(out, naive.format_with_items(text.iter()))
                }),
            }),
            Values::Date { array, text, iso } => array.is_valid(row).then(|| array.value_as_date(row)).flatten().map(|date: NaiveDate| {
                typed(out, &date, format, ty, |out, date| if *iso && put_iso_date(out, date) {
                    Ok(IsNull::No)
                } else {
                    write_display(out, date.format_with_items(text.iter()))
                })
            }),
        };
        match written {
            Some(result) => result,
            None => {
                out.put_i32(-1);
                Ok(())
            }
        }
    }
}

/// Dictionary values this module writes itself once unpacked.
fn is_plain(value: &DataType) -> bool {
    matches!(value, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

fn api_error(e: impl Error + Send + Sync + 'static) -> PgWireError {
    PgWireError::ApiError(Box::new(e))
}

/// A `strftime` format parsed once for a whole column.
fn parse(format: &str) -> Vec<Item<'static>> {
    StrftimeItems::new(format).parse_to_owned().unwrap_or_default()
}

/// Writes a value's length, then the value `write` puts (or -1 when it says NULL).
fn put_with_length(out: &mut BytesMut, write: impl FnOnce(&mut BytesMut) -> ValueResult) -> PgWireResult<()> {
    let at = out.len();
    out.put_i32(-1);
    if let IsNull::No = write(out).map_err(PgWireError::ApiError)? {
        let length = (out.len() - at - 4) as i32;
        out[at..at + 4].copy_from_slice(&length.to_be_bytes());
    }
    Ok(())
}

/// `value` with its length: in text as `as_text` writes it, in binary as postgres-types does.
fn typed<T: ToSql>(out: &mut BytesMut, value: &T, format: FieldFormat, ty: &Type, as_text: impl FnOnce(&mut BytesMut, &T) -> ValueResult) -> PgWireResult<()> {
    put_with_length(out, |out| match format {
        FieldFormat::Text => as_text(out, value),
        FieldFormat::Binary => value.to_sql(ty, out),
    })
}

fn text(value: &str, out: &mut BytesMut) -> ValueResult {
    out.put_slice(value.as_bytes());
    Ok(IsNull::No)
}

fn write_display(out: &mut BytesMut, shown: impl std::fmt::Display) -> ValueResult {
    // `write!` to BytesMut cannot fail; a Display impl that fails (chrono's, on an item it
    // cannot show) is an error for the value.
    write!(out, "{shown}")?;
    Ok(IsNull::No)
}

/// pgwire's formats for dates and timestamps under `DateStyle = ISO` (any order).
const ISO_DATE_FORMAT: &str = "%Y-%m-%d";
const ISO_FORMAT: &str = "%Y-%m-%d %H:%M:%S%.6f";
const ISO_TZ_FORMAT: &str = "%Y-%m-%d %H:%M:%S%.6f%:::z";

/// Writes `local` as [`ISO_FORMAT`] (then, with `offset_s`, the offset's hours as `%:::z`
/// does) and returns true, or writes nothing and returns false where chrono's formatter must
/// do it: years outside 0..=9999, leap seconds, offsets with minutes.
fn put_iso(out: &mut BytesMut, local: &NaiveDateTime, offset_s: Option<i32>) -> bool {
    use chrono::Timelike;
    let nanos = local.nanosecond();
    let mut text = *b"0000-00-00 00:00:00.000000+00";
    if nanos >= 1_000_000_000 || offset_s.is_some_and(|s| s % 3600 != 0 || s.unsigned_abs() / 3600 > 99) || !iso_date(&mut text, &local.date()) {
        return false;
    }
    digits(&mut text, 11, 2, local.hour());
    digits(&mut text, 14, 2, local.minute());
    digits(&mut text, 17, 2, local.second());
    digits(&mut text, 20, 6, nanos / 1000);
    match offset_s {
        None => out.put_slice(&text[..26]),
        Some(offset_s) => {
            text[26] = if offset_s < 0 { b'-' } else { b'+' };
            digits(&mut text, 27, 2, offset_s.unsigned_abs() / 3600);
            out.put_slice(&text);
        }
    }
    true
}

/// Writes `date` as [`ISO_DATE_FORMAT`] and returns true, or false as [`put_iso`] does.
fn put_iso_date(out: &mut BytesMut, date: &NaiveDate) -> bool {
    let mut text = *b"0000-00-00";
    let done = iso_date(&mut text, date);
    if done {
        out.put_slice(&text);
    }
    done
}

/// `date` in `text[..10]` (`%Y-%m-%d`), for years 0..=9999 (chrono signs the others).
fn iso_date(text: &mut [u8], date: &NaiveDate) -> bool {
    use chrono::Datelike;
    let year = date.year();
    if !(0..=9999).contains(&year) {
        return false;
    }
    digits(text, 0, 4, year as u32);
    digits(text, 5, 2, date.month());
    digits(text, 8, 2, date.day());
    true
}

/// `value`'s last `width` decimal digits in `text[at..at + width]`.
fn digits(text: &mut [u8], at: usize, width: usize, mut value: u32) {
    for i in (at..at + width).rev() {
        text[i] = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

/// Row `row` of a timestamp column as a UTC date and time (None: NULL, or out of chrono's range).
fn instant(array: &ArrayRef, unit: TimeUnit, row: usize) -> Option<NaiveDateTime> {
    fn at<T: ArrowPrimitiveType<Native = i64>>(array: &ArrayRef, row: usize) -> Option<NaiveDateTime> {
        let array = array.as_primitive::<T>();
        array.is_valid(row).then(|| as_datetime::<T>(array.value(row))).flatten()
    }
    match unit {
        TimeUnit::Second => at::<TimestampSecondType>(array, row),
        TimeUnit::Millisecond => at::<TimestampMillisecondType>(array, row),
        TimeUnit::Microsecond => at::<TimestampMicrosecondType>(array, row),
        TimeUnit::Nanosecond => at::<TimestampNanosecondType>(array, row),
    }
}

#[cfg(test)]
mod tests;
