//! Tests of the message stream: determinism, exact counts, faults, physics.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, TimeDelta, TimeZone, Utc};

use crate::climate::{NOISE_SIGMA_C, solar_hour};
use crate::{
    Anomaly, FLAT_BATTERY_V, FailureConfig, FaultConfig, Fleet, MalformedKind, MessageKind, ReadingPayload, Scenario, SensorRole,
    SimConfig, SimMessage,
};

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 7, 1, 0, 0, 0).unwrap()
}

fn config(sensors: usize, readings: u64) -> SimConfig {
    SimConfig {
        sensors,
        readings_per_sensor: Some(readings),
        start: start(),
        seed: 42,
        ..SimConfig::default()
    }
}

fn all_faults() -> FaultConfig {
    FaultConfig {
        duplicate_rate: 0.02,
        out_of_order_rate: 0.02,
        malformed_rate: 0.02,
        stuck_sensors: 2,
        spike_rate: 0.01,
        clock_skew_sensors: 2,
        clock_skew_s: 7200,
        offline_rate: 0.005,
        offline_steps: 6,
        failures: FailureConfig::default(),
    }
}

fn messages(config: SimConfig) -> Vec<SimMessage> {
    Fleet::new(config).unwrap().messages().collect()
}

/// Every valid reading of a stream, by (sensor, ts).
fn readings_by_key(messages: &[SimMessage]) -> BTreeMap<(String, DateTime<Utc>), ReadingPayload> {
    messages
        .iter()
        .filter(|m| !matches!(m.kind, MessageKind::Malformed(_)))
        .flat_map(|m| m.readings().unwrap())
        .map(|r| ((r.sensor.clone(), r.ts), r))
        .collect()
}

#[test]
fn same_seed_same_stream_other_seed_other_values() {
    let faulty = |seed| SimConfig {
        seed,
        faults: all_faults(),
        ..config(10, 300)
    };
    assert_eq!(messages(faulty(1)), messages(faulty(1)));
    let (a, b) = (
        messages(config(10, 50)),
        messages(SimConfig {
            seed: 43,
            ..config(10, 50)
        }),
    );
    assert_eq!(a.len(), b.len());
    assert_ne!(a, b);
    let fleet = |seed| {
        Fleet::new(SimConfig {
            seed,
            ..config(10, 1)
        })
        .unwrap()
        .sensors()
        .to_vec()
    };
    assert_eq!(fleet(5), fleet(5));
    assert_ne!(fleet(5), fleet(6));
}

#[test]
fn without_faults_every_reading_is_sent_once_in_order() {
    let fleet = Fleet::new(config(12, 50)).unwrap();
    let stream: Vec<SimMessage> = fleet.messages().collect();
    assert_eq!(fleet.expected_distinct_readings(), Some(600));
    assert_eq!(stream.len(), 600);
    assert!(
        stream
            .iter()
            .all(|m| m.kind == MessageKind::Reading && m.anomalies.is_empty())
    );
    assert!(stream.windows(2).all(|w| w[0].sim_time <= w[1].sim_time));

    let mut last_seq: HashMap<String, u64> = HashMap::new();
    for (i, message) in stream.iter().enumerate() {
        let (step, sensor) = ((i / 12) as u64, &fleet.sensors()[i % 12]);
        let reading = &message.readings().unwrap()[0];
        assert_eq!(
            message.topic,
            format!("ilot/toulouse/{}/reading", sensor.id)
        );
        assert_eq!(reading.sensor, sensor.id);
        assert_eq!(reading.ts, fleet.measurement_time(step));
        assert_eq!(reading.ts, start() + TimeDelta::minutes(5 * step as i64));
        assert!(
            message.sim_time >= reading.ts && message.sim_time < reading.ts + TimeDelta::minutes(5)
        );
        if let Some(previous) = last_seq.insert(reading.sensor.clone(), reading.seq) {
            assert_eq!(reading.seq, previous + 1);
        }
        for (value, scale) in [
            (reading.temperature_c, 100.0),
            (reading.humidity_pct, 10.0),
            (reading.battery_v, 1000.0),
        ] {
            assert_eq!(
                (value * scale).round() / scale,
                value,
                "{value} not at the published resolution"
            );
        }
    }
    assert_eq!(readings_by_key(&stream).len(), 600);
}

