//! `/healthz`: 200 while intake is connected and durable writes succeed, 503 with the reasons
//! otherwise (broker lost beyond the grace period, WAL failing, silence when configured).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use std::sync::Arc;

use crate::HttpState;

pub async fn healthz(State(state): State<Arc<HttpState>>) -> (StatusCode, Json<serde_json::Value>) {
    let now = chrono::Utc::now().timestamp_millis();
    let report = state.health.report(now, state.config.disconnect_grace_ms, state.config.max_silence_ms);
    let status = if report.healthy { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let buffered = state.store.buffered_rows();
    let mut body = serde_json::to_value(&report).unwrap_or_default();
    body["buffered_rows"] = buffered.into();
    (status, Json(body))
}

pub async fn metrics(State(state): State<Arc<HttpState>>) -> String {
    state.prometheus.render()
}
