//! What a PostgreSQL client may run, and how: [`ReadOnlyGuard`] sorts every statement (simple
//! and extended protocol alike) into reads, run by the service's bounded [`QueryEngine`] (same
//! read-only check, memory pool, deadline and row cut as `POST /api/sql`), session statements
//! (`SET`, `SHOW`, `BEGIN`/`COMMIT`, answered by datafusion-postgres's hooks without touching
//! the engine) and everything else, refused with SQLSTATE 25006 and the statement's kind.
//! [`Session`] is the extended-protocol handler: a read is planned once, at Parse (the plan
//! describes its columns and parameters), and run at each Execute through the engine too. A
//! Parse counts against the client's rate limit, and the Execute that follows it is covered by
//! that count ([`parse_credit`]); further Executes count too. Rows are encoded by
//! [`super::rows`] in the formats (text or binary) the client asked for in its Bind.

use async_trait::async_trait;
use datafusion::common::ParamValues;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{Set, Statement};
use datafusion_postgres::arrow_pg::datatypes::df::deserialize_parameters;
use datafusion_postgres::arrow_pg::datatypes::arrow_schema_to_pg_fields;
use datafusion_postgres::hooks::HookClient;
use datafusion_postgres::pgwire::api::portal::{Format, Portal};
use datafusion::sql::sqlparser::parser::ParserError;
use datafusion_postgres::pgwire::api::Type;
use datafusion_postgres::pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use datafusion_postgres::pgwire::api::results::{FieldInfo, QueryResponse, Response};
use datafusion_postgres::pgwire::api::stmt::QueryParser;
use datafusion_postgres::pgwire::api::store::PortalStore;
use datafusion_postgres::pgwire::api::{ClientInfo, ClientPortalStore};
use datafusion_postgres::pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use datafusion_postgres::pgwire::messages::PgWireBackendMessage;
use datafusion_postgres::pgwire::types::format::FormatOptions;
use datafusion_postgres::{DfSessionService, Parser, QueryHook};
use futures::{Sink, SinkExt, StreamExt, stream};
use ilot_query::{QueryEngine, QueryError, QueryResult};
use std::cell::Cell;
use std::fmt::Debug;
use std::sync::Arc;

use super::login::SCOPE_KEY;
use crate::rate_limit::SqlRateLimit;
use super::rewrite::rewrite;

/// What a statement is to this endpoint.
#[derive(Debug, PartialEq, Eq)]
enum Kind {
    /// A query (or its `EXPLAIN`): run by the engine.
    Read,
    /// Session bookkeeping a client sends on its own (`SET`, `SHOW`, transactions): answered
    /// by datafusion-postgres's hooks, which keep it in the connection's metadata.
    Session,
    /// Anything else, with the reason.
    Refused(String),
}

fn classify(statement: &Statement) -> Kind {
    match statement {
        Statement::Query(_) | Statement::Explain { .. } => Kind::Read,
        // `SET datafusion.…` would change the session every client shares (memory, threads).
        Statement::Set(set) if set_touches_engine(set) => {
            Kind::Refused("the engine's settings (datafusion.*) are the server's; they cannot be changed over SQL".into())
        }
        // A bare `SHOW` has no variable (datafusion-postgres's hook would index the first).
        Statement::ShowVariable { variable } if variable.is_empty() => Kind::Refused("SHOW needs a setting's name".into()),
        Statement::Set(Set::SingleAssignment { .. } | Set::SetTimeZone { .. })
        | Statement::ShowVariable { .. }
        | Statement::ShowCatalogs { .. }
        | Statement::StartTransaction { .. }
        | Statement::Commit { .. }
        | Statement::Rollback { .. } => Kind::Session,
        other => Kind::Refused(format!("only read-only queries are allowed here, not {}", statement_kind(other))),
    }
}

fn set_touches_engine(set: &Set) -> bool {
    match set {
        Set::SingleAssignment { variable, .. } => variable.to_string().replace('"', "").to_ascii_lowercase().starts_with("datafusion."),
        Set::SetTimeZone { .. } => false,
        // Other forms (`SET a = 1, b = 2`, `SET ROLE` …) reach DataFusion's own `SET`.
        _ => true,
    }
}

/// The statement's leading keywords (`INSERT`, `CREATE TABLE`, `CREATE EXTERNAL TABLE`,
/// `COPY`): what an error names, without echoing the whole statement.
fn statement_kind(statement: &Statement) -> String {
    leading_keywords(&statement.to_string())
}

