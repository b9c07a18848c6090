//! Alert rules: what to watch, as SQL over ilot's public views. A built-in rule kind is a
//! `.sql` template in `rules/` (observed canicule, instantaneous heat, strong heat-island
//! night, sensor health) filled with the rule's typed settings; a custom rule is an admin's
//! own query. Every rule's query returns one row per area (and per period for day rules):
//!
//! | column | | |
//! |---|---|---|
//! | `area` | required | the area's key (a commune's INSEE code, a network) |
//! | `level` | required | the highest level whose raise criterion holds: green, yellow, orange, red (NULL: green) |
//! | `hold_level` | optional | the highest level whose clear criterion does not hold yet (default: `level`) |
//! | `value` | optional | the main indicator, °C (trend, corrections) |
//! | `period` | optional | the day or night the row is about (day rules) |
//! | `network`, `insee`, `departement`, `sensors` | optional | the area, described |
//! | anything else | | evidence, carried into the alert as is |

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::level::Level;
use crate::lifecycle::Timing;

/// What a rule watches, with its settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum RuleKind {
    /// IBMn/IBMx over three closed days against the département thresholds.
    ObservedCanicule {
        #[serde(default = "defaults::yellow_margin_c")]
        yellow_margin_c: f64,
        #[serde(default = "defaults::clear_margin_c")]
        clear_margin_c: f64,
    },
    /// Temperature (or heat index) at or above a threshold for a duration.
    InstantaneousHeat {
        yellow_c: f64,
        orange_c: Option<f64>,
        red_c: Option<f64>,
        #[serde(default = "defaults::duration_min")]
        duration_min: u32,
        #[serde(default = "defaults::clear_margin_c")]
        clear_margin_c: f64,
        /// Compare the NOAA heat index (temperature and humidity) instead of the temperature.
        #[serde(default)]
        heat_index: bool,
    },
    /// Nightly UHImax above a threshold.
    StrongUhiNight {
        #[serde(default = "defaults::uhi_threshold_c")]
        threshold_c: f64,
        #[serde(default = "defaults::clear_margin_c")]
        clear_margin_c: f64,
        #[serde(default = "defaults::yellow")]
        level: Level,
    },
    /// Silent, stuck and low-battery sensors, one alert per network.
    SensorHealth {
        #[serde(default = "defaults::silent_cadences")]
        silent_cadences: u32,
        #[serde(default = "defaults::battery_low_v")]
        battery_low_v: f64,
        #[serde(default = "defaults::yellow")]
        level: Level,
    },
    /// An admin's own query over the public views, returning the columns above.
    Custom { sql: String },
}

/// The rule kinds' default settings (the dashboard's map judges sensor health by the
/// `sensor_health` ones where no such rule covers a network).
pub mod defaults {
    use crate::level::Level;

    pub fn yellow_margin_c() -> f64 {
        1.0
    }
    pub fn clear_margin_c() -> f64 {
        0.5
    }
    pub fn duration_min() -> u32 {
        60
    }
    pub fn uhi_threshold_c() -> f64 {
        4.0
    }
    pub fn silent_cadences() -> u32 {
        3
    }
    pub fn battery_low_v() -> f64 {
        3.3
    }
    pub fn yellow() -> Level {
        Level::Yellow
    }
}

/// How a rule groups sensors into areas.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AreaGrouping {
    /// One area per commune (the sensors' INSEE code); sensors without one form their network's area.
    #[default]
    Commune,
    /// One area per network.
    Network,
}

/// Whether a rule is about alerts of heat or about the sensors themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Heat,
    SensorHealth,
}

/// One configured rule: the common settings below, and the kind's (`kind = "…"` and its keys).
/// Read in two halves so that an unknown key (a typo) is refused, which `#[serde(flatten)]`
/// alone cannot do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "serde_json::Map<String, serde_json::Value>")]
pub struct Rule {
    #[serde(flatten)]
    pub common: RuleCommon,
    #[serde(flatten)]
    pub kind: RuleKind,
}

/// The settings every rule has.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleCommon {
    /// 1–64 of `[a-z0-9_-]`: the rule's key in alerts, subscriptions and the API.
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The networks it covers; empty: every network.
    #[serde(default)]
    pub networks: Vec<String>,
    #[serde(default)]
    pub area: AreaGrouping,
    /// How many sensors of an area must meet a level's criterion.
    #[serde(default = "one")]
    pub min_sensors: u32,
    /// Overrides of the kind's timing, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raise_after_s: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clear_after_s: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub absent_after_s: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_for_s: Option<i64>,
}

