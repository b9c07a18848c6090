//! The tables of the stored datasets: `readings`, `conflicts` (readings kept aside, same
//! columns) and `dead_letters` (refused messages). Each is its published Parquet files (from
//! the manifests) ∪ its durable rows still in memory, read from one consistent snapshot of the
//! store, so a row reads the same before and after it is persisted: the columns SQL shows
//! differently from storage are computed by one projection over both sources (decimals as
//! `DOUBLE`; a dead letter's `payload_text`, its payload as UTF-8 or null). Partitions are
//! pruned by `date`/`network`, including dates derived from `ts`. A dead letter's `writer` comes
//! from its file's name (or the writer holding it in memory), like a partition value.

use async_trait::async_trait;
use datafusion::arrow::compute::CastOptions;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::util::display::FormatOptions;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::{Result, ScalarValue};
use datafusion::datasource::TableType;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::{CastExpr, Column};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::physical_plan::projection::{ProjectionExec, ProjectionExpr};
use datafusion::physical_plan::union::UnionExec;
use ilot_ingest::dead_letter::{dead_letter_file_schema, dead_letter_partition_fields, dead_letter_stored_schema};
use ilot_ingest::layout::{DataFilePath, Dataset};
use ilot_ingest::manifest::DataFile;
use ilot_ingest::schema::{DECIMAL_COLUMNS, file_schema, partition_fields, partition_of_batch, public_schema, stored_schema};
use ilot_ingest::store::Store;
use std::sync::{Arc, LazyLock};

use crate::parquet_scan::ParquetScan;
use crate::pruning::{PartitionBounds, day_number};

/// Columns whose predicates can be evaluated on the Parquet files as stored (same type in
/// files and in SQL), and so pushed into the scan for row-group and page pruning.
const READINGS_PUSHABLE: [&str; 4] = ["sensor_id", "ts", "received_at", "qc_flags"];
const DEAD_LETTERS_PUSHABLE: [&str; 4] = ["received_at", "topic", "reason", "detail"];

/// The dead letters' column computed from `payload`.
const PAYLOAD_TEXT: &str = "payload_text";

/// The `dead_letters` SQL schema: the stored columns with `payload_text` after `payload`.
fn dead_letters_schema() -> SchemaRef {
    static S: LazyLock<SchemaRef> = LazyLock::new(|| {
        let mut fields: Vec<Field> = dead_letter_stored_schema().fields().iter().map(|f| f.as_ref().clone()).collect();
        let after_payload = fields.iter().position(|f| f.name() == "payload").expect("dead letters have a payload") + 1;
        fields.insert(after_payload, Field::new(PAYLOAD_TEXT, DataType::Utf8, true));
        Arc::new(Schema::new(fields))
    });
    S.clone()
}

/// The stored column an SQL column is read from.
fn source_of(column: &str) -> &str {
    if column == PAYLOAD_TEXT { "payload" } else { column }
}

/// An SQL column from its stored source `column`: decimals → `DOUBLE`, payload → text (null
/// where it is not UTF-8), the rest as stored.
fn sql_column(field: &Field, column: Arc<dyn PhysicalExpr>) -> Arc<dyn PhysicalExpr> {
    if DECIMAL_COLUMNS.contains(&field.name().as_str()) {
        Arc::new(CastExpr::new(column, DataType::Float64, None))
    } else if field.name() == PAYLOAD_TEXT {
        let lossless_or_null = CastOptions { safe: true, format_options: FormatOptions::default() };
        Arc::new(CastExpr::new_with_target_field(column, Arc::new(field.clone()), Some(lossless_or_null)))
    } else {
        column
    }
}

pub struct DatasetTable {
    store: Arc<Store>,
    store_url: ObjectStoreUrl,
    dataset: Dataset,
}

impl DatasetTable {
    pub fn new(dataset: Dataset, store: Arc<Store>, store_url: ObjectStoreUrl) -> Self {
        Self { store, store_url, dataset }
    }

    /// In-memory batches and files hold these columns: the files', then the partition columns.
    fn stored_schema(&self) -> SchemaRef {
        match self.dataset {
            Dataset::Readings | Dataset::Conflicts => stored_schema(),
            Dataset::DeadLetters => dead_letter_stored_schema(),
        }
    }

