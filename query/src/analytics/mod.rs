//! Heat analytics as SQL views, one `.sql` file per view, registered in dependency order.
//! Follow a reading to an indicator by the file names:
//!
//! ```text
//! hourly_rollup ─► hourly_raw ─► (ilot qc) crowdqc ─► crowdqc_passed ─┐ (crowdsourced networks)
//! hourly_rollup ─► hourly ─► hourly_corrected ─► uhi_reference_hourly ─► uhi_hourly ─► [uhi_night_summary] ─► uhi_nightly ─► uhi_lcz_nightly
//!                        │ (uhi_reference_elevation ─► sensor_context) │    └──► [uhi_day_summary] ─► uhi_daily ─► uhi_monthly
//!                        │       └──► network_anomaly_hourly          └─────────────────────┘
//!                        └──► [tn_tx_day_summary] ─► daily_tn_tx ─► ibm
//!                                                          └──► uhi_tn_tx
//! ```
//!
//! `hourly_rollup` (see `hourly_rollup_table`) holds per sensor-hour aggregates of the readings,
//! kept as data arrives. The [bracketed] definitions are period summaries (see
//! `period_summary`): tables kept per network-month for closed days, computed by their SQL
//! otherwise. Every view reads QC-passed data only (`qc_flags & 31 = 0`, registered sensors) but
//! `hourly_raw`, CrowdQC+'s input, and every
//! row says how it was computed (reference mode and stations, window, completeness). The
//! registry tables (`sensors`, `networks`, `uhi_reference_sensors`), the `crowdqc` table and the SQL functions
//! (`night_date_utc`, `night_date_sun`, `sunrise`, `sunset`) must be in the session before a
//! query uses the definitions, which are planned on first use (see `schema`).

use datafusion::error::Result;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::prelude::SessionContext;
use ilot_ingest::registry::RegistryHandle;
use ilot_ingest::store::Store;
use std::sync::Arc;

use crate::period_summary::definitions_digest;
use schema::{Definition, LazySchema, StateSource, SummaryInputs};
use std::collections::BTreeMap;

pub mod schema;

/// The views (summaries: see [`SUMMARIES`]), listed in an order where each one's inputs come
/// before it, for the reader: they are planned on first use, in whatever order queries need them.
pub const VIEWS: [(&str, &str); 16] = [
    ("hourly", include_str!("hourly.sql")),
    ("hourly_raw", include_str!("hourly_raw.sql")),
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

/// A period summary: name, period column and definition.
pub struct Summary {
    pub name: &'static str,
    pub period_column: &'static str,
    pub sql: &'static str,
}

/// The period summaries.
pub const SUMMARIES: [Summary; 3] = [
    Summary { name: "uhi_night_summary", period_column: "night", sql: include_str!("uhi_night_summary.sql") },
    Summary { name: "uhi_day_summary", period_column: "date", sql: include_str!("uhi_day_summary.sql") },
    Summary { name: "tn_tx_day_summary", period_column: "date", sql: include_str!("tn_tx_day_summary.sql") },
];

/// Install the `ilot.public` schema on `ctx` (before any table is registered): every view and
/// period summary, planned on first use (see [`schema::LazySchema`]), the summaries over
/// `store` and `registry`.
pub fn install(ctx: &SessionContext, store: Arc<Store>, registry: Arc<RegistryHandle>, store_url: ObjectStoreUrl) -> Result<()> {
    let definitions_digest = definitions_digest(VIEWS.iter().map(|(_, sql)| *sql).chain(SUMMARIES.iter().map(|s| s.sql)));
    let mut definitions: BTreeMap<&'static str, Definition> = VIEWS.iter().map(|(name, sql)| (*name, Definition::View(sql))).collect();
    definitions.extend(SUMMARIES.iter().map(|s| (s.name, Definition::Summary(s))));
    let weak = ctx.state_weak_ref();
    let state: StateSource = Box::new(move || weak.upgrade().map(|s| s.read().clone()));
    let schema = LazySchema::new(definitions, state, SummaryInputs { store, registry, store_url, definitions_digest });
    let catalog = ctx
        .catalog(CATALOG)
        .ok_or_else(|| datafusion::error::DataFusionError::Internal(format!("no catalog {CATALOG}")))?;
    catalog.register_schema(SCHEMA, Arc::new(schema))?;
    Ok(())
}

/// The session's default catalog and schema, which [`install`] fills.
pub const CATALOG: &str = "ilot";
pub const SCHEMA: &str = "public";

#[cfg(test)]
mod tests {
    use super::{SUMMARIES, VIEWS};
    use crate::{QueryEngine, QueryLimits};
    use ilot_ingest::layout::WriterId;
    use ilot_ingest::registry::RegistryHandle;
    use ilot_ingest::store::Store;
    use std::sync::Arc;

    /// Definitions are planned on first use: plan every one here, so a broken one fails a test
    /// rather than an analyst's query.
    #[tokio::test]
    async fn every_definition_plans() {
        let objects = Arc::new(object_store::memory::InMemory::new());
        let store = Store::open(objects, WriterId::new("t").unwrap(), false).await.unwrap();
        let engine = QueryEngine::new(store, RegistryHandle::in_memory(Default::default()), QueryLimits::default()).await.unwrap();
        for name in VIEWS.iter().map(|(n, _)| *n).chain(SUMMARIES.iter().map(|s| s.name)) {
            let r = engine.query(&format!("SELECT * FROM {name} LIMIT 0")).await.unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(r.batches.iter().all(|b| b.num_rows() == 0));
        }
        let listed = engine.query("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'").await.unwrap();
        let n = listed.batches[0].column(0).as_any().downcast_ref::<datafusion::arrow::array::Int64Array>().unwrap().value(0);
        assert!(n as usize >= VIEWS.len() + SUMMARIES.len(), "information_schema lists the definitions: {n}");
    }

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
