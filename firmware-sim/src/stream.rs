//! `MessageStream`: the lazy generator behind [`crate::Fleet::messages`].
//!
//! Steps are visited in time order and, within a step, sensors in id order. What a sensor
//! measures (temperature, humidity, battery, sequence number, spikes) is a function of the
//! seed, the sensor and the measurement time alone, never of where the run started: a restarted
//! demo or simulator resends the same readings (duplicates, not conflicts). How readings travel
//! (duplicates, reordering, malformed messages, uplink loss) and the stuck episodes are drawn
//! per run, from a separate random stream, so turning faults on changes how readings travel,
//! not what the sensors measure.

use std::collections::VecDeque;

use chrono::{DateTime, TimeDelta, Utc};
use rand::{Rng, SeedableRng, rngs::SmallRng};

use crate::climate::{SensorNoise, instant_rng, standard_normal};
use crate::faults::MALFORMED_KINDS;
use crate::fleet::SensorPlan;
use crate::{Anomalies, Anomaly, FLAT_BATTERY_V, Fleet, MessageKind, ReadingPayload, SimMessage};

/// Standard deviation of the humidity measurement noise, %RH.
const HUMIDITY_NOISE_PCT: f64 = 0.5;
/// Battery: starts between these voltages when changed, loses a little every day, plus ADC
/// noise; each sensor's battery is changed every [`BATTERY_LIFE_DAYS`], on its own day.
const BATTERY_START_V: std::ops::Range<f64> = 3.58..3.68;
const BATTERY_DRAIN_V_PER_DAY: f64 = 0.002;
const BATTERY_LIFE_DAYS: f64 = 80.0;
const BATTERY_NOISE_V: f64 = 0.002;
/// Spikes add this much to one temperature, K.
const SPIKE_C: std::ops::RangeInclusive<f64> = 8.0..=15.0;

pub struct MessageStream<'a> {
    fleet: &'a Fleet,
    sensors: Vec<SensorState>,
    step: u64,
    next_sensor: usize,
    queue: VecDeque<SimMessage>,
    finished: bool,
}

struct SensorState {
    /// Seed of what the sensor measures ([`crate::fleet::SensorPlan::value_seed`]).
    value_seed: u64,
    faults: SmallRng,
    noise: SensorNoise,
    /// Sequence number at the Unix epoch: it counts measurement steps from there.
    seq_offset: u64,
    battery_start_v: f64,
    /// Day (counted from the Unix epoch, modulo the battery life) the battery is changed.
    battery_change_day: f64,
    frozen: Option<(f64, f64)>,
    held: Option<SimMessage>,
    backlog: Vec<ReadingPayload>,
    backlog_anomalies: Anomalies,
    offline_steps_left: u32,
}

