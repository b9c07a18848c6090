//! CrowdQC+ network quality control (Fenner et al. 2021; `shared/docs/domain.md`, section 5),
//! implemented from the written description as pure functions over a regular grid.
//!
//! The level chain is cumulative: every level is `false` wherever the previous one is.
//!
//! - **m1** ([`m1::m1`]): value present, and the station's (lon, lat) pair not shared with
//!   another station.
//! - **m2** ([`m2::m2`]): per time step, height-corrected robust z-score
//!   `(x − median) / Qn` within `[qnorm(0.01), qnorm(0.95)]`.
//! - **m3** ([`m3::m3`]): per station and UTC calendar month, share of m2-passed rows (missing
//!   rows included in the denominator) > 0.2.
//! - **m4** ([`m4::m4`]): per station and UTC calendar month, Pearson correlation (pairwise
//!   complete) with the per-time-step network median of m3-passed values ≥ 0.9; undefined fails.
//! - **m5** ([`m5::m5`]): buddy check against neighbours' m4-passed values.
//! - o1: interpolation of single-step gaps; o2: per-day share > 0.8; o3: per-month share > 0.8.
//!
//! **Implemented so far: m1 to m5.** o1..o3 do not exist yet.
//!
//! The golden flags of the reference implementation (CrowdQC+ v1.1.1) are in
//! `shared/uhi-validation/`; `query/tests/crowdqc_golden.rs` compares against them row by row.

pub mod m1;
pub mod m2;
pub mod m3;
pub mod m4;
pub mod m5;

pub use m1::m1;
pub use m2::m2;
pub use m3::m3;
pub use m4::m4;
pub use m5::m5;

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
