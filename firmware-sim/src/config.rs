//! `SimConfig`: what to simulate (city, fleet size, time span, pace, faults, weather scenario).
//!
//! Deserializable (every field optional, unknown fields rejected) so that a TOML or JSON file or
//! a CLI can fill it; validated once by [`SimConfig::validate`] when the fleet is built.

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::{CityProfile, SimError};

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimConfig {
    /// `toulouse`, `rennes`, `vitre`, `dijon` or `paris`.
    pub city: String,
    /// Network name used in topics; the city name when absent.
    pub network: Option<String>,
    /// Number of sensors, rural references included (10 %, at least one).
    pub sensors: usize,
    /// First measurement time (truncated to the second).
    pub start: DateTime<Utc>,
    /// Seconds between two measurements of a sensor.
    pub cadence_s: u32,
    /// Measurements per sensor; `None` runs forever.
    pub readings_per_sensor: Option<u64>,
    /// Simulated seconds per wall-clock second; 0 or infinity = as fast as possible.
    pub acceleration: f64,
    pub seed: u64,
    pub topic_prefix: String,
    pub faults: FaultConfig,
    pub scenario: Scenario,
    /// Stationary standard deviation of each sensor's AR(1) measurement noise, K (default
    /// [`crate::climate::NOISE_SIGMA_C`]). Tests that check an aggregate against the exact
    /// urban offset lower it; the lag-one autocorrelation stays 0.9 per 5 minutes.
    pub noise_sigma_c: f64,
    /// Urban offsets hold their clear-night value day and night (no diurnal cycle of the heat
    /// island): the UHI a view must find is exactly `urban_offset_night_c` (times the heat-wave
    /// gain), whatever night window it averages over. Off by default (tests only).
    pub steady_uhi: bool,
}

impl Default for SimConfig {
    fn default() -> SimConfig {
        let now = Utc::now().timestamp();
        SimConfig {
            city: "toulouse".to_owned(),
            network: None,
            sensors: 90,
            start: DateTime::from_timestamp(now - now.rem_euclid(300), 0).unwrap_or_default(),
            cadence_s: 300,
            readings_per_sensor: None,
            acceleration: 1.0,
            seed: 0,
            topic_prefix: "ilot".to_owned(),
            faults: FaultConfig::default(),
            scenario: Scenario::Normal,
            noise_sigma_c: crate::climate::NOISE_SIGMA_C,
            steady_uhi: false,
        }
    }
}

/// Sensor and transport faults. Rates are probabilities per sensor and measurement step; all
/// faults are off by default. None of them changes the set of valid readings the stream carries
/// (see [`crate::Fleet::expected_distinct_readings`]).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultConfig {
    /// The message is published a second time, byte for byte.
    pub duplicate_rate: f64,
    /// The reading is held back and published after the sensor's next one.
    pub out_of_order_rate: f64,
    /// An extra, undecodable message is published (the reading itself is still sent).
    pub malformed_rate: f64,
    /// Sensors whose temperature and humidity freeze for a few hours once during the run.
    pub stuck_sensors: usize,
    /// Single reading warmer by 8–15 K.
    pub spike_rate: f64,
    /// Sensors whose clock is off by `clock_skew_s` for the whole run.
    pub clock_skew_sensors: usize,
    pub clock_skew_s: i64,
    /// Chance per step that a sensor loses its uplink for `offline_steps` steps; it keeps
    /// measuring and uploads the backlog (plus the current reading) as one JSON array.
    pub offline_rate: f64,
    pub offline_steps: u32,
    /// Equipment that fails for good during the run.
    pub failures: FailureConfig,
}

/// Equipment that fails for good, `after_steps` measurement steps into the run, as a
/// sensor-health alert must report it. The first urban sensors fail, in id order: the first
/// `dead_gateway_sensors` share a gateway that dies (they publish nothing more: their later
/// readings are lost; what one still held for its uplink goes out just before), the next
/// `stuck_sensors` freeze (temperature and humidity fixed at their step-`after_steps` values
/// to the end), the next `flat_battery_sensors` run on a spent cell ([`FLAT_BATTERY_V`]).
/// Rural references never fail. All off by default.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FailureConfig {
    pub after_steps: u64,
    pub dead_gateway_sensors: usize,
    pub stuck_sensors: usize,
    pub flat_battery_sensors: usize,
}

