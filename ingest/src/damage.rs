//! Damaged storage degrades, never blocks: the one list of stored objects found missing or
//! unreadable ([`DamagedFiles`], held by the [`Store`]), and what the store does about them.
//!
//! - **Found** when a data file enters the store ([`Store::open`], a peer refresh): it and its
//!   hourly rollup must exist with the size their manifest recorded (one listing of each dataset,
//!   or one HEAD per file when there are few). Any later read that fails (the key index,
//!   compaction, a rollup merge, a query's Parquet scan through [`Store::recheck`]) records the
//!   file too; so does `ilot check` ([`Store::verify_files`]: every footer, `--deep` every row).
//! - **What it means.** A damaged data file is left out of every query snapshot and every read:
//!   results come from the rest, with a warning ([`Store::damage_warning`]). A damaged rollup is
//!   ignored (the heat views compute it from the readings) until rewritten; an unreadable saved
//!   "now" is ignored and rebuilt from the last days of data; an unreadable period summary is
//!   recomputed.
//! - **Quarantine.** A writer moves its own unreadable data files to `quarantine/<path>` and
//!   takes them out of its manifest (at open and before each compaction run). A missing file
//!   stays listed (it may come back: a restore) until [`Store::repair`] (`ilot check --repair`)
//!   drops it. Other writers' files are left to their writer.

use arrow::array::RecordBatch;
use futures::{StreamExt, TryStreamExt};
use object_store::ObjectStoreExt;
use object_store::path::Path as ObjectPath;
use parquet::errors::ParquetError;
use parquet::file::metadata::ParquetMetaDataReader;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, RwLock};

use crate::layout::{
    CONFLICTS_DIR, DEAD_LETTERS_DIR, DataFilePath, HOURLY_ROLLUPS_DIR, HourlyRollupPath, LATEST_DIR, QUARANTINE_DIR, QuarantinePath,
    READINGS_DIR, SUMMARIES_DIR, latest_path, latest_writer_of, manifest_path,
};
use crate::manifest::DataFile;
use crate::parquet_file;
use crate::store::{Store, StoreError};

/// What a stored object is, from its place in the layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileKind {
    Readings,
    Conflicts,
    DeadLetters,
    HourlyRollup,
    LatestCache,
    Summary,
    Other,
}

impl FileKind {
    pub fn of(path: &str) -> Self {
        let kinds = [
            (READINGS_DIR, FileKind::Readings),
            (CONFLICTS_DIR, FileKind::Conflicts),
            (DEAD_LETTERS_DIR, FileKind::DeadLetters),
            (HOURLY_ROLLUPS_DIR, FileKind::HourlyRollup),
            (LATEST_DIR, FileKind::LatestCache),
            (SUMMARIES_DIR, FileKind::Summary),
        ];
        let under = |dir: &str| path.strip_prefix(dir).is_some_and(|rest| rest.starts_with('/'));
        kinds.into_iter().find(|(dir, _)| under(dir)).map_or(FileKind::Other, |(_, kind)| kind)
    }

    /// Listed in a manifest, rather than a cache derived from such files.
    pub fn is_data(self) -> bool {
        matches!(self, FileKind::Readings | FileKind::Conflicts | FileKind::DeadLetters)
    }

    /// The folder objects of this kind live under (the data files and their rollups).
    fn dir(self) -> Option<&'static str> {
        match self {
            FileKind::Readings => Some(READINGS_DIR),
            FileKind::Conflicts => Some(CONFLICTS_DIR),
            FileKind::DeadLetters => Some(DEAD_LETTERS_DIR),
            FileKind::HourlyRollup => Some(HOURLY_ROLLUPS_DIR),
            FileKind::LatestCache | FileKind::Summary | FileKind::Other => None,
        }
    }

    /// What a damaged object of this kind means for the results.
    fn consequence(self) -> &'static str {
        match self {
            FileKind::Readings => "its readings are left out of query results",
            FileKind::Conflicts => "its conflicting duplicates are left out",
            FileKind::DeadLetters => "its dead letters are left out",
            FileKind::HourlyRollup => "the heat views compute it from its readings file until it is rewritten",
            FileKind::LatestCache => "ignored: \"now\" is rebuilt from the last 7 days of data",
            FileKind::Summary => "recomputed at the next query",
            FileKind::Other => "ignored",
        }
    }
}

