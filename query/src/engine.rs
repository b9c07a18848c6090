//! `QueryEngine`: the analyst-facing SQL session. Read-only (DDL, DML, `COPY`, `SET` and
//! `CREATE EXTERNAL TABLE` are refused before planning), bounded in shape (`sql_shape`: no
//! expression deep enough to exhaust a stack), in memory (a DataFusion memory pool that also
//! holds the collected result, and `bounded_functions` for what functions materialise), in time
//! (a deadline that aborts the query's task, which `time_slice` makes yield often enough for
//! the abort to take effect) and in number (`max_concurrent`). Every query runs
//! on the `executor`'s threads, never on the intake's. The session also holds PostgreSQL's
//! catalog (`pg_catalog`, `current_database()` …) for the PostgreSQL wire endpoint's clients,
//! which send statements already parsed ([`QueryEngine::query_statement`]).

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::ScalarValue;
use datafusion::error::DataFusionError;
use datafusion::execution::cache::cache_manager::CacheManagerConfig;
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::logical_expr::LogicalPlan;
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::Statement;
use datafusion::sql::sqlparser::parser::ParserError;
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryReservation};
use datafusion::prelude::{SQLOptions, SessionConfig, SessionContext};
use futures::StreamExt;
use tokio::sync::Semaphore;
use ilot_ingest::store::Store;
use std::sync::Arc;
use std::time::Duration;

use crate::executor::{ExecutorError, QueryExecutor};
use crate::heat_indices;
use crate::memory_watchdog::RunningQueries;
use crate::registry_tables::{RegistryTableKind, registry_table};
use ilot_ingest::registry::RegistryHandle;
use crate::hourly_rollup_table::HourlyRollupTable;
use crate::dataset_table::DatasetTable;
use ilot_ingest::layout::Dataset;

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
    /// Queries running at once; more wait (their deadline running).
    pub max_concurrent: usize,
    /// Query threads (0: one per core).
    pub threads: usize,
    /// The whole process's heap (intake, caches, queries): running queries are cancelled
    /// beyond it. 0: `memory_limit_mib` + 512.
    pub process_memory_mib: usize,
    /// Queries one client address may start a minute over `/api/sql` and the PostgreSQL
    /// endpoint together (enforced there; ilot's own jobs are not counted). 0: no limit.
    pub per_client_per_minute: u32,
}

impl QueryLimits {
    /// `threads`, resolved: 0 means every core but `reserved_cores` (at least one).
    pub fn query_threads(&self, reserved_cores: usize) -> usize {
        match self.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get().saturating_sub(reserved_cores).max(1)),
            n => n,
        }
    }

    /// `process_memory_mib`, resolved.
    pub fn process_memory_budget_mib(&self) -> usize {
        if self.process_memory_mib == 0 { self.memory_limit_mib + 512 } else { self.process_memory_mib }
    }
}

