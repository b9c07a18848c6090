//! The `ilot.public` schema: the base tables (registered as usual) plus the heat-analytics views
//! and period summaries of this module, each planned from its SQL the first time a query names
//! it, then kept. A fresh process (`ilot sql`) pays only for the definitions its query uses: the
//! dashboards' "now" plans none. (The test `every_definition_plans` plans them all.)

use async_trait::async_trait;
use datafusion::catalog::memory::MemorySchemaProvider;
use datafusion::catalog::view::ViewTable;
use datafusion::catalog::{SchemaProvider, TableProvider};
use datafusion::common::{DataFusionError, Result};
use datafusion::execution::SessionState;
use datafusion::execution::object_store::ObjectStoreUrl;
use ilot_ingest::registry::RegistryHandle;
use ilot_ingest::store::Store;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use super::Summary;
use crate::period_summary::PeriodSummaryTable;

/// One named definition.
pub enum Definition {
    View(&'static str),
    Summary(&'static Summary),
}

impl Definition {
    fn sql(&self) -> &'static str {
        match self {
            Definition::View(sql) => sql,
            Definition::Summary(s) => s.sql,
        }
    }
}

/// What the period summaries read beside their SQL.
pub struct SummaryInputs {
    pub store: Arc<Store>,
    pub registry: Arc<RegistryHandle>,
    pub store_url: ObjectStoreUrl,
    /// Digest of every definition's SQL (see `period_summary::definitions_digest`).
    pub definitions_digest: u64,
}

/// The session's state as it is now, to plan a definition with (`None` once the session is gone).
pub type StateSource = Box<dyn Fn() -> Option<SessionState> + Send + Sync>;

pub struct LazySchema {
    tables: MemorySchemaProvider,
    definitions: BTreeMap<&'static str, Definition>,
    planned: Mutex<HashMap<&'static str, Arc<dyn TableProvider>>>,
    state: StateSource,
    summaries: SummaryInputs,
}

impl std::fmt::Debug for LazySchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LazySchema").field("definitions", &self.definitions.keys().collect::<Vec<_>>()).finish()
    }
}

impl LazySchema {
    pub fn new(definitions: BTreeMap<&'static str, Definition>, state: StateSource, summaries: SummaryInputs) -> Self {
        Self { tables: MemorySchemaProvider::new(), definitions, planned: Mutex::new(HashMap::new()), state, summaries }
    }

    async fn plan(&self, name: &'static str, definition: &Definition) -> Result<Arc<dyn TableProvider>> {
        let state = (self.state)().ok_or_else(|| DataFusionError::Internal("the SQL session is gone".into()))?;
        let plan = state.create_logical_plan(definition.sql()).await.map_err(|e| e.context(format!("defining {name}")))?;
        Ok(match definition {
            Definition::View(sql) => Arc::new(ViewTable::new(plan, Some((*sql).to_owned()))),
            Definition::Summary(s) => {
                let i = &self.summaries;
                Arc::new(PeriodSummaryTable::new(
                    s.name,
                    s.period_column,
                    plan,
                    i.definitions_digest,
                    i.store.clone(),
                    i.registry.clone(),
                    i.store_url.clone(),
                ))
            }
        })
    }
}

#[async_trait]
impl SchemaProvider for LazySchema {
    fn table_names(&self) -> Vec<String> {
        let mut names = self.tables.table_names();
        names.extend(self.definitions.keys().map(|n| (*n).to_owned()));
        names
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        if let Some(table) = self.tables.table(name).await? {
            return Ok(Some(table));
        }
        let Some((&key, definition)) = self.definitions.get_key_value(name) else { return Ok(None) };
        if let Some(table) = self.planned.lock().expect("planned lock").get(key) {
            return Ok(Some(table.clone()));
        }
        let table = self.plan(key, definition).await?;
        Ok(Some(self.planned.lock().expect("planned lock").entry(key).or_insert(table).clone()))
    }

    fn register_table(&self, name: String, table: Arc<dyn TableProvider>) -> Result<Option<Arc<dyn TableProvider>>> {
        if self.definitions.contains_key(name.as_str()) {
            return Err(DataFusionError::Plan(format!("{name} is a heat-analytics definition")));
        }
        self.tables.register_table(name, table)
    }

    fn deregister_table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        self.tables.deregister_table(name)
    }

    fn table_exist(&self, name: &str) -> bool {
        self.tables.table_exist(name) || self.definitions.contains_key(name)
    }
}
