//! The task that drives the rumqttc event loop for [`crate::publish`].
//!
//! It does nothing but poll (awaiting a client call from here deadlocks, rumqtt #1025), counts
//! PUBACKs, and rides out broker outages: connection errors are retried every 200 ms until the
//! broker has been unreachable for the configured deadline. With `clean_session = false` and a
//! stable client id rumqttc retransmits unacknowledged publishes when the broker kept the session;
//! when it did not (a broker without persistence, restarted), rumqttc forgets them, so they are
//! put back in its queue here. QoS 1 allows the resend; the ingest deduplicates.

use std::collections::{HashSet, VecDeque};
use std::time::Duration;

use rumqttc::{ConnectReturnCode, ConnectionError, Event, EventLoop, Outgoing, Packet, Request};
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::SimError;

const RETRY_BACKOFF: Duration = Duration::from_millis(200);

/// What the event loop has observed so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Acks {
    /// Publishes acknowledged by the broker.
    pub(crate) acked: u64,
    /// Successful connections after the first one.
    pub(crate) reconnects: u64,
    /// Publishes sent again because the broker had lost the session.
    pub(crate) resent: u64,
}

/// Broker address, for error messages, and how long an outage may last.
pub(crate) struct Driver {
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) reconnect_deadline: Duration,
}

impl Driver {
    /// Poll until a DISCONNECT has been sent (`Ok`) or the broker is given up on (`Err`).
    pub(crate) async fn run(
        self,
        mut eventloop: EventLoop,
        acks: watch::Sender<Acks>,
    ) -> Result<(), SimError> {
        // Packet ids of publishes sent and not acknowledged yet: a PUBACK counts only once.
        let mut outstanding: HashSet<u16> = HashSet::new();
        // What rumqttc would retransmit, saved at disconnection in case the broker lost the session.
        let mut unacked: VecDeque<Request> = VecDeque::new();
        let mut connected = false;
        let mut connections = 0u64;
        let mut outage_since: Option<Instant> = None;
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(connack))) => {
                    connections += 1;
                    if connections > 1 {
                        acks.send_modify(|acks| acks.reconnects += 1);
                        info!(
                            session_present = connack.session_present,
                            "reconnected to the MQTT broker"
                        );
                    }
                    if !connack.session_present && !unacked.is_empty() {
                        warn!(
                            messages = unacked.len(),
                            "the broker lost the session: publishing the unacknowledged messages again"
                        );
                        acks.send_modify(|acks| acks.resent += unacked.len() as u64);
                        eventloop.pending.extend(unacked.drain(..));
                    }
                    unacked.clear();
                    connected = true;
                    outage_since = None;
                }
                Ok(Event::Outgoing(Outgoing::Publish(pkid))) => {
                    outstanding.insert(pkid);
                }
                Ok(Event::Incoming(Packet::PubAck(puback))) => {
                    if outstanding.remove(&puback.pkid) {
                        acks.send_modify(|acks| acks.acked += 1);
                    }
                }
                Ok(Event::Outgoing(Outgoing::Disconnect)) => return Ok(()),
                Ok(_) => {}
                Err(ConnectionError::ConnectionRefused(code))
                    if code != ConnectReturnCode::ServiceUnavailable =>
                {
                    return Err(SimError::ConnectionRefused(code));
                }
                Err(error) => {
                    if connected {
                        connected = false;
                        unacked = eventloop.pending.clone();
                        warn!(%error, host = %self.host, port = self.port, "lost the MQTT broker, retrying");
                    } else {
                        debug!(%error, "MQTT connection attempt failed");
                    }
                    let since = *outage_since.get_or_insert_with(Instant::now);
                    if since.elapsed() >= self.reconnect_deadline {
                        return Err(SimError::BrokerUnreachable {
                            host: self.host,
                            port: self.port,
                            after: since.elapsed(),
                            source: Box::new(error),
                        });
                    }
                    tokio::time::sleep(RETRY_BACKOFF).await;
                }
            }
        }
    }
}
