//! `Fleet`: a deterministic simulated sensor network (layout, per-sensor fault plan) and the
//! messages it publishes.

use chrono::{DateTime, TimeDelta, Utc};
use rand::{Rng, SeedableRng, rngs::SmallRng, seq::index};

use crate::payload::reading_topic;
use crate::sensor::layout;
use crate::stream::MessageStream;
use crate::{Anomalies, Climate, MalformedKind, ReadingPayload, SimConfig, SimError, SimSensor};

/// One MQTT message of the simulated fleet.
#[derive(Debug, Clone, PartialEq)]
pub struct SimMessage {
    pub topic: String,
    pub payload: Vec<u8>,
    /// Simulated time at which the sensor publishes (non-decreasing along the stream). Sensors
    /// are spread evenly over the cadence, so it is the measurement step time plus a per-sensor
    /// delay; a held-back or backlog message carries the time it is finally sent.
    pub sim_time: DateTime<Utc>,
    pub kind: MessageKind,
    pub anomalies: Anomalies,
}

impl SimMessage {
    /// The readings of the payload (one, or several for a backlog); an error for malformed ones.
    pub fn readings(&self) -> Result<Vec<ReadingPayload>, serde_json::Error> {
        ReadingPayload::decode(&self.payload)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// One reading, published when measured (or one step later if out of order).
    Reading,
    /// A JSON array of this many readings, uploaded when a sensor comes back online.
    Backlog(u32),
    /// Byte-for-byte copy of the previous message.
    Duplicate,
    /// An extra, undecodable message on the sensor's topic.
    Malformed(MalformedKind),
}

/// Stuck period of a sensor: values frozen at step `first_step`'s until `end_step` (excluded):
/// one run of identical values, from the reading the sensor froze at (`first_step`, not marked
/// `Stuck`) to its last `Stuck` reading.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StuckEpisode {
    pub(crate) first_step: u64,
    pub(crate) end_step: u64,
}

/// What the stream needs per sensor, fixed when the fleet is built.
#[derive(Debug, Clone)]
pub(crate) struct SensorPlan {
    pub(crate) topic: String,
    pub(crate) stuck: Option<StuckEpisode>,
    pub(crate) clock_skew: TimeDelta,
    /// The step from which its gateway is dead (nothing more is published).
    pub(crate) silent_from: Option<u64>,
    /// The step from which its battery is spent.
    pub(crate) flat_battery_from: Option<u64>,
    /// Seed of the measurement noise: independent of every fault setting.
    pub(crate) value_seed: u64,
    /// Seed of the fault decisions.
    pub(crate) fault_seed: u64,
}

/// A frozen sensor's run of identical values lasts 3 to 6 hours (first to last reading): real
/// frozen sensors stay frozen for hours, and 3 hours is ilot's default persistence window.
const STUCK_HOURS: std::ops::RangeInclusive<u32> = 3..=6;

#[derive(Debug, Clone)]
pub struct Fleet {
    pub(crate) config: SimConfig,
    sensors: Vec<SimSensor>,
    pub(crate) climate: Climate,
    pub(crate) plans: Vec<SensorPlan>,
}

