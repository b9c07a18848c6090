//! The manifest: the list of data files a writer has published, the query side's source of
//! truth (no directory listing on the query path). Saved whole, with one atomic put, after every
//! change; a file that is not in a manifest does not exist for queries.

use chrono::NaiveDate;
use futures::TryStreamExt;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};

use crate::layout::{Dataset, HourlyRollupPath, WriterId, manifest_path, manifests_dir};

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("manifest storage: {0}")]
    Store(#[from] object_store::Error),
    #[error("manifest {path} is not valid: {source}")]
    Invalid { path: String, source: serde_json::Error },
}

/// One published Parquet file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataFile {
    pub path: String,
    pub dataset: Dataset,
    pub network: Option<String>,
    pub date: NaiveDate,
    pub rows: u64,
    pub size_bytes: u64,
    pub min_ts_ms: i64,
    pub max_ts_ms: i64,
    pub created_at_ms: i64,
    /// The hourly rollup written beside a readings file; absent for the other datasets and for
    /// files written before rollups existed (their rollup is computed from the readings).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hourly_rollup: Option<RollupFile>,
}

/// The hourly rollup of a readings file (path: [`HourlyRollupPath::of`] its path).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RollupFile {
    /// [`crate::rollup::ROLLUP_VERSION`] it was written with.
    pub version: u32,
    pub rows: u64,
    pub size_bytes: u64,
}

impl DataFile {
    /// The path and size of this file's hourly rollup, when it has one of the current version.
    pub fn current_rollup(&self) -> Option<(HourlyRollupPath, u64)> {
        let r = self.hourly_rollup.as_ref().filter(|r| r.version == crate::rollup::ROLLUP_VERSION)?;
        Some((HourlyRollupPath::of(&self.path), r.size_bytes))
    }

    /// Every object this entry stands for: the data file and its rollup, if any.
    pub fn object_paths(&self) -> Vec<String> {
        let mut paths = vec![self.path.clone()];
        if self.hourly_rollup.is_some() {
            paths.push(HourlyRollupPath::of(&self.path).as_str().to_owned());
        }
        paths
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Manifest {
    /// Incremented on every save.
    pub version: u64,
    /// Next file sequence number of this writer (file names never repeat).
    pub next_file_seq: u64,
    /// Every WAL segment up to this one is in the files below: replay skips them.
    #[serde(default)]
    pub wal_persisted_upto: u64,
    pub files: Vec<DataFile>,
}

impl Manifest {
    pub async fn load(store: &dyn ObjectStore, writer: &WriterId) -> Result<Manifest, ManifestError> {
        let path = manifest_path(writer);
        match store.get(&path).await {
            Ok(got) => {
                let bytes = got.bytes().await?;
                serde_json::from_slice(&bytes).map_err(|source| ManifestError::Invalid { path: path.to_string(), source })
            }
            Err(object_store::Error::NotFound { .. }) => Ok(Manifest::default()),
            Err(e) => Err(e.into()),
        }
    }

    /// Every writer's manifest under the store (several ingest processes on one shared subscription).
    pub async fn load_all(store: &dyn ObjectStore) -> Result<Vec<Manifest>, ManifestError> {
        let metas: Vec<_> = store.list(Some(&manifests_dir())).try_collect().await?;
        let mut out = Vec::with_capacity(metas.len());
        for meta in metas.into_iter().filter(|m| m.location.as_ref().ends_with(".json")) {
            let bytes = store.get(&meta.location).await?.bytes().await?;
            out.push(
                serde_json::from_slice(&bytes)
                    .map_err(|source| ManifestError::Invalid { path: meta.location.to_string(), source })?,
            );
        }
        Ok(out)
    }

    /// Apply `edit` and save, all or nothing: when the save fails, this manifest is left as it
    /// was (but for the file counter, so that names are never reused).
    pub async fn commit(
        &mut self,
        store: &dyn ObjectStore,
        writer: &WriterId,
        edit: impl FnOnce(&mut Manifest),
    ) -> Result<(), ManifestError> {
        let mut next = self.clone();
        edit(&mut next);
        next.version += 1;
        let json = serde_json::to_vec(&next).expect("manifest serialises");
        store.put(&manifest_path(writer), PutPayload::from(json)).await?;
        *self = next;
        Ok(())
    }

    pub fn take_file_seq(&mut self) -> u64 {
        self.next_file_seq += 1;
        self.next_file_seq
    }
}