fn leading_keywords(text: &str) -> String {
    let words: Vec<&str> = text.split_whitespace().take(3).collect();
    let take = match words.as_slice() {
        [first, second, ..] if matches!(first.to_ascii_uppercase().as_str(), "CREATE" | "DROP" | "ALTER") => {
            if second.eq_ignore_ascii_case("EXTERNAL") { 3 } else { 2 }
        }
        _ => 1,
    };
    words.into_iter().take(take).collect::<Vec<_>>().join(" ").to_ascii_uppercase()
}

/// A statement the parser could not read: one that does not start as a read or a session
/// statement is refused as what it is (`CREATE EXTERNAL TABLE`, DataFusion's own syntax, is
/// no PostgreSQL); anything else is a syntax error (42601).
fn parse_error(sql: &str, error: PgWireError) -> PgWireError {
    let PgWireError::ApiError(inner) = &error else { return error };
    if inner.downcast_ref::<ParserError>().is_none() {
        return error;
    }
    let kind = leading_keywords(sql);
    let first = kind.split(' ').next().unwrap_or_default().trim_start_matches('(');
    let readable = ["", "SELECT", "WITH", "EXPLAIN", "VALUES", "TABLE", "SHOW", "SET", "BEGIN", "START", "COMMIT", "ROLLBACK", "END"];
    if !readable.contains(&first) {
        return user_error("25006", format!("only read-only queries are allowed here, not {kind}"));
    }
    user_error("42601", format!("syntax error: {inner}"))
}

fn user_error(code: &str, message: impl Into<String>) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new("ERROR".into(), code.into(), message.into())))
}

/// The engine's refusals as PostgreSQL errors, with the SQLSTATE a client can act on.
fn query_error(e: &QueryError) -> PgWireError {
    let code = match e {
        QueryError::NotReadOnly(_) => "25006",
        QueryError::Sql(_) => "42000",
        QueryError::Memory { .. } | QueryError::ProcessMemory { .. } => "53200",
        QueryError::Timeout(_) => "57014",
        QueryError::Shape(_) => "54001",
        QueryError::Executor(_) => "XX000",
    };
    user_error(code, e.to_string())
}

/// A connection that did not complete the login has no scope; nothing runs for it.
fn require_login(client: &(impl ClientInfo + ?Sized)) -> PgWireResult<()> {
    match client.metadata().get(SCOPE_KEY) {
        Some(_) => Ok(()),
        None => Err(PgWireError::UserError(Box::new(ErrorInfo::new("FATAL".into(), "28000".into(), "not logged in".into())))),
    }
}

/// The notice that goes before a result `max_result_rows` cut.
fn cut_notice(result: &QueryResult) -> Option<PgWireBackendMessage> {
    let notice = ErrorInfo::new("NOTICE".into(), "01000".into(), "the result was cut at query.max_result_rows rows".into());
    result.truncated.then(|| PgWireBackendMessage::NoticeResponse(notice.into()))
}

/// What the guard does with `statement`: `Ok(true)` run it as a read, `Ok(false)` leave it to
/// the session hooks, `Err` refuse it (or the connection that never logged in).
fn screen(client: &(impl ClientInfo + ?Sized), statement: &Statement) -> PgWireResult<bool> {
    require_login(client)?;
    match classify(statement) {
        Kind::Read => Ok(true),
        Kind::Session => Ok(false),
        Kind::Refused(reason) => Err(user_error("25006", reason)),
    }
}

/// The client's SQL rate limit (`query.per_client_per_minute`), per address like over HTTP.
fn admit(sql_rate: &SqlRateLimit, client: &(impl ClientInfo + ?Sized)) -> PgWireResult<()> {
    sql_rate.check(client.socket_addr().ip()).map_err(|limited| user_error("53400", limited.to_string()))
}

tokio::task_local! {
    /// The connection's last Parse of a read was counted and no Execute has used that count.
    static PARSE_COUNTED: Cell<bool>;
}

/// Run one connection's protocol loop (`session`) with its Parse credit: a driver's query is
/// Parse then Execute, and counts once against the rate limit, as over HTTP or the simple
/// protocol.
pub async fn parse_credit<F: Future>(session: F) -> F::Output {
    PARSE_COUNTED.scope(Cell::new(false), session).await
}

/// How many rows are encoded at once before they are sent.
const ROWS_AT_ONCE: usize = 1024;

