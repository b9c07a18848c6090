//! `ilot sql`: one read-only query, printed as a table, CSV or JSON. By default it reads the
//! configured storage directly (every writer's published files plus their WAL, so nothing
//! durable is missed, even while a service runs); `--server` asks a running service instead.
//! The query is the argument, a file (`-f FILE`) or stdin (`-`, or no argument with stdin not a
//! terminal): the ways to give SQL that starts with a `--` comment or is too long for a command
//! line.
//!
//! A result cut by the row cap (`query.max_result_rows`, or `--max-rows`) is never taken for a
//! whole one: the table ends with a line saying so, and CSV, JSON and Arrow, which a program
//! reads, are refused (exit status 1, nothing on stdout) unless `--max-rows` asked for the cut.
//!
//! Like the Unix tools it is piped into: a reader that stops early (`ilot sql … | head -1`) ends
//! it quietly with status 0, and a store directory that does not exist is an error naming it,
//! never an empty store created on the spot.

use ilot_ingest::registry::RegistryHandle;
use anyhow::Context;
use ilot_ingest::layout::WriterId;
use ilot_ingest::manifest::Manifest;
use ilot_ingest::store::Store;
use ilot_ingest::wal::FileWal;
use ilot_query::output::{Format, RecordBatch, SchemaRef, read_arrow, render};
use ilot_query::QueryEngine;
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config::Config;
use crate::storage;

#[derive(clap::Args)]
pub struct SqlArgs {
    /// The query; `-` reads it from stdin, as does no query with stdin not a terminal. SQL
    /// starting with `--` (a comment) goes after a `--` argument: `ilot sql -- "-- c…"`.
    #[arg(conflicts_with = "file")]
    pub sql: Option<String>,
    /// Read the query from this file (`-`: stdin).
    #[arg(short = 'f', long, value_name = "FILE")]
    pub file: Option<PathBuf>,
    #[arg(long, default_value = "table")]
    pub format: Format,
    /// Base URL of a running ilot (e.g. http://127.0.0.1:8642); token from ILOT_HTTP__TOKEN.
    #[arg(long)]
    pub server: Option<String>,
    /// Print at most N rows (1 to 100000000), cutting the result in every format: the row cap
    /// for this query in place of query.max_result_rows (with --server: at most the server's).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=MAX_ROWS_LIMIT))]
    pub max_rows: Option<u64>,
}

/// The largest `--max-rows`: a result is held in memory (charged to `query.memory_limit_mib`)
/// before it is printed.
const MAX_ROWS_LIMIT: u64 = 100_000_000;

/// A query's rows, and whether the row cap cut them.
struct Answer {
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
    truncated: bool,
}

impl SqlArgs {
    /// The query's text, from wherever it was given.
    fn query(&self) -> anyhow::Result<String> {
        let stdin = || {
            let mut sql = String::new();
            std::io::stdin().read_to_string(&mut sql).context("reading the query from stdin")?;
            anyhow::Ok(sql)
        };
        let sql = match (&self.sql, &self.file) {
            (Some(sql), _) if sql == "-" => stdin()?,
            (Some(sql), _) => sql.clone(),
            (None, Some(file)) if file == Path::new("-") => stdin()?,
            (None, Some(file)) => std::fs::read_to_string(file).with_context(|| format!("reading the query from {}", file.display()))?,
            (None, None) if !std::io::stdin().is_terminal() => stdin()?,
            (None, None) => anyhow::bail!("no query: give it as an argument, with -f FILE, or on stdin"),
        };
        anyhow::ensure!(!sql.trim().is_empty(), "the query is empty");
        Ok(sql)
    }
}

pub async fn run(mut config: Config, args: SqlArgs) -> anyhow::Result<()> {
    let sql = args.query()?;
    let max_rows = args.max_rows.map(usize::try_from).transpose()?;
    let answer = match &args.server {
        Some(url) => remote(&config, url, &sql, max_rows).await?,
        None => {
            if let Some(n) = max_rows {
                config.query.max_result_rows = n;
            }
            local(&config, &sql).await?
        }
    };
    let rows: usize = answer.batches.iter().map(RecordBatch::num_rows).sum();
    let cap = match (max_rows, &args.server) {
        (Some(_), _) => "--max-rows",
        (None, Some(_)) => "the server's query.max_result_rows",
        (None, None) => "query.max_result_rows",
    };
    anyhow::ensure!(
        !answer.truncated || max_rows.is_some() || args.format == Format::Table,
        "result cut at {rows} rows ({cap}), and CSV, JSON and Arrow print whole results only: add a LIMIT, or pass \
         --max-rows N (up to {MAX_ROWS_LIMIT}{}) to print the first N rows",
        if args.server.is_some() { " and the server's query.max_result_rows" } else { "" }
    );
    let mut out = render(args.format, &answer.schema, &answer.batches)?;
    if args.format == Format::Json {
        out.push(b'\n');
    }
    if answer.truncated {
        match args.format {
            Format::Table => out.extend(format!("(result cut at {rows} rows ({cap}): add a LIMIT or raise --max-rows)\n").bytes()),
            _ => tell("note", &format!("result cut at {rows} rows (--max-rows)")),
        }
    }
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(&out).and_then(|()| stdout.flush()) {
        // The reader has what it wanted (`| head`): done, as a Unix tool is.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        written => written.context("writing the result"),
    }
}

