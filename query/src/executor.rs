//! `QueryExecutor`: analyst SQL runs on threads of its own, never on the intake's.
//!
//! Like InfluxDB 3's dedicated query executor: a separate Tokio runtime whose worker threads
//! have large stacks (deep plans are planned and evaluated without overflowing), run in the
//! idle CPU class below the MQTT → WAL → PUBACK path (a heavy query slows other queries, not the
//! intake), and whose blocking pool does the queries' file reads. A query that panics ends as
//! an error for its caller; dropping the future returned by [`QueryExecutor::run`] (a deadline,
//! a client gone) aborts the query's task and, with it, every task DataFusion spawned for it.

use std::future::Future;

/// Stack of each query thread. Virtual memory only: pages are touched as a deep plan needs them.
pub const QUERY_THREAD_STACK_BYTES: usize = 64 << 20;
/// CPU niceness of query threads (the intake runs at the process's own, usually 0).
const QUERY_THREAD_NICENESS: i32 = 10;

/// Why work handed to the executor did not complete.
#[derive(Debug, thiserror::Error)]
pub enum ExecutorError {
    #[error("the query failed with an internal error: {0}")]
    Panicked(String),
    #[error("the query executor has shut down")]
    ShutDown,
    #[error("the query was cancelled")]
    Cancelled,
}

pub struct QueryExecutor {
    /// `Some` until drop, which must not block (it may run inside another runtime).
    runtime: Option<tokio::runtime::Runtime>,
}

impl QueryExecutor {
    /// A runtime with `threads` workers (the machine's cores is right: queries are CPU-bound).
    pub fn new(threads: usize) -> std::io::Result<Self> {
        let threads = threads.max(1);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .max_blocking_threads(threads * 8)
            .thread_name("ilot-query")
            .thread_stack_size(QUERY_THREAD_STACK_BYTES)
            .on_thread_start(lower_priority)
            .enable_all()
            .build()?;
        Ok(Self { runtime: Some(runtime) })
    }

    /// Start `work` on the query threads. Dropping the returned task aborts it.
    pub fn spawn<F, T>(&self, work: F) -> Result<QueryTask<T>, ExecutorError>
    where
        F: Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        let runtime = self.runtime.as_ref().ok_or(ExecutorError::ShutDown)?;
        Ok(QueryTask { handle: runtime.spawn(work) })
    }

    /// Run `work` on the query threads and wait for it. Dropping the returned future aborts it.
    pub async fn run<F, T>(&self, work: F) -> Result<T, ExecutorError>
    where
        F: Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        self.spawn(work)?.await
    }
}

/// Work running on the query threads: a future of its result, aborted when dropped.
pub struct QueryTask<T> {
    handle: tokio::task::JoinHandle<T>,
}

impl<T> QueryTask<T> {
    /// What aborts it from elsewhere (the memory watchdog).
    pub fn abort_handle(&self) -> tokio::task::AbortHandle {
        self.handle.abort_handle()
    }
}

impl<T> Future for QueryTask<T> {
    type Output = Result<T, ExecutorError>;

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Self::Output> {
        std::pin::Pin::new(&mut self.handle).poll(cx).map(|joined| match joined {
            Ok(value) => Ok(value),
            Err(e) if e.is_panic() => Err(ExecutorError::Panicked(panic_message(e.into_panic()))),
            Err(_) => Err(ExecutorError::Cancelled),
        })
    }
}

impl<T> Drop for QueryTask<T> {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

impl Drop for QueryExecutor {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(s) => *s,
        Err(payload) => payload.downcast_ref::<&str>().map_or_else(|| "panic".to_owned(), |s| (*s).to_owned()),
    }
}

/// Put this thread in Linux's idle scheduling class (it runs when no normal thread of the
/// machine wants the core: the intake, the WAL committer and a local broker always come first),
/// or, where that is refused, lower its niceness.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: plain system calls on the calling thread's own id; `param` lives across the call.
        let result = unsafe {
            let tid = libc::gettid();
            let param = libc::sched_param { sched_priority: 0 };
            if libc::sched_setscheduler(tid, libc::SCHED_IDLE, &param) == 0 {
                0
            } else {
                libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, QUERY_THREAD_NICENESS)
            }
        };
        if result != 0 {
            tracing::debug!("could not lower a query thread's priority");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panic_is_an_error_and_deep_recursion_fits_the_stack() {
        let executor = QueryExecutor::new(1).unwrap();
        let err = executor.run(async { panic!("boom") }).await.map(|()| ()).unwrap_err();
        assert!(matches!(&err, ExecutorError::Panicked(m) if m == "boom"), "{err}");
        fn depth(n: u64) -> u64 {
            let pad = std::hint::black_box([0u8; 512]);
            if n == 0 { u64::from(pad[0]) } else { 1 + depth(n - 1) + u64::from(pad[1]) }
        }
        // ~50 MB of stack: far beyond a default 2 MiB thread.
        assert_eq!(executor.run(async { depth(80_000) }).await.unwrap(), 80_000);
    }

    #[tokio::test]
    async fn dropping_the_wait_aborts_the_work() {
        let executor = QueryExecutor::new(1).unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let wait = executor.run(async move {
            let _tx = tx;
            std::future::pending::<()>().await
        });
        assert!(tokio::time::timeout(std::time::Duration::from_millis(50), wait).await.is_err());
        // The task was aborted: its sender is dropped.
        assert!(rx.await.is_err());
    }
}
