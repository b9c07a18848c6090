//! Single-sensor history checks, computed as readings arrive: `STEP` (implausible jump) and
//! `STUCK` (persistence: a frozen sensor or a platform repeating its last value).
//!
//! Rules, with the defaults of [`HistoryLimits`] (cadence 300 s, window 3600 s):
//!
//! * **Step.** A new reading is compared with the sensor's last reading that was *not*
//!   step-flagged (its reference). It is flagged `STEP` when
//!   `|ΔT| > step_limit_k × max(Δt, step_cadence_s) / step_cadence_s`: 2 K between consecutive
//!   5-minute values, never less than 2 K for closer readings, and growing linearly with the gap
//!   (4 K after 10 minutes, 24 K after an hour). A single spike is flagged alone: the next
//!   normal reading is compared with the reading before the spike. A genuine level shift is
//!   flagged until Δt to the reference has grown enough for the limit to cover it, then
//!   accepted (and becomes the reference).
//! * **Stuck.** Let `cadence_s` be the sensor's expected cadence and
//!   `min_samples = ⌈0.8 × stuck_window_s / cadence_s⌉` (10 at 5 minutes). A reading is flagged
//!   `STUCK` when either
//!   - it ends a run of identical temperatures of at least `min_samples` readings that covers
//!     the window, `ts_last − ts_first + cadence_s ≥ stuck_window_s` (each sample stands for one
//!     cadence interval): at 5 minutes the **12th** identical value is the first flagged; or
//!   - the readings in `(ts − stuck_window_s, ts]` are at least `min_samples`, the sensor's
//!     history covers that whole window (same coverage rule as above, counted from its first
//!     reading since the service started), and their population standard deviation is below
//!     `stuck_min_std_k`.
//!
//!   Both are re-evaluated on every reading, so every following reading is flagged while the
//!   condition holds, and the first reading that breaks it is not.
//! * **Order.** Only a reading newer than the newest `ts` seen for its sensor is checked and
//!   enters the history. Late (out-of-order) readings and same-`ts` duplicates or conflicts are
//!   not step/stuck-checked; retrospective checks over stored data belong to the `ilot qc`
//!   batch job. Within one message (a backlog array) readings are taken in `ts` order.
//!
//! The history lives in memory, in the intake's single decode task. At start the service seeds
//! it ([`SensorHistory::seed`]) with the last hour of each sensor's stored readings, so a
//! restart does not blind the checks. Ingest processes of one shared-subscription group each
//! see only their part of a sensor's stream. Flags are decided before the WAL commit, so the WAL and its replay keep
//! them exactly.

use std::collections::{HashMap, VecDeque};

use super::{STEP, STUCK};
use crate::Reading;

/// Thresholds of the history checks (`[intake.qc.history]`).
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct HistoryLimits {
    /// Largest plausible change between readings `step_cadence_s` apart, K.
    pub step_limit_k: f64,
    /// Interval the step limit is defined for, s; the limit scales with longer gaps.
    pub step_cadence_s: u32,
    /// Persistence window, s.
    pub stuck_window_s: u32,
    /// Standard deviation over the window below which the sensor is considered stuck, K.
    pub stuck_min_std_k: f64,
}

impl Default for HistoryLimits {
    fn default() -> Self {
        Self { step_limit_k: 2.0, step_cadence_s: 300, stuck_window_s: 3600, stuck_min_std_k: 0.05 }
    }
}

/// A sensor silent (by receive time) for this long is forgotten. After a day the step limit is
/// 576 K and the window is empty, so only an identical run straddling the silence is lost.
const IDLE_EVICT_MS: i64 = 24 * 3_600_000;
/// How often (by receive time) idle sensors are swept.
const SWEEP_EVERY_MS: i64 = 600_000;
/// The window holds at most this many expected cadences' worth of samples (at least
/// [`MIN_WINDOW_CAP`]); beyond, the oldest are dropped and the deviation rule pauses until
/// the dropped samples have left the window.
const WINDOW_CAP_FACTOR: usize = 2;
const MIN_WINDOW_CAP: usize = 64;

