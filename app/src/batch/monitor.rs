//! The batch's monitor thread: the status file (rewritten atomically every
//! `--status-interval` seconds), the progress bar on a terminal or heartbeat lines
//! otherwise, the probes (`--auto-scale` gating, `--probe-log` samples), and the
//! residency cache's log lines.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use indicatif::{ProgressBar, ProgressStyle};
use renderer_core::gpu::GpuContext;
use scheduler::jobs::admission::{Admission, Reading, Watermarks};

use super::engine::Cache;
use super::probes::{self, Limits};
use super::{BatchArgs, Progress, rss};

/// What the monitor needs from the arguments.
pub(crate) struct Monitor {
    status_file: Option<PathBuf>,
    status_every: Duration,
    heartbeat_every: Duration,
    poll_every: Duration,
    auto_scale: bool,
    probe_log: Option<PathBuf>,
    admission: Option<Admission>,
    probe_messages: Vec<String>,
    gpu: Option<Arc<GpuContext>>,
    workers: usize,
    tty: bool,
    low: f64,
}

fn secs(s: f64, min: f64) -> Duration {
    Duration::from_secs_f64(if s.is_finite() { s.max(min) } else { min })
}

impl Monitor {
    pub(crate) fn new(
        args: &BatchArgs,
        gpu: Option<Arc<GpuContext>>,
        workers: usize,
        tty: bool,
    ) -> Self {
        let wants_probes = args.auto_scale || args.probe_log.is_some();
        let (admission, probe_messages) = if wants_probes {
            let (p, log) = probes::probes(
                Limits {
                    max_cpu: args.max_cpu,
                    min_free_mem_mb: args.min_free_mem_mb,
                    max_gpu_util: args.max_gpu_util,
                    max_gpu_mem_mb: args.max_gpu_mem_mb,
                },
                gpu.as_ref(),
            );
            let marks = Watermarks {
                high: args.high_watermark,
                low: args.low_watermark,
            };
            (Some(Admission::new(p, marks, args.probe_window)), log)
        } else {
            (None, Vec::new())
        };
        Self {
            status_file: args.status_file.clone(),
            status_every: secs(args.status_interval, 0.1),
            heartbeat_every: secs(args.heartbeat, 0.5),
            poll_every: Duration::from_millis(args.poll_ms.max(50)),
            auto_scale: args.auto_scale,
            probe_log: args.probe_log.clone(),
            admission,
            probe_messages,
            gpu,
            workers,
            tty,
            low: args.low_watermark,
        }
    }