impl Fleet {
    /// Build the fleet: validates the configuration; the same configuration (seed included)
    /// always gives the same sensors and the same message stream.
    pub fn new(mut config: SimConfig) -> Result<Fleet, SimError> {
        let city = config.validate()?;
        config.start =
            DateTime::from_timestamp(config.start.timestamp(), 0).unwrap_or(config.start);
        let climate = Climate::new(city, config.scenario.clone(), config.start)
            .with_steady_uhi(config.steady_uhi);
        let mut rng = SmallRng::seed_from_u64(derive_seed(config.seed, 0, 0));
        let sensors = layout(city, config.sensors, &mut rng);

        let n = config.sensors;
        let faults = &config.faults;
        let mut stuck = vec![None; n];
        let steps_per_day = u64::from(86_400 / config.cadence_s).max(1);
        let horizon = config.readings_per_sensor.unwrap_or(steps_per_day).max(1);
        for i in index::sample(&mut rng, n, faults.stuck_sensors) {
            let first_step = rng.random_range(0..horizon.div_ceil(2));
            let hours = rng.random_range(STUCK_HOURS);
            // The `Stuck` readings after the one the sensor froze at.
            let steps = u64::from((hours * 3600).div_ceil(config.cadence_s)).max(2);
            stuck[i] = Some(StuckEpisode {
                first_step,
                end_step: first_step + 1 + steps,
            });
        }
        let mut clock_skew = vec![TimeDelta::zero(); n];
        for i in index::sample(&mut rng, n, faults.clock_skew_sensors) {
            clock_skew[i] = TimeDelta::seconds(faults.clock_skew_s);
        }
        // Equipment failures: the first urban sensors, in id order (references come last).
        let failures = &faults.failures;
        let (dead, frozen) = (failures.dead_gateway_sensors, failures.dead_gateway_sensors + failures.stuck_sensors);
        for slot in stuck.iter_mut().take(frozen).skip(dead) {
            *slot = Some(StuckEpisode { first_step: failures.after_steps, end_step: u64::MAX });
        }
        let failing = |i: usize, kinds: std::ops::Range<usize>| kinds.contains(&i).then_some(failures.after_steps);
        let network = config.network().to_owned();
        let plans = sensors
            .iter()
            .enumerate()
            .map(|(i, sensor)| SensorPlan {
                topic: reading_topic(&config.topic_prefix, &network, &sensor.id),
                stuck: stuck[i],
                clock_skew: clock_skew[i],
                silent_from: failing(i, 0..dead),
                flat_battery_from: failing(i, frozen..failures.failing_sensors()),
                value_seed: derive_seed(config.seed, 1, i as u64),
                fault_seed: derive_seed(config.seed, 2, i as u64),
            })
            .collect();
        Ok(Fleet {
            config,
            sensors,
            climate,
            plans,
        })
    }

    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    /// Network name used in topics.
    pub fn network(&self) -> &str {
        self.config.network()
    }

    pub fn sensors(&self) -> &[SimSensor] {
        &self.sensors
    }

    /// The temperature model: background, expected urban offsets and temperatures.
    pub fn climate(&self) -> &Climate {
        &self.climate
    }

    /// Nominal measurement time of step `step` (0-based): `start + step × cadence`.
    pub fn measurement_time(&self, step: u64) -> DateTime<Utc> {
        let seconds = i64::try_from(step.saturating_mul(u64::from(self.config.cadence_s)))
            .unwrap_or(i64::MAX);
        TimeDelta::try_seconds(seconds)
            .and_then(|offset| self.config.start.checked_add_signed(offset))
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }

    /// Deterministic message stream in publish order, faults included. Lazy: memory is
    /// O(sensors), whatever the length of the run.
    pub fn messages(&self) -> MessageStream<'_> {
        MessageStream::new(self)
    }

    /// Number of distinct valid readings (distinct `(sensor, ts)` keys) the stream carries:
    /// `sensors × readings_per_sensor` whatever the transport faults, since duplicates repeat a
    /// reading, malformed messages come in addition, out-of-order and offline readings are all
    /// sent (pending ones at the end of the run, or when a gateway dies) and skewed clocks stay
    /// distinct per sensor; less what a dead gateway's sensors measure after it died. `None`
    /// for an unbounded run.
    pub fn expected_distinct_readings(&self) -> Option<u64> {
        self.config.readings_per_sensor.map(|n| {
            self.plans.iter().map(|plan| plan.silent_from.map_or(n, |from| n.min(from))).sum()
        })
    }
}

/// Independent seed for stream `stream` of item `index` (SplitMix64 finaliser).
pub(crate) fn derive_seed(seed: u64, stream: u64, index: u64) -> u64 {
    let mix = |mut z: u64| {
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    mix(mix(seed ^ stream.wrapping_mul(0x9e37_79b9_7f4a_7c15)).wrapping_add(index))
}

#[cfg(test)]
mod tests;