#[test]
fn unbounded_streams_are_lazy() {
    let fleet = Fleet::new(SimConfig {
        sensors: 10_000,
        readings_per_sensor: None,
        start: start(),
        ..SimConfig::default()
    })
    .unwrap();
    assert_eq!(fleet.expected_distinct_readings(), None);
    let third_step = fleet.messages().nth(25_000).unwrap();
    assert_eq!(
        third_step.readings().unwrap()[0].ts,
        start() + TimeDelta::minutes(10)
    );
}

#[test]
fn every_fault_kind_appears_and_the_distinct_count_stays_exact() {
    let fleet = Fleet::new(SimConfig {
        faults: all_faults(),
        ..config(20, 300)
    })
    .unwrap();
    let stream: Vec<SimMessage> = fleet.messages().collect();
    assert!(stream.windows(2).all(|w| w[0].sim_time <= w[1].sim_time));
    assert_eq!(
        readings_by_key(&stream).len() as u64,
        fleet.expected_distinct_readings().unwrap()
    );

    let kinds: HashSet<MessageKind> = stream.iter().map(|m| m.kind).collect();
    assert!(kinds.contains(&MessageKind::Reading) && kinds.contains(&MessageKind::Duplicate));
    assert!(
        kinds
            .iter()
            .any(|k| matches!(k, MessageKind::Backlog(n) if *n == 7)),
        "a full backlog is 6 + 1 readings"
    );
    let malformed: HashSet<MalformedKind> = stream
        .iter()
        .filter_map(|m| {
            if let MessageKind::Malformed(k) = m.kind {
                Some(k)
            } else {
                None
            }
        })
        .collect();
    assert_eq!(malformed.len(), 7, "{malformed:?}");
    for anomaly in [
        Anomaly::OutOfOrder,
        Anomaly::Stuck,
        Anomaly::Spike,
        Anomaly::ClockSkew,
    ] {
        assert!(
            stream.iter().any(|m| m.anomalies.contains(anomaly)),
            "{anomaly:?} never happened"
        );
    }

    for (i, message) in stream.iter().enumerate() {
        match message.kind {
            MessageKind::Duplicate => {
                assert_eq!(
                    (&stream[i - 1].topic, &stream[i - 1].payload),
                    (&message.topic, &message.payload)
                );
            }
            MessageKind::Malformed(_) => assert!(message.readings().is_err()),
            MessageKind::Backlog(n) => {
                let readings = message.readings().unwrap();
                assert_eq!(readings.len(), n as usize);
                assert!(readings.windows(2).all(|w| w[1].seq == w[0].seq + 1));
            }
            MessageKind::Reading => assert_eq!(message.readings().unwrap().len(), 1),
        }
    }

    // An out-of-order reading arrives right after the sensor's next one.
    let mut last_ts: HashMap<String, DateTime<Utc>> = HashMap::new();
    let mut late = 0;
    for message in stream.iter().filter(|m| m.kind == MessageKind::Reading) {
        let reading = &message.readings().unwrap()[0];
        if let Some(previous) = last_ts.insert(reading.sensor.clone(), reading.ts) {
            let swapped = reading.ts < previous;
            assert_eq!(
                swapped,
                message.anomalies.contains(Anomaly::OutOfOrder),
                "{reading:?}"
            );
            late += usize::from(swapped);
        }
    }
    assert!(late > 0);
}

#[test]
fn transport_faults_do_not_change_what_sensors_measure() {
    let transport = FaultConfig {
        duplicate_rate: 0.05,
        out_of_order_rate: 0.05,
        malformed_rate: 0.05,
        offline_rate: 0.01,
        offline_steps: 12,
        ..FaultConfig::default()
    };
    let clean = readings_by_key(&messages(config(15, 400)));
    let faulty = readings_by_key(&messages(SimConfig {
        faults: transport,
        ..config(15, 400)
    }));
    assert_eq!(clean, faulty);
}

