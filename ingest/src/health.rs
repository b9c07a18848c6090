//! Intake health as seen by `/healthz`: broker connection, subscription, WAL errors, and when
//! the last message arrived. Written by the intake tasks, read by the HTTP side.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

#[derive(Debug, Default)]
pub struct IntakeHealth {
    connected: AtomicBool,
    subscribed: AtomicBool,
    /// When the connection was lost (ms since epoch), 0 while connected.
    disconnected_since_ms: AtomicI64,
    last_message_ms: AtomicI64,
    last_connection_error: Mutex<Option<String>>,
    wal_error: Mutex<Option<String>>,
}

/// What `/healthz` reports.
#[derive(Debug, Clone, serde::Serialize)]
pub struct HealthReport {
    pub healthy: bool,
    pub connected: bool,
    pub subscribed: bool,
    pub disconnected_since_ms: Option<i64>,
    pub last_message_ms: Option<i64>,
    pub problems: Vec<String>,
}

impl IntakeHealth {
    pub fn set_connected(&self) {
        self.connected.store(true, Ordering::SeqCst);
        self.disconnected_since_ms.store(0, Ordering::SeqCst);
        *self.last_connection_error.lock().expect("health lock") = None;
    }

    pub fn set_disconnected(&self, now_ms: i64, error: String) {
        if self.connected.swap(false, Ordering::SeqCst) || self.disconnected_since_ms.load(Ordering::SeqCst) == 0 {
            self.disconnected_since_ms.store(now_ms, Ordering::SeqCst);
        }
        self.subscribed.store(false, Ordering::SeqCst);
        *self.last_connection_error.lock().expect("health lock") = Some(error);
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

    /// Healthy when connected and subscribed (a connection lost for less than
    /// `disconnect_grace_ms` is still healthy: reconnects are routine) and the WAL accepts writes. `max_silence_ms`, when
    /// set, also fails a subscribed intake that has received nothing for that long.
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
        if let Some(e) = self.wal_error.lock().expect("health lock").clone() {
            problems.push(format!("intake stalled: WAL cannot commit ({e})"));
        }
        if let (Some(max), true) = (max_silence_ms, subscribed)
            && last != 0
            && now_ms - last > max
        {
            problems.push(format!("intake stalled: no message for {} s", (now_ms - last) / 1000));
        }
        HealthReport {
            healthy: problems.is_empty(),
            connected,
            subscribed,
            disconnected_since_ms: (since != 0).then_some(since),
            last_message_ms: (last != 0).then_some(last),
            problems,
        }
    }
}
