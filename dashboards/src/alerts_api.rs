//! Alerts over HTTP (`alerts` crate, when this process evaluates them: `alerts.enabled`;
//! otherwise these routes answer 404 `alerts_disabled`).
//!
//! Reader token:
//! - `GET /api/alerts[?active=true]` — alerts, newest first, each with its latest event's payload.
//! - `GET /api/alerts/{alert}` — one alert and all its events (payloads as delivered).
//! - `GET /api/alert-events/{event}/cap` — the event as an OASIS CAP 1.2 document.
//! - `GET /api/alerts/cap-feed` — an Atom feed of the alerts in force, one entry per alert
//!   linking its latest event's CAP document (MeteoAlarm's feed convention).
//!
//! Admin token:
//! - `GET /api/admin/webhooks`, `POST /api/admin/webhooks` (body: `url`, `rules`, `areas`,
//!   `min_level`, optional `secret`; answers 201 with the subscription and its `secret`, shown
//!   this once), `DELETE /api/admin/webhooks/{subscription}`,
//!   `POST /api/admin/webhooks/{subscription}/enable` (after a 410 Gone disabled it);
//! - `GET /api/admin/webhook-dead-letters`, `POST /api/admin/webhook-dead-letters/{delivery}/replay`;
//! - `GET /api/admin/rules` (configured and added), `POST /api/admin/rules` (a rule as in
//!   `[[alerts.rules]]`, as JSON: its query is run once, under the analysts' read-only, bounded
//!   guard, and must return `area` and `level`; 201), `DELETE /api/admin/rules/{rule}` (an
//!   added rule without alerts in force; 204).

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SecondsFormat, Utc};
use ilot_alerts::Alerting;
use ilot_alerts::alert_store::{AlertRow, AlertStoreError};
use ilot_alerts::rule::Rule;
use ilot_alerts::service::{RuleChangeError, SubscriptionError};
use ilot_alerts::subscription::SubscriptionRequest;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

use crate::HttpState;
use crate::error::ApiError;

fn alerting(state: &HttpState) -> Result<&Arc<Alerting>, ApiError> {
    state.alerting.as_ref().ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "alerts_disabled", "this process does not evaluate alerts (alerts.enabled)"))
}

pub(crate) fn store_error(e: AlertStoreError) -> ApiError {
    ApiError::internal("alert_store", e.to_string())
}

/// Blocking store work (SQLite) off the async threads.
pub(crate) async fn blocking<T: Send + 'static>(work: impl FnOnce() -> Result<T, ApiError> + Send + 'static) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work).await.map_err(|e| ApiError::internal("internal", e.to_string()))?
}

