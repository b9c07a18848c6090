//! `ilot import --network <name> <FILE>...`: load a network's history from CSV or Parquet files
//! into the store, exactly as if the readings had arrived live (see `ilot_ingest::backfill`):
//! the archive's own column names, time zone and units declared on the command line, and with
//! `--register-sensors` (and `--crowdsourced`) its stations registered in the same run.

use anyhow::Context;
use chrono::NaiveDate;
use ilot_ingest::backfill::{ColumnMap, ImportColumn, ImportOptions, import_blocking, import_writer};
use ilot_ingest::payload::{HumidityUnit, TableFormat, TemperatureUnit};
use ilot_ingest::registry::{Network, RegistryHandle};
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
    /// or Parquet files with those columns (or mapped ones, `--column`), imported in the order given.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// TARGET=SOURCE: the file's column SOURCE holds ilot's TARGET (sensor_id, ts,
    /// temperature_c, humidity_pct, battery_v, lon, lat, elevation_m); repeatable, over `--columns`.
    #[arg(long = "column", value_name = "TARGET=SOURCE")]
    pub column: Vec<String>,
    /// TOML file of mappings, one `target = "source"` per line.
    #[arg(long, value_name = "FILE")]
    pub columns: Option<PathBuf>,
    /// IANA zone of times written without a UTC offset (`2017-06-01 14:00`, Parquet timestamps
    /// without zone): a repeated local time takes the earlier instant, a skipped one is a dead letter.
    #[arg(long, value_parser = |s: &str| s.parse::<chrono_tz::Tz>())]
    pub timezone: Option<chrono_tz::Tz>,
    /// chrono format of the text times (e.g. `%d/%m/%Y %H:%M`); local (`--timezone`) unless it has `%z`.
    #[arg(long)]
    pub ts_format: Option<String>,
    /// Unit of the temperature column: C, K or F.
    #[arg(long, default_value = "C", value_parser = |s: &str| s.parse::<TemperatureUnit>())]
    pub temperature_unit: TemperatureUnit,
    /// Unit of the humidity column: pct (0-100) or fraction (0-1).
    #[arg(long, default_value = "pct", value_parser = |s: &str| s.parse::<HumidityUnit>())]
    pub humidity_unit: HumidityUnit,
    /// Earliest measurement date accepted (UTC): older rows are garbage times (`timestamp_too_old`).
    /// The intake's `max_age_days` does not apply to an import; its future tolerance does.
    #[arg(long, default_value = "1850-01-01", value_name = "YYYY-MM-DD")]
    pub not_before: NaiveDate,
    /// Register the stations found in the files (new ones, and the coordinates, elevation and
    /// missing cadence of registered ones: from the lon, lat, elevation_m columns) before storing.
    #[arg(long)]
    pub register_sensors: bool,
    /// Mark the network crowdsourced (CrowdQC+ gates its analytics) unless the configuration
    /// declares it otherwise.
    #[arg(long)]
    pub crowdsourced: bool,
    /// Also write the summary as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub summary_json: Option<PathBuf>,
    /// Folder for the temporary per-day spill files (about 20 bytes per reading). Default:
    /// `<storage.data_dir>/tmp/`.
    #[arg(long)]
    pub spill_dir: Option<PathBuf>,
    /// Seconds between progress lines on stderr (0: none).
    #[arg(long, default_value_t = 5)]
    pub progress_s: u64,
}

/// The mapping of `--columns` then `--column`.
fn column_map(args: &ImportArgs) -> anyhow::Result<ColumnMap> {
    let mut map = ColumnMap::default();
    if let Some(path) = &args.columns {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        map = ColumnMap::from_toml(&text, &path.display().to_string())?;
    }
    for mapping in &args.column {
        map.set(mapping)?;
    }
    Ok(map)
}

