//! One connection's watchdog: a session may not pin what others need. A result holds its share
//! of the query memory pool until its last row is sent; a client that stops reading (its socket
//! full) or leaves a portal suspended (Execute with a row limit, then silence) would hold it
//! past every query's deadline. So a result with no row taken for
//! `postgres.unread_result_timeout_s` ends its connection, which frees it. A refused login
//! ends its connection at once rather than being read until pgwire's 60 s start-up timeout.
//!
//! The handlers run inside the connection's task: [`watch`] gives that task a [`Connection`]
//! (a task-local), [`hold`] counts a result being sent on it, [`end`] marks it refused.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

tokio::task_local! {
    static CONNECTION: Arc<Connection>;
}

/// What the watchdog knows of one connection.
pub struct Connection {
    opened: Instant,
    /// Results being sent.
    held: AtomicUsize,
    /// When a row was last taken from a held result (ms since `opened`).
    progress_ms: AtomicU64,
    /// The login refused it.
    ended: AtomicBool,
}

impl Connection {
    fn touch(&self) {
        self.progress_ms.store(self.opened.elapsed().as_millis() as u64, Ordering::Relaxed);
    }
}

/// Why the watchdog ended a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    LoginRefused,
    UnreadResult,
}

/// Run `session` (one connection's protocol loop) until it ends, or until the watchdog ends it
/// (`Err`): a result left unread for `unread_timeout`, or a refused login.
pub async fn watch<F: std::future::Future>(session: F, unread_timeout: Duration) -> Result<F::Output, Ended> {
    let connection = Arc::new(Connection { opened: Instant::now(), held: AtomicUsize::new(0), progress_ms: AtomicU64::new(0), ended: AtomicBool::new(false) });
    let patrol = async {
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        loop {
            tick.tick().await;
            if connection.ended.load(Ordering::SeqCst) {
                return Ended::LoginRefused;
            }
            let idle = Duration::from_millis((connection.opened.elapsed().as_millis() as u64).saturating_sub(connection.progress_ms.load(Ordering::Relaxed)));
            if connection.held.load(Ordering::SeqCst) > 0 && idle >= unread_timeout {
                metrics::counter!("ilot_postgres_sessions_ended_total", "reason" => "unread_result").increment(1);
                return Ended::UnreadResult;
            }
        }
    };
    tokio::select! {
        output = CONNECTION.scope(connection.clone(), session) => Ok(output),
        ended = patrol => Err(ended),
    }
}

/// A result being sent on the current connection: it counts as held until dropped;
/// [`Held::progress`] as each batch of rows is taken.
pub struct Held(Option<Arc<Connection>>);

pub fn hold() -> Held {
    Held(CONNECTION.try_with(|c| {
        c.held.fetch_add(1, Ordering::SeqCst);
        c.touch();
        c.clone()
    })
    .ok())
}

impl Held {
    pub fn progress(&self) {
        if let Some(c) = &self.0 {
            c.touch();
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if let Some(c) = &self.0 {
            c.held.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// The current connection's login was refused (its FATAL error sent): end it.
pub fn end() {
    let _ = CONNECTION.try_with(|c| c.ended.store(true, Ordering::SeqCst));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_result_left_unread_ends_its_connection_and_one_being_read_does_not() {
        let timeout = Duration::from_millis(800);
        let read = watch(
            async {
                let held = hold();
                for _ in 0..12 {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    held.progress();
                }
            },
            timeout,
        )
        .await;
        assert!(read.is_ok(), "a row taken every 100 ms: kept");
        let unread = watch(
            async {
                let _held = hold();
                tokio::time::sleep(Duration::from_secs(60)).await;
            },
            timeout,
        )
        .await;
        assert_eq!(unread.unwrap_err(), Ended::UnreadResult);
        let idle = watch(tokio::time::sleep(Duration::from_millis(2000)), timeout).await;
        assert!(idle.is_ok(), "an idle session holding nothing is left alone");
        let refused = watch(
            async {
                end();
                tokio::time::sleep(Duration::from_secs(60)).await;
            },
            timeout,
        )
        .await;
        assert_eq!(refused.unwrap_err(), Ended::LoginRefused);
    }
}
