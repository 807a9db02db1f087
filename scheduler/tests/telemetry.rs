//! Counters merge from every worker; summaries and traces are well formed.

use std::sync::Arc;

use scheduler::telemetry::{FrameTrace, chrome_trace, write_chrome_trace};
use scheduler::{Budget, CancelToken, Graph, GraphConfig, Outcome, Pool, PoolConfig};

#[test]
fn counters_from_all_workers_add_up() {
    let pool = Arc::new(Pool::new(PoolConfig::with_threads(4)).unwrap());
    let graph = Graph::new(pool, GraphConfig::named("count"));
    let items: Vec<u64> = (1..=5000).collect();
    // Items 1 and 2 wait for each other, so at least two workers take part.
    let gate = std::sync::Barrier::new(2);
    let report = graph
        .run(&CancelToken::new(), Budget::unlimited(), |frame| {
            frame.stage("a").run(&items, |ctx, &i| {
                if i <= 2 {
                    gate.wait();
                }
                ctx.count("items", 1);
                ctx.count("sum", i);
                Outcome::Done(())
            });
            frame.serial("b", |ctx| ctx.count("items", 1));
        })
        .unwrap();
    let s = &report.summary;
    assert_eq!(s.stages[0].counters.get("items"), 5000);
    assert_eq!(s.stages[0].counters.get("sum"), 5000 * 5001 / 2);
    assert_eq!(s.counters.get("items"), 5001);
    // More than one worker contributed (each merges its own counters once).
    let workers: std::collections::BTreeSet<_> =
        report.spans.iter().filter_map(|t| t.worker).collect();
    assert!(workers.len() > 1, "{workers:?}");
    let c = s.counts();
    assert_eq!((c.started, c.done), (5001, 5001));
    assert_eq!(s.stages[0].task_ns.count, 5000);
    // The JSON summary parses back with the same numbers.
    let v: serde_json::Value = serde_json::from_str(&s.to_json()).unwrap();
    assert_eq!(v["stages"][0]["counters"]["sum"], 5000 * 5001 / 2);
    assert_eq!(v["outcome"], "Completed");
}

#[test]
fn the_trace_is_valid_json_with_one_complete_event_per_task() {
    let pool = Arc::new(Pool::new(PoolConfig::with_threads(3)).unwrap());
    let graph = Graph::new(pool, GraphConfig::named("trace"));
    let items: Vec<u32> = (0..97).collect();
    let mut frames: Vec<FrameTrace> = Vec::new();
    for _ in 0..3 {
        let report = graph
            .run(&CancelToken::new(), Budget::unlimited(), |frame| {
                frame.serial("snapshot", |_| ());
                frame.stage("tiles").run(&items, |_, &i| Outcome::Done(i));
            })
            .unwrap();
        frames.push(report.trace());
    }
    let dir = std::env::temp_dir().join(format!("grin-trace-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("frame.trace.json");
    write_chrome_trace(&path, &frames).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc, chrome_trace(&frames));
    let events = doc["traceEvents"].as_array().unwrap();
    let tasks: Vec<_> = events
        .iter()
        .filter(|e| e["ph"] == "X" && e["cat"] == "task")
        .collect();
    // 97 tiles + 1 serial task per frame.
    assert_eq!(tasks.len(), 3 * 98);
    for e in &tasks {
        assert!(e["dur"].as_f64().unwrap() >= 0.0 && e["ts"].as_f64().is_some());
    }
    let stages = events.iter().filter(|e| e["cat"] == "stage").count();
    assert_eq!(stages, 3 * 2);
    // One named track per worker that ran something, plus the host.
    let tracks: Vec<_> = events.iter().filter(|e| e["ph"] == "M").collect();
    assert!(tracks.iter().any(|e| e["args"]["name"] == "host"));
    assert!(tracks.iter().any(|e| {
        e["args"]["name"]
            .as_str()
            .is_some_and(|n| n.starts_with("worker "))
    }));
    // Each tile appears once per frame.
    for f in 0..3 {
        let mut items: Vec<u64> = tasks
            .iter()
            .filter(|e| e["args"]["frame"] == f && e["name"] == "tiles")
            .map(|e| e["args"]["item"].as_u64().unwrap())
            .collect();
        items.sort_unstable();
        assert_eq!(items, (0..97).collect::<Vec<u64>>());
    }
    // The graph's rolling window saw three frames.
    assert_eq!(graph.rolling().frames, 3);
}
