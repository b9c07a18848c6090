//! `ilot import --network <name> <FILE>...`: load a network's history from CSV or Parquet files
//! into the store, exactly as if the readings had arrived live (see `ilot_ingest::backfill`).

use anyhow::Context;
use ilot_ingest::backfill::{ImportOptions, import_blocking, import_writer};
use ilot_ingest::registry::RegistryHandle;
use ilot_ingest::store::Store;
use ilot_query::QueryEngine;
use ilot_query::period_summary::keep_closed_chunks;
use std::path::PathBuf;
use std::time::Duration;

use crate::config::Config;
use crate::storage;

#[derive(clap::Args)]
pub struct ImportArgs {
    /// Network the readings belong to.
    #[arg(long)]
    pub network: String,
    /// CSV (`,` or `;`, header with sensor_id, ts, temperature_c[, humidity_pct, battery_v])
    /// or Parquet files with those columns, imported in the order given.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Folder for the temporary per-day spill files (about 20 bytes per reading). Default:
    /// `<storage.data_dir>/tmp/`.
    #[arg(long)]
    pub spill_dir: Option<PathBuf>,
    /// Seconds between progress lines on stderr (0: none).
    #[arg(long, default_value_t = 5)]
    pub progress_s: u64,
}

pub async fn run(config: Config, args: ImportArgs) -> anyhow::Result<()> {
    for f in &args.files {
        anyhow::ensure!(f.is_file(), "{}: no such file", f.display());
    }
    let writer = import_writer(&args.network)?;
    let object_store = storage::object_store(&config.storage)?;
    // Every writer's files: deduplication then sees live data and earlier imports.
    let store = Store::open(object_store, writer.clone(), true).await.context("opening the store")?;
    if config.storage.url.is_none() {
        store.fsync_local_writes(config.storage.data_dir.clone());
    }
    store.remove_orphans().await.context("removing files left by an interrupted import")?;
    let registry_handle = RegistryHandle::open(store.object_store(), &config.registry).await.context("loading the sensor registry")?;
    let registry = registry_handle.snapshot();
    if !registry.network_names().contains(&args.network) {
        eprintln!("warning: network {:?} has no settings nor sensors in the registry: its readings are flagged UNKNOWN_SENSOR", args.network);
    }
    let spill_root = args.spill_dir.unwrap_or_else(|| config.storage.data_dir.join("tmp"));
    let options = ImportOptions {
        network: args.network.clone(),
        limits: config.intake.decode_limits(),
        qc: config.intake.qc.clone(),
        received_at_ms: chrono::Utc::now().timestamp_millis(),
        spill_dir: spill_root.join(format!("{}-{}", writer.as_str(), std::process::id())),
        progress_every: (args.progress_s > 0).then(|| Duration::from_secs(args.progress_s)),
    };
    eprintln!("importing {} file(s) into network {:?} as writer {}", args.files.len(), args.network, writer.as_str());
    let runtime = tokio::runtime::Handle::current();
    let files = args.files.clone();
    let importing = store.clone();
    let summary = tokio::task::spawn_blocking(move || import_blocking(&runtime, &importing, &registry, &files, &options)).await??;
    eprintln!("{summary}");
    // The imported days are closed: keep their nightly UHI and Tn/Tx summaries now rather
    // than at the first query.
    eprintln!("keeping the period summaries of the closed days (nightly and daily UHI, Tn/Tx)");
    let started = std::time::Instant::now();
    // A whole history may take longer than an analyst query is allowed.
    let limits = ilot_query::QueryLimits { timeout_s: config.query.timeout_s.max(3600), ..config.query.clone() };
    let engine = QueryEngine::new(store, registry_handle, limits).await?;
    // The readings are stored either way: queries compute what could not be kept now.
    match keep_closed_chunks(&engine).await {
        Ok(()) => eprintln!("period summaries kept in {:.1} s", started.elapsed().as_secs_f64()),
        Err(e) => eprintln!("warning: the period summaries could not be kept ({e}); queries will compute them"),
    }
    Ok(())
}
