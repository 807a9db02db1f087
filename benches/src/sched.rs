//! Scheduler workloads and the contenders they are run on: Grin's graph, rayon
//! (`par_iter` and `scope`), a `Mutex<VecDeque>` global queue, and static partitioning.
//! Shared by the criterion bench (`benches/scheduler.rs`) and `compare -- scheduler`.

use std::collections::VecDeque;
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use rayon::prelude::*;
use scheduler::order::{Order, enumerate};
use scheduler::telemetry::Level;
use scheduler::{Budget, CancelReason, CancelToken, Graph, GraphConfig, Outcome, Pool, PoolConfig};

/// Busy work of about `units` nanoseconds-ish (a dependent multiply-add chain, so the
/// optimiser cannot remove it).
#[inline]
pub fn burn(units: u64) -> u64 {
    let mut x = black_box(units) | 1;
    for _ in 0..units {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
    }
    black_box(x)
}

/// Burn units per microsecond on this machine, measured once.
#[must_use]
pub fn units_per_us() -> f64 {
    let n = 2_000_000;
    let t = Instant::now();
    burn(n);
    n as f64 / (t.elapsed().as_secs_f64() * 1e6)
}

/// A skewed tile load: `cols` x `rows` tiles whose cost varies 100x, heaviest around
/// a blob centred at (`cx`, `cy`) (fractions of the image).
#[derive(Debug, Clone)]
pub struct SkewedLoad {
    /// Grid width in tiles.
    pub cols: u32,
    /// Grid height in tiles.
    pub rows: u32,
    /// Cost of each tile in burn units, scanline order.
    pub cost: Vec<u64>,
}

impl SkewedLoad {
    /// Tiles cost `light` units far from the blob and up to 100x that at its centre.
    #[must_use]
    pub fn new(cols: u32, rows: u32, cx: f64, cy: f64, light: u64) -> Self {
        let cost = (0..cols * rows)
            .map(|i| {
                let x = (f64::from(i % cols) + 0.5) / f64::from(cols) - cx;
                let y = (f64::from(i / cols) + 0.5) / f64::from(rows) - cy;
                let heavy = (-(x * x + y * y) / (2.0 * 0.12 * 0.12)).exp();
                (light as f64 * (1.0 + 99.0 * heavy)) as u64
            })
            .collect();
        Self { cols, rows, cost }
    }

    /// The tile start sequence for `order` (computed once, outside timed regions).
    #[must_use]
    pub fn sequence(&self, order: Order) -> Vec<u32> {
        enumerate(self.cols, self.rows, order)
    }

    /// Total work in units.
    #[must_use]
    pub fn total(&self) -> u64 {
        self.cost.iter().sum()
    }
}

/// Grin's scheduler set up for benchmarks.
#[derive(Debug)]
pub struct Grin {
    /// The graph (on its own pool).
    pub graph: Graph,
}

impl Grin {
    /// A graph on `threads` workers recording `level` telemetry.
    #[must_use]
    pub fn new(threads: usize, level: Level) -> Self {
        let pool = Arc::new(Pool::new(PoolConfig::with_threads(threads)).expect("pool"));
        let mut config = GraphConfig::named("bench");
        config.telemetry = level;
        Self {
            graph: Graph::new(pool, config),
        }
    }

    /// One frame with one parallel stage of `n` empty items.
    pub fn empty_stage(&self, items: &[u32]) {
        self.graph
            .run(&CancelToken::new(), Budget::unlimited(), |frame| {
                frame
                    .stage("empty")
                    .run(items, |_, &i| Outcome::Done(black_box(i)));
            })
            .expect("run");
    }

    /// One frame with two parallel stages of `items` each.
    pub fn two_stages(&self, items: &[u32]) {
        self.graph
            .run(&CancelToken::new(), Budget::unlimited(), |frame| {
                frame
                    .stage("a")
                    .run(items, |_, &i| Outcome::Done(black_box(i)));
                frame
                    .stage("b")
                    .run(items, |_, &i| Outcome::Done(black_box(i)));
            })
            .expect("run");
    }

