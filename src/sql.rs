//! `ilot sql`: one read-only query, printed as a table, CSV or JSON. By default it reads the
//! configured storage directly (every writer's published files plus their WAL, so nothing
//! durable is missed, even while a service runs); `--server` asks a running service instead.
//! The query is the argument, a file (`-f FILE`) or stdin (`-`, or no argument with stdin not a
//! terminal): the ways to give SQL that starts with a `--` comment or is too long for a command
//! line.

use ilot_ingest::registry::RegistryHandle;
use anyhow::Context;
use ilot_ingest::layout::WriterId;
use ilot_ingest::store::Store;
use ilot_ingest::wal::FileWal;
use ilot_query::output::{Format, render};
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

pub async fn run(config: Config, args: SqlArgs) -> anyhow::Result<()> {
    let sql = args.query()?;
    let bytes = match &args.server {
        Some(url) => remote(&config, url, &sql, args.format).await?,
        None => local(&config, &sql, args.format).await?,
    };
    std::io::stdout().write_all(&bytes)?;
    if args.format == Format::Table || args.format == Format::Json {
        println!();
    }
    Ok(())
}

async fn local(config: &Config, sql: &str, format: Format) -> anyhow::Result<Vec<u8>> {
    let (engine, store, _) = offline_engine(config).await?;
    let result = engine.query(sql).await?;
    if result.truncated {
        eprintln!("note: result cut at {} rows (query.max_result_rows)", config.query.max_result_rows);
    }
    if let Some(warning) = store.damage_warning() {
        eprintln!("warning: {warning}");
    }
    Ok(render(format, &result.schema, &result.batches)?)
}

async fn remote(config: &Config, url: &str, sql: &str, format: Format) -> anyhow::Result<Vec<u8>> {
    let format = match format {
        Format::Table => "json",
        Format::Csv => "csv",
        Format::Json => "json",
        Format::Arrow => "arrow",
    };
    let mut request = reqwest::Client::new()
        .post(format!("{}/api/sql?format={format}", url.trim_end_matches('/')))
        .header("content-type", "text/plain")
        .body(sql.to_owned());
    if let Some(token) = &config.http.token {
        request = request.bearer_auth(&token.0);
    }
    let response = request.send().await.with_context(|| format!("POST {url}/api/sql"))?;
    let status = response.status();
    if let Some(warning) = response.headers().get("x-ilot-warning").and_then(|w| w.to_str().ok()) {
        eprintln!("warning: {warning}");
    }
    let body = response.bytes().await?.to_vec();
    anyhow::ensure!(status.is_success(), "{status}: {}", String::from_utf8_lossy(&body));
    Ok(body)
}

/// A query engine over the configured storage, without a running service: every writer's
/// published files plus their WAL, and the saved registry under the configuration.
pub async fn offline_engine(config: &Config) -> anyhow::Result<(QueryEngine, Arc<Store>, Arc<RegistryHandle>)> {
    // The WAL first, then the manifests: a persist running meanwhile moves rows from the first
    // to the second, so reading in this order can see a row twice (deduplicated on apply) but
    // never miss one.
    let mut wal_entries = Vec::new();
    let wal_root = config.storage.data_dir.join("wal");
    if wal_root.exists() {
        for dir in std::fs::read_dir(&wal_root)?.filter_map(Result::ok).filter(|e| e.path().is_dir()) {
            wal_entries.extend(FileWal::read_only(&dir.path())?.entries);
        }
    }
    let object_store = storage::object_store(&config.storage)?;
    let reader = WriterId::new("ilot-sql-reader").map_err(anyhow::Error::msg)?;
    let store = Store::open(object_store, reader, true).await.context("opening the store")?;
    let apply_store = store.clone();
    tokio::task::spawn_blocking(move || {
        for e in wal_entries {
            apply_store.apply(e.segment, vec![e.entry]);
        }
    })
    .await?;
    let registry = RegistryHandle::open(store.object_store(), &config.registry).await.context("loading the sensor registry")?;
    let engine = QueryEngine::new(store.clone(), registry.clone(), config.query.clone()).await?;
    Ok((engine, store, registry))
}
