//! Rendering query results for people and programs: aligned table (column names even when no
//! row came back, then a psql-like `(N rows)` line), CSV, JSON (array of objects) and Arrow IPC
//! stream (read back by `ilot sql --server`, which prints it as the same table).

pub use datafusion::arrow::array::RecordBatch;
pub use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::error::ArrowError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Table,
    Csv,
    Json,
    Arrow,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "table" => Ok(Self::Table),
            "csv" => Ok(Self::Csv),
            "json" => Ok(Self::Json),
            "arrow" => Ok(Self::Arrow),
            other => Err(format!("unknown format {other:?}: use table, csv, json or arrow")),
        }
    }
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Table => "text/plain; charset=utf-8",
            Self::Csv => "text/csv; charset=utf-8",
            Self::Json => "application/json",
            Self::Arrow => "application/vnd.apache.arrow.stream",
        }
    }
}

/// A result sent as an Arrow IPC stream (`render(Format::Arrow, …)`), read back.
pub fn read_arrow(bytes: &[u8]) -> Result<(SchemaRef, Vec<RecordBatch>), ArrowError> {
    let reader = datafusion::arrow::ipc::reader::StreamReader::try_new(bytes, None)?;
    let schema = reader.schema();
    Ok((schema, reader.collect::<Result<_, _>>()?))
}

/// The table's last line, as psql prints it: `(0 rows)`, `(1 row)`, `(N rows)`.
fn row_count(rows: usize) -> String {
    format!("({rows} {})", if rows == 1 { "row" } else { "rows" })
}

pub fn render(format: Format, schema: &SchemaRef, batches: &[RecordBatch]) -> Result<Vec<u8>, ArrowError> {
    match format {
        Format::Table => {
            let table = datafusion::arrow::util::pretty::pretty_format_batches_with_schema(schema.clone(), batches)?;
            Ok(format!("{table}\n{}\n", row_count(batches.iter().map(RecordBatch::num_rows).sum())).into_bytes())
        }
        Format::Csv => {
            let mut out = Vec::new();
            let mut w = datafusion::arrow::csv::WriterBuilder::new().with_header(true).build(&mut out);
            if batches.is_empty() {
                w.write(&RecordBatch::new_empty(schema.clone()))?;
            }
            for b in batches {
                w.write(b)?;
            }
            drop(w);
            Ok(out)
        }
        Format::Json => {
            let mut w = datafusion::arrow::json::ArrayWriter::new(Vec::new());
            let refs: Vec<&RecordBatch> = batches.iter().collect();
            w.write_batches(&refs)?;
            w.finish()?;
            let out = w.into_inner();
            Ok(if out.is_empty() { b"[]".to_vec() } else { out })
        }
        Format::Arrow => {
            let mut out = Vec::new();
            let mut w = datafusion::arrow::ipc::writer::StreamWriter::try_new(&mut out, schema)?;
            for b in batches {
                w.write(b)?;
            }
            w.finish()?;
            drop(w);
            Ok(out)
        }
    }
}
