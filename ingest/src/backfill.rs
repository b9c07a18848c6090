//! Import of a network's history from CSV or Parquet files (`ilot import`), landing the rows
//! exactly as the live intake would have: same validation and quantisation
//! ([`payload::decode_row`]), same per-reading step ([`qc::admit`]: single-reading flags and
//! the registry's unknown-sensor policy), same history checks ([`DayByDay`]: each sensor's
//! readings in `ts` order with its network's thresholds, whole stuck runs marked), same deduplication and conflicts
//! ([`Store::apply`]) and the same files and manifest ([`Store::persist`]).
//!
//! Two passes, so that memory stays bounded whatever the size and order of the input:
//!
//! 1. **Spill.** The files are streamed row by row, their columns found by name or by the
//!    user's mapping ([`ColumnMap`]) and their times, zones and units read per the declared
//!    [`TableFormat`]; each row is validated (within [`DecodeLimits::for_history`], not the
//!    live intake's age limit), admitted, and appended as a 20-byte record to a spill file of
//!    its UTC day (sensor ids interned). Bad rows become dead letters, persisted every
//!    [`DEAD_LETTER_FLUSH`] rows; rows with a sensor and a time but no temperature are counted
//!    as gaps. With `register_sensors`, the stations met are then registered (`stations`)
//!    before anything is stored.
//! 2. **Store.** Days are taken in order through the history checks, which hand a day back
//!    once its flags are final (a run of identical values still open may reach back into it);
//!    final days are stored a few at a time (at most [`CHUNK_ROWS`] rows, but a day is never
//!    split): the store applies and persists them (one file per day), and the key index
//!    forgets those days.
//!
//! Memory is then about one chunk of readings plus the days held back, the key index of the
//! days in that chunk, the sensor-id table and a few fields of history per sensor. The spill files take 20 bytes per
//! reading on disk (2 GB for a year of 1,000 sensors at 5 minutes) and are removed at the end.
//!
//! Writer: `import-<network>`, a manifest of its own. The files it writes take part in
//! deduplication for every writer that loads the partition's files from all manifests (as the
//! import itself does, so a re-import, or an import over live data already persisted, adds
//! nothing). Its manifest's `wal_persisted_upto` is a chunk counter that no WAL ever reads: the
//! import must not use a service's writer id, whose WAL replay it would cut short.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Float64Type, Int64Type, TimeUnit};

use crate::layout::{PartitionKey, WriterId};
use crate::payload::{self, Cell, DecodeLimits, TableFormat, TableRecord, TableRow};
use crate::qc::{self, DayByDay, RangeLimits};
use crate::registry::{Registry, RegistryError, RegistryHandle, Sensor};
use crate::store::{Store, StoreError, date_of};
use crate::wal::WalEntry;
use crate::{DeadLetter, DeadLetterReason, Reading};

/// Most readings applied and persisted at once (whole days, so a single bigger day may exceed it).
pub const CHUNK_ROWS: usize = 500_000;
/// Dead letters kept in memory before they are persisted.
pub const DEAD_LETTER_FLUSH: usize = 50_000;
/// Spill files kept open at once (input not in time order touches many days).
const OPEN_SPILLS_MAX: usize = 256;
const DAY_MS: i64 = 86_400_000;
const RECORD_BYTES: usize = 20;

mod columns;
mod stations;

pub use columns::{ColumnMap, ImportColumn};
pub use stations::Registered;

