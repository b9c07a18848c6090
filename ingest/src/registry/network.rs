//! `Network`: settings of one sensor network that the analytics depend on — how its heat
//! island is measured (reference mode and stations), what "night" means, which canicule
//! thresholds apply, and what to do with readings from sensors the registry does not know.

use serde::{Deserialize, Serialize};

use super::thresholds::{self, CaniculeThresholds};

/// How the UHI reference temperature of a network is formed at each hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ReferenceMode {
    /// One rural station (Rennes studies: Melesse).
    Single,
    /// The lowest value of a rural set (Rennes network: "the coldest rural periphery").
    Min,
    /// The mean of a rural set.
    #[default]
    Mean,
    /// The mean of all the network's stations: `a_i(t) = T_i(t) − mean_j T_j(t)`.
    NetworkMean,
}

impl ReferenceMode {
    pub fn as_str(self) -> &'static str {
        match self {
            ReferenceMode::Single => "single",
            ReferenceMode::Min => "min",
            ReferenceMode::Mean => "mean",
            ReferenceMode::NetworkMean => "network_mean",
        }
    }
}

/// Which hours are "night".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum NightMode {
    /// A fixed UTC window, [start_hour, end_hour) (default 21–03 UTC).
    #[default]
    FixedUtc,
    /// From sunset to the next sunrise at each station (NOAA solar position).
    Sun,
}

impl NightMode {
    pub fn as_str(self) -> &'static str {
        match self {
            NightMode::FixedUtc => "fixed_utc",
            NightMode::Sun => "sun",
        }
    }
}

/// How the 3-day IBM window is aligned on the day it is labelled with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum IbmAlignment {
    /// IBM(D) = mean over D, D+1, D+2 (the official definition, on forecasts).
    #[default]
    Forward,
    /// IBM(D) = mean over D−2, D−1, D (the observed equivalent: the last three days).
    Trailing,
}

impl IbmAlignment {
    pub fn as_str(self) -> &'static str {
        match self {
            IbmAlignment::Forward => "forward",
            IbmAlignment::Trailing => "trailing",
        }
    }
}

/// What happens to a reading from a sensor the registry does not know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum UnknownSensorPolicy {
    /// Stored with the `UNKNOWN_SENSOR` flag (out of the analytics until registered).
    #[default]
    Flag,
    /// Refused to the dead letters with reason `unknown_sensor`.
    DeadLetter,
}

/// CrowdQC+ level a crowdsourced network's hourly values must pass to enter the analytics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum CrowdQcLevel {
    M4,
    #[default]
    M5,
    O1,
    O2,
    O3,
}

impl CrowdQcLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            CrowdQcLevel::M4 => "m4",
            CrowdQcLevel::M5 => "m5",
            CrowdQcLevel::O1 => "o1",
            CrowdQcLevel::O2 => "o2",
            CrowdQcLevel::O3 => "o3",
        }
    }
}

/// Settings of one network (`[registry.networks.<name>]` or the admin API).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Network {
    /// Human-readable name ("Toulouse Métropole").
    pub display_name: Option<String>,
    /// Département code (INSEE): selects the canicule thresholds.
    pub departement: Option<String>,
    /// IANA time zone of the dashboards' local-time views.
    pub timezone: String,
    /// Crowdsourced stations: the CrowdQC+ levels apply before any analytics.
    pub crowdsourced: bool,
    pub crowdqc_level: CrowdQcLevel,
    pub reference_mode: ReferenceMode,
    /// Reference stations for `single` (exactly one), `min` and `mean` (empty = every
    /// `rural` station of the network). Ignored by `network_mean`.
    pub reference_sensors: Vec<String>,
    pub night_mode: NightMode,
    pub night_start_utc_hour: u8,
    pub night_end_utc_hour: u8,
    /// Overrides the département's shipped Sn (°C).
    pub tn_threshold_c: Option<f64>,
    /// Overrides the département's shipped Sx (°C).
    pub tx_threshold_c: Option<f64>,
    pub ibm_alignment: IbmAlignment,
    pub unknown_sensors: UnknownSensorPolicy,
    /// Vendor names of SenML measurements, over the built-in ones (`airTemp` → `temperature`).
    pub senml_names: crate::payload::SenmlNames,
    /// Quality-control thresholds of this network, over `[intake.qc]`.
    pub qc: crate::qc::QcOverrides,
}

