//! When rules are evaluated, as of which time, and what one evaluation does.
//!
//! - **As of the data's time.** A rule is evaluated as of the newest measurement of its
//!   networks (never later than the clock): a backlog caught up after an outage, a replay or
//!   the simulator is evaluated as if it arrived live, day after day, and its durations are
//!   measured in the data's time. Data older than the rule's `absent_after_s` raises nothing:
//!   the rule then sees no data at all (and clears what is in force, "no data").
//! - **When.** Rules whose criterion can complete with any reading (instantaneous heat, sensor
//!   health, custom) as readings arrive (at most every `readings_interval_ms`, sensor health
//!   at most every 30 s: its criteria count cadences, minutes); day and night
//!   rules once per closing (06:00 UTC for the observed canicule, when the last day's Tx window
//!   closes; 10:00 UTC for nights) plus `grace_s` for late sensors, each closing in order (a
//!   new rule from the newest closing on); and
//!   every rule again when data arrives after its last evaluation (at most every `recheck_s`),
//!   so late or imported data that changes a closed period gives a correction.
//! - **What.** The rule's query ([`RuleQueries`]) → one [`Observation`] per area and period →
//!   each area's lifecycle step → states, events, deliveries and the rule's cursor in one
//!   commit (`alert_store`) → the deliverer woken.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use tokio::sync::watch;

use crate::alert_store::{AlertStore, AlertStoreError, AreaUpdate, PublishedEvent};
use crate::level::{Level, UnknownLevel};
use crate::lifecycle::Observation;
use crate::payload;
use crate::rule::Rule;

/// The query side, as the service provides it (ilot's read-only, bounded SQL engine).
pub trait RuleQueries: Send + Sync + 'static {
    /// The rows of `sql` as JSON objects (column → value; NULLs may be left out).
    fn rows(&self, sql: String) -> impl Future<Output = Result<Vec<Map<String, Value>>, RuleQueryError>> + Send;
}

/// A rule's query failed (its message comes from the SQL engine).
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct RuleQueryError(pub Box<dyn std::error::Error + Send + Sync>);

#[derive(Debug, thiserror::Error)]
pub enum EvaluationError {
    #[error("rule {rule}: {source}")]
    Query { rule: String, source: RuleQueryError },
    #[error("rule {rule}: {source}")]
    Rows { rule: String, source: RowError },
    #[error(transparent)]
    Store(#[from] AlertStoreError),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EvaluationConfig {
    /// Readings-driven rules are evaluated at most this often (milliseconds).
    pub readings_interval_ms: u64,
    /// A day or night rule is evaluated this long (data time) after its closing, for late sensors.
    pub grace_s: i64,
    /// Every rule is evaluated again at most this often when data arrived since (seconds).
    pub recheck_s: i64,
}

impl Default for EvaluationConfig {
    fn default() -> Self {
        Self { readings_interval_ms: 1000, grace_s: 3600, recheck_s: 60 }
    }
}

/// What one evaluation did.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    pub at: DateTime<Utc>,
    /// Areas observed by the query.
    pub areas: usize,
    /// The events it published, by id.
    pub events: Vec<String>,
    /// Deliveries queued.
    pub queued: usize,
}

/// A rule's rows that are not what a rule must return.
#[derive(Debug, thiserror::Error)]
pub enum RowError {
    #[error("a row without an area: the query must return an `area` column (text, never NULL)")]
    NoArea,
    #[error("the query must return a `level` column (green, yellow, orange, red or NULL)")]
    NoLevel,
    #[error("a level is text, not {0}")]
    LevelType(Value),
    #[error(transparent)]
    Level(#[from] UnknownLevel),
}

/// Turn a rule's rows into observations per area, periods oldest first. With `track_members`,
/// the `sensors` column (a list) is also each observation's members (a change is news).
pub fn observations(rows: Vec<Map<String, Value>>, track_members: bool) -> Result<BTreeMap<String, Vec<Observation>>, RowError> {
    let mut by_area: BTreeMap<String, Vec<Observation>> = BTreeMap::new();
    for mut row in rows {
        let area = match row.remove("area") {
            Some(Value::String(a)) => a,
            Some(Value::Number(n)) => n.to_string(),
            _ => return Err(RowError::NoArea),
        };
        let level = |v: Option<Value>| -> Result<Option<Level>, RowError> {
            match v {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.parse()?)),
                Some(other) => Err(RowError::LevelType(other)),
            }
        };
        if !row.contains_key("level") {
            return Err(RowError::NoLevel);
        }
        let raise_level = level(row.remove("level"))?.unwrap_or(Level::Green);
        let hold_level = level(row.remove("hold_level"))?.unwrap_or(raise_level);
        let value = row.remove("value").and_then(|v| v.as_f64());
        let period = match row.remove("period") {
            Some(Value::String(p)) => Some(p),
            None | Some(Value::Null) => None,
            Some(other) => Some(other.to_string()),
        };
        let members = track_members.then(|| match row.get("sensors") {
            Some(Value::Array(sensors)) => sensors.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect(),
            _ => Vec::new(),
        });
        by_area.entry(area).or_default().push(Observation { period, raise_level, hold_level, value, evidence: Value::Object(row), members });
    }
    for observations in by_area.values_mut() {
        observations.sort_by(|a, b| a.period.cmp(&b.period));
    }
    Ok(by_area)
}

