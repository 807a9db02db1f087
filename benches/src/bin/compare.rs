//! Side-by-side comparisons measured in one run, written as JSON under
//! `benches/results/`.
//!
//! `cargo run --release -p benches --bin compare -- scheduler`

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use benches::sched::{Grin, MutexQueue, Rayon, SkewedLoad, burn, units_per_us};
use benches::{Row, Table, machine};
use scheduler::order::Order;
use scheduler::telemetry::Level;

fn main() -> ExitCode {
    let what = std::env::args().nth(1).unwrap_or_default();
    match what.as_str() {
        "scheduler" => scheduler(),
        _ => {
            eprintln!("usage: compare scheduler");
            ExitCode::from(2)
        }
    }
}

fn results_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("results")
        .join(name)
}

/// Medians of interleaved samples: each round runs every contender once, so drift in
/// the machine's state hits all of them alike.
fn interleaved<const N: usize>(
    rounds: usize,
    per: u32,
    mut contenders: [&mut dyn FnMut(); N],
) -> [Duration; N] {
    let mut times = vec![Vec::with_capacity(rounds); N];
    for _ in 0..rounds {
        for (k, f) in contenders.iter_mut().enumerate() {
            let t = std::time::Instant::now();
            f();
            times[k].push(t.elapsed() / per);
        }
    }
    let mut out = [Duration::ZERO; N];
    for (k, t) in times.iter_mut().enumerate() {
        t.sort_unstable();
        out[k] = t[t.len() / 2];
    }
    out
}

fn scheduler() -> ExitCode {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let grin = Grin::new(threads, Level::Stages);
    let grin_tasks = Grin::new(threads, Level::Tasks);
    let rayon = Rayon::new(threads);
    let queue = MutexQueue::new(threads);
    let mut table = Table::new("scheduler", threads);
    println!("{threads} threads; medians of interleaved samples\n");

    for (n, frames) in [(256usize, 200u32), (8192, 20)] {
        let items: Vec<u32> = (0..n as u32).collect();
        let [ours, grain16, ours_tasks, par_iter, scope, mutex] = interleaved(
            41,
            frames,
            [
                &mut || (0..frames).for_each(|_| grin.empty_stage(&items)),
                &mut || (0..frames).for_each(|_| grin.empty_stage_grain(&items, 16)),
                &mut || (0..frames).for_each(|_| grin_tasks.empty_stage(&items)),
                &mut || (0..frames).for_each(|_| rayon.empty_par_iter(&items)),
                &mut || (0..frames).for_each(|_| rayon.empty_scope(&items)),
                &mut || {
                    let f: Arc<dyn Fn(usize) + Send + Sync> = Arc::new(|i| {
                        std::hint::black_box(i);
                    });
                    (0..frames).for_each(|_| queue.for_each(n, Arc::clone(&f)));
                },
            ],
        );
        table.push(
            Row::new(
                &format!("empty_stage_{n}"),
                "time per frame",
                ours,
                par_iter,
            )
            .other("grin_task_telemetry", ours_tasks)
            .other("grin_grain_16", grain16)
            .other("rayon_scope", scope)
            .other("mutex_vecdeque", mutex),
        );
    }

    let items: Vec<u32> = (0..threads as u32).collect();
    let [ours, par_iter] = interleaved(
        41,
        200,
        [
            &mut || (0..200).for_each(|_| grin.two_stages(&items)),
            &mut || (0..200).for_each(|_| rayon.two_stages(&items)),
        ],
    );
    table.push(Row::new(
        "empty_two_stage_frame",
        "fixed cost per frame",
        ours,
        par_iter,
    ));

    let upu = units_per_us();
    // Light tiles ~2 us, heavy ~200 us.
    let light = (2.0 * upu) as u64;
    for (name, cx, cy) in [
        ("skewed_centre", 0.5, 0.5),
        ("skewed_off_centre", 0.5, 0.35),
    ] {
        let load = Arc::new(SkewedLoad::new(32, 20, cx, cy, light));
        let centre = load.sequence(Order::CentreFirst);
        let rows = load.sequence(Order::Scanline);
        let [centre_first, scanline, par_iter, fixed, mutex] = interleaved(
            21,
            1,
            [
                &mut || {
                    grin.skewed(&load, &centre);
                },
                &mut || {
                    grin.skewed(&load, &rows);
                },
                &mut || {
                    rayon.skewed(&load);
                },
                &mut || {
                    rayon.skewed_static(&load);
                },
                &mut || queue.skewed(&load),
            ],
        );
        table.push(
            Row::new(name, "makespan", centre_first, par_iter)
                .other("grin_scanline", scanline)
                .other("static_partition", fixed)
                .other("mutex_vecdeque", mutex)
                .ideal(Duration::from_secs_f64(
                    load.total() as f64 / upu / 1e6 / threads as f64,
                )),
        );
    }

    let item_units = (50.0 * upu) as u64;
    let item = Duration::from_secs_f64(item_units as f64 / upu / 1e6);
    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    for _ in 0..21 {
        ours.push(grin.cancel_latency(100_000, item_units, Duration::from_millis(5)));
        theirs.push(rayon.cancel_latency(100_000, item_units, Duration::from_millis(5)));
    }
    ours.sort_unstable();
    theirs.sort_unstable();
    table.push(
        Row::new(
            "cancel_latency_50us_items",
            "cancel() to return",
            ours[ours.len() / 2],
            theirs[theirs.len() / 2],
        )
        .goal(item + Duration::from_micros(100)),
    );
    std::hint::black_box(burn(1));

    table.print();
    let path = results_path("scheduler.json");
    match table.write(&path, &machine()) {
        Ok(()) => {
            println!("\nwrote {}", path.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("compare: cannot write {}: {e}", path.display());
            ExitCode::FAILURE
        }
    }
}
