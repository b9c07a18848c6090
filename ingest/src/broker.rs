//! The embedded MQTT broker (rumqttd), for the zero-dependency demo and for tests only: it keeps
//! sessions in memory and cannot be stopped. Production talks to Mosquitto, EMQX or another
//! real broker (see `deploy/`).

use std::net::SocketAddr;

#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("embedded broker configuration: {0}")]
    Config(String),
    #[error(transparent)]
    Listen(#[from] crate::listen::ListenError),
}

/// Start the embedded broker listening on `listen` (MQTT 3.1.1 and 5 on consecutive ports:
/// v5 on `listen.port() + 1`). Returns once its threads are started.
pub fn start_embedded(listen: SocketAddr, max_payload_bytes: usize) -> Result<(), BrokerError> {
    let v5 = SocketAddr::new(listen.ip(), listen.port().wrapping_add(1));
    // rumqttd binds on its own thread and only logs a failure: a taken port (another demo's
    // broker, say) would leave this process talking to someone else's broker.
    crate::listen::check_free(listen, "embedded_broker.listen")?;
    crate::listen::check_free(v5, "embedded_broker.listen, its port + 1 for MQTT 5")?;
    let toml = format!(
        r#"
id = 0
[router]
id = 0
max_connections = 10010
max_outgoing_packet_count = 1000
max_segment_size = 104857600
max_segment_count = 10

[v4.1]
name = "ilot-embedded-v4"
listen = "{listen}"
next_connection_delay_ms = 0
    [v4.1.connections]
    connection_timeout_ms = 60000
    max_payload_size = {max_payload}
    max_inflight_count = 1000
    dynamic_filters = true

[v5.1]
name = "ilot-embedded-v5"
listen = "{v5}"
next_connection_delay_ms = 0
    [v5.1.connections]
    connection_timeout_ms = 60000
    max_payload_size = {max_payload}
    max_inflight_count = 1000
    dynamic_filters = true
"#,
        max_payload = max_payload_bytes.saturating_mul(4).max(1 << 20)
    );
    let config: rumqttd::Config = toml::from_str(&toml).map_err(|e| BrokerError::Config(e.to_string()))?;
    let mut broker = rumqttd::Broker::new(config);
    std::thread::Builder::new()
        .name("ilot-embedded-broker".into())
        .spawn(move || {
            if let Err(e) = broker.start() {
                tracing::error!(error = %e, "embedded broker stopped");
            }
        })
        .map_err(|e| BrokerError::Config(e.to_string()))?;
    Ok(())
}
