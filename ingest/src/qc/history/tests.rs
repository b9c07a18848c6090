//! Tests of the history checks: the step rule, the persistence rule (in time, whole run), the
//! restart seed and the day-by-day pass.

use super::*;
use crate::qc::RANGE;

const T0: i64 = 1_750_000_000_000 - 1_750_000_000_000 % 86_400_000;
const FIVE_MIN: i64 = 300_000;
const HOUR: i64 = 3_600_000;

fn reading(sensor: &str, ts_ms: i64, t: f64) -> Reading {
    Reading {
        network: "tls".into(),
        sensor_id: sensor.into(),
        ts_ms,
        temperature_centi_c: crate::reading::quantize_centi(t).unwrap(),
        humidity_deci_pct: None,
        battery_mv: None,
        seq: None,
        received_at_ms: ts_ms + 1_000,
        qc_flags: 0,
    }
}

fn defaults(_: &str) -> HistoryLimits {
    HistoryLimits::default()
}

/// Run readings `(ts offset from T0 in ms, °C)` of one sensor through a live history, one
/// message each, then apply the stuck runs it reports to the earlier readings, as the store
/// does: the flags every reading ends with.
fn live(series: &[(i64, f64)]) -> Vec<u32> {
    let mut h = SensorHistory::new();
    let mut out: Vec<Reading> = Vec::new();
    for &(dt, t) in series {
        let mut batch = [reading("s", T0 + dt, t)];
        let runs = h.check_batch(&mut batch, defaults);
        for run in runs {
            for r in out.iter_mut().filter(|r| run.covers(&r.network, &r.sensor_id, r.ts_ms, r.temperature_centi_c)) {
                r.qc_flags |= STUCK;
            }
        }
        out.extend(batch);
    }
    out.iter().map(|r| r.qc_flags).collect()
}

/// The same series through the day-by-day pass.
fn by_day(series: &[(i64, f64)]) -> Vec<u32> {
    let mut pass = DayByDay::new();
    let mut days: BTreeMap<NaiveDate, Vec<Reading>> = BTreeMap::new();
    for &(dt, t) in series {
        days.entry(date_of(T0 + dt)).or_default().push(reading("s", T0 + dt, t));
    }
    let mut done = Vec::new();
    for (d, rs) in days {
        done.extend(pass.push(d, rs, defaults));
    }
    done.extend(pass.finish());
    let flags: HashMap<i64, u32> = done.into_iter().flat_map(|(_, rs)| rs).map(|r| (r.ts_ms, r.qc_flags)).collect();
    series.iter().map(|(dt, _)| flags[&(T0 + dt)]).collect()
}

/// Indices of the series whose flags have `bit`, live and day by day (which must agree).
fn flagged(series: &[(i64, f64)], bit: u32) -> Vec<usize> {
    let pick = |f: Vec<u32>| f.iter().enumerate().filter(|(_, f)| *f & bit != 0).map(|(i, _)| i).collect::<Vec<_>>();
    let (live, by_day) = (pick(live(series)), pick(by_day(series)));
    assert_eq!(live, by_day, "the live checks and the day-by-day pass agree");
    live
}

/// Five-minute readings `from..to` (step indices) alternating 20.0 / 20.3 °C.
fn normal(from: i64, to: i64) -> Vec<(i64, f64)> {
    (from..to).map(|i| (i * FIVE_MIN, 20.0 + 0.3 * (i % 2) as f64)).collect()
}

#[test]
fn a_spike_flags_only_the_spike() {
    let mut series = normal(0, 10);
    series.push((10 * FIVE_MIN, 30.0));
    series.extend(normal(11, 20));
    assert_eq!(flagged(&series, STEP), [10], "the return to normal is compared with step 9");
    assert_eq!(flagged(&series, STUCK), Vec::<usize>::new());
}

#[test]
fn a_dip_and_spikes_in_a_row_are_flagged_without_the_return() {
    let mut series = normal(0, 5);
    series.extend([(5 * FIVE_MIN, 12.0), (6 * FIVE_MIN, 28.0), (7 * FIVE_MIN, 29.0)]);
    series.extend(normal(8, 12));
    assert_eq!(flagged(&series, STEP), [5, 6, 7]);
}

