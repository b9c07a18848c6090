//! Bearer-token authentication for the API, in two scopes:
//!
//! - **reader** (`/api/sql` and the dashboard read endpoints): `Authorization: Bearer <token>`
//!   with `http.token`, or with `http.admin_token` (an admin may read). Without a configured
//!   `http.token` the read API is open, which the server allows only on a loopback address (the
//!   embedded demo).
//! - **admin** (`/api/admin/*`, registry changes): `Authorization: Bearer <admin_token>` with
//!   `http.admin_token`. Without one the admin API answers 403 ("admin API disabled"), except on
//!   a loopback address with no token configured at all (the embedded demo), where it is open.
//!
//! Tokens are compared in constant time and never logged.
//!
//! The same two credentials, as [`Credential`]s, are the PostgreSQL endpoint's users: `reader`
//! (password `http.token`) and `admin` (password `http.admin_token`), so every surface has one
//! security model.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use ilot_ingest::config::Secret;
use std::sync::Arc;

use crate::{HttpConfig, HttpState};

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No token (the OpenAPI document).
    Public,
    /// The reader token (or the admin token).
    Reader,
    /// The admin token.
    Admin,
}

/// What a credential may do. Every surface reads; only `Admin` may change anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Read,
    Admin,
}

impl Scope {
    pub fn name(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Admin => "admin",
        }
    }
}

/// A configured secret, under the user name the PostgreSQL endpoint knows it by.
#[derive(Debug, Clone)]
pub struct Credential {
    pub user: &'static str,
    pub secret: Secret,
    pub scope: Scope,
}

/// The credentials `config` defines (none: the loopback demo).
pub fn credentials(config: &HttpConfig) -> Vec<Credential> {
    let reader = config.token.clone().map(|secret| Credential { user: "reader", secret, scope: Scope::Read });
    let admin = config.admin_token.clone().map(|secret| Credential { user: "admin", secret, scope: Scope::Admin });
    reader.into_iter().chain(admin).collect()
}

/// What the request may do, decided from the configuration and its `Authorization` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// Missing or wrong token: 401.
    Unauthorized,
    /// The scope is switched off by the configuration: 403.
    Disabled,
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "))
}

fn matches(presented: Option<&str>, expected: Option<&Secret>) -> bool {
    match (presented, expected) {
        (Some(p), Some(e)) => constant_time_eq(p.as_bytes(), e.0.as_bytes()),
        _ => false,
    }
}

/// The access rules, in one place.
pub fn decide(config: &HttpConfig, access: Access, headers: &HeaderMap) -> Decision {
    let presented = bearer(headers);
    match access {
        Access::Public => Decision::Allow,
        Access::Reader => match &config.token {
            None => Decision::Allow,
            Some(token) if matches(presented, Some(token)) || matches(presented, config.admin_token.as_ref()) => Decision::Allow,
            Some(_) => Decision::Unauthorized,
        },
        Access::Admin => match &config.admin_token {
            Some(admin) if matches(presented, Some(admin)) => Decision::Allow,
            Some(_) => Decision::Unauthorized,
            None if config.token.is_none() && config.listen.ip().is_loopback() => Decision::Allow,
            None => Decision::Disabled,
        },
    }
}

async fn enforce(state: &HttpState, access: Access, request: Request, next: Next) -> Response {
    match decide(&state.config, access, request.headers()) {
        Decision::Allow => next.run(request).await,
        Decision::Unauthorized => {
            metrics::counter!("ilot_http_unauthorized_total").increment(1);
            let message = match access {
                Access::Admin => "missing or wrong admin bearer token\n",
                _ => "missing or wrong bearer token\n",
            };
            (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, "Bearer")], message).into_response()
        }
        Decision::Disabled => (StatusCode::FORBIDDEN, "admin API disabled: set http.admin_token\n").into_response(),
    }
}

/// Middleware of the reader routes.
pub async fn require_token(State(state): State<Arc<HttpState>>, request: Request, next: Next) -> Response {
    enforce(&state, Access::Reader, request, next).await
}

/// Middleware of the admin routes.
pub async fn require_admin(State(state): State<Arc<HttpState>>, request: Request, next: Next) -> Response {
    enforce(&state, Access::Admin, request, next).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(listen: &str, token: Option<&str>, admin: Option<&str>) -> HttpConfig {
        HttpConfig {
            listen: listen.parse().unwrap(),
            token: token.map(|t| Secret(t.into())),
            admin_token: admin.map(|t| Secret(t.into())),
            ..HttpConfig::default()
        }
    }

    fn with(token: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(t) = token {
            h.insert(header::AUTHORIZATION, format!("Bearer {t}").parse().unwrap());
        }
        h
    }

    #[test]
    fn reader_and_admin_scopes() {
        let both = config("0.0.0.0:1", Some("r"), Some("a"));
        assert_eq!(decide(&both, Access::Reader, &with(Some("r"))), Decision::Allow);
        assert_eq!(decide(&both, Access::Reader, &with(Some("a"))), Decision::Allow, "an admin may read");
        assert_eq!(decide(&both, Access::Reader, &with(None)), Decision::Unauthorized);
        assert_eq!(decide(&both, Access::Admin, &with(Some("r"))), Decision::Unauthorized, "a reader may not administer");
        assert_eq!(decide(&both, Access::Admin, &with(Some("a"))), Decision::Allow);
        assert_eq!(decide(&both, Access::Public, &with(None)), Decision::Allow);

        let reader_only = config("127.0.0.1:1", Some("r"), None);
        assert_eq!(decide(&reader_only, Access::Admin, &with(Some("r"))), Decision::Disabled);
        let demo = config("127.0.0.1:1", None, None);
        assert_eq!(decide(&demo, Access::Admin, &with(None)), Decision::Allow, "the loopback demo is open");
        let public_open = config("0.0.0.0:1", None, None);
        assert_eq!(decide(&public_open, Access::Admin, &with(None)), Decision::Disabled);
    }
}