/// `--crowdsourced`: the network's settings with `crowdsourced = true`, saved unless they
/// already say so; refused when the configuration, which wins at every start, says otherwise.
async fn declare_crowdsourced(config: &Config, registry: &RegistryHandle, network: &str) -> anyhow::Result<()> {
    if let Some(configured) = config.registry.networks.get(network) {
        anyhow::ensure!(
            configured.crowdsourced,
            "--crowdsourced: [registry.networks.{network}] in the configuration does not set `crowdsourced = true`, and it wins at every start: set it there"
        );
        return Ok(());
    }
    let settings = registry.snapshot().settings(network);
    if !settings.crowdsourced {
        registry.put_network(network, Network { crowdsourced: true, ..settings }).await.context("marking the network crowdsourced")?;
        eprintln!("network {network:?} marked crowdsourced: its analytics use the hours that pass CrowdQC+ (`ilot qc`)");
    }
    Ok(())
}

pub async fn run(config: Config, args: ImportArgs) -> anyhow::Result<()> {
    for f in &args.files {
        anyhow::ensure!(f.is_file(), "{}: no such file", f.display());
    }
    let columns = column_map(&args)?;
    if let Some(pattern) = &args.ts_format {
        let has_offset = ["%z", "%:z", "%::z", "%#z", "%+"].iter().any(|o| pattern.contains(o));
        anyhow::ensure!(has_offset || args.timezone.is_some(), "--ts-format {pattern:?} has no UTC offset (%z): give the zone of its times with --timezone");
    }
    let placed: Vec<&str> = ImportColumn::ALL.into_iter().filter(|c| c.is_place() && columns.maps(*c)).map(ImportColumn::name).collect();
    if !args.register_sensors && !placed.is_empty() {
        eprintln!("warning: {} mapped but not read: the station columns are for --register-sensors", placed.join(", "));
    }
    let earliest_ms = args.not_before.and_hms_opt(0, 0, 0).expect("midnight").and_utc().timestamp_millis();
    let writer = import_writer(&args.network)?;
    let object_store = storage::object_store(&config.storage)?;
    // Every writer's files: deduplication then sees live data and earlier imports.
    let store = Store::open(object_store, writer.clone(), true).await.context("opening the store")?;
    if config.storage.url.is_none() {
        store.fsync_local_writes(config.storage.data_dir.clone());
    }
    store.remove_orphans().await.context("removing files left by an interrupted import")?;
    let registry_handle = RegistryHandle::open(store.object_store(), &config.registry).await.context("loading the sensor registry")?;
    if args.crowdsourced {
        declare_crowdsourced(&config, &registry_handle, &args.network).await?;
    }
    if !args.register_sensors && !registry_handle.snapshot().network_names().contains(&args.network) {
        eprintln!("warning: network {:?} has no settings nor sensors in the registry: its readings are flagged UNKNOWN_SENSOR", args.network);
    }
    let spill_root = args.spill_dir.unwrap_or_else(|| config.storage.data_dir.join("tmp"));
    let options = ImportOptions {
        network: args.network.clone(),
        columns,
        format: TableFormat {
            timezone: args.timezone,
            ts_format: args.ts_format.clone(),
            temperature_unit: args.temperature_unit,
            humidity_unit: args.humidity_unit,
        },
        limits: config.intake.decode_limits().for_history(earliest_ms),
        qc: config.intake.qc.clone(),
        received_at_ms: chrono::Utc::now().timestamp_millis(),
        spill_dir: spill_root.join(format!("{}-{}", writer.as_str(), std::process::id())),
        progress_every: (args.progress_s > 0).then(|| Duration::from_secs(args.progress_s)),
        register_sensors: args.register_sensors,
    };
    eprintln!("importing {} file(s) into network {:?} as writer {}", args.files.len(), args.network, writer.as_str());
    let runtime = tokio::runtime::Handle::current();
    let files = args.files.clone();
    let (importing, registry) = (store.clone(), registry_handle.clone());
    let summary = tokio::task::spawn_blocking(move || import_blocking(&runtime, &importing, &registry, &files, &options)).await??;
    eprintln!("{summary}");
    if let Some(path) = &args.summary_json {
        std::fs::write(path, serde_json::to_vec_pretty(&summary.to_json())?).with_context(|| format!("writing {}", path.display()))?;
    }
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
