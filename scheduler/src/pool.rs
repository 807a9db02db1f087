//! The worker pool: named threads, one crossbeam-deque [`Worker`] each (LIFO for the
//! owner), FIFO stealing from the others, and a global [`Injector`] for work that
//! arrives from outside the pool.
//!
//! Idle workers spin for a short, bounded time (so a frame that arrives a few
//! microseconds later finds them awake), then park on a condition variable. They
//! never burn a core while there is no work.

use std::cell::Cell;
use std::num::NonZeroUsize;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossbeam_deque::{Injector, Steal, Stealer, Worker};

use crate::budget::Watchdog;

/// The environment variable that overrides the default worker count.
pub const THREADS_ENV: &str = "GRIN_THREADS";

/// A unit of work as the pool sees it. Every job the scheduler creates catches the
/// panics of user code itself, so a job never unwinds into the worker loop.
pub(crate) type Job = ScopedJob<'static>;

/// A job that may borrow for `'a` (see [`crate::latch::run_scoped`]).
pub(crate) type ScopedJob<'a> = Box<dyn FnOnce(&WorkerCtx<'_>) + Send + 'a>;

/// Errors from building a [`Pool`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PoolError {
    /// `GRIN_THREADS` (or the configured count) is not a positive integer.
    #[error("{THREADS_ENV}={value:?} is not a positive thread count")]
    InvalidThreads {
        /// The value as given.
        value: String,
    },
    /// More threads than [`max_threads`] allows.
    #[error(
        "{requested} threads asked for; at most {max} ({MAX_THREADS_PER_CORE} per core on this machine)"
    )]
    TooManyThreads {
        /// The count asked for.
        requested: usize,
        /// The limit.
        max: usize,
    },
    /// The operating system refused to start a thread.
    #[error("could not start worker thread {index}: {source}")]
    Spawn {
        /// Index of the worker that failed to start.
        index: usize,
        /// The operating system's error.
        source: std::io::Error,
    },
}

/// How to build a [`Pool`].
#[derive(Debug, Clone)]
pub struct PoolConfig {
    /// Number of worker threads. `None` means [`GRIN_THREADS`](THREADS_ENV) if set,
    /// else [`std::thread::available_parallelism`].
    pub threads: Option<NonZeroUsize>,
    /// How long an idle worker keeps looking for work before it parks. Longer spins
    /// cut the hand-off latency of frames that arrive back to back, at the price of
    /// CPU time after the last one.
    pub spin: Duration,
    /// Prefix of the worker thread names (`{prefix}-{index}`).
    pub name: String,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            threads: None,
            spin: Duration::from_micros(50),
            name: "grin-worker".to_owned(),
        }
    }
}

impl PoolConfig {
    /// A configuration with exactly `n` workers (at least one).
    #[must_use]
    pub fn with_threads(n: usize) -> Self {
        Self {
            threads: NonZeroUsize::new(n.max(1)),
            ..Self::default()
        }
    }

    /// The worker count this configuration resolves to: the explicit count, else
    /// `GRIN_THREADS`, else the machine's available parallelism.
    ///
    /// # Errors
    /// [`PoolError::InvalidThreads`] when `GRIN_THREADS` is set but is not a positive
    /// integer; [`PoolError::TooManyThreads`] above [`max_threads`].
    pub fn resolve_threads(&self) -> Result<usize, PoolError> {
        let n = match self.threads {
            Some(n) => n.get(),
            None => parse_threads(std::env::var(THREADS_ENV).ok())?,
        };
        let max = max_threads();
        if n > max {
            return Err(PoolError::TooManyThreads { requested: n, max });
        }
        Ok(n)
    }
}

/// Worker threads a pool may have per core of the machine: more only adds
/// switching (and an absurd count would exhaust memory starting them).
pub const MAX_THREADS_PER_CORE: usize = 4;

/// The most worker threads one pool may have: [`MAX_THREADS_PER_CORE`] times the
/// machine's available parallelism, and never fewer than [`MIN_THREAD_LIMIT`].
#[must_use]
pub fn max_threads() -> usize {
    (MAX_THREADS_PER_CORE * thread::available_parallelism().map_or(1, NonZeroUsize::get))
        .max(MIN_THREAD_LIMIT)
}

/// The thread limit on small machines (tests and hosts may ask for a few more
/// threads than cores).
pub const MIN_THREAD_LIMIT: usize = 64;

/// The worker count for a `GRIN_THREADS` value (`None`: unset).
fn parse_threads(value: Option<String>) -> Result<usize, PoolError> {
    match value {
        Some(value) => match value.trim().parse::<usize>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(PoolError::InvalidThreads { value }),
        },
        None => Ok(thread::available_parallelism().map_or(1, NonZeroUsize::get)),
    }
}

