//! CrowdQC+ level m5: buddy check against neighbouring stations' m4-passed values.

use std::collections::HashMap;

use geographiclib_rs::{Geodesic, InverseGeodesic};

use super::CrowdQcGrid;
use super::m2::group_by_time;
use crate::robust_stats::{median, qn, student_t_quantile};

const LAPSE_RATE: f64 = 0.0065;
const RADIUS_M: f64 = 3000.0;
const MAX_ELEV_DIFF: f64 = 100.0;
const N_BUDDIES: usize = 5;
const ALPHA: f64 = 0.1;

/// Semantic variants, verified against the golden flags (the defaults give 0 mismatches on both
/// files): buddies exclude the station itself; fewer than 5 valid buddy values fail; a missing z
/// on either side drops the buddy; buddies are searched over all stations with coordinates.
#[derive(Debug, Clone, Copy)]
struct M5Opts {
    include_self: bool,
    few_valid_pass: bool,
    null_z_keeps: bool,
    all_stations: bool,
}

impl Default for M5Opts {
    fn default() -> Self {
        Self {
            include_self: false,
            few_valid_pass: false,
            null_z_keeps: false,
            all_stations: true,
        }
    }
}

/// Level m5 (buddy check), given the m4 flags; returns (m5 flags, isolated flag per row).
/// Isolated stations (fewer than 5 buddies within 3000 m geodesic and |Δz| ≤ 100 m, the station
/// itself not counted) keep their m4 flag when `keep_isolated`, else fail.
pub fn m5(grid: &CrowdQcGrid, m4: &[bool], keep_isolated: bool) -> (Vec<bool>, Vec<bool>) {
    m5_opts(grid, m4, keep_isolated, M5Opts::default())
}

fn m5_opts(
    grid: &CrowdQcGrid,
    m4: &[bool],
    keep_isolated: bool,
    o: M5Opts,
) -> (Vec<bool>, Vec<bool>) {
    grid.assert_consistent();
    assert_eq!(m4.len(), grid.len(), "m4 flags must have one entry per row");
    let n = grid.len();
    let has_z = grid.z.iter().any(Option::is_some);

    // Stations: dense index, first known coordinates/elevation.
    let mut index: HashMap<i64, usize> = HashMap::new();
    let mut coords: Vec<(Option<f64>, Option<f64>, Option<f64>)> = Vec::new();
    let mut used: Vec<bool> = Vec::new();
    let mut row_station = vec![0usize; n];
    for i in 0..n {
        let s = *index.entry(grid.station[i]).or_insert_with(|| {
            coords.push((None, None, None));
            used.push(false);
            coords.len() - 1
        });
        row_station[i] = s;
        let c = &mut coords[s];
        if c.0.is_none() {
            c.0 = grid.lon[i];
        }
        if c.1.is_none() {
            c.1 = grid.lat[i];
        }
        if c.2.is_none() {
            c.2 = grid.z[i];
        }
        if m4[i] {
            used[s] = true;
        }
    }
    let ns = coords.len();

    // Buddy lists: sweep over stations sorted by latitude.
    let geod = Geodesic::wgs84();
    let mut by_lat: Vec<usize> = (0..ns)
        .filter(|&s| coords[s].0.is_some() && coords[s].1.is_some() && (o.all_stations || used[s]))
        .collect();
    by_lat.sort_by(|&a, &b| coords[a].1.unwrap().total_cmp(&coords[b].1.unwrap()));
    let dlat = RADIUS_M / 110_000.0 * 1.05;
    let mut buddies: Vec<Vec<usize>> = vec![Vec::new(); ns];
    for (p, &a) in by_lat.iter().enumerate() {
        let (lon_a, lat_a, z_a) = (coords[a].0.unwrap(), coords[a].1.unwrap(), coords[a].2);
        let dlon = dlat / lat_a.to_radians().cos().max(0.01);
        for &b in &by_lat[p + 1..] {
            let (lon_b, lat_b, z_b) = (coords[b].0.unwrap(), coords[b].1.unwrap(), coords[b].2);
            if lat_b - lat_a > dlat {
                break;
            }
            if (lon_b - lon_a).abs() > dlon {
                continue;
            }
            let d: f64 = geod.inverse(lat_a, lon_a, lat_b, lon_b);
            if d.is_nan() || d > RADIUS_M {
                continue;
            }
            if has_z {
                match (z_a, z_b) {
                    (Some(za), Some(zb)) => {
                        if (za - zb).abs() > MAX_ELEV_DIFF {
                            continue;
                        }
                    }
                    _ => {
                        if !o.null_z_keeps {
                            continue;
                        }
                    }
                }
            }
            buddies[a].push(b);
            buddies[b].push(a);
        }
    }
    if o.include_self {
        for s in 0..ns {
            if coords[s].0.is_some() && coords[s].1.is_some() {
                buddies[s].push(s);
            }
        }
    }
    let isolated_station: Vec<bool> = buddies.iter().map(|b| b.len() < N_BUDDIES).collect();
    let isolated: Vec<bool> = row_station.iter().map(|&s| isolated_station[s]).collect();

    let mut out = vec![false; n];
    let (order, starts) = group_by_time(&grid.time_ms);
    let mut value = vec![f64::NAN; ns];
    let mut vals: Vec<f64> = Vec::new();
    let mut scratch: Vec<f64> = Vec::new();
    for w in starts.windows(2) {
        let group = &order[w[0]..w[1]];
        let z_mean = super::m2::step_mean_z(grid, group, has_z);
        for &i in group {
            let s = row_station[i];
            value[s] = f64::NAN;
            if !m4[i] {
                continue;
            }
            let Some(ta) = grid.ta[i] else { continue };
            value[s] = if has_z {
                match grid.z[i] {
                    Some(z) => ta + LAPSE_RATE * (z - z_mean),
                    None => f64::NAN,
                }
            } else {
                ta
            };
        }
        for &i in group {
            if !m4[i] {
                continue;
            }
            let s = row_station[i];
            if isolated_station[s] {
                out[i] = keep_isolated;
                continue;
            }
            let x = value[s];
            if x.is_nan() {
                continue;
            }
            vals.clear();
            vals.extend(buddies[s].iter().map(|&b| value[b]).filter(|v| !v.is_nan()));
            if vals.len() < N_BUDDIES {
                out[i] = o.few_valid_pass;
                continue;
            }
            let Some(threshold) = student_t_quantile(ALPHA / 2.0, (vals.len() - 2) as f64) else {
                continue;
            };
            let Some(scale) = qn(&vals) else { continue };
            scratch.clear();
            scratch.extend_from_slice(&vals);
            let Some(med) = median(&mut scratch) else {
                continue;
            };
            let score = ((x - med) / scale).abs();
            out[i] = score < threshold.abs();
        }
        for &i in group {
            value[row_station[i]] = f64::NAN;
        }
    }
    (out, isolated)
}
