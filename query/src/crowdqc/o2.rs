//! CrowdQC+ level o2: per station-day share of o1-passed rows.

use super::CrowdQcGrid;
use super::m3::{group_by_station_period, keep_by_share, utc_day_key};

/// Minimum share (exclusive) of o1-passed rows a station-day needs to be kept.
const MIN_SHARE: f64 = 0.8;

/// Level o2, given the o1 flags of the same grid (cumulative: `false` wherever `o1` is).
///
/// Per station and UTC day, the station-day is kept only if the share of rows passing o1 is
/// above 0.8, the denominator being **all** rows of that station-day, including rows whose
/// value is missing.
pub fn o2(grid: &CrowdQcGrid, o1: &[bool]) -> Vec<bool> {
    grid.assert_consistent();
    assert_eq!(o1.len(), grid.len(), "o1 flags must have one entry per row");
    let (order, starts) = group_by_station_period(grid, utc_day_key);
    keep_by_share(o1, &order, &starts, MIN_SHARE)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000;

    #[test]
    fn utc_days_with_missing_rows_in_the_denominator() {
        // 2017-06-01T00:00Z: two full UTC days of 10 hourly rows each (0..9 h, 24..33 h).
        let june = 1_496_275_200_000;
        let time_ms: Vec<i64> = (0..10).chain(24..34).map(|h| june + h * HOUR).collect();
        let n = time_ms.len();
        let g = CrowdQcGrid::at_berlin(vec![1; n], time_ms, vec![None; n]);
        // Day 1: 9 of 10 pass (0.9 > 0.8, kept). Day 2: 8 of 10 (0.8, dropped).
        let mut f1 = vec![true; n];
        f1[3] = false;
        f1[12] = false;
        f1[15] = false;
        let f2 = o2(&g, &f1);
        assert_eq!(&f2[..10], &f1[..10]);
        assert!(f2[10..].iter().all(|f| !*f));
    }
}