impl Default for QueryLimits {
    fn default() -> Self {
        Self {
            memory_limit_mib: 1024,
            timeout_s: 60,
            max_result_rows: 1_000_000,
            max_concurrent: 4,
            threads: 0,
            process_memory_mib: 0,
            per_client_per_minute: 600,
        }
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
    #[error("query cancelled: the process went over its memory budget of {budget_mib} MiB (query.process_memory_mib)")]
    ProcessMemory { budget_mib: usize },
    #[error("query refused: {0}")]
    Shape(#[from] crate::sql_shape::ShapeError),
    #[error(transparent)]
    Executor(#[from] ExecutorError),
}

impl QueryError {
    fn from_datafusion(e: DataFusionError, limits: &QueryLimits) -> Self {
        match e.find_root() {
            DataFusionError::ResourcesExhausted(detail) => Self::Memory { limit_mib: limits.memory_limit_mib, detail: detail.clone() },
            DataFusionError::Plan(m) if m.contains("not supported") || m.contains("DDL") || m.contains("DML") || m.contains("Statement") => {
                Self::NotReadOnly(m.clone())
            }
            DataFusionError::SQL(e, _) if matches!(**e, ParserError::RecursionLimitExceeded) => {
                Self::Sql("the query nests parentheses or subqueries more than 50 levels deep; split it".into())
            }
            other => Self::Sql(other.to_string()),
        }
    }
}

/// A query's answer. It holds its share of the memory pool until dropped.
pub struct QueryResult {
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
    /// True when `max_result_rows` cut the result.
    pub truncated: bool,
    _memory: MemoryReservation,
}

pub struct QueryEngine {
    ctx: SessionContext,
    limits: QueryLimits,
    executor: Arc<QueryExecutor>,
    running: Arc<Semaphore>,
    running_queries: Arc<RunningQueries>,
}

/// The longest SQL text [`QueryEngine::check_text`] accepts (the HTTP API's body limit).
pub const MAX_SQL_TEXT_BYTES: usize = 1 << 20;

/// The URL under which the store's object store is registered with DataFusion.
pub fn store_url() -> ObjectStoreUrl {
    ObjectStoreUrl::parse("ilot://store/").expect("valid object store url")
}

impl QueryEngine {
    /// The session over `store` and `registry`: the `readings` table (and beside it `conflicts`
    /// and `dead_letters`), the registry tables, the SQL functions and the heat-analytics views.
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
        let threads = limits.query_threads(0);
        config.options_mut().execution.target_partitions = threads;
        let ctx = SessionContext::new_with_config_rt(config, runtime);
        let url = store_url();
        ctx.register_object_store(url.as_ref(), store.object_store());
        crate::analytics::install(&ctx, store.clone(), registry.clone(), url.clone()).map_err(|e| QueryError::Sql(e.to_string()))?;
        ctx.register_table("latest_readings", Arc::new(crate::latest_table::latest_readings_table(store.clone())))
            .map_err(|e| QueryError::Sql(e.to_string()))?;
        ctx.register_table("hourly_rollup", Arc::new(HourlyRollupTable::new(store.clone(), url.clone())))
            .map_err(|e| QueryError::Sql(e.to_string()))?;
        for (name, dataset) in [("readings", Dataset::Readings), ("conflicts", Dataset::Conflicts), ("dead_letters", Dataset::DeadLetters)] {
            ctx.register_table(name, Arc::new(DatasetTable::new(dataset, store.clone(), url.clone())))
                .map_err(|e| QueryError::Sql(e.to_string()))?;
        }
        for kind in [RegistryTableKind::Sensors, RegistryTableKind::Networks, RegistryTableKind::ReferenceSensors] {
            ctx.register_table(kind.name(), Arc::new(registry_table(registry.clone(), kind))).map_err(|e| QueryError::Sql(e.to_string()))?;
        }
        let crowdqc = crate::crowdqc_table::crowdqc_table(&url).map_err(|e| QueryError::Sql(e.to_string()))?;
        ctx.register_table("crowdqc", crowdqc).map_err(|e| QueryError::Sql(e.to_string()))?;
        heat_indices::register(&ctx);
        crate::local_time::register(&ctx);
        crate::night::register(&ctx);
        crate::bounded_functions::register(&ctx).map_err(|e| QueryError::Sql(e.to_string()))?;
        // Every surface plans against this one session, the PostgreSQL endpoint's catalog
        // queries (psql `\d`, DBeaver, Grafana) included.
        crate::pg_compat::install(&ctx).map_err(|e| QueryError::Sql(e.to_string()))?;
        let executor = Arc::new(QueryExecutor::new(threads).map_err(|e| QueryError::Sql(format!("starting the query threads: {e}")))?);
        let running = Arc::new(Semaphore::new(limits.max_concurrent.max(1)));
        let running_queries = Arc::new(RunningQueries::default());
        running_queries.watch(limits.process_memory_budget_mib() as u64 * 1024 * 1024);
        Ok(Self { ctx, limits, executor, running, running_queries })
    }

    pub fn limits(&self) -> &QueryLimits {
        &self.limits
    }

    /// Add a table kept by another part of ilot (the alerts) to the session, under `name`.
    pub fn register_table(&self, name: &str, table: Arc<dyn datafusion::catalog::TableProvider>) -> Result<(), QueryError> {
        self.ctx.register_table(name, table).map(|_| ()).map_err(|e| QueryError::Sql(e.to_string()))
    }

    /// Run one read-only SQL statement.
    pub async fn query(&self, sql: &str) -> Result<QueryResult, QueryError> {
        self.run(Input::Text(sql.to_owned()), None, self.limits.max_result_rows).await
    }

    /// [`Self::query`] with the result cut at `max_rows` when that is below `max_result_rows`.
    pub async fn query_at_most(&self, sql: &str, max_rows: usize) -> Result<QueryResult, QueryError> {
        self.run(Input::Text(sql.to_owned()), None, max_rows.min(self.limits.max_result_rows)).await
    }

    /// A statement another parser made (the PostgreSQL endpoint's, which rewrites PostgreSQL
    /// idioms), run like [`Self::query_with_params`]: same checks, limits and truncation.
    pub async fn query_statement(&self, statement: Statement, params: Vec<ScalarValue>) -> Result<QueryResult, QueryError> {
        self.run(Input::Parsed(Box::new(statement)), Some(params), self.limits.max_result_rows).await
    }

    /// Refuse SQL text whose shape would exhaust a thread's stack (`sql_shape`), checked on the
    /// query threads' large stacks, before a front end that parses text itself (the PostgreSQL
    /// endpoint, whose parser and rewrites recurse on ordinary threads) goes near it. Text this
    /// check cannot parse is left to that front end's parser and its error.
    pub async fn check_text(&self, sql: &str) -> Result<(), QueryError> {
        use datafusion::sql::sqlparser::{dialect::PostgreSqlDialect, parser::Parser};
        if sql.len() > MAX_SQL_TEXT_BYTES {
            return Err(QueryError::Shape(crate::sql_shape::ShapeError::TooLong { limit: MAX_SQL_TEXT_BYTES }));
        }
        let sql = sql.to_owned();
        self.run_job(async move {
            let Ok(statements) = Parser::parse_sql(&PostgreSqlDialect {}, &sql) else { return Ok(()) };
            statements.into_iter().try_for_each(|s| crate::sql_shape::check(&DfStatement::Statement(Box::new(s))))
        })
        .await?
        .map_err(QueryError::Shape)
    }

    /// The checked plan of `statement`, not run: what a PostgreSQL client asks before it
    /// executes (result columns, parameter types). Refused exactly as running it would be, and
    /// planned like a query: on the query threads, in its turn, under the deadline.
    pub async fn describe(&self, statement: Statement) -> Result<LogicalPlan, QueryError> {
        let (ctx, limits) = (self.ctx.clone(), self.limits.clone());
        self.bounded(async move { plan_read_only(&ctx, DfStatement::Statement(Box::new(statement)), &limits).await }).await
    }

    /// Run a plan [`Self::describe`] made (a PostgreSQL client's statement: planned at Parse,
    /// run at each Execute) with `params`, under the same limits as [`Self::query`].
    pub async fn query_plan(&self, plan: LogicalPlan, params: Vec<ScalarValue>) -> Result<QueryResult, QueryError> {
        self.run(Input::Planned(Box::new(plan)), Some(params), self.limits.max_result_rows).await
    }

    /// A query of ilot's own jobs (CrowdQC+ over a month of a network): never cut at
    /// `max_result_rows`, which bounds what is sent to a client, but bounded like every query by
    /// the memory pool and the deadline.
    pub async fn query_whole(&self, sql: &str) -> Result<QueryResult, QueryError> {
        self.run(Input::Text(sql.to_owned()), None, usize::MAX).await
    }

    /// Run one read-only SQL statement with placeholders `$1`, `$2` … bound to `params`, in
    /// order: the way to put caller-supplied values into a query without formatting them into
    /// SQL text. Same read-only options, limits, deadline and truncation as [`Self::query`].
    pub async fn query_with_params(&self, sql: &str, params: Vec<ScalarValue>) -> Result<QueryResult, QueryError> {
        self.run(Input::Text(sql.to_owned()), Some(params), self.limits.max_result_rows).await
    }

    /// Run one of ilot's own jobs (CrowdQC+, summaries) on the query threads, so that its CPU
    /// work competes with queries, not with the intake. Its queries may use `self` as usual.
    pub async fn run_job<F, T>(&self, job: F) -> Result<T, QueryError>
    where
        F: std::future::Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        Ok(self.executor.run(job).await?)
    }

    async fn run(&self, sql: Input, params: Option<Vec<ScalarValue>>, max_rows: usize) -> Result<QueryResult, QueryError> {
        let (ctx, mut limits) = (self.ctx.clone(), self.limits.clone());
        limits.max_result_rows = max_rows;
        self.bounded(async move { execute(&ctx, sql, params, &limits).await }).await
    }

    /// `work` on the query threads in its turn, under the deadline, cancelled when the process
    /// runs short of memory.
    async fn bounded<T: Send + 'static>(&self, work: impl Future<Output = Result<T, QueryError>> + Send + 'static) -> Result<T, QueryError> {
        let running = self.running.clone();
        let work = async move {
            // Waiting for a turn counts against the deadline.
            let _turn = running.acquire_owned().await.map_err(|_| ExecutorError::ShutDown)?;
            work.await
        };
        let task = self.executor.spawn(work)?;
        let registration = self.running_queries.register(task.abort_handle());
        // On the deadline the task is dropped, which aborts it.
        match tokio::time::timeout(Duration::from_secs(self.limits.timeout_s), task).await {
            Err(_) => Err(QueryError::Timeout(self.limits.timeout_s)),
            Ok(Err(ExecutorError::Cancelled)) if registration.cancelled_for_memory() => {
                Err(QueryError::ProcessMemory { budget_mib: self.limits.process_memory_budget_mib() })
            }
            Ok(result) => result?,
        }
    }
}

