//! `FileWal`: WAL segments as local files. Record format: `len: u32 LE | crc32: u32 LE | postcard
//! bytes`. A torn record at the end of a segment (a crash mid-write) ends the replay of that
//! segment; nothing after it was ever acknowledged.

use super::{Wal, WalEntry, WalError};
use crate::layout::WalSegmentPath;
use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

const MAX_RECORD: u32 = 64 * 1024 * 1024;

pub struct FileWal {
    dir: PathBuf,
    seq: u64,
    out: BufWriter<File>,
    /// Length of the current segment up to its last fsync'd record.
    committed_len: u64,
    scratch: Vec<u8>,
}

/// An entry read back from a segment at start-up.
pub struct ReplayedEntry {
    pub segment: u64,
    pub entry: WalEntry,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> WalError + '_ {
    move |source| WalError::Io { path: path.display().to_string(), source }
}

impl FileWal {
    /// Open the WAL in `dir`: read back every existing segment (in order), then start a new one
    /// after them. The caller applies the replayed entries before accepting new messages.
    pub fn open(dir: &Path) -> Result<(Self, Vec<ReplayedEntry>), WalError> {
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        // Make the folder chain itself durable: a new `wal/<writer>` entry must survive a power cut.
        let mut d = Some(dir);
        while let Some(path) = d.filter(|p| !p.as_os_str().is_empty()) {
            File::open(path).and_then(|f| f.sync_all()).map_err(io_err(path))?;
            d = path.parent();
        }
        let existing = list_segments(dir)?;
        let mut replayed = Vec::new();
        for &seq in &existing {
            read_segment(dir, seq, &mut replayed)?;
        }
        let next = existing.last().map_or(1, |s| s + 1);
        let out = create_segment(dir, next)?;
        Ok((Self { dir: dir.to_owned(), seq: next, out, committed_len: 0, scratch: Vec::new() }, replayed))
    }

    /// Read every entry of the WAL without taking it over (for read-only tools such as `ilot sql`).
    pub fn read_only(dir: &Path) -> Result<Vec<ReplayedEntry>, WalError> {
        let mut replayed = Vec::new();
        if dir.exists() {
            for seq in list_segments(dir)? {
                read_segment(dir, seq, &mut replayed)?;
            }
        }
        Ok(replayed)
    }
}

fn list_segments(dir: &Path) -> Result<Vec<u64>, WalError> {
    let mut seqs: Vec<u64> = fs::read_dir(dir)
        .map_err(io_err(dir))?
        .filter_map(|e| e.ok())
        .filter_map(|e| WalSegmentPath::parse_seq(&e.file_name().to_string_lossy()))
        .collect();
    seqs.sort_unstable();
    Ok(seqs)
}

fn create_segment(dir: &Path, seq: u64) -> Result<BufWriter<File>, WalError> {
    let path = WalSegmentPath::new(dir, seq);
    let file = OpenOptions::new().create(true).append(true).open(path.as_path()).map_err(io_err(path.as_path()))?;
    // The new file's directory entry must itself be durable before anything in it is acked.
    File::open(dir).and_then(|d| d.sync_all()).map_err(io_err(dir))?;
    Ok(BufWriter::with_capacity(1 << 20, file))
}

fn read_segment(dir: &Path, seq: u64, into: &mut Vec<ReplayedEntry>) -> Result<(), WalError> {
    let path = WalSegmentPath::new(dir, seq);
    let mut bytes = Vec::new();
    match File::open(path.as_path()).and_then(|mut f| f.read_to_end(&mut bytes)) {
        Ok(_) => {}
        // Removed by a persist between listing and reading (a read-only reader beside a service).
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_err(path.as_path())(e)),
    }
    let mut at = 0usize;
    while at + 8 <= bytes.len() {
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
        let crc = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().expect("4 bytes"));
        let end = at + 8 + len as usize;
        if len > MAX_RECORD || end > bytes.len() || crc32fast::hash(&bytes[at + 8..end]) != crc {
            break;
        }
        match postcard::from_bytes::<WalEntry>(&bytes[at + 8..end]) {
            Ok(entry) => into.push(ReplayedEntry { segment: seq, entry }),
            Err(e) => {
                tracing::error!(segment = seq, offset = at, error = %e, "undecodable WAL record; stopping replay of this segment");
                break;
            }
        }
        at = end;
    }
    if at < bytes.len() {
        metrics::counter!("ilot_wal_torn_bytes_total").increment((bytes.len() - at) as u64);
        tracing::warn!(segment = seq, offset = at, trailing = bytes.len() - at, "WAL segment ends with a torn record (crash during write); it was never acknowledged");
    }
    Ok(())
}