/// A fixed set of worker threads that run the tasks of [`Graph`](crate::Graph)
/// stages.
///
/// Dropping the pool stops and joins its threads (after the jobs already queued).
/// Share one pool between several graphs with an [`Arc`].
///
/// ```
/// use scheduler::{Pool, PoolConfig};
/// let pool = Pool::new(PoolConfig::with_threads(2)).unwrap();
/// assert_eq!(pool.threads(), 2);
/// ```
#[derive(Debug)]
pub struct Pool {
    shared: Arc<Shared>,
    handles: Vec<JoinHandle<()>>,
}

static NEXT_POOL_ID: AtomicUsize = AtomicUsize::new(1);

thread_local! {
    /// `(pool id, worker index)` of the pool worker this thread is, if any (index
    /// `threads()`: a frame's own thread running its share of a stage).
    static CURRENT: Cell<Option<(usize, usize)>> = const { Cell::new(None) };
}

pub(crate) struct Shared {
    id: usize,
    injector: Injector<Job>,
    stealers: Box<[Stealer<Job>]>,
    sleep: Sleep,
    shutdown: AtomicBool,
    spin: Duration,
    pub(crate) watchdog: Watchdog,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("id", &self.id)
            .field("threads", &self.stealers.len())
            .finish_non_exhaustive()
    }
}

/// What a job sees of the worker that runs it.
pub(crate) struct WorkerCtx<'w> {
    pub(crate) index: usize,
    local: &'w Worker<Job>,
    shared: &'w Shared,
}

impl WorkerCtx<'_> {
    /// Pushes a job onto this worker's own deque (it runs next here, unless another
    /// worker steals it first) and wakes a sleeper to steal if one is parked.
    pub(crate) fn push_local(&self, job: Job) {
        self.local.push(job);
        self.shared.sleep.notify(1);
    }
}

impl Pool {
    /// Starts the worker threads.
    ///
    /// # Errors
    /// [`PoolError::InvalidThreads`] for a bad `GRIN_THREADS`, [`PoolError::Spawn`]
    /// when a thread cannot be started (the ones already started are joined).
    pub fn new(config: PoolConfig) -> Result<Self, PoolError> {
        let threads = config.resolve_threads()?;
        let workers: Vec<Worker<Job>> = (0..threads).map(|_| Worker::new_lifo()).collect();
        let stealers = workers.iter().map(Worker::stealer).collect();
        let shared = Arc::new(Shared {
            id: NEXT_POOL_ID.fetch_add(1, Ordering::Relaxed),
            injector: Injector::new(),
            stealers,
            sleep: Sleep::default(),
            shutdown: AtomicBool::new(false),
            spin: config.spin,
            watchdog: Watchdog::start(),
        });
        let mut pool = Self {
            shared: Arc::clone(&shared),
            handles: Vec::with_capacity(threads),
        };
        for (index, local) in workers.into_iter().enumerate() {
            let shared = Arc::clone(&shared);
            let spawned = thread::Builder::new()
                .name(format!("{}-{index}", config.name))
                .spawn(move || worker_loop(&shared, index, &local));
            match spawned {
                Ok(handle) => pool.handles.push(handle),
                // Dropping `pool` joins the workers started so far.
                Err(source) => return Err(PoolError::Spawn { index, source }),
            }
        }
        Ok(pool)
    }

    /// A pool configured from the environment (`GRIN_THREADS`) and defaults.
    ///
    /// # Errors
    /// As [`Pool::new`].
    pub fn from_env() -> Result<Self, PoolError> {
        Self::new(PoolConfig::default())
    }

    /// Number of worker threads.
    #[must_use]
    pub fn threads(&self) -> usize {
        self.shared.stealers.len()
    }

    /// Whether the calling thread is one of this pool's workers, or is running a
    /// stage's tasks beside them (the thread that runs a frame takes a share of each
    /// parallel stage).
    #[must_use]
    pub fn is_worker_thread(&self) -> bool {
        CURRENT.with(|c| c.get().is_some_and(|(id, _)| id == self.shared.id))
    }

    pub(crate) fn shared(&self) -> &Shared {
        &self.shared
    }

    /// Runs `f` on the calling thread as a member of this pool: meanwhile
    /// [`is_worker_thread`](Self::is_worker_thread) is true there, so a task that the
    /// caller runs for a stage is refused a nested run exactly as on a worker.
    pub(crate) fn as_member<T>(&self, f: impl FnOnce() -> T) -> T {
        /// Restores the thread's previous membership, also when `f` unwinds.
        struct Restore(Option<(usize, usize)>);
        impl Drop for Restore {
            fn drop(&mut self) {
                CURRENT.with(|c| c.set(self.0));
            }
        }
        let _restore = Restore(CURRENT.with(|c| c.replace(Some((self.shared.id, self.threads())))));
        f()
    }

