//! The broker's own count of the messages it dropped, read from its `$SYS` statistics. A broker
//! whose queue for a slow or offline subscriber is full (Mosquitto's default
//! `max_queued_messages 1000`) discards QoS 1 messages it has already acknowledged to their
//! publisher: readings lost without a trace, unless this counter is watched.
//!
//! Counters (plain integers, cumulative since the broker started, for every client of the broker):
//! - Mosquitto: `$SYS/broker/publish/messages/dropped`, every `sys_interval` (10 s by default);
//! - EMQX: `$SYS/brokers/<node>/metrics/delivery/dropped`, one per node (queue full, expired, too
//!   large, …), every `sys_topics.sys_msg_interval` (1 min by default); summed over the nodes.
//!
//! They are subscribed at QoS 0 in the intake's session, never shared (each process watches the
//! broker itself), and never reach the readings decoder. A broker refusing them (an ACL: SUBACK
//! 0x80, or as Mosquitto does, a granted subscription that never delivers) only loses this watch,
//! logged once: the intake's health depends on the readings subscriptions alone.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::protocol::Grant;
use crate::health::IntakeHealth;

const MOSQUITTO_DROPPED: &str = "$SYS/broker/publish/messages/dropped";
const EMQX_DROPPED: &str = "$SYS/brokers/+/metrics/delivery/dropped";

/// Rises of the counter are logged at most this often (ms).
const LOG_EVERY_MS: i64 = 60_000;

/// No counter this long after the subscription was granted: the statistics are unavailable (ms).
const SILENCE_MS: i64 = 300_000;

/// A publish on a `$SYS` topic: broker statistics, never readings (`#` and `+` never match
/// them, so only the statistics subscription brings them).
pub fn is_broker_stats(topic: &str) -> bool {
    topic.starts_with("$SYS/")
}

/// The value of a drop counter, when `topic` is one and `payload` an integer.
fn drop_counter(topic: &str, payload: &[u8]) -> Option<u64> {
    let levels: Vec<&str> = topic.split('/').collect();
    let emqx = matches!(levels.as_slice(), ["$SYS", "brokers", node, "metrics", "delivery", "dropped"] if !node.is_empty());
    if topic != MOSQUITTO_DROPPED && !emqx {
        return None;
    }
    std::str::from_utf8(payload).ok()?.trim().parse().ok()
}

/// What one reading of a counter says.
#[derive(Debug, PartialEq, Eq)]
enum Rise {
    /// Its first reading: what the broker dropped before this process watched.
    Before(u64),
    /// Dropped since its previous reading (all of the value after a reset: the broker restarted).
    Watched(u64),
}

/// The last value of each counter (one per broker node).
#[derive(Debug, Default)]
struct DropCounters {
    last: BTreeMap<String, u64>,
}

impl DropCounters {
    fn observe(&mut self, source: &str, value: u64) -> Rise {
        match self.last.insert(source.to_owned(), value) {
            None => Rise::Before(value),
            Some(previous) if value < previous => Rise::Watched(value),
            Some(previous) => Rise::Watched(value - previous),
        }
    }

    /// The broker's drops in all, as last seen.
    fn total(&self) -> u64 {
        self.last.values().sum()
    }
}

/// The watch, owned by the intake's poller.
pub struct BrokerStats {
    /// `mqtt.broker_stats`, until the broker refuses the subscription.
    wanted: bool,
    counters: DropCounters,
    /// Rises seen while watching (`ilot_broker_drops_observed_total`).
    observed: u64,
    /// Rises not logged yet, and when the last log line was written.
    unlogged: u64,
    logged_at_ms: Option<i64>,
    /// When the subscription was granted, until a counter arrives or its silence is logged.
    granted_at_ms: Option<i64>,
    /// No counter ever came: said once.
    silence_logged: bool,
    health: Arc<IntakeHealth>,
}

impl BrokerStats {
    pub fn new(wanted: bool, health: Arc<IntakeHealth>) -> Self {
        if wanted {
            // From zero, so that a first rise shows in `increase()`.
            metrics::counter!("ilot_broker_drops_observed_total").increment(0);
        }
        Self {
            wanted,
            counters: DropCounters::default(),
            observed: 0,
            unlogged: 0,
            logged_at_ms: None,
            granted_at_ms: None,
            silence_logged: false,
            health,
        }
    }

