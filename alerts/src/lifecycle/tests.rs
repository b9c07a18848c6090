//! The lifecycle against the flapping, absence and late-data cases the peers get wrong.

use super::*;
use chrono::TimeZone;

fn t(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 7, 14, 0, 0, 0).unwrap() + Duration::minutes(minutes)
}

const TIMING: Timing = Timing { raise_after_s: 30 * 60, clear_after_s: 60 * 60, absent_after_s: 3 * 3600, valid_for_s: 6 * 3600 };

/// An instantaneous-heat observation: raise at 35 °C, clear below 34.5 °C, orange at 38 °C.
fn heat(value: f64) -> Observation {
    let level_at = |threshold_yellow: f64, threshold_orange: f64| {
        if value >= threshold_orange {
            Level::Orange
        } else if value >= threshold_yellow {
            Level::Yellow
        } else {
            Level::Green
        }
    };
    Observation {
        period: None,
        raise_level: level_at(35.0, 38.0),
        hold_level: level_at(34.5, 37.5),
        value: Some(value),
        evidence: serde_json::json!({ "temperature_c": value }),
        members: None,
    }
}

fn day(period: &str, level: Level, value: f64) -> Observation {
    Observation { period: Some(period.into()), raise_level: level, hold_level: level, value: Some(value), evidence: serde_json::Value::Null, members: None }
}

/// Step every 5 minutes through `values` (None: no data), from minute `start`.
fn run(state: &mut AreaState, start: i64, values: &[Option<f64>], events: &mut Vec<AlertEvent>) {
    let mut ids = 0;
    for (i, v) in values.iter().enumerate() {
        let observations: Vec<Observation> = v.map(heat).into_iter().collect();
        let event = state.step(&observations, t(start + 5 * i as i64), &TIMING, || {
            ids += 1;
            format!("alr_{ids}")
        });
        events.extend(event);
    }
}

#[test]
fn a_criterion_shorter_than_the_raise_time_raises_nothing_and_a_longer_one_raises_once() {
    let mut state = AreaState::default();
    let mut events = Vec::new();
    // 25 minutes above, then below: pending, forgotten.
    run(&mut state, 0, &[Some(36.0); 6].iter().copied().chain([Some(30.0)]).collect::<Vec<_>>(), &mut events);
    assert!(events.is_empty(), "{events:?}");
    assert_eq!(state, AreaState::Quiet);
    // 30 minutes above: raised once, its onset the first reading above.
    run(&mut state, 100, &[Some(36.0); 12], &mut events);
    assert_eq!(events.len(), 1, "{events:?}");
    let raised = &events[0];
    assert_eq!((raised.seq, &raised.change, raised.level, raised.onset), (1, &Change::Raised, Level::Yellow, t(100)));
    assert_eq!(raised.issued, t(130));
    assert_eq!(raised.expires, t(130 + 6 * 60));
}

#[test]
fn a_temperature_flapping_around_the_threshold_for_hours_gives_one_alert_and_no_storm() {
    let mut state = AreaState::default();
    let mut events = Vec::new();
    // 40 minutes above to raise, then 12 hours flapping 34.6 ↔ 35.4 every 5 minutes.
    let flapping: Vec<Option<f64>> = (0..8).map(|_| Some(36.0)).chain((0..144).map(|i| Some(if i % 2 == 0 { 34.6 } else { 35.4 }))).collect();
    run(&mut state, 0, &flapping, &mut events);
    assert_eq!(events.len(), 1, "one raise, nothing else: {events:?}");
    // Flapping across the clear threshold (34.4 ↔ 35.4) never stays below it for an hour: no clear.
    let across: Vec<Option<f64>> = (0..144).map(|i| Some(if i % 4 == 0 { 34.4 } else { 35.4 })).collect();
    run(&mut state, 5 * 152, &across, &mut events);
    assert_eq!(events.len(), 1, "{events:?}");
    // Orange and back every two hours for 12 hours: an escalation at once each time, a
    // de-escalation an hour after each fall: 6 updates, of the same alert.
    let orange: Vec<Option<f64>> = (0..144).map(|i| Some(if (i / 24) % 2 == 0 { 38.1 } else { 36.0 })).collect();
    run(&mut state, 30 * 60, &orange, &mut events);
    assert_eq!(events.len() - 1, 6, "{events:?}");
    assert!(events.iter().all(|e| e.alert_id == "alr_1"), "the same alert throughout");
    assert!(events.windows(2).all(|w| w[1].seq == w[0].seq + 1), "sequence numbers grow by one");
}