impl<'a> MessageStream<'a> {
    pub(crate) fn new(fleet: &'a Fleet) -> MessageStream<'a> {
        let sensors = fleet
            .plans
            .iter()
            .map(|plan| {
                let mut constants = SmallRng::seed_from_u64(plan.value_seed);
                SensorState {
                    value_seed: plan.value_seed,
                    noise: SensorNoise::new(plan.value_seed, fleet.config.cadence_s, fleet.config.noise_sigma_c),
                    seq_offset: constants.random_range(0..100_000),
                    battery_start_v: constants.random_range(BATTERY_START_V),
                    battery_change_day: constants.random_range(0.0..BATTERY_LIFE_DAYS),
                    faults: SmallRng::seed_from_u64(plan.fault_seed),
                    frozen: None,
                    held: None,
                    backlog: Vec::new(),
                    backlog_anomalies: Anomalies::default(),
                    offline_steps_left: 0,
                }
            })
            .collect();
        MessageStream {
            fleet,
            sensors,
            step: 0,
            next_sensor: 0,
            queue: VecDeque::new(),
            finished: false,
        }
    }

    /// Publish time of sensor `i` for step `step`: sensors are spread evenly over the cadence.
    fn publish_time(&self, i: usize, step: u64) -> DateTime<Utc> {
        let cadence_ms = i64::from(self.fleet.config.cadence_s) * 1000;
        let delay_ms = cadence_ms * i as i64 / self.sensors.len() as i64;
        self.fleet.measurement_time(step) + TimeDelta::milliseconds(delay_ms)
    }

    fn advance(&mut self) {
        if self
            .fleet
            .config
            .readings_per_sensor
            .is_some_and(|n| self.step >= n)
        {
            self.flush();
            self.finished = true;
            return;
        }
        self.visit(self.next_sensor, self.step);
        self.next_sensor += 1;
        if self.next_sensor == self.sensors.len() {
            self.next_sensor = 0;
            self.step += 1;
        }
    }

    /// Sensor `i` measures at step `step` and publishes what its fault state lets through.
    fn visit(&mut self, i: usize, step: u64) {
        let fleet = self.fleet;
        let faults = &fleet.config.faults;
        let plan = &fleet.plans[i];
        let sim_time = self.publish_time(i, step);
        if let Some(from) = plan.silent_from.filter(|from| step >= *from) {
            // The gateway dies: what the sensor still held goes out first, then nothing.
            if step == from {
                self.release(i, sim_time);
            }
            return;
        }
        let state = &mut self.sensors[i];
        let (reading, anomalies) = state.measure(fleet, i, step);

        if state.offline_steps_left > 0 {
            state.offline_steps_left -= 1;
            state.buffer(reading, anomalies);
            return;
        }
        let settled = state.backlog.is_empty() && state.held.is_none();
        if settled && faults.offline_rate > 0.0 && state.faults.random_bool(faults.offline_rate) {
            state.offline_steps_left = faults.offline_steps - 1;
            state.buffer(reading, anomalies);
            return;
        }
        let malformed = (faults.malformed_rate > 0.0
            && state.faults.random_bool(faults.malformed_rate))
        .then(|| MALFORMED_KINDS[state.faults.random_range(0..MALFORMED_KINDS.len())])
        .map(|kind| {
            message(
                plan,
                kind.body(&reading),
                sim_time,
                MessageKind::Malformed(kind),
                Anomalies::default(),
            )
        });

        if !state.backlog.is_empty() {
            state.buffer(reading, anomalies);
            let backlog = state.take_backlog(plan, sim_time);
            self.emit_primary(i, backlog);
        } else {
            let current = message(
                plan,
                reading.to_json(),
                sim_time,
                MessageKind::Reading,
                anomalies,
            );
            if let Some(mut held) = state.held.take() {
                held.sim_time = sim_time;
                held.anomalies.insert(Anomaly::OutOfOrder);
                self.emit_primary(i, current);
                self.queue.push_back(held);
            } else if faults.out_of_order_rate > 0.0
                && state.faults.random_bool(faults.out_of_order_rate)
            {
                state.held = Some(current);
            } else {
                self.emit_primary(i, current);
            }
        }
        self.queue.extend(malformed);
    }

    /// Queue a sensor's message of this step, and its duplicate when the dice say so.
    fn emit_primary(&mut self, i: usize, message: SimMessage) {
        let rate = self.fleet.config.faults.duplicate_rate;
        let duplicate =
            (rate > 0.0 && self.sensors[i].faults.random_bool(rate)).then(|| SimMessage {
                kind: MessageKind::Duplicate,
                ..message.clone()
            });
        self.queue.push_back(message);
        self.queue.extend(duplicate);
    }

    /// End of a bounded run: whatever sensors still hold is sent, so no reading is lost.
    fn flush(&mut self) {
        let Some(end_step) = self.fleet.config.readings_per_sensor else {
            return;
        };
        for i in 0..self.sensors.len() {
            self.release(i, self.publish_time(i, end_step));
        }
    }

    /// Send what sensor `i` still holds, at `sim_time` (a reading held for reordering goes out
    /// in order, nothing newer having been sent).
    fn release(&mut self, i: usize, sim_time: DateTime<Utc>) {
        let plan = &self.fleet.plans[i];
        let state = &mut self.sensors[i];
        if let Some(mut held) = state.held.take() {
            held.sim_time = sim_time;
            self.queue.push_back(held);
        }
        if !state.backlog.is_empty() {
            let backlog = state.take_backlog(plan, sim_time);
            self.queue.push_back(backlog);
        }
    }
}

impl Iterator for MessageStream<'_> {
    type Item = SimMessage;