    /// One frame with one parallel stage of empty items claimed `grain` at a time.
    pub fn empty_stage_grain(&self, items: &[u32], grain: usize) {
        self.graph
            .run(&CancelToken::new(), Budget::unlimited(), |frame| {
                frame
                    .stage("empty")
                    .grain(grain)
                    .run(items, |_, &i| Outcome::Done(black_box(i)));
            })
            .expect("run");
    }

    /// The skewed load, tiles started in `sequence` (from
    /// [`SkewedLoad::sequence`]).
    pub fn skewed(&self, load: &SkewedLoad, sequence: &[u32]) -> u64 {
        let tiles: Vec<u32> = (0..load.cost.len() as u32).collect();
        self.graph
            .run(&CancelToken::new(), Budget::unlimited(), |frame| {
                let out = frame
                    .stage("tiles")
                    .start_order(sequence)
                    .run(&tiles, |_, &t| Outcome::Done(burn(load.cost[t as usize])));
                out.results.into_iter().flatten().fold(0, u64::wrapping_add)
            })
            .expect("run")
            .value
    }

    /// Runs `n` items of `item_us` each, cancels after `after`, and returns the time
    /// from `cancel()` to the run returning.
    pub fn cancel_latency(&self, n: usize, item_units: u64, after: Duration) -> Duration {
        let token = CancelToken::new();
        let items: Vec<u32> = (0..n as u32).collect();
        let cancelled_at = Mutex::new(None);
        thread::scope(|s| {
            s.spawn(|| {
                thread::sleep(after);
                *cancelled_at.lock().unwrap_or_else(PoisonError::into_inner) = Some(Instant::now());
                token.cancel(CancelReason::Requested("bench".into()));
            });
            self.graph
                .run(&token, Budget::unlimited(), |frame| {
                    frame.stage("long").run(&items, |ctx, &i| {
                        if let Some(stop) = ctx.interrupted() {
                            return stop.into();
                        }
                        Outcome::Done(burn(item_units) ^ u64::from(i))
                    });
                })
                .expect("run");
            let returned = Instant::now();
            // The canceller may not have run yet if all items finished first.
            let at = cancelled_at
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .unwrap_or(returned);
            returned.saturating_duration_since(at)
        })
    }
}

/// rayon with its own pool of `threads`.
#[derive(Debug)]
pub struct Rayon {
    /// The pool.
    pub pool: rayon::ThreadPool,
}

impl Rayon {
    /// A rayon pool of `threads`.
    #[must_use]
    pub fn new(threads: usize) -> Self {
        Self {
            pool: rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .expect("rayon pool"),
        }
    }

    /// One `par_iter` over empty items, entered from outside the pool.
    pub fn empty_par_iter(&self, items: &[u32]) {
        self.pool.install(|| {
            items.par_iter().for_each(|&i| {
                black_box(i);
            });
        });
    }

    /// One `scope` with a `spawn` per empty item.
    pub fn empty_scope(&self, items: &[u32]) {
        self.pool.scope(|s| {
            for &i in items {
                s.spawn(move |_| {
                    black_box(i);
                });
            }
        });
    }

    /// Two `par_iter`s inside one `install`.
    pub fn two_stages(&self, items: &[u32]) {
        self.pool.install(|| {
            items.par_iter().for_each(|&i| {
                black_box(i);
            });
            items.par_iter().for_each(|&i| {
                black_box(i);
            });
        });
    }

    /// The skewed load with `par_iter` in scanline order.
    pub fn skewed(&self, load: &SkewedLoad) -> u64 {
        self.pool.install(|| {
            load.cost
                .par_iter()
                .map(|&c| burn(c))
                .reduce(|| 0, u64::wrapping_add)
        })
    }

    /// Static partitioning: each of the pool's threads takes one contiguous, equal
    /// share of the tiles in scanline order (OpenMP `schedule(static)`).
    pub fn skewed_static(&self, load: &SkewedLoad) -> u64 {
        let n = load.cost.len();
        let threads = self.pool.current_num_threads();
        let parts = self.pool.broadcast(|ctx| {
            let lo = n * ctx.index() / threads;
            let hi = n * (ctx.index() + 1) / threads;
            load.cost[lo..hi]
                .iter()
                .map(|&c| burn(c))
                .fold(0, u64::wrapping_add)
        });
        parts.into_iter().fold(0, u64::wrapping_add)
    }