#[test]
fn escalation_is_immediate_de_escalation_and_clear_wait_for_an_hour_below() {
    let mut state = AreaState::default();
    let mut events = Vec::new();
    let mut values = vec![Some(36.0); 7]; // raised yellow at minute 30
    values.extend([Some(38.5); 3]); // orange at once
    values.extend([Some(37.0); 13]); // below orange's clear (37.5) for an hour: yellow
    values.extend([Some(30.0); 6]); // 25 minutes below yellow's clear…
    values.extend([Some(34.8); 2]); // …interrupted: held above 34.5
    values.extend([Some(30.0); 13]); // an hour below: cleared
    run(&mut state, 0, &values, &mut events);
    let summary: Vec<(u64, Level, &Change)> = events.iter().map(|e| (e.seq, e.level, &e.change)).collect();
    assert_eq!(
        summary,
        vec![
            (1, Level::Yellow, &Change::Raised),
            (2, Level::Orange, &Change::Updated { reasons: vec![UpdateReason::Escalated] }),
            (3, Level::Yellow, &Change::Updated { reasons: vec![UpdateReason::DeEscalated] }),
            (4, Level::Green, &Change::Cleared { reason: ClearReason::BelowThreshold }),
        ]
    );
    assert_eq!(events[1].trend, Trend::Rising);
    assert_eq!(events[2].previous_level, Level::Orange);
    assert_eq!(state, AreaState::Quiet);
    // Cleared an hour after the first reading below 34.5 that was not interrupted (minute 155).
    assert_eq!(events[3].issued, t(5 * (7 + 3 + 13 + 6 + 2 + 12)));
}

#[test]
fn a_sensor_dropping_in_and_out_neither_clears_nor_re_raises_and_silence_clears_after_the_absence_time() {
    let mut state = AreaState::default();
    let mut events = Vec::new();
    let mut values = vec![Some(36.0); 7];
    // 10 hours of a sensor seen one reading in three.
    values.extend((0..120).map(|i| if i % 3 == 0 { Some(36.0) } else { None }));
    run(&mut state, 0, &values, &mut events);
    assert_eq!(events.len(), 1, "{events:?}");
    // Then silence: cleared "no data" three hours after the last observation, not before.
    let last_seen = t(5 * (7 + 117));
    run(&mut state, 5 * 127, &vec![None; 40], &mut events);
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[1].change, Change::Cleared { reason: ClearReason::NoData });
    assert_eq!(events[1].issued, last_seen + Duration::hours(3));
    assert_eq!(events[1].observation.value, Some(36.0), "a clear carries the last observation");
}

#[test]
fn day_rules_update_once_per_new_day_and_late_data_gives_a_correction() {
    let timing = Timing { raise_after_s: 0, clear_after_s: 24 * 3600, absent_after_s: 4 * 86400, valid_for_s: 2 * 86400 };
    let mut state = AreaState::default();
    let mut id = || "alr_day".to_string();
    let noon = |d: i64| t(12 * 60 + d * 1440);
    let d1 = [day("2026-07-14", Level::Orange, 22.3)];
    let raised = state.step(&d1, noon(0), &timing, &mut id).unwrap();
    assert_eq!((raised.change.clone(), raised.level), (Change::Raised, Level::Orange));
    // The same day evaluated again (an hour later, as readings arrive): nothing new.
    assert_eq!(state.step(&d1, noon(0) + Duration::hours(1), &timing, &mut id), None);
    // A new day: one update saying so.
    let d2 = [day("2026-07-14", Level::Orange, 22.3), day("2026-07-15", Level::Orange, 22.9)];
    let update = state.step(&d2, noon(1), &timing, &mut id).unwrap();
    assert_eq!(update.change, Change::Updated { reasons: vec![UpdateReason::NewPeriod { period: "2026-07-15".into() }] });
    assert_eq!((update.seq, update.trend), (2, Trend::Rising));
    // An imported archive changes the 14th: a correction, in one update with nothing else.
    let corrected = [day("2026-07-14", Level::Orange, 22.6), day("2026-07-15", Level::Orange, 22.9)];
    let correction = state.step(&corrected, noon(1) + Duration::hours(2), &timing, &mut id).unwrap();
    assert_eq!(correction.change, Change::Updated { reasons: vec![UpdateReason::LateData { period: "2026-07-14".into() }] });
    assert_eq!(correction.seq, 3);
}

