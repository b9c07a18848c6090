//! `FileWal`: WAL segments as local files, `<wal_dir>/<seq>.wal` (see `layout`).
//!
//! Format. A segment opens with the 8-byte header `ILOTWAL2`, written and fsync'd when the
//! segment is created, then holds records: `magic: 4 bytes | len: u32 LE | crc32: u32 LE over the
//! len bytes and the payload | postcard payload`.
//!
//! Resynchronisation. Replay reads a record where the previous one ended. When the bytes there do
//! not check out, it scans forward byte by byte to the next offset where a whole record does (the
//! magic, a length within `MAX_RECORD` and the file, the checksum) and goes on from there: a bad
//! byte costs the record it falls in, not the rest of the segment. A record whose checksum matches
//! but whose payload does not decode is skipped the same way.
//!
//! Torn or damaged. Bytes at the end of a segment that begin a record reaching past the end of the
//! file, with no readable record after them, are a torn tail: a crash during a write that was never
//! fsync'd, so never acknowledged (a warning and `ilot_wal_torn_bytes_total`). Every other
//! unreadable region is damage, where acknowledged entries may have been lost: a region followed by
//! a readable record, a complete last record whose checksum fails, a last record whose length
//! field is wrong (its checksum matches over the bytes actually there), a segment header with a
//! few bytes wrong (the records after it are read). Damage is logged as an error with the file
//! name, offset and length, counted (`ilot_wal_damaged_bytes_total`, `ilot_wal_damaged_regions_total`)
//! and returned to the caller as [`WalDamage`]. A segment of the previous version (below) stops at
//! its first unreadable record; the rest of it is torn or damaged by the same rule.
//!
//! Quarantine. A damaged segment is never deleted: when `remove_upto` reaches it (every readable
//! record of it is in Parquet by then) it is moved to `<wal_dir>/quarantine/<seq>.wal`, for
//! forensics; the operator removes it.
//!
//! Segments without the header were written by earlier versions as `len: u32 LE | crc32 over the
//! payload: u32 LE | payload`. They are still replayed, up to their first unreadable record.

use super::{Wal, WalEntry, WalError};
use crate::layout::{WalQuarantinePath, WalSegmentPath};
use std::collections::BTreeSet;
use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

/// First bytes of a segment in the current format.
const SEGMENT_HEADER: [u8; 8] = *b"ILOTWAL2";
/// First bytes of every record, what replay looks for after damage. 0xFF and 0xFE never occur in
/// UTF-8 text.
const RECORD_MAGIC: [u8; 4] = [0xFF, b'W', b'R', 0xFE];
/// Magic, length and checksum.
const RECORD_HEADER: usize = 12;
/// Length and checksum of a record of a segment without header (earlier versions).
const LEGACY_RECORD_HEADER: usize = 8;
const MAX_RECORD: u32 = 64 * 1024 * 1024;

pub struct FileWal {
    dir: PathBuf,
    seq: u64,
    out: BufWriter<File>,
    /// Length of the current segment up to its last fsync'd record (header included).
    committed_len: u64,
    scratch: Vec<u8>,
    /// Segments found damaged at replay: quarantined, not deleted, by `remove_upto`.
    damaged: BTreeSet<u64>,
}

/// An entry read back from a segment at start-up.
pub struct ReplayedEntry {
    pub segment: u64,
    pub entry: WalEntry,
}

/// An unreadable region of a segment that a crash during a write does not explain: acknowledged
/// entries may have been lost there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalDamage {
    /// Segment number (file `<seq>.wal`).
    pub segment: u64,
    /// Offset of the region in the segment file.
    pub offset: u64,
    /// Length of the region.
    pub bytes: u64,
}

impl std::fmt::Display for WalDamage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "WAL segment {:020}.wal: {} bytes unreadable at offset {} (acknowledged entries there may be lost; \
             the records after it were recovered; the segment is kept in the WAL's quarantine/ folder)",
            self.segment, self.bytes, self.offset
        )
    }
}

/// What a replay of the WAL read.
#[derive(Default)]
pub struct WalReplay {
    /// Every readable entry, in log order.
    pub entries: Vec<ReplayedEntry>,
    /// Every damaged region, in log order.
    pub damage: Vec<WalDamage>,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> WalError + '_ {
    move |source| WalError::Io { path: path.display().to_string(), source }
}

