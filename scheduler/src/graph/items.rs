//! Parallel stages over a list of items.
//!
//! The items are claimed from one shared cursor over the start order, so items start
//! exactly in that order (on one thread, the start order *is* the enumeration; on N
//! threads the first N claimed are the first N of the order). Each thread that joins
//! the stage runs one *runner* that claims items until the cursor runs out, so
//! balance comes from the cursor itself and a stage costs one deque job per worker,
//! not one per item. At most N runners run a stage on a pool of N threads, and the
//! frame's own thread is one of them: the stage hands N - 1 jobs to the workers and
//! the caller runs beside them (it would otherwise wait idle, and on a machine with N
//! cores its waiting competes with the workers), starting at once while parked
//! workers wake up. Grace periods ([`HELPER_GRACE`], [`WAKE_GRACE`]) keep a worker
//! that the kernel holds off from leaving a core idle.
//!
//! Outputs go straight into the result vector's slots (each slot is written by the
//! one runner that claimed its item), and a stage with nothing to account per item
//! (no task spans, item or work cap, or stall watch) runs its items in a loop with
//! only the `halted` check between them: about 2 ns per empty item.
//!
//! Claims adapt to the items' cost: a runner's first claim is one item (so the first
//! N items start first, in order), and a runner whose items prove cheap then claims
//! as many as take about [`CLAIM_NS`], never more than its share of what is left. Cheap
//! items stop paying a contended atomic each (the start order then holds per claim);
//! items of [`CLAIM_NS`] or more (a real frame's tiles) are still claimed one at a
//! time, in the start order. [`Stage::grain`] fixes the claim size instead.

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

/// About how much work (nanoseconds of items) one adaptive claim takes. A claim costs
/// one contended atomic whose cache line moves between cores each time (about 150 ns
/// of the claiming thread on this project's 2-vCPU machines), so this keeps it under
/// 1%; measured, 4 us claims made a skewed-tile frame 0.5-0.8% longer. Larger claims
/// gain little more and risk imbalance when a claim sized on cheap items meets dear
/// ones (`scheduler/ARCHITECTURE.md`).
pub(crate) const CLAIM_NS: u64 = 20_000;

/// How long the calling thread runs its share of a stage while a worker it counted on
/// has not started, when that worker was spinning (so not woken). Such a worker starts
/// within a few microseconds unless the kernel queued it on the caller's own core,
/// where it waits until the caller stops: measured on a 2-vCPU machine, every frame of
/// an 8,192-item stage then ran on the caller alone while the other core idled. After
/// the grace the caller hands its share to the pool as one more job, waking a parked
/// worker for it, and waits, yielding its core.
pub(crate) const HELPER_GRACE: std::time::Duration = std::time::Duration::from_micros(30);

