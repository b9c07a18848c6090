//! `Sensor`: what the registry knows about one station — where it is, what surrounds it (its
//! Local Climate Zone), what it is for (urban or rural reference), how it is mounted and how
//! often it reports.

use serde::{Deserialize, Serialize};

/// What a sensor is for in the heat-island analysis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SensorRole {
    /// In the city: its ΔT against the reference is the heat island.
    #[default]
    Urban,
    /// Outside the city (typically LCZ D): a candidate for the UHI reference.
    Rural,
}

impl SensorRole {
    pub fn as_str(self) -> &'static str {
        match self {
            SensorRole::Urban => "urban",
            SensorRole::Rural => "rural",
        }
    }
}

/// A Local Climate Zone (Stewart & Oke 2012): built classes 1–10, land-cover classes A–G.
/// Written `"6"` or `"D"`; the numeric code of LCZ rasters (A–G = 11–17) is also accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Lcz(u8);

impl Lcz {
    /// Raster code: 1–10 built, 11–17 land cover A–G.
    pub fn code(self) -> u8 {
        self.0
    }

    pub fn label(self) -> String {
        if self.0 <= 10 { self.0.to_string() } else { char::from(b'A' + self.0 - 11).to_string() }
    }

    pub fn parse(text: &str) -> Option<Lcz> {
        let t = text.trim().trim_start_matches("LCZ").trim_start_matches("lcz").trim();
        match t.parse::<u8>() {
            Ok(code @ 1..=17) => Some(Lcz(code)),
            Ok(_) => None,
            Err(_) => match t.as_bytes() {
                [c @ b'A'..=b'G'] => Some(Lcz(c - b'A' + 11)),
                [c @ b'a'..=b'g'] => Some(Lcz(c - b'a' + 11)),
                _ => None,
            },
        }
    }
}

impl Serialize for Lcz {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.label())
    }
}

impl<'de> Deserialize<'de> for Lcz {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Code(u8),
        }
        let text = match Raw::deserialize(d)? {
            Raw::Text(t) => t,
            Raw::Code(c) => c.to_string(),
        };
        Lcz::parse(&text).ok_or_else(|| serde::de::Error::custom(format!("LCZ {text:?}: expected 1-10 or A-G")))
    }
}

/// Expected reporting interval when the registry does not say: 5 minutes.
pub const DEFAULT_CADENCE_S: u32 = 300;

/// One station of a network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sensor {
    pub network: String,
    pub sensor_id: String,
    #[serde(default)]
    pub name: Option<String>,
    /// WGS84 degrees; both or neither. A station without coordinates is stored, named and
    /// counted, but has no CrowdQC+ (m1 fails it), no sun-based night (`night_mode = "sun"`)
    /// and no place on a map (`docs/registry.md`).
    #[serde(default)]
    pub lat: Option<f64>,
    #[serde(default)]
    pub lon: Option<f64>,
    /// Metres above sea level (elevation correction `T' = T + 0.0065·(z − z_ref)`).
    #[serde(default)]
    pub elevation_m: Option<f64>,
    #[serde(default)]
    pub lcz: Option<Lcz>,
    #[serde(default)]
    pub role: SensorRole,
    /// Height of the sensor above ground, metres.
    #[serde(default)]
    pub height_m: Option<f64>,
    /// Radiation shield (free text: "ventilated", "passive", "none" …).
    #[serde(default)]
    pub shield: Option<String>,
    /// Expected seconds between readings (hourly completeness, step check).
    #[serde(default)]
    pub cadence_s: Option<u32>,
    /// Commune INSEE code.
    #[serde(default)]
    pub insee: Option<String>,
    /// Département code: the area of the heat-health vigilance.
    #[serde(default)]
    pub departement: Option<String>,
    #[serde(default)]
    pub provider: Option<String>,
    #[serde(default)]
    pub licence: Option<String>,
}

impl Sensor {
    /// A sensor at (`lat`, `lon`) with every optional attribute unset and the default role.
    pub fn new(network: &str, sensor_id: &str, lat: f64, lon: f64) -> Self {
        Self { lat: Some(lat), lon: Some(lon), ..Self::unplaced(network, sensor_id) }
    }

    /// A sensor without coordinates, every optional attribute unset and the default role.
    pub fn unplaced(network: &str, sensor_id: &str) -> Self {
        Self {
            network: network.into(),
            sensor_id: sensor_id.into(),
            name: None,
            lat: None,
            lon: None,
            elevation_m: None,
            lcz: None,
            role: SensorRole::default(),
            height_m: None,
            shield: None,
            cadence_s: None,
            insee: None,
            departement: None,
            provider: None,
            licence: None,
        }
    }

    pub fn cadence_s(&self) -> u32 {
        self.cadence_s.unwrap_or(DEFAULT_CADENCE_S)
    }

    /// Why this record cannot be registered, if it cannot.
    pub fn validate(&self) -> Result<(), String> {
        if !crate::layout::valid_network(&self.network) {
            return Err(format!("network {:?}: use 1-64 of [A-Za-z0-9._-]", self.network));
        }
        if self.sensor_id.is_empty() || self.sensor_id.len() > 128 {
            return Err("sensor_id must be 1-128 characters".into());
        }
        match (self.lat, self.lon) {
            (Some(lat), Some(lon)) if !(-90.0..=90.0).contains(&lat) || !(-180.0..=180.0).contains(&lon) => {
                return Err(format!("{}: coordinates ({lat}, {lon}) out of range", self.sensor_id));
            }
            (Some(_), None) | (None, Some(_)) => return Err(format!("{}: give both lat and lon, or neither", self.sensor_id)),
            _ => {}
        }
        if self.cadence_s == Some(0) {
            return Err(format!("{}: cadence_s must be positive", self.sensor_id));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lcz_accepts_labels_and_raster_codes() {
        assert_eq!(Lcz::parse("D").unwrap().code(), 14);
        assert_eq!(Lcz::parse("LCZ 6").unwrap().label(), "6");
        assert_eq!(Lcz::parse("14").unwrap().label(), "D");
        assert_eq!(Lcz::parse("g").unwrap().code(), 17);
        assert!(Lcz::parse("H").is_none() && Lcz::parse("0").is_none() && Lcz::parse("18").is_none());
    }

    #[test]
    fn coordinates_are_both_or_neither() {
        assert_eq!(Sensor::unplaced("n", "a").validate(), Ok(()));
        assert_eq!(Sensor::new("n", "a", 43.6, 1.44).validate(), Ok(()));
        let half = Sensor { lon: None, ..Sensor::new("n", "a", 43.6, 1.44) };
        assert!(half.validate().unwrap_err().contains("both lat and lon"));
        assert!(Sensor::new("n", "a", 95.0, 1.44).validate().unwrap_err().contains("out of range"));
    }
}
