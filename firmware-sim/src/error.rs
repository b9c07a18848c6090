//! `SimError`: everything that can go wrong when building a fleet or publishing it.

use std::time::Duration;

use rumqttc::{ConnectReturnCode, ConnectionError};

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("unknown city {0:?} (known: toulouse, rennes, vitre, dijon, paris)")]
    UnknownCity(String),

    #[error("invalid simulation setting `{field}`: {reason}")]
    InvalidConfig { field: &'static str, reason: String },

    #[error("invalid MQTT topic {0:?}")]
    InvalidTopic(String),

    #[error("broker {host}:{port} unreachable for {after:?}: {source}")]
    BrokerUnreachable {
        host: String,
        port: u16,
        after: Duration,
        #[source]
        source: Box<ConnectionError>,
    },

    #[error("broker refused the connection: {0:?}")]
    ConnectionRefused(ConnectReturnCode),

    #[error("MQTT event loop stopped before every publish was acknowledged")]
    EventLoopStopped,

    #[error("MQTT event loop task failed: {0}")]
    EventLoopPanicked(String),
}

impl SimError {
    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> SimError {
        SimError::InvalidConfig {
            field,
            reason: reason.into(),
        }
    }
}
