//! The HTTP server: the route table ([`api_routes`], the one list of `/api/*` routes that the
//! router and the OpenAPI test both read), the `[http]` configuration rules
//! ([`HttpConfig::validate`]), authentication scopes, request limits, binding the listener
//! ([`bind`], before the rest of the service starts) and serving it until shutdown.

use axum::Router;
use axum::handler::Handler;
use axum::http::Method;
use axum::middleware;
use axum::routing::{MethodFilter, MethodRouter, get};
use ilot_ingest::registry::RegistryHandle;
use ilot_ingest::config::{ConfigError, Secret};
use ilot_ingest::health::IntakeHealth;
use ilot_ingest::store::Store;
use ilot_query::QueryEngine;
use metrics_exporter_prometheus::PrometheusHandle;
use std::net::SocketAddr;
use std::sync::Arc;

use crate::auth::{self, Access};
use crate::{alerts_api, health, heat_api, openapi, registry_api, sql_api};

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
        Self { listen: "127.0.0.1:8642".parse().expect("valid address"), token: None, admin_token: None, disconnect_grace_ms: 0, max_silence_ms: None }
    }
}

impl HttpConfig {
    /// The `[http]` rules (the service's configuration check and [`bind`] both call this): the
    /// tokens given are usable ones, a listener other machines can reach has `token`, and the
    /// admin token is not the reader token.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (key, token) in [("http.token", &self.token), ("http.admin_token", &self.admin_token)] {
            let Some(token) = token else { continue };
            token.check(key)?;
            if token.0.trim() != token.0 || token.0.chars().any(|c| c.is_control() || !c.is_ascii()) {
                return Err(ConfigError::new(
                    key,
                    "white space at either end, control or non-ASCII characters: an Authorization header cannot carry them",
                ));
            }
        }
        if self.token.is_none() && !self.listen.ip().is_loopback() {
            return Err(ConfigError::new("http.token", format!("required when http.listen ({}) is not a loopback address", self.listen)));
        }
        if self.admin_token.is_some() && self.admin_token == self.token {
            return Err(ConfigError::new("http.admin_token", "the same as http.token: every reader would be an administrator"));
        }
        Ok(())
    }
}

pub struct HttpState {
    pub config: HttpConfig,
    pub store: Arc<Store>,
    pub engine: Arc<QueryEngine>,
    pub registry: Arc<RegistryHandle>,
    pub health: Arc<IntakeHealth>,
    pub prometheus: PrometheusHandle,
    /// The alerts, when this process evaluates them (`alerts.enabled`).
    pub alerting: Option<Arc<ilot_alerts::Alerting>>,
    /// `query.per_client_per_minute`, shared with the PostgreSQL endpoint.
    pub sql_rate: Arc<crate::rate_limit::SqlRateLimit>,
}

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Bind(#[from] ilot_ingest::listen::ListenError),
    #[error("HTTP server on {addr}: {error}")]
    Serve { addr: SocketAddr, error: std::io::Error },
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
        route(Method::GET, "/api/admin/networks/{network}", Admin, registry_api::get_network),
        route(Method::PUT, "/api/admin/networks/{network}", Admin, registry_api::put_network),
        route(Method::GET, "/api/alerts", Reader, alerts_api::get_alerts),
        route(Method::GET, "/api/alerts/cap-feed", Reader, alerts_api::get_cap_feed),
        route(Method::GET, "/api/alerts/{alert}", Reader, alerts_api::get_alert),
        route(Method::GET, "/api/alert-events/{event}/cap", Reader, alerts_api::get_event_cap),
        route(Method::GET, "/api/admin/webhooks", Admin, alerts_api::get_webhooks),
        route(Method::POST, "/api/admin/webhooks", Admin, alerts_api::post_webhook),
        route(Method::DELETE, "/api/admin/webhooks/{subscription}", Admin, alerts_api::delete_webhook),
        route(Method::POST, "/api/admin/webhooks/{subscription}/enable", Admin, alerts_api::post_webhook_enable),
        route(Method::GET, "/api/admin/webhook-dead-letters", Admin, alerts_api::get_dead_letters),
        route(Method::POST, "/api/admin/webhook-dead-letters/{delivery}/replay", Admin, alerts_api::post_replay),
        route(Method::GET, "/api/admin/rules", Admin, alerts_api::get_rules),
        route(Method::POST, "/api/admin/rules", Admin, alerts_api::post_rule),
        route(Method::DELETE, "/api/admin/rules/{rule}", Admin, alerts_api::delete_rule),
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

/// The listener of a valid `config` (see [`HttpConfig::validate`]), bound at once: the service
/// binds it before anything else starts, so a taken port fails the start with its address.
pub async fn bind(config: &HttpConfig) -> Result<tokio::net::TcpListener, HttpError> {
    config.validate()?;
    let addr = config.listen;
    Ok(tokio::net::TcpListener::bind(addr).await.map_err(|error| ilot_ingest::listen::ListenError::new(addr, "http.listen", error))?)
}

/// Serve on `listener` (from [`bind`]) until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<HttpState>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), HttpError> {
    let addr = listener.local_addr().map_err(|error| HttpError::Serve { addr: state.config.listen, error })?;
    tracing::info!(%addr, "HTTP API listening");
    // The client's address reaches the handlers (the SQL rate limit is per client).
    let service = router(state).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, service).with_graceful_shutdown(shutdown).await.map_err(|error| HttpError::Serve { addr, error })
}