const COMMON_KEYS: [&str; 9] = ["id", "title", "networks", "area", "min_sensors", "raise_after_s", "clear_after_s", "absent_after_s", "valid_for_s"];

impl TryFrom<serde_json::Map<String, serde_json::Value>> for Rule {
    type Error = serde_json::Error;

    fn try_from(mut map: serde_json::Map<String, serde_json::Value>) -> Result<Self, Self::Error> {
        let common: serde_json::Map<_, _> = COMMON_KEYS.iter().filter_map(|k| map.remove(*k).map(|v| (k.to_string(), v))).collect();
        Ok(Rule { common: serde_json::from_value(common.into())?, kind: serde_json::from_value(map.into())? })
    }
}

fn one() -> u32 {
    1
}

/// A rule whose settings cannot make a query.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    #[error("rule id {0:?}: 1 to 64 of a-z, 0-9, '_' and '-'")]
    Id(String),
    #[error("rule {rule}: network {network:?} is not a network name (1-64 of A-Z a-z 0-9 . _ -)")]
    Network { rule: String, network: String },
    #[error("rule {rule}: {setting} must be {expected}")]
    Setting { rule: String, setting: &'static str, expected: &'static str },
}

/// How many days of periods a day rule returns, for late-data corrections.
const LOOKBACK_DAYS: i64 = 8;

fn valid_name(name: &str, extra: &[char]) -> bool {
    (1..=64).contains(&name.len()) && name.chars().all(|c| c.is_ascii_alphanumeric() || extra.contains(&c))
}