/// What is wrong with a stored object.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "problem", content = "detail", rename_all = "snake_case")]
pub enum Problem {
    Missing,
    Unreadable(String),
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::Missing => f.write_str("missing"),
            Problem::Unreadable(detail) => write!(f, "unreadable ({detail})"),
        }
    }
}

/// One damaged object, as `/healthz` and `ilot check` show it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DamagedFile {
    /// Path in the object store.
    pub path: String,
    pub kind: FileKind,
    /// `problem`: `missing` or `unreadable`, with a `detail` for the latter.
    #[serde(flatten)]
    pub problem: Problem,
    /// When this process found it (ms since the epoch).
    pub detected_at_ms: i64,
    /// Where the file was moved when its writer quarantined it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quarantined_to: Option<String>,
}

impl std::fmt::Display for DamagedFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}; {}", self.path, self.problem, self.kind.consequence())?;
        match &self.quarantined_to {
            Some(to) => write!(f, " (moved to {to})"),
            None => Ok(()),
        }
    }
}

/// The damaged objects this process knows of, by path.
#[derive(Debug, Default)]
pub struct DamagedFiles {
    by_path: RwLock<BTreeMap<String, DamagedFile>>,
}

impl DamagedFiles {
    /// Record that `path` is damaged; logged at warn when new (or when what is wrong changes).
    pub fn report(&self, path: &str, problem: Problem) {
        let mut map = self.by_path.write().expect("damage lock");
        if map.get(path).is_some_and(|known| known.problem == problem) {
            return;
        }
        let file = DamagedFile {
            path: path.to_owned(),
            kind: FileKind::of(path),
            problem,
            detected_at_ms: chrono::Utc::now().timestamp_millis(),
            quarantined_to: None,
        };
        tracing::warn!(path, kind = ?file.kind, problem = %file.problem, "damaged file: {}", file.kind.consequence());
        map.insert(path.to_owned(), file);
        metrics::gauge!("ilot_damaged_files").set(map.len() as f64);
    }

    pub fn contains(&self, path: &str) -> bool {
        self.by_path.read().expect("damage lock").contains_key(path)
    }

    pub fn get(&self, path: &str) -> Option<DamagedFile> {
        self.by_path.read().expect("damage lock").get(path).cloned()
    }

    pub fn is_empty(&self) -> bool {
        self.by_path.read().expect("damage lock").is_empty()
    }

    /// Forget these paths: rewritten, or listed by no manifest any more.
    pub fn forget<S: AsRef<str>>(&self, paths: impl IntoIterator<Item = S>) {
        let mut map = self.by_path.write().expect("damage lock");
        for p in paths {
            if map.remove(p.as_ref()).is_some() {
                tracing::info!(path = p.as_ref(), "no longer damaged (rewritten or unlisted)");
            }
        }
        metrics::gauge!("ilot_damaged_files").set(map.len() as f64);
    }

    fn set_quarantined(&self, path: &str, to: &QuarantinePath) {
        if let Some(d) = self.by_path.write().expect("damage lock").get_mut(path) {
            d.quarantined_to = Some(to.as_str().to_owned());
        }
    }

    /// Every damaged object, by path.
    pub fn list(&self) -> Vec<DamagedFile> {
        self.by_path.read().expect("damage lock").values().cloned().collect()
    }

    /// Publish the count (a store just opened).
    pub(crate) fn publish_gauge(&self) {
        metrics::gauge!("ilot_damaged_files").set(self.by_path.read().expect("damage lock").len() as f64);
    }
}

/// The writer that created a stored object: data files and rollups by their file name, saved
/// latest caches by theirs. None for summaries and anything else.
pub fn owner_of(path: &str) -> Option<&str> {
    let name = path.rsplit('/').next().unwrap_or_default();
    match FileKind::of(path) {
        FileKind::LatestCache => latest_writer_of(name),
        FileKind::Summary | FileKind::Other => None,
        _ => DataFilePath::writer_of(name),
    }
}

/// Damaged paths shown by name in a warning; the rest are counted.
const WARNING_NAMES: usize = 3;

/// How many objects are checked at once.
const CONCURRENT_CHECKS: usize = 16;

/// Below this many objects, [`Store::check_presence`] asks for each (HEAD); above, it lists.
const HEAD_AT_MOST: usize = 64;

