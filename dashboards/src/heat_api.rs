//! Read endpoints for dashboards (reader token): networks, sensors with their latest reading,
//! the heat-island views (hourly, nightly, daily, monthly), Tn/Tx, IBM and a sensor's QC
//! summary.
//!
//! Every answer has one shape: `{"rows": [...], "truncated": bool, "computed_with": {...}}`.
//! `rows` are JSON objects, one per row of the underlying table or view, with every column
//! present (`null` when empty); `truncated` says the engine's `max_result_rows` cut them;
//! `computed_with` is the request as resolved (network, sensor, view, time column, inclusive
//! `from`/`to` dates, defaults applied) plus the settings the values depend on (reference mode
//! and stations, night window, thresholds). Errors are `{"error", "message"}`: 400 for bad
//! parameters (dates are `YYYY-MM-DD`, ranges at most 366 days), 404 for a network or sensor
//! the registry does not know.
//!
//! Caller input never enters SQL text: the statements are constants (view and column names come
//! from fixed enums) and the values are bound to `$n` placeholders
//! ([`ilot_query::QueryEngine::query_with_params`]).

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use chrono::{Datelike, Days, NaiveDate, NaiveTime, Utc};
use ilot_ingest::registry::Registry;
use ilot_query::ScalarValue;
use serde_json::{Map, Value, json};
use std::sync::Arc;

use crate::HttpState;
use crate::error::ApiError;

/// The longest time range one request may cover.
pub const MAX_RANGE_DAYS: i64 = 366;

/// The QC bits of `qc_flags` (docs/sql.md), by name.
pub const QC_FLAGS: [(&str, u32); 7] = [
    ("range", ilot_ingest::qc::RANGE),
    ("step", ilot_ingest::qc::STEP),
    ("stuck", ilot_ingest::qc::STUCK),
    ("timestamp", ilot_ingest::qc::TIMESTAMP),
    ("conflict", ilot_ingest::qc::CONFLICT),
    ("humidity_range", ilot_ingest::qc::HUMIDITY_RANGE),
    ("unknown_sensor", ilot_ingest::qc::UNKNOWN_SENSOR),
];

/// Query-string parameters of the read endpoints (each endpoint uses some of them).
#[derive(Debug, Default, serde::Deserialize)]
pub struct Params {
    pub(crate) network: Option<String>,
    pub(crate) sensor: Option<String>,
    pub(crate) granularity: Option<String>,
    pub(crate) from: Option<String>,
    pub(crate) to: Option<String>,
}

/// Result rows as JSON objects.
pub(crate) struct Rows {
    pub(crate) rows: Vec<Map<String, Value>>,
    truncated: bool,
}

impl Rows {
    pub(crate) fn respond(self, computed_with: Value) -> Response {
        Json(json!({ "rows": self.rows, "truncated": self.truncated, "computed_with": computed_with })).into_response()
    }
}

pub(crate) async fn run(state: &HttpState, sql: &str, params: Vec<ScalarValue>) -> Result<Rows, ApiError> {
    let started = std::time::Instant::now();
    let result = state.engine.query_with_params(sql, params).await;
    metrics::histogram!("ilot_dashboard_query_seconds").record(started.elapsed().as_secs_f64());
    let result = result?;
    let mut writer = arrow::json::WriterBuilder::new().with_explicit_nulls(true).build::<_, arrow::json::writer::JsonArray>(Vec::new());
    let batches: Vec<_> = result.batches.iter().collect();
    writer.write_batches(&batches).map_err(|e| ApiError::internal("render", e.to_string()))?;
    writer.finish().map_err(|e| ApiError::internal("render", e.to_string()))?;
    let bytes = writer.into_inner();
    let rows = if bytes.is_empty() { Vec::new() } else { serde_json::from_slice(&bytes).map_err(|e| ApiError::internal("render", e.to_string()))? };
    Ok(Rows { rows, truncated: result.truncated })
}

