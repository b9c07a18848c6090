//! MQTT intake: one task polls the client's event loop and does nothing else; a decode task turns
//! publishes into WAL submissions; the committer makes them durable; the acker releases PUBACKs.
//!
//! ```text
//! broker ──publish──▶ poller ──▶ decoder ──▶ committer (WAL fsync) ──▶ store (queryable)
//!    ▲                                                  │
//!    └───────────────PUBACK (in order)───── acker ◀─────┘
//! ```
//! MQTT 3.1.1 and 5 differ only in `protocol`. The poller also watches the broker's count of
//! the messages it dropped (`broker_stats`, from `$SYS` publishes that never reach the decoder).

mod acks;
mod broker_stats;
pub mod connection;
mod protocol;
mod router;

pub use acks::AckToken;
pub use protocol::Received;
pub use router::{Router, RouterError};

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, watch};

use crate::config::MqttConfig;
use crate::health::IntakeHealth;
use crate::qc::SensorHistory;
use crate::wal::{CommitterHandle, Submission, WalEntry};
use broker_stats::BrokerStats;
use protocol::{Client, Events, Grant, SessionEvent};

/// A publish as received, with its connection number.
struct Incoming {
    publish: Received,
    connection: u64,
    received_at_ms: i64,
}

/// The running intake.
pub struct Intake {
    poller: tokio::task::JoinHandle<()>,
    decoder: tokio::task::JoinHandle<()>,
    acker: tokio::task::JoinHandle<()>,
}