/// A new alert's id: time-ordered, random.
fn new_alert_id(at: DateTime<Utc>) -> String {
    format!("alr_{}_{:08x}", at.format("%Y%m%dT%H%MZ"), rand::random::<u32>())
}

/// Where a rule is in its evaluations.
#[derive(Debug, Default)]
struct Cursor {
    /// The evaluation time of its last evaluation (from the store at start).
    at: Option<DateTime<Utc>>,
    /// The data-change count it last saw, and when (wall clock) it was last evaluated.
    seen_change: Option<u64>,
    evaluated: Option<std::time::Instant>,
}

pub struct Evaluator<Q> {
    /// The rules in force (they change when an admin adds or removes one).
    rules: watch::Receiver<Arc<Vec<Rule>>>,
    store: Arc<AlertStore>,
    queries: Q,
    config: EvaluationConfig,
    deliveries: watch::Sender<()>,
}

impl<Q: RuleQueries> Evaluator<Q> {
    pub fn new(rules: watch::Receiver<Arc<Vec<Rule>>>, store: Arc<AlertStore>, queries: Q, config: EvaluationConfig, deliveries: watch::Sender<()>) -> Self {
        Self { rules, store, queries, config, deliveries }
    }

    async fn in_store<T: Send + 'static>(&self, work: impl FnOnce(&AlertStore) -> Result<T, AlertStoreError> + Send + 'static) -> Result<T, AlertStoreError> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || work(&store)).await.expect("alert store work does not panic")
    }

    /// Evaluate `rule` as of `at` (with no data at all when `no_data`), commit, wake deliveries.
    pub async fn evaluate(&self, rule: &Rule, at: DateTime<Utc>, no_data: bool) -> Result<Evaluation, EvaluationError> {
        let id = rule.common.id.clone();
        let started = std::time::Instant::now();
        let rows = if no_data {
            Vec::new()
        } else {
            self.queries.rows(rule.sql(at.timestamp_millis())).await.map_err(|source| EvaluationError::Query { rule: id.clone(), source })?
        };
        let observed = observations(rows, rule.tracks_sensors()).map_err(|source| EvaluationError::Rows { rule: id.clone(), source })?;
        let key = id.clone();
        let mut states = self.in_store(move |store| store.area_states(&key)).await?;
        if no_data && states.is_empty() {
            return Ok(Evaluation { at, areas: 0, events: Vec::new(), queued: 0 });
        }
        let timing = rule.timing();
        let areas: BTreeSet<String> = states.keys().chain(observed.keys()).cloned().collect();
        let mut updates = Vec::new();
        let mut events = Vec::new();
        for area in areas {
            let before = states.remove(&area).unwrap_or_default();
            let mut state = before.clone();
            let event = state.step(observed.get(&area).map_or(&[][..], Vec::as_slice), at, &timing, || new_alert_id(at));
            if state == before && event.is_none() {
                continue;
            }
            let event = event.map(|e| PublishedEvent { event_type: payload::event_type(rule, &e.change), payload: payload::payload(rule, &area, &e).to_string(), event: e });
            if let Some(e) = &event {
                tracing::info!(rule = %id, area = %area, event = %e.id(), kind = %e.event_type, level = %e.event.level, "alert event");
                events.push(e.id());
            }
            updates.push(AreaUpdate { area, state, event });
        }
        let key = id.clone();
        // An evaluation without data does not move the rule's cursor (data time) to the clock.
        let cursor = (!no_data).then_some(at);
        let queued = self.in_store(move |store| store.commit(&key, &updates, cursor)).await?;
        if queued > 0 {
            self.deliveries.send_replace(());
        }
        if !events.is_empty() {
            let active = self.in_store(|store| store.alerts(true)).await?;
            for level in [Level::Yellow, Level::Orange, Level::Red] {
                let n = active.iter().filter(|a| a.level == level.as_str()).count();
                metrics::gauge!("ilot_alerts_active", "level" => level.as_str()).set(n as f64);
            }
        }
        metrics::counter!("ilot_alert_evaluations_total", "rule" => id.clone()).increment(1);
        metrics::histogram!("ilot_alert_evaluation_seconds", "rule" => id).record(started.elapsed().as_secs_f64());
        Ok(Evaluation { at, areas: observed.len(), events, queued })
    }

    /// The newest measurement time of `rule`'s networks ([`Rule::watermark_sql`]).
    async fn watermark(&self, rule: &Rule) -> Result<Option<DateTime<Utc>>, RuleQueryError> {
        let rows = self.queries.rows(rule.watermark_sql()).await?;
        Ok(rows.first().and_then(|row| row.get("ms")).and_then(Value::as_i64).and_then(DateTime::from_timestamp_millis))
    }

    /// The evaluations due for `rule` now, its networks' data reaching `watermark`: `(at,
    /// no_data)` in order.
    fn due(&self, rule: &Rule, cursor: &Cursor, change: u64, watermark: Option<DateTime<Utc>>) -> Vec<(DateTime<Utc>, bool)> {
        let wall = Utc::now();
        let since = |limit: std::time::Duration| cursor.evaluated.is_none_or(|t| t.elapsed() >= limit);
        let recheck = std::time::Duration::from_secs(self.config.recheck_s.max(0) as u64);
        let changed = cursor.seen_change != Some(change);
        let timing = rule.timing();
        let oldest = wall - Duration::seconds(timing.absent_after_s);
        let Some(live) = watermark.map(|w| w.min(wall)).filter(|w| *w > oldest) else {
            // No data recent enough: what is in force clears after its absence time.
            return if since(recheck) { vec![(wall, true)] } else { vec![] };
        };
        if rule.closing_hour_utc().is_none() {
            let interval = std::time::Duration::from_millis(self.config.readings_interval_ms).max(rule.least_interval());
            // The first data a rule sees is evaluated at once, whatever its interval.
            let due = cursor.at.is_none() || (changed && since(interval)) || since(recheck);
            return if due { vec![(live, false)] } else { vec![] };
        }
        let grace = Duration::seconds(self.config.grace_s);
        // A rule never evaluated starts at the newest closing (its query looks back over the
        // recent periods anyway), not at every closing of `absent_after_s`.
        let from = cursor.at.map_or(live - grace - Duration::days(1), |at| at - grace).max(oldest);
        let closings: Vec<_> = rule.closings_between(from, live - grace).into_iter().map(|c| (c + grace, false)).collect();
        if !closings.is_empty() {
            return closings;
        }
        // Data arrived since: the closed periods again, as of the last evaluation (late data).
        match cursor.at {
            Some(at) if changed && since(recheck) => vec![(at, false)],
            _ => vec![],
        }
    }

    /// Evaluate every rule when due until `shutdown`; `changes` counts the store's data changes.
    pub async fn run(self: Arc<Self>, mut changes: watch::Receiver<u64>, mut shutdown: watch::Receiver<bool>) {
        let mut cursors: BTreeMap<String, Cursor> = BTreeMap::new();
        loop {
            let change = *changes.borrow_and_update();
            let rules = self.rules.borrow().clone();
            cursors.retain(|id, _| rules.iter().any(|r| r.common.id == *id));
            // One watermark query per set of networks and round.
            let mut watermarks: BTreeMap<String, Option<DateTime<Utc>>> = BTreeMap::new();
            for rule in rules.iter() {
                if !cursors.contains_key(&rule.common.id) {
                    // A rule seen for the first time (at start, or added since): where it was.
                    let id = rule.common.id.clone();
                    let at = self.in_store(move |store| store.rule_cursor(&id)).await.unwrap_or_else(|e| {
                        tracing::error!(error = %e, "reading a rule's cursor");
                        None
                    });
                    cursors.insert(rule.common.id.clone(), Cursor { at, ..Cursor::default() });
                }
                let cursor = cursors.get_mut(&rule.common.id).expect("a cursor per rule");
                let watermark_sql = rule.watermark_sql();
                let watermark = match watermarks.get(&watermark_sql) {
                    Some(w) => *w,
                    None => match self.watermark(rule).await {
                        Ok(w) => *watermarks.entry(watermark_sql).or_insert(w),
                        Err(e) => {
                            tracing::warn!(rule = %rule.common.id, error = %e, "rule not evaluated: its watermark query failed");
                            continue;
                        }
                    },
                };
                let due = self.due(rule, cursor, change, watermark);
                for (at, no_data) in due {
                    cursor.evaluated = Some(std::time::Instant::now());
                    cursor.seen_change = Some(change);
                    match self.evaluate(rule, at, no_data).await {
                        Ok(_) if !no_data => cursor.at = Some(at),
                        Ok(_) => {}
                        Err(e) => {
                            metrics::counter!("ilot_alert_evaluation_errors_total", "rule" => rule.common.id.clone()).increment(1);
                            tracing::warn!(error = %e, "rule evaluation failed");
                            break;
                        }
                    }
                }
            }
            tokio::select! {
                _ = shutdown.changed() => break,
                _ = crate::delivery::woken(&mut changes) => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
                _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests;
