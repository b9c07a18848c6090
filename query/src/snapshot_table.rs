//! `SnapshotTable`: a small table rebuilt from live in-memory state at every scan (the registry
//! tables, `latest_readings`), so each query sees the state as it is when it starts.

use async_trait::async_trait;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::Result;
use datafusion::datasource::TableType;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;
use std::sync::Arc;

type Build = Box<dyn Fn() -> Result<RecordBatch> + Send + Sync>;

pub struct SnapshotTable {
    name: &'static str,
    schema: SchemaRef,
    build: Build,
}

impl SnapshotTable {
    /// A table of `schema` whose rows `build` produces at each scan.
    pub fn new(name: &'static str, schema: SchemaRef, build: impl Fn() -> Result<RecordBatch> + Send + Sync + 'static) -> Self {
        Self { name, schema, build: Box::new(build) }
    }
}

impl std::fmt::Debug for SnapshotTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SnapshotTable({})", self.name)
    }
}

#[async_trait]
impl TableProvider for SnapshotTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
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
        let batch = (self.build)()?;
        MemorySourceConfig::try_new_exec(&[vec![batch]], self.schema.clone(), projection.cloned()).map(|e| e as Arc<dyn ExecutionPlan>)
    }
}