use columns::Columns;
use stations::StationTrace;

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("{path}: {detail}")]
    Format { path: String, detail: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("registering the stations: {0}")]
    Registry(#[from] RegistryError),
    #[error("{0}")]
    Invalid(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ImportError + '_ {
    move |source| ImportError::Io { path: path.display().to_string(), source }
}

/// The writer id of the imports of `network`: `import-<network>` (dots become `_`).
pub fn import_writer(network: &str) -> Result<WriterId, ImportError> {
    let id: String = format!("import-{network}").chars().map(|c| if c == '.' { '_' } else { c }).take(64).collect();
    WriterId::new(&id).map_err(ImportError::Invalid)
}

/// How to import.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    pub network: String,
    /// Which file column holds which field (the unmapped ones go by their own names).
    pub columns: ColumnMap,
    /// Time zone, time format and units of the files.
    pub format: TableFormat,
    /// The time window of the rows: the live intake's future tolerance, and a bound against
    /// garbage times instead of its age limit ([`DecodeLimits::for_history`]).
    pub limits: DecodeLimits,
    /// The live intake's quality limits (`intake.qc`, history included).
    pub qc: RangeLimits,
    /// Reception time given to every row (and dead letter): the import's start.
    pub received_at_ms: i64,
    /// Folder for the spill files (created, and removed at the end).
    pub spill_dir: PathBuf,
    /// Progress lines on stderr this often (`None`: silent).
    pub progress_every: Option<Duration>,
    /// Register the stations found in the files (with their place when the files give it)
    /// before storing their readings: see `stations`.
    pub register_sensors: bool,
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImportSummary {
    /// Data rows read from the files (header excluded).
    pub rows_read: u64,
    /// New readings stored.
    pub stored: u64,
    /// Readings already stored with the same values (dropped).
    pub duplicates: u64,
    /// Readings already stored with other values (kept aside in `conflicts`).
    pub conflicts: u64,
    /// Refused rows by reason code.
    pub dead_letters: BTreeMap<&'static str, u64>,
    /// Rows with a sensor and a time but no temperature (holes in the archive): not stored.
    pub gaps: u64,
    /// Stations with at least one reading (stored, duplicate or conflicting).
    pub stations: u64,
    /// What `register_sensors` did.
    pub registered: Option<Registered>,
    /// Readings stored with `STEP` / `STUCK` set by the history checks.
    pub step_flagged: u64,
    pub stuck_flagged: u64,
    /// Parquet files written (readings, conflicts, dead letters).
    pub files_written: u64,
    pub elapsed: Duration,
}

impl ImportSummary {
    pub fn dead_letter_total(&self) -> u64 {
        self.dead_letters.values().sum()
    }

    /// The counts as JSON (`ilot import --summary-json`).
    pub fn to_json(&self) -> serde_json::Value {
        let registered = self.registered.as_ref().map(|r| {
            serde_json::json!({
                "new": r.new,
                "updated": r.updated,
                "unchanged": r.unchanged,
                "without_coordinates": r.without_coordinates,
                "several_places": r.several_places.iter().map(|(s, n)| serde_json::json!({"sensor_id": s, "places": n})).collect::<Vec<_>>(),
                "unusable_place_rows": r.unusable_place_rows,
            })
        });
        serde_json::json!({
            "rows_read": self.rows_read,
            "stored": self.stored,
            "step_flagged": self.step_flagged,
            "stuck_flagged": self.stuck_flagged,
            "duplicates": self.duplicates,
            "conflicts": self.conflicts,
            "gaps": self.gaps,
            "dead_letters": self.dead_letter_total(),
            "dead_letters_by_reason": self.dead_letters,
            "stations": self.stations,
            "registered": registered,
            "files_written": self.files_written,
            "elapsed_s": self.elapsed.as_secs_f64(),
        })
    }
}

impl std::fmt::Display for ImportSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secs = self.elapsed.as_secs_f64();
        writeln!(f, "rows read     {}", self.rows_read)?;
        writeln!(f, "stored        {}  (STEP {}, STUCK {})", self.stored, self.step_flagged, self.stuck_flagged)?;
        writeln!(f, "duplicates    {}", self.duplicates)?;
        writeln!(f, "conflicts     {}", self.conflicts)?;
        writeln!(f, "gaps          {}  (rows without temperature, not stored)", self.gaps)?;
        write!(f, "dead letters  {}", self.dead_letter_total())?;
        for (reason, n) in &self.dead_letters {
            write!(f, "\n  {reason:<22}{n}")?;
        }
        writeln!(f)?;
        writeln!(f, "stations      {}  (with readings)", self.stations)?;
        if let Some(registered) = &self.registered {
            writeln!(f, "{registered}")?;
        }
        writeln!(f, "files written {}", self.files_written)?;
        write!(f, "elapsed       {secs:.1} s ({:.0} rows/s)", self.rows_read as f64 / secs.max(1e-9))
    }
}

