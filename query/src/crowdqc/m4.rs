//! CrowdQC+ level m4: per station-month correlation with the network median.

use super::CrowdQcGrid;
use super::m2::group_by_time;
use super::m3::group_by_station_month;
use crate::robust_stats::median;

/// Minimum Pearson correlation a station-month needs to be kept.
const MIN_COR: f64 = 0.9;

/// Pearson correlation of the pairs; `None` when undefined (fewer than 2 pairs, zero variance
/// of either series, or a non-finite result).
fn pearson(xs: &[f64], ys: &[f64]) -> Option<f64> {
    let n = xs.len();
    if n < 2 {
        return None;
    }
    let mean_x = xs.iter().sum::<f64>() / n as f64;
    let mean_y = ys.iter().sum::<f64>() / n as f64;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (&x, &y) in xs.iter().zip(ys) {
        let (dx, dy) = (x - mean_x, y - mean_y);
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
    }
    if sxx == 0.0 || syy == 0.0 {
        return None;
    }
    let r = sxy / (sxx.sqrt() * syy.sqrt());
    r.is_finite().then_some(r)
}

/// Level m4, given the m3 flags of the same grid (cumulative: `false` wherever `m3` is).
///
/// The reference series is the per-time-step median of all m3-passed `ta` values (over
/// stations). Per station and UTC calendar month, the Pearson correlation between the
/// station's m3-passed `ta` and that median, over pairwise complete time steps, must be ≥ 0.9;
/// otherwise (or when it is undefined: fewer than 2 pairs, or zero variance) the whole
/// station-month fails.
pub fn m4(grid: &CrowdQcGrid, m3: &[bool]) -> Vec<bool> {
    grid.assert_consistent();
    assert_eq!(m3.len(), grid.len(), "m3 flags must have one entry per row");
    let n = grid.len();

    // Network median of each row's time step (NaN where no m3-passed value exists).
    let mut net_median = vec![f64::NAN; n];
    let (order, starts) = group_by_time(&grid.time_ms);
    let mut scratch: Vec<f64> = Vec::new();
    for w in starts.windows(2) {
        let group = &order[w[0]..w[1]];
        scratch.clear();
        scratch.extend(
            group
                .iter()
                .filter(|&&i| m3[i])
                .filter_map(|&i| grid.ta[i])
                .filter(|x| !x.is_nan()),
        );
        let Some(med) = median(&mut scratch) else {
            continue;
        };
        for &i in group {
            net_median[i] = med;
        }
    }
    drop(order);

    let mut out = vec![false; n];
    let (order, starts) = group_by_station_month(grid);
    let mut xs: Vec<f64> = Vec::new();
    let mut ys: Vec<f64> = Vec::new();
    for w in starts.windows(2) {
        let group = &order[w[0]..w[1]];
        xs.clear();
        ys.clear();
        for &i in group {
            if !m3[i] {
                continue;
            }
            let (Some(x), y) = (grid.ta[i], net_median[i]) else {
                continue;
            };
            if x.is_nan() || y.is_nan() {
                continue;
            }
            xs.push(x);
            ys.push(y);
        }
        if pearson(&xs, &ys).is_some_and(|r| r >= MIN_COR) {
            for &i in group {
                out[i] = m3[i];
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000;

    /// `series[s][t]` is station s's value at hour t; all rows pass m3 where present.
    fn grid(series: &[Vec<Option<f64>>]) -> (CrowdQcGrid, Vec<bool>) {
        let mut g = CrowdQcGrid::default();
        for (s, values) in series.iter().enumerate() {
            for (t, v) in values.iter().enumerate() {
                g.station.push(s as i64);
                g.time_ms.push(1_496_275_200_000 + t as i64 * HOUR);
                g.ta.push(*v);
                g.lon.push(Some(13.0 + s as f64 * 0.01));
                g.lat.push(Some(52.5));
                g.z.push(None);
            }
        }
        let m3 = g.ta.iter().map(Option::is_some).collect();
        (g, m3)
    }

    fn diurnal(t: usize, offset: f64) -> Option<f64> {
        Some(20.0 + offset + 5.0 * (t as f64 * std::f64::consts::TAU / 24.0).sin())
    }

    #[test]
    fn pearson_basics() {
        assert_eq!(pearson(&[1.0], &[2.0]), None);
        assert_eq!(pearson(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]), None);
        let r = pearson(&[1.0, 2.0, 3.0], &[2.0, 4.0, 6.5]).unwrap();
        assert!(r > 0.99 && r <= 1.0);
        let r = pearson(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]).unwrap();
        assert!((r + 1.0).abs() < 1e-12);
    }

    #[test]
    fn anti_correlated_station_fails_whole_month() {
        let hours = 48;
        let mut series: Vec<Vec<Option<f64>>> = (0..5)
            .map(|s| (0..hours).map(|t| diurnal(t, s as f64 * 0.1)).collect())
            .collect();
        // Station 5 runs opposite to the network.
        series.push((0..hours).map(|t| diurnal(t + 12, 0.0)).collect());
        let (g, f3) = grid(&series);
        let f4 = m4(&g, &f3);
        for (i, &s) in g.station.iter().enumerate() {
            assert_eq!(f4[i], s != 5, "row {i} of station {s}");
        }
    }

    #[test]
    fn cumulative_and_missing_rows_are_skipped() {
        let hours = 24;
        let mut series: Vec<Vec<Option<f64>>> = (0..5)
            .map(|s| (0..hours).map(|t| diurnal(t, s as f64 * 0.2)).collect())
            .collect();
        series[0][3] = None;
        let (g, mut f3) = grid(&series);
        f3[5] = false; // station 0, hour 5: failed m3 earlier
        let f4 = m4(&g, &f3);
        assert!(!f4[3] && !f4[5]);
        assert_eq!(f4.iter().filter(|f| **f).count(), 5 * hours - 2);
    }

    #[test]
    fn undefined_correlation_fails() {
        let hours = 24;
        let mut series: Vec<Vec<Option<f64>>> = (0..5)
            .map(|s| (0..hours).map(|t| diurnal(t, s as f64 * 0.2)).collect())
            .collect();
        // Station 5: a constant series (zero variance).
        series.push(vec![Some(21.0); hours]);
        // Station 6: a single present value (fewer than 2 complete pairs).
        let mut single = vec![None; hours];
        single[4] = Some(20.0);
        series.push(single);
        let (g, f3) = grid(&series);
        let f4 = m4(&g, &f3);
        for (i, &s) in g.station.iter().enumerate() {
            if s >= 5 {
                assert!(!f4[i], "row {i} of station {s} must fail");
            } else {
                assert_eq!(f4[i], g.ta[i].is_some());
            }
        }
    }

    #[test]
    fn correlation_is_computed_per_utc_month() {
        // Station 0 tracks the network in May but is anti-correlated in June (UTC).
        let june = 1_496_275_200_000;
        let mut g = CrowdQcGrid::default();
        for t in -24i64..24 {
            for s in 0..5i64 {
                let tt = (t + 48) as usize;
                let v = if s == 0 && t >= 0 {
                    diurnal(tt + 12, 0.0)
                } else {
                    diurnal(tt, s as f64 * 0.1)
                };
                g.station.push(s);
                g.time_ms.push(june + t * HOUR);
                g.ta.push(v);
                g.lon.push(Some(13.0 + s as f64 * 0.01));
                g.lat.push(Some(52.5));
                g.z.push(None);
            }
        }
        let f3 = vec![true; g.len()];
        let f4 = m4(&g, &f3);
        for (i, &flag) in f4.iter().enumerate() {
            let expected = !(g.station[i] == 0 && g.time_ms[i] >= june);
            assert_eq!(flag, expected, "row {i}");
        }
    }
}
