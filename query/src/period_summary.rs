//! Period summaries: per sensor and period (a night, a climatological day), the aggregates the
//! year-long views need, kept per network and month for closed days, so that a year of
//! `uhi_nightly`, `daily_tn_tx` or `ibm` reads a dozen small files instead of recomputing
//! millions of sensor-hours.
//!
//! A summary is an ordinary SQL definition over the hourly views (`analytics/*_summary.sql`);
//! its table serves each network-month in two parts:
//! - the **closed** periods — every UTC day they draw on (the day before to the day after) is
//!   at least two days old and has no rows in memory — from one chunk file
//!   (`SummaryChunkPath`) whose name carries a digest of everything the result depends on: the
//!   view definitions, the registry, the rollup files of those days and the network's CrowdQC+
//!   results. A chunk that is missing or stale (late data, a registry change, a new `ilot qc`
//!   run) is computed at the first query, through the same SQL narrowed to that network and
//!   those days, and written for the next ones; the month's stale chunks are deleted once
//!   they are an hour old (a running query may still read them);
//! - the periods still **open**, computed through the same SQL at each query.
//!
//! The numbers are therefore the SQL definition's whichever part they come from. Chunks are a
//! cache: deleting `summaries/` loses nothing, and a store where they cannot be written
//! (read-only credentials) still answers, computing them each time. A chunk whose read fails
//! is recorded as damaged by the scan (see `parquet_scan`) and computed again by the next query.

use async_trait::async_trait;
use chrono::Datelike;
use datafusion::arrow::compute::concat_batches;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::{DataFusionError, Result, ScalarValue};
use datafusion::datasource::TableType;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::execution::SessionState;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::logical_expr::{Expr, LogicalPlan, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::physical_plan::union::UnionExec;
use datafusion::prelude::{DataFrame, col, lit};
use futures::TryStreamExt;
use ilot_ingest::layout::{CrowdQcFilePath, SummaryChunkPath};
use ilot_ingest::registry::RegistryHandle;
use ilot_ingest::store::Store;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt, PutPayload};
use std::collections::{BTreeMap, BTreeSet};
use std::hash::Hasher;
use std::sync::Arc;
use twox_hash::XxHash64;

use crate::analytics::SUMMARIES;
use crate::engine::{QueryEngine, QueryError};
use crate::parquet_scan::ParquetScan;
use crate::pruning::{PartitionBounds, date_of_day, day_number};
use ilot_ingest::schema::partition_of_batch;

/// UTC days still open: today and the `OPEN_DAYS` before it (late readings are common there). A
/// period closes once the last day it draws on (the day after it) is older than that.
const OPEN_DAYS: i32 = 2;

/// How long a replaced chunk is kept before it is deleted: a query planned on it may still be
/// reading it (queries are bounded by `query.timeout_s`).
const STALE_CHUNK_GRACE: chrono::TimeDelta = chrono::TimeDelta::hours(1);

/// Bump when a Rust function the summaries' SQL calls (night labels, sun times) changes its
/// results: every chunk then becomes stale.
const SUMMARY_VERSION: u64 = 1;

/// One summary table: its name, its period column and its SQL definition.
pub struct PeriodSummaryTable {
    name: &'static str,
    /// The Date32 column naming the period (`night`, `date`).
    period_column: &'static str,
    /// The definition, planned once at registration over the session's views.
    definition: LogicalPlan,
    schema: SchemaRef,
    /// Digest of every view definition: a changed definition makes every chunk stale.
    definitions_digest: u64,
    store: Arc<Store>,
    registry: Arc<RegistryHandle>,
    store_url: ObjectStoreUrl,
}

impl std::fmt::Debug for PeriodSummaryTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PeriodSummaryTable({})", self.name)
    }
}

/// What the store holds for one network: each day's input files, and the days with rows in memory.
#[derive(Default)]
struct NetworkDays {
    files: BTreeMap<i32, Vec<(String, u64)>>,
    in_memory: BTreeSet<i32>,
}

impl NetworkDays {
    fn span(&self) -> Option<(i32, i32)> {
        let days = self.files.keys().chain(self.in_memory.iter());
        Some((*days.clone().min()?, *days.max()?))
    }
}