    /// The filters to subscribe to (QoS 0, unshared) on each connection, none when off.
    pub fn filters(&self) -> Option<Vec<String>> {
        self.wanted.then(|| vec![MOSQUITTO_DROPPED.to_owned(), EMQX_DROPPED.to_owned()])
    }

    /// The SUBACK of the statistics subscription: refused (the ACL), the watch ends.
    pub fn granted(&mut self, grants: &[Grant], now_ms: i64) {
        if let Some(Grant::Refused(why)) = grants.iter().find(|g| matches!(g, Grant::Refused(_))) {
            self.give_up(&format!("the broker refused the $SYS subscription ({why})"));
        } else if self.counters.last.is_empty() && !self.silence_logged {
            self.granted_at_ms.get_or_insert(now_ms);
        }
    }

    /// Called as the session goes on: a granted subscription that brought no counter for
    /// [`SILENCE_MS`] is logged once (an ACL hiding `$SYS`, or `sys_interval 0`).
    pub fn check_silence(&mut self, now_ms: i64) {
        if self.granted_at_ms.is_some_and(|t| now_ms - t >= SILENCE_MS) {
            self.granted_at_ms = None;
            self.silence_logged = true;
            tracing::warn!(
                "broker statistics unavailable: no drop counter received in {} s on the $SYS subscription (an ACL hiding \
                 $SYS, or sys_interval 0?); messages the broker drops will not be seen",
                SILENCE_MS / 1000
            );
        }
    }

    /// The broker closed the connection while the statistics subscription awaited its SUBACK:
    /// some brokers answer a subscription they refuse so. It is not asked again.
    pub fn refused_by_disconnect(&mut self) {
        self.give_up("the broker closed the connection on the $SYS subscription");
    }

    fn give_up(&mut self, why: &str) {
        if std::mem::take(&mut self.wanted) {
            tracing::warn!(
                "broker statistics unavailable: {why}; messages the broker drops will not be seen \
                 (set mqtt.broker_stats = false to stop asking)"
            );
        }
    }

