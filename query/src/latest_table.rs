//! The `latest_readings` table: every sensor's newest reading by measurement time, from the
//! store's in-memory cache (no scan): the dashboards' "now". Same columns as `readings`.

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::compute::cast;
use datafusion::common::Result;
use ilot_ingest::schema::{public_schema, readings_to_batch};
use ilot_ingest::store::Store;
use std::sync::Arc;

use crate::snapshot_table::SnapshotTable;

pub fn latest_readings_table(store: Arc<Store>) -> SnapshotTable {
    SnapshotTable::new("latest_readings", public_schema(), move || {
        let stored = readings_to_batch(&store.latest_readings());
        let schema = public_schema();
        let columns = stored.columns().iter().zip(schema.fields()).map(|(c, f)| cast(c, f.data_type())).collect::<Result<Vec<_>, _>>()?;
        Ok(RecordBatch::try_new(schema, columns)?)
    })
}
