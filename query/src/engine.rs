//! `QueryEngine`: the analyst-facing SQL session. Read-only (DDL, DML, `COPY`, `SET` and
//! `CREATE EXTERNAL TABLE` are refused before planning), bounded in memory (a DataFusion
//! memory pool) and in time (a per-query deadline).

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::ScalarValue;
use datafusion::error::DataFusionError;
use datafusion::execution::cache::cache_manager::CacheManagerConfig;
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::{SQLOptions, SessionConfig, SessionContext};
use ilot_ingest::store::Store;
use std::sync::Arc;
use std::time::Duration;

use crate::heat_indices;
use crate::registry_tables::{RegistryTableKind, registry_table};
use ilot_ingest::registry::RegistryHandle;
use crate::hourly_rollup_table::HourlyRollupTable;
use crate::readings_table::ReadingsTable;

/// Limits applied to every analyst query.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QueryLimits {
    /// Memory all running queries may use together, in MiB.
    pub memory_limit_mib: usize,
    /// Longest a query may run, in seconds.
    pub timeout_s: u64,
    /// Most rows a query may return (the result is cut and says so).
    pub max_result_rows: usize,
}

impl Default for QueryLimits {
    fn default() -> Self {
        Self { memory_limit_mib: 1024, timeout_s: 60, max_result_rows: 1_000_000 }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("only read-only queries are allowed here: {0}")]
    NotReadOnly(String),
    #[error("SQL error: {0}")]
    Sql(String),
    #[error("query exceeded its memory limit ({limit_mib} MiB): {detail}")]
    Memory { limit_mib: usize, detail: String },
    #[error("query exceeded its time limit of {0} s")]
    Timeout(u64),
}

impl QueryError {
    fn from_datafusion(e: DataFusionError, limits: &QueryLimits) -> Self {
        match e.find_root() {
            DataFusionError::ResourcesExhausted(detail) => Self::Memory { limit_mib: limits.memory_limit_mib, detail: detail.clone() },
            DataFusionError::Plan(m) if m.contains("not supported") || m.contains("DDL") || m.contains("DML") || m.contains("Statement") => {
                Self::NotReadOnly(m.clone())
            }
            other => Self::Sql(other.to_string()),
        }
    }
}

/// A query's answer.
pub struct QueryResult {
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
    /// True when `max_result_rows` cut the result.
    pub truncated: bool,
}

pub struct QueryEngine {
    ctx: SessionContext,
    limits: QueryLimits,
}

/// The URL under which the store's object store is registered with DataFusion.
pub fn store_url() -> ObjectStoreUrl {
    ObjectStoreUrl::parse("ilot://store/").expect("valid object store url")
}