fn sync_dir(dir: &Path) -> Result<(), WalError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io_err(dir))
}

impl FileWal {
    /// Open the WAL in `dir`: read back every existing segment (in order), then start a new one
    /// after them. The caller applies the replayed entries before accepting new messages, and
    /// reports the damage found (the damaged segments are quarantined by `remove_upto`).
    pub fn open(dir: &Path) -> Result<(Self, WalReplay), WalError> {
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        // Make the folder chain itself durable: a new `wal/<writer>` entry must survive a power cut.
        let mut d = Some(dir);
        while let Some(path) = d.filter(|p| !p.as_os_str().is_empty()) {
            sync_dir(path)?;
            d = path.parent();
        }
        let existing = list_segments(dir)?;
        let mut replay = WalReplay::default();
        for &seq in &existing {
            read_segment(dir, seq, &mut replay)?;
        }
        // Past the quarantined segments too, so that no segment number is ever used twice.
        let quarantine = WalQuarantinePath::dir(dir);
        let quarantined = if quarantine.is_dir() { list_segments(&quarantine)? } else { Vec::new() };
        let next = existing.last().max(quarantined.last()).map_or(1, |s| s + 1);
        let out = create_segment(dir, next)?;
        let damaged = replay.damage.iter().map(|d| d.segment).collect();
        let wal = Self { dir: dir.to_owned(), seq: next, out, committed_len: SEGMENT_HEADER.len() as u64, scratch: Vec::new(), damaged };
        Ok((wal, replay))
    }

    /// Read every entry of the WAL without taking it over (for read-only tools such as `ilot sql`).
    pub fn read_only(dir: &Path) -> Result<WalReplay, WalError> {
        let mut replay = WalReplay::default();
        if dir.exists() {
            for seq in list_segments(dir)? {
                read_segment(dir, seq, &mut replay)?;
            }
        }
        Ok(replay)
    }
}

/// The segment numbers of the files of `dir`, in order (sub-folders such as the quarantine left out).
fn list_segments(dir: &Path) -> Result<Vec<u64>, WalError> {
    let mut seqs: Vec<u64> = fs::read_dir(dir)
        .map_err(io_err(dir))?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|e| WalSegmentPath::parse_seq(&e.file_name().to_string_lossy()))
        .collect();
    seqs.sort_unstable();
    Ok(seqs)
}

/// Create segment `seq` with its header, both durable before anything in it is acknowledged.
fn create_segment(dir: &Path, seq: u64) -> Result<BufWriter<File>, WalError> {
    let path = WalSegmentPath::new(dir, seq);
    let mut file = OpenOptions::new().create(true).append(true).open(path.as_path()).map_err(io_err(path.as_path()))?;
    file.write_all(&SEGMENT_HEADER).and_then(|()| file.sync_data()).map_err(io_err(path.as_path()))?;
    // The new file's directory entry must itself be durable too.
    sync_dir(dir)?;
    Ok(BufWriter::with_capacity(1 << 20, file))
}

/// Checksum of a record: its length field, then its payload.
fn record_crc(len: &[u8], payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(len);
    hasher.update(payload);
    hasher.finalize()
}

fn le_u32(bytes: &[u8]) -> u32 {
    u32::from_le_bytes(bytes.try_into().expect("4 bytes"))
}

/// The payload of the record at `at`, if a whole record checks out there.
fn record_at(bytes: &[u8], at: usize) -> Option<&[u8]> {
    let head = bytes.get(at..at.checked_add(RECORD_HEADER)?)?;
    let len = le_u32(&head[4..8]);
    if head[..4] != RECORD_MAGIC || len > MAX_RECORD {
        return None;
    }
    let payload = bytes.get(at + RECORD_HEADER..at + RECORD_HEADER + len as usize)?;
    (record_crc(&head[4..8], payload) == le_u32(&head[8..12])).then_some(payload)
}

