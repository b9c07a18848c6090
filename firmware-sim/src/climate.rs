//! Air-temperature and humidity model: seasonal cycle, diurnal cycle, heat-wave scenario, urban
//! offset and sensor noise.
//!
//! `T(sensor, t) = background(t) + urban_offset(sensor, t) + noise(sensor, t)`, where the
//! background is the same for every sensor of the city (what a rural LCZ D reference measures),
//! the urban offset is an exactly known function of the sensor and time (what a test expects as
//! UHI intensity) and the noise is a zero-mean AR(1) process.
//!
//! Times of day are local mean solar time (UTC + longitude / 15°), within ±40 min of what
//! Météo-France works in (UTC) for metropolitan France.

use std::f64::consts::PI;

use chrono::{DateTime, TimeDelta, Utc};
use rand::Rng;

use crate::{CityProfile, Scenario, SimSensor};

/// Stationary standard deviation of the per-sensor noise, K.
pub const NOISE_SIGMA_C: f64 = 0.15;
/// Lag-one autocorrelation of the noise between 5-minute samples.
const NOISE_PHI_5_MIN: f64 = 0.9;
/// During a heat wave urban offsets are multiplied by `1 + HEAT_WAVE_UHI_GAIN` (calm, clear
/// nights: Toulouse goes from ≈ 2 K to 4–5 K).
pub const HEAT_WAVE_UHI_GAIN: f64 = 0.5;
/// A heat wave ramps in over the 12 h before its first day and out over the 12 h after its last.
const HEAT_WAVE_RAMP_S: f64 = 12.0 * 3600.0;
/// Mid-January, the climatological coldest day, in days since 2000-01-01T00:00Z.
const COLDEST_DAY: f64 = 14.5;
const TROPICAL_YEAR_DAYS: f64 = 365.2422;
/// Dew-point depression below the daily mean temperature in January and July, K.
const WINTER_DEW_POINT_DEPRESSION_C: f64 = 3.0;
const SUMMER_DEW_POINT_DEPRESSION_C: f64 = 7.0;

/// Local mean solar time in hours, `[0, 24)`.
pub fn solar_hour(t: DateTime<Utc>, lon: f64) -> f64 {
    (t.timestamp_millis() as f64 / 3.6e6 + lon / 15.0).rem_euclid(24.0)
}

/// Diurnal temperature shape: −1 at 05:00 solar (minimum near sunrise), +1 at 15:00, warming in
/// 10 h and cooling in 14 h along half cosines (continuous, flat at both extremes).
pub fn diurnal_shape(solar_hour: f64) -> f64 {
    if (5.0..15.0).contains(&solar_hour) {
        -(PI * (solar_hour - 5.0) / 10.0).cos()
    } else {
        (PI * (solar_hour - 15.0).rem_euclid(24.0) / 14.0).cos()
    }
}

/// Weight of the nocturnal UHI, 0 by day and 1 at night: rises after 17:00 solar to its full
/// value at 22:00 (the city cools more slowly than the countryside after sunset), stays until
/// 05:00, fades by 09:00.
pub fn uhi_night_weight(solar_hour: f64) -> f64 {
    let smoothstep = |x: f64| x * x * (3.0 - 2.0 * x);
    match solar_hour {
        h if (9.0..17.0).contains(&h) => 0.0,
        h if (17.0..22.0).contains(&h) => smoothstep((h - 17.0) / 5.0),
        h if (5.0..9.0).contains(&h) => 1.0 - smoothstep((h - 5.0) / 4.0),
        _ => 1.0,
    }
}

/// Position in the seasonal cycle: 0 in mid-January, 1 in mid-July.
fn season(t: DateTime<Utc>) -> f64 {
    let days = (t.timestamp() - 946_684_800) as f64 / 86_400.0;
    (1.0 - (2.0 * PI * (days - COLDEST_DAY) / TROPICAL_YEAR_DAYS).cos()) / 2.0
}

/// Climate of one city under one scenario.
#[derive(Debug, Clone)]
pub struct Climate {
    city: &'static CityProfile,
    scenario: Scenario,
    /// Midnight UTC of the first simulated day: day 0 of the scenario.
    day_zero: DateTime<Utc>,
    /// Urban offsets at their night value around the clock ([`crate::SimConfig::steady_uhi`]).
    steady_uhi: bool,
}

