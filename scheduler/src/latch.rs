//! A counting latch for barriers: the waiting thread spins (yielding) for a short,
//! bounded time, then parks until the last task counts down.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use crate::pool::{Job, Pool, ScopedJob};

/// Counts down to zero; the thread that made it waits for zero.
#[derive(Debug)]
pub(crate) struct CountLatch {
    remaining: AtomicUsize,
    waiter: Thread,
}

impl CountLatch {
    /// A latch for `n` count-downs, waited on by the current thread.
    pub(crate) fn new(n: usize) -> Arc<Self> {
        Arc::new(Self {
            remaining: AtomicUsize::new(n),
            waiter: thread::current(),
        })
    }

    /// Counts down once; the last count-down wakes the waiter. Callers hold their own
    /// `Arc` to the latch, since the waiter may return (and free what the task
    /// borrowed) as soon as the count reaches zero.
    pub(crate) fn count_down(self: &Arc<Self>) {
        if self.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.waiter.unpark();
        }
    }

    /// Expects one more count-down (a job added after the latch was made). Only the
    /// waiter calls it, before it waits.
    pub(crate) fn add_one(&self) {
        self.remaining.fetch_add(1, Ordering::AcqRel);
    }

    pub(crate) fn is_open(&self) -> bool {
        self.remaining.load(Ordering::Acquire) == 0
    }

    /// Waits until the count is zero: a bounded spin, then parking.
    pub(crate) fn wait(&self, spin: Duration) {
        debug_assert_eq!(thread::current().id(), self.waiter.id());
        let started = Instant::now();
        let mut round = 0u32;
        while !self.is_open() {
            if round < 32 {
                std::hint::spin_loop();
            } else {
                // Yield rather than spin hard: the workers may need this core.
                thread::yield_now();
                if round.is_multiple_of(16) && started.elapsed() >= spin {
                    break;
                }
            }
            round += 1;
        }
        while !self.is_open() {
            thread::park();
        }
    }
}

/// Runs borrowed jobs on the pool, runs `here` on the calling thread meanwhile, runs
/// the job `here` may return on the pool too, and blocks until all of the jobs have
/// finished.
///
/// This is the crate's one lifetime erasure: the jobs may borrow from the caller's
/// stack (the stage's items, its closure, its result slots) because this function does
/// not return, and does not unwind, before `latch` has been counted down once per job.
/// Each job must count the latch down exactly once, as its last action, through its
/// own `Arc` of the latch. A panic of `here` is re-raised only after that wait.
pub(crate) fn run_scoped<'a>(
    pool: &Pool,
    latch: &Arc<CountLatch>,
    jobs: Vec<ScopedJob<'a>>,
    here: impl FnOnce() -> Option<ScopedJob<'a>>,
) {
    // Why each `erase` below is sound:
    // [1] Both types are `Box<dyn FnOnce(&WorkerCtx) + Send>` and differ only in the
    //     lifetime bound, which has no effect on layout.
    // [2] Every job counts `latch` down once as its last action (a job that `here`
    //     returns is counted in with `add_one` before it is queued), and the jobs
    //     catch user panics, so each job either has finished touching its borrows or
    //     (for a bug) aborts the process; it never unwinds past the count-down.
    // [3] The wait below runs before this function returns and cannot be skipped:
    //     `here` runs inside `catch_unwind` (its panic is re-raised after the wait),
    //     and an unwinding wait aborts.
    // So no job can use an `'a` borrow after `'a` ends.
    let erased: Vec<Job> = jobs
        .into_iter()
        // SAFETY: [1]-[3] above: the job counts the latch down last, and this
        // function waits for the latch before it returns.
        .map(|job| unsafe { erase(job) })
        .collect();
    pool.inject(erased);
    let here = match catch_unwind(AssertUnwindSafe(here)) {
        Ok(Some(job)) => {
            latch.add_one();
            // SAFETY: [1]-[3] above (counted in by `add_one` first). A parked worker
            // is woken for it explicitly: `here` hands a job back when the spinning
            // workers did not take theirs.
            pool.inject_waking(unsafe { erase(job) });
            Ok(())
        }
        Ok(None) => Ok(()),
        Err(payload) => Err(payload),
    };
    if catch_unwind(AssertUnwindSafe(|| latch.wait(pool.spin()))).is_err() {
        eprintln!("grin scheduler: barrier wait panicked; aborting");
        std::process::abort();
    }
    if let Err(payload) = here {
        std::panic::resume_unwind(payload);
    }
}

/// Forgets the lifetime bound of a job.
///
/// # Safety
/// The job must not outlive `'a`: the caller must wait for it to finish before any
/// borrow it holds ends (see [`run_scoped`]).
pub(crate) unsafe fn erase<'a>(job: ScopedJob<'a>) -> Job {
    // SAFETY: Same layout, only the lifetime bound differs; the caller guarantees the
    // job finishes within `'a`.
    unsafe { std::mem::transmute::<ScopedJob<'a>, Job>(job) }
}
