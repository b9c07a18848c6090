//! MQTT 3.1.1 and MQTT 5 behind one face: connecting with a persistent session, translating
//! each protocol's events into [`SessionEvent`]s, subscribing and acknowledging. Everything
//! above this file is the same for both versions.

use bytes::Bytes;
use rumqttc::v5::mqttbytes::v5 as v5p;
use std::time::Duration;

use super::connection::{ConnectionError, parse_url, tls_config};
use crate::config::{MqttConfig, MqttProtocol};

/// A received publish, ready to be acked on the connection it came from.
pub enum Received {
    V311(rumqttc::Publish),
    V5(v5p::Publish),
}

impl Received {
    pub fn topic(&self) -> std::borrow::Cow<'_, str> {
        match self {
            Received::V311(p) => std::borrow::Cow::Borrowed(p.topic.as_str()),
            Received::V5(p) => String::from_utf8_lossy(&p.topic),
        }
    }
    pub fn payload(&self) -> &Bytes {
        match self {
            Received::V311(p) => &p.payload,
            Received::V5(p) => &p.payload,
        }
    }
    /// QoS 1 and 2 need an acknowledgement.
    pub fn needs_ack(&self) -> bool {
        match self {
            Received::V311(p) => p.qos != rumqttc::QoS::AtMostOnce,
            Received::V5(p) => p.qos != rumqttc::v5::mqttbytes::QoS::AtMostOnce,
        }
    }
}

/// What a subscription was granted.
#[derive(Debug)]
pub enum Grant {
    AtLeastOnce,
    Downgraded(String),
    Refused(String),
}

/// One step of the session, whatever the protocol version.
pub enum SessionEvent {
    Connected { session_present: bool },
    Subscribed(Vec<Grant>),
    Message(Received),
    Other,
    Lost(String),
}

#[derive(Clone)]
pub enum Client {
    V311(rumqttc::AsyncClient),
    V5(rumqttc::v5::AsyncClient),
}

/// One per connection, owned by the poller task: the size difference between the variants
/// (1.2 kB vs 0.8 kB) costs nothing, boxing would add an indirection on every poll.
#[allow(clippy::large_enum_variant)]
pub enum Events {
    V311(rumqttc::EventLoop),
    V5(rumqttc::v5::EventLoop),
}

impl Client {
    pub async fn ack(&self, received: &Received) -> Result<(), String> {
        match (self, received) {
            (Client::V311(c), Received::V311(p)) => c.ack(p).await.map_err(|e| e.to_string()),
            (Client::V5(c), Received::V5(p)) => c.ack(p).await.map_err(|e| e.to_string()),
            _ => Err("publish and client of different MQTT versions".into()),
        }
    }

    /// One SUBSCRIBE of `filters`, all at QoS 1 (`at_least_once`) or all at QoS 0.
    pub async fn subscribe(&self, filters: Vec<String>, at_least_once: bool) -> Result<(), String> {
        match self {
            Client::V311(c) => {
                let qos = if at_least_once { rumqttc::QoS::AtLeastOnce } else { rumqttc::QoS::AtMostOnce };
                c.subscribe_many(filters.into_iter().map(|f| rumqttc::SubscribeFilter::new(f, qos))).await.map_err(|e| e.to_string())
            }
            Client::V5(c) => {
                let qos = if at_least_once { rumqttc::v5::mqttbytes::QoS::AtLeastOnce } else { rumqttc::v5::mqttbytes::QoS::AtMostOnce };
                c.subscribe_many(filters.into_iter().map(|f| v5p::Filter::new(f, qos))).await.map_err(|e| e.to_string())
            }
        }
    }
}

