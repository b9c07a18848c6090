//! The HTTP server: routes, authentication, request limits, graceful shutdown.

use axum::Router;
use axum::middleware;
use axum::routing::{get, post};
use ilot_ingest::config::Secret;
use ilot_ingest::health::IntakeHealth;
use ilot_ingest::store::Store;
use ilot_query::QueryEngine;
use metrics_exporter_prometheus::PrometheusHandle;
use std::net::SocketAddr;
use std::sync::Arc;

use crate::{auth, health, sql_api};

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Address of the HTTP API, dashboard and metrics.
    pub listen: SocketAddr,
    /// Bearer token required on `/api/*`. Required unless `listen` is a loopback address.
    pub token: Option<Secret>,
    #[serde(skip)]
    pub disconnect_grace_ms: i64,
    #[serde(skip)]
    pub max_silence_ms: Option<i64>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self { listen: "127.0.0.1:8642".parse().expect("valid address"), token: None, disconnect_grace_ms: 5_000, max_silence_ms: None }
    }
}

pub struct HttpState {
    pub config: HttpConfig,
    pub store: Arc<Store>,
    pub engine: Arc<QueryEngine>,
    pub health: Arc<IntakeHealth>,
    pub prometheus: PrometheusHandle,
}

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("http.listen {0} is not a loopback address: set http.token (ILOT_HTTP__TOKEN) to protect the API")]
    Unprotected(SocketAddr),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
}

pub fn router(state: Arc<HttpState>) -> Router {
    let api = Router::new()
        .route("/api/sql", post(sql_api::post_sql))
        .layer(axum::extract::DefaultBodyLimit::max(1 << 20))
        .route_layer(middleware::from_fn_with_state(state.clone(), auth::require_token));
    Router::new()
        .route("/", get(status_page))
        .route("/healthz", get(health::healthz))
        .route("/metrics", get(health::metrics))
        .merge(api)
        .with_state(state)
}

/// The status page: intake health and counters, networks, latest readings, a SQL box. It
/// reads the same public endpoints (`/healthz`, `/metrics`, `/api/sql`) as any client.
async fn status_page() -> axum::response::Html<&'static str> {
    axum::response::Html(include_str!("../assets/status.html"))
}

/// Bind and serve until `shutdown` resolves. Returns the bound address through `bound`.
pub async fn serve(
    state: Arc<HttpState>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    bound: tokio::sync::oneshot::Sender<SocketAddr>,
) -> Result<(), HttpError> {
    let addr = state.config.listen;
    if state.config.token.is_none() && !addr.ip().is_loopback() {
        return Err(HttpError::Unprotected(addr));
    }
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|source| HttpError::Bind { addr, source })?;
    let local = listener.local_addr().map_err(|source| HttpError::Bind { addr, source })?;
    let _ = bound.send(local);
    tracing::info!(%local, "HTTP API listening");
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|source| HttpError::Bind { addr, source })
}