/// [`HELPER_GRACE`] for a worker that had to be woken: above the usual wake-up latency
/// of an idle core (25-75 us measured on this project's 2-vCPU machines), far below
/// the milliseconds a worker queued behind the caller would wait. Until the woken
/// workers start, the caller runs the stage's first items itself instead of waiting
/// idle (measured: skewed-tile frames from parked workers 1.2-1.5% shorter than when
/// the caller waited for the wake-ups).
pub(crate) const WAKE_GRACE: std::time::Duration = std::time::Duration::from_micros(100);

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
        // returns without touching memory in proportion to its size. Runners write
        // their outputs into it in place (see `Slots`).
        let mut results: Vec<Option<R>> =
            std::iter::repeat_with(|| None).take(items.len()).collect();
        let claims = items.len().div_ceil(self.grain.unwrap_or(1));
        let runners = frame.pool.threads().min(claims);
        let mut state = ItemStage {
            items,
            order: self.order,
            f: &f,
            grain: self.grain,
            runners: runners.max(1),
            cursor: CachePadded::new(AtomicUsize::new(0)),
            stop: AtomicBool::new(false),
            panic: Mutex::new(None),
            locals: Mutex::new(Vec::new()),
            slots: Slots::new(&mut results),
            seats: AtomicUsize::new(0),
            plain: self.grain.is_none()
                && !frame.run.record_spans
                && frame.run.max_items.is_none()
                && frame.run.max_work.is_none()
                && frame.run.progress.is_none(),
            run: &frame.run,
            stage: frame.stages.len() as u32,
        };
        if runners > 0 {
            // Seats: at most `runners` runners at a time, whoever they are. The calling
            // thread takes one at once and hands out a job for each other seat: it
            // would otherwise only wait, and on a machine with as many cores as
            // workers its waiting competes with them. A worker it counted on can be
            // held off: the kernel may queue it on the caller's own core, where it
            // waits until the caller stops (measured on 2 vCPUs: whole frames ran on
            // one core while the other idled). So the caller gives its seat back, as
            // one more job that wakes a parked worker, if a seat is still empty after
            // a grace: `HELPER_GRACE` when the other workers were spinning (they start
            // at once), `WAKE_GRACE` when they had to be woken. Its tasks see worker
            // index `threads()` (the pool's workers are `0..threads()`).
            let warm = runners == 1 || frame.pool.spinning() >= runners - 1;
            let grace = if warm { HELPER_GRACE } else { WAKE_GRACE };
            *state.seats.get_mut() = 1;
            let latch = CountLatch::new(runners - 1);
            let runner_job = |latch: &Arc<CountLatch>| {
                let latch = Arc::clone(latch);
                let state = &state;
                Box::new(move |w: &WorkerCtx<'_>| {
                    // A worker that finds every seat taken (a late worker, after the
                    // caller's hand-back went to another) has nothing to do.
                    if state.take_seat() {
                        state.runner(Some(w.index), None);
                    }
                    latch.count_down();
                }) as ScopedJob<'_>
            };
            let jobs = (1..runners).map(|_| runner_job(&latch)).collect();
            let caller = frame.pool.threads();
            run_scoped(frame.pool, &latch, jobs, || {
                let handed_back = frame
                    .pool
                    .as_member(|| state.runner(Some(caller), Some((Instant::now(), grace))));
                // The caller's share goes back to the pool as one more runner job, for
                // a woken worker: the one it counted on was held off.
                handed_back.then(|| runner_job(&latch))
            });
        }
        let (locals, panic) = {
            let ItemStage { locals, panic, .. } = { state };
            (locals, panic)
        };
        let locals = locals.into_inner().unwrap_or_else(PoisonError::into_inner);
        let counts = frame.finish_stage(
            &self.name,
            StageKind::Parallel,
            start,
            items.len() as u64,
            locals,
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

/// The stage's result slots, written in place by the runners.
///
/// Each item's output goes straight into its slot of the `Vec` that the stage returns,
/// so a stage needs no per-runner output lists and no serial merge after the barrier
/// (for 8,192 tiny items that merge alone took longer than rayon's whole `par_iter`).
struct Slots<R> {
    base: *mut Option<R>,
    len: usize,
}

// SAFETY: `Slots` hands each slot to exactly one runner (see `put`), so sharing it
// between threads only moves `R` values across threads, which `R: Send` allows.
unsafe impl<R: Send> Sync for Slots<R> {}

impl<R> Slots<R> {
    /// Slots over `results`, which must not be touched through any other path until
    /// the stage's barrier has passed (the stage holds it mutably borrowed meanwhile).
    fn new(results: &mut [Option<R>]) -> Self {
        Self {
            base: results.as_mut_ptr(),
            len: results.len(),
        }
    }

    /// Stores item `index`'s output.
    ///
    /// # Safety
    /// At most one call per `index` per stage, and none after the barrier.
    unsafe fn put(&self, index: usize, r: R) {
        // Callers pass the index of an item they just read from the stage's slice of
        // the same length, so this holds; checked anyway, it costs one compare.
        assert!(index < self.len, "result slot {index} out of {}", self.len);
        // SAFETY: `index` is in bounds (checked above) of a live allocation that
        // `Stage::run` keeps borrowed until every runner has counted the latch down;
        // the caller guarantees no other thread writes (or reads) this slot meanwhile.
        // The slot holds `None` (from `Stage::run`), so overwriting it leaks nothing.
        unsafe { self.base.add(index).write(Some(r)) };
    }
}

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
    locals: Mutex<Vec<Local>>,
    slots: Slots<R>,
    /// Runners started (and not handed back): at most `runners`.
    seats: AtomicUsize,
    /// Adaptive claims with nothing to account per item (no task spans, item or work
    /// cap, or stall watch): items then run through `run_plain`.
    plain: bool,
    run: &'a RunShared,
    stage: u32,
}