/// The parts one scan is assembled from.
#[derive(Default)]
struct Parts {
    chunk_files: Vec<PartitionedFile>,
    computed: Vec<RecordBatch>,
    live: Vec<Arc<dyn ExecutionPlan>>,
}

impl PeriodSummaryTable {
    pub fn new(
        name: &'static str,
        period_column: &'static str,
        definition: LogicalPlan,
        definitions_digest: u64,
        store: Arc<Store>,
        registry: Arc<RegistryHandle>,
        store_url: ObjectStoreUrl,
    ) -> Self {
        let schema = Arc::new(definition.schema().as_arrow().clone());
        Self { name, period_column, definition, schema, definitions_digest, store, registry, store_url }
    }

    /// The store's input files and in-memory days, per network.
    fn network_days(&self) -> BTreeMap<String, NetworkDays> {
        let snapshot = self.store.snapshot();
        let mut networks: BTreeMap<String, NetworkDays> = BTreeMap::new();
        for f in &snapshot.files {
            let Some(network) = &f.network else { continue };
            let input = match f.current_rollup() {
                Some((path, size)) => (path.as_str().to_owned(), size),
                None => (f.path.clone(), f.size_bytes),
            };
            networks.entry(network.clone()).or_default().files.entry(day_number(f.date)).or_default().push(input);
        }
        for b in snapshot.batches.iter().filter(|b| b.num_rows() > 0) {
            let (network, day) = partition_of_batch(b);
            networks.entry(network).or_default().in_memory.insert(day);
        }
        networks
    }

    /// The definition narrowed to `network` and periods `first..=last`, its scans to the days
    /// those periods draw on.
    fn narrowed(&self, state: &SessionState, network: &str, first: i32, last: i32, projection: Option<&Vec<usize>>) -> Result<DataFrame> {
        let mut state = state.clone();
        state.config_mut().set_extension(Arc::new(PartitionBounds::window(network, first - 1, last + 1)));
        let date = |d: i32| lit(ScalarValue::Date32(Some(d)));
        let df = DataFrame::new(state, self.definition.clone())
            .filter(col("network").eq(lit(network)).and(col(self.period_column).between(date(first), date(last))))?;
        match projection {
            Some(p) => {
                let names: Vec<&str> = p.iter().map(|&i| self.schema.field(i).name().as_str()).collect();
                df.select_columns(&names)
            }
            None => Ok(df),
        }
    }

    /// Digest of what periods `first..=last` of `network` depend on.
    fn inputs_digest(&self, registry: u64, network: &str, first: i32, last: i32, days: &NetworkDays, crowdqc: &[ObjectMeta]) -> u64 {
        let mut h = XxHash64::with_seed(0);
        h.write_u64(self.definitions_digest);
        h.write_u64(registry);
        h.write(network.as_bytes());
        h.write_i32(first);
        h.write_i32(last);
        for (day, files) in days.files.range(first - 1..=last + 1) {
            h.write_i32(*day);
            let mut files = files.clone();
            files.sort();
            for (path, size) in files {
                h.write(path.as_bytes());
                h.write_u64(size);
            }
        }
        let months: BTreeSet<String> = (first - 1..=last + 1).map(|d| format!("month={}", date_of_day(d).format("%Y-%m"))).collect();
        for meta in crowdqc.iter().filter(|m| m.location.parts().any(|p| months.contains(p.as_ref()))) {
            h.write(meta.location.as_ref().as_bytes());
            h.write_u64(meta.size);
            h.write_i64(meta.last_modified.timestamp_millis());
        }
        h.finish()
    }

    /// Compute periods `first..=last` of `network` and save them as a chunk, replacing `stale`.
    async fn compute_chunk(&self, state: &SessionState, network: &str, first: i32, last: i32, path: SummaryChunkPath, stale: Vec<ObjectMeta>) -> Result<Vec<RecordBatch>> {
        let batches = self.narrowed(state, network, first, last, None)?.collect().await?;
        let started = std::time::Instant::now();
        match self.save_chunk(&path, &batches, stale).await {
            Ok(rows) => tracing::debug!(summary = self.name, path = path.as_str(), rows, elapsed_ms = started.elapsed().as_millis() as u64, "period summary chunk saved"),
            // A cache: the query goes on with the computed rows.
            Err(e) => tracing::warn!(summary = self.name, path = path.as_str(), error = %e, "could not save a period summary chunk"),
        }
        Ok(batches)
    }

