//! The Parquet half of the `readings`, `hourly_rollup` and period-summary scans: published
//! files (with their partition values, if any) spread over the scan partitions, with the filters the files can evaluate
//! as stored pushed into the reader for row-group and page pruning.

use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::catalog::Session;
use datafusion::common::{DFSchema, Result};
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder, ParquetSource};
use datafusion::datasource::source::DataSourceExec;
use datafusion::datasource::table_schema::TableSchema;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::logical_expr::{Expr, utils::conjunction};
use datafusion::physical_plan::ExecutionPlan;
use ilot_ingest::schema::partition_fields;
use std::sync::Arc;

/// What to scan: files of `file_schema`, the partition columns `network` and `date` after it
/// when `partitioned`.
pub struct ParquetScan<'a> {
    pub store_url: &'a ObjectStoreUrl,
    pub file_schema: SchemaRef,
    /// The files' paths carry `network` and `date` (readings, rollups); summaries hold every
    /// column in the file.
    pub partitioned: bool,
    pub files: Vec<PartitionedFile>,
    /// Columns whose type is the same in the files and in SQL: filters on them alone are pushed.
    pub pushable: &'a [&'a str],
}

impl ParquetScan<'_> {
    pub fn plan(
        self,
        state: &dyn Session,
        filters: &[Expr],
        projection: Option<&Vec<usize>>,
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let partition_cols = if self.partitioned { partition_fields() } else { Vec::new() };
        let mut fields: Vec<_> = self.file_schema.fields().iter().map(|f| f.as_ref().clone()).collect();
        fields.extend(partition_cols.iter().cloned());
        let table_schema = TableSchema::builder(self.file_schema).with_table_partition_cols(partition_cols).build();
        let mut source = ParquetSource::new(table_schema);
        let pushable: Vec<Expr> = filters.iter().filter(|e| only_columns(e, self.pushable)).cloned().collect();
        if let Some(predicate) = conjunction(pushable) {
            let df_schema = DFSchema::try_from(Schema::new(fields))?;
            source = source.with_predicate(state.create_physical_expr(predicate, &df_schema)?);
        }
        let groups = split_groups(self.files, state.config().target_partitions().max(1));
        let config = FileScanConfigBuilder::new(self.store_url.clone(), Arc::new(source))
            .with_file_groups(groups)
            .with_projection_indices(projection.cloned())?
            .with_limit(limit)
            .build();
        Ok(DataSourceExec::from_data_source(config))
    }
}

/// True when every column the expression mentions is in `allowed`.
fn only_columns(expr: &Expr, allowed: &[&str]) -> bool {
    let columns = expr.column_refs();
    !columns.is_empty() && columns.iter().all(|c| allowed.contains(&c.name.as_str()))
}

/// Spread files over `n` groups (scan partitions), keeping sizes balanced.
fn split_groups(mut files: Vec<PartitionedFile>, n: usize) -> Vec<FileGroup> {
    files.sort_by_key(|f| std::cmp::Reverse(f.object_meta.size));
    let mut groups: Vec<(u64, Vec<PartitionedFile>)> = (0..n.min(files.len())).map(|_| (0, Vec::new())).collect();
    for f in files {
        let smallest = groups.iter_mut().min_by_key(|(size, _)| *size).expect("at least one group");
        smallest.0 += f.object_meta.size;
        smallest.1.push(f);
    }
    groups.into_iter().map(|(_, fs)| FileGroup::new(fs)).collect()
}