/// Bytes read from the end of a file to find its footer (more when the footer says so).
const FOOTER_HINT: u64 = 64 * 1024;

/// The objects a manifest entry stands for, with the size and rows it recorded for each.
fn expected_objects(f: &DataFile) -> Vec<(String, u64, u64)> {
    let mut objects = vec![(f.path.clone(), f.size_bytes, f.rows)];
    if let Some(r) = &f.hourly_rollup {
        objects.push((HourlyRollupPath::of(&f.path).as_str().to_owned(), r.size_bytes, r.rows));
    }
    objects
}

impl StoreError {
    /// The damage a failed read of one object reveals; None when the error says nothing about
    /// the object (storage unreachable, throttled: retry).
    pub fn damage(&self) -> Option<Problem> {
        match self {
            StoreError::ObjectStore(object_store::Error::NotFound { .. }) => Some(Problem::Missing),
            StoreError::Parquet(e) => Some(Problem::Unreadable(e.to_string())),
            _ => None,
        }
    }
}

/// What [`Store::repair`] did.
#[derive(Debug, Default, Clone, Copy)]
pub struct RepairOutcome {
    pub quarantined: usize,
    pub dropped_missing: usize,
    pub rollups_written: usize,
    pub latest_saved: bool,
}

impl Store {
    /// Every object this process has found missing or unreadable (for `/healthz` and query
    /// answers): path, kind, problem, when, and where it was quarantined.
    pub fn damaged_files(&self) -> Vec<DamagedFile> {
        self.damage.list()
    }

    /// One line (ASCII, for an HTTP header or stderr) saying that answers may be incomplete,
    /// naming the first damaged objects; None while nothing is damaged.
    pub fn damage_warning(&self) -> Option<String> {
        let damaged = self.damage.list();
        if damaged.is_empty() {
            return None;
        }
        let data = damaged.iter().filter(|d| d.kind.is_data()).count();
        let head = match data {
            0 => "results are complete but caches are damaged (computed another way meanwhile)".to_owned(),
            n => format!("results leave out {n} damaged data file(s)"),
        };
        let named: Vec<String> = damaged.iter().take(WARNING_NAMES).map(|d| format!("{} ({})", d.path, d.problem)).collect();
        let mut text = format!("{head}; {} damaged file(s): {}", damaged.len(), named.join(", "));
        if damaged.len() > WARNING_NAMES {
            text += &format!(" and {} more", damaged.len() - WARNING_NAMES);
        }
        text += "; see /healthz or run ilot check";
        Some(text.chars().map(|c| if c.is_ascii() && !c.is_ascii_control() { c } else { '?' }).collect())
    }

    /// Record that `path` is damaged (found by a reader outside this crate: `ilot check`).
    pub fn report_damage(&self, path: &str, problem: Problem) {
        self.damage.report(path, problem);
    }

    /// Whether `path` is known to be damaged.
    pub fn is_damaged(&self, path: &str) -> bool {
        self.damage.contains(path)
    }

    /// A cache outside this crate (a period summary) was written again at `path`.
    pub fn rewritten(&self, path: &str) {
        self.damage.forget([path]);
    }

    /// `f` as queries may read it: None when the data file is damaged, without its rollup when
    /// that is damaged (the rollup is then computed from the readings).
    pub(crate) fn intact(&self, f: &Arc<DataFile>) -> Option<Arc<DataFile>> {
        if self.damage.contains(&f.path) {
            return None;
        }
        match f.current_rollup() {
            Some((rollup, _)) if self.damage.contains(rollup.as_str()) => Some(Arc::new(DataFile { hourly_rollup: None, ..(**f).clone() })),
            _ => Some(f.clone()),
        }
    }

    /// A stored Parquet object's batches; a missing or undecodable object is recorded as
    /// damaged (and the error returned).
    pub(crate) async fn read_object(&self, path: &str) -> Result<Vec<RecordBatch>, StoreError> {
        let read = async {
            let bytes = self.object_store.get(&ObjectPath::from(path)).await?.bytes().await?;
            Ok(parquet_file::decode(bytes)?)
        };
        read.await.inspect_err(|e: &StoreError| {
            if let Some(problem) = e.damage() {
                self.damage.report(path, problem);
            }
        })
    }

