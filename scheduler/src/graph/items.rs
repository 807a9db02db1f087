//! Parallel stages over a list of items.
//!
//! The items are claimed from one shared cursor over the start order, so items start
//! exactly in that order (on one thread, the start order *is* the enumeration; on N
//! threads the first N claimed are the first N of the order). Each worker that joins
//! the stage runs one *runner* job that claims items until the cursor runs out, so
//! balance comes from the cursor itself and a stage costs one deque job per worker,
//! not one per item.
//!
//! Claims adapt to the items' cost: a runner's first claim is one item (so the first
//! N items start first, in order), and a runner whose items prove cheap then claims
//! as many as take about [`CLAIM_NS`], never more than its share of what is left. Tiny
//! items stop paying a contended atomic each; items of a microsecond or more (tiles)
//! are still claimed one at a time, in the start order. [`Stage::grain`] fixes the
//! claim size instead.

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
    /// A fixed claim size, or `None`: adaptive.
    grain: Option<usize>,
}

/// About how much work (nanoseconds of items) one adaptive claim takes: a claim costs
/// one contended atomic (tens of nanoseconds across cores), so this keeps it near 1%.
pub(crate) const CLAIM_NS: u64 = 4_000;

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
            grain: None,
        }
    }

    /// Starts items in this order: a permutation of `0..items.len()` (for example
    /// from [`order::enumerate`](crate::order::enumerate)). Without it, items start in
    /// list order. Results still come back in item order.
    pub fn start_order(mut self, order: &'f [u32]) -> Self {
        self.order = Some(order);
        self
    }

    /// Claims exactly `grain` consecutive items at a time, instead of the default
    /// adaptive claims (one item, then more as items prove cheap: see the module
    /// docs). The start order then holds per claim rather than per item.
    pub fn grain(mut self, grain: usize) -> Self {
        self.grain = Some(grain.max(1));
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
        let claims = items.len().div_ceil(self.grain.unwrap_or(1));
        let runners = frame.pool.threads().min(claims);
        let state = ItemStage {
            items,
            order: self.order,
            f: &f,
            grain: self.grain,
            runners: runners.max(1),
            cursor: CachePadded::new(AtomicUsize::new(0)),
            stop: AtomicBool::new(false),
            panic: Mutex::new(None),
            locals: Mutex::new(Vec::new()),
            run: &frame.run,
            stage: frame.stages.len() as u32,
        };
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
    grain: Option<usize>,
    /// Runners sharing the cursor (an adaptive claim takes at most a share of what is
    /// left per runner).
    runners: usize,
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
        // About this runner's share of the outputs, so pushing never reallocates in the
        // common case.
        let mut outputs = Vec::with_capacity(self.items.len() / self.runners + 1);
        let n = self.items.len();
        let mut claim = self.grain.unwrap_or(1);
        'claims: loop {
            if self.stop.load(Ordering::Relaxed) || !self.run.may_start() {
                break;
            }
            let first = self.cursor.fetch_add(claim, Ordering::Relaxed);
            if first >= n {
                break;
            }
            let last = (first + claim).min(n);
            let started = self.grain.is_none().then(Instant::now);
            for pos in first..last {
                // A fixed grain's items may be long: each passes the full check.
                let go_on = || match self.grain {
                    Some(_) => self.run.may_start(),
                    None => self.run.may_continue(),
                };
                if pos > first && (self.stop.load(Ordering::Relaxed) || !go_on()) {
                    break 'claims;
                }
                self.run_one(pos, worker, &mut local, &mut outputs);
            }
            if let Some(started) = started {
                claim = self.next_claim(last - first, started.elapsed());
            }
        }
        self.locals
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((local, outputs));
    }

    /// The next adaptive claim after `items` took `took`: about [`CLAIM_NS`] of work
    /// at that rate, at least one item and at most this runner's share of half of
    /// what is left (so the runners finish together).
    fn next_claim(&self, items: usize, took: std::time::Duration) -> usize {
        let per_item = (took.as_nanos() / items.max(1) as u128).max(1);
        let want = usize::try_from(u128::from(CLAIM_NS) / per_item).unwrap_or(usize::MAX);
        let left = self
            .items
            .len()
            .saturating_sub(self.cursor.load(Ordering::Relaxed));
        want.min(left / (2 * self.runners)).max(1)
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
