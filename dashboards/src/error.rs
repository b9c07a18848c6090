//! API errors as JSON: `{"error": kind, "message": text}` with the matching status. Query
//! failures map to 400 (bad or non-read-only SQL), 413 (memory limit) and 504 (time limit).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ilot_query::QueryError;

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    /// Stable machine-readable kind (`bad_request`, `not_found`, `sql`, `timeout` …).
    pub kind: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        Self { status, kind, message: message.into() }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn internal(kind: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, kind, message)
    }
}

impl From<QueryError> for ApiError {
    fn from(e: QueryError) -> Self {
        let (status, kind) = match &e {
            QueryError::NotReadOnly(_) => (StatusCode::BAD_REQUEST, "not_read_only"),
            QueryError::Sql(_) => (StatusCode::BAD_REQUEST, "sql"),
            QueryError::Memory { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "memory_limit"),
            QueryError::Timeout(_) => (StatusCode::GATEWAY_TIMEOUT, "timeout"),
            QueryError::Shape(_) => (StatusCode::BAD_REQUEST, "sql"),
            QueryError::ProcessMemory { .. } => (StatusCode::SERVICE_UNAVAILABLE, "memory_limit"),
            QueryError::Executor(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        };
        Self::new(status, kind, e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(serde_json::json!({ "error": self.kind, "message": self.message }))).into_response()
    }
}
