//! Opening the configured storage: the object store for data files and the local WAL folder.
//! The commands that write a store (`ilot serve`, `ilot demo`, `ilot import`) create its local
//! directory; those that read or fix an existing one (`ilot sql`, `ilot check`, `ilot qc`) refuse
//! a directory that is not there, naming it, and create nothing.

use anyhow::Context;
use ilot_ingest::config::StorageConfig;
use ilot_ingest::layout::WriterId;
use object_store::ObjectStore;
use std::path::PathBuf;
use std::sync::Arc;

/// The store a command writes to, its local directory created if need be.
pub fn object_store(cfg: &StorageConfig) -> anyhow::Result<Arc<dyn ObjectStore>> {
    open(cfg, true)
}

/// The store a command reads (or repairs): an error when its local directory does not exist.
pub fn existing_object_store(cfg: &StorageConfig) -> anyhow::Result<Arc<dyn ObjectStore>> {
    open(cfg, false)
}

fn open(cfg: &StorageConfig, create: bool) -> anyhow::Result<Arc<dyn ObjectStore>> {
    match cfg.url.as_deref() {
        None => local(&cfg.data_dir, "storage.data_dir", create),
        Some(url) => {
            let parsed = url::Url::parse(url).with_context(|| format!("storage.url {url:?}"))?;
            match parsed.scheme() {
                "file" => local(&PathBuf::from(parsed.path()), "storage.url", create),
                "s3" => {
                    let bucket = parsed.host_str().context("storage.url: s3://bucket/prefix expected")?;
                    let s3 = object_store::aws::AmazonS3Builder::from_env().with_bucket_name(bucket).build()?;
                    let prefix = parsed.path().trim_matches('/');
                    Ok(if prefix.is_empty() {
                        Arc::new(s3)
                    } else {
                        Arc::new(object_store::prefix::PrefixStore::new(s3, prefix))
                    })
                }
                other => anyhow::bail!("storage.url scheme {other:?}: use file:// or s3://"),
            }
        }
    }
}

/// A local directory as the store, created, or required (`key`: the setting that names it).
fn local(dir: &std::path::Path, key: &str, create: bool) -> anyhow::Result<Arc<dyn ObjectStore>> {
    if create {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    anyhow::ensure!(
        dir.is_dir(),
        "no data directory at {} ({key}): point ilot at a store with --config FILE or {}, or start one with `ilot demo` or \
         `ilot serve`",
        dir.display(),
        if key == "storage.url" { "ILOT_STORAGE__URL=file:///DIR" } else { "ILOT_STORAGE__DATA_DIR=DIR" }
    );
    Ok(Arc::new(object_store::local::LocalFileSystem::new_with_prefix(dir)?.with_automatic_cleanup(true)))
}

pub fn writer_id(cfg: &StorageConfig, client_id: &str) -> anyhow::Result<WriterId> {
    let raw = cfg.writer_id.clone().unwrap_or_else(|| {
        client_id.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect()
    });
    WriterId::new(&raw).map_err(anyhow::Error::msg)
}

/// WAL folder of one writer.
pub fn wal_dir(cfg: &StorageConfig, writer: &WriterId) -> PathBuf {
    ilot_ingest::layout::wal_dir(&cfg.data_dir, writer)
}
