//! The staged task graph: a [`Graph`] runs frames; a [`Frame`] is a sequence of
//! stages separated by barriers.
//!
//! - [`Frame::serial`]: a stage that runs on the calling thread.
//! - [`Frame::stage`]: a parallel stage that fans a list of items out as tasks, starts
//!   them in a given order, and returns their outputs in item order.
//! - [`Frame::dag`]: a parallel stage of a few named tasks with dependencies.
//!
//! Each stage call returns only when every task it started has ended (the barrier),
//! so no task of stage k+1 starts before every task of stage k has finished.

#[allow(unsafe_code)]
mod dag;
#[allow(unsafe_code)]
mod items;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Instant;

pub use dag::{Dag, DagCtx, TaskId};
pub use items::{Stage, StageOutput};

use crate::budget::{Budget, Limit, WatchGuard};
use crate::cancel::{CancelReason, CancelToken};
use crate::outcome::{Interrupt, RunOutcome};
use crate::pool::Pool;
use crate::telemetry::{
    Counters, Counts, FrameSummary, FrameTrace, Level, Rolling, RollingStats, SpanEnd, StageKind,
    StageSummary, Stats, TaskSpan, ns,
};

/// Errors from starting a run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GraphError {
    /// Another run of this graph is in progress (on another thread).
    #[error("graph '{graph}' is already running; a graph runs one frame at a time")]
    AlreadyRunning {
        /// The graph's name.
        graph: String,
    },
    /// The run was started from one of the pool's own workers, where waiting at a
    /// barrier could deadlock the pool.
    #[error("graph '{graph}' was run from a worker thread of its own pool")]
    OnWorkerThread {
        /// The graph's name.
        graph: String,
    },
}

/// How a [`Graph`] records what it does.
#[derive(Debug, Clone)]
pub struct GraphConfig {
    /// Name shown in summaries and traces.
    pub name: String,
    /// How much to record.
    pub telemetry: Level,
    /// Number of recent frames kept for [`Graph::rolling`].
    pub rolling_window: usize,
}

impl GraphConfig {
    /// Defaults with a name: task-level telemetry, a 120-frame window.
    #[must_use]
    pub fn named(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            telemetry: Level::Tasks,
            rolling_window: 120,
        }
    }
}

/// A reusable runner of frames on a [`Pool`]: it owns the per-graph telemetry (rolling
/// window, frame counter, stall detection) and guards against concurrent runs.
///
/// ```
/// use std::sync::Arc;
/// use scheduler::{Budget, CancelToken, Graph, GraphConfig, Outcome, Pool, PoolConfig};
/// let pool = Arc::new(Pool::new(PoolConfig::with_threads(2)).unwrap());
/// let graph = Graph::new(pool, GraphConfig::named("squares"));
/// let report = graph
///     .run(&CancelToken::new(), Budget::unlimited(), |frame| {
///         let items: Vec<u64> = (0..10).collect();
///         let out = frame.stage("square").run(&items, |_ctx, &x| Outcome::Done(x * x));
///         out.results.into_iter().flatten().sum::<u64>()
///     })
///     .unwrap();
/// assert_eq!(report.value, 285);
/// assert!(report.outcome.is_completed());
/// ```
#[derive(Debug)]
pub struct Graph {
    pool: Arc<Pool>,
    config: GraphConfig,
    running: AtomicBool,
    state: Mutex<GraphState>,
    created: Instant,
}

#[derive(Debug)]
struct GraphState {
    frames: u64,
    rolling: Rolling,
    runs_without_progress: u32,
}

/// What a run returns: the closure's value, how the run ended, and its telemetry.
#[derive(Debug)]
pub struct RunReport<T> {
    /// What the frame closure returned.
    pub value: T,
    /// How the run ended.
    pub outcome: RunOutcome,
    /// Telemetry summary.
    pub summary: FrameSummary,
    /// Task spans (empty unless the graph records [`Level::Tasks`]).
    pub spans: Vec<TaskSpan>,
    /// Start of the run, ns since the graph was created.
    pub offset_ns: u64,
}

