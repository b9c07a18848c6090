//! Single-sensor history checks: `STEP` (an implausible jump) and `STUCK` (persistence: a
//! frozen sensor or a platform repeating its last value), one state machine per sensor that
//! every path runs — the live intake, `ilot import` and the recompute of stored flags.
//!
//! Rules, with the defaults of [`HistoryLimits`] (`../docs/domain.md`, single-sensor checks):
//!
//! * **Step.** A new reading is compared with the sensor's last reading that was *not*
//!   step-flagged (its reference). It is flagged `STEP` when
//!   `|ΔT| > step_limit_k × max(Δt, step_cadence_s) / step_cadence_s`: 2 K between consecutive
//!   5-minute values, never less than 2 K for closer readings, and growing with the actual time
//!   between the readings (4 K after 10 minutes, 24 K after an hour). A single spike is
//!   flagged alone: the next normal reading is compared with the reading before the spike. A
//!   genuine level shift is flagged until Δt to the reference has grown enough for the limit to
//!   cover it, then accepted (and becomes the reference).
//! * **Stuck.** A run is a sequence of consecutive readings with the same value at the stored
//!   resolution (0.01 °C), with no silence longer than `stuck_window_s` between two of them.
//!   Once a run lasts `stuck_window_s` in time (`ts_last − ts_first`, 3 h) *and* holds
//!   `stuck_min_samples` readings (6), the **whole run** is `STUCK`, its first reading
//!   included, and so is every following reading until the value changes. Time and count both,
//!   whatever the cadence: a 5-minute sensor needs 37 identical readings, an hourly station 6
//!   (5 h). There is no deviation rule: a sensor with 0.1 K resolution reads the same value for
//!   an hour on a calm night, an hourly station for 2–4 hours in a stable spell, and both are
//!   genuine.
//!
//!   The readings before the one that completes the run were already flagged as not stuck:
//!   [`SensorHistory::check_batch`] returns them as a [`StuckRun`], which the intake logs in
//!   the WAL beside the readings so the store marks them (in memory and in its files, see
//!   `store`), and which [`DayByDay`] applies to the days it holds back.
//! * **Order.** Only a reading newer than the newest `ts` seen for its sensor is checked and
//!   enters the history. Late (out-of-order) readings and same-`ts` duplicates or conflicts are
//!   not checked live; the recompute of stored flags (`requalify`) checks everything in order.
//!
//! Thresholds are per network (`[registry.networks.<name>.qc]` over `[intake.qc.history]`):
//! the caller gives each reading's [`HistoryLimits`]. At start the service seeds the history
//! ([`SensorHistory::seed`]) with each sensor's last stored window, so a restart does not blind
//! the checks. Ingest processes of one shared-subscription group each see only their part of a
//! sensor's stream.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;

use super::{STEP, STUCK};
use crate::Reading;
use crate::store::date_of;

/// Thresholds of the history checks (`[intake.qc.history]`, per network in
/// `[registry.networks.<name>.qc]`).
#[derive(Debug, Clone, Copy, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct HistoryLimits {
    /// Largest plausible change between readings `step_cadence_s` apart, K.
    pub step_limit_k: f64,
    /// Interval the step limit is defined for, s; the limit scales with the actual time
    /// between readings.
    pub step_cadence_s: u32,
    /// Persistence window: a run of identical values lasting this long (s) is stuck…
    pub stuck_window_s: u32,
    /// … once it also holds this many readings.
    pub stuck_min_samples: u32,
}

impl Default for HistoryLimits {
    fn default() -> Self {
        Self { step_limit_k: 2.0, step_cadence_s: 300, stuck_window_s: 3 * 3600, stuck_min_samples: 6 }
    }
}

/// Longest persistence window accepted: a run must be decided within a day or two, so that
/// [`DayByDay`] holds back at most a few days.
pub const MAX_STUCK_WINDOW_S: u32 = 86_400;