impl Rule {
    /// Check what the SQL will be made of: ids, network names and numbers are the only
    /// settings written into a query, and only once checked here.
    pub fn validate(&self) -> Result<(), RuleError> {
        if !valid_name(&self.common.id, &['_', '-']) || self.common.id.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(RuleError::Id(self.common.id.clone()));
        }
        if let Some(network) = self.common.networks.iter().find(|n| !valid_name(n, &['.', '_', '-'])) {
            return Err(RuleError::Network { rule: self.common.id.clone(), network: network.clone() });
        }
        let setting = |ok: bool, setting, expected| if ok { Ok(()) } else { Err(RuleError::Setting { rule: self.common.id.clone(), setting, expected }) };
        let degrees = |v: f64| v.is_finite() && (-90.0..=90.0).contains(&v);
        setting(self.common.min_sensors >= 1, "min_sensors", "at least 1")?;
        for (value, name) in [(self.common.raise_after_s, "raise_after_s"), (self.common.clear_after_s, "clear_after_s"), (self.common.absent_after_s, "absent_after_s"), (self.common.valid_for_s, "valid_for_s")] {
            setting(value.is_none_or(|v| v >= 0), name, "0 or more seconds")?;
        }
        match &self.kind {
            RuleKind::ObservedCanicule { yellow_margin_c, clear_margin_c } => {
                setting(degrees(*yellow_margin_c) && *yellow_margin_c >= 0.0, "yellow_margin_c", "a temperature difference >= 0")?;
                setting(degrees(*clear_margin_c) && *clear_margin_c >= 0.0, "clear_margin_c", "a temperature difference >= 0")
            }
            RuleKind::InstantaneousHeat { yellow_c, orange_c, red_c, duration_min, clear_margin_c, .. } => {
                let ordered = orange_c.is_none_or(|o| o > *yellow_c) && red_c.is_none_or(|r| r > orange_c.unwrap_or(*yellow_c));
                setting(degrees(*yellow_c) && orange_c.is_none_or(degrees) && red_c.is_none_or(degrees) && ordered, "yellow_c < orange_c < red_c", "increasing temperatures")?;
                setting((1..=24 * 60).contains(duration_min), "duration_min", "1 to 1440 minutes")?;
                setting(degrees(*clear_margin_c) && *clear_margin_c >= 0.0, "clear_margin_c", "a temperature difference >= 0")
            }
            RuleKind::StrongUhiNight { threshold_c, clear_margin_c, level } => {
                setting(degrees(*threshold_c), "threshold_c", "a temperature difference")?;
                setting(degrees(*clear_margin_c) && *clear_margin_c >= 0.0, "clear_margin_c", "a temperature difference >= 0")?;
                setting(level.is_alert(), "level", "yellow, orange or red")
            }
            RuleKind::SensorHealth { silent_cadences, battery_low_v, level } => {
                setting(*silent_cadences >= 1, "silent_cadences", "at least 1")?;
                setting(battery_low_v.is_finite() && (0.0..=100.0).contains(battery_low_v), "battery_low_v", "a voltage")?;
                setting(level.is_alert(), "level", "yellow, orange or red")
            }
            RuleKind::Custom { sql } => setting(!sql.trim().is_empty(), "sql", "a query"),
        }
    }

    pub fn category(&self) -> Category {
        match self.kind {
            RuleKind::SensorHealth { .. } => Category::SensorHealth,
            _ => Category::Heat,
        }
    }

    /// The kind's name, as in the configuration.
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            RuleKind::ObservedCanicule { .. } => "observed_canicule",
            RuleKind::InstantaneousHeat { .. } => "instantaneous_heat",
            RuleKind::StrongUhiNight { .. } => "strong_uhi_night",
            RuleKind::SensorHealth { .. } => "sensor_health",
            RuleKind::Custom { .. } => "custom",
        }
    }

    /// True for rules whose criterion can complete with any reading (evaluated as readings
    /// arrive); the others complete when a day or a night closes.
    pub fn follows_readings(&self) -> bool {
        matches!(self.kind, RuleKind::InstantaneousHeat { .. } | RuleKind::SensorHealth { .. } | RuleKind::Custom { .. })
    }

    /// For rules about closed days or nights, the UTC hour their period closes each day: 06:00
    /// for the observed canicule (the last day's Tx window, D+1 06:00), 10:00 for nights (after
    /// sunrise anywhere in metropolitan France). `None`: rules that follow the readings.
    pub fn closing_hour_utc(&self) -> Option<u32> {
        match self.kind {
            RuleKind::ObservedCanicule { .. } => Some(6),
            RuleKind::StrongUhiNight { .. } => Some(10),
            _ => None,
        }
    }

    /// The closings in (`from`, `to`], in order (at most [`LOOKBACK_DAYS`] + 1: older ones
    /// could change nothing the rule returns).
    pub fn closings_between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<DateTime<Utc>> {
        let Some(hour) = self.closing_hour_utc() else { return Vec::new() };
        let from = from.max(to - Duration::days(LOOKBACK_DAYS + 1));
        let mut closing = from.date_naive().and_hms_opt(hour, 0, 0).expect("a valid hour").and_utc();
        let mut closings = Vec::new();
        while closing <= to {
            if closing > from {
                closings.push(closing);
            }
            closing += Duration::days(1);
        }
        closings
    }

    /// The shortest time between two evaluations of a rule that follows the readings, whatever
    /// `readings_interval_ms`: sensor health's criteria count cadences (minutes), so twice a
    /// second would spend the CPU of 10,000 sensors' latest readings for nothing.
    pub fn least_interval(&self) -> std::time::Duration {
        match self.kind {
            RuleKind::SensorHealth { .. } => std::time::Duration::from_secs(30),
            _ => std::time::Duration::ZERO,
        }
    }

    /// Whether a change in the sensors an alert lists is news (an update): the sensor-health
    /// list is a technician's work; elsewhere the sensors are evidence.
    pub fn tracks_sensors(&self) -> bool {
        matches!(self.kind, RuleKind::SensorHealth { .. })
    }

    /// The kind's timing, with the rule's overrides.
    pub fn timing(&self) -> Timing {
        const HOUR: i64 = 3600;
        const DAY: i64 = 24 * HOUR;
        let base = match self.kind {
            // domain.md §4: clear only after 24 h below the thresholds minus the margin.
            RuleKind::ObservedCanicule { .. } => Timing { raise_after_s: 0, clear_after_s: DAY, absent_after_s: 3 * DAY, valid_for_s: 2 * DAY },
            RuleKind::InstantaneousHeat { .. } => Timing { raise_after_s: 0, clear_after_s: HOUR, absent_after_s: 3 * HOUR, valid_for_s: 6 * HOUR },
            RuleKind::StrongUhiNight { .. } => Timing { raise_after_s: 0, clear_after_s: 12 * HOUR, absent_after_s: 3 * DAY, valid_for_s: 2 * DAY },
            RuleKind::SensorHealth { .. } => Timing { raise_after_s: 0, clear_after_s: HOUR / 2, absent_after_s: DAY, valid_for_s: DAY },
            RuleKind::Custom { .. } => Timing { raise_after_s: 0, clear_after_s: HOUR, absent_after_s: 3 * HOUR, valid_for_s: 6 * HOUR },
        };
        Timing {
            raise_after_s: self.common.raise_after_s.unwrap_or(base.raise_after_s),
            clear_after_s: self.common.clear_after_s.unwrap_or(base.clear_after_s),
            absent_after_s: self.common.absent_after_s.unwrap_or(base.absent_after_s),
            valid_for_s: self.common.valid_for_s.unwrap_or(base.valid_for_s),
        }
    }

    /// The networks it covers, as the right side of an SQL `IN`: quoted validated names, or
    /// every registered network.
    fn networks_in(&self) -> String {
        if self.common.networks.is_empty() {
            "SELECT network FROM networks".to_owned()
        } else {
            self.common.networks.iter().map(|n| format!("'{n}'")).collect::<Vec<_>>().join(", ")
        }
    }

    /// The query of the newest measurement time of its networks: one row, `ms` (Unix
    /// milliseconds, NULL without data). The rule is evaluated as of that time.
    pub fn watermark_sql(&self) -> String {
        format!("SELECT arrow_cast(max(ts), 'Int64') AS ms FROM latest_readings WHERE network IN ({})", self.networks_in())
    }

    /// The rule's query, evaluated as of `at_ms` (Unix milliseconds).
    pub fn sql(&self, at_ms: i64) -> String {
        let networks = self.networks_in();
        let area_key = match self.common.area {
            AreaGrouping::Commune => "coalesce(s.insee, s.network)",
            AreaGrouping::Network => "s.network",
        };
        let number = |v: f64| format!("{v:?}");
        let (template, settings): (&str, Vec<(&str, String)>) = match &self.kind {
            RuleKind::ObservedCanicule { yellow_margin_c, clear_margin_c } => (
                include_str!("rules/observed_canicule.sql"),
                vec![("yellow_margin_c", number(*yellow_margin_c)), ("clear_margin_c", number(*clear_margin_c))],
            ),
            RuleKind::InstantaneousHeat { yellow_c, orange_c, red_c, duration_min, clear_margin_c, heat_index } => {
                // A level without a threshold is never reached.
                let never = "1000.0".to_owned();
                let (measure, measure_name) =
                    if *heat_index { ("heat_index(CAST(r.temperature_c AS DOUBLE), CAST(r.humidity_pct AS DOUBLE))", "heat index") } else { ("CAST(r.temperature_c AS DOUBLE)", "temperature") };
                (
                    include_str!("rules/instantaneous_heat.sql"),
                    vec![
                        ("yellow_c", number(*yellow_c)),
                        ("orange_c", orange_c.map_or(never.clone(), number)),
                        ("red_c", red_c.map_or(never, number)),
                        ("duration_min", duration_min.to_string()),
                        ("clear_margin_c", number(*clear_margin_c)),
                        ("measure", measure.to_owned()),
                        ("measure_name", measure_name.to_owned()),
                    ],
                )
            }
            RuleKind::StrongUhiNight { threshold_c, clear_margin_c, level } => (
                include_str!("rules/strong_uhi_night.sql"),
                vec![("threshold_c", number(*threshold_c)), ("clear_margin_c", number(*clear_margin_c)), ("level", level.to_string())],
            ),
            RuleKind::SensorHealth { silent_cadences, battery_low_v, level } => (
                include_str!("rules/sensor_health.sql"),
                vec![("silent_cadences", silent_cadences.to_string()), ("battery_low_v", number(*battery_low_v)), ("level", level.to_string())],
            ),
            // The same placeholders as the built-in templates ({at}, {at_ms}, {networks} …).
            RuleKind::Custom { sql } => (sql.as_str(), Vec::new()),
        };
        let at = format!("arrow_cast({at_ms}, 'Timestamp(Millisecond, Some(\"UTC\"))')");
        let common = [
            // Before the keys it holds.
            ("registered_stations", "SELECT s.network, {area_key} AS area, count(*) AS stations_registered FROM sensors s WHERE s.network IN ({networks}) GROUP BY 1, 2".to_owned()),
            ("networks", networks),
            ("area_key", area_key.to_owned()),
            ("min_sensors", self.common.min_sensors.to_string()),
            ("lookback_days", LOOKBACK_DAYS.to_string()),
            ("at_ms", at_ms.to_string()),
            ("at", at),
        ];
        let mut sql = format!("-- rule {}, as of {at_ms} ms\n{template}", self.common.id);
        // `measure` before the common keys: its text holds none of them.
        for (key, value) in settings.iter().map(|(k, v)| (*k, v.as_str())).chain(common.iter().map(|(k, v)| (*k, v.as_str()))) {
            sql = sql.replace(&format!("{{{key}}}"), value);
        }
        sql
    }
}

#[cfg(test)]
mod tests;
