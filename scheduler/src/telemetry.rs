//! Telemetry: per-stage wall time, per-task durations with percentiles, named
//! counters, rolling statistics over recent frames, invariant checks, JSON summaries
//! and Chrome trace event files.
//!
//! Counters are plain integers in a task's own context
//! ([`TaskCtx::count`](crate::TaskCtx::count)); each stage runner merges its counters once, when it
//! leaves the stage, so the hot path has no shared atomics.

use std::collections::{BTreeMap, VecDeque};
use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use crate::outcome::RunOutcome;

/// Named counters, merged by adding.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    entries: Vec<(&'static str, u64)>,
}

impl Counters {
    /// Adds `n` to the counter `name`.
    #[inline]
    pub fn add(&mut self, name: &'static str, n: u64) {
        if let Some(e) = self.entries.iter_mut().find(|e| e.0 == name) {
            e.1 += n;
        } else {
            self.entries.push((name, n));
        }
    }

    /// The value of `name` (0 if never counted).
    #[must_use]
    pub fn get(&self, name: &str) -> u64 {
        self.entries.iter().find(|e| e.0 == name).map_or(0, |e| e.1)
    }

    /// Adds every counter of `other` into this one.
    pub fn merge(&mut self, other: &Self) {
        for &(name, n) in &other.entries {
            self.add(name, n);
        }
    }

    /// The counters, sorted by name.
    #[must_use]
    pub fn to_map(&self) -> BTreeMap<String, u64> {
        self.entries
            .iter()
            .map(|&(k, v)| (k.to_owned(), v))
            .collect()
    }
}

impl Serialize for Counters {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_map().serialize(s)
    }
}

/// How many tasks of a stage ended which way.
///
/// Invariant: `started == done + cancelled + over_budget + failed`; tasks that never
/// started are `not_started`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Tasks whose closure was entered.
    pub started: u64,
    /// Tasks that returned `Done` and were committed.
    pub done: u64,
    /// Tasks that returned `Cancelled`.
    pub cancelled: u64,
    /// Tasks that returned `OverBudget`.
    pub over_budget: u64,
    /// Tasks that panicked.
    pub failed: u64,
    /// Tasks never started (the run stopped first, or a dependency did not finish).
    pub not_started: u64,
}

impl Counts {
    pub(crate) fn merge(&mut self, o: &Self) {
        self.started += o.started;
        self.done += o.done;
        self.cancelled += o.cancelled;
        self.over_budget += o.over_budget;
        self.failed += o.failed;
        self.not_started += o.not_started;
    }

    /// Whether `started == done + cancelled + over_budget + failed`.
    #[must_use]
    pub fn balanced(&self) -> bool {
        self.started == self.done + self.cancelled + self.over_budget + self.failed
    }
}

/// How one task ended, as recorded in a [`TaskSpan`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub enum SpanEnd {
    /// Committed.
    Done,
    /// Returned `Cancelled`.
    Cancelled,
    /// Returned `OverBudget`.
    OverBudget,
    /// Panicked.
    Failed,
}

/// One task's execution, in nanoseconds from the start of its frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TaskSpan {
    /// Index of the stage in its frame.
    pub stage: u32,
    /// Index of the item (or DAG task) within its stage.
    pub item: u32,
    /// Position in the stage's start sequence (0 = first claimed).
    pub seq: u32,
    /// Worker index that ran it (as [`TaskCtx::worker`](crate::TaskCtx::worker):
    /// `threads()` is the frame's own thread in a parallel stage; `None`: a serial
    /// stage).
    pub worker: Option<u32>,
    /// Start, ns since the frame started.
    pub start_ns: u64,
    /// End, ns since the frame started.
    pub end_ns: u64,
    /// How it ended.
    pub end: SpanEnd,
}

/// Summary statistics of a set of durations (nanoseconds). Percentiles are nearest
/// rank.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Stats {
    /// Number of samples.
    pub count: u64,
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: u64,
    /// 95th percentile.
    pub p95: u64,
    /// Largest.
    pub max: u64,
}

impl Stats {
    /// Statistics of `samples` (any order).
    #[must_use]
    pub fn of(samples: &[u64]) -> Self {
        if samples.is_empty() {
            return Self::default();
        }
        let mut s = samples.to_vec();
        s.sort_unstable();
        let rank = |p: f64| {
            let r = (p * s.len() as f64).ceil() as usize;
            s[r.clamp(1, s.len()) - 1]
        };
        Self {
            count: s.len() as u64,
            mean: s.iter().map(|&v| v as f64).sum::<f64>() / s.len() as f64,
            p50: rank(0.50),
            p95: rank(0.95),
            max: s[s.len() - 1],
        }
    }
}