#[test]
fn the_step_limit_scales_with_the_time_between_readings() {
    // Consecutive 5-minute values: 2 K is allowed, 2.01 K is not.
    assert_eq!(flagged(&[(0, 20.0), (FIVE_MIN, 22.0), (2 * FIVE_MIN, 24.01)], STEP), [2]);
    // Readings closer than the cadence keep the 2 K limit: 2.1 K in one minute exceeds it.
    assert_eq!(flagged(&[(0, 20.0), (60_000, 21.9), (120_000, 24.0)], STEP), [2]);
    // After an hour the limit is 24 K: 10 K is accepted, 25 K is not; hourly stations alike.
    assert_eq!(flagged(&[(0, 20.0), (HOUR, 30.0)], STEP), Vec::<usize>::new());
    assert_eq!(flagged(&[(0, 10.0), (HOUR, 35.0)], STEP), [1]);
}

#[test]
fn a_level_shift_is_accepted_once_the_gap_to_the_reference_covers_it() {
    // +5 K shift at step 10: limits 2, 4, 6 K from the reference at step 9.
    let mut series = normal(0, 10);
    series.extend((10..20).map(|i| (i * FIVE_MIN, 25.0 + 0.3 * (i % 2) as f64)));
    assert_eq!(flagged(&series, STEP), [10, 11], "accepted at step 12 (Δt 15 min, 6 K)");
}

#[test]
fn a_sensor_frozen_for_ten_hours_is_masked_whole_from_its_first_reading() {
    let mut series = normal(0, 24);
    series.extend((24..24 + 120).map(|i| (i * FIVE_MIN, 21.37)));
    series.extend(normal(144, 160));
    assert_eq!(flagged(&series, STUCK), (24..144).collect::<Vec<_>>());
    assert_eq!(flagged(&series, STEP), Vec::<usize>::new());
}

#[test]
fn calm_nights_at_a_tenth_of_a_degree_are_not_stuck() {
    // A 0.1 K sensor on a calm night: plateaus of 40 to 60 minutes, then a tenth up or down.
    let mut series = Vec::new();
    let (mut i, mut t) = (0, 18.0);
    for plateau in [9, 12, 13, 10, 12, 13, 11, 9, 13, 12] {
        series.extend((0..plateau).map(|k| ((i + k) * FIVE_MIN, t)));
        i += plateau;
        t -= 0.1;
    }
    assert_eq!(flagged(&series, STUCK), Vec::<usize>::new());
    // Even a value held for just under three hours (36 readings, 2 h 55 min) is genuine.
    let held: Vec<_> = (0..36).map(|k| (k * FIVE_MIN, 15.2)).chain([(36 * FIVE_MIN, 15.1)]).collect();
    assert_eq!(flagged(&held, STUCK), Vec::<usize>::new());
    // The 37th identical reading completes three hours: all 37 are stuck.
    let held: Vec<_> = (0..37).map(|k| (k * FIVE_MIN, 15.2)).chain([(37 * FIVE_MIN, 15.1)]).collect();
    assert_eq!(flagged(&held, STUCK), (0..37).collect::<Vec<_>>());
}

#[test]
fn hourly_plateaus_of_two_to_four_hours_are_not_stuck_and_six_hourly_values_are() {
    let mut series = Vec::new();
    let (mut h, mut t) = (0, 12.0);
    for plateau in [3, 5, 4, 2, 5, 3] {
        // A plateau of n hourly values lasts n − 1 hours.
        series.extend((0..plateau).map(|k| ((h + k) * HOUR, t)));
        h += plateau;
        t += 0.4;
    }
    assert_eq!(flagged(&series, STUCK), Vec::<usize>::new());
    // Six identical hourly values span five hours: stuck, all six.
    let frozen: Vec<_> = (0..6).map(|k| (k * HOUR, 9.9)).chain([(6 * HOUR, 10.4)]).collect();
    assert_eq!(flagged(&frozen, STUCK), (0..6).collect::<Vec<_>>());
}