/// What a query arrives as: SQL text, a statement another parser made, or a plan
/// [`QueryEngine::describe`] made.
enum Input {
    Text(String),
    Parsed(Box<Statement>),
    Planned(Box<LogicalPlan>),
}

/// The plan of a statement, refused when its shape would exhaust a stack or unless it only reads.
async fn plan_read_only(ctx: &SessionContext, statement: DfStatement, limits: &QueryLimits) -> Result<LogicalPlan, QueryError> {
    crate::sql_shape::check(&statement)?;
    let plan = ctx.state().statement_to_plan(statement).await.map_err(|e| QueryError::from_datafusion(e, limits))?;
    verify_read_only(&plan, limits)?;
    Ok(plan)
}

fn verify_read_only(plan: &LogicalPlan, limits: &QueryLimits) -> Result<(), QueryError> {
    let options = SQLOptions::new().with_allow_ddl(false).with_allow_dml(false).with_allow_statements(false);
    options.verify_plan(plan).map_err(|e| QueryError::from_datafusion(e, limits))
}

/// Parse, check, plan and run one statement, on a query thread.
async fn execute(ctx: &SessionContext, sql: Input, params: Option<Vec<ScalarValue>>, limits: &QueryLimits) -> Result<QueryResult, QueryError> {
    let df_err = |e| QueryError::from_datafusion(e, limits);
    let statement = match sql {
        Input::Text(sql) => {
            let state = ctx.state();
            let dialect = state.config().options().sql_parser.dialect;
            state.sql_to_statement(&sql, &dialect).map_err(df_err)?
        }
        Input::Parsed(statement) => DfStatement::Statement(statement),
        Input::Planned(plan) => {
            // Checked when it was made; checked again, as it is cheap.
            verify_read_only(&plan, limits)?;
            return run_plan(ctx, *plan, params, limits).await;
        }
    };
    let plan = plan_read_only(ctx, statement, limits).await?;
    run_plan(ctx, plan, params, limits).await
}

