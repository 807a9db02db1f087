//! Parallel stages over a list of items.
//!
//! The items are claimed from one shared cursor over the start order, so items start
//! exactly in that order (on one thread, the start order *is* the enumeration; on N
//! threads the first N claimed are the first N of the order). Each worker that joins
//! the stage runs one *runner* job that claims items until the cursor runs out, so
//! balance comes from the cursor itself and a stage costs one deque job per worker,
//! not one per item.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use crossbeam_utils::CachePadded;

use super::{Frame, Local, PanicRecord, RunShared, TaskCtx, panic_message, reraise};
use crate::latch::{CountLatch, run_scoped};
use crate::outcome::Outcome;
use crate::pool::{ScopedJob, WorkerCtx};
use crate::telemetry::{Counts, SpanEnd, StageKind, TaskSpan};

/// A parallel stage being configured; [`run`](Stage::run) executes it.
#[derive(Debug)]
#[must_use = "a stage does nothing until it is run"]
pub struct Stage<'f, 'g> {
    frame: &'f mut Frame<'g>,
    name: String,
    order: Option<&'f [u32]>,
    grain: usize,
}

/// The outputs of a parallel stage, in item (or task) order: `Some` for each task that
/// finished (`Done`), `None` for every other.
#[derive(Debug)]
pub struct StageOutput<R> {
    /// One slot per item, in item order.
    pub results: Vec<Option<R>>,
    /// How the stage's tasks ended.
    pub counts: Counts,
}

impl<R> StageOutput<R> {
    /// Whether every item finished.
    #[must_use]
    pub fn is_complete(&self) -> bool {
        self.results.iter().all(Option::is_some)
    }
}

impl<'f, 'g> Stage<'f, 'g> {
    pub(super) fn new(frame: &'f mut Frame<'g>, name: &str) -> Self {
        Self {
            frame,
            name: name.to_owned(),
            order: None,
            grain: 1,
        }
    }

    /// Starts items in this order: a permutation of `0..items.len()` (for example
    /// from [`order::enumerate`](crate::order::enumerate)). Without it, items start in
    /// list order. Results still come back in item order.
    pub fn start_order(mut self, order: &'f [u32]) -> Self {
        self.order = Some(order);
        self
    }

    /// Claims `grain` consecutive items at a time (default 1). Larger grains cut the
    /// per-item cost of very small items; the start order then holds per claim rather
    /// than per item.
    pub fn grain(mut self, grain: usize) -> Self {
        self.grain = grain.max(1);
        self
    }

    /// Runs `f` on every item, in parallel on the pool, and waits for all of them.
    ///
    /// `f` gets a [`TaskCtx`] for safe-point checks and counters and returns an
    /// [`Outcome`]; only `Done` outputs are kept.
    ///
    /// # Panics
    /// - If a start order was given that is not a permutation of the item indices.
    /// - Re-raises, after the barrier, the first panic of a task, naming the stage and
    ///   the item; once a task has panicked no further item starts.
    pub fn run<T, R, F>(self, items: &[T], f: F) -> StageOutput<R>
    where
        T: Sync,
        R: Send,
        F: Fn(&mut TaskCtx<'_>, &T) -> Outcome<R> + Sync,
    {
        if let Some(order) = self.order {
            assert!(
                is_permutation(order, items.len()),
                "stage '{}': start order is not a permutation of 0..{}",
                self.name,
                items.len()
            );
        }
        let frame = self.frame;
        let start = Instant::now();
        // Allocated (and paged in) before the stage starts, so that a cancelled stage
        // returns without touching memory in proportion to its size.
        let mut results: Vec<Option<R>> =
            std::iter::repeat_with(|| None).take(items.len()).collect();
        let state = ItemStage {
            items,
            order: self.order,
            f: &f,
            grain: self.grain,
            cursor: CachePadded::new(AtomicUsize::new(0)),
            stop: AtomicBool::new(false),
            panic: Mutex::new(None),
            locals: Mutex::new(Vec::new()),
            run: &frame.run,
            stage: frame.stages.len() as u32,
        };
        let claims = items.len().div_ceil(self.grain);
        let runners = frame.pool.threads().min(claims);
        if runners > 0 {
            let latch = CountLatch::new(runners);
            let jobs = (0..runners)
                .map(|_| {
                    let latch = Arc::clone(&latch);
                    let state = &state;
                    Box::new(move |w: &WorkerCtx<'_>| {
                        state.runner(Some(w.index));
                        latch.count_down();
                    }) as ScopedJob<'_>
                })
                .collect();
            run_scoped(frame.pool, &latch, jobs);
        }
        let (locals, panic) = {
            let ItemStage { locals, panic, .. } = { state };
            (locals, panic)
        };
        let locals = locals.into_inner().unwrap_or_else(PoisonError::into_inner);
        let mut plain = Vec::with_capacity(locals.len());
        for (local, outputs) in locals {
            for (index, r) in outputs {
                results[index] = Some(r);
            }
            plain.push(local);
        }
        let counts = frame.finish_stage(
            &self.name,
            StageKind::Parallel,
            start,
            items.len() as u64,
            plain,
        );
        reraise(
            &self.name,
            panic.into_inner().unwrap_or_else(PoisonError::into_inner),
        );
        StageOutput { results, counts }
    }
}