    /// The Parquet half of the scan, over `files` (already pruned), reading stored columns `read`.
    fn file_scan(&self, files: &[Arc<DataFile>], state: &dyn Session, filters: &[Expr], read: &[usize], limit: Option<usize>) -> Result<Arc<dyn ExecutionPlan>> {
        let day = |f: &DataFile| ScalarValue::Date32(Some(day_number(f.date)));
        let (file_schema, partition_cols, pushable, files): (_, _, &[&str], Vec<_>) = match self.dataset {
            Dataset::Readings | Dataset::Conflicts => {
                let partitioned = files.iter().map(|f| (f, vec![ScalarValue::Utf8(f.network.clone()), day(f)])).collect();
                (file_schema(), partition_fields(), &READINGS_PUSHABLE, partitioned)
            }
            Dataset::DeadLetters => {
                let writer = |f: &DataFile| f.path.rsplit('/').next().and_then(DataFilePath::writer_of).map(str::to_owned);
                let partitioned = files.iter().map(|f| (f, vec![ScalarValue::Utf8(writer(f)), day(f)])).collect();
                (dead_letter_file_schema(), dead_letter_partition_fields(), &DEAD_LETTERS_PUSHABLE, partitioned)
            }
        };
        let files = files.into_iter().map(|(f, values)| PartitionedFile::new(f.path.clone(), f.size_bytes).with_partition_values(values)).collect();
        let scan = ParquetScan { store: &self.store, store_url: &self.store_url, file_schema, partition_cols, files, pushable };
        scan.plan(state, filters, Some(&read.to_vec()), limit)
    }
}

impl std::fmt::Debug for DatasetTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DatasetTable({:?})", self.dataset)
    }
}

#[async_trait]
impl TableProvider for DatasetTable {
    fn schema(&self) -> SchemaRef {
        match self.dataset {
            Dataset::Readings | Dataset::Conflicts => public_schema(),
            Dataset::DeadLetters => dead_letters_schema(),
        }
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(&self, filters: &[&Expr]) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let (table, stored) = (self.schema(), self.stored_schema());
        let wanted: Vec<usize> = projection.cloned().unwrap_or_else(|| (0..table.fields().len()).collect());
        // The stored columns the wanted ones are computed from, in stored order.
        let mut read: Vec<usize> = wanted.iter().map(|&i| stored.index_of(source_of(table.field(i).name()))).collect::<Result<_, _>>()?;
        read.sort_unstable();
        read.dedup();

        let bounds = PartitionBounds::from_filters(filters).within_session(state);
        let snapshot = self.store.snapshot_of(self.dataset);
        let mut inputs: Vec<Arc<dyn ExecutionPlan>> = Vec::new();
        let files: Vec<Arc<DataFile>> = snapshot.files.into_iter().filter(|f| bounds.admits(f.network.as_deref(), day_number(f.date))).collect();
        if !files.is_empty() {
            inputs.push(self.file_scan(&files, state, filters, &read, limit)?);
        }
        let batches: Vec<_> = snapshot
            .batches
            .into_iter()
            .filter(|b| {
                b.num_rows() > 0
                    && match self.dataset {
                        // One partition per batch.
                        Dataset::Readings | Dataset::Conflicts => {
                            let (network, day) = partition_of_batch(b);
                            bounds.admits(Some(&network), day)
                        }
                        // One batch per writer, any day (few rows: filtered after the scan).
                        Dataset::DeadLetters => true,
                    }
            })
            .collect();
        if !batches.is_empty() {
            inputs.push(MemorySourceConfig::try_new_exec(&[batches], stored.clone(), Some(read.clone()))?);
        }
        let input: Arc<dyn ExecutionPlan> = match inputs.len() {
            0 => Arc::new(EmptyExec::new(Arc::new(stored.project(&read)?))),
            _ => UnionExec::try_new(inputs)?,
        };
        // The SQL columns from the stored ones, identically for both sources.
        let exprs: Vec<ProjectionExpr> = wanted
            .iter()
            .map(|&i| {
                let field = table.field(i);
                let source = source_of(field.name());
                let position = read.iter().position(|&r| stored.field(r).name() == source).expect("every source column is read");
                ProjectionExpr { expr: sql_column(field, Arc::new(Column::new(source, position))), alias: field.name().clone() }
            })
            .collect();
        Ok(Arc::new(ProjectionExec::try_new(exprs, input)?))
    }
}