impl Default for Network {
    fn default() -> Self {
        Self {
            display_name: None,
            departement: None,
            timezone: "Europe/Paris".into(),
            crowdsourced: false,
            crowdqc_level: CrowdQcLevel::default(),
            reference_mode: ReferenceMode::default(),
            reference_sensors: Vec::new(),
            night_mode: NightMode::default(),
            night_start_utc_hour: 21,
            night_end_utc_hour: 3,
            tn_threshold_c: None,
            tx_threshold_c: None,
            ibm_alignment: IbmAlignment::default(),
            unknown_sensors: UnknownSensorPolicy::default(),
            senml_names: crate::payload::SenmlNames::new(),
            qc: crate::qc::QcOverrides::default(),
        }
    }
}

/// Thresholds in force for a network, and where they come from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ThresholdsInForce {
    pub tn_threshold_c: f64,
    pub tx_threshold_c: f64,
    pub source: String,
}

impl Network {
    pub fn validate(&self, name: &str) -> Result<(), String> {
        if !crate::layout::valid_network(name) {
            return Err(format!("network {name:?}: use 1-64 of [A-Za-z0-9._-]"));
        }
        if self.night_start_utc_hour > 23 || self.night_end_utc_hour > 23 || self.night_start_utc_hour == self.night_end_utc_hour {
            return Err(format!("network {name}: night hours must be two different hours in 0..=23"));
        }
        if self.timezone.parse::<chrono_tz::Tz>().is_err() {
            return Err(format!("network {name}: unknown time zone {:?}", self.timezone));
        }
        if self.reference_mode == ReferenceMode::Single && self.reference_sensors.len() != 1 {
            return Err(format!("network {name}: reference_mode \"single\" needs exactly one reference_sensors entry"));
        }
        if self.tn_threshold_c.is_some() != self.tx_threshold_c.is_some() {
            return Err(format!("network {name}: set both tn_threshold_c and tx_threshold_c, or neither"));
        }
        // A name is matched against the part after a name's last `:` or `/`.
        if let Some(bad) = self.senml_names.keys().find(|n| n.is_empty() || n.contains([':', '/'])) {
            return Err(format!("network {name}: senml_names key {bad:?} must be a non-empty name without ':' or '/'"));
        }
        // Checked over the defaults: keys left unset take `[intake.qc]`'s, checked there.
        if let Err(e) = self.qc.apply(&crate::qc::RangeLimits::default()).check() {
            return Err(format!("network {name}: qc.{}: {}", e.key.trim_start_matches("history."), e.message));
        }
        Ok(())
    }

    /// The canicule thresholds: the network's override, else its département's shipped values.
    pub fn thresholds(&self) -> Option<ThresholdsInForce> {
        if let (Some(tn), Some(tx)) = (self.tn_threshold_c, self.tx_threshold_c) {
            return Some(ThresholdsInForce { tn_threshold_c: tn, tx_threshold_c: tx, source: "network configuration".into() });
        }
        let shipped: &CaniculeThresholds = thresholds::shipped(self.departement.as_deref()?)?;
        Some(ThresholdsInForce {
            tn_threshold_c: shipped.tn_threshold_c,
            tx_threshold_c: shipped.tx_threshold_c,
            source: format!("département {} ({}): {}, {}", shipped.departement, shipped.name, shipped.source, shipped.source_date),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_come_from_the_departement_unless_overridden() {
        let mut n = Network { departement: Some("31".into()), ..Network::default() };
        let t = n.thresholds().unwrap();
        assert_eq!((t.tn_threshold_c, t.tx_threshold_c), (21.0, 36.0));
        assert!(t.source.contains("Haute-Garonne"));
        n.tn_threshold_c = Some(20.0);
        n.tx_threshold_c = Some(35.0);
        assert_eq!(n.thresholds().unwrap().source, "network configuration");
        assert!(Network { departement: Some("99".into()), ..Network::default() }.thresholds().is_none());
    }

    #[test]
    fn inconsistent_settings_are_refused() {
        let single = Network { reference_mode: ReferenceMode::Single, ..Network::default() };
        assert!(single.validate("rennes").unwrap_err().contains("exactly one"));
        let bad_night = Network { night_start_utc_hour: 3, night_end_utc_hour: 3, ..Network::default() };
        assert!(bad_night.validate("rennes").is_err());
        assert!(Network { timezone: "Mars/Olympus".into(), ..Network::default() }.validate("x").is_err());
        assert!(Network::default().validate("../x").is_err());
    }
}
