//! MQTT intake: one task polls the rumqttc event loop and does nothing else; a decode task turns
//! publishes into WAL submissions; the committer makes them durable; the acker releases PUBACKs.
//!
//! ```text
//! broker ──publish──▶ poller ──▶ decoder ──▶ committer (WAL fsync) ──▶ store (queryable)
//!    ▲                                                  │
//!    └───────────────PUBACK (in order)───── acker ◀─────┘
//! ```

mod acks;
pub mod connection;
mod router;

pub use acks::AckToken;
pub use router::{Router, RouterError};

use rumqttc::{AsyncClient, Event, EventLoop, Packet, QoS, SubscribeReasonCode};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, watch};

use crate::config::MqttConfig;
use crate::health::IntakeHealth;
use crate::wal::{CommitterHandle, Submission};

/// A publish as received, with its connection number.
struct Incoming {
    publish: rumqttc::Publish,
    connection: u64,
    received_at_ms: i64,
}

/// The running intake; dropping it does not stop it, `shutdown` does.
pub struct Intake {
    pub client: AsyncClient,
    poller: tokio::task::JoinHandle<()>,
    decoder: tokio::task::JoinHandle<()>,
    acker: tokio::task::JoinHandle<()>,
}

impl Intake {
    /// Connect and start consuming. `release_rx` is the receiving end of the committer's
    /// release channel (see [`crate::wal::Committer::spawn`]).
    pub fn start(
        cfg: &MqttConfig,
        options: rumqttc::MqttOptions,
        router: Arc<Router>,
        committer: CommitterHandle<AckToken>,
        release_rx: mpsc::UnboundedReceiver<Vec<AckToken>>,
        health: Arc<IntakeHealth>,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        let (client, eventloop) = AsyncClient::new(options, usize::from(cfg.receive_maximum).max(64) * 2);
        let connection = Arc::new(AtomicU64::new(0));
        let filters = connection::subscription_filters(cfg, &router.filters());
        let (in_tx, in_rx) = mpsc::channel::<Incoming>(usize::from(cfg.receive_maximum).max(64) * 4);
        let poller = tokio::spawn(poll(eventloop, client.clone(), filters, in_tx, connection.clone(), health.clone(), shutdown));
        let decoder = tokio::spawn(decode(in_rx, router, committer, health));
        let acker = tokio::spawn(acks::run_acker(client.clone(), connection, release_rx));
        Self { client, poller, decoder, acker }
    }

    /// After `shutdown` fired: wait until everything read from the broker has been submitted to
    /// the committer. Returns the acker, which ends once the committer has released its last
    /// tokens (when every committer handle is dropped).
    pub async fn stop_reading(self) -> tokio::task::JoinHandle<()> {
        let _ = self.poller.await;
        let _ = self.decoder.await;
        self.acker
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

async fn poll(
    mut eventloop: EventLoop,
    client: AsyncClient,
    filters: Vec<String>,
    tx: mpsc::Sender<Incoming>,
    connection: Arc<AtomicU64>,
    health: Arc<IntakeHealth>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let event = tokio::select! {
            e = eventloop.poll() => e,
            _ = shutdown.changed() => break,
        };
        match event {
            Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                backoff = Duration::from_millis(100);
                let n = connection.fetch_add(1, Ordering::SeqCst) + 1;
                health.set_connected();
                tracing::info!(connection = n, session_present = ack.session_present, "connected to broker");
                if ack.session_present {
                    health.set_subscribed();
                } else {
                    // A new session: the broker forgot our subscriptions. Subscribe from another
                    // task; awaiting a client call here would deadlock the event loop.
                    let client = client.clone();
                    let filters = filters.clone();
                    tokio::spawn(async move {
                        let subs = filters.into_iter().map(|f| rumqttc::SubscribeFilter::new(f, QoS::AtLeastOnce));
                        if let Err(e) = client.subscribe_many(subs).await {
                            tracing::error!(error = %e, "subscribe request failed");
                        }
                    });
                }
            }
            Ok(Event::Incoming(Packet::SubAck(ack))) => {
                let mut ok = true;
                for code in &ack.return_codes {
                    match code {
                        SubscribeReasonCode::Success(QoS::AtLeastOnce | QoS::ExactlyOnce) => {}
                        SubscribeReasonCode::Success(q) => {
                            ok = false;
                            tracing::error!(granted = ?q, "broker downgraded the subscription below QoS 1: readings may be lost");
                        }
                        SubscribeReasonCode::Failure => {
                            ok = false;
                            tracing::error!("broker refused a subscription (check the ACL and topic filters)");
                        }
                    }
                }
                tracing::info!(granted = ?ack.return_codes, "subscribed");
                if ok {
                    health.set_subscribed();
                }
            }
            Ok(Event::Incoming(Packet::Publish(publish))) => {
                let received_at_ms = now_ms();
                health.message_received(received_at_ms);
                metrics::counter!("ilot_messages_received_total").increment(1);
                let incoming = Incoming { publish, connection: connection.load(Ordering::SeqCst), received_at_ms };
                if tx.send(incoming).await.is_err() {
                    break;
                }
            }
            Ok(_) => {}
            Err(e) => {
                metrics::counter!("ilot_broker_connection_errors_total").increment(1);
                health.set_disconnected(now_ms(), e.to_string());
                tracing::warn!(error = %e, retry_in = ?backoff, "broker connection lost; reconnecting");
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = shutdown.changed() => break,
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
    // Graceful stop: everything received has been handed to the decoder; let the acker send
    // the last PUBACKs before disconnecting.
    drop(tx);
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if eventloop.poll().await.is_err() {
                break;
            }
        }
    })
    .await;
}

async fn decode(
    mut rx: mpsc::Receiver<Incoming>,
    router: Arc<Router>,
    committer: CommitterHandle<AckToken>,
    _health: Arc<IntakeHealth>,
) {
    while let Some(m) = rx.recv().await {
        let entries = router.route(&m.publish.topic, &m.publish.payload, m.received_at_ms);
        let needs_ack = m.publish.qos != QoS::AtMostOnce;
        let last = entries.len().saturating_sub(1);
        let mut token = needs_ack.then(|| AckToken { connection: m.connection, publish: m.publish });
        for (i, entry) in entries.into_iter().enumerate() {
            let token = if i == last { token.take() } else { None };
            if committer.submit(Submission { entry, token }).await.is_err() {
                tracing::error!("WAL committer stopped; intake ends");
                return;
            }
        }
    }
}