/// A `warning:` or `note:` line on stderr; nobody left to read it is no reason to fail.
fn tell(label: &str, message: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{label}: {message}");
}

async fn local(config: &Config, sql: &str) -> anyhow::Result<Answer> {
    let (engine, store, _) = offline_engine(config).await?;
    let ilot_query::QueryResult { schema, batches, truncated, .. } = engine.query(sql).await?;
    if let Some(warning) = store.damage_warning() {
        tell("warning", &warning);
    }
    Ok(Answer { schema, batches, truncated })
}

/// The service answers in Arrow, printed here like a local answer.
async fn remote(config: &Config, url: &str, sql: &str, max_rows: Option<usize>) -> anyhow::Result<Answer> {
    let limit = max_rows.map(|n| format!("&max_rows={n}")).unwrap_or_default();
    let mut request = reqwest::Client::new()
        .post(format!("{}/api/sql?format=arrow{limit}", url.trim_end_matches('/')))
        .header("content-type", "text/plain")
        .body(sql.to_owned());
    if let Some(token) = &config.http.token {
        request = request.bearer_auth(&token.0);
    }
    let response = request.send().await.with_context(|| format!("POST {url}/api/sql"))?;
    let status = response.status();
    if let Some(warning) = response.headers().get("x-ilot-warning").and_then(|w| w.to_str().ok()) {
        tell("warning", warning);
    }
    let truncated = response.headers().get("x-ilot-truncated").is_some_and(|v| v == "true");
    let body = response.bytes().await?;
    anyhow::ensure!(status.is_success(), "{status}: {}", String::from_utf8_lossy(&body));
    let (schema, batches) = read_arrow(&body).with_context(|| format!("reading the answer of {url}/api/sql"))?;
    Ok(Answer { schema, batches, truncated })
}

/// A query engine over the configured storage, without a running service: every writer's
/// published files plus what their WAL holds beyond them, and the saved registry under the
/// configuration. A local store directory that does not exist is an error (nothing is created).
pub async fn offline_engine(config: &Config) -> anyhow::Result<(QueryEngine, Arc<Store>, Arc<RegistryHandle>)> {
    let object_store = storage::existing_object_store(&config.storage)?;
    // The WAL first, then each writer's manifest, then the files: a persist running meanwhile
    // moves rows from the first to the last, so reading in this order can see a row twice
    // (readings are deduplicated on apply) but never miss one. Segments a manifest already
    // counts as persisted are in its files: skipped, or their conflicts and dead letters would
    // show twice.
    let mut wal = Vec::new();
    let wal_root = config.storage.data_dir.join("wal");
    if wal_root.exists() {
        for dir in std::fs::read_dir(&wal_root)?.filter_map(Result::ok).filter(|e| e.path().is_dir()) {
            let writer = WriterId::new(&dir.file_name().to_string_lossy()).map_err(anyhow::Error::msg)?;
            wal.push((writer, FileWal::read_only(&dir.path())?.entries));
        }
    }
    let mut wal_entries = Vec::new();
    for (writer, entries) in wal {
        let manifest = Manifest::load(object_store.as_ref(), &writer).await.with_context(|| format!("reading writer {}'s manifest", writer.as_str()))?;
        let persisted = manifest.wal_persisted_upto;
        wal_entries.extend(entries.into_iter().filter(|e| e.segment > persisted).map(|e| (writer.clone(), e)));
    }
    let reader = WriterId::new("ilot-sql-reader").map_err(anyhow::Error::msg)?;
    let store = Store::open(object_store, reader, true).await.context("opening the store")?;
    let apply_store = store.clone();
    tokio::task::spawn_blocking(move || {
        for (writer, e) in wal_entries {
            apply_store.apply_replayed(&writer, e.segment, vec![e.entry]);
        }
    })
    .await?;
    let registry = RegistryHandle::open(store.object_store(), &config.registry).await.context("loading the sensor registry")?;
    let engine = QueryEngine::new(store.clone(), registry.clone(), config.query.clone()).await?;
    Ok((engine, store, registry))
}