#[test]
fn late_data_that_withdraws_every_raising_period_retracts_the_alert() {
    let timing = Timing { raise_after_s: 0, clear_after_s: 24 * 3600, absent_after_s: 4 * 86400, valid_for_s: 2 * 86400 };
    let mut state = AreaState::default();
    let raised = state.step(&[day("2026-07-14", Level::Orange, 21.2)], t(0), &timing, || "alr_x".into()).unwrap();
    assert_eq!(raised.change, Change::Raised);
    // A sensor's late readings lower the day's Tn under the threshold (and its clear margin).
    let event = state.step(&[day("2026-07-14", Level::Green, 20.1)], t(60), &timing, || unreachable!()).unwrap();
    assert_eq!(event.change, Change::Cleared { reason: ClearReason::Retracted });
    assert_eq!((event.seq, event.previous_level, event.level), (2, Level::Orange, Level::Green));
    assert_eq!(state, AreaState::Quiet);
}

#[test]
fn the_state_survives_a_round_trip_through_json() {
    let mut state = AreaState::default();
    let mut events = Vec::new();
    run(&mut state, 0, &[Some(36.0); 7].iter().copied().chain([Some(30.0); 3]).collect::<Vec<_>>(), &mut events);
    assert!(matches!(state, AreaState::Active(ActiveAlert { below: Some(_), .. })));
    let json = serde_json::to_string(&state).unwrap();
    let back: AreaState = serde_json::from_str(&json).unwrap();
    assert_eq!(back, state);
}

/// Sensor health: the technicians' list changing is an update (who joined, who left); the list
/// emptying is not (the clear follows).
#[test]
fn a_change_in_the_listed_sensors_is_an_update() {
    let timing = Timing { raise_after_s: 0, clear_after_s: 1800, absent_after_s: 86_400, valid_for_s: 86_400 };
    let health = |sensors: &[&str]| {
        let level = if sensors.is_empty() { Level::Green } else { Level::Yellow };
        let members: Vec<String> = sensors.iter().map(|s| s.to_string()).collect();
        Observation { period: None, raise_level: level, hold_level: level, value: Some(sensors.len() as f64), evidence: serde_json::Value::Null, members: Some(members) }
    };
    let mut state = AreaState::default();
    let raised = state.step(&[health(&["a"])], t(0), &timing, || "alr".into()).unwrap();
    assert_eq!(raised.change, Change::Raised);
    assert!(state.step(&[health(&["a"])], t(5), &timing, || unreachable!()).is_none());
    let grown = state.step(&[health(&["a", "b", "c"])], t(10), &timing, || unreachable!()).unwrap();
    assert_eq!(grown.change, Change::Updated { reasons: vec![UpdateReason::SensorsChanged { added: vec!["b".into(), "c".into()], removed: vec![] }] });
    let fixed = state.step(&[health(&["b", "c"])], t(15), &timing, || unreachable!()).unwrap();
    assert_eq!(fixed.change, Change::Updated { reasons: vec![UpdateReason::SensorsChanged { added: vec![], removed: vec!["a".into()] }] });
    assert!(state.step(&[health(&[])], t(20), &timing, || unreachable!()).is_none(), "the list emptying waits for the clear");
    let cleared = state.step(&[health(&[])], t(50), &timing, || unreachable!()).unwrap();
    assert_eq!(cleared.change, Change::Cleared { reason: ClearReason::BelowThreshold });
}
