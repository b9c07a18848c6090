//! Every query gives its thread back at least every [`SLICE`] of wall time.
//!
//! A query is cancelled (deadline, client gone, memory watchdog) by aborting its Tokio task, and
//! an aborted task stops only when it next yields. DataFusion yields through Tokio's budget,
//! once every 128 batches: when a batch costs a second of CPU (a regular expression over a
//! long string on every row), a cancelled query kept a query thread for minutes, and every
//! other query — the service's own included — waited behind it. [`time_sliced`] wraps each leaf
//! of a physical plan in a [`TimeSliceExec`], whose stream answers `Pending` (after waking its
//! task) when [`SLICE`] has passed since it last did: the time between two polls of a leaf is
//! the time its consumers spent on the previous batch, so the task yields after every slow
//! batch, an abort takes effect within one batch, and queries sharing a thread take turns.

use datafusion::arrow::array::RecordBatch;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::Result;
use datafusion::execution::TaskContext;
use datafusion::physical_plan::execution_plan::{ChildrenPropertiesMode, ReplaceChildrenOptions};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, PhysicalExpr, PlanProperties, SendableRecordBatchStream};
use futures::{Stream, StreamExt};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// Longest a query's task runs without yielding, give or take one batch's work.
pub const SLICE: Duration = Duration::from_millis(20);

/// `plan` with every leaf wrapped in a [`TimeSliceExec`]. Run after optimisation: the wrapper
/// is transparent to execution, not to the optimiser's rules. The parents keep their state
/// (dynamic filters, work tables): their children are replaced with the same properties.
pub fn time_sliced(plan: Arc<dyn ExecutionPlan>) -> Result<Arc<dyn ExecutionPlan>> {
    let children = plan.children();
    if children.is_empty() {
        return Ok(Arc::new(TimeSliceExec { input: plan }));
    }
    let children = children.into_iter().map(|child| time_sliced(child.clone())).collect::<Result<Vec<_>>>()?;
    plan.replace_children(children, ReplaceChildrenOptions::new(ChildrenPropertiesMode::Keep))
}

/// A leaf of a query plan whose stream yields every [`SLICE`].
#[derive(Debug)]
pub struct TimeSliceExec {
    input: Arc<dyn ExecutionPlan>,
}

impl DisplayAs for TimeSliceExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TimeSliceExec")
    }
}

impl ExecutionPlan for TimeSliceExec {
    fn name(&self) -> &str {
        "TimeSliceExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.input.properties()
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(&self, _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(self: Arc<Self>, mut children: Vec<Arc<dyn ExecutionPlan>>) -> Result<Arc<dyn ExecutionPlan>> {
        match children.len() {
            1 => Ok(Arc::new(Self { input: children.remove(0) })),
            n => datafusion::common::internal_err!("TimeSliceExec takes one child, not {n}"),
        }
    }

    fn execute(&self, partition: usize, context: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
        let input = self.input.execute(partition, context)?;
        let schema = input.schema();
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, TimeSlicedStream { input, slice_start: Instant::now() })))
    }
}

struct TimeSlicedStream {
    input: SendableRecordBatchStream,
    /// When this stream last let its task yield (or was created).
    slice_start: Instant,
}

impl Stream for TimeSlicedStream {
    type Item = Result<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.slice_start.elapsed() >= SLICE {
            self.slice_start = Instant::now();
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let polled = self.input.poll_next_unpin(cx);
        if polled.is_pending() {
            self.slice_start = Instant::now();
        }
        polled
    }
}

#[cfg(test)]
mod tests {
    use crate::{QueryEngine, QueryError, QueryLimits};
    use ilot_ingest::layout::WriterId;
    use ilot_ingest::registry::RegistryHandle;
    use ilot_ingest::store::Store;
    use std::sync::Arc;

    /// A batch of this costs about a second of CPU; DataFusion alone would yield every 128.
    const SLOW_BATCHES: &str = "SELECT count(regexp_replace(repeat('ab', 4000), 'a', 'c', 'g')) FROM range(100000000000)";

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_query_sharing_the_one_query_thread_answers_and_a_timed_out_one_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let object_store = Arc::new(object_store::local::LocalFileSystem::new_with_prefix(dir.path()).unwrap());
        let store = Store::open(object_store, WriterId::new("w1").unwrap(), false).await.unwrap();
        let limits = QueryLimits { threads: 1, timeout_s: 5, ..QueryLimits::default() };
        let engine = Arc::new(QueryEngine::new(store, RegistryHandle::in_memory(Default::default()), limits).await.unwrap());
        let slow = tokio::spawn({
            let engine = engine.clone();
            async move { engine.query(SLOW_BATCHES).await.map(|_| ()) }
        });
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        // While the slow query holds the one thread, a short one still gets its turns.
        let short = engine.query("SELECT count(*) FROM range(10)").await;
        assert!(short.is_ok(), "a short query beside a slow one: {:?}", short.err());
        assert!(matches!(slow.await.unwrap(), Err(QueryError::Timeout(5))));
        // And once the slow one timed out, its thread is free at once (not after 128 batches).
        let after = engine.query("SELECT count(*) FROM range(10)").await;
        assert!(after.is_ok(), "a short query after a slow one timed out: {:?}", after.err());
    }
}
