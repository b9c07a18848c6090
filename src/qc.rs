//! `ilot qc`: run the CrowdQC+ job on demand over the stored data, for one network (or every
//! crowdsourced network) and one or more UTC months, and print what passed each level; with
//! `--flags`, recompute instead the single-sensor flags of stored readings after a rule or
//! registry change (`ilot_ingest::requalify`), for a network (or every network) and a period.

use anyhow::Context;
use chrono::{Datelike, NaiveDate, Utc};
use ilot_ingest::layout::Dataset;
use ilot_ingest::manifest::Manifest;
use ilot_ingest::registry::RegistryHandle;
use ilot_ingest::requalify::{RequalifyOptions, requalify};
use ilot_query::crowdqc::job::run_month;
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::sql::offline_engine;

#[derive(clap::Args)]
pub struct QcArgs {
    /// Network to check; default: every network marked `crowdsourced` in the registry.
    #[arg(long)]
    pub network: Option<String>,
    /// UTC month, `YYYY-MM` (repeatable); default: the current month.
    #[arg(long, value_parser = parse_month)]
    pub month: Vec<NaiveDate>,
    /// Keep stations with fewer than 5 buddies (CrowdQC+ `m5_keep_isolated`).
    #[arg(long)]
    pub keep_isolated: bool,
    /// Recompute the single-sensor flags (range, step, stuck, unknown sensor) of the stored
    /// readings with today's thresholds and registry, instead of running CrowdQC+. Run it
    /// with the services stopped: it rewrites every writer's files whose flags change.
    #[arg(long, conflicts_with_all = ["month", "keep_isolated"])]
    pub flags: bool,
    /// With `--flags`: first UTC day, `YYYY-MM-DD` (default: the first stored day).
    #[arg(long, requires = "flags")]
    pub from: Option<NaiveDate>,
    /// With `--flags`: last UTC day, inclusive (default: the last stored day).
    #[arg(long, requires = "flags")]
    pub to: Option<NaiveDate>,
    /// Seconds between progress lines on stderr (0: none).
    #[arg(long, default_value_t = 5)]
    pub progress_s: u64,
}

fn parse_month(text: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(&format!("{text}-01"), "%Y-%m-%d").map_err(|_| format!("{text:?}: expected YYYY-MM"))
}

pub async fn run(config: Config, args: QcArgs) -> anyhow::Result<()> {
    if args.flags {
        return recompute_flags(config, args).await;
    }
    let (engine, store, registry) = offline_engine(&config).await?;
    let registry = registry.snapshot();
    let networks: Vec<String> = match args.network {
        Some(n) => vec![n],
        None => registry.network_names().into_iter().filter(|n| registry.settings(n).crowdsourced).collect(),
    };
    anyhow::ensure!(!networks.is_empty(), "no network to check: pass --network or mark a network `crowdsourced = true`");
    let months = if args.month.is_empty() { vec![Utc::now().date_naive().with_day(1).expect("day 1")] } else { args.month };
    let object_store = store.object_store();
    for network in &networks {
        for month in &months {
            eprintln!("CrowdQC+ {network} {}…", month.format("%Y-%m"));
            let summary = run_month(&engine, &registry, &object_store, network, *month, args.keep_isolated)
                .await
                .with_context(|| format!("CrowdQC+ on {network} {}", month.format("%Y-%m")))?;
            println!("{}", serde_json::to_string(&summary)?);
        }
    }
    Ok(())
}

/// `ilot qc --flags`: the recompute of stored flags, one network after the other.
async fn recompute_flags(config: Config, args: QcArgs) -> anyhow::Result<()> {
    if let (Some(from), Some(to)) = (args.from, args.to) {
        anyhow::ensure!(from <= to, "--from {from} is after --to {to}");
    }
    let object_store = crate::storage::existing_object_store(&config.storage)?;
    let registry = RegistryHandle::open(object_store.clone(), &config.registry).await.context("loading the sensor registry")?.snapshot();
    let networks = match args.network {
        Some(n) => vec![n],
        None => {
            let manifests = Manifest::load_all(object_store.as_ref()).await.context("reading the manifests")?;
            let files = manifests.into_iter().flat_map(|m| m.files).filter(|f| f.dataset == Dataset::Readings);
            files.filter_map(|f| f.network).collect::<std::collections::BTreeSet<_>>().into_iter().collect()
        }
    };
    anyhow::ensure!(!networks.is_empty(), "no stored readings: nothing to recompute");
    let every = Duration::from_secs(args.progress_s);
    for network in networks {
        let options = RequalifyOptions {
            network: network.clone(),
            from: args.from,
            to: args.to,
            limits: config.intake.qc.clone(),
            local_root: config.storage.url.is_none().then(|| config.storage.data_dir.clone()),
            data_dir: config.storage.data_dir.clone(),
        };
        eprintln!("recomputing the flags of {network}…");
        let mut last = Instant::now();
        let summary = requalify(object_store.clone(), &registry, &options, |s, day| {
            if args.progress_s > 0 && last.elapsed() >= every {
                last = Instant::now();
                eprintln!("  {network}: up to {day}: {} days, {} readings, {} flags changed, {} files replaced", s.days, s.readings, s.changed, s.files_replaced);
            }
        })
        .await
        .with_context(|| format!("recomputing the flags of {network}"))?;
        println!("{}", serde_json::to_string(&summary)?);
    }
    Ok(())
}
