//! Stage semantics: barriers, start order, results in item order, panics, re-entry.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use scheduler::order::{Order, TileGrid, enumerate};
use scheduler::{
    Budget, CancelToken, Dag, Graph, GraphConfig, GraphError, Outcome, Pool, PoolConfig, RunOutcome,
};

fn graph(threads: usize) -> Graph {
    let pool = Arc::new(Pool::new(PoolConfig::with_threads(threads)).unwrap());
    Graph::new(pool, GraphConfig::named("test"))
}

fn spin_for(d: Duration) {
    let t = Instant::now();
    while t.elapsed() < d {
        std::hint::spin_loop();
    }
}

#[test]
fn results_come_back_in_item_order() {
    let g = graph(4);
    let items: Vec<u32> = (0..1000).collect();
    let order = enumerate(40, 25, Order::CentreFirst);
    let report = g
        .run(&CancelToken::new(), Budget::unlimited(), |frame| {
            frame
                .stage("double")
                .start_order(&order)
                .run(&items, |_, &x| {
                    // Uneven work so workers finish out of order.
                    spin_for(Duration::from_micros(u64::from(x % 7) * 5));
                    Outcome::Done(x * 2)
                })
        })
        .unwrap();
    let out: Vec<u32> = report
        .value
        .results
        .into_iter()
        .map(Option::unwrap)
        .collect();
    assert_eq!(out, items.iter().map(|x| x * 2).collect::<Vec<_>>());
}

#[test]
fn no_task_of_a_stage_starts_before_the_previous_stage_ends() {
    for threads in [1, 2, 4, 8] {
        let g = graph(threads);
        let report = g
            .run(&CancelToken::new(), Budget::unlimited(), |frame| {
                let mut windows = Vec::new();
                for stage in 0..4u64 {
                    let items: Vec<u64> = (0..64).collect();
                    let out = frame.stage(&format!("s{stage}")).run(&items, |_, &i| {
                        let start = Instant::now();
                        spin_for(Duration::from_micros((i * 13 + stage * 7) % 40));
                        Outcome::Done((start, Instant::now()))
                    });
                    windows.push(
                        out.results
                            .into_iter()
                            .map(Option::unwrap)
                            .collect::<Vec<_>>(),
                    );
                }
                let mut dag = Dag::new();
                let a = dag.task("a", &[], |_| {
                    Outcome::Done((Instant::now(), Instant::now()))
                });
                dag.task("b", &[a], |_| {
                    Outcome::Done((Instant::now(), Instant::now()))
                });
                let out = frame.dag("dag", dag);
                windows.push(out.results.into_iter().map(Option::unwrap).collect());
                windows
            })
            .unwrap();
        for pair in report.value.windows(2) {
            let last_end = pair[0].iter().map(|w| w.1).max().unwrap();
            let first_start = pair[1].iter().map(|w| w.0).min().unwrap();
            assert!(first_start >= last_end, "{threads} threads: stage overlap");
        }
        // The recorded spans agree.
        let spans = &report.spans;
        for k in 1..report.summary.stages.len() as u32 {
            let end_prev = spans
                .iter()
                .filter(|s| s.stage == k - 1)
                .map(|s| s.end_ns)
                .max();
            let start_next = spans
                .iter()
                .filter(|s| s.stage == k)
                .map(|s| s.start_ns)
                .min();
            assert!(
                start_next >= end_prev,
                "{threads} threads: span overlap at stage {k}"
            );
        }
    }
}

