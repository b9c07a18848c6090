//! Who may open a PostgreSQL session: [`Login`] is the startup handler of one connection.
//!
//! - Users and their scopes are the HTTP API's credentials ([`crate::auth::Credential`]): user
//!   `reader` logs in with `http.token`, user `admin` with `http.admin_token`, by
//!   SCRAM-SHA-256 (with channel binding, SCRAM-SHA-256-PLUS, over TLS). No password ever
//!   crosses the wire. An unknown user meets the same exchange as a wrong password.
//! - With no credential configured (the loopback demo, checked by the configuration rules),
//!   every user is let in, as `admin`.
//! - With TLS configured, a plaintext connection is refused at its start-up message.
//! - Past `postgres.max_connections`, a connection is refused (SQLSTATE 53300).
//! - A failed login ends the session: the client gets a FATAL error, then the connection is
//!   closed (the `watchdog` drops it; pgwire alone would go on to accept its queries).
//!
//! The scope of a session that logged in is kept in the connection's metadata under
//! [`SCOPE_KEY`]; the query handlers run nothing without it.

use async_trait::async_trait;
use datafusion_postgres::pgwire::api::auth::sasl::SASLAuthStartupHandler;
use datafusion_postgres::pgwire::api::auth::sasl::scram::{ScramAuth, gen_salted_password};
use datafusion_postgres::pgwire::api::auth::noop::NoopStartupHandler;
use datafusion_postgres::pgwire::api::auth::{AuthSource, DefaultServerParameterProvider, LoginInfo, Password, StartupHandler};
use datafusion_postgres::pgwire::api::{ClientInfo, ConnectionManager, METADATA_USER, PgWireConnectionState};
use datafusion_postgres::pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use datafusion_postgres::pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use futures::{Sink, SinkExt};
use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::auth::{Credential, Scope};

/// The connection metadata key holding the scope of a session that logged in. A client's own
/// start-up parameter of that name is removed.
pub const SCOPE_KEY: &str = "ilot.scope";

const SCRAM_ITERATIONS: usize = 4096;

/// The users' SCRAM verifiers, computed once at start.
#[derive(Debug)]
struct Verifiers {
    users: HashMap<String, (Password, Scope)>,
    /// What an unknown user is checked against: the exchange fails as a wrong password does.
    unknown: Password,
}

/// One connection's SCRAM-SHA-256 exchange, bound to the TLS certificate when there is one.
fn scram(verifiers: &Arc<Verifiers>, certificate_pem: Option<&[u8]>) -> PgWireResult<ScramAuth> {
    let mut scram = ScramAuth::new(verifiers.clone());
    scram.set_iterations(SCRAM_ITERATIONS);
    if let Some(pem) = certificate_pem {
        scram.configure_certificate(pem)?;
    }
    Ok(scram)
}

fn verifier(password: &str) -> Password {
    let salt: [u8; 16] = rand::random();
    Password::new(Some(salt.to_vec()), gen_salted_password(password, &salt, SCRAM_ITERATIONS))
}

#[async_trait]
impl AuthSource for Verifiers {
    async fn get_password(&self, login: &LoginInfo) -> PgWireResult<Password> {
        let known = login.user().and_then(|user| self.users.get(user));
        Ok(known.map_or_else(|| self.unknown.clone(), |(password, _)| password.clone()))
    }
}

/// Everything the logins of this endpoint share.
pub struct Logins {
    /// `None`: no credential configured, everyone is let in (loopback only).
    verifiers: Option<Arc<Verifiers>>,
    require_tls: bool,
    /// The server certificate (PEM), for SCRAM channel binding.
    certificate_pem: Option<Vec<u8>>,
    parameters: Arc<DefaultServerParameterProvider>,
    pub connections: Arc<ConnectionManager>,
}

impl Logins {
    /// Fails when the certificate cannot serve SCRAM channel binding.
    pub fn new(credentials: &[Credential], certificate_pem: Option<Vec<u8>>) -> PgWireResult<Self> {
        let verifiers = (!credentials.is_empty()).then(|| {
            let users = credentials.iter().map(|c| (c.user.to_owned(), (verifier(&c.secret.0), c.scope))).collect();
            let unknown: [u8; 32] = rand::random();
            Arc::new(Verifiers { users, unknown: verifier(&format!("{unknown:?}")) })
        });
        let mut parameters = DefaultServerParameterProvider::default();
        parameters.is_superuser = false;
        parameters.default_transaction_read_only = true;
        parameters.scram_iterations = SCRAM_ITERATIONS;
        // Each connection's SCRAM is made as here: a certificate it cannot bind to stops the start.
        if let Some(verifiers) = &verifiers {
            scram(verifiers, certificate_pem.as_deref())?;
        }
        Ok(Logins {
            verifiers,
            require_tls: certificate_pem.is_some(),
            certificate_pem,
            parameters: Arc::new(parameters),
            connections: Arc::new(ConnectionManager::new()),
        })
    }