#[test]
fn a_silence_longer_than_the_window_breaks_a_run() {
    // 30 identical values, 4 h of silence, 30 more: two runs of 2 h 25 min, neither stuck.
    let series: Vec<_> = (0..30).chain(78..108).map(|k| (k * FIVE_MIN, 21.0)).collect();
    assert_eq!(flagged(&series, STUCK), Vec::<usize>::new());
    // With a silence of 2 h the run goes on: 60 values over 7 h are stuck.
    let series: Vec<_> = (0..30).chain(54..84).map(|k| (k * FIVE_MIN, 21.0)).collect();
    assert_eq!(flagged(&series, STUCK), (0..60).collect::<Vec<_>>());
}

#[test]
fn a_run_across_midnight_marks_the_day_before() {
    // Frozen from 22:00 to 04:00: the run completes at 01:00, the day before is marked too.
    let start = 22 * 12;
    let mut series = normal(start - 12, start);
    series.extend((start..start + 72).map(|i| (i * FIVE_MIN, 17.5)));
    series.extend(normal(start + 72, start + 80));
    assert_eq!(flagged(&series, STUCK), (12..84).collect::<Vec<_>>());
}

#[test]
fn the_day_by_day_pass_holds_back_only_days_a_run_may_still_reach() {
    let limits = |_: &str| HistoryLimits::default();
    let day = |n: u64| date_of(T0) + chrono::Days::new(n);
    let mut pass = DayByDay::new();
    // A sensor that went silent mid-day holds nothing back; one whose value has not changed
    // since 23:00 holds its day back.
    let silent: Vec<Reading> = (0..100).map(|i| reading("silent", T0 + i * FIVE_MIN, 20.0 + 0.1 * (i % 3) as f64)).collect();
    assert_eq!(pass.push(day(0), silent, limits).len(), 1, "day 0 is final");
    let late_plateau: Vec<Reading> =
        (0..288).map(|i| reading("s", T0 + 86_400_000 + i * FIVE_MIN, if i >= 276 { 19.0 } else { 20.0 + 0.3 * (i % 2) as f64 })).collect();
    assert!(pass.push(day(1), late_plateau, limits).is_empty(), "day 1 is held: its 23:00 run is open");
    let days = pass.push(day(2), (0..30).map(|i| reading("s", T0 + 2 * 86_400_000 + i * FIVE_MIN, 19.0)).collect(), limits);
    assert_eq!(days.iter().map(|(d, _)| *d).collect::<Vec<_>>(), [day(1), day(2)], "the run became stuck: both days are final");
    assert!(days[0].1.iter().filter(|r| r.ts_ms >= T0 + 86_400_000 + 276 * FIVE_MIN).all(|r| r.qc_flags & STUCK != 0));
    assert!(pass.finish().is_empty());
}

#[test]
fn per_network_windows_apply() {
    let mut h = SensorHistory::new();
    let hourly = |n: &str| if n == "tls" { HistoryLimits { stuck_window_s: 3600, stuck_min_samples: 3, ..HistoryLimits::default() } } else { HistoryLimits::default() };
    let mut rs: Vec<Reading> = (0..13).map(|i| reading("s", T0 + i * FIVE_MIN, 21.0)).collect();
    let runs = h.check_batch(&mut rs, hourly);
    assert_eq!(rs.iter().filter(|r| r.qc_flags & STUCK != 0).count(), 13, "an hour is enough in tls");
    assert_eq!(runs.len(), 1, "reported for the readings stored before this message, if any");
}

#[test]
fn a_history_seeded_from_stored_readings_goes_on_as_if_never_stopped() {
    // A spike, a level shift and a frozen stretch: every kind of state the checks keep.
    let mut series = normal(0, 10);
    series.push((10 * FIVE_MIN, 30.0));
    series.extend(normal(11, 20));
    series.extend((20..26).map(|i| (i * FIVE_MIN, 26.0 + 0.1 * (i % 2) as f64)));
    series.extend((26..70).map(|i| (i * FIVE_MIN, 24.5)));
    series.extend(normal(70, 75));
    let uninterrupted = live(&series);
    assert!(uninterrupted.iter().any(|f| f & STUCK != 0) && uninterrupted.iter().any(|f| f & STEP != 0));
    let mut before = SensorHistory::new();
    let mut stored: Vec<Reading> = Vec::new();
    for (cut, &(dt, t)) in series.iter().enumerate() {
        // After a restart: the last window of stored readings (newest first: order is the
        // seed's business), then the rest of the stream.
        let window_start = T0 + dt - 3 * HOUR - FIVE_MIN;
        let mut after = SensorHistory::new();
        after.seed(stored.iter().rev().filter(|r| r.ts_ms > window_start).cloned().collect(), defaults);
        let mut next = [reading("s", T0 + dt, t)];
        after.check_batch(&mut next, defaults);
        let mut uninterrupted_next = [reading("s", T0 + dt, t)];
        before.check_batch(&mut uninterrupted_next, defaults);
        assert_eq!(next[0].qc_flags, uninterrupted_next[0].qc_flags, "restarted before reading {cut}");
        stored.extend(uninterrupted_next);
    }
}