/// Import `files` into `store` (opened with writer [`import_writer`] and every writer's files),
/// in the order given, every file's columns checked first. Blocking: run it off the async
/// workers (`spawn_blocking`); `runtime` drives the store's persists and the registry's saves.
pub fn import_blocking(
    runtime: &tokio::runtime::Handle,
    store: &Arc<Store>,
    registry: &RegistryHandle,
    files: &[PathBuf],
    options: &ImportOptions,
) -> Result<ImportSummary, ImportError> {
    if !crate::layout::valid_network(&options.network) {
        return Err(ImportError::Invalid(format!("network {:?}: use 1-64 of [A-Za-z0-9._-]", options.network)));
    }
    let located = files.iter().map(|path| locate(path, options)).collect::<Result<Vec<_>, _>>()?;
    let started = Instant::now();
    let mut run = Run {
        runtime,
        store,
        registry: (*registry.snapshot()).clone(),
        options,
        summary: ImportSummary::default(),
        segment: runtime.block_on(store.wal_persisted_upto()) + 1,
        dead: Vec::new(),
        progress: Progress::new(options.progress_every),
        stations: BTreeMap::new(),
        unusable_place_rows: 0,
    };
    let mut spill = Spill::create(&options.spill_dir)?;
    for (path, file) in files.iter().zip(located) {
        run.spill_file(path, file, &mut spill)?;
    }
    run.flush_dead_letters()?;
    run.summary.stations = spill.sensors.len() as u64;
    if options.register_sensors {
        run.register_stations(registry)?;
    }
    run.store_days(&mut spill)?;
    run.summary.elapsed = started.elapsed();
    Ok(run.summary)
}

struct Run<'a> {
    runtime: &'a tokio::runtime::Handle,
    store: &'a Arc<Store>,
    /// The registry in force, plus (with `register_sensors`) the stations met so far, so that
    /// their readings are admitted as registered.
    registry: Registry,
    options: &'a ImportOptions,
    summary: ImportSummary,
    /// Chunk counter, the "segment" of what is applied then persisted.
    segment: u64,
    dead: Vec<DeadLetter>,
    progress: Progress,
    /// With `register_sensors`: every station met, by id.
    stations: BTreeMap<String, StationTrace>,
    unusable_place_rows: u64,
}

