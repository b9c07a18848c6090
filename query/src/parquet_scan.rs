//! The Parquet half of the `readings`, `conflicts`, `dead_letters`, `hourly_rollup` and period-summary scans: published
//! files (with their partition values, if any) spread over the scan partitions, with the filters the files can evaluate
//! as stored pushed into the reader for row-group and page pruning.
//!
//! Each file is read through a reader that, when a fetch or the footer fails, has the store
//! recheck the file ([`Store::recheck`]): a file found missing or unreadable is recorded as
//! damaged, the error names it, and later queries leave it out (see `ilot_ingest::damage`).
//! Files are checked for presence and size when they enter the store, so this is for damage
//! done while a service runs.

use datafusion::arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::catalog::Session;
use datafusion::common::{DFSchema, Result};
use datafusion::datasource::listing::PartitionedFile;
use bytes::Bytes;
use datafusion::datasource::physical_plan::parquet::DefaultParquetFileReaderFactory;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder, ParquetFileReaderFactory, ParquetSource};
use datafusion::datasource::source::DataSourceExec;
use datafusion::datasource::table_schema::TableSchema;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::logical_expr::{Expr, utils::conjunction};
use datafusion::parquet::arrow::arrow_reader::ArrowReaderOptions;
use datafusion::parquet::arrow::async_reader::AsyncFileReader;
use datafusion::parquet::errors::ParquetError;
use datafusion::parquet::file::metadata::ParquetMetaData;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::metrics::ExecutionPlanMetricsSet;
use futures::FutureExt;
use futures::future::BoxFuture;
use ilot_ingest::store::Store;
use std::ops::Range;
use std::sync::Arc;

/// What to scan: files of `file_schema`, the partition columns after it.
pub struct ParquetScan<'a> {
    /// The store the files belong to (told of files that turn out damaged).
    pub store: &'a Arc<Store>,
    pub store_url: &'a ObjectStoreUrl,
    pub file_schema: SchemaRef,
    /// Columns each file gives one value to (its `PartitionedFile::partition_values`, in this
    /// order): `network` and `date` from the path of readings and rollups, `writer` and `date`
    /// for dead letters; none for summaries, which hold every column in the file.
    pub partition_cols: Vec<Field>,
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
        let mut fields: Vec<_> = self.file_schema.fields().iter().map(|f| f.as_ref().clone()).collect();
        fields.extend(self.partition_cols.iter().cloned());
        let table_schema = TableSchema::builder(self.file_schema).with_table_partition_cols(self.partition_cols).build();
        let readers = DamageReporting { inner: DefaultParquetFileReaderFactory::new(self.store.object_store()), store: self.store.clone() };
        let mut source = ParquetSource::new(table_schema).with_parquet_file_reader_factory(Arc::new(readers));
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

/// DataFusion's plain readers, each telling the store when its file fails to read.
struct DamageReporting {
    inner: DefaultParquetFileReaderFactory,
    store: Arc<Store>,
}

impl std::fmt::Debug for DamageReporting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DamageReporting")
    }
}

impl ParquetFileReaderFactory for DamageReporting {
    fn create_reader(
        &self,
        partition_index: usize,
        file: PartitionedFile,
        metadata_size_hint: Option<usize>,
        metrics: &ExecutionPlanMetricsSet,
    ) -> Result<Box<dyn AsyncFileReader + Send>> {
        let (path, size) = (file.object_meta.location.to_string(), file.object_meta.size);
        let inner = self.inner.create_reader(partition_index, file, metadata_size_hint, metrics)?;
        Ok(Box::new(ReportingReader { inner, store: self.store.clone(), path, size }))
    }
}

struct ReportingReader {
    inner: Box<dyn AsyncFileReader + Send>,
    store: Arc<Store>,
    path: String,
    size: u64,
}

/// The error of a failed read of `path`, naming the file when the store finds it damaged.
async fn explain(store: &Store, path: &str, size: u64, e: ParquetError) -> ParquetError {
    match store.recheck(path, size).await {
        Some(problem) => ParquetError::General(format!("{path} is {problem}: it is left out of queries from now on; run the query again")),
        None => e,
    }
}

/// `read`, its error explained by [`explain`].
fn explained<'a, T: Send + 'a>(
    read: BoxFuture<'a, datafusion::parquet::errors::Result<T>>,
    store: &'a Store,
    path: &'a str,
    size: u64,
) -> BoxFuture<'a, datafusion::parquet::errors::Result<T>> {
    async move {
        match read.await {
            Ok(value) => Ok(value),
            Err(e) => Err(explain(store, path, size, e).await),
        }
    }
    .boxed()
}

impl AsyncFileReader for ReportingReader {
    fn get_bytes(&mut self, range: Range<u64>) -> BoxFuture<'_, datafusion::parquet::errors::Result<Bytes>> {
        let Self { inner, store, path, size } = self;
        explained(inner.get_bytes(range), store, path, *size)
    }

    fn get_byte_ranges(&mut self, ranges: Vec<Range<u64>>) -> BoxFuture<'_, datafusion::parquet::errors::Result<Vec<Bytes>>> {
        let Self { inner, store, path, size } = self;
        explained(inner.get_byte_ranges(ranges), store, path, *size)
    }

    fn get_metadata<'a>(&'a mut self, options: Option<&'a ArrowReaderOptions>) -> BoxFuture<'a, datafusion::parquet::errors::Result<Arc<ParquetMetaData>>> {
        let Self { inner, store, path, size } = self;
        explained(inner.get_metadata(options), store, path, *size)
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
