//! The stations an import finds in its files (`ilot import --register-sensors`): for each, the
//! places its rows give and the intervals between its rows, turned into registry entries.
//!
//! - **Coordinates**: the (lon, lat) pair most rows give (ties: the pair seen last), since
//!   CrowdQC+ needs one position per station; a station whose rows give several pairs is
//!   reported. Rows without both coordinates, or with unreadable or out-of-range ones, give none.
//! - **Elevation**: likewise the most frequent value.
//! - **Cadence**: the most frequent interval between consecutive rows of the station, in whole
//!   seconds and in file order (archives list a station's rows in time order, whether grouped
//!   by station or by time); gap rows count, since they are on the archive's time step.
//!
//! A station already registered keeps everything but its coordinates and elevation, which the
//! file's replace when it has them; its cadence is set only when it has none.

use std::collections::{BTreeMap, HashMap};

use crate::payload::{self, Cell};
use crate::registry::{Registry, Sensor};

/// Stations named in more than this many warnings are only counted.
const NAMED_MAX: usize = 10;

/// What the rows of one station said.
#[derive(Debug, Default)]
pub(super) struct StationTrace {
    /// (lon, lat) bits → (rows, last row seen).
    places: HashMap<(u64, u64), (u64, u64)>,
    /// Elevation bits → (rows, last row seen).
    elevations: HashMap<u64, (u64, u64)>,
    last_ts_ms: Option<i64>,
    /// Interval in seconds → times seen.
    intervals: HashMap<i64, u64>,
}

/// Positive zero for both zeros, so that `-0.0` and `0.0` are one place.
fn bits(value: f64) -> u64 {
    (value + 0.0).to_bits()
}

/// The most frequent key, ties to the one seen last.
fn most_frequent<K: Copy>(counts: &HashMap<K, (u64, u64)>) -> Option<K> {
    counts.iter().max_by_key(|(_, (rows, last))| (*rows, *last)).map(|(k, _)| *k)
}

impl StationTrace {
    /// One row of the station (`row`: its position in the import); `false` when its place cells
    /// hold something that is not a usable place.
    pub(super) fn row(&mut self, row: u64, ts_ms: i64, lon: Cell<'_>, lat: Cell<'_>, elevation: Cell<'_>) -> bool {
        if let Some(last) = self.last_ts_ms.replace(ts_ms)
            && ts_ms > last
        {
            *self.intervals.entry((ts_ms - last + 500) / 1000).or_default() += 1;
        }
        let lon = payload::place_value("lon", lon);
        let lat = payload::place_value("lat", lat);
        let elevation = payload::place_value("elevation_m", elevation);
        let mut usable = true;
        match (lon, lat) {
            (Ok(Some(lon)), Ok(Some(lat))) if (-180.0..=180.0).contains(&lon) && (-90.0..=90.0).contains(&lat) => {
                let seen = self.places.entry((bits(lon), bits(lat))).or_default();
                *seen = (seen.0 + 1, row);
            }
            (Ok(None), Ok(None)) => {}
            _ => usable = false,
        }
        match elevation {
            Ok(Some(z)) => {
                let seen = self.elevations.entry(bits(z)).or_default();
                *seen = (seen.0 + 1, row);
            }
            Ok(None) => {}
            Err(_) => usable = false,
        }
        usable
    }

    /// (lon, lat) and the number of distinct pairs seen.
    fn place(&self) -> Option<((f64, f64), usize)> {
        most_frequent(&self.places).map(|(lon, lat)| ((f64::from_bits(lon), f64::from_bits(lat)), self.places.len()))
    }

    fn elevation_m(&self) -> Option<f64> {
        most_frequent(&self.elevations).map(f64::from_bits)
    }

    fn cadence_s(&self) -> Option<u32> {
        let (interval, _) = self.intervals.iter().max_by_key(|(interval, n)| (**n, std::cmp::Reverse(**interval)))?;
        u32::try_from(*interval).ok().filter(|&s| s > 0)
    }
}

/// What `--register-sensors` did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Registered {
    /// Stations added to the registry.
    pub new: u64,
    /// Registered stations whose coordinates, elevation or cadence the file changed.
    pub updated: u64,
    /// Registered stations the file did not change.
    pub unchanged: u64,
    /// Stations left without coordinates (no CrowdQC+, no sun-based night, no map).
    pub without_coordinates: u64,
    /// Stations whose rows gave several (lon, lat) pairs, with how many.
    pub several_places: Vec<(String, usize)>,
    /// Rows whose lon, lat or elevation could not be used (unreadable, out of range, or only one
    /// of lon and lat).
    pub unusable_place_rows: u64,
}

