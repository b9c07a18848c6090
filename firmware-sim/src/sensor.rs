//! `SimSensor`: identity, position, Local Climate Zone and urban offset of one simulated sensor,
//! and the layout of a whole fleet around its city.
//!
//! Urban sensors sit within 5 km of the centre, denser classes nearer to it; rural references
//! (LCZ D, 10 % of the fleet, at least one) sit 10–15 km out and are the last ids of the fleet.

use chrono::{DateTime, Utc};
use rand::{Rng, seq::IndexedRandom};

use crate::climate::{solar_hour, uhi_night_weight};
use crate::{CityProfile, Lcz, SensorRole};

#[derive(Debug, Clone, PartialEq)]
pub struct SimSensor {
    /// `tls-001`: city prefix and 1-based number, zero-padded to at least three digits.
    pub id: String,
    /// WGS84 degrees, rounded to 1e-5 (about a metre).
    pub lat: f64,
    pub lon: f64,
    pub lcz: Lcz,
    pub role: SensorRole,
    /// Offset over the rural background on a clear night (maximum of the diurnal profile), K.
    pub urban_offset_night_c: f64,
    /// Offset over the rural background in the afternoon, K.
    pub urban_offset_day_c: f64,
}

impl SimSensor {
    /// Urban offset in normal weather at `t`, K: the day value by day, the night value at night,
    /// smooth transitions around sunset and sunrise (see [`crate::climate::uhi_night_weight`]).
    /// Always 0 for rural references. For the offset under the configured scenario use
    /// [`crate::Climate::urban_offset_c`].
    pub fn urban_offset_at(&self, t: DateTime<Utc>) -> f64 {
        let night = uhi_night_weight(solar_hour(t, self.lon));
        // Written so that the day and night values come out exactly at weights 0 and 1.
        self.urban_offset_day_c * (1.0 - night) + self.urban_offset_night_c * night
    }
}

/// Number of rural references in a fleet of `sensors`: 10 %, at least one.
pub fn rural_reference_count(sensors: usize) -> usize {
    (sensors.div_ceil(10)).max(1)
}

/// Rings of built-up classes from the centre outwards: (outer radius in km, classes).
static RINGS: [(f64, &[Lcz]); 4] = [
    (1.0, &[Lcz::CompactMidRise, Lcz::CompactHighRise]),
    (
        2.5,
        &[Lcz::CompactMidRise, Lcz::CompactLowRise, Lcz::OpenMidRise],
    ),
    (
        4.0,
        &[
            Lcz::OpenMidRise,
            Lcz::OpenLowRise,
            Lcz::LargeLowRise,
            Lcz::OpenHighRise,
        ],
    ),
    (
        5.0,
        &[
            Lcz::OpenLowRise,
            Lcz::SparselyBuilt,
            Lcz::LargeLowRise,
            Lcz::HeavyIndustry,
        ],
    ),
];

/// Place `count` sensors around `city`.
pub(crate) fn layout(city: &CityProfile, count: usize, rng: &mut impl Rng) -> Vec<SimSensor> {
    let references = rural_reference_count(count);
    let width = count.to_string().len().max(3);
    (0..count)
        .map(|i| {
            let id = format!("{}-{:0width$}", city.sensor_prefix, i + 1);
            let bearing = rng.random_range(0.0..std::f64::consts::TAU);
            if i >= count - references {
                let distance_km = rng.random_range(10.0..15.0);
                let (lat, lon) = offset_position(city, distance_km, bearing);
                return SimSensor {
                    id,
                    lat,
                    lon,
                    lcz: Lcz::LowPlants,
                    role: SensorRole::RuralReference,
                    urban_offset_night_c: 0.0,
                    urban_offset_day_c: 0.0,
                };
            }
            // Uniform over the disc of radius 5 km.
            let distance_km = 5.0 * rng.random::<f64>().sqrt();
            let ring = RINGS
                .iter()
                .find(|(radius, _)| distance_km <= *radius)
                .unwrap_or(&RINGS[3]);
            let lcz = *ring.1.choose(rng).unwrap_or(&Lcz::OpenLowRise);
            let site_factor = rng.random_range(0.9..1.1);
            let (lat, lon) = offset_position(city, distance_km, bearing);
            SimSensor {
                id,
                lat,
                lon,
                lcz,
                role: SensorRole::Urban,
                urban_offset_night_c: round_to(lcz.clear_night_offset_c() * site_factor, 100.0),
                urban_offset_day_c: round_to(lcz.daytime_offset_c() * site_factor, 100.0),
            }
        })
        .collect()
}

