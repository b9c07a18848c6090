//! Admin endpoints of the sensor registry (admin token, see `auth`): upsert sensors from CSV,
//! GeoJSON or a JSON array, remove a sensor, set a network's settings. Every change is
//! validated as a whole and saved before it is answered; a refused change changes nothing.
//!
//! - `PUT /api/admin/sensors` — body `text/csv`, `application/geo+json` (a FeatureCollection of
//!   Points) or `application/json` (an array of sensors, or a FeatureCollection); answers
//!   `{"upserted": n, "sensors": total}`; 400 names the record (1-based) and the reason; 415
//!   for another content type.
//! - `DELETE /api/admin/sensors/{network}/{sensor}` — 204; 404 when it is not registered; 409
//!   when the network's settings still name it as a reference station.
//! - `GET /api/admin/networks/{network}` — the network's complete settings, every key (the
//!   per-network `qc` thresholds and `senml_names` included): the body to edit for a `PUT`; 404
//!   when the network has no settings.
//! - `PUT /api/admin/networks/{network}` — body a JSON object: the network's complete settings,
//!   which replace the current ones (a key left out takes its default, so `{}` sets every
//!   default); answers `{"network": name, "settings": {...}}`; 400 with the reason for anything
//!   else (not an object, an unknown key, inconsistent settings), which changes nothing.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ilot_ingest::registry::{Network, RegistryError, Sensor, parse_sensors};
use serde_json::{Value, json};
use std::sync::Arc;

use crate::HttpState;
use crate::error::ApiError;

/// Where the body's records are named in errors.
const ORIGIN: &str = "request body";

fn registry_error(e: RegistryError) -> ApiError {
    match e {
        RegistryError::Invalid(m) => ApiError::bad_request(m),
        RegistryError::File(e) => ApiError::bad_request(e.to_string()),
        e @ (RegistryError::Storage(_) | RegistryError::Corrupt { .. }) => ApiError::internal("storage", e.to_string()),
    }
}

fn media_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default()
}

/// A JSON array of sensors, each record checked on its own.
fn parse_json_array(text: &str) -> Result<Vec<Sensor>, ApiError> {
    let records: Vec<Value> = serde_json::from_str(text).map_err(|e| ApiError::bad_request(format!("{ORIGIN}: not a JSON array of sensors: {e}")))?;
    records
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            let sensor: Sensor = serde_json::from_value(v).map_err(|e| ApiError::bad_request(format!("{ORIGIN}, record {}: {e}", i + 1)))?;
            sensor.validate().map_err(|e| ApiError::bad_request(format!("{ORIGIN}, record {}: {e}", i + 1)))?;
            Ok(sensor)
        })
        .collect()
}

fn parse_body(media: &str, body: &[u8]) -> Result<Vec<Sensor>, ApiError> {
    let text = std::str::from_utf8(body).map_err(|_| ApiError::bad_request(format!("{ORIGIN} must be UTF-8")))?;
    let document = text.trim_start_matches('\u{feff}').trim_start();
    let as_document = |text: &str| parse_sensors(text, ORIGIN).map_err(|e| ApiError::bad_request(e.to_string()));
    match media {
        "text/csv" => as_document(text),
        "application/geo+json" if document.starts_with('{') => as_document(text),
        "application/geo+json" => Err(ApiError::bad_request(format!("{ORIGIN}: expected a GeoJSON FeatureCollection"))),
        "application/json" if document.starts_with('[') => parse_json_array(document),
        "application/json" if document.starts_with('{') => as_document(text),
        "application/json" => Err(ApiError::bad_request(format!("{ORIGIN}: expected a JSON array of sensors or a GeoJSON FeatureCollection"))),
        other => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!("Content-Type {other:?}: use text/csv, application/geo+json or application/json"),
        )),
    }
}

/// `PUT /api/admin/sensors`: add or replace sensors (by network and sensor_id).
pub async fn put_sensors(State(state): State<Arc<HttpState>>, headers: HeaderMap, body: Bytes) -> Result<Response, ApiError> {
    let sensors = parse_body(&media_type(&headers), &body)?;
    if sensors.is_empty() {
        return Err(ApiError::bad_request(format!("{ORIGIN}: no sensors")));
    }
    let upserted = state.registry.upsert_sensors(sensors).await.map_err(registry_error)?;
    let total = state.registry.snapshot().sensors.len();
    tracing::info!(upserted, total, "sensors registered through the admin API");
    Ok(Json(json!({ "upserted": upserted, "sensors": total })).into_response())
}