impl std::fmt::Display for Registered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "registered    {} new, {} updated, {} unchanged stations", self.new, self.updated, self.unchanged)?;
        if self.without_coordinates > 0 {
            write!(f, "\n  without coordinates   {} (no CrowdQC+, no sun-based night, no map position)", self.without_coordinates)?;
        }
        if !self.several_places.is_empty() {
            let named: Vec<String> = self.several_places.iter().take(NAMED_MAX).map(|(s, n)| format!("{s} ({n})")).collect();
            let more = if self.several_places.len() > NAMED_MAX { ", …" } else { "" };
            write!(
                f,
                "\n  warning: {} stations moved within the file, kept the (lon, lat) most rows give: {}{more}",
                self.several_places.len(),
                named.join(", ")
            )?;
        }
        if self.unusable_place_rows > 0 {
            write!(f, "\n  warning: {} rows with an unusable lon, lat or elevation (ignored)", self.unusable_place_rows)?;
        }
        Ok(())
    }
}

/// The registry entries of the traced stations of `network`, over what `registry` holds, and
/// what they change.
pub(super) fn sensors_to_register(registry: &Registry, network: &str, traces: BTreeMap<String, StationTrace>, registered: &mut Registered) -> Vec<Sensor> {
    traces
        .into_iter()
        .map(|(id, trace)| {
            let existing = registry.sensor(network, &id);
            let mut sensor = existing.cloned().unwrap_or_else(|| Sensor::unplaced(network, &id));
            if let Some(((lon, lat), pairs)) = trace.place() {
                (sensor.lon, sensor.lat) = (Some(lon), Some(lat));
                if pairs > 1 {
                    registered.several_places.push((id.clone(), pairs));
                }
            }
            if let Some(z) = trace.elevation_m() {
                sensor.elevation_m = Some(z);
            }
            if sensor.cadence_s.is_none() {
                sensor.cadence_s = trace.cadence_s();
            }
            match existing {
                None => registered.new += 1,
                Some(before) if *before == sensor => registered.unchanged += 1,
                Some(_) => registered.updated += 1,
            }
            if sensor.lat.is_none() {
                registered.without_coordinates += 1;
            }
            sensor
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trace(rows: &[(i64, Cell<'static>, Cell<'static>, Cell<'static>)]) -> StationTrace {
        let mut t = StationTrace::default();
        for (i, (ts, lon, lat, z)) in rows.iter().enumerate() {
            t.row(i as u64, *ts, *lon, *lat, *z);
        }
        t
    }

    #[test]
    fn the_most_frequent_place_elevation_and_interval_win() {
        let (a, b) = ((Cell::Number(13.4), Cell::Number(52.5)), (Cell::Text("13.5"), Cell::Text("52.6")));
        let rows = [
            (0, a.0, a.1, Cell::Integer(34)),
            (3_600_000, a.0, a.1, Cell::Integer(34)),
            (7_200_000, b.0, b.1, Cell::Missing),
            (10_800_000, b.0, b.1, Cell::Integer(35)),
        ];
        let t = trace(&rows);
        assert_eq!(t.place(), Some(((13.5, 52.6), 2)), "a tie goes to the pair seen last");
        assert_eq!((t.elevation_m(), t.cadence_s()), (Some(34.0), Some(3600)));
        let mut registered = Registered::default();
        let mut registry = Registry::default();
        let kept = Sensor { role: crate::registry::SensorRole::Rural, cadence_s: Some(600), ..Sensor::new("n", "old", 1.0, 2.0) };
        registry.upsert_sensors([kept, Sensor::new("n", "same", 52.5, 13.4)]).unwrap();
        let traces = BTreeMap::from([("new".to_owned(), trace(&rows)), ("old".to_owned(), trace(&rows)), ("same".to_owned(), trace(&rows[..2])), ("none".to_owned(), trace(&[(0, Cell::Missing, Cell::Missing, Cell::Missing)]))]);
        let sensors = sensors_to_register(&registry, "n", traces, &mut registered);
        let by_id = |id: &str| sensors.iter().find(|s| s.sensor_id == id).unwrap();
        assert_eq!((by_id("new").lat, by_id("new").cadence_s), (Some(52.6), Some(3600)));
        let old = by_id("old");
        assert_eq!((old.lat, old.lon, old.elevation_m, old.role, old.cadence_s), (Some(52.6), Some(13.5), Some(34.0), crate::registry::SensorRole::Rural, Some(600)));
        assert_eq!(by_id("none").lat, None);
        assert_eq!((registered.new, registered.updated, registered.without_coordinates), (2, 2, 1));
        assert_eq!(registered.several_places, [("new".to_owned(), 2), ("old".to_owned(), 2)]);
    }

    #[test]
    fn unusable_places_are_reported_not_taken() {
        let mut t = StationTrace::default();
        assert!(!t.row(0, 0, Cell::Number(13.4), Cell::Missing, Cell::Missing), "lon without lat");
        assert!(!t.row(1, 1, Cell::Number(200.0), Cell::Number(52.0), Cell::Missing), "out of range");
        assert!(!t.row(2, 2, Cell::Text("east"), Cell::Number(52.0), Cell::Missing));
        assert!(t.row(3, 3, Cell::Missing, Cell::Missing, Cell::Missing));
        assert_eq!(t.place(), None);
    }
}
