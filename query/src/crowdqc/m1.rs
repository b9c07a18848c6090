//! CrowdQC+ level m1: missing values and duplicated station coordinates.

use std::collections::{HashMap, HashSet};

use super::CrowdQcGrid;

/// Hashable (lon, lat) pair.
type PairKey = (Option<u64>, Option<u64>);

/// Hashable key of an optional coordinate (−0.0 and 0.0 are the same; all NaN are one key).
fn coord_key(v: Option<f64>) -> Option<u64> {
    v.map(|x| {
        if x == 0.0 {
            0.0f64.to_bits()
        } else if x.is_nan() {
            f64::NAN.to_bits()
        } else {
            x.to_bits()
        }
    })
}

/// Level m1: `false` where `ta` is missing, and `false` for every row whose (lon, lat) pair is
/// used by more than one station. Missing coordinates form a pair like any other, and fail
/// even when one station alone lacks them: the reference's input always has coordinates,
/// ilot's registry may not, and without them no later level (buddies, m5) means anything.
pub fn m1(grid: &CrowdQcGrid) -> Vec<bool> {
    grid.assert_consistent();
    let n = grid.len();
    let keys: Vec<PairKey> = (0..n)
        .map(|i| (coord_key(grid.lon[i]), coord_key(grid.lat[i])))
        .collect();

    // Distinct (station, pair) combinations, then stations per pair.
    let mut seen: HashSet<(i64, PairKey)> = HashSet::new();
    let mut stations_per_pair: HashMap<PairKey, usize> = HashMap::new();
    for (i, key) in keys.iter().enumerate() {
        if seen.insert((grid.station[i], *key)) {
            *stations_per_pair.entry(*key).or_insert(0) += 1;
        }
    }

    (0..n)
        .map(|i| grid.ta[i].is_some() && keys[i].0.is_some() && keys[i].1.is_some() && stations_per_pair[&keys[i]] <= 1)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_coordinates_fail_all_rows_of_both_stations() {
        let g = CrowdQcGrid {
            station: vec![1, 1, 2, 2, 3, 3],
            time_ms: vec![0, 1, 0, 1, 0, 1],
            ta: vec![
                Some(20.0),
                Some(21.0),
                Some(20.0),
                Some(21.0),
                Some(20.0),
                None,
            ],
            lon: vec![
                Some(13.4),
                Some(13.4),
                Some(13.4),
                Some(13.4),
                Some(13.5),
                Some(13.5),
            ],
            lat: vec![Some(52.5); 6],
            z: vec![None; 6],
        };
        assert_eq!(m1(&g), vec![false, false, false, false, true, false]);
    }

    #[test]
    fn a_station_without_coordinates_fails() {
        let mut g = CrowdQcGrid::at_berlin(vec![1, 2], vec![0, 0], vec![Some(20.0), Some(21.0)]);
        (g.lon[1], g.lat[1]) = (None, None);
        assert_eq!(m1(&g), vec![true, false], "a lone pair of missing coordinates still fails");
    }
}
