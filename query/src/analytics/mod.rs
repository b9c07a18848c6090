//! Heat analytics as SQL views, one `.sql` file per view, registered in dependency order.
//! Follow a reading to an indicator by the file names:
//!
//! ```text
//!              crowdqc ─► crowdqc_passed ─┐ (crowdsourced networks)
//! hourly_rollup ─► hourly ─► hourly_corrected ─► uhi_reference_hourly ─► uhi_hourly ─► uhi_nightly ─► uhi_lcz_nightly
//!                        │ (uhi_reference_elevation ─► sensor_context) │    └──► uhi_daily ─► uhi_monthly
//!                        │       └──► network_anomaly_hourly          └─────────────────────┘
//!                        └──► daily_tn_tx ─► ibm
//!                                  └──► uhi_tn_tx
//! ```
//!
//! `hourly_rollup` (see `hourly_rollup_table`) holds per sensor-hour aggregates of the readings,
//! kept as data arrives. Every view reads QC-passed data only (`qc_flags & 31 = 0`, registered sensors) and every
//! row says how it was computed (reference mode and stations, window, completeness). The
//! registry tables (`sensors`, `networks`, `uhi_reference_sensors`), the `crowdqc` table and the SQL functions
//! (`night_date_utc`, `night_date_sun`, `sunrise`, `sunset`) must be registered first.

use datafusion::error::Result;
use datafusion::prelude::SessionContext;

/// The views, in an order where each one's inputs come before it.
pub const VIEWS: [(&str, &str); 15] = [
    ("hourly", include_str!("hourly.sql")),
    ("crowdqc_passed", include_str!("crowdqc_passed.sql")),
    ("uhi_reference_elevation", include_str!("uhi_reference_elevation.sql")),
    ("sensor_context", include_str!("sensor_context.sql")),
    ("hourly_corrected", include_str!("hourly_corrected.sql")),
    ("uhi_reference_hourly", include_str!("uhi_reference_hourly.sql")),
    ("uhi_hourly", include_str!("uhi_hourly.sql")),
    ("uhi_nightly", include_str!("uhi_nightly.sql")),
    ("uhi_daily", include_str!("uhi_daily.sql")),
    ("uhi_monthly", include_str!("uhi_monthly.sql")),
    ("uhi_lcz_nightly", include_str!("uhi_lcz_nightly.sql")),
    ("network_anomaly_hourly", include_str!("network_anomaly_hourly.sql")),
    ("daily_tn_tx", include_str!("daily_tn_tx.sql")),
    ("uhi_tn_tx", include_str!("uhi_tn_tx.sql")),
    ("ibm", include_str!("ibm.sql")),
];

/// Register every view on `ctx`.
pub async fn register(ctx: &SessionContext) -> Result<()> {
    for (name, sql) in VIEWS {
        let view = ctx.sql(sql).await.map_err(|e| e.context(format!("defining view {name}")))?.into_view();
        ctx.register_table(name, view)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::VIEWS;

    #[test]
    fn the_hourly_view_documents_the_mask_its_rollup_applies() {
        let mask = format!("qc_flags & {} = 0", ilot_ingest::qc::TEMPERATURE_FAILURES);
        let sql = VIEWS.iter().find(|(n, _)| *n == "hourly").expect("view exists").1;
        assert!(sql.contains(&mask), "hourly.sql must say the rollup keeps {mask}");
        for (name, sql) in VIEWS {
            assert!(!sql.contains("FROM readings"), "{name} must read the hourly rollup, not rescan readings");
        }
    }
}
