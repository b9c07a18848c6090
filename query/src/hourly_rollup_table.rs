//! The `hourly_rollup` table: per sensor and UTC hour, the count, sum (hundredths of a degree),
//! minimum and maximum of the QC-passed temperatures — the input of every hourly view, read
//! from the rollup files written beside the readings instead of rescanning them.
//!
//! A partition (network, day) held in one readings file with a current rollup (every closed,
//! compacted day) is scanned straight from that rollup's Parquet file. Any other partition (a
//! day still receiving data: several files and rows in memory) is merged at scan time by
//! [`Store::merged_hourly_rollup`], so each (sensor, hour) appears exactly once either way.

use async_trait::async_trait;
use datafusion::arrow::array::{ArrayRef, Date32Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::{DataFusionError, Result, ScalarValue};
use datafusion::datasource::TableType;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::physical_plan::union::UnionExec;
use ilot_ingest::manifest::DataFile;
use ilot_ingest::rollup::rollup_schema;
use ilot_ingest::schema::partition_fields;
use ilot_ingest::store::Store;
use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock};

use crate::parquet_scan::ParquetScan;
use crate::pruning::{PartitionBounds, day_number};
use ilot_ingest::schema::partition_of_batch;

/// Predicates evaluated on the rollup files as stored, for row-group pruning.
const PUSHABLE: [&str; 2] = ["sensor_id", "hour"];

/// Rollup columns followed by the partition columns `network` and `date`.
fn table_schema() -> SchemaRef {
    static S: LazyLock<SchemaRef> = LazyLock::new(|| {
        let mut fields: Vec<_> = rollup_schema().fields().iter().map(|f| f.as_ref().clone()).collect();
        fields.extend(partition_fields());
        Arc::new(Schema::new(fields))
    });
    S.clone()
}

pub struct HourlyRollupTable {
    store: Arc<Store>,
    store_url: ObjectStoreUrl,
}

impl HourlyRollupTable {
    pub fn new(store: Arc<Store>, store_url: ObjectStoreUrl) -> Self {
        Self { store, store_url }
    }
}

impl std::fmt::Debug for HourlyRollupTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HourlyRollupTable")
    }
}

/// What one partition holds in a snapshot.
#[derive(Default)]
struct Sources {
    files: Vec<Arc<DataFile>>,
    batches: Vec<RecordBatch>,
}

#[async_trait]
impl TableProvider for HourlyRollupTable {
    fn schema(&self) -> SchemaRef {
        table_schema()
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
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let bounds = PartitionBounds::from_filters(filters).within_session(state);
        let snapshot = self.store.snapshot();
        let mut partitions: BTreeMap<(Option<String>, i32), Sources> = BTreeMap::new();
        for f in snapshot.files.into_iter().filter(|f| bounds.admits(f.network.as_deref(), day_number(f.date))) {
            partitions.entry((f.network.clone(), day_number(f.date))).or_default().files.push(f);
        }
        for b in snapshot.batches.into_iter().filter(|b| b.num_rows() > 0) {
            let (network, day) = partition_of_batch(&b);
            if bounds.admits(Some(&network), day) {
                partitions.entry((Some(network), day)).or_default().batches.push(b);
            }
        }

        let mut direct = Vec::new();
        let mut merged = Vec::new();
        for ((network, day), sources) in partitions {
            let single = match (sources.files.as_slice(), sources.batches.is_empty()) {
                ([only], true) => only.current_rollup(),
                _ => None,
            };
            let partition_values = vec![ScalarValue::Utf8(network.clone()), ScalarValue::Date32(Some(day))];
            match single {
                Some((path, size)) => direct.push(PartitionedFile::new(path.as_str(), size).with_partition_values(partition_values)),
                None => {
                    let rollup = self
                        .store
                        .merged_hourly_rollup(&sources.files, &sources.batches)
                        .await
                        .map_err(|e| DataFusionError::External(Box::new(e)))?;
                    merged.push(with_partition(rollup, network.as_deref().unwrap_or_default(), day)?);
                }
            }
        }

        let mut inputs: Vec<Arc<dyn ExecutionPlan>> = Vec::new();
        if !direct.is_empty() {
            let scan = ParquetScan { store: &self.store, store_url: &self.store_url, file_schema: rollup_schema(), partition_cols: partition_fields(), files: direct, pushable: &PUSHABLE };
            inputs.push(scan.plan(state, filters, projection, None)?);
        }
        if !merged.is_empty() {
            inputs.push(MemorySourceConfig::try_new_exec(&[merged], table_schema(), projection.cloned())?);
        }
        match inputs.len() {
            0 => {
                let projected = match projection {
                    Some(p) => Arc::new(table_schema().project(p)?),
                    None => table_schema(),
                };
                Ok(Arc::new(EmptyExec::new(projected)))
            }
            1 => Ok(inputs.pop().expect("one input")),
            _ => UnionExec::try_new(inputs),
        }
    }
}

/// A merged rollup batch with its partition columns appended.
fn with_partition(rollup: RecordBatch, network: &str, day: i32) -> Result<RecordBatch> {
    let n = rollup.num_rows();
    let mut columns: Vec<ArrayRef> = rollup.columns().to_vec();
    columns.push(Arc::new(StringArray::from(vec![network; n])));
    columns.push(Arc::new(Date32Array::from(vec![day; n])));
    Ok(RecordBatch::try_new(table_schema(), columns)?)
}
