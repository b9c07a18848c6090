//! CrowdQC+ level m3: per station-month share of m2-passed rows.

use super::CrowdQcGrid;

/// Minimum share (exclusive) of m2-passed rows a station-month needs to be kept.
const MIN_SHARE: f64 = 0.2;

const MS_PER_DAY: i64 = 86_400_000;

/// UTC calendar month of a time in milliseconds since the Unix epoch, as `year * 12 + (month − 1)`
/// (a key that increases with time and differs between any two calendar months).
pub(crate) fn utc_month_key(time_ms: i64) -> i64 {
    // Days since 1970-01-01 → civil date (H. Hinnant's `civil_from_days`).
    let z = time_ms.div_euclid(MS_PER_DAY) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097; // [0, 146096]
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11], March-based
    let month = if mp < 10 { mp + 3 } else { mp - 9 }; // [1, 12]
    let year = yoe + era * 400 + i64::from(month <= 2);
    year * 12 + (month - 1)
}

/// UTC day of a time in milliseconds since the Unix epoch, as days since 1970-01-01.
pub(crate) fn utc_day_key(time_ms: i64) -> i64 {
    time_ms.div_euclid(MS_PER_DAY)
}

/// Row indices grouped by (station, UTC calendar month): see [`group_by_station_period`].
pub(crate) fn group_by_station_month(grid: &CrowdQcGrid) -> (Vec<usize>, Vec<usize>) {
    group_by_station_period(grid, utc_month_key)
}

/// Row indices grouped by (station, `period(time)`) with a single sort: `order` holds the
/// indices sorted by (station, period, time), `starts` the group boundaries
/// (`starts[g]..starts[g + 1]`).
pub(crate) fn group_by_station_period(
    grid: &CrowdQcGrid,
    period: fn(i64) -> i64,
) -> (Vec<usize>, Vec<usize>) {
    let periods: Vec<i64> = grid.time_ms.iter().map(|&t| period(t)).collect();
    let mut order: Vec<usize> = (0..grid.len()).collect();
    order.sort_unstable_by_key(|&i| (grid.station[i], periods[i], grid.time_ms[i], i));
    let mut starts = Vec::new();
    for (pos, &i) in order.iter().enumerate() {
        if pos == 0 {
            starts.push(pos);
            continue;
        }
        let p = order[pos - 1];
        if grid.station[p] != grid.station[i] || periods[p] != periods[i] {
            starts.push(pos);
        }
    }
    starts.push(order.len());
    (order, starts)
}

/// The share filter of m3, o2 and o3: a group (`order[starts[g]..starts[g + 1]]`) keeps its
/// `prev` flags only if the share of rows with `prev` true, over **all** rows of the group, is
/// `> min_share`; every other row is `false`.
pub(crate) fn keep_by_share(
    prev: &[bool],
    order: &[usize],
    starts: &[usize],
    min_share: f64,
) -> Vec<bool> {
    let mut out = vec![false; prev.len()];
    for w in starts.windows(2) {
        let group = &order[w[0]..w[1]];
        let passed = group.iter().filter(|&&i| prev[i]).count();
        if passed as f64 / group.len() as f64 > min_share {
            for &i in group {
                out[i] = prev[i];
            }
        }
    }
    out
}

/// Level m3, given the m2 flags of the same grid (cumulative: `false` wherever `m2` is).
///
/// Per station and UTC calendar month, the station-month is kept only if the share of rows
/// passing m2 is > 0.2, the denominator being **all** rows of that station-month, including
/// rows whose value is missing.
pub fn m3(grid: &CrowdQcGrid, m2: &[bool]) -> Vec<bool> {
    grid.assert_consistent();
    assert_eq!(m2.len(), grid.len(), "m2 flags must have one entry per row");
    let (order, starts) = group_by_station_month(grid);
    keep_by_share(m2, &order, &starts, MIN_SHARE)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000;

    fn grid(station: Vec<i64>, time_ms: Vec<i64>) -> CrowdQcGrid {
        let n = station.len();
        CrowdQcGrid::at_berlin(station, time_ms, vec![Some(20.0); n])
    }

    #[test]
    fn month_keys() {
        // 2017-06-01T00:00Z and 2017-05-31T23:59:59.999Z.
        let june = 1_496_275_200_000;
        assert_eq!(utc_month_key(june), 2017 * 12 + 5);
        assert_eq!(utc_month_key(june - 1), 2017 * 12 + 4);
        assert_eq!(utc_month_key(0), 1970 * 12);
        assert_eq!(utc_month_key(-1), 1969 * 12 + 11);
        // 2000-02-29T12:00Z and 2000-03-01T00:00Z.
        assert_eq!(utc_month_key(951_825_600_000), 2000 * 12 + 1);
        assert_eq!(utc_month_key(951_868_800_000), 2000 * 12 + 2);
    }

    #[test]
    fn missing_rows_count_in_the_denominator() {
        // 10 rows of one station-month: 2 pass m2 (share 0.2, not > 0.2) → all fail.
        let g = grid(vec![1; 10], (0..10).map(|h| h * HOUR).collect());
        let mut f2 = vec![false; 10];
        f2[0] = true;
        f2[1] = true;
        assert!(m3(&g, &f2).iter().all(|f| !*f));
        // 3 of 10 pass (0.3 > 0.2) → the passing rows stay, the others stay false.
        f2[2] = true;
        let f3 = m3(&g, &f2);
        assert_eq!(f3, f2);
        // Counting only the 3 "present" rows would have given share 1.0; a second station with
        // the same 3 passes over 20 rows (share 0.15) fails.
        let mut g2 = grid(vec![2; 20], (0..20).map(|h| h * HOUR).collect());
        g2.ta[5] = None;
        let mut f2b = vec![false; 20];
        f2b[..3].iter_mut().for_each(|f| *f = true);
        assert!(m3(&g2, &f2b).iter().all(|f| !*f));
    }

    #[test]
    fn utc_month_boundary_splits_the_groups() {
        // 2017-05-31T21:00Z .. 2017-06-01T04:00Z: 3 rows in May, 5 in June (UTC). In local time
        // (UTC+2) all 8 would be in June.
        let june = 1_496_275_200_000;
        let times: Vec<i64> = (-3..5).map(|h| june + h * HOUR).collect();
        let g = grid(vec![7; 8], times);
        // May: 1 of 3 passes (0.33 → keep). June: 1 of 5 passes (0.2 → drop).
        let f2 = vec![true, false, false, true, false, false, false, false];
        assert_eq!(
            m3(&g, &f2),
            vec![true, false, false, false, false, false, false, false]
        );
        // Unsorted input gives the same result row by row.
        let mut rev = g.clone();
        rev.time_ms.reverse();
        let mut f2r = f2.clone();
        f2r.reverse();
        let mut expected = m3(&g, &f2);
        expected.reverse();
        assert_eq!(m3(&rev, &f2r), expected);
    }
}
