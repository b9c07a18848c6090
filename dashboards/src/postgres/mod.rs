//! The PostgreSQL wire-protocol endpoint (`[postgres]`): psql, DBeaver, Grafana, psycopg and
//! JDBC query the same session as `POST /api/sql`, read-only and under the same limits.
//!
//! `mod` (configuration, TLS, the accept loop with its connection limit and graceful shutdown)
//! → `login` (SCRAM-SHA-256 against the HTTP credentials, TLS required when configured) →
//! `session` (what may run, and how: through the bounded `QueryEngine`) → `rows` (a result as
//! DataRows, a batch at a time) → `watchdog` (a result left unread, or a refused login, ends
//! its connection).
//!
//! Built on datafusion-postgres (its SQL rewriting, catalog and `SET`/`SHOW` handling) and
//! pgwire, but with our own accept loop and start-up handler: its `serve()` accepts any
//! password, falls back to plaintext when TLS cannot load, and runs DDL, `COPY` and
//! `CREATE EXTERNAL TABLE`.

pub mod login;
pub mod rewrite;
pub mod rows;
pub mod session;
pub mod watchdog;

use datafusion::prelude::SessionContext;
use datafusion_postgres::pgwire::api::PgWireServerHandlers;
use datafusion_postgres::pgwire::api::auth::StartupHandler;
use datafusion_postgres::pgwire::api::cancel::{CancelHandler, DefaultCancelHandler};
use datafusion_postgres::pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use datafusion_postgres::hooks::set_show::SetShowHook;
use datafusion_postgres::hooks::transactions::TransactionStatementHook;
use datafusion_postgres::{DfSessionService, QueryHook};
use ilot_ingest::config::ConfigError;
use ilot_query::QueryEngine;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::auth::Credential;
use crate::rate_limit::SqlRateLimit;
use login::Logins;
use session::{ReadOnlyGuard, Session};

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PostgresConfig {
    /// Serve the PostgreSQL wire protocol.
    pub enabled: bool,
    /// Its address (5432 is usually a real PostgreSQL's).
    pub listen: SocketAddr,
    /// Server certificate chain (PEM). With `tls_key_file`, TLS is required of every client.
    pub tls_cert_file: Option<PathBuf>,
    /// The certificate's private key (PEM, PKCS#8, PKCS#1 or SEC1).
    pub tls_key_file: Option<PathBuf>,
    /// Connections open at once; more are refused with SQLSTATE 53300.
    pub max_connections: usize,
    /// A result of which no row is taken for this long (a client that stopped reading, a
    /// portal left suspended) ends its connection: it holds query memory others need.
    pub unread_result_timeout_s: u64,
}

impl Default for PostgresConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            listen: "127.0.0.1:5433".parse().expect("valid address"),
            tls_cert_file: None,
            tls_key_file: None,
            max_connections: 64,
            unread_result_timeout_s: 300,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PostgresError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Bind(#[from] ilot_ingest::listen::ListenError),
    #[error("postgres.tls_cert_file / tls_key_file: {0}")]
    Tls(String),
    #[error("PostgreSQL endpoint: {0}")]
    Setup(String),
}

impl PostgresConfig {
    /// The `[postgres]` rules: a listener other machines can reach needs credentials
    /// (`http.token`), TLS needs both files, and at least one connection.
    pub fn validate(&self, credentials: &[Credential]) -> Result<(), ConfigError> {
        if !self.enabled {
            return Ok(());
        }
        if credentials.is_empty() && !self.listen.ip().is_loopback() {
            return Err(ConfigError::new(
                "postgres.listen",
                format!("{} is not a loopback address: set http.token (the password of PostgreSQL user `reader`)", self.listen),
            ));
        }
        match (&self.tls_cert_file, &self.tls_key_file) {
            (Some(_), None) => return Err(ConfigError::new("postgres.tls_key_file", "required with postgres.tls_cert_file")),
            (None, Some(_)) => return Err(ConfigError::new("postgres.tls_cert_file", "required with postgres.tls_key_file")),
            _ => {}
        }
        if self.max_connections == 0 {
            return Err(ConfigError::new("postgres.max_connections", "must be at least 1"));
        }
        if self.unread_result_timeout_s == 0 {
            return Err(ConfigError::new("postgres.unread_result_timeout_s", "must be at least 1"));
        }
        Ok(())
    }
}

/// A bound endpoint, its TLS loaded: every start-up error surfaces here, before the service
/// starts, never as a plaintext fallback.
pub struct PostgresListener {
    listener: TcpListener,
    tls: Option<(tokio_rustls::TlsAcceptor, Vec<u8>)>,
    max_connections: usize,
    unread_result_timeout_s: u64,
}

impl PostgresListener {
    pub async fn bind(config: &PostgresConfig, credentials: &[Credential]) -> Result<Self, PostgresError> {
        config.validate(credentials)?;
        let tls = match (&config.tls_cert_file, &config.tls_key_file) {
            (Some(cert), Some(key)) => Some(load_tls(cert, key)?),
            _ => None,
        };
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|error| ilot_ingest::listen::ListenError::new(config.listen, "postgres.listen", error))?;
        Ok(Self { listener, tls, max_connections: config.max_connections, unread_result_timeout_s: config.unread_result_timeout_s })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }
}

