//! What the dashboard's map and calendar draw (reader token), and the citizen view's aggregate:
//!
//! - `GET /api/map[?network=]`: every registered sensor with a position as a GeoJSON Feature
//!   (RFC 7946: `[lon, lat]`), with its newest reading, its health and its newest nights of heat
//!   island (`sql/map.sql` says how each is computed; `computed_with` repeats it).
//! - `GET /api/networks/{network}/calendar?from=&to=`: one row per day, the night's UHImax and
//!   the canicule indicators against the département's thresholds (`sql/network_calendar.sql`).
//! - `GET /api/public/map` (no token, only with `http.dashboard.public_view`; 404 otherwise):
//!   the map aggregated into grid cells, with no sensor identity, battery or QC detail, and the
//!   heat alerts in force (not the technicians' sensor-health alerts).
//!
//! Ten thousand sensors and fifty dashboards polling: the map is computed at most once per
//! [`MAP_TTL`], one computation at a time, and every answer is kept as bytes, plain and gzip
//! ([`crate::web::Encoded`]). Once the map is older than that, the next request starts one
//! computation in the background and waits for it up to [`STALE_WAIT`] (a city's map is done by
//! then); past that, and for the requests that come while it runs, the previous map is the
//! answer (up to [`MAP_STALE_MAX`] old; `computed_at` says its age). So a large network's
//! dashboards never wait the whole computation, except the very first ones.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::{DateTime, Days, NaiveDate, Utc};
use ilot_query::ScalarValue;
use ilot_alerts::rule::{RuleCommon, RuleKind};
use serde::Serialize;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::HttpState;
use crate::error::ApiError;
use crate::heat_api::{DateRange, Params, date, known_network, run, text};
use crate::web::Encoded;

/// How long a computed map is served before the next request recomputes it.
pub const MAP_TTL: Duration = Duration::from_secs(15);
/// How old a map may be and still be served while its successor is computed; past it (the
/// computations fail or hang), requests wait for a computation and see its error.
pub const MAP_STALE_MAX: Duration = Duration::from_secs(60);
/// How long the request that starts a computation waits for it before taking the previous map.
pub const STALE_WAIT: Duration = Duration::from_millis(250);
/// How many nights back (from the oldest network's newest reading) the map looks for UHI.
const NIGHTS_BACK: u64 = 3;

const MAP_SQL: &str = include_str!("sql/map.sql");
const NETWORK_AS_OF_SQL: &str = include_str!("sql/network_as_of.sql");
const CALENDAR_SQL: &str = include_str!("sql/network_calendar.sql");

/// One computed map: its features by network, each network's newest reading, and the answers
/// already encoded from them.
struct MapSnapshot {
    computed: Instant,
    computed_at: DateTime<Utc>,
    features: Vec<(String, Value)>,
    as_of: BTreeMap<String, Value>,
    /// The thresholds health was judged by: every network's (`*`), then those a rule names.
    thresholds: BTreeMap<String, HealthThresholds>,
    answers: Mutex<HashMap<Answer, Arc<Encoded>>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Answer {
    Sensors(Option<String>),
    Public,
}

/// How long a failed computation answers for the requests that waited on it, and the next.
const FAILURE_TTL: Duration = Duration::from_secs(2);

/// The map, computed at most once per [`MAP_TTL`] (a failure, once per [`FAILURE_TTL`]).
#[derive(Default)]
pub struct MapCache {
    current: Mutex<Option<Arc<MapSnapshot>>>,
    computing: Arc<tokio::sync::Mutex<()>>,
    failed: Mutex<Option<(Instant, ApiError)>>,
}

impl MapCache {
    /// The current map if it is younger than `age`.
    fn younger_than(&self, age: Duration) -> Option<Arc<MapSnapshot>> {
        let current = self.current.lock().expect("map cache lock").clone();
        current.filter(|s| s.computed.elapsed() < age)
    }