fn time(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms).unwrap_or_default().to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn alert_json(alert: &AlertRow) -> Value {
    json!({
        "id": alert.id, "rule": alert.rule, "area": alert.area, "level": alert.level, "active": alert.active,
        "sequence": alert.seq, "onset": time(alert.onset_ms), "raised": time(alert.raised_ms), "updated": time(alert.updated_ms),
        "cleared": alert.cleared_ms.map(time),
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsParams {
    #[serde(default)]
    active: bool,
}

pub async fn get_alerts(State(state): State<Arc<HttpState>>, Query(params): Query<AlertsParams>) -> Result<Response, ApiError> {
    let alerting = alerting(&state)?.clone();
    let body = blocking(move || {
        let alerts = alerting.store.alerts(params.active).map_err(store_error)?;
        let mut list = Vec::with_capacity(alerts.len());
        for alert in &alerts {
            let mut item = alert_json(alert);
            let latest = alerting.store.latest_event(&alert.id).map_err(store_error)?.and_then(|e| serde_json::from_str::<Value>(&e.payload).ok());
            item["latest"] = latest.map(|p| p["data"].clone()).unwrap_or_default();
            list.push(item);
        }
        Ok(json!({ "alerts": list }))
    })
    .await?;
    Ok(Json(body).into_response())
}

pub async fn get_alert(State(state): State<Arc<HttpState>>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let alerting = alerting(&state)?.clone();
    let body = blocking(move || {
        let alert = alerting.store.alerts(false).map_err(store_error)?.into_iter().find(|a| a.id == id);
        let alert = alert.ok_or_else(|| ApiError::not_found(format!("no alert {id}")))?;
        let events: Vec<Value> = alerting
            .store
            .events(Some(&id))
            .map_err(store_error)?
            .iter()
            .map(|e| serde_json::from_str::<Value>(&e.payload).unwrap_or_default())
            .collect();
        let mut body = alert_json(&alert);
        body["events"] = events.into();
        Ok(body)
    })
    .await?;
    Ok(Json(body).into_response())
}

const CAP_TYPE: &str = "application/cap+xml; charset=utf-8";

pub async fn get_event_cap(State(state): State<Arc<HttpState>>, Path(event): Path<String>) -> Result<Response, ApiError> {
    let alerting = alerting(&state)?.clone();
    let document = blocking(move || alerting.cap(&event).map_err(store_error)?.ok_or_else(|| ApiError::not_found(format!("no alert event {event}")))).await?;
    Ok(([(header::CONTENT_TYPE, CAP_TYPE)], document).into_response())
}

/// Escape text for XML (the feed's few fields).
fn xml(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

pub async fn get_cap_feed(State(state): State<Arc<HttpState>>) -> Result<Response, ApiError> {
    let alerting = alerting(&state)?.clone();
    let feed = blocking(move || {
        let alerts = alerting.store.alerts(true).map_err(store_error)?;
        let updated = alerts.iter().map(|a| a.updated_ms).max().unwrap_or_else(|| Utc::now().timestamp_millis());
        let mut feed = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\">\n  <id>urn:ilot:alerts</id>\n  <title>ilot alerts in force (observations, not official warnings)</title>\n  <updated>{}</updated>\n",
            time(updated)
        );
        for alert in &alerts {
            let Some(latest) = alerting.store.latest_event(&alert.id).map_err(store_error)? else { continue };
            let summary = serde_json::from_str::<Value>(&latest.payload).ok().and_then(|p| p["data"]["summary"]["en"].as_str().map(str::to_owned)).unwrap_or_default();
            feed.push_str(&format!(
                "  <entry>\n    <id>urn:ilot:{}</id>\n    <title>{}</title>\n    <updated>{}</updated>\n    <summary>{}</summary>\n    <link rel=\"alternate\" type=\"application/cap+xml\" href=\"/api/alert-events/{}/cap\"/>\n  </entry>\n",
                xml(&latest.event_id),
                xml(&format!("{} {} ({})", alert.level, alert.rule, alert.area)),
                time(latest.issued_ms),
                xml(&summary),
                xml(&latest.event_id)
            ));
        }
        feed.push_str("</feed>\n");
        Ok(feed)
    })
    .await?;
    Ok(([(header::CONTENT_TYPE, "application/atom+xml; charset=utf-8")], feed).into_response())
}

pub async fn get_webhooks(State(state): State<Arc<HttpState>>) -> Result<Response, ApiError> {
    let alerting = alerting(&state)?.clone();
    let list = blocking(move || Ok(alerting.store.subscriptions().map_err(store_error)?.iter().map(|s| s.view()).collect::<Vec<_>>())).await?;
    Ok(Json(json!({ "subscriptions": list })).into_response())
}

pub async fn post_webhook(State(state): State<Arc<HttpState>>, body: axum::body::Bytes) -> Result<Response, ApiError> {
    let alerting = alerting(&state)?.clone();
    let request: SubscriptionRequest = serde_json::from_slice(&body).map_err(|e| ApiError::bad_request(format!("a subscription: {e}")))?;
    let subscription = blocking(move || {
        alerting.add_subscription(&request).map_err(|e| match e {
            SubscriptionError::Store(e) => store_error(e),
            refused => ApiError::bad_request(refused.to_string()),
        })
    })
    .await?;
    // Only the origin: a URL may carry a token in its path or query.
    tracing::info!(subscription = %subscription.id, endpoint = %subscription.url.origin().ascii_serialization(), "webhook subscription added");
    let mut body = serde_json::to_value(subscription.view()).unwrap_or_default();
    body["secret"] = subscription.secret.expose().into();
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

pub async fn delete_webhook(State(state): State<Arc<HttpState>>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let alerting = alerting(&state)?.clone();
    let removed = blocking(move || alerting.delete_subscription(&id).map_err(store_error)).await?;
    Ok(if removed { StatusCode::NO_CONTENT.into_response() } else { ApiError::not_found("no such subscription").into_response() })
}

pub async fn post_webhook_enable(State(state): State<Arc<HttpState>>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let alerting = alerting(&state)?.clone();
    let enabled = blocking(move || alerting.enable_subscription(&id).map_err(store_error)).await?;
    Ok(if enabled { StatusCode::NO_CONTENT.into_response() } else { ApiError::not_found("no such subscription").into_response() })
}

pub async fn get_dead_letters(State(state): State<Arc<HttpState>>) -> Result<Response, ApiError> {
    let alerting = alerting(&state)?.clone();
    let dead = blocking(move || alerting.store.dead_letters().map_err(store_error)).await?;
    Ok(Json(json!({ "dead_letters": dead })).into_response())
}

pub async fn post_replay(State(state): State<Arc<HttpState>>, Path(delivery): Path<i64>) -> Result<Response, ApiError> {
    let alerting = alerting(&state)?.clone();
    let replayed = blocking(move || alerting.replay(delivery).map_err(store_error)).await?;
    Ok(if replayed { StatusCode::ACCEPTED.into_response() } else { ApiError::not_found("no such dead letter").into_response() })
}

fn rule_error(e: RuleChangeError) -> ApiError {
    match e {
        RuleChangeError::Store(e) => store_error(e),
        RuleChangeError::NotFound(_) => ApiError::not_found(e.to_string()),
        RuleChangeError::Invalid(_) => ApiError::bad_request(e.to_string()),
        RuleChangeError::Exists(_) | RuleChangeError::Configured(_) | RuleChangeError::InForce(_) => ApiError::new(StatusCode::CONFLICT, "conflict", e.to_string()),
    }
}

pub async fn get_rules(State(state): State<Arc<HttpState>>) -> Result<Response, ApiError> {
    let alerting = alerting(&state)?;
    let list: Vec<Value> = alerting
        .rules()
        .iter()
        .map(|rule| {
            let mut item = serde_json::to_value(rule).unwrap_or_default();
            item["source"] = if alerting.is_configured(&rule.common.id) { "configuration" } else { "api" }.into();
            item
        })
        .collect();
    Ok(Json(json!({ "rules": list })).into_response())
}

pub async fn post_rule(State(state): State<Arc<HttpState>>, body: axum::body::Bytes) -> Result<Response, ApiError> {
    let alerting = alerting(&state)?.clone();
    let rule: Rule = serde_json::from_slice(&body).map_err(|e| ApiError::bad_request(format!("a rule: {e}")))?;
    rule.validate().map_err(|e| ApiError::bad_request(e.to_string()))?;
    // Tried once as the evaluator will run it: read-only, bounded, returning what a rule returns.
    let tried = state.engine.query_at_most(&rule.sql(Utc::now().timestamp_millis()), 1).await.map_err(|e| {
        let e = ApiError::from(e);
        ApiError { message: format!("the rule's query: {}", e.message), ..e }
    })?;
    if let Some(missing) = ["area", "level"].into_iter().find(|c| tried.schema.field_with_name(c).is_err()) {
        return Err(ApiError::bad_request(format!("the rule's query must return an `{missing}` column (and `level` green, yellow, orange or red)")));
    }
    let view = serde_json::to_value(&rule).unwrap_or_default();
    let id = rule.common.id.clone();
    blocking(move || alerting.add_rule(rule).map_err(rule_error)).await?;
    tracing::info!(rule = %id, "alert rule added");
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

pub async fn delete_rule(State(state): State<Arc<HttpState>>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let alerting = alerting(&state)?.clone();
    blocking(move || alerting.remove_rule(&id).map_err(rule_error)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