impl Climate {
    pub fn new(city: &'static CityProfile, scenario: Scenario, start: DateTime<Utc>) -> Climate {
        let day_zero = start
            .date_naive()
            .and_time(chrono::NaiveTime::MIN)
            .and_utc();
        Climate {
            city,
            scenario,
            day_zero,
            steady_uhi: false,
        }
    }

    /// The same climate with urban offsets held at their clear-night value day and night
    /// (`true`), or following their diurnal cycle (`false`, the default).
    pub fn with_steady_uhi(mut self, steady: bool) -> Climate {
        self.steady_uhi = steady;
        self
    }

    pub fn city(&self) -> &'static CityProfile {
        self.city
    }

    /// How much of the heat wave is on at `t`: 0 outside, 1 during its days, linear ramps.
    pub fn heat_wave_factor(&self, t: DateTime<Utc>) -> f64 {
        let Scenario::HeatWave {
            start_day, days, ..
        } = self.scenario
        else {
            return 0.0;
        };
        let first = self.day_zero + TimeDelta::days(i64::from(start_day));
        let before_start = (first - t).as_seconds_f64();
        let after_end = (t - (first + TimeDelta::days(i64::from(days)))).as_seconds_f64();
        let outside = before_start.max(after_end);
        (1.0 - outside / HEAT_WAVE_RAMP_S).clamp(0.0, 1.0)
    }

    fn heat_wave_extra_c(&self, t: DateTime<Utc>) -> f64 {
        match self.scenario {
            Scenario::HeatWave { extra_c, .. } => extra_c * self.heat_wave_factor(t),
            Scenario::Normal => 0.0,
        }
    }

    /// Daily mean temperature without scenario: the seasonal cycle.
    fn daily_mean_c(&self, t: DateTime<Utc>) -> f64 {
        let city = self.city;
        city.winter_mean_c + (city.summer_mean_c - city.winter_mean_c) * season(t)
    }

    /// Noise-free temperature of a rural reference (LCZ D), scenario included, °C.
    pub fn background_c(&self, t: DateTime<Utc>) -> f64 {
        let city = self.city;
        let range = city.winter_diurnal_range_c
            + (city.summer_diurnal_range_c - city.winter_diurnal_range_c) * season(t);
        self.daily_mean_c(t)
            + range / 2.0 * diurnal_shape(solar_hour(t, city.lon))
            + self.heat_wave_extra_c(t)
    }

    /// Urban offset of `sensor` at `t` under the scenario: the UHI intensity a test expects
    /// against a rural reference. Equals [`SimSensor::urban_offset_at`] outside heat waves (and
    /// `urban_offset_night_c` at any hour with a steady UHI).
    pub fn urban_offset_c(&self, sensor: &SimSensor, t: DateTime<Utc>) -> f64 {
        let offset = if self.steady_uhi {
            sensor.urban_offset_night_c
        } else {
            sensor.urban_offset_at(t)
        };
        offset * (1.0 + HEAT_WAVE_UHI_GAIN * self.heat_wave_factor(t))
    }

    /// Noise-free, fault-free temperature of `sensor` at `t`, °C.
    pub fn temperature_c(&self, sensor: &SimSensor, t: DateTime<Utc>) -> f64 {
        self.background_c(t) + self.urban_offset_c(sensor, t)
    }

    /// Relative humidity for an air temperature, %: the air mass keeps a dew point a few kelvins
    /// below the daily mean (Magnus formula), so humidity falls as the air warms. Clamped 5–100.
    pub fn humidity_pct(&self, temperature_c: f64, t: DateTime<Utc>) -> f64 {
        let depression = WINTER_DEW_POINT_DEPRESSION_C
            + (SUMMER_DEW_POINT_DEPRESSION_C - WINTER_DEW_POINT_DEPRESSION_C) * season(t);
        let dew_point = self.daily_mean_c(t) - depression;
        let magnus = |c: f64| 17.625 * c / (243.04 + c);
        (100.0 * (magnus(dew_point) - magnus(temperature_c)).exp()).clamp(5.0, 100.0)
    }
}

