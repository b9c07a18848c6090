//! One process per writer: whoever writes a writer's WAL, manifest and files (`ilot serve`, or
//! `ilot qc --flags` rewriting them offline) first takes an exclusive lock on the writer's WAL
//! folder (`layout::wal_lock_path`). The operating system releases it when the process ends,
//! `kill -9` included, so a stale lock never blocks a restart. The holder's pid is written in
//! the file for the message the next process prints.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use super::WalError;

/// The lock of one writer, held while this value lives.
#[derive(Debug)]
pub struct WriterLock {
    _file: File,
}

impl WriterLock {
    /// Take the lock of the WAL folder `dir` (created if needed); [`WalError::Locked`] names
    /// the process holding it.
    pub fn acquire(dir: &Path) -> Result<Self, WalError> {
        let path = crate::layout::wal_lock_path(dir);
        std::fs::create_dir_all(dir).map_err(|source| WalError::Io { path: path.display().to_string(), source })?;
        Self::take(dir, OpenOptions::new().create(true).read(true).write(true).truncate(false).open(&path))
    }

    /// Take the lock if the writer's lock file exists already, creating nothing (`None` when it
    /// does not): a start checks that no process holds the writer before its other checks,
    /// which must leave a refused start without a trace on disk.
    pub fn acquire_existing(dir: &Path) -> Result<Option<Self>, WalError> {
        match OpenOptions::new().read(true).write(true).open(crate::layout::wal_lock_path(dir)) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            opened => Self::take(dir, opened).map(Some),
        }
    }

    fn take(dir: &Path, opened: std::io::Result<File>) -> Result<Self, WalError> {
        let path = crate::layout::wal_lock_path(dir);
        let io = |source| WalError::Io { path: path.display().to_string(), source };
        let mut file = opened.map_err(io)?;
        match file.try_lock() {
            Ok(()) => {
                file.set_len(0).map_err(io)?;
                file.rewind().map_err(io)?;
                write!(file, "{}", std::process::id()).map_err(io)?;
                Ok(Self { _file: file })
            }
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                Err(WalError::Locked { dir: PathBuf::from(dir), holder: holder.trim().to_owned() })
            }
            Err(TryLockError::Error(source)) => Err(io(source)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_at_a_time_and_released_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let first = WriterLock::acquire(dir.path()).unwrap();
        let err = WriterLock::acquire(dir.path()).unwrap_err();
        assert!(err.to_string().contains(&std::process::id().to_string()), "{err}");
        assert!(WriterLock::acquire_existing(dir.path()).is_err(), "held, whichever way it is asked for");
        drop(first);
        WriterLock::acquire(dir.path()).unwrap();
    }

    #[test]
    fn asking_for_an_existing_lock_creates_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let wal = dir.path().join("wal").join("w");
        assert!(WriterLock::acquire_existing(&wal).unwrap().is_none());
        assert!(!wal.exists());
        drop(WriterLock::acquire(&wal).unwrap());
        assert!(WriterLock::acquire_existing(&wal).unwrap().is_some());
    }
}