#[test]
fn value_faults_change_exactly_what_they_should() {
    let clean = readings_by_key(&messages(config(10, 288)));

    let spikes = messages(SimConfig {
        faults: FaultConfig {
            spike_rate: 0.02,
            ..FaultConfig::default()
        },
        ..config(10, 288)
    });
    let mut spiked = 0;
    for message in &spikes {
        let reading = &message.readings().unwrap()[0];
        let diff =
            reading.temperature_c - clean[&(reading.sensor.clone(), reading.ts)].temperature_c;
        if message.anomalies.contains(Anomaly::Spike) {
            assert!((7.99..=15.01).contains(&diff), "{diff}");
            spiked += 1;
        } else {
            assert_eq!(diff, 0.0);
        }
    }
    assert!(spiked > 20);

    let skew = FaultConfig {
        clock_skew_sensors: 3,
        clock_skew_s: -90,
        ..FaultConfig::default()
    };
    let skewed = messages(SimConfig {
        faults: skew,
        ..config(10, 288)
    });
    let shifted: HashSet<String> = skewed
        .iter()
        .filter(|m| m.anomalies.contains(Anomaly::ClockSkew))
        .map(|m| {
            let reading = &m.readings().unwrap()[0];
            let original = &clean[&(reading.sensor.clone(), reading.ts + TimeDelta::seconds(90))];
            assert_eq!(
                (reading.temperature_c, reading.seq),
                (original.temperature_c, original.seq)
            );
            reading.sensor.clone()
        })
        .collect();
    assert_eq!(shifted.len(), 3);
    assert_eq!(
        skewed
            .iter()
            .filter(|m| m.anomalies.contains(Anomaly::ClockSkew))
            .count(),
        3 * 288
    );

    let stuck = messages(SimConfig {
        faults: FaultConfig {
            stuck_sensors: 2,
            ..FaultConfig::default()
        },
        ..config(10, 288)
    });
    let mut frozen_runs: HashMap<String, Vec<(f64, f64)>> = HashMap::new();
    for message in stuck
        .iter()
        .filter(|m| m.anomalies.contains(Anomaly::Stuck))
    {
        let reading = &message.readings().unwrap()[0];
        frozen_runs
            .entry(reading.sensor.clone())
            .or_default()
            .push((reading.temperature_c, reading.humidity_pct));
    }
    assert_eq!(frozen_runs.len(), 2);
    for values in frozen_runs.values() {
        assert!(values.len() >= 3 * 12, "frozen for at least three hours after the reading it froze at");
        assert!(values.windows(2).all(|w| w[0] == w[1]));
    }
}

