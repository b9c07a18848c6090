//! The HTTP server: the route table ([`api_routes`], the one list of `/api/*` routes that the
//! router and the OpenAPI test both read), authentication scopes, request limits, graceful
//! shutdown.

use axum::Router;
use axum::handler::Handler;
use axum::http::Method;
use axum::middleware;
use axum::routing::{MethodFilter, MethodRouter, get};
use ilot_ingest::registry::RegistryHandle;
use ilot_ingest::config::Secret;
use ilot_ingest::health::IntakeHealth;
use ilot_ingest::store::Store;
use ilot_query::QueryEngine;
use metrics_exporter_prometheus::PrometheusHandle;
use std::net::SocketAddr;
use std::sync::Arc;

use crate::auth::{self, Access};
use crate::{health, heat_api, openapi, registry_api, sql_api};

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Address of the HTTP API, dashboard and metrics.
    pub listen: SocketAddr,
    /// Bearer token required on `/api/*`. Required unless `listen` is a loopback address.
    pub token: Option<Secret>,
    /// Bearer token required on `/api/admin/*` (registry changes). Without it the admin API
    /// answers 403, except on a loopback address with no `token` either (the embedded demo).
    pub admin_token: Option<Secret>,
    #[serde(skip)]
    pub disconnect_grace_ms: i64,
    #[serde(skip)]
    pub max_silence_ms: Option<i64>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self { listen: "127.0.0.1:8642".parse().expect("valid address"), token: None, admin_token: None, disconnect_grace_ms: 5_000, max_silence_ms: None }
    }
}

pub struct HttpState {
    pub config: HttpConfig,
    pub store: Arc<Store>,
    pub engine: Arc<QueryEngine>,
    pub registry: Arc<RegistryHandle>,
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

/// One `/api/*` route: method, path (axum and OpenAPI share the `{param}` syntax), who may
/// call it, and its handler.
pub struct ApiRoute {
    pub method: Method,
    pub path: &'static str,
    pub access: Access,
    handler: MethodRouter<Arc<HttpState>>,
}

fn route<H, T>(method: Method, path: &'static str, access: Access, handler: H) -> ApiRoute
where
    H: Handler<T, Arc<HttpState>>,
    T: 'static,
{
    let filter = MethodFilter::try_from(method.clone()).expect("a standard method");
    ApiRoute { method, path, access, handler: axum::routing::on(filter, handler) }
}

/// Every `/api/*` route. `assets/openapi.json` documents exactly these (checked by a test).
pub fn api_routes() -> Vec<ApiRoute> {
    use Access::{Admin, Public, Reader};
    vec![
        route(Method::GET, "/api/openapi.json", Public, openapi::get_openapi),
        route(Method::POST, "/api/sql", Reader, sql_api::post_sql),
        route(Method::GET, "/api/networks", Reader, heat_api::get_networks),
        route(Method::GET, "/api/sensors", Reader, heat_api::get_sensors),
        route(Method::GET, "/api/networks/{network}/uhi", Reader, heat_api::get_network_uhi),
        route(Method::GET, "/api/networks/{network}/tn-tx", Reader, heat_api::get_tn_tx),
        route(Method::GET, "/api/networks/{network}/ibm", Reader, heat_api::get_ibm),
        route(Method::GET, "/api/sensors/{network}/{sensor}/uhi", Reader, heat_api::get_sensor_uhi),
        route(Method::GET, "/api/sensors/{network}/{sensor}/qc", Reader, heat_api::get_sensor_qc),
        route(Method::PUT, "/api/admin/sensors", Admin, registry_api::put_sensors),
        route(Method::DELETE, "/api/admin/sensors/{network}/{sensor}", Admin, registry_api::delete_sensor),
        route(Method::PUT, "/api/admin/networks/{network}", Admin, registry_api::put_network),
    ]
}

/// Request bodies: SQL text and small JSON for readers; whole sensor lists for admins.
const READER_BODY_LIMIT: usize = 1 << 20;
const ADMIN_BODY_LIMIT: usize = 16 << 20;

pub fn router(state: Arc<HttpState>) -> Router {
    let (mut public, mut reader, mut admin) = (Router::new(), Router::new(), Router::new());
    for r in api_routes() {
        match r.access {
            Access::Public => public = public.route(r.path, r.handler),
            Access::Reader => reader = reader.route(r.path, r.handler),
            Access::Admin => admin = admin.route(r.path, r.handler),
        }
    }
    let reader = reader
        .layer(axum::extract::DefaultBodyLimit::max(READER_BODY_LIMIT))
        .route_layer(middleware::from_fn_with_state(state.clone(), auth::require_token));
    let admin = admin
        .layer(axum::extract::DefaultBodyLimit::max(ADMIN_BODY_LIMIT))
        .route_layer(middleware::from_fn_with_state(state.clone(), auth::require_admin));
    Router::new()
        .route("/", get(status_page))
        .route("/healthz", get(health::healthz))
        .route("/metrics", get(health::metrics))
        .merge(public)
        .merge(reader)
        .merge(admin)
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
