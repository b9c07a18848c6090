//! CrowdQC+ level o3: per station-month share of o2-passed rows.

use super::CrowdQcGrid;
use super::m3::{group_by_station_month, keep_by_share};

/// Minimum share (exclusive) of o2-passed rows a station-month needs to be kept.
const MIN_SHARE: f64 = 0.8;

/// Level o3, given the o2 flags of the same grid (cumulative: `false` wherever `o2` is).
///
/// Per station and UTC calendar month, the station-month is kept only if the share of rows
/// passing o2 is > 0.8, the denominator being **all** rows of that station-month, including
/// rows whose value is missing.
pub fn o3(grid: &CrowdQcGrid, o2: &[bool]) -> Vec<bool> {
    grid.assert_consistent();
    assert_eq!(o2.len(), grid.len(), "o2 flags must have one entry per row");
    let (order, starts) = group_by_station_month(grid);
    keep_by_share(o2, &order, &starts, MIN_SHARE)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000;

    #[test]
    fn utc_months_with_missing_rows_in_the_denominator() {
        // 2017-05-31T19:00Z .. 2017-06-01T09:00Z: 5 rows in May, 10 in June (UTC).
        let june = 1_496_275_200_000;
        let time_ms: Vec<i64> = (-5..10).map(|h| june + h * HOUR).collect();
        let n = time_ms.len();
        let g = CrowdQcGrid::at_berlin(vec![1; n], time_ms, vec![None; n]);
        // May: 4 of 5 pass (0.8, dropped). June: 9 of 10 (0.9, kept).
        let mut f2 = vec![true; n];
        f2[0] = false;
        f2[7] = false;
        let f3 = o3(&g, &f2);
        assert!(f3[..5].iter().all(|f| !*f));
        assert_eq!(&f3[5..], &f2[5..]);
    }
}