    fn next(&mut self) -> Option<SimMessage> {
        loop {
            if let Some(message) = self.queue.pop_front() {
                return Some(message);
            }
            if self.finished {
                return None;
            }
            self.advance();
        }
    }
}

impl SensorState {
    /// One measurement of sensor `i` at step `step`, with its value and clock faults.
    fn measure(&mut self, fleet: &Fleet, i: usize, step: u64) -> (ReadingPayload, Anomalies) {
        let sensor = &fleet.sensors()[i];
        let plan = &fleet.plans[i];
        let config = &fleet.config;
        let t = fleet.measurement_time(step);

        let mut temperature = fleet.climate.temperature_c(sensor, t) + self.noise.at(t);
        let mut instant = instant_rng(self.value_seed, t.timestamp());
        let mut humidity = fleet.climate.humidity_pct(temperature, t) + HUMIDITY_NOISE_PCT * standard_normal(&mut instant);
        let battery_age_days = (t.timestamp() as f64 / 86_400.0 - self.battery_change_day).rem_euclid(BATTERY_LIFE_DAYS);
        let charged = match plan.flat_battery_from {
            Some(from) if step >= from => FLAT_BATTERY_V,
            _ => self.battery_start_v - BATTERY_DRAIN_V_PER_DAY * battery_age_days,
        };
        let battery = charged + BATTERY_NOISE_V * standard_normal(&mut instant);
        let seq = self.seq_offset + (t.timestamp() / i64::from(config.cadence_s)).max(0) as u64;
        // Spikes too are a property of the instant (a fault of the measurement, not of travel).
        let spike = config.faults.spike_rate > 0.0 && instant.random_bool(config.faults.spike_rate);

        let mut anomalies = Anomalies::default();
        match plan.stuck {
            Some(stuck) if step == stuck.first_step => self.frozen = Some((temperature, humidity)),
            Some(stuck) if step > stuck.first_step && step < stuck.end_step => {
                (temperature, humidity) = self.frozen.unwrap_or((temperature, humidity));
                anomalies.insert(Anomaly::Stuck);
            }
            _ if spike => {
                temperature += instant.random_range(SPIKE_C);
                anomalies.insert(Anomaly::Spike);
            }
            _ => {}
        }
        if !plan.clock_skew.is_zero() {
            anomalies.insert(Anomaly::ClockSkew);
        }
        let reading = ReadingPayload::rounded(
            &sensor.id,
            t + plan.clock_skew,
            temperature,
            humidity.clamp(5.0, 100.0),
            battery.max(3.0),
            seq,
        );
        (reading, anomalies)
    }

    fn buffer(&mut self, reading: ReadingPayload, anomalies: Anomalies) {
        self.backlog.push(reading);
        self.backlog_anomalies = self.backlog_anomalies.union(anomalies);
    }

    fn take_backlog(&mut self, plan: &SensorPlan, sim_time: DateTime<Utc>) -> SimMessage {
        let readings = std::mem::take(&mut self.backlog);
        let anomalies = std::mem::take(&mut self.backlog_anomalies);
        let kind = MessageKind::Backlog(readings.len() as u32);
        message(
            plan,
            ReadingPayload::array_to_json(&readings),
            sim_time,
            kind,
            anomalies,
        )
    }
}

fn message(
    plan: &SensorPlan,
    payload: Vec<u8>,
    sim_time: DateTime<Utc>,
    kind: MessageKind,
    anomalies: Anomalies,
) -> SimMessage {
    SimMessage {
        topic: plan.topic.clone(),
        payload,
        sim_time,
        kind,
        anomalies,
    }
}
