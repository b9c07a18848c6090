//! Tests of `FileWal`: round trip, torn tails, resynchronisation after damage, legacy segments,
//! quarantine.

use super::*;
use crate::{DeadLetter, DeadLetterReason, Reading};
use std::io::{Seek, SeekFrom};
use std::ops::Range;

fn dl(n: i64) -> WalEntry {
    WalEntry::DeadLetter(DeadLetter {
        topic: "t".into(),
        payload: vec![1, 2, 3],
        received_at_ms: n,
        reason: DeadLetterReason::MalformedJson,
        detail: String::new(),
    })
}

/// Entry `n` of a log of varied entries: readings batches of 1 to 4, dead letters of 0 to 180 bytes.
fn varied(n: i64) -> WalEntry {
    if n % 3 == 2 {
        return WalEntry::DeadLetter(DeadLetter {
            topic: format!("ilot/rennes/sensor-{n}"),
            payload: (0..n * 37 % 181).map(|b| (b * 7 + n) as u8).collect(),
            received_at_ms: 1_750_000_000_000 + n,
            reason: DeadLetterReason::UnknownFormat,
            detail: "neither the canonical document nor SenML".repeat((n % 2) as usize),
        });
    }
    WalEntry::Readings(
        (0..n % 4 + 1)
            .map(|k| Reading {
                network: "rennes".into(),
                sensor_id: format!("s-{n}-{k}"),
                ts_ms: 1_750_000_000_000 + n * 60_000,
                temperature_centi_c: (n * 137 % 4000) as i16 - 500,
                humidity_deci_pct: (n % 2 == 0).then_some(512 + k as i16),
                battery_mv: (k % 2 == 1).then_some(3300),
                seq: Some((n * 4 + k) as u64),
                received_at_ms: 1_750_000_000_500 + n * 60_000,
                qc_flags: (n % 5) as u32,
            })
            .collect(),
    )
}

fn entries(replay: &WalReplay) -> Vec<(u64, WalEntry)> {
    replay.entries.iter().map(|r| (r.segment, r.entry.clone())).collect()
}

/// Where each record of a segment in the current format lies, from its length fields.
fn record_spans(bytes: &[u8]) -> Vec<Range<usize>> {
    let mut spans = Vec::new();
    let mut at = SEGMENT_HEADER.len();
    while at < bytes.len() {
        let end = at + RECORD_HEADER + le_u32(&bytes[at + 4..at + 8]) as usize;
        spans.push(at..end);
        at = end;
    }
    assert_eq!(at, bytes.len());
    spans
}

/// Segment 1 of a fresh WAL holding `written`, appended in batches of 7; returns its bytes.
fn write_segment(dir: &Path, written: &[WalEntry]) -> Vec<u8> {
    let (mut wal, replay) = FileWal::open(dir).unwrap();
    assert!(replay.entries.is_empty() && replay.damage.is_empty());
    assert_eq!(wal.current_segment(), 1);
    for batch in written.chunks(7) {
        wal.append(batch).unwrap();
    }
    fs::read(WalSegmentPath::new(dir, 1).as_path()).unwrap()
}

#[test]
fn entries_survive_reopen_and_a_torn_tail_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (mut wal, replay) = FileWal::open(dir.path()).unwrap();
        assert!(replay.entries.is_empty());
        wal.append(&[dl(1), dl(2)]).unwrap();
        assert_eq!(wal.rotate().unwrap(), 1);
        wal.append(&[dl(3)]).unwrap();
    }
    // Simulate a crash in the middle of a record.
    let seg2 = WalSegmentPath::new(dir.path(), 2);
    let mut f = OpenOptions::new().append(true).open(seg2.as_path()).unwrap();
    f.write_all(&RECORD_MAGIC).unwrap();
    f.write_all(&[200, 0, 0, 0, 1, 2]).unwrap();
    drop(f);
    let (mut wal, replay) = FileWal::open(dir.path()).unwrap();
    assert_eq!(entries(&replay), vec![(1, dl(1)), (1, dl(2)), (2, dl(3))]);
    assert!(replay.damage.is_empty(), "a torn tail is not damage");
    assert_eq!(wal.current_segment(), 3);
    wal.remove_upto(2).unwrap();
    assert!(FileWal::read_only(dir.path()).unwrap().entries.is_empty());
    assert!(!WalQuarantinePath::dir(dir.path()).exists(), "clean segments are deleted");
}

