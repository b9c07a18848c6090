//! The `latest_readings` table: every sensor's newest reading by measurement time, from the
//! store's in-memory cache (no scan): the dashboards' "now". Same columns as `readings`.

use async_trait::async_trait;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::Result;
use datafusion::datasource::TableType;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;
use ilot_ingest::schema::{public_schema, readings_to_batch};
use ilot_ingest::store::Store;
use std::sync::Arc;

pub struct LatestReadingsTable {
    store: Arc<Store>,
}

impl LatestReadingsTable {
    pub fn new(store: Arc<Store>) -> Self {
        Self { store }
    }
}

impl std::fmt::Debug for LatestReadingsTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LatestReadingsTable")
    }
}

#[async_trait]
impl TableProvider for LatestReadingsTable {
    fn schema(&self) -> SchemaRef {
        public_schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let stored = readings_to_batch(&self.store.latest_readings());
        let schema = public_schema();
        let columns = stored
            .columns()
            .iter()
            .zip(schema.fields())
            .map(|(c, f)| cast(c, f.data_type()))
            .collect::<Result<Vec<_>, _>>()?;
        let batch = RecordBatch::try_new(schema.clone(), columns)?;
        MemorySourceConfig::try_new_exec(&[vec![batch]], schema, projection.cloned()).map(|e| e as Arc<dyn ExecutionPlan>)
    }
}