/// Readings of one sensor with `ts` in `[from_ts_ms, to_ts_ms]` and the run's value, found
/// stuck after they were checked: they get `STUCK` too. (A reading of another value in that
/// span arrived late, was never part of the run, and keeps its flags.)
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StuckRun {
    pub network: String,
    pub sensor_id: String,
    pub from_ts_ms: i64,
    pub to_ts_ms: i64,
    /// The run's temperature, hundredths of °C.
    pub centi_c: i16,
}

impl StuckRun {
    pub fn covers(&self, network: &str, sensor_id: &str, ts_ms: i64, centi_c: i16) -> bool {
        (self.from_ts_ms..=self.to_ts_ms).contains(&ts_ms) && centi_c == self.centi_c && self.sensor_id == sensor_id && self.network == network
    }
}

/// A sensor silent (by receive time) for this long is forgotten: longer than any window.
const IDLE_EVICT_MS: i64 = 2 * MAX_STUCK_WINDOW_S as i64 * 1000;
/// How often (by receive time) idle sensors are swept.
const SWEEP_EVERY_MS: i64 = 600_000;

#[derive(Debug, Clone, Copy)]
struct Sample {
    ts_ms: i64,
    centi_c: i16,
}

/// Run of identical temperatures ending at the newest reading.
#[derive(Debug, Clone, Copy)]
struct Run {
    first_ts_ms: i64,
    last_ts_ms: i64,
    count: u32,
    centi_c: i16,
    /// The run has met the window: it and every reading extending it are stuck.
    stuck: bool,
    /// The persistence window of the sensor's network when the run started.
    window_ms: i64,
}

impl Run {
    fn start(s: Sample, limits: &HistoryLimits) -> Self {
        let window_ms = i64::from(limits.stuck_window_s) * 1000;
        Self { first_ts_ms: s.ts_ms, last_ts_ms: s.ts_ms, count: 1, centi_c: s.centi_c, stuck: false, window_ms }
    }
}

/// What is kept of one sensor: a few fields.
#[derive(Debug)]
struct SensorState {
    /// Newest `ts` checked; older or equal readings are not checked.
    newest_ts_ms: i64,
    /// Receive time of the newest checked reading (idle eviction).
    last_received_ms: i64,
    /// Last reading not flagged `STEP`.
    reference: Sample,
    run: Run,
}

/// The outcome of checking one reading.
struct Verdict {
    flags: u32,
    /// Earlier readings of the run that this reading made stuck: `[first, previous]`, and
    /// their value.
    earlier_stuck: Option<(i64, i64, i16)>,
}

/// Per-sensor history, keyed by network then sensor id. Memory per sensor is constant, and
/// sensors silent for two days are forgotten.
#[derive(Debug, Default)]
pub struct SensorHistory {
    sensors: HashMap<String, HashMap<String, SensorState>>,
    next_sweep_ms: i64,
}

impl SensorHistory {
    pub fn new() -> Self {
        Self::default()
    }

    /// Check the readings of one message in `ts` order (their order in the slice is kept), add
    /// `STEP`/`STUCK` to their `qc_flags`, and return the runs found stuck that reach back
    /// before them (readings of this message in such a run are flagged here already).
    /// `limits`: the thresholds of a reading's network.
    pub fn check_batch(&mut self, readings: &mut [Reading], limits: impl Fn(&str) -> HistoryLimits) -> Vec<StuckRun> {
        let mut order: Vec<usize> = (0..readings.len()).collect();
        order.sort_by_key(|&i| readings[i].ts_ms);
        let mut runs = Vec::new();
        for i in order {
            let r = &readings[i];
            let verdict = self.advance(r, &limits(&r.network), None);
            readings[i].qc_flags |= verdict.flags;
            if let Some((from_ts_ms, to_ts_ms, centi_c)) = verdict.earlier_stuck {
                let r = &readings[i];
                runs.push(StuckRun { network: r.network.clone(), sensor_id: r.sensor_id.clone(), from_ts_ms, to_ts_ms, centi_c });
            }
        }
        for run in &runs {
            for r in readings.iter_mut().filter(|r| run.covers(&r.network, &r.sensor_id, r.ts_ms, r.temperature_centi_c)) {
                r.qc_flags |= STUCK;
            }
        }
        runs
    }