pub(crate) fn text(s: &str) -> ScalarValue {
    ScalarValue::Utf8(Some(s.to_owned()))
}

fn epoch_days(d: NaiveDate) -> i32 {
    (d - NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch")).num_days() as i32
}

pub(crate) fn date(d: NaiveDate) -> ScalarValue {
    ScalarValue::Date32(Some(epoch_days(d)))
}

/// Midnight UTC starting `d`.
fn midnight(d: NaiveDate) -> ScalarValue {
    ScalarValue::TimestampMillisecond(Some(d.and_time(NaiveTime::MIN).and_utc().timestamp_millis()), Some("UTC".into()))
}

fn today() -> NaiveDate {
    Utc::now().date_naive()
}

/// The network, checked against the registry.
pub(crate) fn known_network(registry: &Registry, network: &str) -> Result<(), ApiError> {
    if registry.network_names().iter().any(|n| n == network) {
        Ok(())
    } else {
        Err(ApiError::not_found(format!("network {network:?} is not registered (GET /api/networks lists the networks)")))
    }
}

fn known_sensor(registry: &Registry, network: &str, sensor: &str) -> Result<(), ApiError> {
    known_network(registry, network)?;
    match registry.sensor(network, sensor) {
        Some(_) => Ok(()),
        None => Err(ApiError::not_found(format!("sensor {sensor:?} is not registered in network {network:?} (GET /api/sensors?network={network} lists them)"))),
    }
}

/// An inclusive range of UTC dates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateRange {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

impl DateRange {
    /// `from`/`to` as given (`YYYY-MM-DD`), else `to` = today (UTC) and `from` = `default_days`
    /// days up to `to`. At most [`MAX_RANGE_DAYS`] days.
    pub fn resolve(from: Option<&str>, to: Option<&str>, default_days: u64) -> Result<Self, ApiError> {
        fn parse(name: &str, value: Option<&str>) -> Result<Option<NaiveDate>, ApiError> {
            value
                .map(|v| NaiveDate::parse_from_str(v, "%Y-%m-%d").map_err(|_| ApiError::bad_request(format!("{name}={v:?} is not a date: use YYYY-MM-DD"))))
                .transpose()
        }
        let to = parse("to", to)?.unwrap_or_else(today);
        let from = match parse("from", from)? {
            Some(f) => f,
            None => to.checked_sub_days(Days::new(default_days.saturating_sub(1))).ok_or_else(|| ApiError::bad_request("to is out of range"))?,
        };
        if from > to {
            return Err(ApiError::bad_request(format!("from={from} is after to={to}")));
        }
        let days = (to - from).num_days() + 1;
        if days > MAX_RANGE_DAYS {
            return Err(ApiError::bad_request(format!("from={from} to={to} spans {days} days: at most {MAX_RANGE_DAYS} per request")));
        }
        Ok(Self { from, to })
    }

    /// The day after `to`: the exclusive upper bound.
    fn end(self) -> NaiveDate {
        self.to.succ_opt().unwrap_or(self.to)
    }
}

/// Time resolution of the UHI endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Granularity {
    Hourly,
    Nightly,
    Daily,
    Monthly,
}

impl Granularity {
    pub fn parse(text: Option<&str>) -> Result<Self, ApiError> {
        match text.unwrap_or("daily") {
            "hourly" => Ok(Self::Hourly),
            "nightly" => Ok(Self::Nightly),
            "daily" => Ok(Self::Daily),
            "monthly" => Ok(Self::Monthly),
            other => Err(ApiError::bad_request(format!("granularity={other:?}: use hourly, nightly, daily or monthly"))),
        }
    }

    fn view(self) -> View {
        match self {
            Self::Hourly => View { name: "uhi_hourly", time_column: "hour", time: TimeKind::Hour },
            Self::Nightly => View { name: "uhi_nightly", time_column: "night", time: TimeKind::Date },
            Self::Daily => View { name: "uhi_daily", time_column: "date", time: TimeKind::Date },
            Self::Monthly => View { name: "uhi_monthly", time_column: "month", time: TimeKind::Month },
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Hourly => "hourly",
            Self::Nightly => "nightly",
            Self::Daily => "daily",
            Self::Monthly => "monthly",
        }
    }