impl Run<'_> {
    fn spill_file(&mut self, path: &Path, file: Located, spill: &mut Spill) -> Result<(), ImportError> {
        let topic = format!(
            "import/{}/{}",
            self.options.network,
            path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
        );
        match file {
            Located::Parquet(columns) => read_parquet(path, columns, &mut |row, raw| self.row(&topic, row, raw, spill)),
            Located::Csv(columns) => read_csv(path, columns, &mut |row, raw| self.row(&topic, row, raw, spill)),
        }
    }

    /// One input row: validate, admit, spill (or count a gap, or refuse).
    fn row(&mut self, topic: &str, row: Result<Row<'_>, payload::Rejected>, raw: &dyn Fn() -> (String, Vec<u8>), spill: &mut Spill) -> Result<(), ImportError> {
        self.summary.rows_read += 1;
        let options = self.options;
        let outcome = row.and_then(|row| {
            let record = payload::decode_row(&options.network, &row.reading, options.received_at_ms, &options.limits, &options.format)?;
            if options.register_sensors {
                self.trace_station(&record, &row);
            }
            Ok(record)
        });
        let refused = match outcome {
            Ok(TableRecord::Gap { .. }) => {
                self.summary.gaps += 1;
                None
            }
            Ok(TableRecord::Reading(mut reading)) => match qc::admit(&mut reading, &options.qc, &self.registry) {
                Ok(()) => {
                    spill.push(&reading)?;
                    None
                }
                Err(detail) => Some((DeadLetterReason::UnknownSensor, detail)),
            },
            Err(rejected) => Some((rejected.reason, rejected.detail)),
        };
        if let Some((reason, detail)) = refused {
            let (location, payload) = raw();
            *self.summary.dead_letters.entry(reason.code()).or_default() += 1;
            self.dead.push(payload::dead_letter(topic, &payload, options.received_at_ms, reason, format!("{location}: {detail}"), &options.limits));
            if self.dead.len() >= DEAD_LETTER_FLUSH {
                self.flush_dead_letters()?;
            }
        }
        self.progress.tick("reading", &self.summary);
        Ok(())
    }

    /// A valid row of a station to register: its place and time, and the station admitted as
    /// registered from its first row on.
    fn trace_station(&mut self, record: &TableRecord, row: &Row<'_>) {
        let rows = self.summary.rows_read;
        let trace = match self.stations.get_mut(record.sensor_id()) {
            Some(trace) => trace,
            None => {
                let (network, id) = (self.options.network.as_str(), record.sensor_id());
                if self.registry.sensor(network, id).is_none() {
                    self.registry.upsert_sensors([Sensor::unplaced(network, id)]).expect("a decoded sensor id is a valid registry id");
                }
                self.stations.entry(id.to_owned()).or_default()
            }
        };
        if !trace.row(rows, record.ts_ms(), row.lon, row.lat, row.elevation_m) {
            self.unusable_place_rows += 1;
        }
    }

    /// Save the stations met, with what the files say of them, before any reading is stored.
    fn register_stations(&mut self, handle: &RegistryHandle) -> Result<(), ImportError> {
        let mut registered = Registered { unusable_place_rows: self.unusable_place_rows, ..Registered::default() };
        let sensors = stations::sensors_to_register(&handle.snapshot(), &self.options.network, std::mem::take(&mut self.stations), &mut registered);
        if !sensors.is_empty() {
            self.runtime.block_on(handle.upsert_sensors(sensors))?;
        }
        self.registry = (*handle.snapshot()).clone();
        self.summary.registered = Some(registered);
        Ok(())
    }

    fn flush_dead_letters(&mut self) -> Result<(), ImportError> {
        if self.dead.is_empty() {
            return Ok(());
        }
        let entries: Vec<WalEntry> = self.dead.drain(..).map(WalEntry::DeadLetter).collect();
        self.store.apply(self.segment, entries);
        self.persist()
    }

    fn persist(&mut self) -> Result<(), ImportError> {
        let outcome = self.runtime.block_on(self.store.persist(self.segment))?;
        self.summary.files_written += outcome.files as u64;
        self.segment += 1;
        Ok(())
    }

    /// Pass 2: the spilled days in order through the history checks ([`DayByDay`], which
    /// hands a day back once no run of identical values can still reach into it), stored a
    /// chunk of whole days at a time.
    fn store_days(&mut self, spill: &mut Spill) -> Result<(), ImportError> {
        let days = spill.finish()?;
        let network = self.options.network.clone();
        let limits = self.registry.qc_limits(&network, &self.options.qc).history;
        let mut pass = DayByDay::new();
        let mut chunk: Vec<(NaiveDate, Vec<Reading>)> = Vec::new();
        for &(day, _) in &days {
            let mut rows = Vec::new();
            spill.read_day(day, &network, self.options.received_at_ms, &mut rows)?;
            let readings = rows.into_iter().map(|(r, _)| r).collect();
            chunk.extend(pass.push(date_of(day * DAY_MS), readings, |_| limits));
            if chunk.iter().map(|(_, rs)| rs.len()).sum::<usize>() >= CHUNK_ROWS {
                self.store_chunk(std::mem::take(&mut chunk))?;
            }
        }
        chunk.extend(pass.finish());
        if !chunk.is_empty() {
            self.store_chunk(chunk)?;
        }
        Ok(())
    }

    /// Apply and persist whole days whose flags are final, then forget their keys.
    fn store_chunk(&mut self, days: Vec<(NaiveDate, Vec<Reading>)>) -> Result<(), ImportError> {
        let network = Some(self.options.network.clone());
        let partitions: Vec<PartitionKey> = days.iter().map(|(date, _)| PartitionKey { network: network.clone(), date: *date }).collect();
        let readings: Vec<Reading> = days.into_iter().flat_map(|(_, rs)| rs).collect();
        self.summary.step_flagged += readings.iter().filter(|r| r.qc_flags & qc::STEP != 0).count() as u64;
        self.summary.stuck_flagged += readings.iter().filter(|r| r.qc_flags & qc::STUCK != 0).count() as u64;
        let offered = readings.len() as u64;
        let (stored_before, conflicts_before) = pending_counts(self.store);
        self.store.apply(self.segment, vec![WalEntry::Readings(readings)]);
        let (stored_after, conflicts_after) = pending_counts(self.store);
        let (stored, conflicts) = ((stored_after - stored_before) as u64, (conflicts_after - conflicts_before) as u64);
        // Flags of readings that turned out duplicates or conflicts are not stored.
        self.summary.stored += stored;
        self.summary.conflicts += conflicts;
        self.summary.duplicates += offered - stored - conflicts;
        self.persist()?;
        self.store.evict_keys(&partitions);
        self.progress.tick("storing", &self.summary);
        Ok(())
    }
}

