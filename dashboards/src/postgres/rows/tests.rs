//! The rows are the bytes arrow-pg writes, in text and in binary, for every type this module
//! writes itself and for one it leaves to arrow-pg, with NULLs, time zones and date styles.

use super::*;
use arrow::array::{
    BooleanArray, Date32Array, Decimal128Array, DictionaryArray, Float32Array, Float64Array, Int16Array, Int32Array, Int64Array,
    LargeStringArray, StringArray, StringViewArray, TimestampMillisecondArray, TimestampNanosecondArray, TimestampSecondArray,
    UInt8Array, UInt16Array, UInt32Array,
};
use arrow::datatypes::{Int8Type, Schema};
use datafusion_postgres::arrow_pg::datatypes::{arrow_schema_to_pg_fields, encode_recordbatch};
use pgwire::api::portal::Format;

fn batch() -> RecordBatch {
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("text", Arc::new(StringArray::from(vec![Some("Capitole"), None, Some("é \"quoted\", {x}"), Some("")]))),
        ("large", Arc::new(LargeStringArray::from(vec![Some("a"), Some("b"), None, Some("d")]))),
        ("view", Arc::new(StringViewArray::from(vec![Some("a longer string than twelve bytes"), None, Some("v"), Some("w")]))),
        ("dict", Arc::new(DictionaryArray::<Int8Type>::new(vec![Some(0), None, Some(1), Some(0)].into(), Arc::new(StringArray::from(vec!["tls", "rns"]))))),
        ("i16", Arc::new(Int16Array::from(vec![Some(-32768), None, Some(0), Some(32767)]))),
        ("u8", Arc::new(UInt8Array::from(vec![Some(255), Some(0), None, Some(1)]))),
        ("i32", Arc::new(Int32Array::from(vec![Some(i32::MIN), None, Some(42), Some(i32::MAX)]))),
        ("u16", Arc::new(UInt16Array::from(vec![Some(65535), None, Some(1), Some(0)]))),
        ("i64", Arc::new(Int64Array::from(vec![Some(i64::MIN), Some(-1), None, Some(i64::MAX)]))),
        ("u32", Arc::new(UInt32Array::from(vec![Some(u32::MAX), Some(8), Some(0), None]))),
        ("f32", Arc::new(Float32Array::from(vec![Some(21.37), Some(f32::NAN), None, Some(-0.1)]))),
        ("f64", Arc::new(Float64Array::from(vec![Some(21.37), Some(1e-7), Some(f64::INFINITY), None]))),
        ("bool", Arc::new(BooleanArray::from(vec![Some(true), Some(false), None, Some(true)]))),
        ("date", Arc::new(Date32Array::from(vec![Some(20_636), None, Some(-719_000), Some(0)]))),
        ("date_far", Arc::new(Date32Array::from(vec![Some(-719_528), Some(2_932_896), Some(-800_000), None]))),
        ("ts_utc", Arc::new(TimestampMillisecondArray::from(vec![Some(1_784_000_000_123), None, Some(-1), Some(0)]).with_timezone("UTC"))),
        ("ts_paris", Arc::new(TimestampSecondArray::from(vec![Some(1_784_000_000), Some(1_767_225_600), None, Some(0)]).with_timezone("Europe/Paris"))),
        ("ts_offset", Arc::new(TimestampMillisecondArray::from(vec![Some(1_784_000_000_000), None, Some(5), Some(0)]).with_timezone("+02:00"))),
        ("ts_west", Arc::new(TimestampMillisecondArray::from(vec![Some(1_784_000_000_000), Some(-62_167_219_200_000), Some(253_402_300_800_000), None]).with_timezone("-05:00"))),
        ("ts_half_hour", Arc::new(TimestampSecondArray::from(vec![Some(1_784_000_000), None, Some(-86_400), Some(0)]).with_timezone("+05:30"))),
        ("ts_naive", Arc::new(TimestampNanosecondArray::from(vec![Some(1_784_000_000_123_456_789), Some(-1_500), None, Some(0)]))),
        ("decimal", Arc::new(Decimal128Array::from(vec![Some(2137), None, Some(-5), Some(0)]).with_precision_and_scale(5, 2).unwrap())),
    ];
    let fields: Vec<Field> = columns.iter().map(|(name, array)| Field::new(*name, array.data_type().clone(), true)).collect();
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns.into_iter().map(|(_, a)| a).collect()).unwrap()
}

fn same_bytes_as_arrow_pg(format: Format, options: FormatOptions) {
    let batch = batch();
    let options = Arc::new(options);
    let fields = Arc::new(arrow_schema_to_pg_fields(batch.schema_ref(), &format, Some(options.clone())).unwrap());
    let theirs: Vec<DataRow> = encode_recordbatch(fields.clone(), batch.clone()).map(Result::unwrap).collect();
    let ours = encode_batch(&batch, &fields, &options).unwrap();
    assert_eq!(ours.len(), theirs.len());
    for (row, (ours, theirs)) in ours.iter().zip(&theirs).enumerate() {
        assert_eq!(ours.field_count, theirs.field_count);
        if ours.data != theirs.data {
            // Name the first column that differs.
            let (mut a, mut b) = (&ours.data[..], &theirs.data[..]);
            for field in fields.iter() {
                let (x, y) = (value(&mut a), value(&mut b));
                assert_eq!(x, y, "row {row}, column {} ({:?}, {format:?})", field.name(), field.datatype());
            }
        }
    }
}

/// One value of a DataRow's body: its bytes, None for NULL; `data` moves past it.
fn value<'a>(data: &mut &'a [u8]) -> Option<&'a [u8]> {
    let length = i32::from_be_bytes(data[..4].try_into().unwrap());
    *data = &data[4..];
    let length = usize::try_from(length).ok()?;
    let (bytes, rest) = data.split_at(length);
    *data = rest;
    Some(bytes)
}

#[test]
fn text_rows_are_arrow_pgs() {
    same_bytes_as_arrow_pg(Format::UnifiedText, FormatOptions::default());
}

#[test]
fn binary_rows_are_arrow_pgs() {
    same_bytes_as_arrow_pg(Format::UnifiedBinary, FormatOptions::default());
}

#[test]
fn a_client_s_date_style_and_float_digits_are_followed() {
    for (date_style, extra_float_digits) in [("SQL, DMY", 0), ("German", -3), ("Postgres, MDY", 3)] {
        let mut options = FormatOptions::default();
        (options.date_style, options.extra_float_digits) = (date_style.into(), extra_float_digits);
        same_bytes_as_arrow_pg(Format::UnifiedText, options);
    }
}

#[test]
fn mixed_formats_per_column() {
    let formats = (0..batch().num_columns()).map(|i| (i % 2) as i16).collect();
    same_bytes_as_arrow_pg(Format::Individual(formats), FormatOptions::default());
}
