//! A stage made of a few named tasks with dependencies between them, for example
//! "build the BLAS of each mesh" beside "build the field grid", then "build the TLAS"
//! once the BLASes are done.
//!
//! Tasks whose dependencies are all met are pushed onto the deque of the worker that
//! finished the last of them (LIFO: the follow-up runs where the data is hot); idle
//! workers steal them. A task whose dependency did not finish (`Cancelled`,
//! `OverBudget` or a panic) does not start.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Instant;

use super::{Frame, Local, PanicRecord, RunShared, StageOutput, TaskCtx, panic_message, reraise};
use crate::latch::{CountLatch, erase, run_scoped};
use crate::outcome::Outcome;
use crate::pool::{ScopedJob, WorkerCtx};
use crate::telemetry::{SpanEnd, StageKind, TaskSpan};

/// Identifies a task within its [`Dag`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TaskId(usize);

impl TaskId {
    /// Position of the task in its DAG (and of its output in the stage's results).
    #[must_use]
    pub fn index(self) -> usize {
        self.0
    }
}

type TaskFn<'a, R> = Box<dyn FnOnce(&mut DagCtx<'_, '_, R>) -> Outcome<R> + Send + 'a>;

/// A small graph of tasks, built before it runs with [`Frame::dag`].
///
/// A task can only depend on tasks added before it, so a DAG is acyclic by
/// construction.
///
/// ```
/// use std::sync::Arc;
/// use scheduler::{Budget, CancelToken, Dag, Graph, GraphConfig, Outcome, Pool, PoolConfig};
/// let graph = Graph::new(Arc::new(Pool::new(PoolConfig::with_threads(2)).unwrap()),
///                        GraphConfig::named("accel"));
/// let meshes = vec![3u64, 4, 5];
/// let report = graph.run(&CancelToken::new(), Budget::unlimited(), |frame| {
///     let mut dag = Dag::new();
///     let blases: Vec<_> = meshes
///         .iter()
///         .map(|&m| dag.task(format!("blas {m}"), &[], move |_| Outcome::Done(m * 10)))
///         .collect();
///     let deps = blases.clone();
///     let tlas = dag.task("tlas", &blases, move |ctx| {
///         Outcome::Done(deps.iter().map(|&b| *ctx.dep(b)).sum())
///     });
///     frame.dag("accel", dag).results[tlas.index()].unwrap()
/// }).unwrap();
/// assert_eq!(report.value, 120);
/// ```
#[must_use = "a DAG does nothing until it is run with Frame::dag"]
pub struct Dag<'a, R> {
    names: Vec<String>,
    deps: Vec<Vec<usize>>,
    fns: Vec<TaskFn<'a, R>>,
}

impl<R> std::fmt::Debug for Dag<'_, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dag")
            .field("names", &self.names)
            .field("deps", &self.deps)
            .finish_non_exhaustive()
    }
}

impl<R> Default for Dag<'_, R> {
    fn default() -> Self {
        Self {
            names: Vec::new(),
            deps: Vec::new(),
            fns: Vec::new(),
        }
    }
}

impl<'a, R> Dag<'a, R> {
    /// An empty DAG.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of tasks.
    #[must_use]
    pub fn len(&self) -> usize {
        self.fns.len()
    }

    /// Whether there are no tasks.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.fns.is_empty()
    }

    /// Adds a task that starts once every task in `deps` has finished (`Done`).
    ///
    /// # Panics
    /// If a dependency is not a task of this DAG.
    pub fn task(
        &mut self,
        name: impl Into<String>,
        deps: &[TaskId],
        f: impl FnOnce(&mut DagCtx<'_, '_, R>) -> Outcome<R> + Send + 'a,
    ) -> TaskId {
        let id = self.fns.len();
        let mut d: Vec<usize> = deps.iter().map(|t| t.0).collect();
        assert!(
            d.iter().all(|&i| i < id),
            "dependency of task {id} is not a task of this DAG"
        );
        d.sort_unstable();
        d.dedup();
        self.names.push(name.into());
        self.deps.push(d);
        self.fns.push(Box::new(f));
        TaskId(id)
    }
}

/// What a DAG task sees: its [`TaskCtx`] plus the outputs of its dependencies.
#[derive(Debug)]
pub struct DagCtx<'c, 'r, R> {
    task: &'c mut TaskCtx<'r>,
    deps: &'c [usize],
    results: &'c [OnceLock<R>],
}

impl<R> DagCtx<'_, '_, R> {
    /// The output of dependency `id`.
    ///
    /// # Panics
    /// If `id` is not one of this task's dependencies.
    #[must_use]
    pub fn dep(&self, id: TaskId) -> &R {
        assert!(
            self.deps.contains(&id.0),
            "task {} is not a dependency of this task",
            id.0
        );
        // A task starts only after all its dependencies finished with an output.
        self.results[id.0]
            .get()
            .expect("a dependency's output is set before its dependents start")
    }
}

impl<'r, R> std::ops::Deref for DagCtx<'_, 'r, R> {
    type Target = TaskCtx<'r>;
    fn deref(&self) -> &TaskCtx<'r> {
        self.task
    }
}

impl<R> std::ops::DerefMut for DagCtx<'_, '_, R> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        self.task
    }
}