/// An engine result as rows in `format` (text or binary, per column), with the client's
/// `DateStyle` and the like.
fn encode(result: QueryResult, format: &Format, client: &(impl ClientInfo + ?Sized)) -> PgWireResult<Response> {
    let options = Arc::new(FormatOptions::from_client_metadata(client.metadata()));
    let fields = Arc::new(arrow_schema_to_pg_fields(&result.schema, format, Some(options.clone()))?);
    let (batches, row_fields) = (result.batches.clone(), fields.clone());
    // The rows are encoded as they are sent, ROWS_AT_ONCE at a time (a cached table answers in
    // one batch of every row); the result's memory reservation lives as long, and the
    // connection's watchdog ends it if the client stops taking them.
    let slices = batches.into_iter().flat_map(|batch| {
        let rows = batch.num_rows();
        (0..rows).step_by(ROWS_AT_ONCE).map(move |at| batch.slice(at, ROWS_AT_ONCE.min(rows - at)))
    });
    let held = Arc::new(super::watchdog::hold());
    let rows = stream::iter(slices).flat_map(move |batch| {
        let _reservation = &result;
        let held = held.clone();
        match super::rows::encode_batch(&batch, &row_fields, &options) {
            Ok(rows) => stream::iter(rows).map(Ok).inspect(move |_| held.progress()).left_stream(),
            Err(e) => stream::iter([Err(e)]).right_stream(),
        }
    });
    Ok(Response::Query(QueryResponse::new(fields, rows)))
}

/// The hook every statement meets first, in both protocols.
pub struct ReadOnlyGuard {
    pub engine: Arc<QueryEngine>,
    pub sql_rate: Arc<SqlRateLimit>,
}

impl ReadOnlyGuard {
    /// A read of the simple protocol, whose results are text.
    async fn read(&self, statement: &Statement, client: &mut dyn HookClient) -> PgWireResult<Response> {
        admit(&self.sql_rate, client)?;
        let result = self.engine.query_statement(rewrite(statement.clone()), Vec::new()).await.map_err(|e| query_error(&e))?;
        if let Some(notice) = cut_notice(&result) {
            client.send_message(notice).await?;
        }
        encode(result, &Format::UnifiedText, client)
    }
}

#[async_trait]
impl QueryHook for ReadOnlyGuard {
    async fn handle_simple_query(&self, statement: &Statement, _: &SessionContext, client: &mut dyn HookClient) -> Option<PgWireResult<Response>> {
        match screen(client, statement) {
            Err(e) => Some(Err(e)),
            Ok(false) => None,
            Ok(true) => Some(self.read(statement, client).await),
        }
    }

    async fn handle_extended_parse_query(
        &self,
        statement: &Statement,
        _: &SessionContext,
        client: &(dyn ClientInfo + Send + Sync),
    ) -> Option<PgWireResult<LogicalPlan>> {
        match screen(client, statement) {
            Err(e) => Some(Err(e)),
            Ok(false) => None,
            Ok(true) => {
                if let Err(limited) = admit(&self.sql_rate, client) {
                    return Some(Err(limited));
                }
                let _ = PARSE_COUNTED.try_with(|counted| counted.set(true));
                Some(self.engine.describe(rewrite(statement.clone())).await.map_err(|e| query_error(&e)))
            }
        }
    }

    async fn handle_extended_query(
        &self,
        statement: &Statement,
        _: &LogicalPlan,
        _: &ParamValues,
        _: &SessionContext,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        match screen(client, statement) {
            Err(e) => Some(Err(e)),
            Ok(false) => None,
            // [`Session::do_query`] runs reads itself, in the client's result formats.
            Ok(true) => Some(Err(user_error("XX000", "a read reached the session hooks"))),
        }
    }
}

/// The query handlers: parsing and describing through datafusion-postgres (whose hooks start
/// with [`ReadOnlyGuard`]), reads through the engine, session statements through
/// datafusion-postgres's hooks; parse errors said as [`parse_error`] says them.
pub struct Session {
    engine: Arc<QueryEngine>,
    sql_rate: Arc<SqlRateLimit>,
    service: Arc<DfSessionService>,
    parser: Arc<ReadOnlyParser>,
}

impl Session {
    pub fn new(engine: Arc<QueryEngine>, sql_rate: Arc<SqlRateLimit>, service: Arc<DfSessionService>) -> Self {
        let parser = Arc::new(ReadOnlyParser { engine: engine.clone(), parser: ExtendedQueryHandler::query_parser(service.as_ref()) });
        Session { engine, sql_rate, service, parser }
    }
}

/// datafusion-postgres's parser, after the engine checked the text's shape on its large
/// stacks ([`QueryEngine::check_text`]: datafusion-postgres parses and rewrites recursively on
/// the connection's ordinary thread), its errors said as [`parse_error`] says them.
pub struct ReadOnlyParser {
    engine: Arc<QueryEngine>,
    parser: Arc<Parser>,
}

type DfStatement = <DfSessionService as ExtendedQueryHandler>::Statement;

#[async_trait]
impl QueryParser for ReadOnlyParser {
    type Statement = DfStatement;