/// What kind of stage a summary describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum StageKind {
    /// Ran on the calling thread.
    Serial,
    /// A list of items fanned out as tasks.
    Parallel,
    /// A small graph of dependent tasks.
    Dag,
}

/// Telemetry of one stage of one frame.
#[derive(Debug, Clone, Serialize)]
pub struct StageSummary {
    /// Stage name.
    pub name: String,
    /// Serial, parallel or DAG.
    pub kind: StageKind,
    /// Start, ns since the frame started.
    pub start_ns: u64,
    /// Wall time from the stage's start to its barrier.
    pub wall_ns: u64,
    /// Number of items (or tasks) given to the stage.
    pub items: u64,
    /// How they ended.
    pub counts: Counts,
    /// Durations of the tasks that started (only with [`Level::Tasks`]).
    pub task_ns: Stats,
    /// Counters from all the stage's tasks.
    pub counters: Counters,
}

/// How much a graph records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub enum Level {
    /// Stage times, counts and counters only.
    Stages,
    /// Also one [`TaskSpan`] per task: durations, percentiles and traces.
    #[default]
    Tasks,
}

/// Telemetry of one run of a graph.
#[derive(Debug, Clone, Serialize)]
pub struct FrameSummary {
    /// Graph name.
    pub graph: String,
    /// Run number within the graph (0-based).
    pub frame: u64,
    /// How the run ended.
    pub outcome: RunOutcome,
    /// Wall time of the whole run.
    pub wall_ns: u64,
    /// One entry per stage, in order.
    pub stages: Vec<StageSummary>,
    /// All stages' counters merged.
    pub counters: Counters,
    /// Invariants that did not hold (empty when all is well).
    pub invariant_violations: Vec<String>,
}

impl FrameSummary {
    /// Counts over all stages.
    #[must_use]
    pub fn counts(&self) -> Counts {
        let mut c = Counts::default();
        for s in &self.stages {
            c.merge(&s.counts);
        }
        c
    }

    /// The summary as pretty JSON.
    #[must_use]
    pub fn to_json(&self) -> String {
        // Serialising plain data with string keys cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Checks the invariants of a finished frame and records violations.
    pub(crate) fn check_invariants(&mut self) {
        for s in &self.stages {
            if !s.counts.balanced() {
                self.invariant_violations.push(format!(
                    "stage '{}': started {} != done {} + cancelled {} + over budget {} + failed {}",
                    s.name,
                    s.counts.started,
                    s.counts.done,
                    s.counts.cancelled,
                    s.counts.over_budget,
                    s.counts.failed
                ));
            }
            if s.counts.started + s.counts.not_started != s.items {
                self.invariant_violations.push(format!(
                    "stage '{}': started {} + not started {} != items {}",
                    s.name, s.counts.started, s.counts.not_started, s.items
                ));
            }
        }
        debug_assert!(
            self.invariant_violations.is_empty(),
            "{:?}",
            self.invariant_violations
        );
    }
}

/// Rolling statistics over the last N frames of a graph.
#[derive(Debug, Clone)]
pub struct Rolling {
    capacity: usize,
    frames: VecDeque<(u64, Vec<(String, u64)>)>,
}

/// Rolling-window statistics of frame and stage wall times (ns).
#[derive(Debug, Clone, Serialize)]
pub struct RollingStats {
    /// Frames in the window.
    pub frames: usize,
    /// Whole-frame wall time.
    pub frame: Stats,
    /// Per stage name, in first-seen order.
    pub stages: Vec<(String, Stats)>,
}

impl Rolling {
    /// A window of the last `capacity` frames (at least 1).
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            frames: VecDeque::new(),
        }
    }

    /// Adds a frame, dropping the oldest when full.
    pub fn push(&mut self, frame: &FrameSummary) {
        if self.frames.len() == self.capacity {
            self.frames.pop_front();
        }
        let stages = frame
            .stages
            .iter()
            .map(|s| (s.name.clone(), s.wall_ns))
            .collect();
        self.frames.push_back((frame.wall_ns, stages));
    }

    /// Mean, p50, p95 and max over the window.
    #[must_use]
    pub fn stats(&self) -> RollingStats {
        let walls: Vec<u64> = self.frames.iter().map(|f| f.0).collect();
        let mut names: Vec<String> = Vec::new();
        for (_, stages) in &self.frames {
            for (name, _) in stages {
                if !names.contains(name) {
                    names.push(name.clone());
                }
            }
        }
        let stages = names
            .into_iter()
            .map(|name| {
                let v: Vec<u64> = self
                    .frames
                    .iter()
                    .flat_map(|(_, s)| s.iter().filter(|(n, _)| *n == name).map(|(_, t)| *t))
                    .collect();
                let stats = Stats::of(&v);
                (name, stats)
            })
            .collect();
        RollingStats {
            frames: self.frames.len(),
            frame: Stats::of(&walls),
            stages,
        }
    }
}