#[test]
fn one_thread_starts_items_exactly_in_order() {
    let g = graph(1);
    let grid = TileGrid::new(160, 90, 16, 16);
    for order in [
        Order::Scanline,
        Order::CentreFirst,
        Order::Foveated { x: 0.2, y: 0.7 },
    ] {
        let tiles: Vec<u32> = (0..grid.len() as u32).collect();
        let sequence = enumerate(grid.cols(), grid.rows(), order);
        let started = Mutex::new(Vec::new());
        g.run(&CancelToken::new(), Budget::unlimited(), |frame| {
            frame
                .stage("tiles")
                .start_order(&sequence)
                .run(&tiles, |_, &t| {
                    started.lock().unwrap().push(t);
                    Outcome::Done(())
                });
        })
        .unwrap();
        assert_eq!(*started.lock().unwrap(), sequence, "{order:?}");
    }
    // Centre-first begins at the centre tile.
    let seq = enumerate(9, 5, Order::CentreFirst);
    assert_eq!(seq[0], 2 * 9 + 4);
}

#[test]
fn n_threads_start_the_first_n_items_first() {
    for threads in [2usize, 3, 4] {
        let g = graph(threads);
        let items: Vec<usize> = (0..200).collect();
        let order: Vec<u32> = enumerate(20, 10, Order::CentreFirst);
        let gate = Barrier::new(threads);
        let started = Mutex::new(Vec::new());
        g.run(&CancelToken::new(), Budget::unlimited(), |frame| {
            frame
                .stage("tiles")
                .start_order(&order)
                .run(&items, |_, &i| {
                    started.lock().unwrap().push(i as u32);
                    // The first N items hold their workers until all N have started, so
                    // no worker can run ahead: the first N logged are exactly the
                    // first N claimed.
                    if order[..threads].contains(&(i as u32)) {
                        gate.wait();
                    }
                    Outcome::Done(())
                });
        })
        .unwrap();
        let log = started.lock().unwrap();
        let mut first: Vec<u32> = log[..threads].to_vec();
        first.sort_unstable();
        let mut expected = order[..threads].to_vec();
        expected.sort_unstable();
        assert_eq!(first, expected, "{threads} threads");
    }
}

#[test]
fn a_task_panic_surfaces_at_the_barrier_with_its_name_and_the_pool_survives() {
    let g = graph(2);
    let items: Vec<u32> = (0..50).collect();
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        g.run(&CancelToken::new(), Budget::unlimited(), |frame| {
            frame.stage("shade").run(&items, |_, &i| {
                assert!(i != 17, "bad pixel");
                Outcome::Done(i)
            });
        })
    }));
    let payload = caught.expect_err("the panic must reach the caller");
    let msg = payload
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(msg.contains("stage 'shade'"), "{msg}");
    assert!(msg.contains("item 17"), "{msg}");
    assert!(msg.contains("bad pixel"), "{msg}");

    // DAG tasks are named by their task name.
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        g.run(&CancelToken::new(), Budget::unlimited(), |frame| {
            let mut dag: Dag<'_, ()> = Dag::new();
            dag.task("build tlas", &[], |_| panic!("no instances"));
            frame.dag("accel", dag);
        })
    }));
    let msg = caught
        .expect_err("dag panic")
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(
        msg.contains("'build tlas'") && msg.contains("accel"),
        "{msg}"
    );

    // The graph and pool still work.
    let report = g
        .run(&CancelToken::new(), Budget::unlimited(), |frame| {
            frame
                .stage("again")
                .run(&items, |_, &i| Outcome::Done(i))
                .is_complete()
        })
        .unwrap();
    assert!(report.value);
}

#[test]
fn a_concurrent_second_run_is_an_error_not_a_deadlock() {
    let g = Arc::new(graph(2));
    let inside = Arc::new(Barrier::new(2));
    let release = Arc::new(Barrier::new(2));
    let runner = {
        let (g, inside, release) = (Arc::clone(&g), Arc::clone(&inside), Arc::clone(&release));
        std::thread::spawn(move || {
            g.run(&CancelToken::new(), Budget::unlimited(), |_| {
                inside.wait();
                release.wait();
            })
            .unwrap();
        })
    };
    inside.wait();
    let second = g.run(&CancelToken::new(), Budget::unlimited(), |_| ());
    assert!(
        matches!(second, Err(GraphError::AlreadyRunning { .. })),
        "{second:?}"
    );
    release.wait();
    runner.join().unwrap();
    // Once the first run is over, the graph runs again.
    assert!(
        g.run(&CancelToken::new(), Budget::unlimited(), |_| ())
            .is_ok()
    );
}

