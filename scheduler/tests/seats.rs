//! A stage never runs more tasks at once than the pool has threads, whoever runs them
//! (the frame's own thread takes a seat beside the workers, hands it back when a worker
//! it counted on is held off, or takes one when a woken worker is late).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use scheduler::telemetry::Level;
use scheduler::{Budget, CancelToken, Graph, GraphConfig, Outcome, Pool, PoolConfig};

#[test]
fn no_more_tasks_at_once_than_threads_hot_or_cold() {
    for threads in [1, 2, 3] {
        let pool = Arc::new(Pool::new(PoolConfig::with_threads(threads)).unwrap());
        for level in [Level::Stages, Level::Tasks] {
            let mut config = GraphConfig::named("seats");
            config.telemetry = level;
            let graph = Graph::new(Arc::clone(&pool), config);
            let items: Vec<u32> = (0..4096).collect();
            let running = AtomicUsize::new(0);
            let most = AtomicUsize::new(0);
            for frame in 0..60 {
                // Every tenth frame starts cold: the workers have parked.
                if frame % 10 == 9 {
                    std::thread::sleep(Duration::from_millis(2));
                }
                let report = graph
                    .run(&CancelToken::new(), Budget::unlimited(), |f| {
                        f.stage("count").run(&items, |ctx, &i| {
                            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                            most.fetch_max(now, Ordering::SeqCst);
                            // A little work, so that runners overlap.
                            let mut x = u64::from(i);
                            for _ in 0..64 {
                                x = std::hint::black_box(x.wrapping_mul(6_364_136_223_846_793_005));
                            }
                            running.fetch_sub(1, Ordering::SeqCst);
                            assert!(ctx.worker().is_some_and(|w| w <= threads));
                            Outcome::Done(i)
                        })
                    })
                    .unwrap();
                let out = report.value;
                assert!(out.is_complete());
                assert!(
                    out.results
                        .iter()
                        .enumerate()
                        .all(|(k, r)| *r == Some(k as u32))
                );
                assert_eq!(out.counts.done, items.len() as u64);
            }
            let most = most.load(Ordering::SeqCst);
            assert!(
                most <= threads,
                "{threads} threads, {level:?}: {most} tasks ran at once"
            );
        }
    }
}