/// A frame's summary with its task spans: what a trace is made from.
#[derive(Debug, Clone)]
pub struct FrameTrace {
    /// The frame's summary.
    pub summary: FrameSummary,
    /// Its tasks (empty unless recorded at [`Level::Tasks`]).
    pub spans: Vec<TaskSpan>,
    /// Start of the frame, ns since the graph was created (places frames on one
    /// timeline).
    pub offset_ns: u64,
}

#[derive(Serialize)]
struct TraceEvent<'a> {
    name: &'a str,
    cat: &'static str,
    ph: &'static str,
    ts: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    dur: Option<f64>,
    pid: u32,
    tid: u32,
    args: serde_json::Value,
}

/// Builds a Chrome trace event document (opens in Perfetto and `chrome://tracing`):
/// one complete ("X") event per stage on the host track (tid 0), one per task on its
/// worker's track (tid = worker + 1, so the frame's own thread's share of a parallel
/// stage is on "worker N" for a pool of N threads; serial tasks are on tid 0), and
/// thread-name metadata for each track.
#[must_use]
pub fn chrome_trace(frames: &[FrameTrace]) -> serde_json::Value {
    let mut events = Vec::new();
    let mut tids = std::collections::BTreeSet::new();
    tids.insert(0u32);
    let us = |ns: u64| ns as f64 / 1000.0;
    for f in frames {
        for (si, s) in f.summary.stages.iter().enumerate() {
            events.push(TraceEvent {
                name: &s.name,
                cat: "stage",
                ph: "X",
                ts: us(f.offset_ns + s.start_ns),
                dur: Some(us(s.wall_ns)),
                pid: 1,
                tid: 0,
                args: serde_json::json!({
                    "frame": f.summary.frame, "stage": si, "counts": s.counts,
                    "counters": s.counters,
                }),
            });
        }
        for t in &f.spans {
            let tid = t.worker.map_or(0, |w| w + 1);
            tids.insert(tid);
            let stage = f
                .summary
                .stages
                .get(t.stage as usize)
                .map_or("?", |s| s.name.as_str());
            events.push(TraceEvent {
                name: stage,
                cat: "task",
                ph: "X",
                ts: us(f.offset_ns + t.start_ns),
                dur: Some(us(t.end_ns.saturating_sub(t.start_ns))),
                pid: 1,
                tid,
                args: serde_json::json!({
                    "frame": f.summary.frame, "item": t.item, "seq": t.seq, "end": t.end,
                }),
            });
        }
    }
    let meta = tids.into_iter().map(|tid| {
        let name = if tid == 0 {
            "host".to_owned()
        } else {
            format!("worker {}", tid - 1)
        };
        serde_json::json!({"name": "thread_name", "ph": "M", "pid": 1, "tid": tid,
                           "args": {"name": name}})
    });
    let mut all: Vec<serde_json::Value> = meta.collect();
    all.extend(
        events
            .into_iter()
            .map(|e| serde_json::to_value(e).unwrap_or_default()),
    );
    serde_json::json!({ "traceEvents": all, "displayTimeUnit": "ms" })
}

/// Writes [`chrome_trace`] of `frames` to `path` (through a temporary file renamed into
/// place, so a reader never sees half a trace).
///
/// # Errors
/// Any I/O error creating, writing or renaming the file.
pub fn write_chrome_trace(path: &Path, frames: &[FrameTrace]) -> std::io::Result<()> {
    let doc = chrome_trace(frames);
    let bytes = serde_json::to_vec(&doc).map_err(std::io::Error::other)?;
    crate::jobs::status::write_bytes_atomic(path, &bytes)
}

/// Nanoseconds in a duration, saturating.
pub(crate) fn ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_nearest_rank() {
        let v: Vec<u64> = (1..=100).collect();
        let s = Stats::of(&v);
        assert_eq!((s.p50, s.p95, s.max, s.count), (50, 95, 100, 100));
        assert!((s.mean - 50.5).abs() < 1e-9);
        assert_eq!(Stats::of(&[]).count, 0);
    }

    #[test]
    fn counters_merge_by_name() {
        let mut a = Counters::default();
        a.add("rays", 3);
        let mut b = Counters::default();
        b.add("rays", 4);
        b.add("hits", 1);
        a.merge(&b);
        assert_eq!((a.get("rays"), a.get("hits"), a.get("none")), (7, 1, 0));
    }
}