    async fn save_chunk(&self, path: &SummaryChunkPath, batches: &[RecordBatch], stale: Vec<ObjectMeta>) -> Result<usize, Box<dyn std::error::Error + Send + Sync>> {
        let batch = concat_batches(&self.schema, batches)?;
        let bytes = ilot_ingest::parquet_file::encode_small(&batch)?;
        let objects = self.store.object_store();
        objects.put(&path.object_path(), PutPayload::from(bytes)).await?;
        self.store.rewritten(path.as_str());
        let old_enough = chrono::Utc::now() - STALE_CHUNK_GRACE;
        for old in stale.into_iter().filter(|m| m.last_modified < old_enough) {
            match objects.delete(&old.location).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                // The new chunk is saved; the next replacement retries the cleanup.
                Err(e) => tracing::warn!(path = %old.location, error = %e, "could not delete a stale period summary chunk"),
            }
        }
        metrics::counter!("ilot_summary_chunks_written_total", "summary" => self.name).increment(1);
        Ok(batch.num_rows())
    }

    /// The chunk, computed rows and live plans for one network.
    async fn network_parts(
        &self,
        state: &SessionState,
        network: &str,
        days: &NetworkDays,
        bounds: &PartitionBounds,
        registry: u64,
        projection: Option<&Vec<usize>>,
        parts: &mut Parts,
    ) -> Result<()> {
        let Some((first_day, last_day)) = days.span() else { return Ok(()) };
        // A period draws on the day before and the day after it.
        let (lo, hi) = (first_day - 1, last_day + 1);
        if bounds.min_day.is_some_and(|d| d > hi) || bounds.max_day.is_some_and(|d| d < lo) {
            return Ok(());
        }
        let objects = self.store.object_store();
        let listed = list(objects.as_ref(), &SummaryChunkPath::network_dir(self.name, network)).await?;
        let crowdqc = list(objects.as_ref(), &CrowdQcFilePath::network_dir(network)).await?;
        let today = day_number(chrono::Utc::now().date_naive());
        let mut month_first = day_number(date_of_day(lo).with_day(1).expect("first of month"));
        while month_first <= hi {
            let next_month = day_number(date_of_day(month_first).checked_add_months(chrono::Months::new(1)).expect("date in range"));
            // The month's periods, cut to the data: independent of the query, so chunks are shared.
            let (m_lo, m_hi) = (month_first.max(lo), (next_month - 1).min(hi));
            month_first = next_month;
            if bounds.min_day.is_some_and(|d| d > m_hi) || bounds.max_day.is_some_and(|d| d < m_lo) {
                continue;
            }
            let mut closed = m_hi.min(today - OPEN_DAYS - 1);
            if let Some(first_open) = days.in_memory.range(m_lo - 1..).next() {
                closed = closed.min(first_open - 2);
            }
            if closed >= m_lo {
                let digest = self.inputs_digest(registry, network, m_lo, closed, days, &crowdqc);
                let path = SummaryChunkPath::new(self.name, network, date_of_day(m_lo), date_of_day(closed), digest);
                let month_dir = SummaryChunkPath::month_dir(self.name, network, date_of_day(m_lo));
                let (current, stale): (Vec<ObjectMeta>, Vec<ObjectMeta>) = listed
                    .iter()
                    .filter(|m| m.location.as_ref().starts_with(&format!("{month_dir}/")))
                    .cloned()
                    .partition(|m| m.location.as_ref() == path.as_str());
                // A chunk found unreadable (see `parquet_scan`) is computed again, like a missing one.
                match current.first().filter(|_| !self.store.is_damaged(path.as_str())) {
                    Some(meta) => parts.chunk_files.push(PartitionedFile::new(path.as_str(), meta.size)),
                    None => {
                        let rows = self.compute_chunk(state, network, m_lo, closed, path, stale).await?;
                        parts.computed.extend(rows);
                    }
                }
            }
            let open_from = m_lo.max(closed + 1).max(bounds.min_day.unwrap_or(i32::MIN));
            let open_to = m_hi.min(bounds.max_day.unwrap_or(i32::MAX));
            if open_from <= open_to {
                parts.live.push(self.narrowed(state, network, open_from, open_to, projection)?.create_physical_plan().await?);
            }
        }
        Ok(())
    }
}