impl Intake {
    /// Connect and start consuming. `release_rx` is the receiving end of the committer's
    /// release channel (see [`crate::wal::Committer::spawn`]). `history`: the step and
    /// persistence checks the decode task runs, seeded with what was stored before the start.
    #[allow(clippy::too_many_arguments)]
    pub fn start(
        cfg: &MqttConfig,
        queue_capacity: usize,
        router: Arc<Router>,
        history: SensorHistory,
        committer: CommitterHandle<AckToken>,
        release_rx: mpsc::UnboundedReceiver<Vec<AckToken>>,
        health: Arc<IntakeHealth>,
        shutdown: watch::Receiver<bool>,
    ) -> Result<Self, connection::ConnectionError> {
        let (client, events) = protocol::connect(cfg)?;
        let connection = Arc::new(AtomicU64::new(0));
        let filters = connection::subscription_filters(cfg, &router.filters());
        // Deep enough that the poller never waits on it while the broker keeps to the in-flight
        // window; the poller must keep servicing the connection (pings, PUBACKs).
        let (in_tx, in_rx) = mpsc::channel::<Incoming>(queue_capacity.max(usize::from(cfg.receive_maximum) * 4));
        let stats = BrokerStats::new(cfg.broker_stats, health.clone());
        let poller = tokio::spawn(poll(events, client.clone(), filters, in_tx, connection.clone(), health, stats, shutdown));
        let decoder = tokio::spawn(decode(in_rx, router, history, committer));
        let acker = tokio::spawn(acks::run_acker(client, connection, release_rx));
        Ok(Self { poller, decoder, acker })
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

/// The SUBSCRIBE awaiting its SUBACK. One at a time, so that each SUBACK is known by its
/// order: the readings first, then the broker's statistics.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Pending {
    Readings,
    BrokerStats,
}

/// Subscribe from another task: awaiting a client call in the poller would deadlock the event loop.
fn subscribe(client: &Client, filters: Vec<String>, at_least_once: bool) {
    let client = client.clone();
    tokio::spawn(async move {
        if let Err(e) = client.subscribe(filters, at_least_once).await {
            tracing::error!(error = %e, "subscribe request failed");
        }
    });
}

/// Ask for the broker's statistics (QoS 0, never shared) when they are watched.
fn subscribe_broker_stats(client: &Client, stats: &BrokerStats) -> Option<Pending> {
    subscribe(client, stats.filters()?, false);
    Some(Pending::BrokerStats)
}

#[allow(clippy::too_many_arguments)]
async fn poll(
    mut events: Events,
    client: Client,
    filters: Vec<String>,
    tx: mpsc::Sender<Incoming>,
    connection: Arc<AtomicU64>,
    health: Arc<IntakeHealth>,
    mut stats: BrokerStats,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut backoff = Duration::from_millis(100);
    let mut pending = None;
    loop {
        let event = tokio::select! {
            e = events.next() => e,
            _ = shutdown.changed() => break,
        };
        match event {
            SessionEvent::Connected { session_present } => {
                backoff = Duration::from_millis(100);
                let n = connection.fetch_add(1, Ordering::SeqCst) + 1;
                health.set_connected();
                tracing::info!(connection = n, session_present, "connected to broker");
                pending = if session_present {
                    health.set_subscribed();
                    subscribe_broker_stats(&client, &stats)
                } else {
                    // A new session: the broker forgot our subscriptions.
                    subscribe(&client, filters.clone(), true);
                    Some(Pending::Readings)
                };
            }
            SessionEvent::Subscribed(grants) => {
                if pending.take() == Some(Pending::BrokerStats) {
                    stats.granted(&grants, now_ms());
                    continue;
                }
                let mut ok = true;
                for g in &grants {
                    match g {
                        Grant::AtLeastOnce => {}
                        Grant::Downgraded(q) => {
                            ok = false;
                            tracing::error!(granted = %q, "broker downgraded the subscription below QoS 1: readings may be lost");
                        }
                        Grant::Refused(why) => {
                            ok = false;
                            tracing::error!(reason = %why, "broker refused a subscription (check the ACL and topic filters)");
                        }
                    }
                }
                tracing::info!(granted = ?grants, "subscribed");
                if ok {
                    health.set_subscribed();
                }
                pending = subscribe_broker_stats(&client, &stats);
            }
            SessionEvent::Message(publish) => {
                // Broker statistics are neither readings nor intake traffic (QoS 0: no PUBACK owed).
                if broker_stats::is_broker_stats(&publish.topic()) {
                    stats.received(&publish.topic(), publish.payload(), now_ms());
                    continue;
                }
                let received_at_ms = now_ms();
                health.message_received(received_at_ms);
                metrics::counter!("ilot_messages_received_total").increment(1);
                let incoming = Incoming { publish, connection: connection.load(Ordering::SeqCst), received_at_ms };
                if tx.send(incoming).await.is_err() {
                    break;
                }
            }
            SessionEvent::Other => stats.check_silence(now_ms()),
            SessionEvent::Lost(e) => {
                if pending.take() == Some(Pending::BrokerStats) {
                    stats.refused_by_disconnect();
                }
                metrics::counter!("ilot_broker_connection_errors_total").increment(1);
                health.set_disconnected(now_ms(), e.clone());
                tracing::warn!(error = %e, retry_in = ?backoff, "broker connection lost; reconnecting");
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = shutdown.changed() => break,
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
    // Graceful stop: everything received has been handed to the decoder. Keep the connection
    // serviced a moment so the last PUBACKs can leave; what is not acked is redelivered later.
    drop(tx);
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while !matches!(events.next().await, SessionEvent::Lost(_)) {}
    })
    .await;
}

/// The single sequential decode task: route each publish, then run the history checks on its
/// readings (in `ts` order) before they reach the WAL, so the WAL carries every flag, and log
/// after them the runs they showed to be stuck, which mark earlier readings.
async fn decode(
    mut rx: mpsc::Receiver<Incoming>,
    router: Arc<Router>,
    mut history: SensorHistory,
    committer: CommitterHandle<AckToken>,
) {
    while let Some(m) = rx.recv().await {
        let mut entries = router.route(&m.publish.topic(), m.publish.payload(), m.received_at_ms);
        let mut stuck = Vec::new();
        for entry in &mut entries {
            if let WalEntry::Readings(readings) = entry {
                stuck.extend(history.check_batch(readings, |network| router.history_limits(network)));
            }
        }
        entries.extend(stuck.into_iter().map(WalEntry::StuckRun));
        let last = entries.len().saturating_sub(1);
        let mut token = m.publish.needs_ack().then(|| AckToken { connection: m.connection, publish: m.publish });
        for (i, entry) in entries.into_iter().enumerate() {
            let token = if i == last { token.take() } else { None };
            if committer.submit(Submission { entry, token }).await.is_err() {
                tracing::error!("WAL committer stopped; intake ends");
                return;
            }
        }
    }
}