#[derive(Debug, Clone, Copy)]
struct Sample {
    ts_ms: i64,
    centi_c: i16,
}

/// Run of identical temperatures ending at the newest reading.
#[derive(Debug, Clone, Copy)]
struct Run {
    first_ts_ms: i64,
    count: u32,
    centi_c: i16,
}

/// What is kept of one sensor: O(1) fields plus at most an hour of samples.
#[derive(Debug)]
struct SensorState {
    /// Newest `ts` checked; older or equal readings are not checked.
    newest_ts_ms: i64,
    /// First reading checked since the service started (history coverage).
    first_ts_ms: i64,
    /// Receive time of the newest checked reading (idle eviction).
    last_received_ms: i64,
    /// Last reading not flagged `STEP`.
    reference: Sample,
    run: Run,
    /// Samples with `ts` in `(newest − window, newest]`, in `ts` order.
    window: VecDeque<Sample>,
    /// Newest `ts` dropped from the window by the size cap.
    dropped_upto_ms: i64,
}

/// Per-sensor history, keyed by network then sensor id, owned by the intake's decode task.
/// Memory per sensor is bounded by the window (about `stuck_window_s / cadence_s` samples, hard
/// cap twice that) and sensors silent for a day are forgotten.
#[derive(Debug)]
pub struct SensorHistory {
    limits: HistoryLimits,
    sensors: HashMap<String, HashMap<String, SensorState>>,
    next_sweep_ms: i64,
}

impl SensorHistory {
    pub fn new(limits: HistoryLimits) -> Self {
        Self { limits, sensors: HashMap::new(), next_sweep_ms: i64::MIN }
    }

    pub fn limits(&self) -> &HistoryLimits {
        &self.limits
    }

    /// Check the readings of one message in `ts` order (their order in the slice is kept);
    /// `cadence_s` gives each reading's expected sensor cadence.
    pub fn check_batch(&mut self, readings: &mut [Reading], cadence_s: impl Fn(&Reading) -> u32) {
        let mut order: Vec<usize> = (0..readings.len()).collect();
        order.sort_by_key(|&i| readings[i].ts_ms);
        for i in order {
            let cadence = cadence_s(&readings[i]);
            self.check(&mut readings[i], cadence);
        }
    }

    /// Check one reading against its sensor's history, add `STEP`/`STUCK` to its `qc_flags`
    /// and, when it is the sensor's newest, record it. `cadence_s`: the sensor's expected
    /// interval between readings.
    pub fn check(&mut self, r: &mut Reading, cadence_s: u32) {
        r.qc_flags |= self.advance(r, cadence_s, None);
    }

    /// Replay stored readings into the history, keeping the flags they were stored with (a
    /// `STEP`-flagged reading does not become its sensor's reference): what a restarted
    /// service does with the last hour of each sensor's stream, so that its first readings are
    /// checked as if it had never stopped.
    pub fn seed(&mut self, mut readings: Vec<Reading>, cadence_s: impl Fn(&Reading) -> u32) {
        readings.sort_by_key(|r| r.ts_ms);
        for r in &readings {
            self.advance(r, cadence_s(r), Some(r.qc_flags & STEP != 0));
        }
    }

