//! `ilot`: the command-line entry point.
//!
//! - `ilot demo`: everything on one machine with no external service (embedded broker, a
//!   simulated city fleet publishing to it, the service, data under `./data`).
//! - `ilot serve`: the service, configured by `ilot.toml` and `ILOT_*` variables.
//! - `ilot sql "<SQL>"`: run a read-only query on the stored data (or on a running service).
//! - `ilot sim`: publish a simulated sensor fleet to a broker.
//! - `ilot qc`: run the CrowdQC+ quality control of crowdsourced networks over stored months.
//! - `ilot import`: load a network's history from CSV or Parquet files.
//! - `ilot check [--repair]`: verify the stored files (and repair what can be).

mod alerting;
mod check;
mod config;
mod demo;
mod import;
mod memory;
mod qc;
mod serve;
mod sim;
mod sql;
mod storage;
mod telemetry;

use clap::{Parser, Subcommand};
use std::io::Write;
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "ilot", version, about = "Urban heat-island monitoring: MQTT intake, Parquet storage, heat analytics in SQL")]
struct Cli {
    /// Configuration file (TOML). Default: ./ilot.toml when present.
    #[arg(long, global = true, env = "ILOT_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service.
    Serve,
    /// Run the embedded demo: broker, service and a simulated city, no external service needed.
    Demo(demo::DemoArgs),
    /// Run one read-only SQL query and print the result.
    Sql(sql::SqlArgs),
    /// Publish a simulated sensor fleet over MQTT.
    Sim(sim::SimArgs),
    /// Run the CrowdQC+ quality control on stored months of crowdsourced networks.
    Qc(qc::QcArgs),
    /// Import a network's history from CSV or Parquet files, exactly as if it had arrived live.
    Import(import::ImportArgs),
    /// Verify the stored files, caches and WAL; exit status 1 while problems remain.
    Check(check::CheckArgs),
}

fn main() -> std::process::ExitCode {
    telemetry::init_logs();
    ilot_query::memory_watchdog::install_heap_probe(memory::allocated_bytes);
    let cli = Cli::parse();
    // 8 MiB stacks (reserved, touched only as used): client SQL that passed the engine's shape
    // check is still parsed and rewritten recursively on these threads by the PostgreSQL
    // endpoint's libraries.
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().thread_stack_size(8 << 20).build().expect("tokio runtime");
    let result = runtime.block_on(async move {
        let config = config::Config::load(cli.config.as_deref()).map_err(|e| anyhow::anyhow!("configuration: {e}"))?;
        match cli.command {
            Command::Serve => serve::run(config, serve::Extras { simulate: None }).await,
            Command::Demo(args) => demo::run(config, args).await,
            Command::Sql(args) => sql::run(config, args).await,
            Command::Sim(args) => sim::run(args).await,
            Command::Qc(args) => qc::run(config, args).await,
            Command::Import(args) => import::run(config, args).await,
            Command::Check(args) => check::run(config, args).await,
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // Not eprintln!, which panics when stderr is a closed pipe.
            let _ = writeln!(std::io::stderr(), "error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