    /// rayon has no cancellation: the closest is a flag every item checks, while the
    /// iterator still walks the remaining items.
    pub fn cancel_latency(&self, n: usize, item_units: u64, after: Duration) -> Duration {
        let flag = AtomicBool::new(false);
        let cancelled_at = Mutex::new(None);
        thread::scope(|s| {
            s.spawn(|| {
                thread::sleep(after);
                *cancelled_at.lock().unwrap_or_else(PoisonError::into_inner) = Some(Instant::now());
                flag.store(true, Ordering::Release);
            });
            self.pool.install(|| {
                (0..n).into_par_iter().for_each(|i| {
                    if !flag.load(Ordering::Acquire) {
                        black_box(burn(item_units) ^ i as u64);
                    }
                });
            });
            let returned = Instant::now();
            let at = cancelled_at
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .unwrap_or(returned);
            returned.saturating_duration_since(at)
        })
    }
}

type QueueJob = Box<dyn FnOnce() + Send>;

/// The textbook pool: one `Mutex<VecDeque>` of boxed jobs shared by all workers.
#[derive(Debug)]
pub struct MutexQueue {
    shared: Arc<QueueShared>,
    handles: Vec<JoinHandle<()>>,
}

#[derive(Default)]
struct QueueShared {
    queue: Mutex<(VecDeque<QueueJob>, bool)>,
    ready: Condvar,
}

impl std::fmt::Debug for QueueShared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("QueueShared")
    }
}

impl MutexQueue {
    /// A pool of `threads` sharing one locked queue.
    #[must_use]
    pub fn new(threads: usize) -> Self {
        let shared = Arc::new(QueueShared::default());
        let handles = (0..threads)
            .map(|_| {
                let shared = Arc::clone(&shared);
                thread::spawn(move || {
                    loop {
                        let job = {
                            let mut q = shared.queue.lock().unwrap_or_else(PoisonError::into_inner);
                            loop {
                                if let Some(job) = q.0.pop_front() {
                                    break Some(job);
                                }
                                if q.1 {
                                    break None;
                                }
                                q = shared.ready.wait(q).unwrap_or_else(PoisonError::into_inner);
                            }
                        };
                        match job {
                            Some(job) => job(),
                            None => return,
                        }
                    }
                })
            })
            .collect();
        Self { shared, handles }
    }

    /// Runs `f(i)` for every `i` in `0..n` (one boxed job each) and waits.
    pub fn for_each(&self, n: usize, f: Arc<dyn Fn(usize) + Send + Sync>) {
        let remaining = Arc::new(AtomicUsize::new(n));
        let waiter = thread::current();
        {
            let mut q = self
                .shared
                .queue
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            for i in 0..n {
                let (f, remaining, waiter) =
                    (Arc::clone(&f), Arc::clone(&remaining), waiter.clone());
                q.0.push_back(Box::new(move || {
                    f(i);
                    if remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
                        waiter.unpark();
                    }
                }));
            }
        }
        self.shared.ready.notify_all();
        while remaining.load(Ordering::Acquire) > 0 {
            thread::park();
        }
    }

    /// The skewed load in scanline order.
    pub fn skewed(&self, load: &Arc<SkewedLoad>) {
        let load = Arc::clone(load);
        self.for_each(
            load.cost.len(),
            Arc::new(move |i| {
                black_box(burn(load.cost[i]));
            }),
        );
    }
}

impl Drop for MutexQueue {
    fn drop(&mut self) {
        self.shared
            .queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .1 = true;
        self.shared.ready.notify_all();
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }
}

/// Median of `samples` runs of `f`, each timed as a whole and divided by `per`.
pub fn median_of(samples: usize, per: u32, mut f: impl FnMut()) -> Duration {
    let mut times: Vec<Duration> = (0..samples)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed() / per
        })
        .collect();
    times.sort_unstable();
    times[times.len() / 2]
}