impl<T> RunReport<T> {
    /// The run's telemetry as a trace frame for [`crate::telemetry::write_chrome_trace`].
    #[must_use]
    pub fn trace(&self) -> FrameTrace {
        FrameTrace {
            summary: self.summary.clone(),
            spans: self.spans.clone(),
            offset_ns: self.offset_ns,
        }
    }
}

struct RunningGuard<'g>(&'g AtomicBool);

impl Drop for RunningGuard<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

impl Graph {
    /// A graph that runs its parallel stages on `pool`.
    #[must_use]
    pub fn new(pool: Arc<Pool>, config: GraphConfig) -> Self {
        let window = config.rolling_window;
        Self {
            pool,
            config,
            running: AtomicBool::new(false),
            state: Mutex::new(GraphState {
                frames: 0,
                rolling: Rolling::new(window),
                runs_without_progress: 0,
            }),
            created: Instant::now(),
        }
    }

    /// The pool this graph runs on.
    #[must_use]
    pub fn pool(&self) -> &Arc<Pool> {
        &self.pool
    }

    /// The graph's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// Rolling statistics of the last frames' wall times.
    #[must_use]
    pub fn rolling(&self) -> RollingStats {
        self.lock_state().rolling.stats()
    }

    fn lock_state(&self) -> std::sync::MutexGuard<'_, GraphState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs one frame: calls `body` on this thread with a [`Frame`] through which it
    /// runs its stages, under `budget`, stopping when `token` (or the budget) says so.
    ///
    /// # Errors
    /// [`GraphError::AlreadyRunning`] if another thread is running this graph (never a
    /// deadlock), [`GraphError::OnWorkerThread`] if called from one of the pool's
    /// workers.
    ///
    /// # Panics
    /// Re-raises, at the barrier of the stage where it happened, the panic of any task,
    /// naming the stage and the task. The graph and pool stay usable.
    pub fn run<T>(
        &self,
        token: &CancelToken,
        budget: Budget,
        body: impl FnOnce(&mut Frame<'_>) -> T,
    ) -> Result<RunReport<T>, GraphError> {
        if self.pool.is_worker_thread() {
            return Err(GraphError::OnWorkerThread {
                graph: self.config.name.clone(),
            });
        }
        if self
            .running
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return Err(GraphError::AlreadyRunning {
                graph: self.config.name.clone(),
            });
        }
        let _running = RunningGuard(&self.running);
        let start = Instant::now();
        let run_token = token.child();
        let progress = budget.stall_timeout.map(|_| Arc::new(AtomicU64::new(0)));
        let _watch: Option<WatchGuard> = self.pool.shared().watchdog.watch(
            &run_token,
            budget.deadline,
            budget.stall_timeout.zip(progress.clone()),
        );
        let mut frame = Frame {
            pool: &self.pool,
            run: RunShared {
                token: run_token,
                deadline: budget.deadline,
                max_items: budget.max_items,
                max_work: budget.max_work,
                items_started: AtomicU64::new(0),
                work: AtomicU64::new(0),
                limit: OnceLock::new(),
                halted: AtomicBool::new(false),
                progress,
                start,
                record_spans: self.config.telemetry == Level::Tasks,
            },
            stages: Vec::new(),
            spans: Vec::new(),
        };
        let value = body(&mut frame);
        let wall_ns = ns(start.elapsed());
        let Frame {
            run, stages, spans, ..
        } = frame;

        let mut state = self.lock_state();
        let totals = stages.iter().fold(Counts::default(), |mut c, s| {
            c.merge(&s.counts);
            c
        });
        let items: u64 = stages.iter().map(|s| s.items).sum();
        if items > 0 && totals.done == 0 {
            state.runs_without_progress += 1;
        } else {
            state.runs_without_progress = 0;
        }
        let outcome = if totals.done == items {
            RunOutcome::Completed
        } else if budget
            .stall_steps
            .is_some_and(|n| state.runs_without_progress >= n)
        {
            RunOutcome::Stalled
        } else {
            run.outcome()
        };
        let mut counters = Counters::default();
        for s in &stages {
            counters.merge(&s.counters);
        }
        let mut summary = FrameSummary {
            graph: self.config.name.clone(),
            frame: state.frames,
            outcome: outcome.clone(),
            wall_ns,
            stages,
            counters,
            invariant_violations: Vec::new(),
        };
        summary.check_invariants();
        state.frames += 1;
        state.rolling.push(&summary);
        drop(state);
        Ok(RunReport {
            value,
            outcome,
            summary,
            spans,
            offset_ns: ns(start.duration_since(self.created)),
        })
    }
}