struct DagRun<'a, R> {
    names: Vec<String>,
    deps: Vec<Vec<usize>>,
    successors: Vec<Vec<usize>>,
    fns: Vec<Mutex<Option<TaskFn<'a, R>>>>,
    pending: Vec<AtomicUsize>,
    blocked: Vec<AtomicBool>,
    results: Vec<OnceLock<R>>,
    stop: AtomicBool,
    panic: Mutex<Option<PanicRecord>>,
    locals: Mutex<Vec<Local>>,
    run: &'a RunShared,
    stage: u32,
    seq: AtomicUsize,
    latch: Arc<CountLatch>,
}

pub(super) fn run<R: Send + Sync>(
    frame: &mut Frame<'_>,
    name: &str,
    dag: Dag<'_, R>,
) -> StageOutput<R> {
    let start = Instant::now();
    let n = dag.len();
    let mut successors = vec![Vec::new(); n];
    for (task, deps) in dag.deps.iter().enumerate() {
        for &d in deps {
            successors[d].push(task);
        }
    }
    let latch = CountLatch::new(n);
    let state = DagRun {
        pending: dag.deps.iter().map(|d| AtomicUsize::new(d.len())).collect(),
        names: dag.names,
        deps: dag.deps,
        successors,
        fns: dag.fns.into_iter().map(|f| Mutex::new(Some(f))).collect(),
        blocked: (0..n).map(|_| AtomicBool::new(false)).collect(),
        results: (0..n).map(|_| OnceLock::new()).collect(),
        stop: AtomicBool::new(false),
        panic: Mutex::new(None),
        locals: Mutex::new(Vec::new()),
        run: &frame.run,
        stage: frame.stages.len() as u32,
        seq: AtomicUsize::new(0),
        latch: Arc::clone(&latch),
    };
    if n > 0 {
        let roots = (0..n)
            .filter(|&t| state.deps[t].is_empty())
            .map(|t| state.job(t))
            .collect();
        run_scoped(frame.pool, &latch, roots, || None);
    }
    // Drop the rest of the state (its borrow of the frame) before touching the frame.
    let (results, locals, panic) = {
        let DagRun {
            results,
            locals,
            panic,
            ..
        } = { state };
        (results, locals, panic)
    };
    let locals = locals.into_inner().unwrap_or_else(PoisonError::into_inner);
    let counts = frame.finish_stage(name, StageKind::Dag, start, n as u64, locals);
    reraise(
        name,
        panic.into_inner().unwrap_or_else(PoisonError::into_inner),
    );
    StageOutput {
        results: results.into_iter().map(OnceLock::into_inner).collect(),
        counts,
    }
}

impl<'a, R: Send + Sync> DagRun<'a, R> {
    fn job(&self, task: usize) -> ScopedJob<'_> {
        Box::new(move |w: &WorkerCtx<'_>| self.execute(task, w))
    }

    /// Runs (or skips) one task, releases its successors, and counts the latch down.
    fn execute(&self, task: usize, worker: &WorkerCtx<'_>) {
        // Our own handle: the waiter may free `self` as soon as the count hits zero.
        let latch = Arc::clone(&self.latch);
        let runnable = !self.blocked[task].load(Ordering::Acquire)
            && !self.stop.load(Ordering::Relaxed)
            && self.run.may_start();
        let finished = runnable && self.run_task(task, worker.index);
        for &s in &self.successors[task] {
            if !finished {
                self.blocked[s].store(true, Ordering::Release);
            }
            if self.pending[s].fetch_sub(1, Ordering::AcqRel) == 1 {
                // SAFETY: The job borrows `self`, which lives on the stack of the
                // thread in `run`, waiting in `run_scoped` until the latch counts every
                // task of this DAG (this successor included) down; the job's last
                // action is that count-down.
                worker.push_local(unsafe { erase(self.job(s)) });
            }
        }
        latch.count_down();
    }

    fn run_task(&self, task: usize, worker: usize) -> bool {
        let Some(f) = self.fns[task]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        else {
            return false;
        };
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let started = Instant::now();
        let mut local = Local::default();
        local.counts.started = 1;
        let mut task_ctx = TaskCtx::new(self.run, &mut local.counters, Some(worker), task);
        let mut ctx = DagCtx {
            task: &mut task_ctx,
            deps: &self.deps[task],
            results: &self.results,
        };
        let result = catch_unwind(AssertUnwindSafe(|| f(&mut ctx)));
        let work = task_ctx.work;
        self.run.add_work(work);
        let (end, finished) = match result {
            Ok(Outcome::Done(r)) => {
                let _ = self.results[task].set(r);
                local.counts.done = 1;
                self.run.note_progress();
                (SpanEnd::Done, true)
            }
            Ok(Outcome::Cancelled) => {
                local.counts.cancelled = 1;
                (SpanEnd::Cancelled, false)
            }
            Ok(Outcome::OverBudget) => {
                local.counts.over_budget = 1;
                (SpanEnd::OverBudget, false)
            }
            Err(payload) => {
                local.counts.failed = 1;
                self.stop.store(true, Ordering::Relaxed);
                let mut slot = self.panic.lock().unwrap_or_else(PoisonError::into_inner);
                if slot.is_none() {
                    *slot = Some(PanicRecord {
                        task: format!("'{}'", self.names[task]),
                        message: panic_message(payload.as_ref()),
                    });
                }
                (SpanEnd::Failed, false)
            }
        };
        if self.run.record_spans {
            local.spans.push(TaskSpan {
                stage: self.stage,
                item: task as u32,
                seq: seq as u32,
                worker: Some(worker as u32),
                start_ns: self.run.since_start(started),
                end_ns: self.run.since_start(Instant::now()),
                end,
            });
        }
        self.locals
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(local);
        finished
    }
}
