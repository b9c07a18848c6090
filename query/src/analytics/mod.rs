//! Heat analytics as SQL views, one `.sql` file per view, registered in dependency order.
//! Follow a reading to an indicator by the file names:
//!
//! ```text
//!              crowdqc ─► crowdqc_passed ─┐ (crowdsourced networks)
//! hourly_rollup ─► hourly ─► hourly_corrected ─► uhi_reference_hourly ─► uhi_hourly ─► [uhi_night_summary] ─► uhi_nightly ─► uhi_lcz_nightly
//!                        │ (uhi_reference_elevation ─► sensor_context) │    └──► uhi_daily ─► uhi_monthly
//!                        │       └──► network_anomaly_hourly          └─────────────────────┘
//!                        └──► [tn_tx_day_summary] ─► daily_tn_tx ─► ibm
//!                                                          └──► uhi_tn_tx
//! ```
//!
//! `hourly_rollup` (see `hourly_rollup_table`) holds per sensor-hour aggregates of the readings,
//! kept as data arrives. The two [bracketed] definitions are period summaries (see
//! `period_summary`): tables kept per network-month for closed days, computed by their SQL
//! otherwise. Every view reads QC-passed data only (`qc_flags & 31 = 0`, registered sensors) and every
//! row says how it was computed (reference mode and stations, window, completeness). The
//! registry tables (`sensors`, `networks`, `uhi_reference_sensors`), the `crowdqc` table and the SQL functions
//! (`night_date_utc`, `night_date_sun`, `sunrise`, `sunset`) must be registered first.

use datafusion::error::Result;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::prelude::SessionContext;
use ilot_ingest::registry::RegistryHandle;
use ilot_ingest::store::Store;
use std::sync::Arc;

use crate::period_summary::{PeriodSummaryTable, definitions_digest};

/// The views, in an order where each one's inputs come before it (summaries: see [`SUMMARIES`]).
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

/// A period summary: name, period column, definition, and the view it must precede.
pub struct Summary {
    pub name: &'static str,
    pub period_column: &'static str,
    pub sql: &'static str,
    pub before: &'static str,
}

/// The period summaries.
pub const SUMMARIES: [Summary; 2] = [
    Summary { name: "uhi_night_summary", period_column: "night", sql: include_str!("uhi_night_summary.sql"), before: "uhi_nightly" },
    Summary { name: "tn_tx_day_summary", period_column: "date", sql: include_str!("tn_tx_day_summary.sql"), before: "daily_tn_tx" },
];

/// Register every view and period summary on `ctx`, the summaries over `store` and `registry`.
pub async fn register(ctx: &SessionContext, store: Arc<Store>, registry: Arc<RegistryHandle>, store_url: ObjectStoreUrl) -> Result<()> {
    let digest = definitions_digest(VIEWS.iter().map(|(_, sql)| *sql).chain(SUMMARIES.iter().map(|s| s.sql)));
    for (name, sql) in VIEWS {
        for s in SUMMARIES.iter().filter(|s| s.before == name) {
            let definition = ctx.sql(s.sql).await.map_err(|e| e.context(format!("defining summary {}", s.name)))?.into_unoptimized_plan();
            let table = PeriodSummaryTable::new(s.name, s.period_column, definition, digest, store.clone(), registry.clone(), store_url.clone());
            ctx.register_table(s.name, Arc::new(table))?;
        }
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
        for (name, sql) in VIEWS.into_iter().chain(super::SUMMARIES.iter().map(|s| (s.name, s.sql))) {
            assert!(!sql.contains("FROM readings"), "{name} must read the hourly rollup, not rescan readings");
        }
    }
}
