//! City profiles: where a simulated network is and what its climate looks like.
//!
//! Temperatures are rounded monthly normals (Météo-France 1991–2020, reference stations listed per
//! city): they give the seasonal cycle (January and July means) and the diurnal range (mean
//! Tx − Tn) in January and July. They are plausible orders of magnitude for demos and tests, not
//! climatology to publish.

/// Climate and location of one city.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CityProfile {
    /// Lower-case name used in configuration and as the default network name.
    pub name: &'static str,
    /// Prefix of the sensor ids (`tls` → `tls-001`).
    pub sensor_prefix: &'static str,
    /// Département code (INSEE), the area of the heat-health vigilance.
    pub departement: &'static str,
    /// City centre, WGS84 degrees.
    pub lat: f64,
    pub lon: f64,
    /// Mean daily temperature in January (the coldest month), °C.
    pub winter_mean_c: f64,
    /// Mean daily temperature in July (the warmest month), °C.
    pub summer_mean_c: f64,
    /// Mean Tx − Tn in January, K.
    pub winter_diurnal_range_c: f64,
    /// Mean Tx − Tn in July, K.
    pub summer_diurnal_range_c: f64,
}

/// The cities the simulator knows.
pub static CITIES: [CityProfile; 5] = [
    // Toulouse-Blagnac (31069001).
    CityProfile {
        name: "toulouse",
        sensor_prefix: "tls",
        departement: "31",
        lat: 43.6045,
        lon: 1.4440,
        winter_mean_c: 6.8,
        summer_mean_c: 23.5,
        winter_diurnal_range_c: 7.6,
        summer_diurnal_range_c: 13.1,
    },
    // Rennes-Saint-Jacques (35281001).
    CityProfile {
        name: "rennes",
        sensor_prefix: "rns",
        departement: "35",
        lat: 48.1113,
        lon: -1.6800,
        winter_mean_c: 6.0,
        summer_mean_c: 19.6,
        winter_diurnal_range_c: 6.3,
        summer_diurnal_range_c: 11.3,
    },
    // Vitré: Rennes normals, slightly more continental.
    CityProfile {
        name: "vitre",
        sensor_prefix: "vit",
        departement: "35",
        lat: 48.1240,
        lon: -1.2090,
        winter_mean_c: 5.5,
        summer_mean_c: 19.2,
        winter_diurnal_range_c: 6.5,
        summer_diurnal_range_c: 11.8,
    },
    // Dijon-Longvic (21473001).
    CityProfile {
        name: "dijon",
        sensor_prefix: "dij",
        departement: "21",
        lat: 47.3220,
        lon: 5.0415,
        winter_mean_c: 2.6,
        summer_mean_c: 21.4,
        winter_diurnal_range_c: 6.3,
        summer_diurnal_range_c: 12.5,
    },
    // Paris-Montsouris (75114001).
    CityProfile {
        name: "paris",
        sensor_prefix: "par",
        departement: "75",
        lat: 48.8566,
        lon: 2.3522,
        winter_mean_c: 5.8,
        summer_mean_c: 21.3,
        winter_diurnal_range_c: 4.6,
        summer_diurnal_range_c: 9.8,
    },
];

impl CityProfile {
    /// Profile by name, case-insensitive (`"Vitré"` and `"vitre"` both work).
    pub fn by_name(name: &str) -> Option<&'static CityProfile> {
        let wanted = name.trim().to_lowercase().replace('é', "e");
        CITIES.iter().find(|city| city.name == wanted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_is_case_and_accent_insensitive() {
        assert_eq!(
            CityProfile::by_name("Vitré").map(|c| c.departement),
            Some("35")
        );
        assert_eq!(
            CityProfile::by_name("TOULOUSE").map(|c| c.sensor_prefix),
            Some("tls")
        );
        assert!(CityProfile::by_name("lyon").is_none());
    }

    #[test]
    fn profiles_are_plausible() {
        for city in &CITIES {
            assert!(
                city.summer_mean_c > city.winter_mean_c + 10.0,
                "{}",
                city.name
            );
            assert!(
                city.summer_diurnal_range_c > city.winter_diurnal_range_c,
                "{}",
                city.name
            );
            assert!((41.0..52.0).contains(&city.lat) && (-5.0..10.0).contains(&city.lon));
        }
    }
}