    async fn snapshot(&self, state: &Arc<HttpState>) -> Result<Arc<MapSnapshot>, ApiError> {
        if let Some(s) = self.younger_than(MAP_TTL) {
            return Ok(s);
        }
        if let Some(stale) = self.younger_than(MAP_STALE_MAX) {
            // One computation in the background: none while one runs or after one failed (for
            // FAILURE_TTL). Its failure is kept for the requests that will wait once the map
            // is too old to serve.
            if self.recent_failure().is_some() {
                return Ok(stale);
            }
            let Ok(one_at_a_time) = self.computing.clone().try_lock_owned() else { return Ok(stale) };
            if let Some(s) = self.younger_than(MAP_TTL) {
                return Ok(s);
            }
            // The cache is `state.map`: the task owns what it needs.
            let state = state.clone();
            let mut computation = tokio::spawn(async move {
                let _one_at_a_time = one_at_a_time;
                state.map.recompute(&state).await
            });
            return match tokio::time::timeout(STALE_WAIT, &mut computation).await {
                Ok(Ok(Ok(fresh))) => Ok(fresh),
                _ => Ok(stale),
            };
        }
        let _one_at_a_time = self.computing.lock().await;
        if let Some(s) = self.younger_than(MAP_TTL) {
            return Ok(s);
        }
        // Clients that queued behind a failed computation share its error, not one query each.
        if let Some(error) = self.recent_failure() {
            return Err(error);
        }
        self.recompute(state).await
    }

    /// The last computation's error, if it failed less than [`FAILURE_TTL`] ago.
    fn recent_failure(&self) -> Option<ApiError> {
        let failed = self.failed.lock().expect("map cache lock");
        let (at, error) = failed.as_ref().filter(|(at, _)| at.elapsed() < FAILURE_TTL)?;
        tracing::debug!(age_ms = at.elapsed().as_millis() as u64, "map: the last computation failed");
        Some(error.clone())
    }

    /// Computes the map and keeps it, or keeps its error; the caller holds `computing`.
    async fn recompute(&self, state: &HttpState) -> Result<Arc<MapSnapshot>, ApiError> {
        match compute(state).await {
            Ok(snapshot) => {
                let snapshot = Arc::new(snapshot);
                *self.current.lock().expect("map cache lock") = Some(snapshot.clone());
                Ok(snapshot)
            }
            Err(error) => {
                tracing::warn!(kind = error.kind, message = %error.message, "map: computation failed");
                *self.failed.lock().expect("map cache lock") = Some((Instant::now(), error.clone()));
                Err(error)
            }
        }
    }

    async fn answer(&self, state: &Arc<HttpState>, answer: Answer) -> Result<Arc<Encoded>, ApiError> {
        let snapshot = self.snapshot(state).await?;
        if let Some(encoded) = snapshot.answers.lock().expect("map answers lock").get(&answer) {
            return Ok(encoded.clone());
        }
        let body = match &answer {
            Answer::Sensors(network) => sensors_answer(&snapshot, network.as_deref()),
            Answer::Public => public_answer(&snapshot, state, public_alerts(state).await?),
        };
        let encoded = Arc::new(Encoded::new(serde_json::to_vec(&body).map_err(|e| ApiError::internal("render", e.to_string()))?));
        snapshot.answers.lock().expect("map answers lock").insert(answer, encoded.clone());
        Ok(encoded)
    }
}

/// The QC bits a map shows by name (`heat_api::QC_FLAGS`).
fn flag_names(bits: u64) -> Vec<&'static str> {
    crate::heat_api::QC_FLAGS.iter().filter(|(_, bit)| bits & u64::from(*bit) != 0).map(|(name, _)| *name).collect()
}

/// What sensor health is judged by, and the sensor_health rules in force it comes from.
#[derive(Debug, Clone, PartialEq, Serialize)]
struct HealthThresholds {
    silent_cadences: u32,
    battery_low_v: f64,
    /// Empty: the rule kind's defaults (no sensor_health rule covers the network).
    rules: Vec<String>,
}

impl HealthThresholds {
    fn defaults() -> Self {
        let (silent_cadences, battery_low_v) = (ilot_alerts::rule::defaults::silent_cadences(), ilot_alerts::rule::defaults::battery_low_v());
        HealthThresholds { silent_cadences, battery_low_v, rules: Vec::new() }
    }

    /// With one more rule: the strictest of each threshold (a sensor one rule calls for a
    /// technician is shown as needing one).
    fn with(mut self, rule: &str, silent_cadences: u32, battery_low_v: f64) -> Self {
        if self.rules.is_empty() {
            (self.silent_cadences, self.battery_low_v) = (silent_cadences, battery_low_v);
        } else {
            self.silent_cadences = self.silent_cadences.min(silent_cadences);
            self.battery_low_v = self.battery_low_v.max(battery_low_v);
        }
        self.rules.push(rule.to_owned());
        self
    }
}

