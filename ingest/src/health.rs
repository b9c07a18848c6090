//! Intake health as seen by `/healthz`: broker connection, subscription, reconnects, WAL errors
//! and damage, messages the broker dropped, and when the last message arrived. Written by the intake tasks, read by the HTTP
//! side.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

/// Connection losses within [`FLAPPING_WINDOW_MS`] that make the intake unhealthy even while
/// connected: a session that keeps being dropped (a poison message, a duplicate client id, a
/// broker refusing us) ingests little or nothing between its reconnects.
pub const FLAPPING_LOSSES: usize = 3;
pub const FLAPPING_WINDOW_MS: i64 = 60_000;

/// How long `/healthz` warns after the broker's count of dropped messages last rose.
pub const BROKER_DROPS_WARNING_MS: i64 = 3_600_000;

#[derive(Debug, Default)]
pub struct IntakeHealth {
    connected: AtomicBool,
    subscribed: AtomicBool,
    /// When the connection was lost (ms since epoch), 0 while connected.
    disconnected_since_ms: AtomicI64,
    last_message_ms: AtomicI64,
    last_connection_error: Mutex<Option<String>>,
    /// When the recent connection losses happened (ms since epoch), oldest first.
    recent_losses_ms: Mutex<VecDeque<i64>>,
    wal_error: Mutex<Option<String>>,
    /// Unreadable regions found in the WAL at start: acknowledged readings may be lost.
    wal_damage: Mutex<Vec<String>>,
    broker_drops: Mutex<Option<BrokerDrops>>,
}

/// The broker's count of dropped messages as last seen (`intake::broker_stats`).
#[derive(Debug, Clone, Copy)]
struct BrokerDrops {
    /// The broker's cumulative counter (summed over its nodes).
    dropped: u64,
    /// Its rises while this process watched.
    observed: u64,
    /// When it last rose (ms since epoch; the first sighting of a non-zero count is one), 0 never.
    last_rise_ms: i64,
}

/// What `/healthz` reports.
#[derive(Debug, Clone, serde::Serialize)]
pub struct HealthReport {
    pub healthy: bool,
    pub connected: bool,
    pub subscribed: bool,
    pub disconnected_since_ms: Option<i64>,
    pub last_message_ms: Option<i64>,
    /// Connection losses in the last minute.
    pub reconnects_last_minute: usize,
    /// Why the intake is not healthy (empty when healthy).
    pub problems: Vec<String>,
    /// What was damaged or lost while the intake still works (the service is degraded).
    pub warnings: Vec<String>,
    /// The broker's count of messages it dropped, as last seen (`null` without `$SYS` statistics).
    pub broker_messages_dropped: Option<u64>,
}

impl IntakeHealth {
    pub fn set_connected(&self) {
        self.connected.store(true, Ordering::SeqCst);
        self.disconnected_since_ms.store(0, Ordering::SeqCst);
    }

    /// A connection attempt failed or an established connection was lost; only the latter
    /// counts towards flapping (a broker that is down is reported as such).
    pub fn set_disconnected(&self, now_ms: i64, error: String) {
        let was_connected = self.connected.swap(false, Ordering::SeqCst);
        if was_connected || self.disconnected_since_ms.load(Ordering::SeqCst) == 0 {
            self.disconnected_since_ms.store(now_ms, Ordering::SeqCst);
        }
        self.subscribed.store(false, Ordering::SeqCst);
        *self.last_connection_error.lock().expect("health lock") = Some(error);
        if was_connected {
            let mut losses = self.recent_losses_ms.lock().expect("health lock");
            losses.push_back(now_ms);
            while losses.front().is_some_and(|t| now_ms - t >= FLAPPING_WINDOW_MS) {
                losses.pop_front();
            }
        }
    }

    pub fn set_subscribed(&self) {
        self.subscribed.store(true, Ordering::SeqCst);
    }

    pub fn message_received(&self, now_ms: i64) {
        self.last_message_ms.store(now_ms, Ordering::Relaxed);
    }

    pub fn set_wal_error(&self, error: Option<String>) {
        *self.wal_error.lock().expect("health lock") = error;
    }

    /// What the WAL replay could not read (one line per damaged region), shown until restart.
    pub fn set_wal_damage(&self, damage: Vec<String>) {
        *self.wal_damage.lock().expect("health lock") = damage;
    }

    /// The broker's drop counter as last seen: `dropped` in all, `observed` of them while this
    /// process watched, the last rise at `rose_at_ms` (none yet: `None`).
    pub fn set_broker_drops(&self, dropped: u64, observed: u64, rose_at_ms: Option<i64>) {
        let mut drops = self.broker_drops.lock().expect("health lock");
        let last_rise_ms = rose_at_ms.or(drops.map(|d| d.last_rise_ms)).unwrap_or(0);
        *drops = Some(BrokerDrops { dropped, observed, last_rise_ms });
    }