impl Events {
    pub async fn next(&mut self) -> SessionEvent {
        match self {
            Events::V311(e) => match e.poll().await {
                Ok(rumqttc::Event::Incoming(rumqttc::Packet::ConnAck(a))) => SessionEvent::Connected { session_present: a.session_present },
                Ok(rumqttc::Event::Incoming(rumqttc::Packet::SubAck(a))) => SessionEvent::Subscribed(
                    a.return_codes
                        .iter()
                        .map(|c| match c {
                            rumqttc::SubscribeReasonCode::Success(rumqttc::QoS::AtLeastOnce | rumqttc::QoS::ExactlyOnce) => Grant::AtLeastOnce,
                            rumqttc::SubscribeReasonCode::Success(q) => Grant::Downgraded(format!("{q:?}")),
                            rumqttc::SubscribeReasonCode::Failure => Grant::Refused("failure".into()),
                        })
                        .collect(),
                ),
                Ok(rumqttc::Event::Incoming(rumqttc::Packet::Publish(p))) => SessionEvent::Message(Received::V311(p)),
                Ok(_) => SessionEvent::Other,
                Err(e) => SessionEvent::Lost(e.to_string()),
            },
            Events::V5(e) => match e.poll().await {
                Ok(rumqttc::v5::Event::Incoming(v5p::Packet::ConnAck(a))) => SessionEvent::Connected { session_present: a.session_present },
                Ok(rumqttc::v5::Event::Incoming(v5p::Packet::SubAck(a))) => SessionEvent::Subscribed(
                    a.return_codes
                        .iter()
                        .map(|c| match c {
                            v5p::SubscribeReasonCode::Success(
                                rumqttc::v5::mqttbytes::QoS::AtLeastOnce | rumqttc::v5::mqttbytes::QoS::ExactlyOnce,
                            ) => Grant::AtLeastOnce,
                            v5p::SubscribeReasonCode::Success(q) => Grant::Downgraded(format!("{q:?}")),
                            other => Grant::Refused(format!("{other:?}")),
                        })
                        .collect(),
                ),
                Ok(rumqttc::v5::Event::Incoming(v5p::Packet::Publish(p))) => SessionEvent::Message(Received::V5(p)),
                Ok(_) => SessionEvent::Other,
                Err(e) => SessionEvent::Lost(e.to_string()),
            },
        }
    }
}

/// The largest packet MQTT can carry (3.1.1 and 5): a remaining length of 268,435,455 bytes
/// after a fixed header of at most 5.
pub const MQTT_MAX_PACKET_BYTES: usize = 268_435_455 + 5;

/// A persistent session with manual acknowledgements, in the configured protocol version.
///
/// Every packet the protocol allows is accepted and advertised (MQTT 5 Maximum Packet Size):
/// an oversized publish must reach the decoder, to be dead-lettered (`payload_too_large`) and
/// acknowledged. Refusing it at the protocol level would drop the connection and have the
/// broker redeliver it at every reconnect (MQTT 3.1.1), or have an MQTT 5 broker discard it
/// unseen. The broker's own `message_size_limit` (deploy/mosquitto) bounds it in production.
pub fn connect(cfg: &MqttConfig) -> Result<(Client, Events), ConnectionError> {
    let (host, port, tls) = parse_url(&cfg.url)?;
    let keep_alive = Duration::from_secs(cfg.keep_alive_s.max(5));
    let max_packet = MQTT_MAX_PACKET_BYTES;
    let capacity = usize::from(cfg.receive_maximum).max(64) * 2;
    let transport = if tls { Some(rumqttc::Transport::tls_with_config(tls_config(cfg)?)) } else { None };
    match cfg.protocol {
        MqttProtocol::V311 => {
            let mut opts = rumqttc::MqttOptions::new(cfg.client_id.clone(), host, port);
            opts.set_clean_session(false)
                .set_manual_acks(true)
                .set_keep_alive(keep_alive)
                .set_max_packet_size(max_packet, 1 << 20)
                .set_request_channel_capacity(capacity);
            if let Some(user) = &cfg.username {
                opts.set_credentials(user.clone(), cfg.password.clone().map(|p| p.0).unwrap_or_default());
            }
            if let Some(t) = transport {
                opts.set_transport(t);
            }
            let (client, events) = rumqttc::AsyncClient::new(opts, capacity);
            Ok((Client::V311(client), Events::V311(events)))
        }
        MqttProtocol::V5 => {
            let mut opts = rumqttc::v5::MqttOptions::new(cfg.client_id.clone(), host, port);
            opts.set_clean_start(false)
                .set_session_expiry_interval(Some(cfg.session_expiry_s.max(1)))
                .set_receive_maximum(Some(cfg.receive_maximum.max(1)))
                .set_manual_acks(true)
                .set_keep_alive(keep_alive)
                .set_max_packet_size(Some(u32::try_from(max_packet).unwrap_or(u32::MAX)))
                .set_request_channel_capacity(capacity);
            if let Some(user) = &cfg.username {
                opts.set_credentials(user.clone(), cfg.password.clone().map(|p| p.0).unwrap_or_default());
            }
            if let Some(t) = transport {
                opts.set_transport(t);
            }
            let (client, events) = rumqttc::v5::AsyncClient::new(opts, capacity);
            Ok((Client::V5(client), Events::V5(events)))
        }
    }
}
