//! Bearer-token authentication for the API. Tokens are compared in constant time and never
//! logged. Without a configured token the API is open, which the server allows only on a
//! loopback address (the embedded demo).

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

use crate::HttpState;

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub async fn require_token(State(state): State<Arc<HttpState>>, request: Request, next: Next) -> Response {
    let Some(expected) = state.config.token.as_ref() else {
        return next.run(request).await;
    };
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match presented {
        Some(token) if constant_time_eq(token.as_bytes(), expected.0.as_bytes()) => next.run(request).await,
        _ => {
            metrics::counter!("ilot_http_unauthorized_total").increment(1);
            (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, "Bearer")], "missing or wrong bearer token\n").into_response()
        }
    }
}