/// Sensor health's thresholds from the sensor_health rules in force: for every network (`*`:
/// the rules that name no network), and for each network some rule names (those rules too).
fn health_thresholds(state: &HttpState) -> BTreeMap<String, HealthThresholds> {
    let rules = state.alerting.as_ref().map(|a| a.rules()).unwrap_or_default();
    let health: Vec<(&RuleCommon, u32, f64)> = rules
        .iter()
        .filter_map(|r| match r.kind {
            RuleKind::SensorHealth { silent_cadences, battery_low_v, .. } => Some((&r.common, silent_cadences, battery_low_v)),
            _ => None,
        })
        .collect();
    let covering = |network: Option<&String>| {
        health
            .iter()
            .filter(|(common, ..)| common.networks.is_empty() || network.is_some_and(|n| common.networks.contains(n)))
            .fold(HealthThresholds::defaults(), |t, (common, cadences, volts)| t.with(&common.id, *cadences, *volts))
    };
    let mut thresholds: BTreeMap<String, HealthThresholds> = BTreeMap::from([("*".to_owned(), covering(None))]);
    for network in health.iter().flat_map(|(common, ..)| &common.networks) {
        thresholds.insert(network.clone(), covering(Some(network)));
    }
    thresholds
}

/// `map.sql` with its thresholds: parameters $1 (since), $2 and $3 (every network's), then one
/// row of three parameters per named network.
fn map_query(since: NaiveDate, thresholds: &BTreeMap<String, HealthThresholds>) -> (String, Vec<ScalarValue>) {
    let everywhere = &thresholds["*"];
    let mut params =
        vec![date(since), ScalarValue::Int64(Some(i64::from(everywhere.silent_cadences))), ScalarValue::Float64(Some(everywhere.battery_low_v))];
    let mut rows = Vec::new();
    for (network, t) in thresholds.iter().filter(|(n, _)| *n != "*") {
        let at = params.len() + 1;
        params.extend([text(network), ScalarValue::Int64(Some(i64::from(t.silent_cadences))), ScalarValue::Float64(Some(t.battery_low_v))]);
        rows.push(format!("(CAST(${at} AS VARCHAR), CAST(${} AS BIGINT), CAST(${} AS DOUBLE))", at + 1, at + 2));
    }
    if rows.is_empty() {
        rows.push("(CAST(NULL AS VARCHAR), CAST(NULL AS BIGINT), CAST(NULL AS DOUBLE))".into());
    }
    (MAP_SQL.replace("{networks}", &rows.join(", ")).replace("{network_as_of}", NETWORK_AS_OF_SQL), params)
}

async fn compute(state: &HttpState) -> Result<MapSnapshot, ApiError> {
    let started = Instant::now();
    let newest = run(state, &format!("SELECT min(as_of) AS oldest FROM ({NETWORK_AS_OF_SQL})"), Vec::new()).await?;
    let oldest = newest.rows.first().and_then(|r| r.get("oldest")).and_then(Value::as_str).and_then(|t| t.get(..10)).and_then(|d| d.parse::<NaiveDate>().ok());
    let since = oldest.unwrap_or_else(|| Utc::now().date_naive()).checked_sub_days(Days::new(NIGHTS_BACK)).unwrap_or(NaiveDate::MIN);
    let thresholds = health_thresholds(state);
    let (sql, params) = map_query(since, &thresholds);
    let result = run(state, &sql, params).await?;
    let mut as_of = BTreeMap::new();
    let features = result
        .rows
        .into_iter()
        .map(|mut row| {
            let (lat, lon) = (row.remove("lat").unwrap_or_default(), row.remove("lon").unwrap_or_default());
            let qc = row.get("qc_flags").and_then(Value::as_u64).map(flag_names);
            row.insert("qc".into(), qc.map_or(Value::Null, |q| json!(q)));
            let network = row.get("network").and_then(Value::as_str).unwrap_or_default().to_owned();
            // The network's newest reading is said once per network, not once per sensor.
            as_of.insert(network.clone(), row.remove("as_of").unwrap_or_default());
            (network, json!({ "type": "Feature", "geometry": { "type": "Point", "coordinates": [lon, lat] }, "properties": row }))
        })
        .collect();
    metrics::histogram!("ilot_dashboard_map_seconds").record(started.elapsed().as_secs_f64());
    Ok(MapSnapshot { computed: Instant::now(), computed_at: Utc::now(), features, as_of, thresholds, answers: Mutex::default() })
}