/// Per-sensor AR(1) noise, stationary standard deviation [`NOISE_SIGMA_C`] by default, that is
/// a function of (sensor seed, measurement time): the innovation of each instant is drawn from
/// a generator seeded by both, and the process is the sum of the past innovations, so a
/// restarted simulator measures again exactly what it measured before (a duplicate, never a
/// conflict), wherever its run starts.
#[derive(Debug, Clone)]
pub(crate) struct SensorNoise {
    seed: u64,
    cadence_s: i64,
    phi: f64,
    innovation_sd: f64,
    /// The last instant computed and its value: the next step only adds one innovation.
    last: Option<(i64, f64)>,
}

/// Past innovations summed when the noise starts at an arbitrary instant: enough for their
/// weight `phi^n` to fall below this (far under the 0.01 °C a reading is rounded to).
const NOISE_WARM_UP_WEIGHT: f64 = 1e-12;

impl SensorNoise {
    /// Noise of stationary standard deviation `sigma_c` (K) sampled every `cadence_s`.
    pub(crate) fn new(seed: u64, cadence_s: u32, sigma_c: f64) -> SensorNoise {
        let phi = NOISE_PHI_5_MIN.powf(f64::from(cadence_s) / 300.0);
        SensorNoise { seed, cadence_s: i64::from(cadence_s), phi, innovation_sd: sigma_c * (1.0 - phi * phi).sqrt(), last: None }
    }

    /// The noise at `t` (a measurement instant, on the cadence grid of the previous calls).
    pub(crate) fn at(&mut self, t: DateTime<Utc>) -> f64 {
        let t = t.timestamp();
        let value = match self.last {
            Some((previous, value)) if previous == t => value,
            Some((previous, value)) if previous + self.cadence_s == t => self.phi * value + self.innovation(t),
            _ => {
                let steps = if self.phi > 0.0 { (NOISE_WARM_UP_WEIGHT.ln() / self.phi.ln()).ceil() as i64 } else { 1 };
                (0..steps.max(1)).rev().fold(0.0, |x, k| self.phi * x + self.innovation(t - k * self.cadence_s))
            }
        };
        self.last = Some((t, value));
        value
    }

    fn innovation(&self, t: i64) -> f64 {
        self.innovation_sd * standard_normal(&mut instant_rng(self.seed, t))
    }
}

/// A generator for one sensor (`seed`) at one instant (Unix seconds `t`): what is drawn from
/// it depends on nothing else.
pub(crate) fn instant_rng(seed: u64, t: i64) -> rand::rngs::SmallRng {
    use rand::SeedableRng;
    rand::rngs::SmallRng::seed_from_u64(crate::fleet::derive_seed(seed, 3, t as u64))
}

