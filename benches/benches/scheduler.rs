//! Criterion benchmarks of the scheduler against rayon, a `Mutex<VecDeque>` queue and
//! static partitioning. The same workloads feed `compare -- scheduler`, which writes
//! the ratios measured in one run to `benches/results/scheduler.json`.

use std::sync::Arc;
use std::time::Duration;

use benches::sched::{Grin, MutexQueue, Rayon, SkewedLoad, units_per_us};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use scheduler::order::Order;
use scheduler::telemetry::Level;

fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn empty_stage(c: &mut Criterion) {
    let t = threads();
    let grin = Grin::new(t, Level::Stages);
    let rayon = Rayon::new(t);
    let queue = MutexQueue::new(t);
    let mut group = c.benchmark_group("empty_stage");
    for n in [256usize, 8192] {
        let items: Vec<u32> = (0..n as u32).collect();
        group.bench_with_input(BenchmarkId::new("grin", n), &items, |b, items| {
            b.iter(|| grin.empty_stage(items));
        });
        group.bench_with_input(BenchmarkId::new("grin_grain_16", n), &items, |b, items| {
            b.iter(|| grin.empty_stage_grain(items, 16));
        });
        group.bench_with_input(BenchmarkId::new("rayon_par_iter", n), &items, |b, items| {
            b.iter(|| rayon.empty_par_iter(items));
        });
        group.bench_with_input(BenchmarkId::new("rayon_scope", n), &items, |b, items| {
            b.iter(|| rayon.empty_scope(items));
        });
        let f: Arc<dyn Fn(usize) + Send + Sync> = Arc::new(|i| {
            std::hint::black_box(i);
        });
        group.bench_with_input(BenchmarkId::new("mutex_vecdeque", n), &n, |b, &n| {
            b.iter(|| queue.for_each(n, Arc::clone(&f)));
        });
    }
    group.finish();
}

fn two_stage_frame(c: &mut Criterion) {
    let t = threads();
    let grin = Grin::new(t, Level::Stages);
    let rayon = Rayon::new(t);
    let items: Vec<u32> = (0..t as u32).collect();
    let mut group = c.benchmark_group("empty_two_stage_frame");
    group.bench_function("grin", |b| b.iter(|| grin.two_stages(&items)));
    group.bench_function("rayon", |b| b.iter(|| rayon.two_stages(&items)));
    group.finish();
}

fn skewed(c: &mut Criterion) {
    let t = threads();
    let grin = Grin::new(t, Level::Stages);
    let rayon = Rayon::new(t);
    let queue = MutexQueue::new(t);
    let light = (2.0 * units_per_us()) as u64;
    let mut group = c.benchmark_group("skewed_makespan");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(3));
    for (name, cy) in [("centre", 0.5), ("off_centre", 0.35)] {
        let load = Arc::new(SkewedLoad::new(32, 20, 0.5, cy, light));
        let centre = load.sequence(Order::CentreFirst);
        group.bench_function(BenchmarkId::new("grin_centre_first", name), |b| {
            b.iter(|| grin.skewed(&load, &centre));
        });
        group.bench_function(BenchmarkId::new("rayon_par_iter", name), |b| {
            b.iter(|| rayon.skewed(&load));
        });
        group.bench_function(BenchmarkId::new("static_partition", name), |b| {
            b.iter(|| rayon.skewed_static(&load));
        });
        group.bench_function(BenchmarkId::new("mutex_vecdeque", name), |b| {
            b.iter(|| queue.skewed(&load));
        });
    }
    group.finish();
}

fn cancel_latency(c: &mut Criterion) {
    let t = threads();
    let grin = Grin::new(t, Level::Stages);
    let rayon = Rayon::new(t);
    let units = (50.0 * units_per_us()) as u64;
    let mut group = c.benchmark_group("cancel_latency_50us_items");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(3));
    // Each iteration runs until cancelled 5 ms in; only cancel-to-return is timed.
    group.bench_function("grin", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| grin.cancel_latency(100_000, units, Duration::from_millis(5)))
                .sum()
        });
    });
    group.bench_function("rayon_flag", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| rayon.cancel_latency(100_000, units, Duration::from_millis(5)))
                .sum()
        });
    });
    group.finish();
}

criterion_group!(
    benches,
    empty_stage,
    two_stage_frame,
    skewed,
    cancel_latency
);
criterion_main!(benches);