/// Rows buffered and conflicts set aside in the store, not yet persisted.
fn pending_counts(store: &Store) -> (usize, usize) {
    let state = store.state.read().expect("store lock");
    (state.buffered_rows, state.conflicts.len())
}

/// Progress lines on stderr: rows read, rows/s, stored, dead letters.
struct Progress {
    every: Option<Duration>,
    started: Instant,
    last: Instant,
}

impl Progress {
    fn new(every: Option<Duration>) -> Self {
        Self { every, started: Instant::now(), last: Instant::now() }
    }

    fn tick(&mut self, phase: &str, s: &ImportSummary) {
        let Some(every) = self.every else { return };
        if self.last.elapsed() < every {
            return;
        }
        self.last = Instant::now();
        let secs = self.started.elapsed().as_secs_f64();
        eprintln!(
            "import: {phase}: {} rows read ({:.0} rows/s), {} stored, {} duplicates, {} conflicts, {} gaps, {} dead letters, {:.0} s",
            s.rows_read,
            s.rows_read as f64 / secs.max(1e-9),
            s.stored,
            s.duplicates,
            s.conflicts,
            s.gaps,
            s.dead_letter_total(),
            secs
        );
    }
}

// -----------------------------------------------------------------------------------------------
// Spill files: one per UTC day, 20-byte records in input order.

struct Spill {
    dir: PathBuf,
    sensors: Vec<String>,
    sensor_ids: HashMap<String, u32>,
    open: HashMap<i64, BufWriter<File>>,
    rows_per_day: BTreeMap<i64, usize>,
}

impl Spill {
    fn create(dir: &Path) -> Result<Self, ImportError> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        Ok(Self { dir: dir.to_owned(), sensors: Vec::new(), sensor_ids: HashMap::new(), open: HashMap::new(), rows_per_day: BTreeMap::new() })
    }

    fn path(&self, day: i64) -> PathBuf {
        self.dir.join(format!("day{day}.bin"))
    }

    fn push(&mut self, r: &Reading) -> Result<(), ImportError> {
        let sensor = match self.sensor_ids.get(r.sensor_id.as_str()) {
            Some(&i) => i,
            None => {
                let i = u32::try_from(self.sensors.len()).map_err(|_| ImportError::Invalid("more than 2^32 sensors".into()))?;
                self.sensors.push(r.sensor_id.clone());
                self.sensor_ids.insert(r.sensor_id.clone(), i);
                i
            }
        };
        let day = r.ts_ms.div_euclid(DAY_MS);
        let in_day = r.ts_ms.rem_euclid(DAY_MS) as u32;
        let mut record = [0u8; RECORD_BYTES];
        record[0..4].copy_from_slice(&sensor.to_le_bytes());
        record[4..8].copy_from_slice(&in_day.to_le_bytes());
        record[8..10].copy_from_slice(&r.temperature_centi_c.to_le_bytes());
        record[10..12].copy_from_slice(&r.humidity_deci_pct.unwrap_or(i16::MIN).to_le_bytes());
        record[12..16].copy_from_slice(&r.battery_mv.unwrap_or(i32::MIN).to_le_bytes());
        record[16..20].copy_from_slice(&r.qc_flags.to_le_bytes());
        if !self.open.contains_key(&day) {
            if self.open.len() >= OPEN_SPILLS_MAX {
                self.close_all()?;
            }
            let path = self.path(day);
            let file = std::fs::OpenOptions::new().create(true).append(true).open(&path).map_err(io(&path))?;
            self.open.insert(day, BufWriter::with_capacity(16 * 1024, file));
        }
        let writer = self.open.get_mut(&day).expect("opened above");
        writer.write_all(&record).map_err(io(&self.dir))?;
        *self.rows_per_day.entry(day).or_default() += 1;
        Ok(())
    }

    fn close_all(&mut self) -> Result<(), ImportError> {
        for (_, mut w) in self.open.drain() {
            w.flush().map_err(io(&self.dir))?;
        }
        Ok(())
    }

    /// Days with their row counts, in order.
    fn finish(&mut self) -> Result<Vec<(i64, usize)>, ImportError> {
        self.close_all()?;
        Ok(self.rows_per_day.iter().map(|(d, n)| (*d, *n)).collect())
    }

    /// Append a day's readings (with their sensor index), then delete its spill file.
    fn read_day(&self, day: i64, network: &str, received_at_ms: i64, out: &mut Vec<(Reading, u32)>) -> Result<(), ImportError> {
        let path = self.path(day);
        let mut reader = BufReader::with_capacity(256 * 1024, File::open(&path).map_err(io(&path))?);
        let mut record = [0u8; RECORD_BYTES];
        loop {
            match reader.read_exact(&mut record) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
                Err(e) => return Err(io(&path)(e)),
            }
            let u32_at = |i: usize| u32::from_le_bytes(record[i..i + 4].try_into().expect("4 bytes"));
            let sensor = u32_at(0);
            let humidity = i16::from_le_bytes([record[10], record[11]]);
            let battery = i32::from_le_bytes(record[12..16].try_into().expect("4 bytes"));
            let reading = Reading {
                network: network.to_owned(),
                sensor_id: self.sensors[sensor as usize].clone(),
                ts_ms: day * DAY_MS + i64::from(u32_at(4)),
                temperature_centi_c: i16::from_le_bytes([record[8], record[9]]),
                humidity_deci_pct: (humidity != i16::MIN).then_some(humidity),
                battery_mv: (battery != i32::MIN).then_some(battery),
                seq: None,
                received_at_ms,
                qc_flags: u32_at(16),
            };
            out.push((reading, sensor));
        }
        std::fs::remove_file(&path).map_err(io(&path))?;
        Ok(())
    }
}