    /// Workers now in their spin phase: they take new jobs without being woken.
    pub(crate) fn spinning(&self) -> usize {
        self.shared.sleep.spinning.load(Ordering::SeqCst)
    }

    pub(crate) fn spin(&self) -> Duration {
        self.shared.spin
    }

    /// Queues jobs on the global injector and wakes as many workers as there are jobs.
    pub(crate) fn inject(&self, jobs: impl IntoIterator<Item = Job>) {
        let mut n = 0;
        for job in jobs {
            self.shared.injector.push(job);
            n += 1;
        }
        if n > 0 {
            self.shared.sleep.notify(n);
        }
    }

    /// Queues one job and wakes a parked worker for it even if others are spinning:
    /// for a job that the spinning workers cannot be relied on to take (see
    /// `HELPER_GRACE` in the item stages).
    pub(crate) fn inject_waking(&self, job: Job) {
        self.shared.injector.push(job);
        self.shared.sleep.wake_sleeper();
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, Ordering::SeqCst);
        self.shared.sleep.notify_all();
        for handle in self.handles.drain(..) {
            // A worker never unwinds (jobs catch their panics), so join cannot fail in
            // practice; if it does there is nothing left to clean up.
            let _ = handle.join();
        }
        self.shared.watchdog.stop();
    }
}

fn worker_loop(shared: &Shared, index: usize, local: &Worker<Job>) {
    CURRENT.with(|c| c.set(Some((shared.id, index))));
    let ctx = WorkerCtx {
        index,
        local,
        shared,
    };
    loop {
        if let Some(job) = find_job(shared, index, local) {
            run_job(job, &ctx);
            continue;
        }
        // Spin: a short, bounded look for work before parking. While this worker is
        // counted as spinning, pushers leave the sleepers asleep.
        let epoch = shared.sleep.epoch();
        shared.sleep.spinning.fetch_add(1, Ordering::SeqCst);
        let started = Instant::now();
        let mut round = 0u32;
        let mut found = None;
        while found.is_none() && !shared.shutdown.load(Ordering::Acquire) {
            if round < 6 {
                for _ in 0..(1 << round) {
                    std::hint::spin_loop();
                }
            } else {
                thread::yield_now();
            }
            round += 1;
            found = find_job(shared, index, local);
            if round.is_multiple_of(8) && started.elapsed() >= shared.spin {
                break;
            }
        }
        // Before `sleep` counts this worker as a sleeper (see `Sleep`).
        shared.sleep.spinning.fetch_sub(1, Ordering::SeqCst);
        if let Some(job) = found {
            run_job(job, &ctx);
            continue;
        }
        if shared.shutdown.load(Ordering::Acquire) {
            // Finish what is still queued, then leave.
            while let Some(job) = find_job(shared, index, local) {
                run_job(job, &ctx);
            }
            return;
        }
        shared.sleep.sleep(epoch, &shared.shutdown);
    }
}

fn run_job(job: Job, ctx: &WorkerCtx<'_>) {
    // Jobs built by this crate catch user panics themselves; a panic here is a bug in
    // the scheduler and would leave a barrier waiting forever, so fail loudly.
    if catch_unwind(AssertUnwindSafe(|| job(ctx))).is_err() {
        eprintln!("grin scheduler: internal job panicked; aborting");
        std::process::abort();
    }
}

fn find_job(shared: &Shared, index: usize, local: &Worker<Job>) -> Option<Job> {
    if let Some(job) = local.pop() {
        return Some(job);
    }
    let n = shared.stealers.len();
    loop {
        let mut retry = false;
        match shared.injector.steal_batch_and_pop(local) {
            Steal::Success(job) => return Some(job),
            Steal::Retry => retry = true,
            Steal::Empty => {}
        }
        for k in 1..n {
            match shared.stealers[(index + k) % n].steal() {
                Steal::Success(job) => return Some(job),
                Steal::Retry => retry = true,
                Steal::Empty => {}
            }
        }
        if !retry {
            return None;
        }
    }
}

