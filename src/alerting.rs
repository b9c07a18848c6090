//! `ilot serve`'s alerts (`[alerts]`, the `ilot-alerts` crate): the alert store held, the
//! rules evaluated over the query engine (read-only, bounded like every query) as the store's
//! data changes, deliveries running, and the `alerts` and `alert_events` SQL tables.

use anyhow::Context;
use arrow::array::{ArrayRef, BooleanArray, RecordBatch, StringArray, TimestampMillisecondArray, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use ilot_alerts::Alerting;
use ilot_alerts::evaluator::{RuleQueries, RuleQueryError};
use ilot_ingest::store::Store;
use ilot_query::{DataFusionError, QueryEngine};
use ilot_query::snapshot_table::SnapshotTable;
use serde_json::{Map, Value};
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::Config;

/// Where the alert store lives: `alerts.state_file`, else `_ilot/alerts.sqlite` in a local
/// data directory.
pub fn state_file(config: &Config) -> anyhow::Result<PathBuf> {
    match (&config.alerts.state_file, &config.storage.url) {
        (Some(file), _) => Ok(file.clone()),
        (None, None) => Ok(config.storage.data_dir.join("_ilot").join("alerts.sqlite")),
        (None, Some(_)) => anyhow::bail!("alerts.state_file: required with an object store (storage.url): the alert store is a local SQLite file"),
    }
}

/// The rules' queries, on the service's query engine.
struct EngineQueries(Arc<QueryEngine>);

fn boxed(e: impl std::error::Error + Send + Sync + 'static) -> RuleQueryError {
    RuleQueryError(Box::new(e))
}

impl RuleQueries for EngineQueries {
    async fn rows(&self, sql: String) -> Result<Vec<Map<String, Value>>, RuleQueryError> {
        let result = self.0.query_whole(&sql).await.map_err(boxed)?;
        let mut writer = arrow::json::ArrayWriter::new(Vec::new());
        for batch in &result.batches {
            writer.write(batch).map_err(boxed)?;
        }
        writer.finish().map_err(boxed)?;
        let bytes = writer.into_inner();
        if bytes.is_empty() {
            return Ok(Vec::new());
        }
        serde_json::from_slice(&bytes).map_err(boxed)
    }
}

fn utc_ms() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
}

fn alerts_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("rule", DataType::Utf8, false),
        Field::new("area", DataType::Utf8, false),
        Field::new("level", DataType::Utf8, false),
        Field::new("active", DataType::Boolean, false),
        Field::new("sequence", DataType::UInt64, false),
        Field::new("onset", utc_ms(), false),
        Field::new("raised", utc_ms(), false),
        Field::new("updated", utc_ms(), false),
        Field::new("cleared", utc_ms(), true),
    ]))
}

fn events_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("event_id", DataType::Utf8, false),
        Field::new("alert_id", DataType::Utf8, false),
        Field::new("sequence", DataType::UInt64, false),
        Field::new("event_type", DataType::Utf8, false),
        Field::new("rule", DataType::Utf8, false),
        Field::new("area", DataType::Utf8, false),
        Field::new("level", DataType::Utf8, false),
        Field::new("previous_level", DataType::Utf8, false),
        Field::new("issued", utc_ms(), false),
        Field::new("payload", DataType::Utf8, false),
    ]))
}

fn text<'a>(values: impl Iterator<Item = &'a str>) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(values))
}

fn times(values: impl Iterator<Item = Option<i64>>) -> ArrayRef {
    Arc::new(TimestampMillisecondArray::from_iter(values).with_timezone("UTC"))
}

fn store_error(e: ilot_alerts::alert_store::AlertStoreError) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

/// `alerts` and `alert_events`, read from the alert store at each query.
fn register_tables(engine: &QueryEngine, alerting: &Arc<Alerting>) -> anyhow::Result<()> {
    let source = alerting.clone();
    let alerts = SnapshotTable::new("alerts", alerts_schema(), move || {
        let rows = source.store.alerts(false).map_err(store_error)?;
        let columns: Vec<ArrayRef> = vec![
            text(rows.iter().map(|r| r.id.as_str())),
            text(rows.iter().map(|r| r.rule.as_str())),
            text(rows.iter().map(|r| r.area.as_str())),
            text(rows.iter().map(|r| r.level.as_str())),
            Arc::new(BooleanArray::from_iter(rows.iter().map(|r| Some(r.active)))),
            Arc::new(UInt64Array::from_iter_values(rows.iter().map(|r| r.seq))),
            times(rows.iter().map(|r| Some(r.onset_ms))),
            times(rows.iter().map(|r| Some(r.raised_ms))),
            times(rows.iter().map(|r| Some(r.updated_ms))),
            times(rows.iter().map(|r| r.cleared_ms)),
        ];
        Ok(RecordBatch::try_new(alerts_schema(), columns)?)
    });
    let source = alerting.clone();
    let events = SnapshotTable::new("alert_events", events_schema(), move || {
        let rows = source.store.events(None).map_err(store_error)?;
        let columns: Vec<ArrayRef> = vec![
            text(rows.iter().map(|r| r.event_id.as_str())),
            text(rows.iter().map(|r| r.alert_id.as_str())),
            Arc::new(UInt64Array::from_iter_values(rows.iter().map(|r| r.seq))),
            text(rows.iter().map(|r| r.event_type.as_str())),
            text(rows.iter().map(|r| r.rule.as_str())),
            text(rows.iter().map(|r| r.area.as_str())),
            text(rows.iter().map(|r| r.level.as_str())),
            text(rows.iter().map(|r| r.previous_level.as_str())),
            times(rows.iter().map(|r| Some(r.issued_ms))),
            text(rows.iter().map(|r| r.payload.as_str())),
        ];
        Ok(RecordBatch::try_new(events_schema(), columns)?)
    });
    engine.register_table("alerts", Arc::new(alerts))?;
    engine.register_table("alert_events", Arc::new(events))?;
    Ok(())
}

/// Open the alerts of `config` (when `alerts.enabled`) and run them until `shutdown`.
pub fn start(config: &Config, engine: &Arc<QueryEngine>, store: &Arc<Store>, shutdown: watch::Receiver<bool>) -> anyhow::Result<Option<(Arc<Alerting>, Vec<JoinHandle<()>>)>> {
    if !config.alerts.enabled {
        return Ok(None);
    }
    let path = state_file(config)?;
    let alerting = Alerting::open(&config.alerts, &path).with_context(|| format!("opening the alerts ({})", path.display()))?;
    register_tables(engine, &alerting)?;
    let tasks = alerting.spawn(&config.alerts, EngineQueries(engine.clone()), store.subscribe_changes(), shutdown)?;
    tracing::info!(rules = alerting.rules().len(), store = %path.display(), "alerts evaluated in this process");
    Ok(Some((alerting, tasks)))
}
