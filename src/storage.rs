//! Opening the configured storage: the object store for data files and the local WAL folder.

use anyhow::Context;
use ilot_ingest::config::StorageConfig;
use ilot_ingest::layout::WriterId;
use object_store::ObjectStore;
use std::path::PathBuf;
use std::sync::Arc;

pub fn object_store(cfg: &StorageConfig) -> anyhow::Result<Arc<dyn ObjectStore>> {
    match cfg.url.as_deref() {
        None => local(&cfg.data_dir),
        Some(url) => {
            let parsed = url::Url::parse(url).with_context(|| format!("storage.url {url:?}"))?;
            match parsed.scheme() {
                "file" => local(&PathBuf::from(parsed.path())),
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

fn local(dir: &std::path::Path) -> anyhow::Result<Arc<dyn ObjectStore>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
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