    /// Default range: the last 7 days for hourly values, 31 otherwise.
    fn default_days(self) -> u64 {
        if self == Self::Hourly { 7 } else { 31 }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TimeKind {
    /// A UTC timestamp at the start of an hour.
    Hour,
    /// A `DATE` (day, or night labelled by its evening).
    Date,
    /// A `DATE`, first day of a month: months that overlap the range.
    Month,
}

/// A view the API reads, and its time column. Names are constants, never caller input.
#[derive(Debug, Clone, Copy)]
struct View {
    name: &'static str,
    time_column: &'static str,
    time: TimeKind,
}

const TN_TX: View = View { name: "daily_tn_tx", time_column: "date", time: TimeKind::Date };
const IBM: View = View { name: "ibm", time_column: "date", time: TimeKind::Date };

/// Rows of `view` for `network` (and `sensor`) in `range`, ordered by sensor and time.
async fn view_rows(state: &HttpState, view: View, network: &str, sensor: Option<&str>, range: DateRange) -> Result<Rows, ApiError> {
    let (lower, upper) = match view.time {
        TimeKind::Hour => (midnight(range.from), midnight(range.end())),
        TimeKind::Date => (date(range.from), date(range.end())),
        TimeKind::Month => (date(range.from.with_day(1).expect("day 1 exists")), date(range.end())),
    };
    let (name, col) = (view.name, view.time_column);
    let mut sql = format!("SELECT * FROM {name} WHERE network = $1 AND {col} >= $2 AND {col} < $3");
    let mut params = vec![text(network), lower, upper];
    if let Some(s) = sensor {
        sql.push_str(" AND sensor_id = $4");
        params.push(text(s));
    }
    sql.push_str(&format!(" ORDER BY sensor_id, {col}"));
    run(state, &sql, params).await
}

fn resolved(view: View, network: &str, sensor: Option<&str>, range: DateRange) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("view".into(), view.name.into());
    m.insert("time_column".into(), view.time_column.into());
    m.insert("network".into(), network.into());
    m.insert("sensor".into(), sensor.map_or(Value::Null, Into::into));
    m.insert("from".into(), range.from.to_string().into());
    m.insert("to".into(), range.to.to_string().into());
    m
}

/// `GET /api/networks`: the `networks` table.
pub async fn get_networks(State(state): State<Arc<HttpState>>) -> Result<Response, ApiError> {
    let rows = run(&state, "SELECT * FROM networks ORDER BY network", Vec::new()).await?;
    Ok(rows.respond(json!({ "table": "networks" })))
}

const SENSORS_LATEST: &str = "
SELECT s.network, s.sensor_id, s.name, s.lat, s.lon, s.elevation_m, s.lcz, s.role,
       l.ts, l.temperature_c, l.humidity_pct, l.qc_flags, l.received_at
FROM sensors s
LEFT JOIN latest_readings l ON l.network = s.network AND l.sensor_id = s.sensor_id
ORDER BY s.network, s.sensor_id";

const SENSORS_LATEST_OF_NETWORK: &str = "
SELECT s.network, s.sensor_id, s.name, s.lat, s.lon, s.elevation_m, s.lcz, s.role,
       l.ts, l.temperature_c, l.humidity_pct, l.qc_flags, l.received_at
FROM sensors s
LEFT JOIN latest_readings l ON l.network = s.network AND l.sensor_id = s.sensor_id
WHERE s.network = $1
ORDER BY s.sensor_id";

const LATEST_FIELDS: [&str; 5] = ["ts", "temperature_c", "humidity_pct", "qc_flags", "received_at"];

/// `GET /api/sensors[?network=]`: every registered sensor with its latest reading by
/// measurement time (`ts`, not arrival), from the `latest_readings` cache (no scan); `latest`
/// is `null` for a sensor with no reading in the cache (one that never reported).
pub async fn get_sensors(State(state): State<Arc<HttpState>>, Query(params): Query<Params>) -> Result<Response, ApiError> {
    let rows = match params.network.as_deref() {
        Some(network) => {
            known_network(&state.registry.snapshot(), network)?;
            run(&state, SENSORS_LATEST_OF_NETWORK, vec![text(network)]).await?
        }
        None => run(&state, SENSORS_LATEST, Vec::new()).await?,
    };
    let shaped = rows
        .rows
        .into_iter()
        .map(|mut row| {
            let latest: Map<String, Value> = LATEST_FIELDS.iter().filter_map(|f| row.remove(*f).map(|v| ((*f).to_owned(), v))).collect();
            let latest = if latest.get("ts").is_some_and(|t| !t.is_null()) { Value::Object(latest) } else { Value::Null };
            row.insert("latest".into(), latest);
            row
        })
        .collect();
    Ok(Rows { rows: shaped, truncated: rows.truncated }.respond(json!({
        "network": params.network,
        "latest": "newest measurement time (ts) per sensor, from the latest_readings cache",
    })))
}

fn uhi_settings(registry: &Registry, network: &str) -> Map<String, Value> {
    let settings = registry.settings(network);
    let mut m = Map::new();
    m.insert("reference_mode".into(), settings.reference_mode.as_str().into());
    m.insert("reference_sensors".into(), registry.reference_sensors(network).into());
    m.insert("night_mode".into(), settings.night_mode.as_str().into());
    m.insert("night_start_utc_hour".into(), settings.night_start_utc_hour.into());
    m.insert("night_end_utc_hour".into(), settings.night_end_utc_hour.into());
    m
}

async fn uhi(state: &HttpState, network: &str, sensor: Option<&str>, params: &Params) -> Result<Response, ApiError> {
    let registry = state.registry.snapshot();
    match sensor {
        Some(s) => known_sensor(&registry, network, s)?,
        None => known_network(&registry, network)?,
    }
    let granularity = Granularity::parse(params.granularity.as_deref())?;
    let range = DateRange::resolve(params.from.as_deref(), params.to.as_deref(), granularity.default_days())?;
    let view = granularity.view();
    let rows = view_rows(state, view, network, sensor, range).await?;
    let mut computed_with = resolved(view, network, sensor, range);
    computed_with.insert("granularity".into(), granularity.as_str().into());
    computed_with.extend(uhi_settings(&registry, network));
    Ok(rows.respond(Value::Object(computed_with)))
}

/// `GET /api/networks/{network}/uhi?granularity=&from=&to=[&sensor=]`.
pub async fn get_network_uhi(State(state): State<Arc<HttpState>>, Path(network): Path<String>, Query(params): Query<Params>) -> Result<Response, ApiError> {
    uhi(&state, &network, params.sensor.as_deref(), &params).await
}

/// `GET /api/sensors/{network}/{sensor}/uhi?granularity=&from=&to=`.
pub async fn get_sensor_uhi(
    State(state): State<Arc<HttpState>>,
    Path((network, sensor)): Path<(String, String)>,
    Query(params): Query<Params>,
) -> Result<Response, ApiError> {
    uhi(&state, &network, Some(&sensor), &params).await
}

/// `GET /api/networks/{network}/tn-tx?from=&to=[&sensor=]`: `daily_tn_tx` (default: 31 days).
pub async fn get_tn_tx(State(state): State<Arc<HttpState>>, Path(network): Path<String>, Query(params): Query<Params>) -> Result<Response, ApiError> {
    daily(&state, TN_TX, &network, &params).await
}

/// `GET /api/networks/{network}/ibm?from=&to=[&sensor=]`: `ibm` (default: 31 days).
pub async fn get_ibm(State(state): State<Arc<HttpState>>, Path(network): Path<String>, Query(params): Query<Params>) -> Result<Response, ApiError> {
    daily(&state, IBM, &network, &params).await
}

async fn daily(state: &HttpState, view: View, network: &str, params: &Params) -> Result<Response, ApiError> {
    let registry = state.registry.snapshot();
    match params.sensor.as_deref() {
        Some(s) => known_sensor(&registry, network, s)?,
        None => known_network(&registry, network)?,
    }
    let range = DateRange::resolve(params.from.as_deref(), params.to.as_deref(), 31)?;
    let rows = view_rows(state, view, network, params.sensor.as_deref(), range).await?;
    let settings = registry.settings(network);
    let mut computed_with = resolved(view, network, params.sensor.as_deref(), range);
    computed_with.insert("thresholds".into(), serde_json::to_value(settings.thresholds()).unwrap_or_default());
    computed_with.insert("ibm_alignment".into(), settings.ibm_alignment.as_str().into());
    computed_with.insert("tn_window".into(), "[D-1 18:00, D 18:00) UTC".into());
    computed_with.insert("tx_window".into(), "[D 06:00, D+1 06:00) UTC".into());
    Ok(rows.respond(Value::Object(computed_with)))
}

fn qc_readings_sql() -> String {
    let flags: String = QC_FLAGS.iter().map(|(name, bit)| format!(", sum(CASE WHEN (qc_flags & {bit}) <> 0 THEN 1 ELSE 0 END) AS {name}")).collect();
    format!(
        "SELECT count(*) AS readings, sum(CASE WHEN (qc_flags & 31) = 0 THEN 1 ELSE 0 END) AS temperature_passed, \
         sum(CASE WHEN qc_flags = 0 THEN 1 ELSE 0 END) AS clean, min(ts) AS first_ts, max(ts) AS last_ts{flags} \
         FROM readings WHERE network = $1 AND sensor_id = $2 AND date >= $3 AND date < $4"
    )
}

const QC_HOURS: &str = "SELECT count(*) AS hours_with_data, sum(CASE WHEN valid THEN 1 ELSE 0 END) AS hours_valid \
    FROM hourly WHERE network = $1 AND sensor_id = $2 AND date >= $3 AND date < $4";

const QC_CROWDQC: &str = "SELECT count(*) AS hours, \
    sum(CASE WHEN m1 THEN 1 ELSE 0 END) AS m1, sum(CASE WHEN m2 THEN 1 ELSE 0 END) AS m2, \
    sum(CASE WHEN m3 THEN 1 ELSE 0 END) AS m3, sum(CASE WHEN m4 THEN 1 ELSE 0 END) AS m4, \
    sum(CASE WHEN m5 THEN 1 ELSE 0 END) AS m5, sum(CASE WHEN o1 THEN 1 ELSE 0 END) AS o1, \
    sum(CASE WHEN o2 THEN 1 ELSE 0 END) AS o2, sum(CASE WHEN o3 THEN 1 ELSE 0 END) AS o3 \
    FROM crowdqc WHERE network = $1 AND sensor_id = $2 AND month >= $3 AND month <= $4 AND hour >= $5 AND hour < $6";

const CROWDQC_LEVELS: [&str; 8] = ["m1", "m2", "m3", "m4", "m5", "o1", "o2", "o3"];

fn count(row: &Map<String, Value>, name: &str) -> i64 {
    row.get(name).and_then(Value::as_i64).unwrap_or(0)
}

/// `GET /api/sensors/{network}/{sensor}/qc?from=&to=` (default: 31 days): readings and the
/// count of each QC bit, hourly completeness (`hourly`: hours with QC-passed data, hours
/// valid), and the CrowdQC+ pass counts per level when `ilot qc` has results for the sensor.
pub async fn get_sensor_qc(
    State(state): State<Arc<HttpState>>,
    Path((network, sensor)): Path<(String, String)>,
    Query(params): Query<Params>,
) -> Result<Response, ApiError> {
    let registry = state.registry.snapshot();
    known_sensor(&registry, &network, &sensor)?;
    let range = DateRange::resolve(params.from.as_deref(), params.to.as_deref(), 31)?;
    let keys = || vec![text(&network), text(&sensor), date(range.from), date(range.end())];
    let readings = run(&state, &qc_readings_sql(), keys()).await?.rows.pop().unwrap_or_default();
    let hours = run(&state, QC_HOURS, keys()).await?.rows.pop().unwrap_or_default();
    let month = |d: NaiveDate| text(&d.format("%Y-%m").to_string());
    let crowdqc_params = vec![text(&network), text(&sensor), month(range.from), month(range.to), midnight(range.from), midnight(range.end())];
    let crowdqc = run(&state, QC_CROWDQC, crowdqc_params).await?.rows.pop().unwrap_or_default();
    let settings = registry.settings(&network);

    let flags: Vec<Value> = QC_FLAGS.iter().map(|(name, bit)| json!({ "flag": name, "bit": bit, "count": count(&readings, name) })).collect();
    let crowdqc = if count(&crowdqc, "hours") > 0 {
        let passed: Map<String, Value> = CROWDQC_LEVELS.iter().map(|l| ((*l).to_owned(), count(&crowdqc, l).into())).collect();
        json!({ "hours": count(&crowdqc, "hours"), "passed": passed, "required_level": settings.crowdqc_level.as_str() })
    } else {
        Value::Null
    };
    let summary = json!({
        "network": network,
        "sensor_id": sensor,
        "readings": count(&readings, "readings"),
        "temperature_passed": count(&readings, "temperature_passed"),
        "clean": count(&readings, "clean"),
        "first_ts": readings.get("first_ts").cloned().unwrap_or(Value::Null),
        "last_ts": readings.get("last_ts").cloned().unwrap_or(Value::Null),
        "flags": flags,
        "hours_with_data": count(&hours, "hours_with_data"),
        "hours_valid": count(&hours, "hours_valid"),
        "crowdqc": crowdqc,
    });
    let Value::Object(summary) = summary else { unreachable!("a JSON object") };
    let mut computed_with = Map::new();
    computed_with.insert("network".into(), network.clone().into());
    computed_with.insert("sensor".into(), sensor.clone().into());
    computed_with.insert("from".into(), range.from.to_string().into());
    computed_with.insert("to".into(), range.to.to_string().into());
    computed_with.insert("crowdsourced".into(), settings.crowdsourced.into());
    computed_with.insert("hour_valid_rule".into(), "QC-passed samples >= 80 % of the sensor's expected cadence".into());
    Ok(Rows { rows: vec![summary], truncated: false }.respond(Value::Object(computed_with)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_ranges_default_parse_and_are_bounded() {
        let r = DateRange::resolve(Some("2025-07-01"), Some("2025-07-31"), 7).unwrap();
        assert_eq!((r.from.to_string(), r.end().to_string()), ("2025-07-01".into(), "2025-08-01".into()));
        let d = DateRange::resolve(None, Some("2025-07-31"), 7).unwrap();
        assert_eq!(d.from.to_string(), "2025-07-25", "7 days including `to`");
        assert!(DateRange::resolve(Some("2025-02-30"), None, 7).is_err());
        assert!(DateRange::resolve(Some("2025-07-02"), Some("2025-07-01"), 7).is_err());
        assert!(DateRange::resolve(Some("2024-01-01"), Some("2024-12-31"), 7).is_ok(), "366 days (leap year) pass");
        let long = DateRange::resolve(Some("2023-01-01"), Some("2024-01-02"), 7).unwrap_err();
        assert!(long.message.contains("366"), "{}", long.message);
        assert!(Granularity::parse(Some("weekly")).is_err());
        assert_eq!(Granularity::parse(None).unwrap(), Granularity::Daily);
    }
}
