//! Logs (`tracing`, filtered by `RUST_LOG`, default `info`) and the Prometheus recorder.

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// Logs on stderr, `RUST_LOG` filtered (default: info). The embedded broker (rumqttd) is quiet
/// by default: it logs a client's ordinary disconnection as an error (`RUST_LOG=info,rumqttd=info`
/// shows it). Colours only on a terminal, so a log file or a pipe gets plain text.
pub fn init_logs() {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,rumqttd=off,rumqttc=warn"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_ansi(std::io::stderr().is_terminal()).with_writer(std::io::stderr).try_init();
}

pub fn init_metrics() -> anyhow::Result<PrometheusHandle> {
    let handle = PrometheusBuilder::new()
        .set_buckets(&[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0])?
        .install_recorder()?;
    Ok(handle)
}
