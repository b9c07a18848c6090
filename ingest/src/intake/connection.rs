//! Broker addressing: URL, TLS roots, subscription filters (shared-subscription prefix).

use rumqttc::TlsConfiguration;
use std::sync::Arc;

use crate::config::MqttConfig;

#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    #[error("mqtt.url {0:?}: expected mqtt://host:port or mqtts://host:port")]
    Url(String),
    #[error("mqtt.ca_file {path}: {source}")]
    CaFile { path: String, source: std::io::Error },
    #[error("mqtt.ca_file {0}: no certificate found")]
    NoCertificate(String),
}

/// Host, port and whether TLS is on, from `mqtt://` / `mqtts://` URLs.
pub fn parse_url(raw: &str) -> Result<(String, u16, bool), ConnectionError> {
    let url = url::Url::parse(raw).map_err(|_| ConnectionError::Url(raw.to_owned()))?;
    let tls = match url.scheme() {
        "mqtt" | "tcp" => false,
        "mqtts" | "ssl" => true,
        _ => return Err(ConnectionError::Url(raw.to_owned())),
    };
    let host = url.host_str().ok_or_else(|| ConnectionError::Url(raw.to_owned()))?.to_owned();
    Ok((host, url.port().unwrap_or(if tls { 8883 } else { 1883 }), tls))
}

pub(crate) fn tls_config(cfg: &MqttConfig) -> Result<TlsConfiguration, ConnectionError> {
    let mut roots = rustls::RootCertStore::empty();
    match &cfg.ca_file {
        Some(path) => {
            let pem = std::fs::read(path).map_err(|source| ConnectionError::CaFile { path: path.display().to_string(), source })?;
            let certs: Vec<_> = rustls_pemfile::certs(&mut pem.as_slice()).filter_map(Result::ok).collect();
            if certs.is_empty() {
                return Err(ConnectionError::NoCertificate(path.display().to_string()));
            }
            roots.add_parsable_certificates(certs);
        }
        None => {
            roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| ConnectionError::Url(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(TlsConfiguration::Rustls(Arc::new(config)))
}

/// The filters to subscribe to, with the shared-subscription prefix when a group is set.
pub fn subscription_filters(cfg: &MqttConfig, filters: &[String]) -> Vec<String> {
    filters
        .iter()
        .map(|f| match &cfg.shared_group {
            Some(group) => format!("$share/{group}/{f}"),
            None => f.clone(),
        })
        .collect()
}