impl<T, R, F> ItemStage<'_, T, R, F>
where
    T: Sync,
    R: Send,
    F: Fn(&mut TaskCtx<'_>, &T) -> Outcome<R> + Sync,
{
    /// Records the span of item `index` (start position `pos`), begun at `began`
    /// and ending now.
    fn push_span(
        &self,
        local: &mut Local,
        (index, pos): (usize, usize),
        worker: Option<usize>,
        began: Instant,
        end: SpanEnd,
    ) {
        local.spans.push(TaskSpan {
            stage: self.stage,
            item: index as u32,
            seq: pos as u32,
            worker: worker.map(|w| w as u32),
            start_ns: self.run.since_start(began),
            end_ns: self.run.since_start(Instant::now()),
            end,
        });
    }

    /// Takes a runner's seat if one is free.
    fn take_seat(&self) -> bool {
        self.seats
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |s| {
                (s < self.runners).then_some(s + 1)
            })
            .is_ok()
    }

    /// Claims and runs items until the cursor runs out or the run stops, then hands
    /// its telemetry over.
    ///
    /// `hand_back` is when the calling thread started its own share and its grace: it
    /// stops claiming, and returns `true`, when a worker runner it counted on has not
    /// started within the grace and items remain.
    fn runner(
        &self,
        worker: Option<usize>,
        hand_back: Option<(Instant, std::time::Duration)>,
    ) -> bool {
        let mut handed_back = false;
        let mut local = Local::default();
        let n = self.items.len();
        let mut claim = self.grain.unwrap_or(1);
        // When the current adaptive claim began: the end of the previous one, so a
        // claim costs one clock read.
        let mut mark = self.grain.is_none().then(Instant::now);
        loop {
            if self.stop.load(Ordering::Relaxed) || !self.run.may_start() {
                break;
            }
            let first = self.cursor.fetch_add(claim, Ordering::Relaxed);
            if first >= n {
                break;
            }
            let last = (first + claim).min(n);
            let ran = self.run_claim(first..last, worker, &mut local);
            if ran < last - first {
                break;
            }
            if let Some(began) = mark {
                let now = Instant::now();
                claim = self.next_claim(last - first, now - began, n - last);
                mark = Some(now);
            }
            if let Some((t0, grace)) = hand_back {
                if self.seats.load(Ordering::Relaxed) < self.runners
                    && self.cursor.load(Ordering::Relaxed) < n
                    && t0.elapsed() >= grace
                {
                    // Gives the seat up for the job that replaces this share.
                    self.seats.fetch_sub(1, Ordering::Relaxed);
                    handed_back = true;
                    break;
                }
            }
        }
        if self.plain {
            let c = &mut local.counts;
            c.done = c.started - c.cancelled - c.over_budget - c.failed;
        }
        self.locals
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(local);
        handed_back
    }

    /// Runs the claimed positions `claim` in order; returns how many it ran (fewer
    /// when the run stopped or an item panicked). One `catch_unwind` covers the
    /// claim: a panic ends it, is recorded against the item that raised it, and stops
    /// the stage.
    fn run_claim(
        &self,
        claim: std::ops::Range<usize>,
        worker: Option<usize>,
        local: &mut Local,
    ) -> usize {
        let first = claim.start;
        // The position running now: read after a panic to name its item.
        let mut at = first;
        // When the running item started, where task spans are recorded.
        let mut began = None;
        let result = catch_unwind(AssertUnwindSafe(|| {
            if self.plain {
                self.run_plain(claim.clone(), &mut at, worker, local);
                return;
            }
            for pos in claim.clone() {
                at = pos;
                if pos > first && !self.go_on() {
                    return;
                }
                began = self.run.record_spans.then(Instant::now);
                self.run_one(pos, began, worker, local);
            }
            at = claim.end;
        }));
        if self.plain {
            // `run_plain` counts only the rare outcomes; `done` is derived from
            // `started` when the runner hands its counts over.
            local.counts.started += (at - first) as u64 + u64::from(result.is_err());
        }
        if let Err(payload) = result {
            let index = self.order.map_or(at, |o| o[at] as usize);
            local.counts.failed += 1;
            self.stop.store(true, Ordering::Relaxed);
            let mut slot = self.panic.lock().unwrap_or_else(PoisonError::into_inner);
            if slot.is_none() {
                *slot = Some(PanicRecord {
                    task: format!("item {index}"),
                    message: panic_message(payload.as_ref()),
                });
            }
            // The span of the failed item (the others of the claim recorded theirs).
            if let Some(began) = began {
                self.push_span(local, (index, at), worker, began, SpanEnd::Failed);
            }
        }
        at - first
    }

    /// Whether the next item of a claim may start: a fixed grain's items may be long,
    /// so each passes the full check; adaptive claims read the `halted` flag (and
    /// reserve an item under an item cap).
    #[inline]
    fn go_on(&self) -> bool {
        !self.stop.load(Ordering::Relaxed)
            && match self.grain {
                Some(_) => self.run.may_start(),
                None => self.run.may_continue(),
            }
    }

    /// The next adaptive claim after `items` took `took`: about [`CLAIM_NS`] of work
    /// at that rate, at least one item and at most this runner's share of half of
    /// what is left (so the runners finish together). `left` is what was left after
    /// this runner's claim: at most what is left now (other runners claim too), read
    /// without touching the cursor's cache line again.
    fn next_claim(&self, items: usize, took: std::time::Duration, left: usize) -> usize {
        // In u64: a u128 division is a library call of about 50 ns, paid per claim.
        let took = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        if took >= CLAIM_NS {
            // Items of about `CLAIM_NS` or more (tiles): one at a time, in order.
            return 1;
        }
        let per_item = (took / items.max(1) as u64).max(1);
        let want = usize::try_from(CLAIM_NS / per_item).unwrap_or(usize::MAX);
        want.min(left / (2 * self.runners)).max(1)
    }

    /// The items of one claim of a plain stage (see `ItemStage::plain`): the same
    /// outcomes as [`run_one`](Self::run_one), without the checks that cannot apply,
    /// and with the stage's fields in registers (the atomics in `self` would otherwise
    /// make the compiler reload every field for every item). Sets `at` to the position
    /// running (on return: the first not run). Counts only the rare outcomes:
    /// `started` and `done` are counted by the caller.
    #[inline]
    fn run_plain(
        &self,
        claim: std::ops::Range<usize>,
        at: &mut usize,
        worker: Option<usize>,
        local: &mut Local,
    ) {
        let (items, order, f, slots) = (self.items, self.order, self.f, &self.slots);
        let (stop, halted) = (&self.stop, &self.run.halted);
        let first = claim.start;
        for pos in claim.clone() {
            if pos > first && (stop.load(Ordering::Relaxed) || halted.load(Ordering::Relaxed)) {
                *at = pos;
                return;
            }
            *at = pos;
            let index = order.map_or(pos, |o| o[pos] as usize);
            let mut ctx = TaskCtx::new(self.run, &mut local.counters, worker, index);
            match f(&mut ctx, &items[index]) {
                Outcome::Done(r) => {
                    // SAFETY: as in `run_one`.
                    unsafe { slots.put(index, r) };
                }
                Outcome::Cancelled => local.counts.cancelled += 1,
                Outcome::OverBudget => local.counts.over_budget += 1,
            }
        }
        *at = claim.end;
    }

    #[inline]
    fn run_one(
        &self,
        pos: usize,
        started: Option<Instant>,
        worker: Option<usize>,
        local: &mut Local,
    ) {
        let index = self.order.map_or(pos, |o| o[pos] as usize);
        local.counts.started += 1;
        let mut ctx = TaskCtx::new(self.run, &mut local.counters, worker, index);
        let result = (self.f)(&mut ctx, &self.items[index]);
        let work = ctx.work;
        self.run.add_work(work);
        let end = match result {
            Outcome::Done(r) => {
                // SAFETY: positions are claimed once each (disjoint `fetch_add` ranges
                // of the cursor) and the start order is a permutation (checked in
                // `Stage::run`), so this is the only write of slot `index`; runners
                // all finish before `Stage::run` reads `results`.
                unsafe { self.slots.put(index, r) };
                local.counts.done += 1;
                self.run.note_progress();
                SpanEnd::Done
            }
            Outcome::Cancelled => {
                local.counts.cancelled += 1;
                SpanEnd::Cancelled
            }
            Outcome::OverBudget => {
                local.counts.over_budget += 1;
                SpanEnd::OverBudget
            }
        };
        if let Some(started) = started {
            self.push_span(local, (index, pos), worker, started, end);
        }
    }
}