    /// The rows of the readable files among `files`: damaged files, known or found now, are
    /// left out. Other errors (storage unreachable) are returned.
    pub(crate) async fn read_intact_files(&self, files: &[Arc<DataFile>]) -> Result<Vec<RecordBatch>, StoreError> {
        let mut out = Vec::new();
        for f in files.iter().filter(|f| !self.damage.contains(&f.path)) {
            match self.read_object(&f.path).await {
                Ok(batches) => out.extend(batches),
                Err(e) if e.damage().is_some() => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Check that each of `files` and its rollup exists with the size its manifest recorded;
    /// record the others. Called as files enter the store (open, peer refresh).
    pub(crate) async fn check_presence(&self, files: &[Arc<DataFile>]) -> Result<(), StoreError> {
        let expected: Vec<(String, u64, u64)> = files.iter().flat_map(|f| expected_objects(f)).collect();
        let actual: HashMap<String, u64> = if expected.len() <= HEAD_AT_MOST {
            // Futures that own what they use: a spawned peer refresh must be `Send` for any lifetime.
            let heads: Vec<_> = expected
                .iter()
                .map(|(path, _, _)| {
                    let (objects, path) = (self.object_store.clone(), path.clone());
                    async move {
                        match objects.head(&ObjectPath::from(path.as_str())).await {
                            Ok(meta) => Ok(Some((path, meta.size))),
                            Err(object_store::Error::NotFound { .. }) => Ok(None),
                            Err(e) => Err(e),
                        }
                    }
                })
                .collect();
            futures::stream::iter(heads)
                .buffer_unordered(CONCURRENT_CHECKS)
                .try_filter_map(|found| async move { Ok(found) })
                .try_collect()
                .await?
        } else {
            let dirs: BTreeSet<&str> = expected.iter().filter_map(|(path, _, _)| FileKind::of(path).dir()).collect();
            let mut sizes = HashMap::new();
            for dir in dirs {
                let metas: Vec<_> = self.object_store.list(Some(&ObjectPath::from(dir))).try_collect().await?;
                sizes.extend(metas.into_iter().map(|m| (m.location.to_string(), m.size)));
            }
            sizes
        };
        for (path, size, _) in &expected {
            match actual.get(path) {
                None => self.damage.report(path, Problem::Missing),
                Some(found) if found != size => {
                    self.damage.report(path, Problem::Unreadable(format!("{found} bytes where its manifest recorded {size}")))
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    /// Verify one stored Parquet object: it exists, has the size and rows expected (when
    /// given), and its footer reads (`deep`: every row decodes). `Ok(None)` when it is sound;
    /// errors are the storage's, not the object's.
    pub async fn verify_object(&self, path: &str, size: Option<u64>, rows: Option<u64>, deep: bool) -> Result<Option<Problem>, StoreError> {
        let location = ObjectPath::from(path);
        let found = match self.object_store.head(&location).await {
            Ok(meta) => meta.size,
            Err(object_store::Error::NotFound { .. }) => return Ok(Some(Problem::Missing)),
            Err(e) => return Err(e.into()),
        };
        if let Some(size) = size.filter(|s| *s != found) {
            return Ok(Some(Problem::Unreadable(format!("{found} bytes where its manifest recorded {size}"))));
        }
        let counted = if deep {
            let read = async { Ok::<_, StoreError>(parquet_file::decode(self.object_store.get(&location).await?.bytes().await?)?) };
            match read.await {
                Ok(batches) => batches.iter().map(|b| b.num_rows() as u64).sum(),
                Err(e) => return e.damage().map(Some).ok_or(e),
            }
        } else {
            match self.footer_rows(&location, found).await? {
                Ok(n) => n,
                Err(detail) => return Ok(Some(Problem::Unreadable(detail))),
            }
        };
        Ok(rows.filter(|r| *r != counted).map(|r| Problem::Unreadable(format!("{counted} rows where its manifest recorded {r}"))))
    }

    /// The row count in a Parquet file's footer, or why the footer does not read.
    async fn footer_rows(&self, location: &ObjectPath, size: u64) -> Result<Result<u64, String>, StoreError> {
        let mut want = FOOTER_HINT.min(size);
        loop {
            let bytes = self.object_store.get_range(location, size - want..size).await?;
            let mut reader = ParquetMetaDataReader::new();
            match reader.try_parse_sized(&bytes, size) {
                Ok(()) => {
                    let rows = reader.finish().map(|m| m.file_metadata().num_rows());
                    return Ok(rows.map(|n| n as u64).map_err(|e| e.to_string()));
                }
                Err(ParquetError::NeedMoreData(n)) if (n as u64) > want && (n as u64) <= size => want = n as u64,
                Err(e) => return Ok(Err(e.to_string())),
            }
        }
    }

    /// Recheck `path` (of `size` bytes) after a read of it failed elsewhere (a query's scan):
    /// record and return its damage, or None when it reads (the failure was the storage's).
    pub async fn recheck(&self, path: &str, size: u64) -> Option<Problem> {
        match self.verify_object(path, Some(size), None, false).await {
            Ok(Some(problem)) => {
                self.damage.report(path, problem.clone());
                Some(problem)
            }
            Ok(None) => None,
            Err(e) => {
                tracing::debug!(path, error = %e, "could not recheck a file after a failed read");
                None
            }
        }
    }

    /// Verify every published file of the store and its rollup (`ilot check`): footers, or
    /// every row when `deep`; damage found is recorded. `progress(done, total)` after each.
    /// Returns the number of objects verified.
    pub async fn verify_files(&self, deep: bool, mut progress: impl FnMut(usize, usize)) -> Result<usize, StoreError> {
        let files: Vec<Arc<DataFile>> = self.state.read().expect("store lock").files.clone();
        let objects: Vec<(String, u64, u64)> =
            files.iter().flat_map(|f| expected_objects(f)).filter(|(path, _, _)| !self.damage.contains(path)).collect();
        let total = objects.len();
        let mut checks = futures::stream::iter(objects)
            .map(|(path, size, rows)| async move {
                let verdict = self.verify_object(&path, Some(size), Some(rows), deep).await;
                (path, verdict)
            })
            .buffer_unordered(if deep { 2 } else { CONCURRENT_CHECKS });
        let mut done = 0;
        while let Some((path, verdict)) = checks.next().await {
            if let Some(problem) = verdict? {
                self.damage.report(&path, problem);
            }
            done += 1;
            progress(done, total);
        }
        Ok(total)
    }

    /// Verify every period summary chunk (`ilot check`): footers, or every row when `deep`;
    /// damage found is recorded. Returns the number of chunks.
    pub async fn verify_summaries(&self, deep: bool) -> Result<usize, StoreError> {
        let chunks: Vec<_> = self.object_store.list(Some(&ObjectPath::from(SUMMARIES_DIR))).try_collect().await?;
        for chunk in &chunks {
            let path = chunk.location.as_ref();
            if let Some(problem) = self.verify_object(path, Some(chunk.size), None, deep).await? {
                self.damage.report(path, problem);
            }
        }
        Ok(chunks.len())
    }

    /// Every file under `quarantine/`, for an operator to inspect.
    pub async fn quarantined_files(&self) -> Result<Vec<String>, StoreError> {
        let metas: Vec<_> = self.object_store.list(Some(&ObjectPath::from(QUARANTINE_DIR))).try_collect().await?;
        Ok(metas.into_iter().map(|m| m.location.to_string()).collect())
    }

    /// Move this writer's unreadable data files to `quarantine/<path>` and out of its manifest
    /// (their rollups are deleted: derived from what is now out). Returns how many.
    pub async fn quarantine_unreadable_files(&self) -> Result<usize, StoreError> {
        Ok(self.unlist_damaged(false).await?.0)
    }

    /// Take this writer's damaged data files out of its manifest: the unreadable ones moved to
    /// quarantine, and, when `missing_too`, the missing ones. Returns (quarantined, dropped).
    async fn unlist_damaged(&self, missing_too: bool) -> Result<(usize, usize), StoreError> {
        let mut manifest = self.manifest.lock().await;
        let chosen: Vec<(DataFile, DamagedFile)> = manifest
            .files
            .iter()
            .filter_map(|f| Some((f.clone(), self.damage.get(&f.path)?)))
            .filter(|(_, d)| d.quarantined_to.is_none() && (missing_too || d.problem != Problem::Missing))
            .collect();
        if chosen.is_empty() {
            return Ok((0, 0));
        }
        let mut moved = Vec::new();
        for (f, d) in &chosen {
            if d.problem == Problem::Missing {
                continue;
            }
            let to = QuarantinePath::of(&f.path);
            match self.object_store.rename(&ObjectPath::from(f.path.as_str()), &to.object_path()).await {
                Ok(()) => moved.push((f.path.clone(), to)),
                // Gone meanwhile: simply unlisted.
                Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        self.make_durable(moved.iter().map(|(_, to)| to.as_str())).await?;
        let paths: Vec<&str> = chosen.iter().map(|(f, _)| f.path.as_str()).collect();
        manifest.commit(self.object_store.as_ref(), &self.writer, |m| m.files.retain(|f| !paths.contains(&f.path.as_str()))).await?;
        self.make_durable([manifest_path(&self.writer).as_ref()]).await?;
        self.state.write().expect("store lock").files.retain(|f| !paths.contains(&f.path.as_str()));
        drop(manifest);
        for (f, _) in &chosen {
            if f.hourly_rollup.is_some() {
                let rollup = HourlyRollupPath::of(&f.path);
                match self.object_store.delete(&rollup.object_path()).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                    Err(e) => tracing::warn!(path = rollup.as_str(), error = %e, "could not delete the rollup of an unlisted file"),
                }
                self.damage.forget([rollup.as_str()]);
            }
        }
        for (path, to) in &moved {
            tracing::warn!(%path, quarantined_to = to.as_str(), "unreadable data file moved to quarantine and out of the manifest");
            self.damage.set_quarantined(path, to);
        }
        let dropped: Vec<&str> = chosen.iter().filter(|(f, _)| !moved.iter().any(|(p, _)| *p == f.path)).map(|(f, _)| f.path.as_str()).collect();
        for path in &dropped {
            tracing::warn!(%path, "missing data file dropped from the manifest");
        }
        let counts = (moved.len(), dropped.len());
        self.damage.forget(dropped);
        Ok(counts)
    }

    /// Repair what this writer can (`ilot check --repair`, services stopped): quarantine its
    /// unreadable data files, drop its missing ones from its manifest, rewrite missing or
    /// damaged rollups, and save its latest-reading cache again when that is damaged.
    pub async fn repair(&self) -> Result<RepairOutcome, StoreError> {
        let (quarantined, dropped_missing) = self.unlist_damaged(true).await?;
        let rollups_written = self.write_missing_rollups().await?;
        let latest = latest_path(&self.writer);
        let latest_saved = self.damage.contains(latest.as_ref());
        if latest_saved {
            self.save_latest().await?;
        }
        Ok(RepairOutcome { quarantined, dropped_missing, rollups_written, latest_saved })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_owners_and_reports() {
        let readings = "readings/network=toulouse/date=2025-07-01/ilot-1-000000000007.parquet";
        assert_eq!(FileKind::of(readings), FileKind::Readings);
        assert_eq!(FileKind::of("rollups/hourly/network=toulouse/date=2025-07-01/ilot-1-000000000007.parquet"), FileKind::HourlyRollup);
        assert_eq!(FileKind::of("_ilot/latest/ilot-1.parquet"), FileKind::LatestCache);
        assert_eq!(FileKind::of("readingsx/a.parquet"), FileKind::Other);
        assert_eq!(owner_of(readings), Some("ilot-1"));
        assert_eq!(owner_of("_ilot/latest/ilot-1.parquet"), Some("ilot-1"));
        assert_eq!(owner_of("summaries/uhi_night_summary/network=n/month=2025-07/a.parquet"), None);

        let damage = DamagedFiles::default();
        damage.report(readings, Problem::Unreadable("truncated".into()));
        let json = serde_json::to_value(damage.list()).unwrap();
        assert_eq!(json[0]["kind"], "readings");
        assert_eq!((&json[0]["problem"], &json[0]["detail"]), (&serde_json::json!("unreadable"), &serde_json::json!("truncated")));
        damage.report("_ilot/latest/ilot-1.parquet", Problem::Missing);
        assert_eq!(serde_json::to_value(damage.get("_ilot/latest/ilot-1.parquet")).unwrap()["problem"], "missing");
        damage.forget([readings]);
        assert!(!damage.contains(readings) && damage.contains("_ilot/latest/ilot-1.parquet"));
    }
}