    /// Take `r` into its sensor's history if it is the newest; the history flags it earns.
    /// `stored_step`: for a replayed reading, whether it was stored `STEP`-flagged.
    fn advance(&mut self, r: &Reading, cadence_s: u32, stored_step: Option<bool>) -> u32 {
        self.sweep(r.received_at_ms);
        let sample = Sample { ts_ms: r.ts_ms, centi_c: r.temperature_centi_c };
        if !self.sensors.contains_key(r.network.as_str()) {
            self.sensors.insert(r.network.clone(), HashMap::new());
        }
        let sensors = self.sensors.get_mut(r.network.as_str()).expect("inserted above");
        let Some(state) = sensors.get_mut(r.sensor_id.as_str()) else {
            // A replayed spike must not become the reference of the readings after it.
            if stored_step != Some(true) {
                sensors.insert(r.sensor_id.clone(), SensorState::new(sample, r.received_at_ms));
            }
            return 0;
        };
        if r.ts_ms <= state.newest_ts_ms {
            return 0;
        }
        let limits = &self.limits;
        let mut flags = 0;
        if stored_step.unwrap_or_else(|| step_exceeded(state.reference, sample, limits)) {
            flags |= STEP;
        } else {
            state.reference = sample;
        }
        if state.record(sample, r.received_at_ms, cadence_s, limits) {
            flags |= STUCK;
        }
        flags
    }

    /// Sensors with a history.
    pub fn sensor_count(&self) -> usize {
        self.sensors.values().map(HashMap::len).sum()
    }

