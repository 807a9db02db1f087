//! Every task runs exactly once, for random stage shapes, random DAGs and 1 to 8
//! threads.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use proptest::prelude::*;
use scheduler::{Budget, CancelToken, Dag, Graph, GraphConfig, Outcome, Pool, PoolConfig};

/// A frame shape: per stage, either a list of `n` items (with a grain) or a DAG given
/// as each task's dependencies (indices of earlier tasks).
#[derive(Debug, Clone)]
enum Shape {
    Items { n: usize, grain: usize },
    Dag(Vec<Vec<usize>>),
}

fn shape() -> impl Strategy<Value = Shape> {
    prop_oneof![
        (0usize..300, 1usize..8).prop_map(|(n, grain)| Shape::Items { n, grain }),
        (1usize..24)
            .prop_flat_map(|n| {
                (0..n)
                    .map(|i| proptest::collection::vec(0..i.max(1), 0..=i.min(4)))
                    .collect::<Vec<_>>()
            })
            .prop_map(|deps| {
                Shape::Dag(
                    deps.into_iter()
                        .enumerate()
                        .map(|(i, d)| d.into_iter().filter(|&x| x < i).collect())
                        .collect(),
                )
            }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn every_task_runs_exactly_once(
        threads in 1usize..=8,
        stages in proptest::collection::vec(shape(), 1..6),
    ) {
        let pool = Arc::new(Pool::new(PoolConfig::with_threads(threads)).unwrap());
        let graph = Graph::new(pool, GraphConfig::named("prop"));
        let counters: Vec<Vec<AtomicU32>> = stages
            .iter()
            .map(|s| {
                let n = match s {
                    Shape::Items { n, .. } => *n,
                    Shape::Dag(d) => d.len(),
                };
                (0..n).map(|_| AtomicU32::new(0)).collect()
            })
            .collect();
        let report = graph
            .run(&CancelToken::new(), Budget::unlimited(), |frame| {
                for (k, stage) in stages.iter().enumerate() {
                    let runs = &counters[k];
                    match stage {
                        Shape::Items { n, grain } => {
                            let items: Vec<usize> = (0..*n).collect();
                            let out = frame.stage("items").grain(*grain).run(&items, |_, &i| {
                                runs[i].fetch_add(1, Ordering::SeqCst);
                                Outcome::Done(i)
                            });
                            assert!(out.results.iter().enumerate().all(|(i, r)| *r == Some(i)));
                        }
                        Shape::Dag(deps) => {
                            let mut dag = Dag::new();
                            let mut ids = Vec::new();
                            for (i, d) in deps.iter().enumerate() {
                                let d: Vec<_> = d.iter().map(|&j| ids[j]).collect();
                                let id = dag.task(format!("t{i}"), &d.clone(), move |ctx| {
                                    // Every dependency has run before this task.
                                    for &dep in &d {
                                        let _ = ctx.dep(dep);
                                    }
                                    runs[i].fetch_add(1, Ordering::SeqCst);
                                    Outcome::Done(i)
                                });
                                ids.push(id);
                            }
                            let out = frame.dag("dag", dag);
                            assert!(out.results.iter().enumerate().all(|(i, r)| *r == Some(i)));
                        }
                    }
                }
            })
            .unwrap();
        for runs in &counters {
            for r in runs {
                prop_assert_eq!(r.load(Ordering::SeqCst), 1);
            }
        }
        prop_assert!(report.outcome.is_completed());
        prop_assert!(report.summary.invariant_violations.is_empty());
    }
}