    async fn parse_sql<C>(&self, client: &C, sql: &str, types: &[Option<Type>]) -> PgWireResult<Option<DfStatement>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        self.engine.check_text(sql).await.map_err(|e| query_error(&e))?;
        self.parser.parse_sql(client, sql, types).await.map_err(|e| parse_error(sql, e))
    }

    fn get_parameter_types(&self, statement: &DfStatement) -> PgWireResult<Vec<Type>> {
        self.parser.get_parameter_types(statement)
    }

    fn get_result_schema(&self, statement: &DfStatement, format: Option<&Format>) -> PgWireResult<Vec<FieldInfo>> {
        self.parser.get_result_schema(statement, format)
    }
}

#[async_trait]
impl SimpleQueryHandler for Session {
    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        self.engine.check_text(query).await.map_err(|e| query_error(&e))?;
        SimpleQueryHandler::do_query(self.service.as_ref(), client, query).await.map_err(|e| parse_error(query, e))
    }
}

#[async_trait]
impl ExtendedQueryHandler for Session {
    type Statement = DfStatement;
    type QueryParser = ReadOnlyParser;

    fn query_parser(&self) -> Arc<ReadOnlyParser> {
        self.parser.clone()
    }

    async fn do_query<C>(&self, client: &mut C, portal: &Portal<Self::Statement>, max_rows: usize) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        require_login(client)?;
        let (_, Some((statement, plan))) = &portal.statement.statement else {
            return Ok(Response::EmptyQuery);
        };
        if classify(statement) != Kind::Read {
            return ExtendedQueryHandler::do_query(self.service.as_ref(), client, portal, max_rows).await;
        }
        if !PARSE_COUNTED.try_with(|counted| counted.replace(false)).unwrap_or(false) {
            admit(&self.sql_rate, client)?;
        }
        let types = plan.get_parameter_types().map_err(|e| user_error("42P18", e.to_string()))?;
        let mut ordered: Vec<(usize, Option<datafusion::arrow::datatypes::DataType>)> = types
            .into_iter()
            .filter_map(|(name, ty)| name.trim_start_matches('$').parse::<usize>().ok().map(|n| (n, ty)))
            .collect();
        ordered.sort_by_key(|(n, _)| *n);
        let inferred: Vec<_> = ordered.iter().map(|(_, ty)| ty.as_ref()).collect();
        let params = match deserialize_parameters(portal, &inferred)? {
            ParamValues::List(values) => values.into_iter().map(|v| v.value).collect(),
            ParamValues::Map(_) => return Err(user_error("42P02", "named parameters are not supported: use $1, $2 …")),
        };
        // The plan made at Parse (`handle_extended_parse_query`), rewritten and checked there.
        let result = self.engine.query_plan(plan.clone(), params).await.map_err(|e| query_error(&e))?;
        if let Some(notice) = cut_notice(&result) {
            client.send(notice).await?;
        }
        encode(result, &portal.result_column_format, client)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion_postgres::datafusion_pg_catalog::sql::PostgresCompatibilityParser;

    fn kind(sql: &str) -> Kind {
        let statements = PostgresCompatibilityParser::new().parse(sql).expect("parses");
        classify(&statements[0])
    }

    #[test]
    fn only_reads_and_session_statements_pass() {
        assert_eq!(kind("SELECT 1"), Kind::Read);
        assert_eq!(kind("EXPLAIN SELECT 1"), Kind::Read);
        assert_eq!(kind("SET application_name = 'psql'"), Kind::Session);
        assert_eq!(kind("SET TIME ZONE 'UTC'"), Kind::Session);
        assert_eq!(kind("BEGIN"), Kind::Session);
        assert_eq!(kind("SHOW server_version"), Kind::Session);
        let refused = |sql| match kind(sql) {
            Kind::Refused(reason) => reason,
            other => panic!("{sql}: {other:?}"),
        };
        assert_eq!(refused("INSERT INTO readings VALUES (1)"), "only read-only queries are allowed here, not INSERT");
        assert_eq!(refused("CREATE TABLE t (a INT)"), "only read-only queries are allowed here, not CREATE TABLE");
        assert_eq!(refused("COPY readings TO '/tmp/x.csv'"), "only read-only queries are allowed here, not COPY");
        assert_eq!(refused("DECLARE c CURSOR FOR SELECT 1"), "only read-only queries are allowed here, not DECLARE");
        assert!(refused("SET datafusion.execution.target_partitions = 64").contains("server's"));
        assert!(refused("SET SESSION datafusion.runtime.memory_limit = '100G'").contains("server's"));
        assert!(refused("SET \"datafusion.runtime.memory_limit\" = '100G'").contains("server's"));
        assert_eq!(refused("SHOW"), "SHOW needs a setting's name");
    }
}
