//! `ilot qc`: run the CrowdQC+ job on demand over the stored data, for one network (or every
//! crowdsourced network) and one or more UTC months, and print what passed each level.

use anyhow::Context;
use chrono::{Datelike, NaiveDate, Utc};
use ilot_query::crowdqc::job::run_month;

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
}

fn parse_month(text: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(&format!("{text}-01"), "%Y-%m-%d").map_err(|_| format!("{text:?}: expected YYYY-MM"))
}

pub async fn run(config: Config, args: QcArgs) -> anyhow::Result<()> {
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
