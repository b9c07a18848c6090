//! `ilot check [--deep] [--repair]`: verify a store, like fsck. Every manifest's files must
//! exist with their recorded size and a readable Parquet footer (`--deep`: every row decodes),
//! each readings file must have its hourly rollup, the saved "now" caches and the period
//! summaries must read, and the WAL segments under `storage.data_dir` must be whole. One line
//! per problem (paths relative to the store), the quarantined files listed, a summary; the exit
//! status is 1 while problems remain. `--repair` (run it with the services stopped: it edits
//! their manifests) quarantines unreadable data files, drops missing ones from their manifests,
//! rewrites rollups and caches, deletes unreadable summaries, then checks again. The work is
//! the store's (`ilot_ingest::damage`); this module chooses and prints.

use anyhow::Context;
use ilot_ingest::damage::{DamagedFile, FileKind, Problem, owner_of};
use ilot_ingest::layout::{HourlyRollupPath, WriterId};
use ilot_ingest::store::Store;
use ilot_ingest::wal::FileWal;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::storage;

#[derive(clap::Args)]
pub struct CheckArgs {
    /// Read every row of every file, not only the footers.
    #[arg(long)]
    pub deep: bool,
    /// Repair what can be, then check again. Run it with the services stopped.
    #[arg(long)]
    pub repair: bool,
}

/// What one pass over the store found.
struct Inspection {
    /// The store as `ilot check` opened it (every writer's files), with the damage it recorded.
    store: Arc<Store>,
    /// Readings files without a current hourly rollup (written before rollups existed).
    without_rollup: Vec<String>,
    /// WAL problems: path relative to `storage.data_dir`, what is wrong.
    wal: Vec<(String, String)>,
    objects: usize,
}

impl Inspection {
    fn problems(&self) -> usize {
        self.store.damaged_files().len() + self.without_rollup.len() + self.wal.len()
    }

    fn print(&self) {
        for d in self.store.damaged_files() {
            println!("{d} [{}]", repair_of(&d));
        }
        for path in &self.without_rollup {
            println!("{path}: no hourly rollup; the heat views compute it from the readings [--repair writes it]");
        }
        for (path, what) in &self.wal {
            println!("{path}: {what}");
        }
    }
}

pub async fn run(config: Config, args: CheckArgs) -> anyhow::Result<()> {
    let object_store = storage::existing_object_store(&config.storage)?;
    let mut inspection = inspect(&config, &object_store, args.deep).await?;
    inspection.print();
    if args.repair && inspection.problems() > 0 {
        repair(&config, &object_store, &inspection).await?;
        eprintln!("checking again after the repair");
        inspection = inspect(&config, &object_store, args.deep).await?;
        inspection.print();
    }
    let quarantined = inspection.store.quarantined_files().await?;
    for path in &quarantined {
        println!("{path}: quarantined (not a problem: inspect it, then delete it)");
    }
    let problems = inspection.problems();
    println!(
        "checked {} files{}: {problems} problem(s), {} quarantined file(s)",
        inspection.objects,
        if args.deep { " (every row)" } else { " (footers)" },
        quarantined.len()
    );
    anyhow::ensure!(problems == 0, "{problems} problem(s) remain{}", if args.repair { "" } else { " (ilot check --repair repairs what it can)" });
    Ok(())
}

/// One pass: open the store as a reader of every writer (its open checks every file's presence
/// and size and reads the saved caches), then read every footer or row, every summary, the WAL.
async fn inspect(config: &Config, object_store: &Arc<dyn ObjectStore>, deep: bool) -> anyhow::Result<Inspection> {
    let reader = WriterId::new("ilot-check").map_err(anyhow::Error::msg)?;
    let store = Store::open(object_store.clone(), reader, true).await.context("opening the store")?;
    let mut last = Instant::now();
    let mut objects = store
        .verify_files(deep, |done, total| {
            if last.elapsed() >= Duration::from_secs(2) {
                eprintln!("checked {done} of {total} files");
                last = Instant::now();
            }
        })
        .await
        .context("reading the data files")?;
    objects += store.verify_summaries(deep).await.context("reading the period summaries")?;
    let without_rollup = store
        .snapshot()
        .files
        .iter()
        .filter(|f| f.current_rollup().is_none() && !store.is_damaged(HourlyRollupPath::of(&f.path).as_str()))
        .map(|f| f.path.clone())
        .collect();
    Ok(Inspection { store, without_rollup, wal: check_wal(config)?, objects })
}

/// The damage of every writer's WAL under `storage.data_dir/wal`.
fn check_wal(config: &Config) -> anyhow::Result<Vec<(String, String)>> {
    let root = config.storage.data_dir.join("wal");
    let mut found = Vec::new();
    if !root.is_dir() {
        return Ok(found);
    }
    for dir in std::fs::read_dir(&root)?.filter_map(Result::ok).filter(|e| e.path().is_dir()) {
        let writer = dir.file_name().to_string_lossy().into_owned();
        match FileWal::read_only(&dir.path()) {
            // Not repaired here: the service quarantines the segment once the rest of it is persisted.
            Ok(replay) => found.extend(replay.damage.iter().map(|d| (format!("wal/{writer}"), d.to_string()))),
            Err(e) => found.push((format!("wal/{writer}"), format!("unreadable: {e}"))),
        }
    }
    Ok(found)
}

/// What `--repair` does about a damaged object.
fn repair_of(d: &DamagedFile) -> &'static str {
    match (d.kind, &d.problem) {
        (k, Problem::Unreadable(_)) if k.is_data() => "--repair moves it to quarantine/ and out of its manifest",
        (k, Problem::Missing) if k.is_data() => "--repair drops it from its manifest",
        (FileKind::HourlyRollup, _) => "--repair rewrites it from its readings file",
        (FileKind::LatestCache, _) => "--repair saves it again",
        (FileKind::Summary, _) => "--repair deletes it: recomputed at the next query",
        _ => "not repaired: inspect it",
    }
}

/// Repair as each file's writer: reopen the store as that writer, hand it the damage found,
/// let it repair ([`Store::repair`]); delete the unreadable summaries.
async fn repair(config: &Config, object_store: &Arc<dyn ObjectStore>, inspection: &Inspection) -> anyhow::Result<()> {
    let damaged = inspection.store.damaged_files();
    let writers: BTreeSet<&str> =
        damaged.iter().map(|d| d.path.as_str()).chain(inspection.without_rollup.iter().map(String::as_str)).filter_map(owner_of).collect();
    for name in writers {
        let writer = WriterId::new(name).map_err(anyhow::Error::msg)?;
        let store = Store::open(object_store.clone(), writer, false).await.with_context(|| format!("opening the store as writer {name}"))?;
        if config.storage.url.is_none() {
            store.fsync_local_writes(config.storage.data_dir.clone());
        }
        for d in damaged.iter().filter(|d| owner_of(&d.path) == Some(name)) {
            store.report_damage(&d.path, d.problem.clone());
        }
        let done = store.repair().await.with_context(|| format!("repairing writer {name}'s files"))?;
        eprintln!(
            "writer {name}: {} file(s) quarantined, {} missing file(s) dropped, {} rollup(s) written{}",
            done.quarantined,
            done.dropped_missing,
            done.rollups_written,
            if done.latest_saved { ", latest readings saved" } else { "" }
        );
    }
    for d in damaged.iter().filter(|d| d.kind == FileKind::Summary) {
        match object_store.delete(&ObjectPath::from(d.path.as_str())).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => eprintln!("{}: deleted", d.path),
            Err(e) => return Err(e).with_context(|| format!("deleting {}", d.path)),
        }
    }
    Ok(())
}