/// A spent lithium cell's voltage under load, V: under the usual 3.3 V low mark.
pub const FLAT_BATTERY_V: f64 = 3.1;

impl FailureConfig {
    /// Sensors that fail, all kinds together.
    pub fn failing_sensors(&self) -> usize {
        self.dead_gateway_sensors + self.stuck_sensors + self.flat_battery_sensors
    }
}

impl Default for FaultConfig {
    fn default() -> FaultConfig {
        FaultConfig {
            duplicate_rate: 0.0,
            out_of_order_rate: 0.0,
            malformed_rate: 0.0,
            stuck_sensors: 0,
            spike_rate: 0.0,
            clock_skew_sensors: 0,
            // A firmware set to French summer time instead of UTC.
            clock_skew_s: 7200,
            offline_rate: 0.0,
            // One hour at the default cadence.
            offline_steps: 12,
            failures: FailureConfig::default(),
        }
    }
}

/// Weather regime of the run.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Scenario {
    #[default]
    Normal,
    /// Days counted from the UTC date of `start` (day 0). Every sensor gets `extra_c` more
    /// (ramped in and out over 12 h), and urban offsets grow by half, so the city warms most at
    /// night.
    HeatWave {
        start_day: u32,
        days: u32,
        extra_c: f64,
    },
}

/// Largest backlog a sensor may accumulate: two weeks at 5 minutes, ~0.5 MB of JSON.
pub const MAX_OFFLINE_STEPS: u32 = 4032;

impl SimConfig {
    /// Network name used in topics.
    pub fn network(&self) -> &str {
        self.network.as_deref().unwrap_or(&self.city)
    }

    /// Check every setting; returns the city profile.
    pub fn validate(&self) -> Result<&'static CityProfile, SimError> {
        let city = CityProfile::by_name(&self.city)
            .ok_or_else(|| SimError::UnknownCity(self.city.clone()))?;
        if self.sensors == 0 {
            return Err(SimError::invalid(
                "sensors",
                "at least one sensor is needed",
            ));
        }
        if self.cadence_s == 0 {
            return Err(SimError::invalid("cadence_s", "must be at least 1 s"));
        }
        if self.acceleration.is_nan() || self.acceleration < 0.0 {
            return Err(SimError::invalid(
                "acceleration",
                "must be ≥ 0 (0 or infinity: as fast as possible)",
            ));
        }
        if !(0.0..=5.0).contains(&self.noise_sigma_c) {
            return Err(SimError::invalid("noise_sigma_c", "must be within 0..=5 K"));
        }
        check_topic_level("topic_prefix", &self.topic_prefix, true)?;
        check_topic_level("network", self.network(), false)?;
        self.faults.validate(self.sensors)?;
        if let Scenario::HeatWave { days, extra_c, .. } = self.scenario
            && (days == 0 || !extra_c.is_finite())
        {
            return Err(SimError::invalid(
                "scenario",
                "a heat wave needs days ≥ 1 and a finite extra_c",
            ));
        }
        Ok(city)
    }
}

impl FaultConfig {
    fn validate(&self, sensors: usize) -> Result<(), SimError> {
        let rates = [
            ("faults.duplicate_rate", self.duplicate_rate),
            ("faults.out_of_order_rate", self.out_of_order_rate),
            ("faults.malformed_rate", self.malformed_rate),
            ("faults.spike_rate", self.spike_rate),
            ("faults.offline_rate", self.offline_rate),
        ];
        for (field, rate) in rates {
            if !(0.0..=1.0).contains(&rate) {
                return Err(SimError::invalid(
                    field,
                    format!("{rate} is not a probability"),
                ));
            }
        }
        for (field, count) in [
            ("faults.stuck_sensors", self.stuck_sensors),
            ("faults.clock_skew_sensors", self.clock_skew_sensors),
        ] {
            if count > sensors {
                return Err(SimError::invalid(
                    field,
                    format!("{count} is more than the {sensors} sensors"),
                ));
            }
        }
        let urban = sensors - crate::rural_reference_count(sensors);
        if self.failures.failing_sensors() > urban {
            return Err(SimError::invalid(
                "faults.failures",
                format!("{} failing sensors, more than the {urban} urban ones", self.failures.failing_sensors()),
            ));
        }
        if self.offline_rate > 0.0 && !(1..=MAX_OFFLINE_STEPS).contains(&self.offline_steps) {
            return Err(SimError::invalid(
                "faults.offline_steps",
                format!("must be within 1..={MAX_OFFLINE_STEPS}"),
            ));
        }
        if self.clock_skew_s.abs() > 366 * 86_400 {
            return Err(SimError::invalid("faults.clock_skew_s", "more than a year"));
        }
        Ok(())
    }
}