/// One run in progress: the handle through which the frame closure runs its stages.
#[derive(Debug)]
pub struct Frame<'g> {
    pool: &'g Pool,
    run: RunShared,
    stages: Vec<StageSummary>,
    spans: Vec<TaskSpan>,
}

impl<'g> Frame<'g> {
    /// Number of worker threads available to parallel stages.
    #[must_use]
    pub fn threads(&self) -> usize {
        self.pool.threads()
    }

    /// The run's token: a child of the caller's, also tripped by the budget's
    /// watchdog.
    #[must_use]
    pub fn token(&self) -> &CancelToken {
        &self.run.token
    }

    /// Whether the run has stopped (cancelled, or a budget limit reached): later
    /// stages will start nothing.
    #[must_use]
    pub fn is_stopped(&self) -> bool {
        self.run.token.is_cancelled() || self.run.limit.get().is_some()
    }

    /// Runs `f` on the calling thread as a stage of its own, and returns its value.
    ///
    /// A serial stage always runs, even when the run has stopped: it is the host's own
    /// short work (taking a snapshot, presenting what the finished tiles committed).
    /// Check [`Frame::is_stopped`] to skip work that is pointless after a stop. Serial
    /// stages do not count against the budget's item cap.
    ///
    /// # Panics
    /// If `f` panics, the panic is re-raised naming this stage.
    pub fn serial<R>(&mut self, name: &str, f: impl FnOnce(&mut TaskCtx<'_>) -> R) -> R {
        let start = Instant::now();
        let mut local = Local::default();
        local.counts.started = 1;
        let mut ctx = TaskCtx::new(&self.run, &mut local.counters, None, 0);
        let result = match catch_unwind(AssertUnwindSafe(|| f(&mut ctx))) {
            Ok(r) => r,
            Err(payload) => panic!(
                "stage '{name}' (serial) panicked: {}",
                panic_message(payload.as_ref())
            ),
        };
        let work = ctx.work;
        self.run.add_work(work);
        local.counts.done = 1;
        if self.run.record_spans {
            local.spans.push(TaskSpan {
                stage: self.stages.len() as u32,
                item: 0,
                seq: 0,
                worker: None,
                start_ns: self.run.since_start(start),
                end_ns: self.run.since_start(Instant::now()),
                end: SpanEnd::Done,
            });
        }
        self.finish_stage(name, StageKind::Serial, start, 1, vec![local]);
        result
    }

    /// A parallel stage named `name`, to be configured and then
    /// [`run`](Stage::run) over a list of items.
    pub fn stage<'f>(&'f mut self, name: &str) -> Stage<'f, 'g> {
        Stage::new(self, name)
    }

    /// Runs a [`Dag`] of tasks as one parallel stage; returns each task's output in
    /// task order.
    ///
    /// # Panics
    /// Re-raises a task's panic at the barrier, naming the stage and the task.
    pub fn dag<R: Send + Sync>(&mut self, name: &str, dag: Dag<'_, R>) -> StageOutput<R> {
        dag::run(self, name, dag)
    }

