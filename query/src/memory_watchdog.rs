//! The process's memory budget, kept by cancelling queries.
//!
//! DataFusion's pool sees what operators reserve, not everything a query allocates (a sort
//! whose rows have no column but their sort key reserves nothing; an expression's temporary
//! arrays are never charged). The binary installs a heap probe (jemalloc's allocated bytes);
//! every [`QueryEngine`](crate::QueryEngine) then runs a watchdog thread that reads it every
//! 10 ms and, whenever the whole process's heap — intake, caches and queries together —
//! exceeds `query.process_memory_mib`, cancels every running query (the intake is never
//! cancelled: it is what the budget protects). A cancelled query ends with
//! [`QueryError::ProcessMemory`](crate::QueryError::ProcessMemory).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

/// Bytes the process has allocated, when the allocator can tell.
pub type HeapProbe = fn() -> Option<u64>;

static HEAP_PROBE: OnceLock<HeapProbe> = OnceLock::new();

/// Install the process's heap probe (once, at start, by the binary).
pub fn install_heap_probe(probe: HeapProbe) {
    let _ = HEAP_PROBE.set(probe);
}

const POLL: Duration = Duration::from_millis(10);

/// The queries running now, each with the handle that aborts it.
#[derive(Default)]
pub struct RunningQueries {
    next: AtomicU64,
    queries: Mutex<HashMap<u64, (tokio::task::AbortHandle, Arc<AtomicBool>)>>,
}

/// A running query's registration; it unregisters when dropped.
pub struct Registration {
    id: u64,
    running: Arc<RunningQueries>,
    cancelled: Arc<AtomicBool>,
}

impl Registration {
    /// True when the watchdog cancelled this query.
    pub fn cancelled_for_memory(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.running.queries.lock().expect("running queries lock").remove(&self.id);
    }
}

impl RunningQueries {
    pub fn register(self: &Arc<Self>, abort: tokio::task::AbortHandle) -> Registration {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let cancelled = Arc::new(AtomicBool::new(false));
        self.queries.lock().expect("running queries lock").insert(id, (abort, cancelled.clone()));
        Registration { id, running: self.clone(), cancelled }
    }

    /// Cancel every running query; returns how many.
    fn cancel_all(&self) -> usize {
        let queries = self.queries.lock().expect("running queries lock");
        for (abort, cancelled) in queries.values() {
            cancelled.store(true, Ordering::SeqCst);
            abort.abort();
        }
        queries.len()
    }

    /// Watch the installed heap probe (if any) against `budget_bytes` until `self` is dropped.
    pub fn watch(self: &Arc<Self>, budget_bytes: u64) {
        let Some(probe) = HEAP_PROBE.get().copied() else { return };
        let running: Weak<Self> = Arc::downgrade(self);
        let spawned = std::thread::Builder::new().name("ilot-memory-watchdog".into()).spawn(move || {
            let mut over = false;
            while let Some(running) = running.upgrade() {
                let allocated = probe().unwrap_or(0);
                metrics::gauge!("ilot_heap_allocated_bytes").set(allocated as f64);
                if allocated > budget_bytes {
                    let cancelled = running.cancel_all();
                    if cancelled > 0 {
                        metrics::counter!("ilot_queries_cancelled_total", "reason" => "process_memory").increment(cancelled as u64);
                    }
                    if !over {
                        tracing::warn!(
                            allocated_mib = allocated >> 20,
                            budget_mib = budget_bytes >> 20,
                            cancelled,
                            "the process is over its memory budget (query.process_memory_mib): running queries cancelled"
                        );
                    }
                }
                over = allocated > budget_bytes;
                drop(running);
                std::thread::sleep(POLL);
            }
        });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "could not start the memory watchdog: queries are bounded by their pool only");
        }
    }
}