/// Parking for idle workers without lost wake-ups: a pusher bumps `epoch` and then
/// reads `spinning` and `sleepers`; a worker reads `epoch` before it starts spinning,
/// stops counting itself as spinning, then bumps `sleepers` and re-reads `epoch`
/// under the lock before it waits. With sequentially consistent operations, either
/// the worker sees the new epoch (and looks for work again instead of waiting) or the
/// pusher sees it as a sleeper (and wakes it).
///
/// A pusher wakes sleepers only for the jobs that the spinning workers will not take:
/// without that, every frame woke a parked worker that a spinning one then beat to the
/// job, and on a 2-core machine the woken worker's 50 us of spinning competed with the
/// two threads doing the work.
#[derive(Default)]
struct Sleep {
    lock: Mutex<()>,
    cvar: Condvar,
    sleepers: AtomicUsize,
    /// Workers in their spin phase (looking for work, not yet parked).
    spinning: AtomicUsize,
    epoch: AtomicU64,
}

impl Sleep {
    fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }

    /// `jobs` new jobs were pushed: wakes sleepers for those that the spinning
    /// workers will not take.
    fn notify(&self, jobs: usize) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        let wake = jobs.saturating_sub(self.spinning.load(Ordering::SeqCst));
        if wake > 0 && self.sleepers.load(Ordering::SeqCst) > 0 {
            let _guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
            if wake == 1 {
                self.cvar.notify_one();
            } else {
                self.cvar.notify_all();
            }
        }
    }

    /// Wakes one parked worker, if any (after bumping the epoch, as `notify`).
    fn wake_sleeper(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        if self.sleepers.load(Ordering::SeqCst) > 0 {
            let _guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
            self.cvar.notify_one();
        }
    }

    fn notify_all(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        let _guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        self.cvar.notify_all();
    }

    fn sleep(&self, seen_epoch: u64, shutdown: &AtomicBool) {
        let guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        self.sleepers.fetch_add(1, Ordering::SeqCst);
        let guard = if self.epoch.load(Ordering::SeqCst) == seen_epoch
            && !shutdown.load(Ordering::SeqCst)
        {
            self.cvar
                .wait(guard)
                .unwrap_or_else(PoisonError::into_inner)
        } else {
            guard
        };
        self.sleepers.fetch_sub(1, Ordering::SeqCst);
        drop(guard);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    #[test]
    fn threads_are_named_and_counted() {
        let pool = Pool::new(PoolConfig::with_threads(3)).unwrap();
        assert_eq!(pool.threads(), 3);
        let (tx, rx) = mpsc::channel();
        pool.inject((0..3).map(|_| {
            let tx = tx.clone();
            Box::new(move |_: &WorkerCtx<'_>| {
                let name = thread::current().name().unwrap_or("").to_owned();
                tx.send(name).unwrap();
            }) as Job
        }));
        let mut names: Vec<String> = (0..3).map(|_| rx.recv().unwrap()).collect();
        names.sort();
        assert!(
            names.iter().all(|n| n.starts_with("grin-worker-")),
            "{names:?}"
        );
    }

    #[test]
    fn idle_workers_park() {
        let pool = Pool::new(PoolConfig::with_threads(2)).unwrap();
        // Give the workers time to pass their spin and park.
        let deadline = Instant::now() + Duration::from_secs(5);
        while pool.shared.sleep.sleepers.load(Ordering::SeqCst) < 2 {
            assert!(Instant::now() < deadline, "workers never parked");
            thread::sleep(Duration::from_millis(1));
        }
        // A parked pool still runs work.
        let (tx, rx) = mpsc::channel();
        pool.inject([Box::new(move |_: &WorkerCtx<'_>| tx.send(7).unwrap()) as Job]);
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)).unwrap(), 7);
    }

    #[test]
    fn grin_threads_values() {
        assert_eq!(parse_threads(Some("3".into())).unwrap(), 3);
        assert_eq!(parse_threads(Some(" 8 ".into())).unwrap(), 8);
        for bad in ["0", "-1", "two", ""] {
            let err = parse_threads(Some(bad.into())).unwrap_err();
            assert!(err.to_string().contains("GRIN_THREADS"), "{err}");
        }
        assert!(parse_threads(None).unwrap() >= 1);
    }

    #[test]
    fn bad_thread_count_is_an_error() {
        let config = PoolConfig::default();
        // Only the explicit path is exercised here: tests share the environment.
        assert_eq!(
            PoolConfig::with_threads(0).resolve_threads().unwrap(),
            1,
            "zero is clamped to one"
        );
        assert!(config.resolve_threads().unwrap() >= 1);
    }

    #[test]
    fn drop_joins_after_queued_work() {
        let done = Arc::new(AtomicUsize::new(0));
        {
            let pool = Pool::new(PoolConfig::with_threads(2)).unwrap();
            pool.inject((0..100).map(|_| {
                let done = Arc::clone(&done);
                Box::new(move |_: &WorkerCtx<'_>| {
                    done.fetch_add(1, Ordering::SeqCst);
                }) as Job
            }));
        }
        assert_eq!(done.load(Ordering::SeqCst), 100);
    }
}