fn computed_with(snapshot: &MapSnapshot) -> Value {
    json!({
        "latest": "newest measurement time (ts) per sensor, from the latest_readings cache",
        "as_of": "per network: its newest reading from a registered sensor with a valid time stamp, not after now",
        "health": "silent: newest reading more than silent_cadences cadences older than its network's newest reading; \
                   stuck: newest reading flagged STUCK; low_battery: newest battery voltage under battery_low_v V \
                   (health_thresholds: per network, the sensor_health rules in force, the strictest; `*`: every other network)",
        "health_thresholds": snapshot.thresholds,
        "latest_night": "newest night in uhi_night_summary (may be in progress; no completeness rule); UHI rounded to 0.01 K",
        "complete_night": "newest night in uhi_nightly (>= 80 % of its hours valid); UHI rounded to 0.01 K",
        "cache_s": MAP_TTL.as_secs(),
    })
}

fn sensors_answer(snapshot: &MapSnapshot, network: Option<&str>) -> Value {
    let shown = |n: &String| network.is_none_or(|w| w == n);
    let features: Vec<&Value> = snapshot.features.iter().filter(|(n, _)| shown(n)).map(|(_, f)| f).collect();
    let networks: Map<String, Value> = snapshot.as_of.iter().filter(|(n, _)| shown(n)).map(|(n, t)| (n.clone(), json!({ "as_of": t }))).collect();
    json!({
        "type": "FeatureCollection",
        "features": features,
        "networks": networks,
        "computed_at": snapshot.computed_at.to_rfc3339(),
        "computed_with": computed_with(snapshot),
    })
}

#[derive(Default)]
struct Cell {
    sensors: u32,
    temperatures: Vec<f64>,
    uhi: Vec<f64>,
    as_of: Option<String>,
    lat: f64,
    lon: f64,
}

fn mean(values: &[f64]) -> Value {
    if values.is_empty() { Value::Null } else { json!((values.iter().sum::<f64>() / values.len() as f64 * 10.0).round() / 10.0) }
}

/// The citizen view: cells of `http.dashboard.public_cell_m`, never sensors, and only cells of
/// at least `public_min_sensors` (a cell of one sensor would publish that sensor). A cell's
/// temperature is the mean of its sensors' current, QC-passed readings from sensors that are
/// reporting; its heat island the mean over its urban sensors of one night per network (the
/// newest complete one), which the answer names.
fn public_answer(snapshot: &MapSnapshot, state: &HttpState, alerts: Value) -> Value {
    let dashboard = &state.config.dashboard;
    let cell_deg = f64::from(dashboard.public_cell_m) / 111_320.0;
    let mut nights: BTreeMap<&str, &str> = BTreeMap::new();
    for (network, feature) in &snapshot.features {
        if let Some(night) = feature["properties"]["complete_night"].as_str() {
            let newest = nights.entry(network.as_str()).or_insert(night);
            *newest = (*newest).max(night);
        }
    }
    let mut cells: BTreeMap<(String, i64, i64), Cell> = BTreeMap::new();
    for (network, feature) in &snapshot.features {
        let p = &feature["properties"];
        let [lon, lat] = [&feature["geometry"]["coordinates"][0], &feature["geometry"]["coordinates"][1]].map(|v| v.as_f64().unwrap_or(f64::NAN));
        if !lat.is_finite() || !lon.is_finite() {
            continue;
        }
        let lon_deg = cell_deg / lat.to_radians().cos().max(0.1);
        let (row, col) = ((lat / cell_deg).floor() as i64, (lon / lon_deg).floor() as i64);
        let cell = cells.entry((network.clone(), row, col)).or_default();
        cell.sensors += 1;
        cell.lat = (row as f64 + 0.5) * cell_deg;
        cell.lon = (col as f64 + 0.5) * lon_deg;
        let passed = p["qc_flags"].as_u64().is_some_and(|f| f & u64::from(ilot_ingest::qc::TEMPERATURE_FAILURES) == 0);
        if passed && p["health"] == "ok" {
            cell.temperatures.extend(p["temperature_c"].as_f64());
            cell.as_of = cell.as_of.take().max(p["ts"].as_str().map(str::to_owned));
        }
        if p["role"] != "rural" && p["complete_night"].as_str().is_some_and(|n| nights.get(network.as_str()) == Some(&n)) {
            cell.uhi.extend(p["complete_night_uhi_mean_c"].as_f64());
        }
    }
    let features: Vec<Value> = cells
        .into_iter()
        .filter(|(_, c)| c.sensors >= dashboard.public_min_sensors)
        .map(|((network, _, _), c)| {
            json!({
                "type": "Feature",
                "geometry": { "type": "Point", "coordinates": [(c.lon * 1e4).round() / 1e4, (c.lat * 1e4).round() / 1e4] },
                "properties": { "network": network, "sensors": c.sensors, "temperature_c": mean(&c.temperatures), "as_of": c.as_of, "night_uhi_mean_c": mean(&c.uhi) },
            })
        })
        .collect();
    json!({
        "type": "FeatureCollection",
        "features": features,
        "nights": nights,
        "alerts": alerts,
        "computed_at": snapshot.computed_at.to_rfc3339(),
        "computed_with": {
            "cells": format!("{} m squares (cell centres, never sensor positions); cells of fewer than {} sensors are left out", dashboard.public_cell_m, dashboard.public_min_sensors),
            "temperature_c": "mean of the cell's newest QC-passed readings from sensors that are reporting; as_of: the newest of them",
            "night_uhi_mean_c": "mean of the cell's urban sensors' heat island (uhi_nightly) on the network's newest complete night (`nights`)",
        },
    })
}