#[test]
fn one_damaged_byte_costs_at_most_the_record_it_falls_in() {
    let dir = tempfile::tempdir().unwrap();
    let written: Vec<WalEntry> = (0..60).map(varied).collect();
    let clean = write_segment(dir.path(), &written);
    let spans = record_spans(&clean);
    assert_eq!(spans.len(), written.len());
    // Bytes are changed in place: rewriting the file (a truncation) would make ext4 flush it each time.
    let mut file = OpenOptions::new().write(true).open(WalSegmentPath::new(dir.path(), 1).as_path()).unwrap();
    let mut put = |offset: usize, byte: u8| {
        file.seek(SeekFrom::Start(offset as u64)).unwrap();
        file.write_all(&[byte]).unwrap();
    };
    for offset in 0..clean.len() {
        for mask in [0xFF, 1 << (offset % 8)] {
            put(offset, clean[offset] ^ mask);
            let replay = FileWal::read_only(dir.path()).unwrap();
            let hit = spans.iter().position(|s| s.contains(&offset));
            let expected: Vec<_> =
                written.iter().enumerate().filter(|(i, _)| Some(*i) != hit).map(|(_, e)| (1, e.clone())).collect();
            let context = format!("byte {offset} ^ {mask:#04x} (record {hit:?})");
            assert!(entries(&replay) == expected, "{context}: every other record is read, in order, once");
            // The damage reported is exactly the lost record, or the header.
            let lost = hit.map_or(0..SEGMENT_HEADER.len(), |i| spans[i].clone());
            let reported: Vec<_> = replay.damage.iter().map(|d| (d.segment, d.offset as usize..(d.offset + d.bytes) as usize)).collect();
            assert_eq!(reported, vec![(1, lost)], "{context}");
        }
        put(offset, clean[offset]);
    }
}

#[test]
fn a_torn_tail_anywhere_is_not_damage() {
    let dir = tempfile::tempdir().unwrap();
    let written: Vec<WalEntry> = (0..12).map(varied).collect();
    let clean = write_segment(dir.path(), &written);
    let spans = record_spans(&clean);
    let path = WalSegmentPath::new(dir.path(), 1);
    for len in 0..=clean.len() {
        fs::write(path.as_path(), &clean[..len]).unwrap();
        let replay = FileWal::read_only(dir.path()).unwrap();
        let expected: Vec<_> = written.iter().zip(&spans).filter(|(_, s)| s.end <= len).map(|(e, _)| (1, e.clone())).collect();
        assert!(entries(&replay) == expected, "cut at {len}");
        assert!(replay.damage.is_empty(), "cut at {len}: {:?}", replay.damage);
    }
}

#[test]
fn undecodable_records_and_garbage_are_skipped_as_damage() {
    let dir = tempfile::tempdir().unwrap();
    let clean = write_segment(dir.path(), &[dl(1), dl(2)]);
    let spans = record_spans(&clean);
    // A record whose checksum is right but whose payload is not a `WalEntry`, then garbage.
    let payload = [0xFFu8; 5];
    let len = (payload.len() as u32).to_le_bytes();
    let mut bytes = clean[..spans[1].start].to_vec();
    bytes.extend(RECORD_MAGIC.iter().chain(&len).chain(&record_crc(&len, &payload).to_le_bytes()).chain(&payload));
    bytes.extend_from_slice(b"garbage");
    bytes.extend_from_slice(&clean[spans[1].clone()]);
    fs::write(WalSegmentPath::new(dir.path(), 1).as_path(), &bytes).unwrap();
    let replay = FileWal::read_only(dir.path()).unwrap();
    assert_eq!(entries(&replay), vec![(1, dl(1)), (1, dl(2))]);
    let (offset, damaged) = (spans[1].start as u64, (RECORD_HEADER + payload.len() + 7) as u64);
    assert_eq!(replay.damage, vec![WalDamage { segment: 1, offset, bytes: damaged }], "adjacent regions are reported as one");
}

/// A segment as the previous version wrote it: no header, `len | crc32 over payload | payload`.
fn legacy_segment(written: &[WalEntry]) -> (Vec<u8>, Vec<Range<usize>>) {
    let (mut bytes, mut spans) = (Vec::new(), Vec::new());
    for entry in written {
        let payload = postcard::to_stdvec(entry).unwrap();
        let start = bytes.len();
        bytes.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        bytes.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        bytes.extend_from_slice(&payload);
        spans.push(start..bytes.len());
    }
    (bytes, spans)
}