impl Drop for Spill {
    fn drop(&mut self) {
        self.open.clear();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

// -----------------------------------------------------------------------------------------------
// Readers. Each calls `sink` once per data row with the row (or why its cells cannot be read)
// and a closure giving the row's location and raw text for a dead letter.

/// One data row's cells: the reading's, and the station's place (empty unless registering).
struct Row<'a> {
    reading: TableRow<'a>,
    lon: Cell<'a>,
    lat: Cell<'a>,
    elevation_m: Cell<'a>,
}

type Sink<'s> = dyn FnMut(Result<Row<'_>, payload::Rejected>, &dyn Fn() -> (String, Vec<u8>)) -> Result<(), ImportError> + 's;

/// A file and where its fields are; the place columns only when registering stations.
enum Located {
    Csv(Columns),
    Parquet(Columns),
}

/// The kind of `path` and its columns, from its header or schema alone.
fn locate(path: &Path, options: &ImportOptions) -> Result<Located, ImportError> {
    let mut magic = [0u8; 4];
    let n = File::open(path).map_err(io(path))?.read(&mut magic).map_err(io(path))?;
    let parquet = n == 4 && &magic == b"PAR1";
    let names: Vec<String> = if parquet {
        parquet_reader(path)?.schema().fields().iter().map(|f| f.name().clone()).collect()
    } else {
        let (mut reader, _) = csv_reader(path)?;
        reader.byte_headers().map_err(|e| csv_error(path, e))?.iter().map(|h| String::from_utf8_lossy(h).into_owned()).collect()
    };
    let mut columns = Columns::find(names.iter().map(String::as_str), &options.columns, path)?;
    if !options.register_sensors {
        columns = columns.without_place();
    }
    Ok(if parquet { Located::Parquet(columns) } else { Located::Csv(columns) })
}