/// PostgreSQL 17's direct TLS (sslnegotiation=direct) requires the `postgresql` ALPN protocol.
fn load_tls(cert: &std::path::Path, key: &std::path::Path) -> Result<(tokio_rustls::TlsAcceptor, Vec<u8>), PostgresError> {
    let (config, cert_pem) = crate::tls::server_config(cert, key, &[b"postgresql"]).map_err(|e| PostgresError::Tls(e.to_string()))?;
    Ok((tokio_rustls::TlsAcceptor::from(config), cert_pem))
}

/// The handlers of every connection of one endpoint.
#[derive(Clone)]
struct Handlers {
    session: Arc<Session>,
    logins: Arc<Logins>,
    cancel: Arc<DefaultCancelHandler>,
    /// Past the connection limit: the login refuses.
    full: bool,
}

impl PgWireServerHandlers for Handlers {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        self.session.clone()
    }

    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        self.session.clone()
    }

    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        Arc::new(self.logins.login(self.full))
    }

    fn cancel_handler(&self) -> Arc<impl CancelHandler> {
        self.cancel.clone()
    }
}

/// An admitted session: its connection slot and its count in `ilot_postgres_sessions`, both
/// given back however the session ends.
struct OpenSession {
    _slot: tokio::sync::OwnedSemaphorePermit,
}

impl OpenSession {
    fn new(slot: tokio::sync::OwnedSemaphorePermit) -> Self {
        metrics::gauge!("ilot_postgres_sessions").increment(1.0);
        OpenSession { _slot: slot }
    }
}

impl Drop for OpenSession {
    fn drop(&mut self) {
        metrics::gauge!("ilot_postgres_sessions").decrement(1.0);
    }
}

/// How long open sessions get to finish at shutdown before they are closed.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// Serve `listener` until `shutdown` resolves, then close every session.
pub async fn serve(
    listener: PostgresListener,
    engine: Arc<QueryEngine>,
    sql_rate: Arc<SqlRateLimit>,
    credentials: Vec<Credential>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), PostgresError> {
    let addr = listener.local_addr().map_err(|e| PostgresError::Setup(e.to_string()))?;
    let guard: Arc<dyn QueryHook> = Arc::new(ReadOnlyGuard { engine: engine.clone(), sql_rate: sql_rate.clone() });
    // The hooks' own context holds nothing: every read goes to the engine, which owns the data.
    let hooks = vec![guard, Arc::new(SetShowHook), Arc::new(TransactionStatementHook)];
    let service = Arc::new(DfSessionService::new_with_hooks(Arc::new(SessionContext::new()), hooks));
    let certificate = listener.tls.as_ref().map(|(_, pem)| pem.clone());
    let logins = Logins::new(&credentials, certificate).map_err(|e| PostgresError::Tls(format!("SCRAM channel binding: {e}")))?;
    let cancel = Arc::new(DefaultCancelHandler::new(logins.connections.clone()));
    let handlers = Handlers { session: Arc::new(Session::new(engine, sql_rate, service)), logins: Arc::new(logins), cancel, full: false };
    let (admitted, refused) = (Arc::new(handlers.clone()), Arc::new(Handlers { full: true, ..handlers }));
    tracing::info!(%addr, tls = listener.tls.is_some(), open = credentials.is_empty(), "PostgreSQL endpoint listening");

    let limit = Arc::new(Semaphore::new(listener.max_connections));
    let unread_timeout = Duration::from_secs(listener.unread_result_timeout_s);
    let tls = listener.tls.map(|(acceptor, _)| acceptor);
    let mut sessions = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let (socket, peer) = tokio::select! {
            _ = &mut shutdown => break,
            Some(_) = sessions.join_next(), if !sessions.is_empty() => continue,
            accepted = listener.listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "PostgreSQL endpoint: accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        // Past the limit, the connection still gets its TLS handshake and a FATAL error it can
        // read (PostgreSQL's "too many clients"), from a login that admits nobody.
        let permit = limit.clone().try_acquire_owned().ok();
        // As many again are told why; beyond that a flood is dropped unread.
        if permit.is_none() && sessions.len() >= 2 * listener.max_connections {
            metrics::counter!("ilot_postgres_connections_refused_total").increment(1);
            drop(socket);
            continue;
        }
        let handlers = if permit.is_some() { admitted.clone() } else { refused.clone() };
        let tls = tls.clone();
        sessions.spawn(async move {
            let _open = permit.map(OpenSession::new);
            let protocol = session::parse_credit(datafusion_postgres::pgwire::tokio::process_socket(socket, tls, handlers));
            match watchdog::watch(protocol, unread_timeout).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::debug!(%peer, error = %e, "PostgreSQL session ended with an error"),
                Err(watchdog::Ended::UnreadResult) => tracing::info!(%peer, timeout_s = unread_timeout.as_secs(), "PostgreSQL session closed: a result left unread"),
                Err(watchdog::Ended::LoginRefused) => {}
            }
        });
    }
    drop(listener.listener);
    tracing::info!(sessions = sessions.len(), "PostgreSQL endpoint: no new connections; closing the open sessions");
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, async { while sessions.join_next().await.is_some() {} }).await;
    sessions.shutdown().await;
    Ok(())
}