/// Whether `tail` (non-empty, the end of a segment) is the beginning of a record cut short by a
/// crash: the magic (or as much of it as was written), then a length reaching past the end of the
/// file. A complete last record whose length field was damaged is told apart by its checksum,
/// which then matches over the bytes present.
fn is_torn_record(tail: &[u8]) -> bool {
    if tail.len() < RECORD_MAGIC.len() {
        return RECORD_MAGIC.starts_with(tail);
    }
    if tail[..4] != RECORD_MAGIC {
        return false;
    }
    let Some(head) = tail.get(..RECORD_HEADER) else { return true };
    let len = le_u32(&head[4..8]);
    let present = &tail[RECORD_HEADER..];
    let complete_with_bad_len = u32::try_from(present.len()).is_ok_and(|n| record_crc(&n.to_le_bytes(), present) == le_u32(&head[8..12]));
    len <= MAX_RECORD && len as usize > present.len() && !complete_with_bad_len
}

/// Whether the first bytes of a segment are the header with a few bytes damaged. A segment of an
/// earlier version starts with a record length below `MAX_RECORD` (4th byte at most 4, never the
/// header's 'T') and a checksum: six matching bytes out of eight do not happen by chance.
fn is_damaged_header(bytes: &[u8]) -> bool {
    bytes.get(..SEGMENT_HEADER.len()).is_some_and(|h| h.iter().zip(SEGMENT_HEADER).filter(|(a, b)| **a == *b).count() >= 6)
}

fn read_segment(dir: &Path, seq: u64, replay: &mut WalReplay) -> Result<(), WalError> {
    let path = WalSegmentPath::new(dir, seq);
    let mut bytes = Vec::new();
    match File::open(path.as_path()).and_then(|mut f| f.read_to_end(&mut bytes)) {
        Ok(_) => {}
        // Removed by a persist between listing and reading (a read-only reader beside a service).
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_err(path.as_path())(e)),
    }
    let file = path.as_path().file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let mut reader = SegmentReader { seq, file: &file, bytes: &bytes, replay };
    if bytes.starts_with(&SEGMENT_HEADER) {
        reader.records(SEGMENT_HEADER.len());
    } else if SEGMENT_HEADER.starts_with(&bytes) {
        // Empty, or its header not wholly written (a crash as it was created): nothing in it was
        // ever acknowledged.
        if !bytes.is_empty() {
            reader.torn(0);
        }
    } else if is_damaged_header(&bytes) {
        // Read from the start: the header is reported as damage, the records after it are read.
        reader.records(0);
    } else {
        reader.legacy_records();
    }
    Ok(())
}

/// Reads the records of one segment into a replay.
struct SegmentReader<'a> {
    seq: u64,
    /// File name of the segment, for the logs.
    file: &'a str,
    bytes: &'a [u8],
    replay: &'a mut WalReplay,
}

