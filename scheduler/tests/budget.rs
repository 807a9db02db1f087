//! Cancellation, budgets, the watchdog and stall detection. Assertions are on outcomes
//! and counts, never on wall time.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use scheduler::{
    Budget, CancelReason, CancelToken, Graph, GraphConfig, Limit, Outcome, Pool, PoolConfig,
    RunOutcome, StepSizer,
};

fn graph(threads: usize) -> Graph {
    let pool = Arc::new(Pool::new(PoolConfig::with_threads(threads)).unwrap());
    Graph::new(pool, GraphConfig::named("budget"))
}

#[test]
fn after_a_cancel_is_observed_no_new_item_starts() {
    for threads in [1, 2, 4] {
        let g = graph(threads);
        let token = CancelToken::new();
        let items: Vec<usize> = (0..10_000).collect();
        let seen_cancel = AtomicBool::new(false);
        let started_after = AtomicUsize::new(0);
        let report = g
            .run(&token, Budget::unlimited(), |frame| {
                frame.stage("work").run(&items, |ctx, &i| {
                    if seen_cancel.load(Ordering::SeqCst) {
                        started_after.fetch_add(1, Ordering::SeqCst);
                    }
                    if i == 300 {
                        token.cancel(CancelReason::Requested("test".into()));
                    }
                    if let Some(stop) = ctx.interrupted() {
                        // Observed by this task: from now on nothing may start.
                        seen_cancel.store(true, Ordering::SeqCst);
                        return stop.into();
                    }
                    Outcome::Done(i)
                })
            })
            .unwrap();
        let out = report.value;
        // Tasks already running when the flag was set may start late by at most one
        // per worker (they passed the check just before the cancel).
        assert!(
            started_after.load(Ordering::SeqCst) <= threads,
            "{threads} threads"
        );
        assert_eq!(
            report.outcome,
            RunOutcome::Cancelled(CancelReason::Requested("test".into()))
        );
        // Cancelled items' outputs are absent; finished ones are present.
        assert!(out.results[300].is_none());
        assert_eq!(
            out.results.iter().filter(|r| r.is_some()).count() as u64,
            out.counts.done
        );
        assert!(out.counts.done < 10_000 && out.counts.not_started > 0);
        assert!(out.counts.cancelled >= 1);
        assert!(report.summary.invariant_violations.is_empty());
    }
}

#[test]
fn a_cancelled_token_starts_nothing_and_later_stages_skip() {
    let g = graph(2);
    let token = CancelToken::new();
    token.cancel(CancelReason::Superseded);
    let items = [1, 2, 3];
    let report = g
        .run(&token, Budget::unlimited(), |frame| {
            let out = frame.stage("a").run(&items, |_, &i| Outcome::Done(i));
            (out.counts.started, frame.is_stopped())
        })
        .unwrap();
    assert_eq!(report.value, (0, true));
    assert_eq!(
        report.outcome,
        RunOutcome::Cancelled(CancelReason::Superseded)
    );
}

#[test]
fn an_item_cap_of_100_commits_at_most_100() {
    for threads in [1, 2, 8] {
        let g = graph(threads);
        let items: Vec<u32> = (0..1000).collect();
        let report = g
            .run(
                &CancelToken::new(),
                Budget::unlimited().with_max_items(100),
                |frame| {
                    let first = frame.stage("first").run(&items, |_, &i| Outcome::Done(i));
                    let second = frame.stage("second").run(&items, |_, &i| Outcome::Done(i));
                    (first.counts, second.counts)
                },
            )
            .unwrap();
        let (first, second) = report.value;
        assert_eq!(first.done, 100, "{threads} threads");
        assert_eq!(second.started, 0, "the cap is for the whole run");
        assert_eq!(report.outcome, RunOutcome::OverBudget(Limit::Items));
    }
}

#[test]
fn a_work_cap_stops_new_items() {
    let g = graph(2);
    let items: Vec<u32> = (0..1000).collect();
    let report = g
        .run(
            &CancelToken::new(),
            Budget::unlimited().with_max_work(50),
            |frame| {
                frame.stage("w").run(&items, |ctx, &i| {
                    ctx.add_work(10);
                    Outcome::Done(i)
                })
            },
        )
        .unwrap();
    // 5 items reach the cap; each worker may have one more in flight.
    assert!(
        (5..=7).contains(&report.value.counts.done),
        "{:?}",
        report.value.counts
    );
    assert_eq!(report.outcome, RunOutcome::OverBudget(Limit::Work));
}