/// Position `distance_km` from the city centre along `bearing` (radians from north), flat-earth
/// approximation (good to a few metres at 15 km).
fn offset_position(city: &CityProfile, distance_km: f64, bearing: f64) -> (f64, f64) {
    const KM_PER_DEGREE: f64 = 111.32;
    let dlat = distance_km * bearing.cos() / KM_PER_DEGREE;
    let dlon = distance_km * bearing.sin() / (KM_PER_DEGREE * city.lat.to_radians().cos());
    (
        round_to(city.lat + dlat, 1e5),
        round_to(city.lon + dlon, 1e5),
    )
}

pub(crate) fn round_to(value: f64, scale: f64) -> f64 {
    (value * scale).round() / scale
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::city::CITIES;
    use chrono::TimeZone;
    use rand::{SeedableRng, rngs::SmallRng};

    #[test]
    fn ids_references_and_positions() {
        let city = &CITIES[0];
        let sensors = layout(city, 90, &mut SmallRng::seed_from_u64(1));
        assert_eq!(sensors[0].id, "tls-001");
        assert_eq!(sensors[89].id, "tls-090");
        let references: Vec<_> = sensors
            .iter()
            .filter(|s| s.role == SensorRole::RuralReference)
            .collect();
        assert_eq!(references.len(), 9);
        assert!(
            references
                .iter()
                .all(|s| s.lcz == Lcz::LowPlants && s.urban_offset_night_c == 0.0)
        );
        assert!(
            sensors
                .iter()
                .all(|s| (s.lat - city.lat).abs() < 0.2 && (s.lon - city.lon).abs() < 0.25)
        );
        assert_eq!(rural_reference_count(1), 1);
        assert_eq!(rural_reference_count(5), 1);
        assert_eq!(rural_reference_count(11), 2);
        let big = layout(city, 10_000, &mut SmallRng::seed_from_u64(1));
        assert_eq!(big[0].id, "tls-00001");
        assert_eq!(
            big.iter()
                .filter(|s| s.role == SensorRole::RuralReference)
                .count(),
            1000
        );
    }

    #[test]
    fn urban_offsets_are_larger_at_night_and_zero_for_references() {
        let sensors = layout(&CITIES[0], 200, &mut SmallRng::seed_from_u64(2));
        let afternoon = Utc.with_ymd_and_hms(2025, 7, 1, 14, 0, 0).unwrap();
        let night = Utc.with_ymd_and_hms(2025, 7, 2, 1, 0, 0).unwrap();
        for sensor in &sensors {
            let (day, nocturnal) = (
                sensor.urban_offset_at(afternoon),
                sensor.urban_offset_at(night),
            );
            match sensor.role {
                SensorRole::RuralReference => assert!(day == 0.0 && nocturnal == 0.0),
                SensorRole::Urban => {
                    assert!(nocturnal > day, "{sensor:?}");
                    assert!((0.0..=1.0).contains(&day));
                    assert_eq!(nocturnal, sensor.urban_offset_night_c);
                    assert_eq!(day, sensor.urban_offset_day_c);
                    let compact = matches!(
                        sensor.lcz,
                        Lcz::CompactHighRise | Lcz::CompactMidRise | Lcz::CompactLowRise
                    );
                    let expected = if compact { 2.0..=4.0 } else { 0.9..=2.0 };
                    assert!(expected.contains(&nocturnal), "{sensor:?}");
                }
            }
        }
        let compact = sensors
            .iter()
            .filter(|s| s.lcz == Lcz::CompactMidRise)
            .count();
        assert!(compact > 10, "the centre is compact");
    }
}