/// A CSV reader at the header, `,` or `;` separated (whichever the first line has more of).
fn csv_reader(path: &Path) -> Result<(csv::Reader<File>, u8), ImportError> {
    let mut first_line = Vec::new();
    {
        let mut r = BufReader::new(File::open(path).map_err(io(path))?);
        std::io::BufRead::read_until(&mut r, b'\n', &mut first_line).map_err(io(path))?;
    }
    let count = |b: u8| first_line.iter().filter(|&&c| c == b).count();
    let delimiter = if count(b';') > count(b',') { b';' } else { b',' };
    let file = File::open(path).map_err(io(path))?;
    let reader = csv::ReaderBuilder::new().delimiter(delimiter).flexible(true).buffer_capacity(1 << 20).from_reader(file);
    Ok((reader, delimiter))
}

fn read_csv(path: &Path, columns: Columns, sink: &mut Sink<'_>) -> Result<(), ImportError> {
    let (mut reader, delimiter) = csv_reader(path)?;
    let mut record = csv::ByteRecord::new();
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(csv_error(path, e)),
        }
        let line = record.position().map_or(0, |p| p.line());
        let raw = || {
            let mut text = Vec::new();
            for (i, field) in record.iter().enumerate() {
                if i > 0 {
                    text.push(delimiter);
                }
                text.extend_from_slice(field);
            }
            (format!("line {line}"), text)
        };
        let cell = |column: ImportColumn| -> Result<Cell<'_>, payload::Rejected> {
            match columns.get(column).and_then(|i| record.get(i)) {
                None => Ok(Cell::Missing),
                Some(bytes) => match std::str::from_utf8(bytes) {
                    Ok(text) if text.trim().is_empty() => Ok(Cell::Missing),
                    Ok(text) => Ok(Cell::Text(text)),
                    Err(e) => Err(payload::Rejected { reason: DeadLetterReason::NotUtf8, detail: format!("a cell is not UTF-8: {e}") }),
                },
            }
        };
        let row = (|| {
            Ok(Row {
                reading: TableRow {
                    sensor_id: cell(ImportColumn::SensorId)?,
                    ts: cell(ImportColumn::Ts)?,
                    temperature_c: cell(ImportColumn::TemperatureC)?,
                    humidity_pct: cell(ImportColumn::HumidityPct)?,
                    battery_v: cell(ImportColumn::BatteryV)?,
                },
                // An unreadable place is not the reading's fault: it is only not taken.
                lon: cell(ImportColumn::Lon).unwrap_or(Cell::Missing),
                lat: cell(ImportColumn::Lat).unwrap_or(Cell::Missing),
                elevation_m: cell(ImportColumn::ElevationM).unwrap_or(Cell::Missing),
            })
        })();
        sink(row, &raw)?;
    }
    Ok(())
}

fn csv_error(path: &Path, e: csv::Error) -> ImportError {
    ImportError::Format { path: path.display().to_string(), detail: format!("CSV: {e}") }
}

/// A Parquet column cast to what a row needs.
enum Column {
    Absent,
    Text(arrow::array::StringArray),
    Int(arrow::array::Int64Array),
    /// Timestamps without time zone, in ms.
    WallClock(arrow::array::Int64Array),
    Float(arrow::array::Float64Array),
}

impl Column {
    fn cell(&self, i: usize) -> Cell<'_> {
        match self {
            Column::Absent => Cell::Missing,
            Column::Text(a) => if a.is_valid(i) { Cell::Text(a.value(i)) } else { Cell::Missing },
            Column::Int(a) => if a.is_valid(i) { Cell::Integer(a.value(i)) } else { Cell::Missing },
            Column::WallClock(a) => if a.is_valid(i) { Cell::WallClock(a.value(i)) } else { Cell::Missing },
            Column::Float(a) => if a.is_valid(i) { Cell::Number(a.value(i)) } else { Cell::Missing },
        }
    }

    fn show(&self, i: usize) -> String {
        match self.cell(i) {
            Cell::Missing => "null".to_owned(),
            Cell::Text(t) => t.to_owned(),
            Cell::Integer(v) | Cell::WallClock(v) => v.to_string(),
            Cell::Number(v) => v.to_string(),
        }
    }
}

fn parquet_reader(path: &Path) -> Result<parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder<File>, ImportError> {
    let file = File::open(path).map_err(io(path))?;
    parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| ImportError::Format { path: path.display().to_string(), detail: format!("Parquet: {e}") })
}