impl QueryEngine {
    /// The session over `store` and `registry`: the `readings` table, the registry tables, the
    /// SQL functions and the heat-analytics views.
    pub async fn new(store: Arc<Store>, registry: Arc<RegistryHandle>, limits: QueryLimits) -> Result<Self, QueryError> {
        // No spilling to disk: an analyst query that outgrows its memory budget fails with a
        // clear error instead of filling the disk.
        let runtime = RuntimeEnvBuilder::new()
            .with_memory_limit(limits.memory_limit_mib * 1024 * 1024, 1.0)
            .with_disk_manager_builder(DiskManagerBuilder::default().with_mode(DiskManagerMode::Disabled))
            // No directory-listing cache: DataFusion 55 keeps listings forever by default, and the
            // `crowdqc` table must see each new run's file at once.
            .with_cache_manager(CacheManagerConfig::default().with_list_files_cache_limit(0))
            .build_arc()
            .map_err(|e| QueryError::Sql(e.to_string()))?;
        let mut config = SessionConfig::new()
            .with_information_schema(true)
            .with_default_catalog_and_schema(crate::analytics::CATALOG, crate::analytics::SCHEMA);
        let opts = config.options_mut();
        opts.execution.parquet.pushdown_filters = true;
        opts.execution.parquet.metadata_size_hint = Some(16 * 1024);
        opts.sql_parser.enable_ident_normalization = true;
        let ctx = SessionContext::new_with_config_rt(config, runtime);
        let url = store_url();
        ctx.register_object_store(url.as_ref(), store.object_store());
        crate::analytics::install(&ctx, store.clone(), registry.clone(), url.clone()).map_err(|e| QueryError::Sql(e.to_string()))?;
        ctx.register_table("latest_readings", Arc::new(crate::latest_table::latest_readings_table(store.clone())))
            .map_err(|e| QueryError::Sql(e.to_string()))?;
        ctx.register_table("hourly_rollup", Arc::new(HourlyRollupTable::new(store.clone(), url.clone())))
            .map_err(|e| QueryError::Sql(e.to_string()))?;
        ctx.register_table("readings", Arc::new(ReadingsTable::new(store, url.clone())))
            .map_err(|e| QueryError::Sql(e.to_string()))?;
        for kind in [RegistryTableKind::Sensors, RegistryTableKind::Networks, RegistryTableKind::ReferenceSensors] {
            ctx.register_table(kind.name(), Arc::new(registry_table(registry.clone(), kind))).map_err(|e| QueryError::Sql(e.to_string()))?;
        }
        let crowdqc = crate::crowdqc_table::crowdqc_table(&url).map_err(|e| QueryError::Sql(e.to_string()))?;
        ctx.register_table("crowdqc", crowdqc).map_err(|e| QueryError::Sql(e.to_string()))?;
        heat_indices::register(&ctx);
        crate::local_time::register(&ctx);
        crate::night::register(&ctx);
        Ok(Self { ctx, limits })
    }

    pub fn limits(&self) -> &QueryLimits {
        &self.limits
    }

    /// Run one read-only SQL statement.
    pub async fn query(&self, sql: &str) -> Result<QueryResult, QueryError> {
        self.run(sql, None).await
    }

    /// Run one read-only SQL statement with placeholders `$1`, `$2` … bound to `params`, in
    /// order: the way to put caller-supplied values into a query without formatting them into
    /// SQL text. Same read-only options, limits, deadline and truncation as [`Self::query`].
    pub async fn query_with_params(&self, sql: &str, params: Vec<ScalarValue>) -> Result<QueryResult, QueryError> {
        self.run(sql, Some(params)).await
    }

    async fn run(&self, sql: &str, params: Option<Vec<ScalarValue>>) -> Result<QueryResult, QueryError> {
        let options = SQLOptions::new().with_allow_ddl(false).with_allow_dml(false).with_allow_statements(false);
        let limits = self.limits.clone();
        let work = async {
            let df = self.ctx.sql_with_options(sql, options).await.map_err(|e| QueryError::from_datafusion(e, &limits))?;
            let df = match params {
                Some(params) => df.with_param_values(params).map_err(|e| QueryError::from_datafusion(e, &limits))?,
                None => df,
            };
            // EXPLAIN [ANALYZE] must stay the root of its plan; its answer is small anyway.
            let explain = matches!(df.logical_plan(), LogicalPlan::Explain(_) | LogicalPlan::Analyze(_));
            let df = if explain { df } else { df.limit(0, Some(limits.max_result_rows + 1)).map_err(|e| QueryError::from_datafusion(e, &limits))? };
            let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
            let batches = df.collect().await.map_err(|e| QueryError::from_datafusion(e, &limits))?;
            Ok::<_, QueryError>((schema, batches))
        };
        let (schema, mut batches) = tokio::time::timeout(Duration::from_secs(self.limits.timeout_s), work)
            .await
            .map_err(|_| QueryError::Timeout(self.limits.timeout_s))??;
        let total: usize = batches.iter().map(RecordBatch::num_rows).sum();
        let truncated = total > self.limits.max_result_rows;
        if truncated {
            let mut keep = self.limits.max_result_rows;
            batches = batches
                .into_iter()
                .filter_map(|b| {
                    let n = b.num_rows().min(keep);
                    keep -= n;
                    (n > 0).then(|| b.slice(0, n))
                })
                .collect();
        }
        Ok(QueryResult { schema, batches, truncated })
    }
}
