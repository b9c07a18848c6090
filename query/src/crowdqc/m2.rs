//! CrowdQC+ level m2: per-time-step robust z-score of the height-corrected temperature.

use super::CrowdQcGrid;
use crate::robust_stats::{median, normal_quantile, qn};

/// Dry-adiabatic-ish lapse rate used for the height correction, K per metre.
const LAPSE_RATE: f64 = 0.0065;
/// Lower tail probability of the z-score bounds (`qnorm(0.01)`).
const LOW: f64 = 0.01;
/// Upper tail probability of the z-score bounds (`qnorm(0.95)`).
const HIGH: f64 = 0.95;

/// Row indices grouped by time step: `order` holds the indices sorted by time, `starts` the
/// boundaries of each group (`starts[g]..starts[g + 1]`).
pub(crate) fn group_by_time(time_ms: &[i64]) -> (Vec<usize>, Vec<usize>) {
    let mut order: Vec<usize> = (0..time_ms.len()).collect();
    order.sort_unstable_by_key(|&i| (time_ms[i], i));
    let mut starts = Vec::new();
    for (pos, &i) in order.iter().enumerate() {
        if pos == 0 || time_ms[order[pos - 1]] != time_ms[i] {
            starts.push(pos);
        }
    }
    starts.push(order.len());
    (order, starts)
}

/// Level m2, given the m1 flags of the same grid (cumulative: `false` wherever `m1` is).
///
/// Per time step, over the rows passing m1: x = ta, height-corrected when elevations exist as
/// x = ta + 0.0065·(z − z̄), where z̄ is the mean elevation over **all** rows of that time step
/// with a known z (not only the m1-passed ones). Each row's robust z-score
/// `(x − median(x)) / Qn(x)` must lie within `[qnorm(0.01), qnorm(0.95)]`; a score that is not
/// a number (e.g. Qn = 0, or a missing z) fails. "Elevations exist" means at least one row of
/// the grid has a z; when none has, no correction is applied.
///
/// Note: z̄ is one constant per time step, so it shifts every x of the step equally and cancels
/// in `x − median(x)` (Qn is shift-invariant too). Averaging over all rows (as the reference
/// does) or over the m1-passed rows gives identical flags on the golden data, up to
/// floating-point rounding; the correction's effect comes from the per-row `0.0065·z` term.
pub fn m2(grid: &CrowdQcGrid, m1: &[bool]) -> Vec<bool> {
    grid.assert_consistent();
    assert_eq!(m1.len(), grid.len(), "m1 flags must have one entry per row");
    let low = normal_quantile(LOW).expect("qnorm(0.01) is defined");
    let high = normal_quantile(HIGH).expect("qnorm(0.95) is defined");
    let has_z = grid.z.iter().any(Option::is_some);

    let mut out = vec![false; grid.len()];
    let (order, starts) = group_by_time(&grid.time_ms);
    // Scratch buffers reused across time steps.
    let mut rows: Vec<usize> = Vec::new();
    let mut xs: Vec<f64> = Vec::new();
    let mut scratch: Vec<f64> = Vec::new();

    for w in starts.windows(2) {
        let group = &order[w[0]..w[1]];
        let z_mean = step_mean_z(grid, group, has_z);

        rows.clear();
        xs.clear();
        for &i in group {
            if !m1[i] {
                continue;
            }
            let Some(ta) = grid.ta[i] else { continue };
            let x = if has_z {
                match grid.z[i] {
                    Some(z) => ta + LAPSE_RATE * (z - z_mean),
                    None => f64::NAN,
                }
            } else {
                ta
            };
            if x.is_nan() {
                continue;
            }
            rows.push(i);
            xs.push(x);
        }
        if xs.is_empty() {
            continue;
        }
        scratch.clear();
        scratch.extend_from_slice(&xs);
        let Some(med) = median(&mut scratch) else {
            continue;
        };
        let Some(scale) = qn(&xs) else { continue };
        for (&i, &x) in rows.iter().zip(&xs) {
            let score = (x - med) / scale;
            out[i] = !score.is_nan() && score >= low && score <= high;
        }
    }
    out
}

/// Mean elevation of the rows of one time step that have one (the reference of the height
/// correction, shared with m5); 0 when the grid has no elevations, NaN when this step has none.
pub(super) fn step_mean_z(grid: &CrowdQcGrid, group: &[usize], has_z: bool) -> f64 {
    if !has_z {
        return 0.0;
    }
    let (sum, count) = group.iter().filter_map(|&i| grid.z[i]).fold((0.0, 0usize), |(s, c), z| (s + z, c + 1));
    if count == 0 { f64::NAN } else { sum / count as f64 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crowdqc::m1::m1;

    fn grid(ta: &[Option<f64>], z: Option<&[f64]>) -> CrowdQcGrid {
        let n = ta.len();
        CrowdQcGrid {
            station: (0..n as i64).collect(),
            time_ms: vec![0; n],
            ta: ta.to_vec(),
            lon: (0..n).map(|i| Some(13.0 + i as f64 * 0.01)).collect(),
            lat: vec![Some(52.5); n],
            z: match z {
                Some(z) => z.iter().map(|v| Some(*v)).collect(),
                None => vec![None; n],
            },
        }
    }

    #[test]
    fn warm_outlier_fails_and_missing_values_fail() {
        let g = grid(
            &[
                Some(20.0),
                Some(20.5),
                Some(19.8),
                Some(20.2),
                Some(19.9),
                Some(25.0),
                None,
            ],
            None,
        );
        let f1 = m1(&g);
        assert_eq!(f1, vec![true, true, true, true, true, true, false]);
        let f2 = m2(&g, &f1);
        assert!(!f2[5], "warm outlier must fail");
        assert!(!f2[6], "missing value must fail");
        assert!(f2[..5].iter().all(|f| *f));
    }

    #[test]
    fn zero_qn_fails_everything() {
        let g = grid(&[Some(20.0), Some(20.0), Some(20.0), Some(21.0)], None);
        let f1 = m1(&g);
        assert!(m2(&g, &f1).iter().all(|f| !*f));
    }

    #[test]
    fn height_correction_rescues_a_high_station() {
        // 1000 m higher is 6.5 K colder; corrected it is a normal value.
        let ta = [
            Some(20.0),
            Some(20.3),
            Some(19.8),
            Some(20.2),
            Some(19.9),
            Some(13.6),
        ];
        let z = [50.0, 50.0, 50.0, 50.0, 50.0, 1050.0];
        let g = grid(&ta, Some(&z));
        let f1 = m1(&g);
        assert!(m2(&g, &f1).iter().all(|f| *f));
        let uncorrected = grid(&ta, None);
        assert!(!m2(&uncorrected, &f1)[5]);
    }
}
