//! TLS for ilot's listeners, HTTP and PostgreSQL wire: the certificate and key are loaded when
//! the listener is bound, so a file that cannot load stops the start (never a plaintext
//! fallback); and the HTTP listener's TLS accept loop ([`TlsListener`]), where handshakes run
//! side by side under a time limit, at most 256 at once (a client that never finishes its
//! handshake holds one slot for 10 s, nothing else).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::server::TlsStream;

/// A certificate or key that cannot serve.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TlsError(String);

/// The server configuration of `cert` (PEM chain) and `key` (PEM: PKCS#8, PKCS#1 or SEC1),
/// offering `alpn`; and the certificate's PEM (SCRAM channel binding needs it).
pub fn server_config(cert: &Path, key: &Path, alpn: &[&[u8]]) -> Result<(Arc<rustls::ServerConfig>, Vec<u8>), TlsError> {
    let read = |path: &Path| std::fs::read(path).map_err(|e| TlsError(format!("{}: {e}", path.display())));
    let cert_pem = read(cert)?;
    let chain = rustls_pemfile::certs(&mut cert_pem.as_slice()).collect::<Result<Vec<_>, _>>().map_err(|e| TlsError(format!("{}: {e}", cert.display())))?;
    if chain.is_empty() {
        return Err(TlsError(format!("{}: no certificate in it", cert.display())));
    }
    let key_pem = read(key)?;
    let private_key = rustls_pemfile::private_key(&mut key_pem.as_slice())
        .map_err(|e| TlsError(format!("{}: {e}", key.display())))?
        .ok_or_else(|| TlsError(format!("{}: no private key in it", key.display())))?;
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, private_key)
        .map_err(|e| TlsError(format!("{} with {}: {e}", cert.display(), key.display())))?;
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok((Arc::new(config), cert_pem))
}

/// How long a client has to finish its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshakes in progress at once; past it, accepting waits (the kernel's backlog holds the rest).
const HANDSHAKES_AT_ONCE: usize = 256;

/// TCP connections on a bound listener, handed to the HTTP server once their handshake is
/// done. Handshakes that fail or time out are counted (`ilot_http_tls_handshakes_failed_total`)
/// and dropped.
pub struct TlsListener {
    local: SocketAddr,
    ready: tokio::sync::mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    accepting: tokio::task::JoinHandle<()>,
}

impl TlsListener {
    pub fn new(listener: TcpListener, config: Arc<rustls::ServerConfig>) -> std::io::Result<Self> {
        let local = listener.local_addr()?;
        let acceptor = tokio_rustls::TlsAcceptor::from(config);
        let (done, ready) = tokio::sync::mpsc::channel(64);
        let handshakes = Arc::new(tokio::sync::Semaphore::new(HANDSHAKES_AT_ONCE));
        let accepting = tokio::spawn(async move {
            loop {
                let Ok(slot) = handshakes.clone().acquire_owned().await else { return };
                let (socket, peer) = match listener.accept().await {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        tracing::warn!(error = %e, "HTTP listener: accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let (acceptor, done) = (acceptor.clone(), done.clone());
                tokio::spawn(async move {
                    let handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(socket)).await;
                    drop(slot);
                    match handshake {
                        Ok(Ok(stream)) => {
                            let _ = done.send((stream, peer)).await;
                        }
                        Ok(Err(e)) => {
                            metrics::counter!("ilot_http_tls_handshakes_failed_total").increment(1);
                            tracing::debug!(%peer, error = %e, "HTTP TLS handshake failed");
                        }
                        Err(_) => {
                            metrics::counter!("ilot_http_tls_handshakes_failed_total").increment(1);
                            tracing::debug!(%peer, "HTTP TLS handshake timed out");
                        }
                    }
                });
            }
        });
        Ok(Self { local, ready, accepting })
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(accepted) => accepted,
            // The accept loop ended (it never does before the listener is dropped).
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}