#[test]
fn readings_follow_the_climate_model() {
    let fleet = Fleet::new(config(40, 288)).unwrap();
    let ids: HashMap<&str, usize> = fleet
        .sensors()
        .iter()
        .enumerate()
        .map(|(i, s)| (s.id.as_str(), i))
        .collect();
    let (mut sum, mut count) = (0.0, 0.0);
    let mut night_uhi = Vec::new();
    let mut day_uhi = Vec::new();
    for message in fleet.messages() {
        let reading = &message.readings().unwrap()[0];
        let sensor = &fleet.sensors()[ids[reading.sensor.as_str()]];
        let residual = reading.temperature_c - fleet.climate().temperature_c(sensor, reading.ts);
        assert!(residual.abs() < 6.0 * NOISE_SIGMA_C + 0.01, "{residual}");
        sum += residual;
        count += 1.0;
        assert!((5.0..=100.0).contains(&reading.humidity_pct));
        assert!((3.4..=3.7).contains(&reading.battery_v));
        if sensor.role == SensorRole::Urban {
            let uhi = reading.temperature_c - fleet.climate().background_c(reading.ts);
            let hour = solar_hour(reading.ts, sensor.lon);
            if !(5.0..22.0).contains(&hour) {
                night_uhi.push(uhi - sensor.urban_offset_night_c);
            } else if (10.0..16.0).contains(&hour) {
                day_uhi.push(uhi - sensor.urban_offset_day_c);
            }
        }
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    assert!(
        (sum / count).abs() < 0.02,
        "noise is centred: {}",
        sum / count
    );
    assert!(
        mean(&night_uhi).abs() < 0.03 && mean(&day_uhi).abs() < 0.03,
        "{} {}",
        mean(&night_uhi),
        mean(&day_uhi)
    );
}

#[test]
fn humidity_falls_when_it_warms_and_the_battery_drains() {
    let fleet = Fleet::new(config(1, 10 * 288)).unwrap();
    let readings: Vec<ReadingPayload> = fleet
        .messages()
        .flat_map(|m| m.readings().unwrap())
        .collect();
    let day: Vec<&ReadingPayload> = readings.iter().take(288).collect();
    let n = day.len() as f64;
    let (mt, mh) = (
        day.iter().map(|r| r.temperature_c).sum::<f64>() / n,
        day.iter().map(|r| r.humidity_pct).sum::<f64>() / n,
    );
    let cov: f64 = day
        .iter()
        .map(|r| (r.temperature_c - mt) * (r.humidity_pct - mh))
        .sum();
    let (vt, vh): (f64, f64) = (
        day.iter().map(|r| (r.temperature_c - mt).powi(2)).sum(),
        day.iter().map(|r| (r.humidity_pct - mh).powi(2)).sum(),
    );
    assert!(
        cov / (vt * vh).sqrt() < -0.8,
        "correlation {}",
        cov / (vt * vh).sqrt()
    );
    // 2 mV a day, apart from the day its battery is changed (every 80 days, at most once here).
    let daily: Vec<f64> = (0..10).map(|d| readings[d * 288..(d + 1) * 288].iter().map(|r| r.battery_v).sum::<f64>() / 288.0).collect();
    let drops: Vec<f64> = daily.windows(2).map(|w| w[0] - w[1]).collect();
    assert!(drops.iter().filter(|d| (0.001..0.003).contains(*d)).count() >= drops.len() - 1, "{drops:?}");
}

#[test]
fn a_restarted_run_measures_again_what_it_measured_before() {
    // A run started 1 day and 7 steps later, with all faults: every reading both runs carry
    // has the same values (what the service will call a duplicate, never a conflict).
    let first = Fleet::new(SimConfig { faults: FaultConfig { stuck_sensors: 0, ..all_faults() }, ..config(12, 3 * 288) }).unwrap();
    let later = Fleet::new(SimConfig { start: start() + TimeDelta::seconds(300 * (288 + 7)), ..first.config().clone() }).unwrap();
    let by_key = |fleet: &Fleet| -> HashMap<(String, DateTime<Utc>), ReadingPayload> {
        fleet.messages().filter_map(|m| m.readings().ok()).flatten().map(|r| ((r.sensor.clone(), r.ts), r)).collect()
    };
    let (a, b) = (by_key(&first), by_key(&later));
    let common: Vec<_> = b.keys().filter(|k| a.contains_key(*k)).collect();
    assert_eq!(common.len(), 12 * (2 * 288 - 7));
    for key in common {
        assert_eq!(a[key], b[key], "{key:?}");
    }
    // Another seed measures something else.
    let other = Fleet::new(SimConfig { seed: 43, ..first.config().clone() }).unwrap();
    let c = by_key(&other);
    assert!(a.iter().filter(|(k, r)| c.get(*k).is_some_and(|o| o.temperature_c != r.temperature_c)).count() > a.len() / 2);
}

#[test]
fn a_heat_wave_warms_everyone_and_urban_nights_most() {
    let extra_c = 6.0;
    let heat_wave = Scenario::HeatWave {
        start_day: 1,
        days: 2,
        extra_c,
    };
    let normal = Fleet::new(config(20, 4 * 288)).unwrap();
    let hot = Fleet::new(SimConfig {
        scenario: heat_wave,
        ..config(20, 4 * 288)
    })
    .unwrap();
    let normal_readings = readings_by_key(&normal.messages().collect::<Vec<_>>());
    let ids: HashMap<&str, usize> = hot
        .sensors()
        .iter()
        .enumerate()
        .map(|(i, s)| (s.id.as_str(), i))
        .collect();
    let mut checked = 0;
    for ((id, ts), reading) in readings_by_key(&hot.messages().collect::<Vec<_>>()) {
        let sensor = &hot.sensors()[ids[id.as_str()]];
        let difference = reading.temperature_c - normal_readings[&(id, ts)].temperature_c;
        let expected = extra_c * hot.climate().heat_wave_factor(ts)
            + hot.climate().urban_offset_c(sensor, ts)
            - sensor.urban_offset_at(ts);
        assert!(
            (difference - expected).abs() < 0.011,
            "{difference} vs {expected}"
        );
        let inside = ts >= start() + TimeDelta::days(1) && ts < start() + TimeDelta::days(3);
        if inside
            && sensor.role == SensorRole::Urban
            && (0.0..4.0).contains(&solar_hour(ts, sensor.lon))
        {
            assert!(
                difference > extra_c + 0.4,
                "urban nights warm most: {difference}"
            );
            checked += 1;
        }
        if sensor.role == SensorRole::RuralReference {
            assert!((hot.climate().urban_offset_c(sensor, ts)).abs() < 1e-12);
        }
    }
    assert!(checked > 100);
}

#[test]
fn steady_uhi_holds_the_night_offset_around_the_clock_and_noise_is_configurable() {
    let steady = Fleet::new(SimConfig {
        steady_uhi: true,
        noise_sigma_c: 0.02,
        ..config(20, 288)
    })
    .unwrap();
    let ids: HashMap<&str, usize> = steady
        .sensors()
        .iter()
        .enumerate()
        .map(|(i, s)| (s.id.as_str(), i))
        .collect();
    let mut residuals = Vec::new();
    for message in steady.messages() {
        let reading = &message.readings().unwrap()[0];
        let sensor = &steady.sensors()[ids[reading.sensor.as_str()]];
        assert_eq!(
            steady.climate().urban_offset_c(sensor, reading.ts),
            sensor.urban_offset_night_c
        );
        residuals.push(
            reading.temperature_c
                - steady.climate().background_c(reading.ts)
                - sensor.urban_offset_night_c,
        );
    }
    let n = residuals.len() as f64;
    let mean = residuals.iter().sum::<f64>() / n;
    let sd = (residuals.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / n).sqrt();
    assert!(mean.abs() < 0.005, "{mean}");
    assert!((0.01..0.03).contains(&sd), "noise σ ≈ 0.02 K: {sd}");
    // Defaults unchanged: the offset follows its diurnal cycle.
    let cycling = Fleet::new(config(20, 1)).unwrap();
    let noon = Utc.with_ymd_and_hms(2025, 7, 1, 12, 0, 0).unwrap();
    let urban = &cycling.sensors()[0];
    assert_eq!(
        cycling.climate().urban_offset_c(urban, noon),
        urban.urban_offset_day_c
    );
}

#[test]
fn failures_last_to_the_end_and_the_count_leaves_out_a_dead_gateway() {
    let failing = SimConfig {
        faults: FaultConfig {
            offline_rate: 0.05,
            offline_steps: 4,
            failures: FailureConfig { after_steps: 30, dead_gateway_sensors: 2, stuck_sensors: 1, flat_battery_sensors: 1 },
            ..FaultConfig::default()
        },
        ..config(10, 60)
    };
    let fleet = Fleet::new(failing).unwrap();
    let messages: Vec<_> = fleet.messages().collect();
    let readings = readings_by_key(&messages);
    assert_eq!(Some(readings.len() as u64), fleet.expected_distinct_readings());
    assert_eq!(fleet.expected_distinct_readings(), Some(8 * 60 + 2 * 30));
    let ids: Vec<String> = fleet.sensors().iter().map(|s| s.id.clone()).collect();
    let of = |sensor: &str| readings.values().filter(|r| r.sensor == sensor).cloned().collect::<Vec<_>>();
    let cutoff = fleet.measurement_time(30);
    for dead in &ids[0..2] {
        let mine = of(dead);
        assert_eq!(mine.len(), 30, "{dead}: every reading before the gateway died, none after");
        assert!(mine.iter().all(|r| r.ts < cutoff));
    }
    let stuck = of(&ids[2]);
    let frozen: HashSet<_> = stuck.iter().filter(|r| r.ts >= cutoff).map(|r| (r.temperature_c.to_bits(), r.humidity_pct.to_bits())).collect();
    assert_eq!(frozen.len(), 1, "frozen from step 30 to the end");
    let flat = of(&ids[3]);
    assert!(flat.iter().filter(|r| r.ts >= cutoff).all(|r| (r.battery_v - FLAT_BATTERY_V).abs() < 0.02));
    assert!(flat.iter().filter(|r| r.ts < cutoff).all(|r| r.battery_v > 3.4));
    // Rural references never fail: the last sensor reports to the end on a good battery.
    let reference = of(ids.last().unwrap());
    assert_eq!(reference.len(), 60);
    assert!(reference.iter().all(|r| r.battery_v > 3.4));
}