impl SegmentReader<'_> {
    /// Read the records from `at` to the end, resynchronising after damage.
    fn records(&mut self, mut at: usize) {
        let bytes = self.bytes;
        while at < bytes.len() {
            if let Some(payload) = record_at(bytes, at) {
                let end = at + RECORD_HEADER + payload.len();
                if let Err(e) = self.decode(payload) {
                    self.damaged(at, end, &format!("undecodable record: {e}"));
                }
                at = end;
            } else if let Some(next) = (at + 1..bytes.len()).find(|&p| record_at(bytes, p).is_some()) {
                self.damaged(at, next, "unreadable bytes before a readable record");
                at = next;
            } else {
                if is_torn_record(&bytes[at..]) {
                    self.torn(at);
                } else {
                    self.damaged(at, bytes.len(), "unreadable bytes at the end of the segment");
                }
                return;
            }
        }
    }

    /// Read the records of a segment of an earlier version, up to the first unreadable one.
    fn legacy_records(&mut self) {
        let bytes = self.bytes;
        let mut at = 0;
        while let Some(head) = bytes.get(at..at + LEGACY_RECORD_HEADER) {
            let len = le_u32(&head[..4]);
            if len > MAX_RECORD {
                self.damaged(at, bytes.len(), "record length out of range; replay of the segment stops there");
                return;
            }
            let end = at + LEGACY_RECORD_HEADER + len as usize;
            let Some(payload) = bytes.get(at + LEGACY_RECORD_HEADER..end) else { break };
            if crc32fast::hash(payload) != le_u32(&head[4..]) {
                self.damaged(at, bytes.len(), "record checksum mismatch; replay of the segment stops there");
                return;
            }
            if let Err(e) = self.decode(payload) {
                self.damaged(at, bytes.len(), &format!("undecodable record; replay of the segment stops there: {e}"));
                return;
            }
            at = end;
        }
        if at < bytes.len() {
            self.torn(at);
        }
    }

    /// Add the entry a record whose checksum matched holds.
    fn decode(&mut self, payload: &[u8]) -> Result<(), postcard::Error> {
        let entry = postcard::from_bytes::<WalEntry>(payload)?;
        self.replay.entries.push(ReplayedEntry { segment: self.seq, entry });
        Ok(())
    }

    /// Bytes `from..` to the end of the segment: a record cut short by a crash, never acknowledged.
    fn torn(&mut self, from: usize) {
        let trailing = self.bytes.len() - from;
        metrics::counter!("ilot_wal_torn_bytes_total").increment(trailing as u64);
        tracing::warn!(segment = self.file, offset = from, trailing, "WAL segment ends with a torn record (crash during write); it was never acknowledged");
    }

    /// Bytes `from..to` are unreadable and may have held acknowledged entries.
    fn damaged(&mut self, from: usize, to: usize, cause: &str) {
        let bytes = (to - from) as u64;
        tracing::error!(
            segment = self.file,
            offset = from,
            bytes,
            cause,
            "WAL segment damaged: acknowledged entries in these bytes may be lost; the service quarantines the segment once its readable records are in Parquet"
        );
        metrics::counter!("ilot_wal_damaged_bytes_total").increment(bytes);
        match self.replay.damage.last_mut() {
            Some(last) if last.segment == self.seq && last.offset + last.bytes == from as u64 => last.bytes += bytes,
            _ => {
                metrics::counter!("ilot_wal_damaged_regions_total").increment(1);
                self.replay.damage.push(WalDamage { segment: self.seq, offset: from as u64, bytes });
            }
        }
    }
}

impl FileWal {
    fn write_and_sync(&mut self, entries: &[WalEntry]) -> Result<(), WalError> {
        for entry in entries {
            self.scratch.clear();
            let encoded = postcard::to_extend(entry, std::mem::take(&mut self.scratch))?;
            let len = u32::try_from(encoded.len()).unwrap_or(u32::MAX).to_le_bytes();
            let path = WalSegmentPath::new(&self.dir, self.seq);
            let write = |out: &mut BufWriter<File>| -> std::io::Result<()> {
                out.write_all(&RECORD_MAGIC)?;
                out.write_all(&len)?;
                out.write_all(&record_crc(&len, &encoded).to_le_bytes())?;
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

    /// Move damaged segment `seq` to the quarantine folder, durably.
    fn quarantine(&self, seq: u64) -> Result<(), WalError> {
        let from = WalSegmentPath::new(&self.dir, seq);
        let to = WalQuarantinePath::new(&self.dir, seq);
        let quarantine = WalQuarantinePath::dir(&self.dir);
        fs::create_dir_all(&quarantine).map_err(io_err(&quarantine))?;
        fs::rename(from.as_path(), to.as_path()).map_err(io_err(from.as_path()))?;
        sync_dir(&quarantine)?;
        sync_dir(&self.dir)?;
        tracing::warn!(segment = seq, path = %to.as_path().display(), "damaged WAL segment quarantined; its readable records are in Parquet, remove it when done with it");
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
        self.committed_len = SEGMENT_HEADER.len() as u64;
        Ok(closed)
    }

    fn remove_upto(&mut self, upto: u64) -> Result<(), WalError> {
        for seq in list_segments(&self.dir)?.into_iter().filter(|s| *s <= upto && *s < self.seq) {
            if self.damaged.contains(&seq) {
                self.quarantine(seq)?;
                self.damaged.remove(&seq);
            } else {
                let path = WalSegmentPath::new(&self.dir, seq);
                fs::remove_file(path.as_path()).map_err(io_err(path.as_path()))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
