//! Benchmark workloads and the comparison harness's reporting.
//!
//! Speed is shown here, by criterion benches (`cargo bench -p benches`) and by
//! `compare`, never by timed assertions in tests.

pub mod sched;
pub mod terrain;

use std::path::Path;
use std::time::Duration;

use serde::Serialize;

/// One workload's medians: ours, the reference peer's, and others measured in the
/// same run.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// Workload name.
    pub workload: String,
    /// What the time measures.
    pub measures: String,
    /// Grin's median, ns.
    pub ours_ns: f64,
    /// The peer's median (rayon for the scheduler), ns.
    pub peer_ns: f64,
    /// ours / peer: below 1.0 means Grin is faster.
    pub ratio: f64,
    /// Other contenders' medians, ns, with their ratio ours / theirs.
    pub others: Vec<Other>,
    /// A stated goal for ours, ns, if the workload has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub goal_ns: Option<f64>,
    /// The lower bound (total work / threads), ns, where it is known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ideal_ns: Option<f64>,
    /// The median over rounds of ours / peer within the same round, where recorded:
    /// drift in the machine's speed between rounds cancels in each pair, which the
    /// ratio of the two medians does not do.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paired_ratio: Option<f64>,
}

/// Another contender's median.
#[derive(Debug, Clone, Serialize)]
pub struct Other {
    /// Contender name.
    pub name: String,
    /// Its median, ns.
    pub median_ns: f64,
    /// ours / theirs.
    pub ratio: f64,
}

fn ns(d: Duration) -> f64 {
    d.as_secs_f64() * 1e9
}

impl Row {
    /// A row with our median and the peer's.
    #[must_use]
    pub fn new(workload: &str, measures: &str, ours: Duration, peer: Duration) -> Self {
        Self {
            workload: workload.to_owned(),
            measures: measures.to_owned(),
            ours_ns: ns(ours),
            peer_ns: ns(peer),
            ratio: ns(ours) / ns(peer),
            others: Vec::new(),
            goal_ns: None,
            ideal_ns: None,
            paired_ratio: None,
        }
    }

    /// Adds another contender.
    #[must_use]
    pub fn other(mut self, name: &str, median: Duration) -> Self {
        self.others.push(Other {
            name: name.to_owned(),
            median_ns: ns(median),
            ratio: self.ours_ns / ns(median),
        });
        self
    }

    /// States a goal for our median.
    #[must_use]
    pub fn goal(mut self, goal: Duration) -> Self {
        self.goal_ns = Some(ns(goal));
        self
    }

    /// Records the median of per-round ratios ours / peer (see
    /// [`paired_ratio`](Self::paired_ratio)); `ours` and `peer` are the two
    /// contenders' samples, one per round, in round order.
    #[must_use]
    pub fn paired(mut self, ours: &[Duration], peer: &[Duration]) -> Self {
        let mut r: Vec<f64> = ours
            .iter()
            .zip(peer)
            .map(|(&a, &b)| ns(a) / ns(b))
            .collect();
        r.sort_by(f64::total_cmp);
        self.paired_ratio = r.get(r.len() / 2).copied();
        self
    }

    /// States the ideal (lower bound).
    #[must_use]
    pub fn ideal(mut self, ideal: Duration) -> Self {
        self.ideal_ns = Some(ns(ideal));
        self
    }
}

/// Facts about the machine a comparison ran on.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// CPU model from `/proc/cpuinfo`.
    pub cpu: String,
    /// Logical cores available.
    pub cores: usize,
    /// UTC date of the run.
    pub date: String,
}

/// Reads the machine's facts.
#[must_use]
pub fn machine() -> Machine {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned());
    let date = std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map_or_else(|| "unknown".to_owned(), |s| s.trim().to_owned());
    Machine {
        cpu,
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        date,
    }
}

/// The rows of one comparison.
#[derive(Debug, Clone, Serialize)]
pub struct Table {
    /// What was compared.
    pub comparison: String,
    /// Threads each contender used.
    pub threads: usize,
    /// The workloads.
    pub rows: Vec<Row>,
}

impl Table {
    /// An empty table.
    #[must_use]
    pub fn new(comparison: &str, threads: usize) -> Self {
        Self {
            comparison: comparison.to_owned(),
            threads,
            rows: Vec::new(),
        }
    }

    /// Adds a row.
    pub fn push(&mut self, row: Row) {
        self.rows.push(row);
    }

    /// Prints the table.
    pub fn print(&self) {
        let fmt = |ns: f64| {
            if ns >= 1e6 {
                format!("{:.3} ms", ns / 1e6)
            } else {
                format!("{:.2} us", ns / 1e3)
            }
        };
        println!(
            "{:<28} {:>12} {:>12} {:>7}  others (ours/theirs)",
            "workload", "grin", "peer", "ratio"
        );
        for r in &self.rows {
            let others: Vec<String> = r
                .others
                .iter()
                .map(|o| format!("{} {} ({:.2})", o.name, fmt(o.median_ns), o.ratio))
                .collect();
            let mut extra = others.join(", ");
            if let Some(g) = r.goal_ns {
                extra.push_str(&format!(" goal {}", fmt(g)));
            }
            if let Some(i) = r.ideal_ns {
                extra.push_str(&format!(" ideal {}", fmt(i)));
            }
            if let Some(p) = r.paired_ratio {
                extra.push_str(&format!(" paired ratio {p:.4}"));
            }
            println!(
                "{:<28} {:>12} {:>12} {:>7.3}  {}",
                r.workload,
                fmt(r.ours_ns),
                fmt(r.peer_ns),
                r.ratio,
                extra
            );
        }
    }

    /// Writes the table and the machine facts as JSON (via a temporary file).
    ///
    /// # Errors
    /// Any I/O error.
    pub fn write(&self, path: &Path, machine: &Machine) -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let doc = serde_json::json!({ "machine": machine, "table": self });
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_string_pretty(&doc)?)?;
        std::fs::rename(tmp, path)
    }
}