    /// Runs until the batch finishes (`progress.finished`), then writes the last
    /// status.
    pub(crate) fn run(mut self, cache: &Cache, progress: &Progress) {
        let todo = progress.total - progress.skipped;
        let bar = if self.tty {
            let b = ProgressBar::new(todo);
            b.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {bar:32} {pos}/{len} frames, ETA {eta} {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            Some(b)
        } else {
            None
        };
        let say = |line: &str| match &bar {
            Some(b) => b.println(line),
            None => eprintln!("{line}"),
        };
        for m in std::mem::take(&mut self.probe_messages) {
            say(&format!("grin batch: {m}"));
        }
        let mut log = self
            .probe_log
            .as_ref()
            .and_then(|p| match std::fs::File::create(p) {
                Ok(mut f) => {
                    if p.extension().is_some_and(|e| e == "csv") {
                        let _ = writeln!(f, "t_s,probe,share,smoothed,open,active_workers");
                    }
                    Some(f)
                }
                Err(e) => {
                    say(&format!(
                        "grin batch: --probe-log {}: {e}; not logging",
                        p.display()
                    ));
                    None
                }
            });
        let csv = self
            .probe_log
            .as_ref()
            .is_some_and(|p| p.extension().is_some_and(|e| e == "csv"));
        let (mut last_status, mut last_beat, mut last_poll) =
            (None::<Instant>, Instant::now(), None::<Instant>);
        let mut readings: Vec<Reading> = Vec::new();
        let mut finished_frames = 0;
        loop {
            let finished = progress.finished.load(Ordering::Relaxed)
                || (progress.done.load(Ordering::Relaxed) + progress.failed.load(Ordering::Relaxed))
                    as u64
                    >= todo;
            for l in cache.take_log() {
                say(&format!("grin batch: {l}"));
            }
            if let Some(adm) = self.admission.as_mut() {
                if last_poll.is_none_or(|t| t.elapsed() >= self.poll_every) {
                    last_poll = Some(Instant::now());
                    let (open, r, msgs) = adm.poll();
                    for m in msgs {
                        say(&format!("grin batch: {m}"));
                    }
                    if self.auto_scale {
                        let active = progress.active.load(Ordering::Relaxed);
                        let calm = r
                            .iter()
                            .all(|x| x.share.is_none() || x.smoothed <= self.low);
                        let next = if !open {
                            active.saturating_sub(1).max(1)
                        } else if calm {
                            (active + 1).min(self.workers)
                        } else {
                            active
                        };
                        if next != active {
                            progress.active.store(next, Ordering::Relaxed);
                            say(&format!(
                                "grin batch: auto-scale: {next} of {} workers take frames",
                                self.workers
                            ));
                        }
                    }
                    if let Some(f) = log.as_mut() {
                        let t = progress.started.elapsed().as_secs_f64();
                        let active = progress.active.load(Ordering::Relaxed);
                        for x in &r {
                            let share = x.share.map_or(String::new(), |s| format!("{s:.4}"));
                            let _ = if csv {
                                writeln!(
                                    f,
                                    "{t:.3},{},{share},{:.4},{},{active}",
                                    x.probe, x.smoothed, x.open
                                )
                            } else {
                                writeln!(
                                    f,
                                    "{}",
                                    serde_json::json!({"t_s": t, "probe": x.probe, "share": x.share, "smoothed": x.smoothed, "open": x.open, "active_workers": active})
                                )
                            };
                        }
                    }
                    readings = r;
                }
            }
            let ended = (progress.done.load(Ordering::Relaxed)
                + progress.failed.load(Ordering::Relaxed)) as u64;
            if let Some(b) = &bar {
                b.set_position(ended);
                b.set_message(format!(
                    "{} failed",
                    progress.failed.load(Ordering::Relaxed)
                ));
            } else if last_beat.elapsed() >= self.heartbeat_every
                || (finished && ended != finished_frames)
            {
                last_beat = Instant::now();
                let (rate, eta) = rate_eta(progress, todo);
                eprintln!(
                    "grin batch: heartbeat: {ended}/{todo} frames ({} failed, {} already done), {:.2} frames/s, ETA {}",
                    progress.failed.load(Ordering::Relaxed),
                    progress.skipped,
                    rate,
                    eta.map_or("?".into(), |e| format!("{e:.0} s")),
                );
            }
            finished_frames = ended;
            if self.status_file.is_some()
                && (finished || last_status.is_none_or(|t| t.elapsed() >= self.status_every))
            {
                last_status = Some(Instant::now());
                self.write_status(cache, progress, &readings, finished);
            }
            if finished {
                if let Some(b) = &bar {
                    b.finish_and_clear();
                }
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn write_status(
        &self,
        cache: &Cache,
        progress: &Progress,
        readings: &[Reading],
        finished: bool,
    ) {
        let Some(path) = &self.status_file else {
            return;
        };
        let todo = progress.total - progress.skipped;
        let (done, failed) = (
            progress.done.load(Ordering::Relaxed) as u64,
            progress.failed.load(Ordering::Relaxed) as u64,
        );
        let (rate, eta) = rate_eta(progress, todo);
        let (placed, gpu_bytes, ram_bytes, b) = cache.placements();
        let workers = progress
            .workers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let (peak, now) = rss();
        let status = serde_json::json!({
            "state": if finished { "finished" } else { "running" },
            "updated_unix_s": SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64()),
            "elapsed_s": progress.started.elapsed().as_secs_f64(),
            "backend": self.gpu.as_ref().map_or_else(|| "cpu".to_owned(), |g| format!("gpu: {}", g.describe())),
            "frames": {
                "total": progress.total,
                "already_done": progress.skipped,
                "done": done,
                "failed": failed,
                "pruned": progress.pruned.load(Ordering::Relaxed),
                "remaining": todo.saturating_sub(done + failed),
            },
            "rate_frames_per_s": rate,
            "eta_s": eta,
            "workers": workers,
            "active_workers": progress.active.load(Ordering::Relaxed),
            "residency": {
                "scenes": placed,
                "resident_bytes": gpu_bytes,
                "staged_ram_bytes": ram_bytes,
                "budgets": {
                    "max_resident_scenes": b.max_resident,
                    "resident_bytes": b.gpu_bytes,
                    "ram_bytes": b.ram_bytes,
                },
            },
            "gpu_tracked_bytes": self.gpu.as_ref().map(|g| g.memory().resident()),
            "rss_bytes": now,
            "peak_rss_bytes": peak,
            "probes": readings.iter().map(|r| serde_json::json!({
                "probe": r.probe, "share": r.share, "smoothed": r.smoothed, "open": r.open,
            })).collect::<Vec<_>>(),
        });
        if let Err(e) = scheduler::jobs::status::write_json_atomic(path, &status) {
            eprintln!("grin batch: status file: {e}");
        }
    }
}

/// Frames per second so far and the seconds left at that rate.
fn rate_eta(progress: &Progress, todo: u64) -> (f64, Option<f64>) {
    let ended =
        (progress.done.load(Ordering::Relaxed) + progress.failed.load(Ordering::Relaxed)) as f64;
    let t = progress.started.elapsed().as_secs_f64().max(1e-9);
    let rate = ended / t;
    let left = todo as f64 - ended;
    (rate, (rate > 0.0).then(|| left / rate))
}