#[test]
fn late_and_duplicate_readings_are_not_checked_nor_recorded() {
    let mut h = SensorHistory::new();
    let mut rs: Vec<Reading> = normal(0, 10).into_iter().map(|(dt, t)| reading("s", T0 + dt, t)).collect();
    rs.push(reading("s", T0 + 5 * FIVE_MIN, 35.0)); // late, 15 K off: not checked
    rs.push(reading("s", T0 + 9 * FIVE_MIN, 35.0)); // same ts as the newest: not checked
    for r in rs.chunks_mut(1) {
        h.check_batch(r, defaults);
    }
    let mut next = [reading("s", T0 + 10 * FIVE_MIN, 20.0)];
    h.check_batch(&mut next, defaults);
    assert!(rs.iter().chain(&next).all(|r| r.qc_flags == 0), "compared with step 9, not with the late ones");
}

#[test]
fn a_backlog_is_checked_in_ts_order_keeps_its_order_and_marks_its_own_run() {
    let mut h = SensorHistory::new();
    let mut rs: Vec<Reading> = normal(0, 12).into_iter().map(|(dt, t)| reading("s", T0 + dt, t)).collect();
    rs.extend((12..60).map(|i| reading("s", T0 + i * FIVE_MIN, 21.0)));
    rs.reverse();
    let runs = h.check_batch(&mut rs, defaults);
    assert_eq!(rs[0].ts_ms, T0 + 59 * FIVE_MIN, "order kept");
    assert_eq!(runs, [StuckRun { network: "tls".into(), sensor_id: "s".into(), from_ts_ms: T0 + 12 * FIVE_MIN, to_ts_ms: T0 + 47 * FIVE_MIN, centi_c: 2100 }]);
    let flags: Vec<u32> = rs.iter().rev().map(|r| r.qc_flags).collect();
    assert_eq!(flags, [vec![0; 12], vec![STUCK; 48]].concat(), "the backlog's own run is marked");
}

#[test]
fn history_flags_add_to_existing_flags_and_sensors_are_separate() {
    let mut h = SensorHistory::new();
    let mut a = [reading("a", T0, 20.0)];
    let mut b = [reading("b", T0 + FIVE_MIN, 60.0)];
    b[0].qc_flags = RANGE;
    let mut c = [reading("a", T0 + FIVE_MIN, 60.0)];
    let mut d = [reading("b", T0 + 2 * FIVE_MIN, 60.5)];
    for r in [&mut a, &mut b, &mut c, &mut d] {
        h.check_batch(r, defaults);
    }
    assert_eq!((a[0].qc_flags, b[0].qc_flags, c[0].qc_flags, d[0].qc_flags), (0, RANGE, STEP, 0));
    let mut other_network = [reading("a", T0 + 2 * FIVE_MIN, 20.0)];
    other_network[0].network = "rns".into();
    h.check_batch(&mut other_network, defaults);
    assert_eq!(other_network[0].qc_flags, 0, "first reading of rns/a");
}

#[test]
fn sensors_silent_for_two_days_are_forgotten() {
    let mut h = SensorHistory::new();
    for i in 0..1000 {
        h.check_batch(&mut [reading("s", T0 + i * FIVE_MIN, 20.0 + 0.3 * (i % 2) as f64)], defaults);
    }
    h.check_batch(&mut [reading("new", T0 + 1000 * FIVE_MIN + 2 * 86_400_000 + 1, 20.0)], defaults);
    h.check_batch(&mut [reading("new", T0 + 1000 * FIVE_MIN + 2 * 86_400_000 + SWEEP_EVERY_MS + 2, 20.0)], defaults);
    assert_eq!(h.sensor_count(), 1);
}