fn is_permutation(order: &[u32], n: usize) -> bool {
    if order.len() != n {
        return false;
    }
    let mut seen = vec![false; n];
    order.iter().all(|&i| {
        let i = i as usize;
        i < n && !std::mem::replace(&mut seen[i], true)
    })
}

/// What one runner hands over at the barrier: its telemetry and its outputs.
type RunnerOutput<R> = (Local, Vec<(usize, R)>);

struct ItemStage<'a, T, R, F> {
    items: &'a [T],
    order: Option<&'a [u32]>,
    f: &'a F,
    grain: usize,
    cursor: CachePadded<AtomicUsize>,
    stop: AtomicBool,
    panic: Mutex<Option<PanicRecord>>,
    locals: Mutex<Vec<RunnerOutput<R>>>,
    run: &'a RunShared,
    stage: u32,
}

impl<T, R, F> ItemStage<'_, T, R, F>
where
    T: Sync,
    R: Send,
    F: Fn(&mut TaskCtx<'_>, &T) -> Outcome<R> + Sync,
{
    /// Claims and runs items until the cursor runs out or the run stops, then merges
    /// what it gathered.
    fn runner(&self, worker: Option<usize>) {
        let mut local = Local::default();
        let mut outputs = Vec::new();
        let n = self.items.len();
        'claims: loop {
            if self.stop.load(Ordering::Relaxed) || !self.run.may_start() {
                break;
            }
            let first = self.cursor.fetch_add(self.grain, Ordering::Relaxed);
            if first >= n {
                break;
            }
            let last = (first + self.grain).min(n);
            for pos in first..last {
                if pos > first && (self.stop.load(Ordering::Relaxed) || !self.run.may_start()) {
                    break 'claims;
                }
                self.run_one(pos, worker, &mut local, &mut outputs);
            }
        }
        self.locals
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((local, outputs));
    }

    fn run_one(
        &self,
        pos: usize,
        worker: Option<usize>,
        local: &mut Local,
        outputs: &mut Vec<(usize, R)>,
    ) {
        let index = self.order.map_or(pos, |o| o[pos] as usize);
        let started = self.run.record_spans.then(Instant::now);
        local.counts.started += 1;
        let mut ctx = TaskCtx::new(self.run, &mut local.counters, worker, index);
        let result = catch_unwind(AssertUnwindSafe(|| (self.f)(&mut ctx, &self.items[index])));
        let work = ctx.work;
        self.run.add_work(work);
        let end = match result {
            Ok(Outcome::Done(r)) => {
                outputs.push((index, r));
                local.counts.done += 1;
                self.run.note_progress();
                SpanEnd::Done
            }
            Ok(Outcome::Cancelled) => {
                local.counts.cancelled += 1;
                SpanEnd::Cancelled
            }
            Ok(Outcome::OverBudget) => {
                local.counts.over_budget += 1;
                SpanEnd::OverBudget
            }
            Err(payload) => {
                local.counts.failed += 1;
                self.stop.store(true, Ordering::Relaxed);
                let mut slot = self.panic.lock().unwrap_or_else(PoisonError::into_inner);
                if slot.is_none() {
                    *slot = Some(PanicRecord {
                        task: format!("item {index}"),
                        message: panic_message(payload.as_ref()),
                    });
                }
                SpanEnd::Failed
            }
        };
        if let Some(started) = started {
            local.spans.push(TaskSpan {
                stage: self.stage,
                item: index as u32,
                seq: pos as u32,
                worker: worker.map(|w| w as u32),
                start_ns: self.run.since_start(started),
                end_ns: self.run.since_start(Instant::now()),
                end,
            });
        }
    }
}
