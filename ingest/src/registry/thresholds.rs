//! Canicule thresholds per département (Sn for IBMn, Sx for IBMx), shipped as data with their
//! source and date (`canicule_thresholds.csv`) and overridable per network: official values
//! get revised, and the service must say which ones it used.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::LazyLock;

/// The thresholds one département's vigilance uses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaniculeThresholds {
    pub departement: String,
    pub name: String,
    /// Sn: IBMn must reach it (°C).
    pub tn_threshold_c: f64,
    /// Sx: IBMx must reach it (°C).
    pub tx_threshold_c: f64,
    pub source: String,
    pub source_date: String,
}

static SHIPPED: LazyLock<BTreeMap<String, CaniculeThresholds>> = LazyLock::new(|| {
    csv::Reader::from_reader(include_str!("canicule_thresholds.csv").as_bytes())
        .deserialize::<CaniculeThresholds>()
        .map(|row| {
            let row = row.expect("shipped canicule_thresholds.csv is valid");
            (row.departement.clone(), row)
        })
        .collect()
});

/// The shipped thresholds of a département (INSEE code, e.g. "31").
pub fn shipped(departement: &str) -> Option<&'static CaniculeThresholds> {
    SHIPPED.get(departement)
}

/// Every shipped département.
pub fn all_shipped() -> impl Iterator<Item = &'static CaniculeThresholds> {
    SHIPPED.values()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_domain_reference_values_are_shipped() {
        let expect = [("75", 21.0, 31.0), ("31", 21.0, 36.0), ("35", 19.0, 34.0), ("69", 20.0, 34.0), ("13", 24.0, 35.0), ("30", 23.0, 36.0), ("22", 18.0, 31.0), ("06", 24.0, 31.0)];
        for (d, sn, sx) in expect {
            let t = shipped(d).unwrap_or_else(|| panic!("département {d}"));
            assert_eq!((t.tn_threshold_c, t.tx_threshold_c), (sn, sx), "{d}");
        }
        assert_eq!(all_shipped().count(), expect.len());
    }
}