    /// A `$SYS` publish.
    pub fn received(&mut self, topic: &str, payload: &[u8], now_ms: i64) {
        let Some(value) = drop_counter(topic, payload) else { return };
        self.granted_at_ms = None;
        let (rise, before_watch) = match self.counters.observe(topic, value) {
            Rise::Before(n) => (n, true),
            Rise::Watched(n) => (n, false),
        };
        let total = self.counters.total();
        metrics::gauge!("ilot_broker_messages_dropped").set(total as f64);
        if !before_watch {
            self.observed += rise;
            metrics::counter!("ilot_broker_drops_observed_total").increment(rise);
        }
        self.health.set_broker_drops(total, self.observed, (rise > 0).then_some(now_ms));
        if rise == 0 {
            return;
        }
        self.unlogged += rise;
        if self.logged_at_ms.is_some_and(|t| now_ms - t < LOG_EVERY_MS) {
            return;
        }
        let when = if before_watch { "before ilot watched" } else { "while ilot watched" };
        let dropped = std::mem::take(&mut self.unlogged);
        tracing::warn!(
            dropped,
            broker_total = total,
            "the broker dropped messages {when} (a subscriber's queue was full?): QoS 1 readings it acknowledged to \
             sensors may be lost; set max_queued_messages 0 and max_queued_bytes as in deploy/mosquitto/mosquitto.conf"
        );
        self.logged_at_ms = Some(now_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_read_from_mosquitto_and_emqx_topics_only() {
        assert_eq!(drop_counter(MOSQUITTO_DROPPED, b"464"), Some(464));
        assert_eq!(drop_counter(MOSQUITTO_DROPPED, b" 12\n"), Some(12));
        assert_eq!(drop_counter("$SYS/brokers/emqx@10.0.0.1/metrics/delivery/dropped", b"7"), Some(7));
        assert_eq!(drop_counter("$SYS/brokers//metrics/delivery/dropped", b"7"), None);
        assert_eq!(drop_counter("$SYS/brokers/a/b/metrics/delivery/dropped", b"7"), None);
        assert_eq!(drop_counter("$SYS/broker/store/messages/count", b"7"), None);
        assert_eq!(drop_counter(MOSQUITTO_DROPPED, b"-1"), None);
        assert_eq!(drop_counter(MOSQUITTO_DROPPED, b"many"), None);
        assert_eq!(drop_counter(MOSQUITTO_DROPPED, &[0xff]), None);
        assert!(is_broker_stats(MOSQUITTO_DROPPED) && !is_broker_stats("ilot/toulouse/tls-001/reading"));
    }

    #[test]
    fn rises_are_counted_per_node_and_a_lower_value_is_a_restart() {
        let mut c = DropCounters::default();
        assert_eq!(c.observe("n1", 10), Rise::Before(10), "dropped before ilot watched");
        assert_eq!(c.observe("n1", 10), Rise::Watched(0));
        assert_eq!(c.observe("n1", 25), Rise::Watched(15));
        assert_eq!(c.observe("n2", 0), Rise::Before(0));
        assert_eq!(c.observe("n2", 3), Rise::Watched(3));
        assert_eq!(c.total(), 28);
        // The broker restarted: its counter starts again from 0, and counted 4 since.
        assert_eq!(c.observe("n1", 4), Rise::Watched(4));
        assert_eq!(c.total(), 7);
    }

    #[test]
    fn rises_reach_health_and_a_refusal_ends_the_watch() {
        let health = Arc::new(IntakeHealth::default());
        let mut stats = BrokerStats::new(true, health.clone());
        assert_eq!(stats.filters().unwrap().len(), 2);
        stats.received(MOSQUITTO_DROPPED, b"0", 1_000);
        stats.received("$SYS/broker/uptime", b"12 seconds", 1_500);
        assert_eq!(health.report(2_000, 0, None).broker_messages_dropped, Some(0));
        assert!(health.report(2_000, 0, None).warnings.is_empty());
        stats.received(MOSQUITTO_DROPPED, b"400", 3_000);
        stats.received(MOSQUITTO_DROPPED, b"450", 4_000);
        let r = health.report(5_000, 0, None);
        assert_eq!((r.broker_messages_dropped, stats.observed, stats.unlogged), (Some(450), 450, 50), "the second rise waits to be logged");
        assert!(r.warnings[0].contains("reads 450 (450 while ilot watched), last rise seen 1 s ago"), "{r:?}");
        stats.granted(&[Grant::Downgraded("AtMostOnce".into()), Grant::Downgraded("AtMostOnce".into())], 6_000);
        assert!(stats.filters().is_some() && stats.granted_at_ms.is_none(), "QoS 0 is what was asked; counters already came");
        stats.granted(&[Grant::Refused("failure".into())], 7_000);
        assert!(stats.filters().is_none());
    }

    #[test]
    fn a_granted_subscription_that_brings_nothing_is_reported_once() {
        let mut stats = BrokerStats::new(true, Arc::new(IntakeHealth::default()));
        stats.granted(&[Grant::Downgraded("AtMostOnce".into())], 1_000);
        stats.granted(&[Grant::Downgraded("AtMostOnce".into())], 2_000);
        stats.check_silence(1_000 + SILENCE_MS - 1);
        assert!(!stats.silence_logged, "a reconnection does not restart the wait");
        stats.check_silence(1_000 + SILENCE_MS);
        assert!(stats.silence_logged && stats.granted_at_ms.is_none());
        stats.granted(&[Grant::Downgraded("AtMostOnce".into())], 3_000_000);
        assert!(stats.granted_at_ms.is_none(), "said once");

        let mut stats = BrokerStats::new(true, Arc::new(IntakeHealth::default()));
        stats.granted(&[Grant::Downgraded("AtMostOnce".into())], 1_000);
        stats.received(MOSQUITTO_DROPPED, b"0", 2_000);
        stats.check_silence(1_000 + SILENCE_MS);
        assert!(!stats.silence_logged);
    }
}
