//! `POST /api/sql`: run one read-only query. Body: the SQL text (`text/plain`) or
//! `{"sql": "...", "format": "json"|"csv"|"arrow"}`; `?format=` works too. The result is cut at
//! `query.max_result_rows`, or at `?max_rows=` when lower (a larger one is refused), with the
//! header `x-ilot-truncated: true`. Errors are JSON
//! `{"error": kind, "message": ...}` with 400 (bad or non-read-only SQL), 413 (memory), 429
//! (`query.per_client_per_minute`, with `Retry-After`) or 504 (time limit). While the store has damaged files (left out of the results), answers carry
//! the header `x-ilot-warning` saying so.

use axum::body::Bytes;
use axum::Extension;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use std::net::SocketAddr;
use axum::response::{IntoResponse, Response};
use ilot_query::output::{Format, render};
use std::sync::Arc;

use crate::HttpState;
use crate::error::ApiError;

#[derive(Debug, serde::Deserialize, Default)]
pub struct SqlParams {
    format: Option<Format>,
    max_rows: Option<usize>,
}

#[derive(Debug, serde::Deserialize)]
struct SqlBody {
    sql: String,
    format: Option<Format>,
}

fn error(e: ApiError) -> Response {
    metrics::counter!("ilot_sql_errors_total", "kind" => e.kind).increment(1);
    e.into_response()
}

pub async fn post_sql(
    State(state): State<Arc<HttpState>>,
    client: Option<Extension<ConnectInfo<SocketAddr>>>,
    Query(params): Query<SqlParams>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(Extension(ConnectInfo(client))) = client
        && let Err(limited) = state.sql_rate.check(client.ip())
    {
        let retry_after = limited.retry_after.as_secs().max(1).to_string();
        let mut response = error(ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", limited.to_string()));
        response.headers_mut().insert(header::RETRY_AFTER, retry_after.parse().expect("digits"));
        return response;
    }
    let is_json = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("application/json"));
    let (sql, body_format) = if is_json {
        match serde_json::from_slice::<SqlBody>(&body) {
            Ok(b) => (b.sql, b.format),
            Err(e) => return error(ApiError::bad_request(format!("expected {{\"sql\": ...}}: {e}"))),
        }
    } else {
        match String::from_utf8(body.to_vec()) {
            Ok(s) => (s, None),
            Err(_) => return error(ApiError::bad_request("SQL text must be UTF-8")),
        }
    };
    let format = params.format.or(body_format).unwrap_or(Format::Json);
    let limit = state.engine.limits().max_result_rows;
    let max_rows = params.max_rows.unwrap_or(limit);
    if max_rows == 0 || max_rows > limit {
        return error(ApiError::bad_request(format!("max_rows: from 1 to {limit} (query.max_result_rows)")));
    }
    let started = std::time::Instant::now();
    let result = state.engine.query_at_most(&sql, max_rows).await;
    metrics::histogram!("ilot_sql_seconds").record(started.elapsed().as_secs_f64());
    match result {
        Ok(r) => match render(format, &r.schema, &r.batches) {
            Ok(bytes) => {
                let mut response = ([(header::CONTENT_TYPE, format.content_type())], bytes).into_response();
                if r.truncated {
                    response.headers_mut().insert("x-ilot-truncated", "true".parse().expect("header value"));
                }
                if let Some(warning) = state.store.damage_warning().and_then(|w| w.parse().ok()) {
                    response.headers_mut().insert("x-ilot-warning", warning);
                }
                response
            }
            Err(e) => error(ApiError::internal("render", e.to_string())),
        },
        Err(e) => error(ApiError::from(e)),
    }
}
