//! CrowdQC+ network quality control (Fenner et al. 2021; `shared/docs/domain.md`, section 5),
//! implemented from the written description as pure functions over a regular grid.
//!
//! The level chain is cumulative: every level is `false` wherever the previous one is.
//!
//! - **m1** ([`m1::m1`]): value present, and the station's (lon, lat) pair known and not
//!   shared with another station.
//! - **m2** ([`m2::m2`]): per time step, height-corrected robust z-score
//!   `(x − median) / Qn` within `[qnorm(0.01), qnorm(0.95)]`.
//! - **m3** ([`m3::m3`]): per station and UTC calendar month, share of m2-passed rows (missing
//!   rows included in the denominator) > 0.2.
//! - **m4** ([`m4::m4`]): per station and UTC calendar month, Pearson correlation (pairwise
//!   complete) with the per-time-step network median of m3-passed values ≥ 0.9; undefined fails.
//! - **m5** ([`m5::m5`]): buddy check against neighbours' m4-passed values.
//! - **o1** ([`o1::o1`]): m5, or a single-step gap between two m5-passed rows of the station,
//!   filled by linear interpolation (`ta_int`); a gap whose value already equals the
//!   interpolation fails (as in the reference).
//! - **o2** ([`o2::o2`]): per station and UTC day, share of o1-passed rows (missing rows
//!   included) > 0.8.
//! - **o3** ([`o3::o3`]): per station and UTC calendar month, share of o2-passed rows (missing
//!   rows included) > 0.8.
//!
//! [`run`] runs the whole chain and returns every level in one [`CrowdQcFlags`].
//!
//! The golden flags of the reference implementation (CrowdQC+ v1.1.1) are in
//! `shared/uhi-validation/`; `query/tests/crowdqc_golden.rs` compares against them row by row.

pub mod job;
pub mod m1;
pub mod m2;
pub mod m3;
pub mod m4;
pub mod m5;
pub mod o1;
pub mod o2;
pub mod o3;

pub use m1::m1;
pub use m2::m2;
pub use m3::m3;
pub use m4::m4;
pub use m5::m5;
pub use o1::o1;
pub use o2::o2;
pub use o3::o3;

/// The regular grid the levels run on: one row per (station, time step), column-wise.
///
/// All vectors have the same length (one entry per row). Missing values are `None`. Rows need
/// not be sorted.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CrowdQcGrid {
    /// Station identifier (`p_id`).
    pub station: Vec<i64>,
    /// Time step, milliseconds since the Unix epoch (UTC).
    pub time_ms: Vec<i64>,
    /// Air temperature, °C.
    pub ta: Vec<Option<f64>>,
    /// Longitude, degrees (WGS84).
    pub lon: Vec<Option<f64>>,
    /// Latitude, degrees (WGS84).
    pub lat: Vec<Option<f64>>,
    /// Elevation, metres; `None` where unknown.
    pub z: Vec<Option<f64>>,
}

#[cfg(test)]
impl CrowdQcGrid {
    /// Rows all at one Berlin position with no elevation, for the levels' unit tests.
    pub(crate) fn at_berlin(station: Vec<i64>, time_ms: Vec<i64>, ta: Vec<Option<f64>>) -> Self {
        let n = station.len();
        Self { station, time_ms, ta, lon: vec![Some(13.4); n], lat: vec![Some(52.5); n], z: vec![None; n] }
    }
}

impl CrowdQcGrid {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.station.len()
    }

    /// Whether the grid has no rows.
    pub fn is_empty(&self) -> bool {
        self.station.is_empty()
    }

    /// Panics unless all columns have the same length (a programming error, not a data error).
    pub(crate) fn assert_consistent(&self) {
        let n = self.station.len();
        assert!(
            self.time_ms.len() == n
                && self.ta.len() == n
                && self.lon.len() == n
                && self.lat.len() == n
                && self.z.len() == n,
            "CrowdQcGrid columns must all have the same length"
        );
    }
}

/// Every CrowdQC+ level of one grid, one entry per grid row (same order as the grid).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CrowdQcFlags {
    pub m1: Vec<bool>,
    pub m2: Vec<bool>,
    pub m3: Vec<bool>,
    pub m4: Vec<bool>,
    pub m5: Vec<bool>,
    /// The station has fewer than 5 buddies (see [`m5()`]); not a level.
    pub isolated: Vec<bool>,
    pub o1: Vec<bool>,
    /// Temperature after o1: `ta` where m5 passes, the interpolated value on single-step gaps
    /// (also where o1 fails because it equals `ta`, see [`o1()`]), `None` elsewhere.
    pub ta_int: Vec<Option<f64>>,
    pub o2: Vec<bool>,
    pub o3: Vec<bool>,
}

/// Runs the whole chain m1 → o3 over `grid`. `keep_isolated` is m5's option (isolated stations
/// keep their m4 flag instead of failing; the reference's default is `false`).
pub fn run(grid: &CrowdQcGrid, keep_isolated: bool) -> CrowdQcFlags {
    let m1 = m1(grid);
    let m2 = m2(grid, &m1);
    let m3 = m3(grid, &m2);
    let m4 = m4(grid, &m3);
    let (m5, isolated) = m5(grid, &m4, keep_isolated);
    let (o1, ta_int) = o1(grid, &m5);
    let o2 = o2(grid, &o1);
    let o3 = o3(grid, &o2);
    CrowdQcFlags {
        m1,
        m2,
        m3,
        m4,
        m5,
        isolated,
        o1,
        ta_int,
        o2,
        o3,
    }
}