#[test]
fn a_run_from_a_worker_thread_is_refused() {
    let g = graph(2);
    let items = [0u8];
    let report = g
        .run(&CancelToken::new(), Budget::unlimited(), |frame| {
            frame.stage("nested").run(&items, |_, _| {
                let inner = g.run(&CancelToken::new(), Budget::unlimited(), |_| ());
                Outcome::Done(matches!(inner, Err(GraphError::OnWorkerThread { .. })))
            })
        })
        .unwrap();
    assert_eq!(report.value.results, vec![Some(true)]);
}

#[test]
fn dag_respects_dependencies_and_passes_outputs() {
    let g = graph(4);
    let clock = AtomicUsize::new(0);
    let report = g
        .run(&CancelToken::new(), Budget::unlimited(), |frame| {
            let mut dag = Dag::new();
            let tick = || clock.fetch_add(1, Ordering::SeqCst);
            let blas: Vec<_> = (0..6u64)
                .map(|m| {
                    dag.task(format!("blas {m}"), &[], move |_| {
                        spin_for(Duration::from_micros(200));
                        Outcome::Done((m, tick()))
                    })
                })
                .collect();
            let grid = dag.task("field grid", &[], move |_| Outcome::Done((100, tick())));
            let mut deps = blas.clone();
            deps.push(grid);
            let needs = deps.clone();
            let tlas = dag.task("tlas", &needs, move |ctx| {
                let now = tick();
                let latest = deps.iter().map(|&d| ctx.dep(d).1).max().unwrap();
                assert!(latest < now);
                Outcome::Done((deps.iter().map(|&d| ctx.dep(d).0).sum(), now))
            });
            let out = frame.dag("accel", dag);
            out.results[tlas.index()].unwrap().0
        })
        .unwrap();
    assert_eq!(report.value, 15 + 100);
}

#[test]
fn dependents_of_an_unfinished_task_do_not_start() {
    let g = graph(2);
    let report = g
        .run(&CancelToken::new(), Budget::unlimited(), |frame| {
            let mut dag = Dag::new();
            let a = dag.task("a", &[], |_| Outcome::Cancelled);
            let b = dag.task("b", &[a], |_| Outcome::Done(1));
            dag.task("c", &[b], |_| Outcome::Done(2));
            dag.task("d", &[], |_| Outcome::Done(3));
            frame.dag("dag", dag)
        })
        .unwrap();
    let out = report.value;
    assert_eq!(out.results, vec![None, None, None, Some(3)]);
    assert_eq!((out.counts.started, out.counts.not_started), (2, 2));
    assert!(!report.outcome.is_completed());
}

#[test]
fn an_empty_stage_and_an_empty_dag_complete() {
    let g = graph(2);
    let report = g
        .run(&CancelToken::new(), Budget::unlimited(), |frame| {
            let a = frame
                .stage("none")
                .run(&[] as &[u8], |_, _| Outcome::Done(()));
            let b = frame.dag::<u8>("none", Dag::new());
            a.results.len() + b.results.len()
        })
        .unwrap();
    assert_eq!(report.value, 0);
    assert_eq!(report.outcome, RunOutcome::Completed);
}

#[test]
#[should_panic(expected = "not a permutation")]
fn a_bad_start_order_is_rejected() {
    let g = graph(1);
    let items = [1, 2, 3];
    let order = [0u32, 0, 1];
    let _ = g.run(&CancelToken::new(), Budget::unlimited(), |frame| {
        frame
            .stage("x")
            .start_order(&order)
            .run(&items, |_, &i| Outcome::Done(i));
    });
}