    /// Replay stored readings into the history, keeping the `STEP` flags they were stored with
    /// (a step-flagged reading does not become its sensor's reference): what a restarted
    /// service does with the last window of each sensor's stream, so that its first readings
    /// are checked as if it had never stopped. Runs found stuck here were logged when they
    /// were found.
    pub fn seed(&mut self, mut readings: Vec<Reading>, limits: impl Fn(&str) -> HistoryLimits) {
        readings.sort_by_key(|r| r.ts_ms);
        for r in &readings {
            self.advance(r, &limits(&r.network), Some(r.qc_flags & STEP != 0));
        }
    }

    /// Take `r` into its sensor's history if it is the newest; the history flags it earns.
    /// `stored_step`: for a replayed reading, whether it was stored `STEP`-flagged.
    fn advance(&mut self, r: &Reading, limits: &HistoryLimits, stored_step: Option<bool>) -> Verdict {
        self.sweep(r.received_at_ms);
        let sample = Sample { ts_ms: r.ts_ms, centi_c: r.temperature_centi_c };
        let none = Verdict { flags: 0, earlier_stuck: None };
        if !self.sensors.contains_key(r.network.as_str()) {
            self.sensors.insert(r.network.clone(), HashMap::new());
        }
        let sensors = self.sensors.get_mut(r.network.as_str()).expect("inserted above");
        let Some(state) = sensors.get_mut(r.sensor_id.as_str()) else {
            // A replayed spike must not become the reference of the readings after it.
            if stored_step != Some(true) {
                let state = SensorState { newest_ts_ms: sample.ts_ms, last_received_ms: r.received_at_ms, reference: sample, run: Run::start(sample, limits) };
                sensors.insert(r.sensor_id.clone(), state);
            }
            return none;
        };
        if r.ts_ms <= state.newest_ts_ms {
            return none;
        }
        let mut verdict = none;
        if stored_step.unwrap_or_else(|| step_exceeded(state.reference, sample, limits)) {
            verdict.flags |= STEP;
        } else {
            state.reference = sample;
        }
        let previous_ts_ms = state.newest_ts_ms;
        state.newest_ts_ms = sample.ts_ms;
        state.last_received_ms = r.received_at_ms;
        let run = &mut state.run;
        if sample.centi_c == run.centi_c && sample.ts_ms - run.last_ts_ms <= run.window_ms {
            run.count += 1;
            run.last_ts_ms = sample.ts_ms;
        } else {
            *run = Run::start(sample, limits);
        }
        if !run.stuck && run.count >= limits.stuck_min_samples.max(2) && run.last_ts_ms - run.first_ts_ms >= run.window_ms {
            run.stuck = true;
            verdict.earlier_stuck = Some((run.first_ts_ms, previous_ts_ms, run.centi_c));
        }
        if run.stuck {
            verdict.flags |= STUCK;
        }
        verdict
    }

    /// Start of the earliest run that is not stuck yet but may still become so when readings
    /// from `next_ts_ms` on arrive: readings from then on may still gain `STUCK`.
    pub fn earliest_open_run_ms(&self, next_ts_ms: i64) -> Option<i64> {
        let open = |run: &Run| !run.stuck && run.last_ts_ms + run.window_ms >= next_ts_ms;
        self.sensors.values().flat_map(HashMap::values).filter(|s| open(&s.run)).map(|s| s.run.first_ts_ms).min()
    }

    /// Sensors with a history.
    pub fn sensor_count(&self) -> usize {
        self.sensors.values().map(HashMap::len).sum()
    }

    fn sweep(&mut self, now_ms: i64) {
        if now_ms < self.next_sweep_ms {
            return;
        }
        self.next_sweep_ms = now_ms.saturating_add(SWEEP_EVERY_MS);
        let horizon = now_ms.saturating_sub(IDLE_EVICT_MS);
        for sensors in self.sensors.values_mut() {
            sensors.retain(|_, s| s.last_received_ms >= horizon);
        }
        self.sensors.retain(|_, sensors| !sensors.is_empty());
    }
}