/// The heat alerts in force, as a citizen may read them: level, area, since when, the summary
/// (read from the alert store off the async threads, as the alerts API does).
async fn public_alerts(state: &HttpState) -> Result<Value, ApiError> {
    let Some(alerting) = state.alerting.clone() else { return Ok(json!([])) };
    crate::alerts_api::blocking(move || {
        let mut list = Vec::new();
        for alert in alerting.store.alerts(true).map_err(crate::alerts_api::store_error)? {
            let Some(event) = alerting.store.latest_event(&alert.id).map_err(crate::alerts_api::store_error)? else { continue };
            let Ok(payload) = serde_json::from_str::<Value>(&event.payload) else { continue };
            let data = &payload["data"];
            if data["rule"]["kind"] != "sensor_health" {
                list.push(json!({ "level": alert.level, "area": alert.area, "kind": data["rule"]["kind"], "onset": data["onset"], "summary": data["summary"] }));
            }
        }
        Ok(Value::Array(list))
    })
    .await
}

/// `GET /api/map[?network=]`.
pub async fn get_map(State(state): State<Arc<HttpState>>, Query(params): Query<Params>, headers: HeaderMap) -> Result<Response, ApiError> {
    if let Some(network) = params.network.as_deref() {
        known_network(&state.registry.snapshot(), network)?;
    }
    let encoded = state.map.answer(&state, Answer::Sensors(params.network.clone())).await?;
    Ok(encoded.respond(&headers, "application/geo+json", "private, max-age=15"))
}

/// `GET /api/public/map`: 404 unless `http.dashboard.public_view`.
pub async fn get_public_map(State(state): State<Arc<HttpState>>, headers: HeaderMap) -> Result<Response, ApiError> {
    if !state.config.dashboard.public_view {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "public_view_disabled", "the citizen view is off (http.dashboard.public_view)"));
    }
    let encoded = state.map.answer(&state, Answer::Public).await?;
    Ok(encoded.respond(&headers, "application/geo+json", "public, max-age=15"))
}

/// `GET /api/networks/{network}/calendar?from=&to=` (default: the 62 days up to today).
pub async fn get_calendar(State(state): State<Arc<HttpState>>, Path(network): Path<String>, Query(params): Query<Params>) -> Result<Response, ApiError> {
    let registry = state.registry.snapshot();
    known_network(&registry, &network)?;
    let range = DateRange::resolve(params.from.as_deref(), params.to.as_deref(), 62)?;
    let result = run(&state, CALENDAR_SQL, vec![text(&network), date(range.from), date(range.to)]).await?;
    let settings = registry.settings(&network);
    let mut computed_with = Map::new();
    computed_with.insert("network".into(), network.clone().into());
    computed_with.insert("from".into(), range.from.to_string().into());
    computed_with.insert("to".into(), range.to.to_string().into());
    computed_with.insert(
        "uhi".into(),
        "uhi_nightly over the urban stations: the night that starts on the evening of `day` (>= 80 % of its hours valid); uhi_max_c is the largest station UHImax".into(),
    );
    computed_with.insert(
        "ibm".into(),
        "ibm: the 3-day window of `day`; the highest IBMn and the highest IBMx over the stations (possibly two), and the stations meeting IBMn >= Sn and IBMx >= Sx".into(),
    );
    computed_with.insert("thresholds".into(), serde_json::to_value(settings.thresholds()).unwrap_or_default());
    computed_with.insert("ibm_alignment".into(), settings.ibm_alignment.as_str().into());
    Ok(result.respond(Value::Object(computed_with)))
}