    /// Samples held in all windows.
    pub fn retained_samples(&self) -> usize {
        self.sensors.values().flat_map(HashMap::values).map(|s| s.window.len()).sum()
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

impl SensorState {
    fn new(first: Sample, received_ms: i64) -> Self {
        Self {
            newest_ts_ms: first.ts_ms,
            first_ts_ms: first.ts_ms,
            last_received_ms: received_ms,
            reference: first,
            run: Run { first_ts_ms: first.ts_ms, count: 1, centi_c: first.centi_c },
            window: VecDeque::from([first]),
            dropped_upto_ms: i64::MIN,
        }
    }

    /// Append the newest sample and say whether the sensor is stuck as of it.
    fn record(&mut self, s: Sample, received_ms: i64, cadence_s: u32, limits: &HistoryLimits) -> bool {
        self.newest_ts_ms = s.ts_ms;
        self.last_received_ms = received_ms;
        if s.centi_c == self.run.centi_c {
            self.run.count += 1;
        } else {
            self.run = Run { first_ts_ms: s.ts_ms, count: 1, centi_c: s.centi_c };
        }

        let cadence_s = cadence_s.max(1);
        let cadence_ms = i64::from(cadence_s) * 1000;
        let window_ms = i64::from(limits.stuck_window_s) * 1000;
        let expected = (limits.stuck_window_s / cadence_s).max(1) as usize;
        let min_samples = (4 * limits.stuck_window_s).div_ceil(5 * cadence_s).max(2);
        let covers = |first_ts_ms: i64| s.ts_ms - first_ts_ms + cadence_ms >= window_ms;

        self.window.push_back(s);
        let start = s.ts_ms - window_ms;
        while self.window.front().is_some_and(|f| f.ts_ms <= start) {
            self.window.pop_front();
        }
        let cap = (expected * WINDOW_CAP_FACTOR).max(MIN_WINDOW_CAP);
        while self.window.len() > cap {
            let dropped = self.window.pop_front().expect("longer than cap");
            self.dropped_upto_ms = dropped.ts_ms;
        }

        let identical = self.run.count >= min_samples && covers(self.run.first_ts_ms);
        let flat = self.window.len() >= min_samples as usize
            && covers(self.first_ts_ms)
            && self.dropped_upto_ms <= start
            && std_dev_k(&self.window) < limits.stuck_min_std_k;
        identical || flat
    }
}

/// Population standard deviation of the window's temperatures, K.
fn std_dev_k(window: &VecDeque<Sample>) -> f64 {
    let n = window.len() as f64;
    let mean = window.iter().map(|s| f64::from(s.centi_c)).sum::<f64>() / n;
    let var = window.iter().map(|s| (f64::from(s.centi_c) - mean).powi(2)).sum::<f64>() / n;
    var.sqrt() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::qc::RANGE;

    const T0: i64 = 1_750_000_000_000 - 1_750_000_000_000 % 300_000;
    const STEP_MS: i64 = 300_000;

    fn reading(sensor: &str, i: i64, t: f64) -> Reading {
        Reading {
            network: "tls".into(),
            sensor_id: sensor.into(),
            ts_ms: T0 + i * STEP_MS,
            temperature_centi_c: crate::reading::quantize_centi(t).unwrap(),
            humidity_deci_pct: None,
            battery_mv: None,
            seq: None,
            received_at_ms: T0 + i * STEP_MS + 1_000,
            qc_flags: 0,
        }
    }

    /// Run readings `(step index, °C)` of one sensor through a fresh history, in the given
    /// order, at the default cadence; their flags in the same order.
    fn flags(series: &[(i64, f64)]) -> Vec<u32> {
        let mut h = SensorHistory::new(HistoryLimits::default());
        series
            .iter()
            .map(|&(i, t)| {
                let mut r = reading("s", i, t);
                h.check(&mut r, 300);
                r.qc_flags
            })
            .collect()
    }

    /// Normal values alternating 20.0 / 20.3 °C (std 0.15 K), steps `from..to`.
    fn normal(from: i64, to: i64) -> Vec<(i64, f64)> {
        (from..to).map(|i| (i, 20.0 + 0.3 * (i % 2) as f64)).collect()
    }

    fn flagged(series: &[(i64, f64)], bit: u32) -> Vec<i64> {
        flags(series).iter().zip(series).filter(|(f, _)| *f & bit != 0).map(|(_, (i, _))| *i).collect()
    }

    #[test]
    fn a_history_seeded_from_stored_readings_goes_on_as_if_never_stopped() {
        // A spike, a level shift and a stuck hour: every kind of state the checks keep.
        let mut series = normal(0, 10);
        series.push((10, 30.0));
        series.extend(normal(11, 20));
        series.extend((20..26).map(|i| (i, 26.0 + 0.1 * (i % 2) as f64)));
        series.extend((26..45).map(|i| (i, 24.5)));
        series.extend(normal(45, 50));
        let uninterrupted = flags(&series);
        assert!(uninterrupted.iter().any(|f| f & STUCK != 0) && uninterrupted.iter().any(|f| f & STEP != 0));
        for cut in 1..series.len() {
            // Before the stop: readings checked and stored with their flags.
            let mut before = SensorHistory::new(HistoryLimits::default());
            let stored: Vec<Reading> = series[..cut]
                .iter()
                .map(|&(i, t)| {
                    let mut r = reading("s", i, t);
                    before.check(&mut r, 300);
                    r
                })
                .collect();
            // After the restart: the last hour of stored readings, newest first (order is
            // the seed's business), then the rest of the stream.
            let window_start = stored.last().unwrap().ts_ms - 3_600_000;
            let mut after = SensorHistory::new(HistoryLimits::default());
            after.seed(stored.into_iter().rev().filter(|r| r.ts_ms > window_start).collect(), |_| 300);
            let resumed: Vec<u32> = series[cut..]
                .iter()
                .map(|&(i, t)| {
                    let mut r = reading("s", i, t);
                    after.check(&mut r, 300);
                    r.qc_flags
                })
                .collect();
            assert_eq!(resumed, uninterrupted[cut..], "restarted after step {cut}");
        }
    }

    #[test]
    fn a_spike_flags_only_the_spike() {
        let mut series = normal(0, 10);
        series.push((10, 30.0));
        series.extend(normal(11, 20));
        assert_eq!(flagged(&series, STEP), [10], "the return to normal is compared with step 9");
        assert_eq!(flagged(&series, STUCK), Vec::<i64>::new());
    }

    #[test]
    fn a_dip_and_spikes_in_a_row_are_flagged_without_the_return() {
        let mut series = normal(0, 5);
        series.extend([(5, 12.0), (6, 28.0), (7, 29.0)]);
        series.extend(normal(8, 12));
        assert_eq!(flagged(&series, STEP), [5, 6, 7]);
    }

    #[test]
    fn the_step_limit_scales_with_the_gap() {
        // Consecutive 5-minute values: 2 K is allowed, 2.01 K is not.
        assert_eq!(flagged(&[(0, 20.0), (1, 22.0), (2, 24.01)], STEP), [2]);
        // Readings closer than the cadence keep the 2 K limit.
        let mut h = SensorHistory::new(HistoryLimits::default());
        let mut a = reading("s", 0, 20.0);
        let mut b = reading("s", 0, 21.9);
        b.ts_ms += 60_000;
        let mut c = reading("s", 0, 24.0);
        c.ts_ms += 120_000;
        for r in [&mut a, &mut b, &mut c] {
            h.check(r, 300);
        }
        assert_eq!((b.qc_flags, c.qc_flags), (0, STEP), "2.1 K in one minute exceeds 2 K");
        // After a one-hour gap the limit is 24 K: 10 K is accepted, 25 K is not.
        assert_eq!(flagged(&[(0, 20.0), (12, 30.0)], STEP), Vec::<i64>::new());
        assert_eq!(flagged(&[(0, 10.0), (12, 35.0)], STEP), [12]);
    }

    #[test]
    fn a_level_shift_is_accepted_once_the_gap_to_the_reference_covers_it() {
        // +5 K shift at step 10: limits 2, 4, 6 K from the reference at step 9.
        let mut series = normal(0, 10);
        series.extend((10..20).map(|i| (i, 25.0 + 0.3 * (i % 2) as f64)));
        assert_eq!(flagged(&series, STEP), [10, 11], "accepted at step 12 (Δt 15 min, 6 K)");
    }

    #[test]
    fn twelve_identical_values_are_stuck_from_the_twelfth_on() {
        // A fresh sensor: 11 identical values cover 55 minutes, the 12th completes the hour.
        let series: Vec<_> = (0..16).map(|i| (i, 21.0)).chain([(16, 21.5), (17, 21.0)]).collect();
        assert_eq!(flagged(&series, STUCK), [11, 12, 13, 14, 15], "the first different value ends it");

        // After a varying series: the frozen values start at step 20; the window's std stays
        // above 0.05 K while it holds a normal value 0.7 K away, the run reaches 12 at step 31.
        let mut series = normal(0, 20);
        series.extend((20..36).map(|i| (i, 21.0)));
        series.extend(normal(36, 40));
        assert_eq!(flagged(&series, STUCK), (31..36).collect::<Vec<_>>());
        assert_eq!(flagged(&series, STEP), Vec::<i64>::new());
    }

    #[test]
    fn identical_values_with_a_gap_still_need_ten_samples_over_an_hour() {
        // 9 identical samples over 80 minutes: not enough samples.
        let series: Vec<_> = [0, 1, 2, 3, 4, 12, 13, 14, 15].iter().map(|&i| (i, 21.0)).collect();
        assert_eq!(flagged(&series, STUCK), Vec::<i64>::new());
        // A 10th one completes it, although the last hour holds only 5 samples.
        let series: Vec<_> = [0, 1, 2, 3, 4, 12, 13, 14, 15, 16].iter().map(|&i| (i, 21.0)).collect();
        assert_eq!(flagged(&series, STUCK), [16]);
    }

    #[test]
    fn a_low_standard_deviation_over_the_hour_is_stuck() {
        // Values wobbling by 0.01 K (std 0.005 K) are never identical twice in a row.
        let wobble = |from, to| (from..to).map(|i| (i, 20.0 + 0.01 * (i % 2) as f64));
        let series: Vec<_> = wobble(0, 15).chain(normal(15, 17)).collect();
        assert_eq!(flagged(&series, STUCK), [11, 12, 13, 14], "from the 12th, while the hour is flat");
        // 0.1 K wobble: std 0.05 K, not below the limit.
        let series: Vec<_> = (0..15).map(|i| (i, 20.0 + 0.1 * (i % 2) as f64)).collect();
        assert_eq!(flagged(&series, STUCK), Vec::<i64>::new());
        // Fewer than 80 % of the expected samples in the hour: not judged by the deviation rule.
        let sparse: Vec<_> = (0..30).step_by(2).map(|i| (i, 20.0 + 0.01 * ((i / 2) % 2) as f64)).collect();
        assert_eq!(flagged(&sparse, STUCK), Vec::<i64>::new());
    }

    #[test]
    fn late_and_duplicate_readings_are_not_checked_nor_recorded() {
        let mut series = normal(0, 10);
        series.push((5, 35.0)); // late, 15 K off: not checked
        series.push((9, 35.0)); // same ts as the newest (a conflict): not checked
        series.push((10, 20.0)); // compared with step 9, not with the late ones
        let f = flags(&series);
        assert!(f.iter().all(|&f| f == 0), "{f:?}");
        // Late identical values do not extend a run either.
        let mut series: Vec<_> = (0..11).map(|i| (i, 21.0)).collect();
        series.extend((0..11).map(|i| (i, 21.0)));
        assert_eq!(flagged(&series, STUCK), Vec::<i64>::new());
    }

    #[test]
    fn a_backlog_is_checked_in_ts_order_and_keeps_its_order() {
        let mut h = SensorHistory::new(HistoryLimits::default());
        let mut rs: Vec<Reading> = normal(0, 12).into_iter().map(|(i, t)| reading("s", i, t)).collect();
        rs.push(reading("s", 12, 30.0));
        rs.reverse();
        h.check_batch(&mut rs, |_| 300);
        assert_eq!(rs[0].ts_ms, T0 + 12 * STEP_MS, "order kept");
        assert_eq!(rs.iter().map(|r| r.qc_flags).collect::<Vec<_>>(), [vec![STEP], vec![0; 12]].concat());
    }

    #[test]
    fn history_flags_add_to_existing_flags_and_sensors_are_separate() {
        let mut h = SensorHistory::new(HistoryLimits::default());
        let mut a = reading("a", 0, 20.0);
        let mut b = reading("b", 1, 60.0);
        b.qc_flags = RANGE;
        let mut c = reading("a", 1, 60.0);
        let mut d = reading("b", 2, 60.5);
        for r in [&mut a, &mut b, &mut c, &mut d] {
            h.check(r, 300);
        }
        assert_eq!((a.qc_flags, b.qc_flags, c.qc_flags, d.qc_flags), (0, RANGE, STEP, 0));
        let mut other_network = reading("a", 2, 20.0);
        other_network.network = "rns".into();
        h.check(&mut other_network, 300);
        assert_eq!(other_network.qc_flags, 0, "first reading of rns/a");
    }

    #[test]
    fn memory_is_bounded() {
        let mut h = SensorHistory::new(HistoryLimits::default());
        for i in 0..10_000 {
            let mut r = reading("s", i, 20.0 + 0.3 * (i % 2) as f64);
            h.check(&mut r, 300);
        }
        assert_eq!(h.retained_samples(), 12, "the last hour at 5 minutes");
        // A sensor far faster than its declared cadence: the window is capped.
        for i in 0..10_000 {
            let mut r = reading("fast", 0, 20.0);
            r.ts_ms += i * 1_000;
            h.check(&mut r, 300);
        }
        assert_eq!(h.retained_samples(), 12 + MIN_WINDOW_CAP);
        // Sensors silent for a day are forgotten.
        let mut later = reading("new", 10_000 + 300, 20.0);
        h.check(&mut later, 300);
        assert_eq!(h.sensor_count(), 1);
        assert_eq!(h.retained_samples(), 1);
    }

    #[test]
    fn the_configured_cadence_sets_the_expected_samples() {
        // At a 10-minute cadence the hour is 6 samples: identical from the 6th on.
        let mut h = SensorHistory::new(HistoryLimits::default());
        let f: Vec<u32> = (0..8)
            .map(|i| {
                let mut r = reading("s", 2 * i, 21.0);
                h.check(&mut r, 600);
                r.qc_flags
            })
            .collect();
        assert_eq!(f, [0, 0, 0, 0, 0, STUCK, STUCK, STUCK]);
    }
}