fn step_exceeded(reference: Sample, new: Sample, limits: &HistoryLimits) -> bool {
    let cadence_ms = i64::from(limits.step_cadence_s.max(1)) * 1000;
    let dt_ms = (new.ts_ms - reference.ts_ms).max(cadence_ms);
    let limit_centi = limits.step_limit_k * 100.0 * dt_ms as f64 / cadence_ms as f64;
    let delta_centi = (i32::from(new.centi_c) - i32::from(reference.centi_c)).abs();
    f64::from(delta_centi) > limit_centi
}

/// The history checks over whole days of stored or imported readings, taken in date order:
/// each day is checked in `ts` order per sensor, and held back while a run that may still
/// become stuck reaches into it, so that every day handed back has its final flags. Used by
/// `ilot import` and by the recompute of stored flags; memory is the days held back (a day
/// or two: a run is decided within `stuck_min_samples` windows).
pub struct DayByDay {
    history: SensorHistory,
    /// Days checked but not final, each sorted by (network, sensor, ts).
    held: BTreeMap<NaiveDate, Vec<Reading>>,
}

impl DayByDay {
    /// Sensors are never forgotten here: stored readings' receive times say nothing of the
    /// order they are checked in (an import, a gateway's backlog), so the live intake's idle
    /// eviction would drop histories mid-pass. Memory is a few fields per sensor.
    pub fn new() -> Self {
        Self { history: SensorHistory { next_sweep_ms: i64::MAX, ..SensorHistory::default() }, held: BTreeMap::new() }
    }

    /// Check one day's readings (any order; their `STEP`/`STUCK` bits are recomputed) after
    /// every earlier day; the days now final, in date order.
    pub fn push(&mut self, date: NaiveDate, mut readings: Vec<Reading>, limits: impl Fn(&str) -> HistoryLimits) -> Vec<(NaiveDate, Vec<Reading>)> {
        for r in &mut readings {
            r.qc_flags &= !(STEP | STUCK);
        }
        let runs = self.history.check_batch(&mut readings, limits);
        readings.sort_by(|a, b| (&a.network, &a.sensor_id, a.ts_ms).cmp(&(&b.network, &b.sensor_id, b.ts_ms)));
        self.held.entry(date).or_default().extend(readings);
        for run in &runs {
            self.mark(run);
        }
        let next_day_ms = (date + chrono::Days::new(1)).and_hms_opt(0, 0, 0).expect("midnight").and_utc().timestamp_millis();
        let open_from = self.history.earliest_open_run_ms(next_day_ms).map(date_of);
        let still_open: Vec<NaiveDate> = self.held.keys().copied().filter(|d| open_from.is_some_and(|o| *d >= o)).collect();
        let mut final_days = std::mem::take(&mut self.held);
        for d in still_open {
            let readings = final_days.remove(&d).expect("a held day");
            self.held.insert(d, readings);
        }
        final_days.into_iter().collect()
    }

    /// Every day still held, now final.
    pub fn finish(self) -> Vec<(NaiveDate, Vec<Reading>)> {
        self.held.into_iter().collect()
    }

    fn mark(&mut self, run: &StuckRun) {
        let (first, last) = ((run.network.as_str(), run.sensor_id.as_str(), run.from_ts_ms), (run.network.as_str(), run.sensor_id.as_str(), run.to_ts_ms));
        fn key(r: &Reading) -> (&str, &str, i64) {
            (r.network.as_str(), r.sensor_id.as_str(), r.ts_ms)
        }
        for day in self.held.range_mut(date_of(run.from_ts_ms)..=date_of(run.to_ts_ms)).map(|(_, v)| v) {
            let mut i = day.partition_point(|r| key(r) < first);
            while i < day.len() && key(&day[i]) <= last {
                if day[i].temperature_centi_c == run.centi_c {
                    day[i].qc_flags |= STUCK;
                }
                i += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests;