/// `DELETE /api/admin/sensors/{network}/{sensor}`.
pub async fn delete_sensor(State(state): State<Arc<HttpState>>, Path((network, sensor)): Path<(String, String)>) -> Result<Response, ApiError> {
    match state.registry.remove_sensor(&network, &sensor).await {
        Ok(true) => {
            tracing::info!(%network, %sensor, "sensor removed through the admin API");
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        Ok(false) => Err(ApiError::not_found(format!("sensor {sensor:?} is not registered in network {network:?}"))),
        Err(RegistryError::Invalid(m)) => Err(ApiError::new(StatusCode::CONFLICT, "conflict", m)),
        Err(e) => Err(registry_error(e)),
    }
}

/// A network's settings from a request body: a JSON object, nothing else. (Serde would also
/// read a struct from an array, so `[]` would silently mean "every default".)
fn parse_network(body: &[u8]) -> Result<Network, ApiError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("network settings: not JSON: {e}")))?;
    let kind = match &value {
        Value::Object(_) => return serde_json::from_value(value).map_err(|e| ApiError::bad_request(format!("network settings: {e}"))),
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
    };
    Err(ApiError::bad_request(format!("network settings: expected a JSON object of settings, got {kind}")))
}

/// `GET /api/admin/networks/{network}`: a network's complete settings.
pub async fn get_network(State(state): State<Arc<HttpState>>, Path(network): Path<String>) -> Result<Response, ApiError> {
    let registry = state.registry.snapshot();
    let settings = registry.network(&network).ok_or_else(|| ApiError::not_found(format!("network {network:?} has no settings (it takes every default)")))?;
    Ok(Json(json!({ "network": network, "settings": settings })).into_response())
}

/// `PUT /api/admin/networks/{network}`: replace a network's settings.
pub async fn put_network(State(state): State<Arc<HttpState>>, Path(network): Path<String>, body: Bytes) -> Result<Response, ApiError> {
    let settings = parse_network(&body)?;
    settings.validate(&network).map_err(ApiError::bad_request)?;
    state.registry.put_network(&network, settings).await.map_err(registry_error)?;
    tracing::info!(%network, "network settings changed through the admin API");
    let stored = state.registry.snapshot().settings(&network);
    Ok(Json(json!({ "network": network, "settings": stored })).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_by_content_type_with_record_numbers_in_errors() {
        let csv = "network,sensor_id,lat,lon\nn,a,43.6,1.4\nn,b,north,1.4\n";
        let err = parse_body("text/csv", csv.as_bytes()).unwrap_err();
        assert_eq!(err.status, StatusCode::BAD_REQUEST);
        assert!(err.message.contains("record 2"), "{}", err.message);
        let json = r#"[{"network":"n","sensor_id":"a","lat":43.6,"lon":1.4},{"network":"n","sensor_id":"b","lat":95,"lon":1.4}]"#;
        let err = parse_body("application/json", json.as_bytes()).unwrap_err();
        assert!(err.message.contains("record 2") && err.message.contains("out of range"), "{}", err.message);
        let one = r#"[{"network":"n","sensor_id":"a","lat":43.6,"lon":1.4,"lcz":"D","role":"rural"}]"#;
        assert_eq!(parse_body("application/json", one.as_bytes()).unwrap().len(), 1);
        let unplaced = r#"[{"network":"n","sensor_id":"a"},{"network":"n","sensor_id":"b","lat":null,"lon":null}]"#;
        assert!(parse_body("application/json", unplaced.as_bytes()).unwrap().iter().all(|s| s.lat.is_none() && s.lon.is_none()));
        let half = r#"[{"network":"n","sensor_id":"a","lat":43.6}]"#;
        assert!(parse_body("application/json", half.as_bytes()).unwrap_err().message.contains("both lat and lon"));
        assert_eq!(parse_body("text/plain", b"x").unwrap_err().status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }

    #[test]
    fn network_settings_are_an_object_of_known_keys() {
        for (body, expected) in [
            ("[]", "got an array"),
            ("[\"Dash\"]", "got an array"),
            ("null", "got null"),
            ("\"Dash\"", "got a string"),
            ("3", "got a number"),
            ("", "not JSON"),
            (r#"{"display_name": "Dash", "nope": 1}"#, "unknown field `nope`"),
        ] {
            let err = parse_network(body.as_bytes()).unwrap_err();
            assert_eq!(err.status, StatusCode::BAD_REQUEST, "{body}");
            assert!(err.message.contains(expected), "{body}: {}", err.message);
        }
        assert_eq!(parse_network(b"{}").unwrap(), Network::default(), "{{}} sets every default");
        assert_eq!(parse_network(br#"{"departement": "35"}"#).unwrap().departement.as_deref(), Some("35"));
    }
}