#[test]
fn legacy_segments_still_replay() {
    let dir = tempfile::tempdir().unwrap();
    let written: Vec<WalEntry> = (0..5).map(varied).collect();
    let (mut bytes, spans) = legacy_segment(&written);
    bytes.extend_from_slice(&[200, 0, 0, 0, 1, 2]);
    fs::write(WalSegmentPath::new(dir.path(), 1).as_path(), &bytes).unwrap();
    {
        let (mut wal, replay) = FileWal::open(dir.path()).unwrap();
        let expected: Vec<_> = written.iter().map(|e| (1, e.clone())).collect();
        assert!(entries(&replay) == expected);
        assert!(replay.damage.is_empty(), "a torn legacy tail is not damage");
        assert_eq!(wal.current_segment(), 2);
        wal.append(&[dl(9)]).unwrap();
    }
    let seg2 = fs::read(WalSegmentPath::new(dir.path(), 2).as_path()).unwrap();
    assert!(seg2.starts_with(&SEGMENT_HEADER), "new segments are written in the current format");
    let replay = FileWal::read_only(dir.path()).unwrap();
    assert_eq!(replay.entries.len(), written.len() + 1);
    assert_eq!(entries(&replay).last(), Some(&(2, dl(9))));

    // A bad checksum stops a legacy segment, as before, but is reported as damage.
    bytes[spans[2].start + 9] ^= 0xFF;
    fs::write(WalSegmentPath::new(dir.path(), 1).as_path(), &bytes).unwrap();
    let replay = FileWal::read_only(dir.path()).unwrap();
    let expected: Vec<_> = written[..2].iter().map(|e| (1, e.clone())).chain([(2, dl(9))]).collect();
    assert!(entries(&replay) == expected);
    let offset = spans[2].start as u64;
    assert_eq!(replay.damage, vec![WalDamage { segment: 1, offset, bytes: bytes.len() as u64 - offset }]);
}

#[test]
fn remove_upto_quarantines_a_damaged_segment_and_deletes_a_clean_one() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (mut wal, _) = FileWal::open(dir.path()).unwrap();
        wal.append(&[dl(1), dl(2)]).unwrap();
        assert_eq!(wal.rotate().unwrap(), 1);
        wal.append(&[dl(3)]).unwrap();
    }
    let seg1 = WalSegmentPath::new(dir.path(), 1);
    let mut bytes = fs::read(seg1.as_path()).unwrap();
    let first = record_spans(&bytes)[0].clone();
    bytes[first.end - 1] ^= 0x01;
    fs::write(seg1.as_path(), &bytes).unwrap();

    let (mut wal, replay) = FileWal::open(dir.path()).unwrap();
    assert_eq!(entries(&replay), vec![(1, dl(2)), (2, dl(3))]);
    assert_eq!(replay.damage, vec![WalDamage { segment: 1, offset: first.start as u64, bytes: first.len() as u64 }]);
    wal.remove_upto(2).unwrap();
    let quarantined = WalQuarantinePath::new(dir.path(), 1);
    assert_eq!(fs::read(quarantined.as_path()).unwrap(), bytes, "kept as found");
    assert!(!seg1.as_path().exists() && !WalSegmentPath::new(dir.path(), 2).as_path().exists());
    let replay = FileWal::read_only(dir.path()).unwrap();
    assert!(replay.entries.is_empty() && replay.damage.is_empty(), "the quarantine is not replayed");

    // Segment numbers are not reused, even when the WAL folder is emptied around the quarantine.
    drop(wal);
    fs::remove_file(WalSegmentPath::new(dir.path(), 3).as_path()).unwrap();
    let (wal, _) = FileWal::open(dir.path()).unwrap();
    assert_eq!(wal.current_segment(), 2);
}

#[test]
fn a_failed_append_is_cut_back_to_the_last_durable_record() {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _) = FileWal::open(dir.path()).unwrap();
    let path = WalSegmentPath::new(dir.path(), 1);
    // What a failed write may leave behind, before any record: only the header stays.
    OpenOptions::new().append(true).open(path.as_path()).unwrap().write_all(b"partial").unwrap();
    wal.truncate_to_committed().unwrap();
    assert_eq!(fs::read(path.as_path()).unwrap(), SEGMENT_HEADER);
    wal.append(&[dl(1)]).unwrap();
    OpenOptions::new().append(true).open(path.as_path()).unwrap().write_all(b"partial").unwrap();
    wal.truncate_to_committed().unwrap();
    wal.append(&[dl(2)]).unwrap();
    let replay = FileWal::read_only(dir.path()).unwrap();
    assert_eq!(entries(&replay), vec![(1, dl(1)), (1, dl(2))]);
    assert!(replay.damage.is_empty());
}