#[test]
fn a_deadline_stops_a_run_that_would_take_far_longer() {
    let g = graph(2);
    // 2000 items of 1 ms: 1 s of work on two threads; the budget is 20 ms.
    let items: Vec<u32> = (0..2000).collect();
    let report = g
        .run(
            &CancelToken::new(),
            Budget::within(Duration::from_millis(20)),
            |frame| {
                frame.stage("slow").run(&items, |ctx, &i| {
                    let t = Instant::now();
                    while t.elapsed() < Duration::from_millis(1) {
                        if let Some(stop) = ctx.interrupted() {
                            return stop.into();
                        }
                    }
                    Outcome::Done(i)
                })
            },
        )
        .unwrap();
    assert_eq!(report.outcome, RunOutcome::OverBudget(Limit::Deadline));
    let c = report.value.counts;
    assert!(c.not_started > 1000, "{c:?}");
    assert!(c.balanced());
}

#[test]
fn the_watchdog_stops_a_task_that_loops_on_its_safe_point() {
    let g = graph(2);
    let items = [0u8];
    let report = g
        .run(
            &CancelToken::new(),
            Budget::within(Duration::from_millis(30)),
            |frame| {
                frame.stage("forever").run(&items, |ctx, _| {
                    loop {
                        // Never finishes on its own: only the watchdog can stop it.
                        if let Some(stop) = ctx.interrupted() {
                            return Outcome::<()>::from(stop);
                        }
                        std::hint::spin_loop();
                    }
                })
            },
        )
        .unwrap();
    assert_eq!(report.value.counts.over_budget, 1);
    assert_eq!(report.outcome, RunOutcome::OverBudget(Limit::Deadline));
}

#[test]
fn stall_detection_by_steps_fires() {
    let g = graph(2);
    let items: Vec<u32> = (0..8).collect();
    let budget = Budget::unlimited().with_stall_steps(3);
    let mut outcomes = Vec::new();
    for _ in 0..3 {
        let report = g
            .run(&CancelToken::new(), budget.clone(), |frame| {
                // Every item gives up: no progress at all.
                frame
                    .stage("stuck")
                    .run(&items, |_, _| Outcome::<()>::OverBudget);
            })
            .unwrap();
        outcomes.push(report.outcome);
    }
    assert_ne!(outcomes[0], RunOutcome::Stalled);
    assert_ne!(outcomes[1], RunOutcome::Stalled);
    assert_eq!(outcomes[2], RunOutcome::Stalled);
    // Progress resets the count.
    let ok = g
        .run(&CancelToken::new(), budget, |frame| {
            frame.stage("fine").run(&items, |_, _| Outcome::Done(()));
        })
        .unwrap();
    assert_eq!(ok.outcome, RunOutcome::Completed);
}

#[test]
fn stall_detection_by_time_fires() {
    let g = graph(2);
    let items: Vec<u32> = (0..4).collect();
    let release = AtomicBool::new(false);
    let report = g
        .run(
            &CancelToken::new(),
            Budget::unlimited().with_stall_timeout(Duration::from_millis(20)),
            |frame| {
                frame.stage("hung").run(&items, |ctx, _| {
                    // A task waiting on something that never comes.
                    while !release.load(Ordering::Relaxed) {
                        if let Some(stop) = ctx.interrupted() {
                            return Outcome::<()>::from(stop);
                        }
                        std::thread::yield_now();
                    }
                    Outcome::Done(())
                })
            },
        )
        .unwrap();
    assert_eq!(report.outcome, RunOutcome::Stalled);
    assert_eq!(report.value.counts.done, 0);
}

#[test]
fn step_sizing_keeps_a_little_every_frame_caller_near_its_target() {
    // A simulated clock, so the test is exact: items cost 200 us, then the scene gets
    // four times heavier. The target is 4 ms per step.
    let target = Duration::from_millis(4);
    let mut sizer = StepSizer::new(target, 1, 10_000);
    let mut step_times = Vec::new();
    for step in 0..40 {
        let cost = if step < 20 {
            Duration::from_micros(200)
        } else {
            Duration::from_micros(800)
        };
        let n = sizer.next_batch();
        let elapsed = cost * n as u32;
        sizer.record(n, elapsed);
        step_times.push(elapsed);
    }
    // Settled steps land on the target (20 items of 200 us, then 5 of 800 us).
    assert!(
        step_times[2..20].iter().all(|&t| t == target),
        "{step_times:?}"
    );
    assert!(
        step_times[30..].iter().all(|&t| t == target),
        "{step_times:?}"
    );
    // While adapting to the heavier load, no step overshoots by more than the cost
    // ratio, and the overshoot dies out within the sizer's window.
    assert!(step_times[20..30].iter().all(|&t| t <= target * 4));
}
