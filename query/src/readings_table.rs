//! The `readings` table: published Parquet files (from the manifest) ∪ durable rows still in
//! memory, read from one consistent snapshot of the store. Stored decimals are shown as
//! `DOUBLE` by one cast applied to both sources, so a value reads the same before and after it
//! is persisted. Partitions are pruned by `date`/`network`, including dates derived from `ts`.

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::{Result, ScalarValue};
use datafusion::datasource::TableType;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_expr::expressions::{CastExpr, Column};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::physical_plan::projection::{ProjectionExec, ProjectionExpr};
use datafusion::physical_plan::union::UnionExec;
use ilot_ingest::schema::{DECIMAL_COLUMNS, file_schema, public_schema, stored_schema};
use ilot_ingest::store::Store;
use std::sync::Arc;

use crate::parquet_scan::ParquetScan;
use crate::pruning::{PartitionBounds, day_number};
use ilot_ingest::schema::partition_of_batch;

/// Columns whose predicates can be evaluated on the Parquet files as stored (same type in
/// files and in SQL), and so pushed into the scan for row-group and page pruning.
const PUSHABLE: [&str; 4] = ["sensor_id", "ts", "received_at", "qc_flags"];

pub struct ReadingsTable {
    store: Arc<Store>,
    store_url: ObjectStoreUrl,
}

impl ReadingsTable {
    pub fn new(store: Arc<Store>, store_url: ObjectStoreUrl) -> Self {
        Self { store, store_url }
    }
}

impl std::fmt::Debug for ReadingsTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReadingsTable")
    }
}

fn date_of_day(day: i32) -> ScalarValue {
    ScalarValue::Date32(Some(day))
}

#[async_trait]
impl TableProvider for ReadingsTable {
    fn schema(&self) -> SchemaRef {
        public_schema()
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
        let bounds = PartitionBounds::from_filters(filters).within_session(state);
        let snapshot = self.store.snapshot();
        let stored = stored_schema();
        let mut inputs: Vec<Arc<dyn ExecutionPlan>> = Vec::new();

        let files: Vec<PartitionedFile> = snapshot
            .files
            .iter()
            .filter(|f| bounds.admits(f.network.as_deref(), day_number(f.date)))
            .map(|f| {
                PartitionedFile::new(f.path.clone(), f.size_bytes).with_partition_values(vec![
                    ScalarValue::Utf8(f.network.clone()),
                    date_of_day(day_number(f.date)),
                ])
            })
            .collect();
        if !files.is_empty() {
            let scan = ParquetScan { store: &self.store, store_url: &self.store_url, file_schema: file_schema(), partitioned: true, files, pushable: &PUSHABLE };
            inputs.push(scan.plan(state, filters, projection, limit)?);
        }

        let batches: Vec<_> = snapshot
            .batches
            .into_iter()
            .filter(|b| {
                b.num_rows() > 0 && {
                    let (network, day) = partition_of_batch(b);
                    bounds.admits(Some(&network), day)
                }
            })
            .collect();
        if !batches.is_empty() {
            inputs.push(MemorySourceConfig::try_new_exec(&[batches], stored.clone(), projection.cloned())?);
        }

        let projected = match projection {
            Some(p) => Arc::new(stored.project(p)?),
            None => stored.clone(),
        };
        let input: Arc<dyn ExecutionPlan> = match inputs.len() {
            0 => Arc::new(EmptyExec::new(projected.clone())),
            _ => UnionExec::try_new(inputs)?,
        };
        // Decimals on disk and in memory → DOUBLE in SQL, identically for both sources.
        let exprs: Vec<ProjectionExpr> = projected
            .fields()
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let column = Arc::new(Column::new(f.name(), i));
                let expr: Arc<dyn datafusion::physical_expr::PhysicalExpr> = if DECIMAL_COLUMNS.contains(&f.name().as_str()) {
                    Arc::new(CastExpr::new(column, DataType::Float64, None))
                } else {
                    column
                };
                ProjectionExpr { expr, alias: f.name().clone() }
            })
            .collect();
        Ok(Arc::new(ProjectionExec::try_new(exprs, input)?))
    }
}