    /// The start-up handler of one new connection (it keeps that connection's state); with
    /// `full`, one that refuses it with SQLSTATE 53300, after TLS as PostgreSQL does.
    pub fn login(&self, full: bool) -> Login {
        let inner = match &self.verifiers {
            Some(verifiers) => {
                // Checked in `new`: without the certificate, SCRAM-SHA-256-PLUS is not offered.
                let scram = scram(verifiers, self.certificate_pem.as_deref()).unwrap_or_else(|e| {
                    tracing::error!(error = %e, "PostgreSQL endpoint: no channel binding for this connection");
                    scram(verifiers, None).expect("SCRAM without a certificate has nothing to fail on")
                });
                Inner::Scram(
                    SASLAuthStartupHandler::new(self.parameters.clone()).with_scram(scram).with_connection_manager(self.connections.clone()),
                )
            }
            None => Inner::Open(OpenLogin { connections: self.connections.clone() }),
        };
        Login { inner, verifiers: self.verifiers.clone(), require_tls: self.require_tls, full, failed: AtomicBool::new(false) }
    }
}

/// The loopback demo's login: everyone, no password.
struct OpenLogin {
    connections: Arc<ConnectionManager>,
}

#[async_trait]
impl NoopStartupHandler for OpenLogin {
    fn connection_manager(&self) -> Option<Arc<ConnectionManager>> {
        Some(self.connections.clone())
    }
}

enum Inner {
    Scram(SASLAuthStartupHandler<DefaultServerParameterProvider>),
    Open(OpenLogin),
}

/// One connection's start-up handler (see the module documentation).
pub struct Login {
    inner: Inner,
    verifiers: Option<Arc<Verifiers>>,
    require_tls: bool,
    /// Over `postgres.max_connections`.
    full: bool,
    failed: AtomicBool,
}

impl Login {
    fn scope_of(&self, user: Option<&str>) -> Option<Scope> {
        match &self.verifiers {
            None => Some(Scope::Admin),
            Some(v) => user.and_then(|u| v.users.get(u)).map(|(_, scope)| *scope),
        }
    }

    /// End the connection with a FATAL error; nothing the client sends afterwards is read.
    async fn refuse<C>(&self, client: &mut C, code: &str, message: String) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        self.failed.store(true, Ordering::SeqCst);
        metrics::counter!("ilot_postgres_logins_refused_total").increment(1);
        tracing::info!(peer = %client.socket_addr(), code, %message, "PostgreSQL login refused");
        let error = ErrorInfo::new("FATAL".into(), code.into(), message);
        client.send(PgWireBackendMessage::ErrorResponse(error.into())).await?;
        client.close().await?;
        super::watchdog::end();
        Ok(())
    }
}

#[async_trait]
impl StartupHandler for Login {
    async fn on_startup<C>(&self, client: &mut C, message: PgWireFrontendMessage) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if self.failed.load(Ordering::SeqCst) {
            return Ok(());
        }
        if matches!(message, PgWireFrontendMessage::Startup(_)) {
            if self.require_tls && !client.is_secure() {
                return self.refuse(client, "28000", "this server requires TLS: connect with sslmode=require (or verify-full)".into()).await;
            }
            if self.full {
                metrics::counter!("ilot_postgres_connections_refused_total").increment(1);
                return self.refuse(client, "53300", "sorry, too many clients already (postgres.max_connections)".into()).await;
            }
        }
        let result = match &self.inner {
            Inner::Scram(handler) => handler.on_startup(client, message).await,
            Inner::Open(handler) => handler.on_startup(client, message).await,
        };
        client.metadata_mut().remove(SCOPE_KEY);
        let user = client.metadata().get(METADATA_USER).cloned();
        if let Err(e) = result {
            tracing::debug!(error = %e, "PostgreSQL login failed");
            let user = user.unwrap_or_default();
            return self.refuse(client, "28P01", format!("password authentication failed for user \"{user}\"")).await;
        }
        if matches!(client.state(), PgWireConnectionState::ReadyForQuery) {
            let Some(scope) = self.scope_of(user.as_deref()) else {
                return self.refuse(client, "28000", "no such user".into()).await;
            };
            client.metadata_mut().insert(SCOPE_KEY.into(), scope.name().into());
            tracing::debug!(peer = %client.socket_addr(), user = user.as_deref().unwrap_or(""), scope = scope.name(), "PostgreSQL session opened");
        }
        Ok(())
    }
}