/// One standard normal draw (Box–Muller).
pub(crate) fn standard_normal(rng: &mut impl Rng) -> f64 {
    let u1: f64 = 1.0 - rng.random::<f64>(); // (0, 1]: ln is finite
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (2.0 * PI * u2).cos()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::city::CITIES;
    use chrono::TimeZone;
    fn toulouse() -> &'static CityProfile {
        &CITIES[0]
    }

    fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
    }

    #[test]
    fn diurnal_cycle_has_its_minimum_near_sunrise_and_maximum_mid_afternoon() {
        assert!((diurnal_shape(5.0) + 1.0).abs() < 1e-12);
        assert!((diurnal_shape(15.0) - 1.0).abs() < 1e-12);
        let hours: Vec<f64> = (0..2400).map(|i| f64::from(i) / 100.0).collect();
        let argmin = hours
            .iter()
            .copied()
            .min_by(|a, b| diurnal_shape(*a).total_cmp(&diurnal_shape(*b)))
            .unwrap();
        let argmax = hours
            .iter()
            .copied()
            .max_by(|a, b| diurnal_shape(*a).total_cmp(&diurnal_shape(*b)))
            .unwrap();
        assert!((argmin - 5.0).abs() < 0.02 && (argmax - 15.0).abs() < 0.02);
        // Continuous everywhere, including midnight.
        for pair in hours.windows(2) {
            assert!((diurnal_shape(pair[1]) - diurnal_shape(pair[0])).abs() < 0.01);
        }
        assert!((diurnal_shape(23.999) - diurnal_shape(0.0)).abs() < 1e-3);
    }

    #[test]
    fn night_weight_is_zero_by_day_and_one_at_night() {
        assert_eq!(uhi_night_weight(12.0), 0.0);
        assert_eq!(uhi_night_weight(1.0), 1.0);
        assert_eq!(uhi_night_weight(23.0), 1.0);
        assert!(uhi_night_weight(19.5) > 0.3 && uhi_night_weight(19.5) < 0.7);
        assert!(uhi_night_weight(7.0) > 0.3 && uhi_night_weight(7.0) < 0.7);
    }

    #[test]
    fn background_follows_the_city_profile() {
        let climate = Climate::new(toulouse(), Scenario::Normal, utc(2025, 7, 1, 0, 0));
        // Toulouse is 6 minutes ahead of UTC in solar time.
        let july_tx = climate.background_c(utc(2025, 7, 16, 14, 54));
        let july_tn = climate.background_c(utc(2025, 7, 16, 4, 54));
        let january_mean = (climate.background_c(utc(2025, 1, 15, 14, 54))
            + climate.background_c(utc(2025, 1, 15, 4, 54)))
            / 2.0;
        assert!(
            ((july_tx + july_tn) / 2.0 - 23.5).abs() < 0.05,
            "{july_tx} {july_tn}"
        );
        assert!((july_tx - july_tn - 13.1).abs() < 0.05);
        assert!((january_mean - 6.8).abs() < 0.05);
    }

    #[test]
    fn heat_wave_adds_its_extra_during_its_days_with_ramps() {
        let scenario = Scenario::HeatWave {
            start_day: 2,
            days: 3,
            extra_c: 6.0,
        };
        let start = utc(2025, 7, 1, 12, 0);
        let hot = Climate::new(toulouse(), scenario, start);
        let normal = Climate::new(toulouse(), Scenario::Normal, start);
        let extra = |t| hot.background_c(t) - normal.background_c(t);
        assert!(extra(utc(2025, 7, 2, 11, 0)).abs() < 1e-9);
        assert!(
            (extra(utc(2025, 7, 2, 18, 0)) - 3.0).abs() < 1e-9,
            "half-way up the ramp"
        );
        for day in 3..=5 {
            assert!((extra(utc(2025, 7, day, 15, 0)) - 6.0).abs() < 1e-9);
        }
        assert!(
            (extra(utc(2025, 7, 6, 6, 0)) - 3.0).abs() < 1e-9,
            "half-way down the ramp"
        );
        assert!(extra(utc(2025, 7, 6, 13, 0)).abs() < 1e-9);
    }

    #[test]
    fn humidity_is_anti_correlated_with_temperature_and_bounded() {
        let climate = Climate::new(toulouse(), Scenario::Normal, utc(2025, 7, 1, 0, 0));
        let t = utc(2025, 7, 16, 12, 0);
        let warm = climate.humidity_pct(32.0, t);
        let cool = climate.humidity_pct(18.0, t);
        assert!(warm < cool && (20.0..60.0).contains(&warm), "{warm} {cool}");
        assert_eq!(climate.humidity_pct(-30.0, t), 100.0);
        assert_eq!(climate.humidity_pct(80.0, t), 5.0);
    }

    #[test]
    fn noise_has_the_intended_spread_and_memory() {
        let t0 = utc(2025, 7, 1, 0, 0);
        let mut noise = SensorNoise::new(7, 300, NOISE_SIGMA_C);
        let samples: Vec<f64> = (0..100_000).map(|i| noise.at(t0 + TimeDelta::seconds(300 * i))).collect();
        let n = samples.len() as f64;
        let mean = samples.iter().sum::<f64>() / n;
        let var = samples.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
        let lag1 = samples
            .windows(2)
            .map(|w| (w[0] - mean) * (w[1] - mean))
            .sum::<f64>()
            / n
            / var;
        assert!(mean.abs() < 0.01, "{mean}");
        assert!((var.sqrt() - NOISE_SIGMA_C).abs() < 0.01, "{}", var.sqrt());
        assert!((lag1 - NOISE_PHI_5_MIN).abs() < 0.02, "{lag1}");
        // A function of the instant: started anywhere, the same values to far below 0.01 K.
        for start in [0, 1, 500, 99_000] {
            let mut again = SensorNoise::new(7, 300, NOISE_SIGMA_C);
            for i in start..(start + 300).min(100_000) {
                let x = again.at(t0 + TimeDelta::seconds(300 * i as i64));
                assert!((x - samples[i]).abs() < 1e-9, "step {i} from {start}: {x} vs {}", samples[i]);
            }
        }
        assert_ne!(SensorNoise::new(8, 300, NOISE_SIGMA_C).at(t0), samples[0], "another sensor, other noise");
    }
}