    /// Healthy when connected and subscribed (after a loss, once `disconnect_grace_ms` has
    /// passed: 0 by default), not reconnecting repeatedly ([`FLAPPING_LOSSES`] losses in a
    /// minute) and the WAL accepts writes. `max_silence_ms`, when set, also fails a subscribed
    /// intake that has received nothing for that long. WAL damage found at start is a warning, so
    /// is a rise of the broker's drop counter in the last [`BROKER_DROPS_WARNING_MS`].
    pub fn report(&self, now_ms: i64, disconnect_grace_ms: i64, max_silence_ms: Option<i64>) -> HealthReport {
        let connected = self.connected.load(Ordering::SeqCst);
        let subscribed = self.subscribed.load(Ordering::SeqCst);
        let since = self.disconnected_since_ms.load(Ordering::SeqCst);
        let last = self.last_message_ms.load(Ordering::Relaxed);
        let mut problems = Vec::new();
        if !connected && since != 0 && now_ms - since >= disconnect_grace_ms {
            let why = self.last_connection_error.lock().expect("health lock").clone().unwrap_or_default();
            problems.push(format!("intake stalled: broker connection lost for {} s ({why})", (now_ms - since) / 1000));
        } else if !connected && since == 0 {
            problems.push("not connected to the broker yet".to_owned());
        } else if connected && !subscribed {
            problems.push("connected but not subscribed yet".to_owned());
        }
        let reconnects_last_minute =
            self.recent_losses_ms.lock().expect("health lock").iter().filter(|t| now_ms - **t < FLAPPING_WINDOW_MS).count();
        if reconnects_last_minute >= FLAPPING_LOSSES {
            let why = self.last_connection_error.lock().expect("health lock").clone().unwrap_or_default();
            problems.push(format!("intake unstable: the broker connection was lost {reconnects_last_minute} times in the last minute (last: {why})"));
        }
        if let Some(e) = self.wal_error.lock().expect("health lock").clone() {
            problems.push(format!("intake stalled: WAL cannot commit ({e})"));
        }
        if let (Some(max), true) = (max_silence_ms, subscribed)
            && last != 0
            && now_ms - last > max
        {
            problems.push(format!("intake stalled: no message for {} s", (now_ms - last) / 1000));
        }
        let mut warnings = self.wal_damage.lock().expect("health lock").clone();
        let drops = *self.broker_drops.lock().expect("health lock");
        if let Some(d) = drops
            && d.last_rise_ms != 0
            && now_ms - d.last_rise_ms < BROKER_DROPS_WARNING_MS
        {
            warnings.push(format!(
                "the broker dropped messages: its counter reads {} ({} while ilot watched), last rise seen {} s ago; QoS 1 readings it \
                 acknowledged to sensors may be lost: set max_queued_messages 0 and max_queued_bytes as in deploy/mosquitto",
                d.dropped,
                d.observed,
                (now_ms - d.last_rise_ms) / 1000
            ));
        }
        HealthReport {
            healthy: problems.is_empty(),
            connected,
            subscribed,
            disconnected_since_ms: (since != 0).then_some(since),
            last_message_ms: (last != 0).then_some(last),
            reconnects_last_minute,
            problems,
            warnings,
            broker_messages_dropped: drops.map(|d| d.dropped),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unhealthy_unless_connected_and_subscribed_or_when_flapping() {
        let h = IntakeHealth::default();
        assert!(!h.report(0, 0, None).healthy, "not connected yet");
        h.set_connected();
        assert!(!h.report(1, 0, None).healthy, "connected, not subscribed");
        h.set_subscribed();
        assert!(h.report(2, 0, None).healthy);
        // A broker that is down: failed attempts are one outage, not flapping.
        h.set_disconnected(1_000, "refused".into());
        for t in 1..20 {
            h.set_disconnected(1_000 + t * 100, "refused".into());
        }
        let r = h.report(3_000, 0, None);
        assert!(!r.healthy && r.reconnects_last_minute == 1 && r.problems[0].contains("connection lost"), "{r:?}");
        // A session dropped right after each connect (a poison message): unhealthy while connected.
        for t in 0..3 {
            h.set_connected();
            h.set_subscribed();
            h.set_disconnected(4_000 + t * 100, "payload size limit exceeded".into());
        }
        h.set_connected();
        h.set_subscribed();
        let r = h.report(5_000, 0, None);
        assert!(!r.healthy && r.problems.iter().any(|p| p.contains("lost 4 times") && p.contains("payload size")), "{r:?}");
        assert!(h.report(5_000 + FLAPPING_WINDOW_MS, 0, None).healthy, "a quiet minute later");
    }

    #[test]
    fn broker_drops_warn_for_an_hour_after_the_last_rise_without_failing_health() {
        let h = IntakeHealth::default();
        h.set_connected();
        h.set_subscribed();
        let r = h.report(1_000, 0, None);
        assert!(r.healthy && r.warnings.is_empty() && r.broker_messages_dropped.is_none(), "{r:?}");
        h.set_broker_drops(0, 0, None);
        assert_eq!(h.report(2_000, 0, None).broker_messages_dropped, Some(0));
        h.set_broker_drops(400, 400, Some(10_000));
        let r = h.report(70_000, 0, None);
        assert!(r.healthy && r.broker_messages_dropped == Some(400), "{r:?}");
        assert!(r.warnings.len() == 1 && r.warnings[0].contains("reads 400 (400 while ilot watched), last rise seen 60 s ago"), "{r:?}");
        // Seen again, unchanged: the warning still dates from the rise.
        h.set_broker_drops(400, 400, None);
        assert!(!h.report(10_000 + BROKER_DROPS_WARNING_MS - 1, 0, None).warnings.is_empty());
        let r = h.report(10_000 + BROKER_DROPS_WARNING_MS, 0, None);
        assert!(r.healthy && r.warnings.is_empty() && r.broker_messages_dropped == Some(400), "{r:?}");
    }
}