/// A topic level must not be empty nor contain separators or wildcards; the prefix may hold
/// several levels (`a/b`).
fn check_topic_level(field: &'static str, value: &str, multi_level: bool) -> Result<(), SimError> {
    let bad_char = |c: char| c == '+' || c == '#' || c == '\0' || (!multi_level && c == '/');
    if value.is_empty() || value.contains(bad_char) || value.split('/').any(str::is_empty) {
        return Err(SimError::invalid(
            field,
            format!("{value:?} is not a valid topic level"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deserializes_partial_json_with_defaults() {
        let json = r#"{"city":"rennes","sensors":30,"start":"2025-07-01T00:00:00Z","readings_per_sensor":12,
            "faults":{"duplicate_rate":0.1},"scenario":{"kind":"heat_wave","start_day":1,"days":3,"extra_c":6.0}}"#;
        let config: SimConfig = serde_json::from_str(json).unwrap();
        assert_eq!(config.network(), "rennes");
        assert_eq!(config.cadence_s, 300);
        assert_eq!(config.topic_prefix, "ilot");
        assert_eq!(config.faults.duplicate_rate, 0.1);
        assert_eq!(config.faults.offline_steps, 12);
        assert_eq!(config.noise_sigma_c, crate::climate::NOISE_SIGMA_C);
        assert!(!config.steady_uhi);
        assert_eq!(
            config.scenario,
            Scenario::HeatWave {
                start_day: 1,
                days: 3,
                extra_c: 6.0
            }
        );
        assert!(config.validate().is_ok());
        assert!(serde_json::from_str::<SimConfig>(r#"{"citty":"rennes"}"#).is_err());
    }

    #[test]
    fn default_start_is_on_a_five_minute_boundary() {
        assert_eq!(SimConfig::default().start.timestamp() % 300, 0);
    }

    #[test]
    fn rejects_bad_settings() {
        let bad = [
            SimConfig {
                city: "lyon".into(),
                ..SimConfig::default()
            },
            SimConfig {
                sensors: 0,
                ..SimConfig::default()
            },
            SimConfig {
                cadence_s: 0,
                ..SimConfig::default()
            },
            SimConfig {
                acceleration: -1.0,
                ..SimConfig::default()
            },
            SimConfig {
                network: Some("a/b".into()),
                ..SimConfig::default()
            },
            SimConfig {
                topic_prefix: "ilot/#".into(),
                ..SimConfig::default()
            },
            SimConfig {
                faults: FaultConfig {
                    spike_rate: 1.5,
                    ..FaultConfig::default()
                },
                ..SimConfig::default()
            },
            SimConfig {
                faults: FaultConfig {
                    stuck_sensors: 91,
                    ..FaultConfig::default()
                },
                ..SimConfig::default()
            },
            SimConfig {
                faults: FaultConfig {
                    failures: FailureConfig { dead_gateway_sensors: 80, stuck_sensors: 2, ..FailureConfig::default() },
                    ..FaultConfig::default()
                },
                ..SimConfig::default()
            },
            SimConfig {
                faults: FaultConfig {
                    offline_rate: 0.1,
                    offline_steps: 0,
                    ..FaultConfig::default()
                },
                ..SimConfig::default()
            },
            SimConfig {
                scenario: Scenario::HeatWave {
                    start_day: 0,
                    days: 0,
                    extra_c: 5.0,
                },
                ..SimConfig::default()
            },
            SimConfig {
                noise_sigma_c: -0.1,
                ..SimConfig::default()
            },
            SimConfig {
                noise_sigma_c: f64::NAN,
                ..SimConfig::default()
            },
        ];
        for config in bad {
            assert!(config.validate().is_err(), "{config:?}");
        }
        let multi_level = SimConfig {
            topic_prefix: "test/ilot".into(),
            ..SimConfig::default()
        };
        assert!(multi_level.validate().is_ok());
    }
}
