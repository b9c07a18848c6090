//! Releasing PUBACKs. Tokens arrive from the committer in the order the publishes arrived,
//! after the fsync that made them durable; they are acked in that order. A token from an earlier
//! connection is dropped: its packet id means nothing on the new connection, and the broker
//! redelivers that message (deduplication then makes the redelivery harmless).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::mpsc;

use super::protocol::{Client, Received};

/// What the committer releases once a message is durable.
pub struct AckToken {
    pub connection: u64,
    pub publish: Received,
}

/// Ack tokens in order until the channel closes.
pub async fn run_acker(client: Client, connection: Arc<AtomicU64>, mut rx: mpsc::UnboundedReceiver<Vec<AckToken>>) {
    while let Some(tokens) = rx.recv().await {
        let (mut acked, mut unsent, mut first_error) = (0u64, 0u64, None);
        for t in tokens {
            if t.connection != connection.load(Ordering::SeqCst) {
                metrics::counter!("ilot_acks_skipped_stale_total").increment(1);
                continue;
            }
            match client.ack(&t.publish).await {
                Ok(()) => acked += 1,
                Err(e) => {
                    unsent += 1;
                    first_error.get_or_insert(e);
                }
            }
        }
        metrics::counter!("ilot_messages_acked_total").increment(acked);
        // One line per batch, not per message: a closing connection fails them all.
        if let Some(e) = first_error {
            tracing::warn!(error = %e, unsent, "PUBACKs not sent (connection closing); the broker will redeliver those messages");
        }
    }
}
