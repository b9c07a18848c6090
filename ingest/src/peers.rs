//! Other writers' files: several `ilot serve` processes on one shared subscription, and
//! `ilot import`, each publish their own files and manifest in the same store. A service's
//! queries (SQL API, dashboards) see them through a periodic reload of the other manifests.
//!
//! Safe because a writer deletes the files its compaction replaced only after
//! `retired_file_grace_s`: a reload interval well under it means no query starts on a list
//! older than the grace.

use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

use crate::layout::DataFilePath;
use crate::manifest::{DataFile, Manifest};
use crate::store::{Store, StoreError};

impl Store {
    /// Whether this writer created `file` (its name starts with the writer id).
    fn is_own(&self, file: &DataFile) -> bool {
        let name = file.path.rsplit('/').next().unwrap_or_default();
        DataFilePath::writer_of(name) == Some(self.writer.as_str())
    }

    /// Replace the other writers' files in what queries read by their manifests' current
    /// lists. Returns how many files other writers publish.
    pub async fn refresh_other_writers(&self) -> Result<usize, StoreError> {
        let others: Vec<Arc<DataFile>> = Manifest::load_all(self.object_store.as_ref())
            .await?
            .into_iter()
            .flat_map(|m| m.files)
            .filter(|f| !self.is_own(f))
            .map(Arc::new)
            .collect();
        let n = others.len();
        let (new, gone): (Vec<Arc<DataFile>>, Vec<String>) = {
            let mut state = self.state.write().expect("store lock");
            let known: std::collections::HashMap<&str, &DataFile> = state.files.iter().map(|f| (f.path.as_str(), f.as_ref())).collect();
            // New files, and files their writer changed (a rewritten rollup): checked afresh.
            let new: Vec<Arc<DataFile>> = others.iter().filter(|f| known.get(f.path.as_str()) != Some(&f.as_ref())).cloned().collect();
            let listed: std::collections::HashSet<&str> = others.iter().map(|f| f.path.as_str()).collect();
            let gone = state.files.iter().filter(|f| !self.is_own(f) && !listed.contains(f.path.as_str())).flat_map(|f| f.object_paths()).collect();
            state.files.retain(|f| self.is_own(f));
            state.files.extend(others);
            (new, gone)
        };
        // Damage of files their writer compacted away, quarantined, dropped or rewrote is no longer ours to report.
        self.damage.forget(&gone);
        self.damage.forget(new.iter().flat_map(|f| f.object_paths()));
        // A failed check is retried by the scans (they recheck a file that fails); the refresh goes on.
        if let Err(e) = self.check_presence(&new).await {
            tracing::warn!(error = %e, "checking other writers' new files failed; queries recheck them when they read them");
        }
        self.seed_latest(&new).await?;
        if !new.is_empty() || !gone.is_empty() {
            self.record_change();
        }
        Ok(n)
    }
}

/// Reload the other writers' files every `every` until `shutdown`.
pub async fn run_peer_refresh(store: Arc<Store>, every: Duration, mut shutdown: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = tick.tick() => match store.refresh_other_writers().await {
                Ok(n) => metrics::gauge!("ilot_other_writers_files").set(n as f64),
                Err(e) => tracing::warn!(error = %e, "reloading other writers' manifests failed; retrying"),
            },
            _ = shutdown.changed() => return,
        }
    }
}
