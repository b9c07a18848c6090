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
        let io = |source| WalError::Io { path: path.display().to_string(), source };
        std::fs::create_dir_all(dir).map_err(io)?;
        let mut file = OpenOptions::new().create(true).read(true).write(true).truncate(false).open(&path).map_err(io)?;
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
        drop(first);
        WriterLock::acquire(dir.path()).unwrap();
    }
}
