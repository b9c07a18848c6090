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
use crate::{alerts_api, health, heat_api, map_api, openapi, registry_api, sql_api, web};

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
    /// Server certificate chain (PEM). With `tls_key_file`, the listener speaks HTTPS only.
    pub tls_cert_file: Option<std::path::PathBuf>,
    /// The certificate's private key (PEM, PKCS#8, PKCS#1 or SEC1).
    pub tls_key_file: Option<std::path::PathBuf>,
    /// `[http.dashboard]`: base-map tiles, the citizen view, the refresh interval.
    pub dashboard: crate::web::DashboardConfig,
    #[serde(skip)]
    pub disconnect_grace_ms: i64,
    #[serde(skip)]
    pub max_silence_ms: Option<i64>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8642".parse().expect("valid address"),
            token: None,
            admin_token: None,
            tls_cert_file: None,
            tls_key_file: None,
            dashboard: crate::web::DashboardConfig::default(),
            disconnect_grace_ms: 0,
            max_silence_ms: None,
        }
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
        match (&self.tls_cert_file, &self.tls_key_file) {
            (Some(_), None) => return Err(ConfigError::new("http.tls_key_file", "required with http.tls_cert_file")),
            (None, Some(_)) => return Err(ConfigError::new("http.tls_cert_file", "required with http.tls_key_file")),
            _ => {}
        }
        self.dashboard.validate()
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
    /// The dashboard map, computed at most once per [`crate::map_api::MAP_TTL`].
    pub map: crate::map_api::MapCache,
}

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Bind(#[from] ilot_ingest::listen::ListenError),
    #[error("http.tls_cert_file / tls_key_file: {0}")]
    Tls(#[from] crate::tls::TlsError),
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
        route(Method::GET, "/api/public/map", Public, map_api::get_public_map),
        route(Method::GET, "/api/map", Reader, map_api::get_map),
        route(Method::GET, "/api/networks", Reader, heat_api::get_networks),
        route(Method::GET, "/api/sensors", Reader, heat_api::get_sensors),
        route(Method::GET, "/api/networks/{network}/uhi", Reader, heat_api::get_network_uhi),
        route(Method::GET, "/api/networks/{network}/tn-tx", Reader, heat_api::get_tn_tx),
        route(Method::GET, "/api/networks/{network}/ibm", Reader, heat_api::get_ibm),
        route(Method::GET, "/api/networks/{network}/calendar", Reader, map_api::get_calendar),
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
        .route("/", get(web::dashboard_page))
        .route("/public", get(web::public_page))
        .route("/status", get(web::status_page))
        .route("/ui/config.json", get(web::get_config))
        .route("/assets/{*file}", get(web::get_asset))
        .route("/healthz", get(health::healthz))
        .route("/metrics", get(health::metrics))
        .merge(public)
        .merge(reader)
        .merge(admin)
        .with_state(state)
}

/// A bound HTTP listener: plain, or HTTPS when certificates are configured.
pub enum HttpListener {
    Plain(tokio::net::TcpListener),
    Tls(crate::tls::TlsListener),
}

impl HttpListener {
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        match self {
            HttpListener::Plain(l) => l.local_addr(),
            HttpListener::Tls(l) => axum::serve::Listener::local_addr(l),
        }
    }

    /// `https` or `http`, for the addresses the service prints.
    pub fn scheme(&self) -> &'static str {
        match self {
            HttpListener::Plain(_) => "http",
            HttpListener::Tls(_) => "https",
        }
    }
}

/// The listener of a valid `config` (see [`HttpConfig::validate`]), bound at once with its
/// certificate loaded: the service binds it before anything else starts, so a taken port or a
/// certificate that cannot load fails the start (never a plaintext fallback).
pub async fn bind(config: &HttpConfig) -> Result<HttpListener, HttpError> {
    config.validate()?;
    let tls = match (&config.tls_cert_file, &config.tls_key_file) {
        (Some(cert), Some(key)) => Some(crate::tls::server_config(cert, key, &[b"h2", b"http/1.1"])?.0),
        _ => None,
    };
    let addr = config.listen;
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|error| ilot_ingest::listen::ListenError::new(addr, "http.listen", error))?;
    Ok(match tls {
        Some(tls) => HttpListener::Tls(crate::tls::TlsListener::new(listener, tls).map_err(|error| HttpError::Serve { addr, error })?),
        None => HttpListener::Plain(listener),
    })
}

/// Serve on `listener` (from [`bind`]) until `shutdown` resolves.
pub async fn serve(listener: HttpListener, state: Arc<HttpState>, shutdown: impl std::future::Future<Output = ()> + Send + 'static) -> Result<(), HttpError> {
    let addr = listener.local_addr().map_err(|error| HttpError::Serve { addr: state.config.listen, error })?;
    tracing::info!(%addr, scheme = listener.scheme(), "HTTP API listening");
    // The client's address reaches the handlers (the SQL rate limit is per client).
    let service = router(state).into_make_service_with_connect_info::<SocketAddr>();
    let served = match listener {
        HttpListener::Plain(l) => axum::serve(l, service).with_graceful_shutdown(shutdown).await,
        // tap_io: axum gives the client's address of any listener it wraps so.
        HttpListener::Tls(l) => axum::serve(axum::serve::ListenerExt::tap_io(l, |_| {}), service).with_graceful_shutdown(shutdown).await,
    };
    served.map_err(|error| HttpError::Serve { addr, error })
}
