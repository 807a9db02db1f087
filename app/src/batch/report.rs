//! What a batch reports: one record per frame, the workers' states for the status
//! file and the monitor, and the process's memory.

#[allow(clippy::wildcard_imports)]
use super::*;

/// One frame in the report.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct FrameReport {
    pub(crate) job: usize,
    pub(crate) frame: u32,
    pub(crate) output: String,
    pub(crate) status: &'static str,
    pub(crate) worker: usize,
    /// How its scene was served: resident, promoted from RAM, loaded, streamed.
    pub(crate) scene: &'static str,
    pub(crate) load_s: f64,
    pub(crate) accel_s: f64,
    pub(crate) upload_s: f64,
    pub(crate) render_s: f64,
    pub(crate) write_s: f64,
    pub(crate) bytes: u64,
    pub(crate) retries: u32,
    pub(crate) hit_share: f64,
    pub(crate) mean_luminance: f64,
    pub(crate) non_finite: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) failure: Option<Class>,
}

impl FrameReport {
    pub(super) fn failed(
        unit: Unit,
        dir: &Path,
        worker: usize,
        retries: u32,
        e: &FrameError,
    ) -> Self {
        Self {
            job: unit.job,
            frame: unit.frame,
            output: image_path(dir, unit.frame).display().to_string(),
            status: "failed",
            worker,
            scene: "",
            load_s: 0.0,
            accel_s: 0.0,
            upload_s: 0.0,
            render_s: 0.0,
            write_s: 0.0,
            bytes: 0,
            retries,
            hit_share: 0.0,
            mean_luminance: 0.0,
            non_finite: 0,
            error: Some(e.message.clone()),
            failure: Some(e.class),
        }
    }
}

impl FrameReport {
    /// A frame another process (a concurrent batch on the same `--out`) is rendering.
    pub(super) fn elsewhere(unit: Unit, dir: &Path, worker: usize) -> Self {
        let mut r = Self::failed(
            unit,
            dir,
            worker,
            0,
            &FrameError::fatal("claimed by another process on this --out"),
        );
        r.status = "elsewhere";
        r.failure = None;
        r
    }
}

/// What one worker is doing, for the status file.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct WorkerState {
    pub(crate) state: &'static str,
    pub(crate) job: Option<usize>,
    pub(crate) name: Option<String>,
    pub(crate) frame: Option<u32>,
    pub(crate) passes_done: u32,
    pub(crate) spp: u32,
}

impl WorkerState {
    pub(super) fn idle() -> Self {
        Self {
            state: "idle",
            job: None,
            name: None,
            frame: None,
            passes_done: 0,
            spp: 0,
        }
    }
}

/// Progress shared by workers, the writer and the monitor.
pub(crate) struct Progress {
    pub(crate) started: Instant,
    /// This run's frames (of its shard).
    pub(crate) total: u64,
    /// Already complete before the run.
    pub(crate) skipped: u64,
    pub(crate) done: AtomicUsize,
    pub(crate) failed: AtomicUsize,
    pub(crate) pruned: AtomicUsize,
    pub(crate) workers: Mutex<Vec<WorkerState>>,
    pub(crate) frames: Mutex<Vec<FrameReport>>,
    /// Workers allowed to take frames (auto-scale).
    pub(crate) active: AtomicUsize,
    pub(crate) finished: AtomicBool,
}

impl Progress {
    pub(super) fn set(&self, worker: usize, f: impl FnOnce(&mut WorkerState)) {
        let mut w = self.workers.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(s) = w.get_mut(worker) {
            f(s);
        }
    }

    pub(super) fn record(&self, r: FrameReport) {
        match r.status {
            "failed" => self.failed.fetch_add(1, Ordering::Relaxed),
            "elsewhere" => 0,
            "pruned" => {
                self.pruned.fetch_add(1, Ordering::Relaxed);
                self.done.fetch_add(1, Ordering::Relaxed)
            }
            _ => self.done.fetch_add(1, Ordering::Relaxed),
        };
        self.frames
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(r);
    }
}

/// Peak and current resident set of this process (Linux: /proc/self/status), bytes.
pub(crate) fn rss() -> (u64, u64) {
    let text = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(k))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    };
    (field("VmHWM:"), field("VmRSS:"))
}
