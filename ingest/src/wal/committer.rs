//! The group-commit thread. It drains every submission waiting in its queue, appends them to the
//! WAL with one fsync, hands the entries to the store (they become queryable at that moment) and
//! only then releases the submitters' acknowledgement tokens, in arrival order. While an fsync
//! runs, the next batch accumulates: the busier the intake, the more one fsync covers.
//!
//! On a WAL write error nothing is applied or acknowledged: the committer retries the same batch
//! (a *stall*, reported by health and metrics) rather than dropping it.

use super::{Wal, WalEntry, WalError};
use crate::health::IntakeHealth;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// Largest number of entries one fsync covers.
const MAX_GROUP: usize = 16_384;

/// A message to make durable, with what to release once it is (e.g. the MQTT PUBACK).
pub struct Submission<T> {
    pub entry: WalEntry,
    pub token: Option<T>,
}

enum Command<T> {
    Submit(Submission<T>),
    Rotate(oneshot::Sender<Result<u64, WalError>>),
    RemoveUpto(u64, oneshot::Sender<Result<(), WalError>>),
}

/// Sends work to the committer thread. Cloneable; the thread ends when every handle is dropped,
/// after committing what was queued.
pub struct CommitterHandle<T> {
    tx: mpsc::Sender<Command<T>>,
}

impl<T> Clone for CommitterHandle<T> {
    fn clone(&self) -> Self {
        Self { tx: self.tx.clone() }
    }
}

impl<T: Send + 'static> CommitterHandle<T> {
    /// Queue a submission; waits while the queue is full (backpressure towards the broker).
    pub async fn submit(&self, submission: Submission<T>) -> Result<(), WalError> {
        self.tx.send(Command::Submit(submission)).await.map_err(|_| WalError::Stopped)
    }

    /// Close the current segment; everything in segments up to the returned number has been
    /// applied to the store when this returns.
    pub async fn rotate(&self) -> Result<u64, WalError> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(Command::Rotate(tx)).await.map_err(|_| WalError::Stopped)?;
        rx.await.map_err(|_| WalError::Stopped)?
    }

    /// Remove segments up to `upto` (their content is persisted).
    pub async fn remove_upto(&self, upto: u64) -> Result<(), WalError> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(Command::RemoveUpto(upto, tx)).await.map_err(|_| WalError::Stopped)?;
        rx.await.map_err(|_| WalError::Stopped)?
    }
}

pub struct Committer;

impl Committer {
    /// Start the committer thread.
    /// - `apply(segment, entries)` is called after each fsync, before any token is released;
    /// - `release(tokens)` gets the tokens of that commit, in submission order.
    pub fn spawn<T, W, A, R>(
        mut wal: W,
        queue_capacity: usize,
        health: Arc<IntakeHealth>,
        mut apply: A,
        mut release: R,
    ) -> (CommitterHandle<T>, std::thread::JoinHandle<()>)
    where
        T: Send + 'static,
        W: Wal + 'static,
        A: FnMut(u64, Vec<WalEntry>) + Send + 'static,
        R: FnMut(Vec<T>) + Send + 'static,
    {
        let (tx, mut rx) = mpsc::channel::<Command<T>>(queue_capacity);
        let thread = std::thread::Builder::new()
            .name("ilot-wal-committer".into())
            .spawn(move || {
                let mut entries = Vec::new();
                let mut tokens = Vec::new();
                while let Some(first) = rx.blocking_recv() {
                    let mut next = Some(first);
                    // Drain what is already waiting, up to MAX_GROUP submissions; control
                    // commands end the group so they see every earlier submission applied.
                    let mut control = None;
                    while let Some(cmd) = next.take() {
                        match cmd {
                            Command::Submit(s) => {
                                entries.push(s.entry);
                                tokens.extend(s.token);
                                if entries.len() < MAX_GROUP {
                                    next = rx.try_recv().ok();
                                }
                            }
                            other => control = Some(other),
                        }
                    }
                    if !entries.is_empty() {
                        commit(&mut wal, &health, &mut entries, &mut tokens, &mut apply, &mut release);
                    }
                    match control {
                        Some(Command::Rotate(reply)) => {
                            let _ = reply.send(wal.rotate());
                        }
                        Some(Command::RemoveUpto(upto, reply)) => {
                            let _ = reply.send(wal.remove_upto(upto));
                        }
                        Some(Command::Submit(_)) | None => {}
                    }
                }
            })
            .expect("spawn WAL committer thread");
        (CommitterHandle { tx }, thread)
    }
}

fn commit<T, W: Wal, A: FnMut(u64, Vec<WalEntry>), R: FnMut(Vec<T>)>(
    wal: &mut W,
    health: &IntakeHealth,
    entries: &mut Vec<WalEntry>,
    tokens: &mut Vec<T>,
    apply: &mut A,
    release: &mut R,
) {
    let started = Instant::now();
    let mut backoff = Duration::from_millis(100);
    while let Err(e) = wal.append(entries) {
        metrics::counter!("ilot_wal_errors_total").increment(1);
        tracing::error!(error = %e, retry_in = ?backoff, "WAL commit failed; intake stalls until it succeeds");
        health.set_wal_error(Some(e.to_string()));
        std::thread::sleep(backoff);
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
    health.set_wal_error(None);
    metrics::histogram!("ilot_wal_commit_seconds").record(started.elapsed().as_secs_f64());
    metrics::histogram!("ilot_wal_commit_entries").record(entries.len() as f64);
    apply(wal.current_segment(), std::mem::take(entries));
    release(std::mem::take(tokens));
}