/// Run a checked plan with `params`, its result cut at `max_result_rows` and charged to the pool.
async fn run_plan(ctx: &SessionContext, plan: LogicalPlan, params: Option<Vec<ScalarValue>>, limits: &QueryLimits) -> Result<QueryResult, QueryError> {
    let df_err = |e| QueryError::from_datafusion(e, limits);
    let df = ctx.execute_logical_plan(plan).await.map_err(df_err)?;
    let df = match params {
        Some(params) => df.with_param_values(params).map_err(df_err)?,
        None => df,
    };
    // EXPLAIN [ANALYZE] must stay the root of its plan; its answer is small anyway.
    let explain = matches!(df.logical_plan(), LogicalPlan::Explain(_) | LogicalPlan::Analyze(_));
    // `usize::MAX`: a whole result (`query_whole`), not cut.
    let cut = !explain && limits.max_result_rows < usize::MAX;
    let df = if cut { df.limit(0, Some(limits.max_result_rows + 1)).map_err(df_err)? } else { df };
    let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
    // The collected result is charged to the pool like any operator's buffer.
    let memory = MemoryConsumer::new("query result").register(&ctx.runtime_env().memory_pool);
    let plan = df.create_physical_plan().await.map_err(df_err)?;
    crate::sql_shape::check_plan(&plan)?;
    let plan = crate::time_slice::time_sliced(plan).map_err(df_err)?;
    let mut stream = datafusion::physical_plan::execute_stream(plan, ctx.task_ctx()).map_err(df_err)?;
    let (mut batches, mut rows, mut truncated) = (Vec::new(), 0usize, false);
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(df_err)?;
        let room = limits.max_result_rows - rows;
        truncated = batch.num_rows() > room;
        let batch = batch.slice(0, batch.num_rows().min(room));
        memory.try_grow(batch.get_array_memory_size()).map_err(df_err)?;
        rows += batch.num_rows();
        batches.push(batch);
        if truncated {
            break;
        }
    }
    Ok(QueryResult { schema, batches, truncated, _memory: memory })
}