impl FileWal {
    fn write_and_sync(&mut self, entries: &[WalEntry]) -> Result<(), WalError> {
        for entry in entries {
            self.scratch.clear();
            let encoded = postcard::to_extend(entry, std::mem::take(&mut self.scratch))?;
            let header_len = u32::try_from(encoded.len()).unwrap_or(u32::MAX);
            let path = WalSegmentPath::new(&self.dir, self.seq);
            let write = |out: &mut BufWriter<File>| -> std::io::Result<()> {
                out.write_all(&header_len.to_le_bytes())?;
                out.write_all(&crc32fast::hash(&encoded).to_le_bytes())?;
                out.write_all(&encoded)
            };
            write(&mut self.out).map_err(io_err(path.as_path()))?;
            self.scratch = encoded;
        }
        let path = WalSegmentPath::new(&self.dir, self.seq);
        self.out.flush().map_err(io_err(path.as_path()))?;
        self.out.get_ref().sync_data().map_err(io_err(path.as_path()))?;
        self.committed_len = self.out.get_ref().metadata().map_err(io_err(path.as_path()))?.len();
        Ok(())
    }

    /// After a failed append, cut the segment back to its last durable record so that a retry
    /// does not leave a torn record in the middle of the log.
    fn truncate_to_committed(&mut self) -> Result<(), WalError> {
        let path = WalSegmentPath::new(&self.dir, self.seq);
        let file = OpenOptions::new().append(true).open(path.as_path()).map_err(io_err(path.as_path()))?;
        file.set_len(self.committed_len).map_err(io_err(path.as_path()))?;
        // Drop whatever the failed attempt left buffered, without writing it.
        let stale = std::mem::replace(&mut self.out, BufWriter::with_capacity(1 << 20, file));
        let _ = stale.into_parts();
        Ok(())
    }
}

impl Wal for FileWal {
    fn append(&mut self, entries: &[WalEntry]) -> Result<(), WalError> {
        let result = self.write_and_sync(entries);
        if result.is_err()
            && let Err(e) = self.truncate_to_committed()
        {
            tracing::error!(error = %e, "could not cut the WAL segment back after a failed write");
        }
        result
    }

    fn current_segment(&self) -> u64 {
        self.seq
    }

    fn rotate(&mut self) -> Result<u64, WalError> {
        let closed = self.seq;
        let path = WalSegmentPath::new(&self.dir, closed);
        self.out.flush().map_err(io_err(path.as_path()))?;
        self.out.get_ref().sync_data().map_err(io_err(path.as_path()))?;
        self.out = create_segment(&self.dir, closed + 1)?;
        self.seq = closed + 1;
        self.committed_len = 0;
        Ok(closed)
    }

    fn remove_upto(&mut self, upto: u64) -> Result<(), WalError> {
        for seq in list_segments(&self.dir)?.into_iter().filter(|s| *s <= upto && *s < self.seq) {
            let path = WalSegmentPath::new(&self.dir, seq);
            fs::remove_file(path.as_path()).map_err(io_err(path.as_path()))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DeadLetter, DeadLetterReason};

    fn dl(n: i64) -> WalEntry {
        WalEntry::DeadLetter(DeadLetter {
            topic: "t".into(),
            payload: vec![1, 2, 3],
            received_at_ms: n,
            reason: DeadLetterReason::MalformedJson,
            detail: String::new(),
        })
    }

    #[test]
    fn entries_survive_reopen_and_a_torn_tail_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (mut wal, replayed) = FileWal::open(dir.path()).unwrap();
            assert!(replayed.is_empty());
            wal.append(&[dl(1), dl(2)]).unwrap();
            assert_eq!(wal.rotate().unwrap(), 1);
            wal.append(&[dl(3)]).unwrap();
        }
        // Simulate a crash in the middle of a record.
        let seg2 = WalSegmentPath::new(dir.path(), 2);
        let mut f = OpenOptions::new().append(true).open(seg2.as_path()).unwrap();
        f.write_all(&[200, 0, 0, 0, 1, 2]).unwrap();
        drop(f);
        let (mut wal, replayed) = FileWal::open(dir.path()).unwrap();
        let got: Vec<_> = replayed.iter().map(|r| (r.segment, r.entry.clone())).collect();
        assert_eq!(got, vec![(1, dl(1)), (1, dl(2)), (2, dl(3))]);
        assert_eq!(wal.current_segment(), 3);
        wal.remove_upto(2).unwrap();
        assert!(FileWal::read_only(dir.path()).unwrap().is_empty());
    }
}