    /// Records a finished stage's telemetry (called by each stage kind at its barrier).
    fn finish_stage(
        &mut self,
        name: &str,
        kind: StageKind,
        start: Instant,
        items: u64,
        locals: Vec<Local>,
    ) -> Counts {
        let mut counts = Counts::default();
        let mut counters = Counters::default();
        let first_span = self.spans.len();
        for local in locals {
            counts.merge(&local.counts);
            counters.merge(&local.counters);
            self.spans.extend(local.spans);
        }
        counts.not_started = items.saturating_sub(counts.started);
        let durations: Vec<u64> = self.spans[first_span..]
            .iter()
            .map(|s| s.end_ns - s.start_ns)
            .collect();
        self.stages.push(StageSummary {
            name: name.to_owned(),
            kind,
            start_ns: ns(start.duration_since(self.run.start)),
            wall_ns: ns(start.elapsed()),
            items,
            counts,
            task_ns: Stats::of(&durations),
            counters,
        });
        counts
    }
}

/// What every stage's tasks share within one run: the token, the budget's state and
/// the clock.
#[derive(Debug)]
pub(crate) struct RunShared {
    token: CancelToken,
    deadline: Option<Instant>,
    max_items: Option<u64>,
    max_work: Option<u64>,
    items_started: AtomicU64,
    work: AtomicU64,
    limit: OnceLock<Limit>,
    /// Set once anything has seen that no new task may start (a cancelled token, a
    /// limit reached): the one flag a runner reads before each item of a claim.
    halted: AtomicBool,
    progress: Option<Arc<AtomicU64>>,
    start: Instant,
    record_spans: bool,
}

impl RunShared {
    /// Whether a new task may start; reserves one item of the item cap when it may.
    fn may_start(&self) -> bool {
        let may = self.check_start();
        if !may {
            self.halted.store(true, Ordering::Relaxed);
        }
        may
    }

    fn check_start(&self) -> bool {
        if self.token.is_cancelled() || self.limit.get().is_some() {
            return false;
        }
        self.check_deadline();
        if self.token.is_cancelled() {
            return false;
        }
        if let Some(max) = self.max_work {
            if self.work.load(Ordering::Acquire) >= max {
                let _ = self.limit.set(Limit::Work);
                return false;
            }
        }
        if let Some(max) = self.max_items {
            if self.items_started.fetch_add(1, Ordering::AcqRel) >= max {
                let _ = self.limit.set(Limit::Items);
                return false;
            }
        }
        true
    }

    /// The check before each further item of a claim (the claim itself passed
    /// [`RunShared::may_start`] about a microsecond ago): whether nothing has halted
    /// the run, reserving the item when there is an item cap. A cancel that no task
    /// observed is seen at the next claim.
    #[inline]
    fn may_continue(&self) -> bool {
        !self.halted.load(Ordering::Relaxed) && (self.max_items.is_none() || self.may_start())
    }

    #[inline]
    fn add_work(&self, units: u64) {
        if let (Some(max), true) = (self.max_work, units > 0) {
            if self.work.fetch_add(units, Ordering::AcqRel) + units >= max {
                let _ = self.limit.set(Limit::Work);
                self.halted.store(true, Ordering::Relaxed);
            }
        }
    }

