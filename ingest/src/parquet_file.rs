//! Encoding and decoding of one readings Parquet file: rows sorted by (sensor, ts), ZSTD,
//! delta-encoded timestamps and integer-backed decimals. See BENCHMARKS.md for what each choice
//! buys in bytes per reading.

use arrow::array::RecordBatch;
use arrow::compute::{SortColumn, concat_batches, lexsort_to_indices, take_record_batch};
use arrow::error::ArrowError;
use bytes::Bytes;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::metadata::SortingColumn;
use parquet::schema::types::ColumnPath;

use crate::schema::file_schema;

#[derive(Debug, thiserror::Error)]
pub enum ParquetFileError {
    #[error("arrow: {0}")]
    Arrow(#[from] ArrowError),
    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
}

const DELTA_COLUMNS: [&str; 6] = ["ts", "temperature_c", "humidity_pct", "battery_v", "seq", "received_at"];

fn writer_properties() -> WriterProperties {
    let mut b = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).expect("valid zstd level")))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_sorting_columns(Some(vec![
            SortingColumn { column_idx: 0, descending: false, nulls_first: false },
            SortingColumn { column_idx: 1, descending: false, nulls_first: false },
        ]))
        .set_max_row_group_row_count(Some(1 << 20));
    for c in DELTA_COLUMNS {
        let path = ColumnPath::from(c);
        b = b.set_column_dictionary_enabled(path.clone(), false).set_column_encoding(path, Encoding::DELTA_BINARY_PACKED);
    }
    b.build()
}

/// Keep only the file columns of stored batches (dropping the partition columns), concatenate
/// and sort by (sensor_id, ts).
pub fn sorted_file_batch(batches: &[RecordBatch]) -> Result<RecordBatch, ParquetFileError> {
    let schema = file_schema();
    let projected: Vec<RecordBatch> = batches
        .iter()
        .map(|b| {
            let idx: Vec<usize> =
                schema.fields().iter().map(|f| b.schema().index_of(f.name())).collect::<Result<_, _>>()?;
            let p = b.project(&idx)?;
            RecordBatch::try_new(schema.clone(), p.columns().to_vec())
        })
        .collect::<Result<_, ArrowError>>()?;
    let all = concat_batches(&schema, &projected)?;
    let indices = lexsort_to_indices(
        &[
            SortColumn { values: all.column(0).clone(), options: None },
            SortColumn { values: all.column(1).clone(), options: None },
        ],
        None,
    )?;
    Ok(take_record_batch(&all, &indices)?)
}

/// Serialise one sorted file batch to Parquet bytes (written to storage with a single put).
pub fn encode(batch: &RecordBatch) -> Result<Bytes, ParquetFileError> {
    let mut buf = Vec::with_capacity(batch.num_rows() * 4 + 4096);
    let mut writer = ArrowWriter::try_new(&mut buf, batch.schema(), Some(writer_properties()))?;
    writer.write(batch)?;
    writer.close()?;
    Ok(Bytes::from(buf))
}

/// Serialise a small derived table (hourly rollup, saved latest readings): ZSTD, default
/// encodings.
pub fn encode_small(batch: &RecordBatch) -> Result<Bytes, ParquetFileError> {
    let props = WriterProperties::builder().set_compression(Compression::ZSTD(ZstdLevel::try_new(3).expect("valid zstd level"))).build();
    let mut buf = Vec::with_capacity(batch.num_rows() * 8 + 1024);
    let mut writer = ArrowWriter::try_new(&mut buf, batch.schema(), Some(props))?;
    writer.write(batch)?;
    writer.close()?;
    Ok(Bytes::from(buf))
}

/// Read a whole Parquet file back (readings for compaction and the key index, rollups, saved
/// latest readings).
pub fn decode(bytes: Bytes) -> Result<Vec<RecordBatch>, ParquetFileError> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)?.with_batch_size(64 * 1024).build()?;
    Ok(reader.collect::<Result<Vec<_>, _>>()?)
}