fn read_parquet(path: &Path, columns: Columns, sink: &mut Sink<'_>) -> Result<(), ImportError> {
    use parquet::arrow::ProjectionMask;
    let format = |detail: String| ImportError::Format { path: path.display().to_string(), detail };
    let builder = parquet_reader(path)?;
    let schema = builder.schema().clone();
    let roots: Vec<usize> = ImportColumn::ALL.into_iter().filter_map(|c| columns.get(c)).collect();
    let mask = ProjectionMask::roots(builder.parquet_schema(), roots);
    let reader = builder.with_projection(mask).with_batch_size(64 * 1024).build().map_err(|e| format(format!("Parquet: {e}")))?;
    let mut row_number = 0usize;
    for batch in reader {
        let batch = batch.map_err(|e| format(format!("Parquet: {e}")))?;
        let get = |column: ImportColumn, kind: Kind| -> Result<Column, ImportError> {
            let Some(index) = columns.get(column) else { return Ok(Column::Absent) };
            let name = schema.field(index).name();
            let array = batch.column_by_name(name).expect("projected column");
            cast_column(array, kind).map_err(|e| format(format!("column {name}: {e}")))
        };
        let sensor = get(ImportColumn::SensorId, Kind::Text)?;
        let ts = get(ImportColumn::Ts, Kind::Time)?;
        let temperature = get(ImportColumn::TemperatureC, Kind::Number)?;
        let humidity = get(ImportColumn::HumidityPct, Kind::Number)?;
        let battery = get(ImportColumn::BatteryV, Kind::Number)?;
        let lon = get(ImportColumn::Lon, Kind::Number)?;
        let lat = get(ImportColumn::Lat, Kind::Number)?;
        let elevation = get(ImportColumn::ElevationM, Kind::Number)?;
        for i in 0..batch.num_rows() {
            row_number += 1;
            let raw = || {
                let text = format!(
                    "sensor_id={},ts={},temperature_c={},humidity_pct={},battery_v={}",
                    sensor.show(i),
                    ts.show(i),
                    temperature.show(i),
                    humidity.show(i),
                    battery.show(i)
                );
                (format!("row {row_number}"), text.into_bytes())
            };
            let row = Row {
                reading: TableRow {
                    sensor_id: sensor.cell(i),
                    ts: ts.cell(i),
                    temperature_c: temperature.cell(i),
                    humidity_pct: humidity.cell(i),
                    battery_v: battery.cell(i),
                },
                lon: lon.cell(i),
                lat: lat.cell(i),
                elevation_m: elevation.cell(i),
            };
            sink(Ok(row), &raw)?;
        }
    }
    Ok(())
}

#[derive(Clone, Copy)]
enum Kind {
    Text,
    Time,
    Number,
}

fn cast_column(array: &Arc<dyn Array>, kind: Kind) -> Result<Column, arrow::error::ArrowError> {
    use arrow::compute::cast;
    let text = |a: &Arc<dyn Array>| -> Result<Column, arrow::error::ArrowError> {
        Ok(Column::Text(cast(a, &DataType::Utf8)?.as_string::<i32>().clone()))
    };
    let data_type = match array.data_type() {
        DataType::Dictionary(_, value) => value.as_ref().clone(),
        other => other.clone(),
    };
    match (kind, data_type) {
        (Kind::Text, _) => text(array),
        // The zone kept: a cast to a timestamp without zone would turn instants into local times.
        (Kind::Time, DataType::Timestamp(_, zone)) => {
            let ms = cast(array, &DataType::Timestamp(TimeUnit::Millisecond, zone.clone()))?;
            let ms = cast(&ms, &DataType::Int64)?.as_primitive::<Int64Type>().clone();
            Ok(if zone.is_some() { Column::Int(ms) } else { Column::WallClock(ms) })
        }
        (Kind::Time, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View) => text(array),
        (Kind::Time, t) if t.is_integer() => Ok(Column::Int(cast(array, &DataType::Int64)?.as_primitive::<Int64Type>().clone())),
        (Kind::Time, t) => Err(arrow::error::ArrowError::CastError(format!("ts is {t}; expected a timestamp or Int64 Unix milliseconds"))),
        (Kind::Number, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View) => text(array),
        (Kind::Number, _) => Ok(Column::Float(cast(array, &DataType::Float64)?.as_primitive::<Float64Type>().clone())),
    }
}