    #[inline]
    fn note_progress(&self) {
        if let Some(p) = &self.progress {
            p.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn interrupted(&self) -> Option<Interrupt> {
        if !self.token.is_cancelled() {
            return None;
        }
        self.halted.store(true, Ordering::Relaxed);
        Some(self.interrupt_kind())
    }

    fn interrupt_kind(&self) -> Interrupt {
        match self.token.reason() {
            Some(CancelReason::Deadline) => Interrupt::OverBudget,
            _ => Interrupt::Cancelled,
        }
    }

    /// Trips the token when the deadline has passed (the watchdog does the same, but
    /// on a machine whose cores are all busy its wake-up can lag by milliseconds).
    #[inline]
    fn check_deadline(&self) {
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            let _ = self.limit.set(Limit::Deadline);
            self.token.cancel(CancelReason::Deadline);
            self.halted.store(true, Ordering::Relaxed);
        }
    }

    /// How an incomplete run ended, from the token's reason or the limit reached.
    fn outcome(&self) -> RunOutcome {
        match (self.token.reason(), self.limit.get()) {
            (Some(CancelReason::Deadline), _) => RunOutcome::OverBudget(Limit::Deadline),
            (Some(CancelReason::Stalled), _) => RunOutcome::Stalled,
            (Some(reason), _) => RunOutcome::Cancelled(reason),
            (None, Some(limit)) => RunOutcome::OverBudget(*limit),
            // Items ended Cancelled or OverBudget on their own account.
            (None, None) => RunOutcome::Cancelled(CancelReason::Requested(
                "tasks returned without finishing".to_owned(),
            )),
        }
    }

    fn since_start(&self, t: Instant) -> u64 {
        ns(t.duration_since(self.start))
    }
}

/// What a task sees while it runs: safe-point checks, counters, work units.
#[derive(Debug)]
pub struct TaskCtx<'r> {
    run: &'r RunShared,
    counters: &'r mut Counters,
    worker: Option<usize>,
    index: usize,
    work: u64,
    checks: u32,
}

impl<'r> TaskCtx<'r> {
    fn new(
        run: &'r RunShared,
        counters: &'r mut Counters,
        worker: Option<usize>,
        index: usize,
    ) -> Self {
        Self {
            run,
            counters,
            worker,
            index,
            work: 0,
            checks: 0,
        }
    }

    /// A safe-point check: `Some` when the task should stop now and return the
    /// corresponding [`Outcome`](crate::Outcome) (`interrupt.into()`).
    #[inline]
    #[must_use]
    pub fn interrupted(&mut self) -> Option<Interrupt> {
        // The clock is read at every 8th check only: checks are meant to be cheap
        // enough for every row or sample.
        self.checks = self.checks.wrapping_add(1);
        if self.checks % 8 == 1 {
            self.run.check_deadline();
        }
        self.run.interrupted()
    }

    /// The run's token, for handing to code that checks cancellation itself.
    #[must_use]
    pub fn token(&self) -> &CancelToken {
        &self.run.token
    }

    /// Adds `n` to the counter `name` (a plain add in this task's own counters).
    #[inline]
    pub fn count(&mut self, name: &'static str, n: u64) {
        self.counters.add(name, n);
    }

    /// Reports `units` of work done, counted against the budget's work cap when the
    /// task ends.
    #[inline]
    pub fn add_work(&mut self, units: u64) {
        self.work += units;
    }

    /// Which thread runs this task: `Some(i)` with `i < threads()` for pool worker
    /// `i`; `Some(threads())` for the thread that runs the frame, which takes a share
    /// of every parallel stage beside `threads() - 1` workers; `None` in a serial
    /// stage (on the frame's thread). Within one stage no two threads running at once
    /// share an index, so per-thread scratch can be indexed by it (`threads() + 1`
    /// slots).
    #[must_use]
    pub fn worker(&self) -> Option<usize> {
        self.worker
    }

    /// Index of the item (or DAG task) within its stage.
    #[must_use]
    pub fn index(&self) -> usize {
        self.index
    }
}

/// What one stage runner (or one DAG task) accumulates before merging at the barrier.
#[derive(Debug, Default)]
struct Local {
    counts: Counts,
    counters: Counters,
    spans: Vec<TaskSpan>,
}

/// The first panic of a stage: which task, and its message.
#[derive(Debug)]
struct PanicRecord {
    task: String,
    message: String,
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}

fn reraise(stage: &str, record: Option<PanicRecord>) {
    if let Some(PanicRecord { task, message }) = record {
        panic!("stage '{stage}': task {task} panicked: {message}");
    }
}