/// Bring every summary's closed chunks up to date, as the first query after a change would:
/// run after an import and, by the service, after each compaction interval, so that dashboards
/// and analysts find them ready. Periods still open are not touched.
pub async fn keep_closed_chunks(engine: &QueryEngine) -> Result<(), QueryError> {
    let last_closed = date_of_day(day_number(chrono::Utc::now().date_naive()) - OPEN_DAYS - 1);
    for s in SUMMARIES {
        engine.query(&format!("SELECT count(*) FROM {} WHERE {} <= DATE '{last_closed}'", s.name, s.period_column)).await?;
    }
    Ok(())
}

/// The service's keeper: [`keep_closed_chunks`] every `interval` until shutdown.
pub async fn run_keeper(engine: Arc<QueryEngine>, interval: std::time::Duration, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = shutdown.changed() => break,
        }
        if let Err(e) = keep_closed_chunks(&engine).await {
            metrics::counter!("ilot_summary_keeper_errors_total").increment(1);
            tracing::error!(error = %e, "keeping the period summaries failed; queries compute them meanwhile");
        }
    }
}

/// Every object under `prefix` (none if it does not exist).
async fn list(objects: &dyn ObjectStore, prefix: &object_store::path::Path) -> Result<Vec<ObjectMeta>> {
    objects.list(Some(prefix)).try_collect().await.map_err(|e| DataFusionError::External(Box::new(e)))
}

/// Digest of the registry in force.
fn registry_digest(registry: &RegistryHandle) -> u64 {
    let mut h = XxHash64::with_seed(0);
    h.write(&serde_json::to_vec(&*registry.snapshot()).expect("registry serialises"));
    h.finish()
}

/// Digest of view and summary definitions (SQL texts), for [`PeriodSummaryTable::new`].
pub fn definitions_digest<'a>(sqls: impl IntoIterator<Item = &'a str>) -> u64 {
    let mut h = XxHash64::with_seed(u64::from(ilot_ingest::rollup::ROLLUP_VERSION));
    h.write_u64(SUMMARY_VERSION);
    h.write(env!("CARGO_PKG_VERSION").as_bytes());
    for sql in sqls {
        h.write(sql.as_bytes());
    }
    h.finish()
}

#[async_trait]
impl TableProvider for PeriodSummaryTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
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
        let state = state
            .as_any()
            .downcast_ref::<SessionState>()
            .ok_or_else(|| DataFusionError::Internal(format!("{} needs a DataFusion SessionState", self.name)))?;
        let bounds = PartitionBounds::from_filters_on(filters, self.period_column);
        let registry = registry_digest(&self.registry);
        let mut parts = Parts::default();
        for (network, days) in self.network_days() {
            if bounds.networks.as_ref().is_none_or(|set| set.contains(&network)) {
                self.network_parts(state, &network, &days, &bounds, registry, projection, &mut parts).await?;
            }
        }

        let projected = match projection {
            Some(p) => Arc::new(self.schema.project(p)?),
            None => self.schema.clone(),
        };
        let mut inputs = parts.live;
        if !parts.chunk_files.is_empty() {
            let scan = ParquetScan {
                store: &self.store,
                store_url: &self.store_url,
                file_schema: self.schema.clone(),
                partition_cols: Vec::new(),
                files: parts.chunk_files,
                pushable: &["network", "sensor_id", self.period_column],
            };
            inputs.push(scan.plan(state, filters, projection, None)?);
        }
        if !parts.computed.is_empty() {
            inputs.push(MemorySourceConfig::try_new_exec(&[parts.computed], self.schema.clone(), projection.cloned())?);
        }
        match inputs.len() {
            0 => Ok(Arc::new(EmptyExec::new(projected))),
            1 => Ok(inputs.pop().expect("one input")),
            _ => UnionExec::try_new(inputs),
        }
    }
}
