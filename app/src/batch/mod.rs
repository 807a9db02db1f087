//! `grin batch`: many scenes and frames in one process, under GPU and RAM budgets.
//!
//! The manifest's frames (this shard's) become work units grouped by scene key (a
//! scene file, or an animated job's sequence); `--workers` workers (default: cores
//! minus two, at least one; the threads divided among them) take units in order and
//! lease their key from a residency cache ([`engine::Cache`]): a resident scene
//! serves every frame that needs it; at most `--max-resident-scenes` are resident,
//! within `--vram-budget` on the GPU backend; released scenes are demoted to RAM
//! (within `--ram-budget`) while later work needs them; a prefetch thread parses
//! upcoming scenes into RAM. Rendered frames go to a writer thread through a queue of
//! `--frames-in-flight`; each output is written to a temporary file, synced and
//! renamed, then a done-marker; `--skip-completed` renders exactly the frames whose
//! outputs or marker are missing. A failure is classified: out of memory walks the
//! ladder (idle sequences off the GPU, then the least recently used idle scene, then
//! skip); transient failures are retried `--retries` times; a failing frame never
//! stops the batch. A status file is rewritten every few seconds; the report gives
//! per-frame timings, sizes, quality gates and failures.
//!
//! On the CPU backend the "resident" tier is the scenes with built acceleration
//! structures, in host memory: `--max-resident-scenes` counts them and they and the
//! RAM-staged (parsed) scenes share `--ram-budget`, half each.
//!
//! Exit codes: 0 all frames done (including "everything was already done"), 1 some
//! frames failed, 2 bad input (the manifest, `--out`, flags), 3 the batch was a
//! single frame and it ran out of GPU memory, 4 `--backend gpu` without a GPU.

mod engine;
pub(crate) mod inspect;
pub(crate) mod manifest;
mod monitor;
pub(crate) mod probes;
mod shard;

use std::collections::VecDeque;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::time::{Duration, Instant};

use renderer_core::film::Film;
use renderer_core::frame::RenderSettings;
use renderer_core::scheduler::CancelToken;
use renderer_core::session::Session;
use renderer_core::texture::linear_to_srgb;
use scheduler::jobs::residency::Budgets;
use scheduler::jobs::retry::{Failure as Class, RetryPolicy, Step};
use scheduler::order::Order;
use serde::Serialize;

use crate::render_cmd::{
    Aov, BackendArg, Exit, Failure, open_renderers, rgb_f32, save, srgb8, write_aov,
};
use engine::{Cache, FrameError, Unit};
use manifest::{Job, Manifest};

/// `grin batch` arguments.
#[derive(clap::Args, Debug)]
pub(crate) struct BatchArgs {
    /// The manifest (RON): jobs, or a list of scene files.
    manifest: PathBuf,
    /// Output folder; every output stays inside it.
    #[arg(long)]
    out: PathBuf,
    /// Render only the frames whose outputs or done-marker are missing.
    #[arg(long)]
    skip_completed: bool,
    /// Where frames render (as for `grin render`).
    #[arg(long, value_enum, default_value_t = BackendArg::Auto)]
    backend: BackendArg,
    /// Frames rendered at once (default: cores minus two, at least one).
    #[arg(long)]
    workers: Option<usize>,
    /// Threads in all, divided among the workers (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Rendered frames waiting to be written, at most (default: twice the workers).
    #[arg(long)]
    frames_in_flight: Option<usize>,
    /// Scenes resident at once (on the GPU; on the CPU backend, with built
    /// acceleration structures).
    #[arg(long, default_value_t = 4)]
    max_resident_scenes: usize,
    /// GPU memory for resident scenes ("512M", "2G", "1.5GiB", bytes).
    #[arg(long, value_parser = parse_bytes, default_value = "2G")]
    vram_budget: u64,
    /// RAM for staged scenes (default: half the available memory, within the cgroup's
    /// limit).
    #[arg(long, value_parser = parse_bytes)]
    ram_budget: Option<u64>,
    /// Scene keys parsed into RAM ahead of use.
    #[arg(long, default_value_t = 2)]
    prefetch: usize,
    /// Retries of a frame after a transient failure.
    #[arg(long, default_value_t = 2)]
    retries: u32,
    /// Delay before each retry, in milliseconds.
    #[arg(long, default_value_t = 500)]
    retry_delay_ms: u64,
    /// The batch report (default: OUT/report.json, or OUT/report.I-of-N.json for
    /// a shard).
    #[arg(long)]
    report: Option<PathBuf>,
    /// A status file (JSON), rewritten atomically every --status-interval seconds.
    #[arg(long)]
    status_file: Option<PathBuf>,
    /// Seconds between status file rewrites.
    #[arg(long, default_value_t = 2.0)]
    status_interval: f64,
    /// Seconds between heartbeat lines when stderr is not a terminal.
    #[arg(long, default_value_t = 10.0)]
    heartbeat: f64,
    /// Move frames whose share of pixels that hit geometry is below --prune-below to
    /// OUT/pruned/ and report them.
    #[arg(long)]
    prune_empty: bool,
    /// The hit share under which --prune-empty prunes a frame.
    #[arg(long, default_value_t = 0.001)]
    prune_below: f64,
    /// Render shard I of N ("I/N", 0-based): the manifest's frames, in order (job by
    /// job, frame by frame), are cut into N contiguous runs of nearly equal length
    /// (run I holds frames floor(I T / N) .. floor((I+1) T / N) of T), so N machines
    /// render every frame exactly once and each loads few scenes. Default: from
    /// SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN of SLURM_ARRAY_TASK_COUNT, or from
    /// JOB_COMPLETION_INDEX of GRIN_SHARD_COUNT (Kubernetes Indexed Jobs), else 0/1.
    #[arg(long, value_parser = shard::parse_shard)]
    shard: Option<(u64, u64)>,
    /// Render only units A..=B ("A-B", or "A") of the manifest's frames counted in
    /// order from 0 (job by job, frame by frame): a render farm's frame range.
    #[arg(long, value_parser = shard::parse_range, conflicts_with = "shard")]
    range: Option<(u64, u64)>,
    /// Gate new frames on the probes (CPU, memory, GPU): fewer workers take frames
    /// while a gate is closed, more again when all are open.
    #[arg(long)]
    auto_scale: bool,
    /// CPU use limit, percent of all cores.
    #[arg(long, default_value_t = 85.0)]
    max_cpu: f64,
    /// Memory to leave free, MiB.
    #[arg(long, default_value_t = 2048)]
    min_free_mem_mb: u64,
    /// GPU utilisation limit, percent (NVML, rocm-smi or intel_gpu_top).
    #[arg(long)]
    max_gpu_util: Option<f64>,
    /// GPU memory use limit, MiB (NVML or rocm-smi).
    #[arg(long)]
    max_gpu_mem_mb: Option<u64>,
    /// A gate closes when its smoothed load reaches this share of its limit...
    #[arg(long, default_value_t = 0.85)]
    high_watermark: f64,
    /// ...and opens again at or below this one.
    #[arg(long, default_value_t = 0.70)]
    low_watermark: f64,
    /// Samples each gate averages.
    #[arg(long, default_value_t = 5)]
    probe_window: usize,
    /// Milliseconds between probe polls.
    #[arg(long, default_value_t = 1000)]
    poll_ms: u64,
    /// Log every probe sample to this file (.csv, else JSON lines), for tuning.
    #[arg(long)]
    probe_log: Option<PathBuf>,
}

/// Parses a byte size: a number with an optional K, M, G or T suffix (powers of
/// 1024; "iB" or "B" after it is accepted).
fn parse_bytes(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let t = t
        .strip_suffix("iB")
        .or_else(|| t.strip_suffix('B'))
        .unwrap_or(t);
    let (num, unit) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&t[..i], c.to_ascii_uppercase()),
        _ => (t, ' '),
    };
    let scale: u64 = match unit {
        ' ' => 1,
        'K' => 1 << 10,
        'M' => 1 << 20,
        'G' => 1 << 30,
        'T' => 1 << 40,
        _ => return Err(format!("{s:?}: unknown unit (K, M, G, T)")),
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("{s:?}: expected a size like 512M or 2G"))?;
    if !(v.is_finite() && v >= 0.0) {
        return Err(format!("{s:?}: must be a non-negative size"));
    }
    Ok((v * scale as f64) as u64)
}

fn fail(exit: Exit, msg: impl std::fmt::Display) -> Failure {
    Failure::new(exit, format!("grin batch: {msg}"))
}

/// One frame in the report.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct FrameReport {
    job: usize,
    frame: u32,
    output: String,
    status: &'static str,
    worker: usize,
    /// How its scene was served: resident, promoted from RAM, loaded, streamed.
    scene: &'static str,
    load_s: f64,
    accel_s: f64,
    upload_s: f64,
    render_s: f64,
    write_s: f64,
    bytes: u64,
    retries: u32,
    hit_share: f64,
    mean_luminance: f64,
    non_finite: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    failure: Option<Class>,
}

impl FrameReport {
    fn failed(unit: Unit, dir: &Path, worker: usize, retries: u32, e: &FrameError) -> Self {
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
    fn elsewhere(unit: Unit, dir: &Path, worker: usize) -> Self {
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

fn image_path(dir: &Path, frame: u32) -> PathBuf {
    dir.join(format!("frame_{frame:05}.png"))
}

fn outputs_of(job: &Job, image: &Path) -> Vec<PathBuf> {
    let mut v = Vec::new();
    if job.outputs.png {
        v.push(image.to_path_buf());
    }
    if job.outputs.exr {
        v.push(image.with_extension("exr"));
    }
    for a in &job.outputs.aovs {
        let ext = if job.outputs.exr { "exr" } else { "png" };
        let stem = image
            .file_stem()
            .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
        v.push(image.with_file_name(format!("{stem}.{a}.{ext}")));
    }
    v
}

fn marker(image: &Path) -> PathBuf {
    let mut m = image.as_os_str().to_owned();
    m.push(".done");
    PathBuf::from(m)
}

/// `GRIN_BATCH_PANIC_AT=N` makes the Nth frame render of the process panic (for
/// testing that a panicking frame is reported and the batch goes on).
fn inject_panic() {
    static RENDERS: AtomicUsize = AtomicUsize::new(0);
    let n = RENDERS.fetch_add(1, Ordering::Relaxed) + 1;
    if std::env::var("GRIN_BATCH_PANIC_AT")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        == Some(n)
    {
        panic!("injected panic (GRIN_BATCH_PANIC_AT={n})");
    }
}

/// Removes the temporary files (`NAME.PID.tmp`, or `NAME.tmp` of older versions)
/// of the files in `outputs`, and the claims on them that a killed run on this host
/// left, scanning each of their folders once.
fn remove_stale_temporaries(outputs: &std::collections::HashSet<PathBuf>) {
    let dirs: std::collections::BTreeSet<&Path> =
        outputs.iter().filter_map(|p| p.parent()).collect();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            // A claim left by a killed run on this host (its process is gone).
            if let Some(image) = name.strip_suffix(".claim") {
                if outputs.contains(&dir.join(image)) {
                    let holder = std::fs::read_to_string(e.path()).unwrap_or_default();
                    let stale = holder.split_once('@').is_some_and(|(pid, host)| {
                        host == host_name() && !Path::new("/proc").join(pid).exists()
                    });
                    if stale {
                        let _ = std::fs::remove_file(e.path());
                    }
                }
                continue;
            }
            let Some(base) = name.strip_suffix(".tmp") else {
                continue;
            };
            let base = match base.rsplit_once('.') {
                Some((b, pid)) if !pid.is_empty() && pid.bytes().all(|c| c.is_ascii_digit()) => b,
                _ => base,
            };
            if outputs.contains(&dir.join(base)) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

/// Where --prune-empty moves a frame's files: OUT/pruned/NAME/...
fn pruned_path(out: &Path, job: &Job, file: &Path) -> PathBuf {
    let name = file.file_name().unwrap_or_default();
    out.join("pruned").join(&job.name).join(name)
}

/// Whether a frame is complete: every output and its marker, in place or pruned.
fn complete(out: &Path, job: &Job, image: &Path) -> bool {
    let all = |f: &dyn Fn(&Path) -> PathBuf| {
        f(&marker(image)).is_file() && outputs_of(job, image).iter().all(|p| f(p).is_file())
    };
    all(&|p| p.to_path_buf()) || all(&|p| pruned_path(out, job, p))
}

/// A rendered frame on its way to the writer.
struct Rendered {
    unit: Unit,
    worker: usize,
    served: &'static str,
    film: Film,
    load_s: f64,
    accel_s: f64,
    upload_s: f64,
    render_s: f64,
    retries: u32,
    /// This process's claim on the frame, released once its outputs are written.
    claim: Option<Claim>,
}

/// A frame this process is rendering: `<image>.claim` created exclusively (holding
/// `pid@host`), so a second batch on the same `--out` (or an overlapping shard or
/// range) leaves the frame alone; removed when dropped. A claim whose process is
/// gone (same host, no such pid) is stale and taken over.
#[derive(Debug)]
struct Claim(PathBuf);

impl Drop for Claim {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_owned())
        .unwrap_or_default()
}

impl Claim {
    /// Claims the frame whose image is `image`; `Ok(None)` when another live process
    /// holds it.
    fn take(image: &Path) -> Result<Option<Self>, String> {
        let mut path = image.as_os_str().to_owned();
        path.push(".claim");
        let path = PathBuf::from(path);
        let me = format!("{}@{}", std::process::id(), host_name());
        for _ in 0..2 {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut f) => {
                    use std::io::Write;
                    // Held from here: dropped (removed) if the write fails.
                    let claim = Self(path);
                    f.write_all(me.as_bytes())
                        .map_err(|e| format!("{}: {e}", claim.0.display()))?;
                    return Ok(Some(claim));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let holder = std::fs::read_to_string(&path).unwrap_or_default();
                    let stale = holder.split_once('@').is_some_and(|(pid, host)| {
                        host == host_name() && !Path::new("/proc").join(pid).exists()
                    });
                    if !stale {
                        return Ok(None);
                    }
                    let _ = std::fs::remove_file(&path);
                }
                Err(e) => return Err(format!("{}: {e}", path.display())),
            }
        }
        Ok(None)
    }
}

/// What one worker is doing, for the status file.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct WorkerState {
    state: &'static str,
    job: Option<usize>,
    name: Option<String>,
    frame: Option<u32>,
    passes_done: u32,
    spp: u32,
}

impl WorkerState {
    fn idle() -> Self {
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
    fn set(&self, worker: usize, f: impl FnOnce(&mut WorkerState)) {
        let mut w = self.workers.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(s) = w.get_mut(worker) {
            f(s);
        }
    }

    fn record(&self, r: FrameReport) {
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

/// The RAM budget's default: half the available memory (within the cgroup's limit).
fn default_ram_budget() -> u64 {
    let mut sys = sysinfo::System::new();
    probes::memory(&mut sys).1 / 2
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

/// Runs the batch; the summary line on success.
pub(crate) fn batch(args: &BatchArgs) -> Result<String, Failure> {
    let started = Instant::now();
    let started_at = std::time::SystemTime::now();
    let manifest = Manifest::load(&args.manifest).map_err(|e| fail(Exit::BadInput, e))?;
    for (flag, v) in [
        ("--workers", args.workers),
        ("--frames-in-flight", args.frames_in_flight),
    ] {
        if v == Some(0) {
            return Err(fail(Exit::BadInput, format!("{flag} must be at least 1")));
        }
        if flag == "--workers" && v.is_some_and(|n| n > scheduler::pool::max_threads()) {
            return Err(fail(
                Exit::BadInput,
                format!(
                    "--workers: at most {} on this machine",
                    scheduler::pool::max_threads()
                ),
            ));
        }
    }
    if args.ram_budget == Some(0) {
        return Err(fail(
            Exit::BadInput,
            "--ram-budget must be above 0 (on the CPU backend, resident and staged scenes share it, half each)",
        ));
    }
    if args.max_resident_scenes == 0 {
        return Err(fail(
            Exit::BadInput,
            "--max-resident-scenes must be at least 1",
        ));
    }
    if !(0.0 < args.low_watermark && args.low_watermark < args.high_watermark) {
        return Err(fail(
            Exit::BadInput,
            "watermarks must satisfy 0 < --low-watermark < --high-watermark",
        ));
    }
    std::fs::create_dir_all(&args.out)
        .map_err(|e| fail(Exit::BadInput, format!("--out {}: {e}", args.out.display())))?;
    let shard = match (args.shard, args.range) {
        (Some(s), _) => Some(s),
        (None, Some(_)) => None,
        (None, None) => {
            shard::shard_from_env(|k| std::env::var(k).ok()).map_err(|e| fail(Exit::BadInput, e))?
        }
    };
    let report_path = args
        .report
        .clone()
        .unwrap_or_else(|| match (shard, args.range) {
            (Some((i, n)), _) => args.out.join(format!("report.{i}-of-{n}.json")),
            (None, Some((a, b))) => args.out.join(format!("report.{a}-{b}.json")),
            (None, None) => args.out.join("report.json"),
        });
    // The report and the status file can be written: checked before anything renders.
    crate::render_cmd::check_output(&report_path, "--report")
        .map_err(|f| Failure::new(f.exit, f.message.replacen("grin render", "grin batch", 1)))?;
    if let Some(status) = &args.status_file {
        crate::render_cmd::check_output(status, "--status-file").map_err(|f| {
            Failure::new(f.exit, f.message.replacen("grin render", "grin batch", 1))
        })?;
    }
    let all: u64 = manifest
        .jobs
        .iter()
        .map(|j| u64::from(j.frames.count))
        .sum();
    let (si, sn) = shard.unwrap_or((0, 1));
    let (lo, hi) = shard::frames(shard, args.range, all).map_err(|e| fail(Exit::BadInput, e))?;
    // This shard's frames, in manifest order, and those still to render.
    let mut mine = Vec::new();
    let mut unit = 0u64;
    for (ji, job) in manifest.jobs.iter().enumerate() {
        for f in job.frames.start..job.frames.start + job.frames.count {
            if (lo..hi).contains(&unit) {
                mine.push((ji, f));
            }
            unit += 1;
        }
    }
    // A run killed while writing leaves temporary files (NAME.PID.tmp); they go, for
    // this shard's own frames' files only.
    let mut ours = std::collections::HashSet::new();
    for &(ji, f) in &mine {
        let job = &manifest.jobs[ji];
        let image = image_path(&args.out.join(&job.name), f);
        ours.extend(outputs_of(job, &image));
        ours.insert(marker(&image));
    }
    remove_stale_temporaries(&ours);
    let mut todo = Vec::new();
    for &(ji, f) in &mine {
        let job = &manifest.jobs[ji];
        let image = image_path(&args.out.join(&job.name), f);
        if args.skip_completed && complete(&args.out, job, &image) {
            continue;
        }
        todo.push((ji, f));
    }
    let jobs = Arc::new(manifest.jobs);
    let progress = Arc::new(Progress {
        started,
        total: mine.len() as u64,
        skipped: (mine.len() - todo.len()) as u64,
        done: AtomicUsize::new(0),
        failed: AtomicUsize::new(0),
        pruned: AtomicUsize::new(0),
        workers: Mutex::new(Vec::new()),
        frames: Mutex::new(Vec::new()),
        active: AtomicUsize::new(0),
        finished: AtomicBool::new(false),
    });
    // A job whose frame cannot fit in the memory available (a film, the images it
    // writes, twice: one rendering, one being written) is skipped and reported; the
    // rest go on.
    let available = crate::render_cmd::available_memory();
    let too_big: std::collections::HashSet<usize> = jobs
        .iter()
        .enumerate()
        .filter(|(_, job)| {
            let need = crate::render_cmd::frame_bytes(job.size, job.outputs.aovs.len()) * 2;
            available.is_some_and(|a| need > u128::from(a))
        })
        .map(|(k, _)| k)
        .collect();
    todo.retain(|&(ji, f)| {
        if !too_big.contains(&ji) {
            return true;
        }
        let job = &jobs[ji];
        let need = crate::render_cmd::frame_bytes(job.size, job.outputs.aovs.len()) * 2;
        let e = FrameError {
            class: Class::OutOfMemory,
            message: format!(
                "a {}x{} frame needs about {:.2} GiB; {:.2} GiB is available (GRIN_MAX_MEMORY lowers it)",
                job.size.0,
                job.size.1,
                need as f64 / f64::from(1u32 << 30),
                available.unwrap_or(0) as f64 / f64::from(1u32 << 30)
            ),
        };
        let unit = Unit {
            job: ji,
            frame: f,
            key: 0,
            index: 0,
        };
        progress.record(FrameReport::failed(unit, &args.out.join(&job.name), 0, 0, &e));
        false
    });
    let mut single_oom = false;
    let mut budgets = None;
    if !todo.is_empty() {
        let cores = scheduler::PoolConfig::default()
            .resolve_threads()
            .map_err(|e| fail(Exit::BadInput, e))?;
        let workers = args
            .workers
            .unwrap_or_else(|| cores.saturating_sub(2).max(1))
            .min(todo.len());
        let renderers = open_renderers("grin batch", workers, args.threads, args.backend)?;
        let gpu = renderers.first().and_then(|r| r.gpu().cloned());
        let ram = args.ram_budget.unwrap_or_else(default_ram_budget);
        let b = if gpu.is_some() {
            Budgets {
                max_resident: args.max_resident_scenes,
                gpu_bytes: args.vram_budget,
                ram_bytes: ram,
            }
        } else {
            Budgets {
                max_resident: args.max_resident_scenes,
                gpu_bytes: ram / 2,
                ram_bytes: ram / 2,
            }
        };
        budgets = Some(b);
        let (units, keys) = engine::plan(&jobs, &todo);
        let cache = Cache::new(b, gpu.clone(), &units, keys, Arc::clone(&jobs));
        *progress
            .workers
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = vec![WorkerState::idle(); renderers.len()];
        progress.active.store(renderers.len(), Ordering::Relaxed);
        let ctx = Ctx {
            args,
            jobs: &jobs,
            cache: &cache,
            progress: &progress,
            queue: Mutex::new(units.into_iter().collect()),
            policy: RetryPolicy {
                retries: args.retries,
                delay: Duration::from_millis(args.retry_delay_ms),
            },
            started_at,
        };
        let in_flight = args.frames_in_flight.unwrap_or(2 * renderers.len());
        let (tx, rx) = mpsc::sync_channel::<Rendered>(in_flight);
        let monitor =
            monitor::Monitor::new(args, gpu, renderers.len(), std::io::stderr().is_terminal());
        std::thread::scope(|s| {
            let ctx = &ctx;
            let writer = s.spawn(move || ctx.write_all(&rx));
            s.spawn(|| monitor.run(ctx.cache, ctx.progress));
            s.spawn(|| ctx.prefetch());
            let handles: Vec<_> = renderers
                .into_iter()
                .enumerate()
                .map(|(i, r)| {
                    let tx = tx.clone();
                    s.spawn(move || ctx.work(i, &mut Session::new(r), &tx))
                })
                .collect();
            drop(tx);
            for h in handles {
                let _ = h.join();
            }
            let _ = writer.join();
            // The monitor writes the last status and ends.
            ctx.progress.finished.store(true, Ordering::Relaxed);
        });
        let frames = progress
            .frames
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        single_oom =
            mine.len() == 1 && frames.iter().any(|f| f.failure == Some(Class::OutOfMemory));
    }
    progress.finished.store(true, Ordering::Relaxed);
    let (done, failed, pruned) = (
        progress.done.load(Ordering::Relaxed),
        progress.failed.load(Ordering::Relaxed),
        progress.pruned.load(Ordering::Relaxed),
    );
    let mut frames = progress
        .frames
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    frames.sort_by_key(|f| (f.job, f.frame));
    let (peak_rss, _) = rss();
    let report = serde_json::json!({
        "manifest": args.manifest.display().to_string(),
        "shard": [si, sn],
        "frames_total": mine.len(),
        "frames_done": done,
        "frames_skipped": progress.skipped,
        "frames_failed": failed,
        "frames_pruned": pruned,
        "seconds": started.elapsed().as_secs_f64(),
        "peak_rss_bytes": peak_rss,
        "budgets": budgets.map(|b| serde_json::json!({
            "max_resident_scenes": b.max_resident,
            "resident_bytes": b.gpu_bytes,
            "ram_bytes": b.ram_bytes,
        })),
        "frames": frames,
    });
    scheduler::jobs::status::write_json_atomic(&report_path, &report)
        .map_err(|e| fail(Exit::Failed, e))?;
    let line = format!(
        "grin batch: {done} frames rendered, {} already done, {failed} failed, {pruned} pruned in {:.1} s; report {}",
        progress.skipped,
        started.elapsed().as_secs_f64(),
        report_path.display()
    );
    if single_oom {
        return Err(Failure::new(
            Exit::OutOfMemory,
            format!("{line} (out of GPU memory)"),
        ));
    }
    if failed > 0 {
        return Err(Failure::new(Exit::Failed, line));
    }
    Ok(line)
}

/// What the batch's threads share.
struct Ctx<'a> {
    args: &'a BatchArgs,
    jobs: &'a [Job],
    cache: &'a Cache,
    progress: &'a Progress,
    queue: Mutex<VecDeque<Unit>>,
    policy: RetryPolicy,
    /// When this batch started (wall clock, for done-markers of concurrent batches).
    started_at: std::time::SystemTime,
}

impl Ctx<'_> {
    fn next_unit(&self) -> Option<Unit> {
        self.queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop_front()
    }

    /// One worker: takes units in order while it is among the active ones, renders
    /// each with retries on its session, hands the film to the writer.
    fn work(&self, id: usize, session: &mut Session, tx: &mpsc::SyncSender<Rendered>) {
        loop {
            while id >= self.progress.active.load(Ordering::Relaxed) {
                // Nothing left to wait for: the monitor may have stopped scaling.
                if self
                    .queue
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .is_empty()
                {
                    self.progress.set(id, |w| *w = WorkerState::idle());
                    return;
                }
                self.progress.set(id, |w| {
                    *w = WorkerState {
                        state: "paused",
                        ..WorkerState::idle()
                    }
                });
                std::thread::sleep(Duration::from_millis(100));
            }
            let Some(unit) = self.next_unit() else {
                self.progress.set(id, |w| *w = WorkerState::idle());
                return;
            };
            let job = &self.jobs[unit.job];
            self.progress.set(id, |w| {
                *w = WorkerState {
                    state: "loading",
                    job: Some(unit.job),
                    name: Some(job.name.display().to_string()),
                    frame: Some(unit.frame),
                    passes_done: 0,
                    spp: job.spp,
                }
            });
            let dir = self.args.out.join(&job.name);
            let claim = match self
                .safe_dir(job)
                .and_then(|()| {
                    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))
                })
                .and_then(|()| Claim::take(&image_path(&dir, unit.frame)))
            {
                // Claimed, but finished since this batch started by another process
                // on the same --out: not rendered again.
                Ok(Some(_)) if self.done_since_start(job, &image_path(&dir, unit.frame)) => {
                    self.cache.forgo(unit.key);
                    self.progress.record(FrameReport::elsewhere(unit, &dir, id));
                    continue;
                }
                Ok(Some(c)) => c,
                Ok(None) => {
                    self.cache.forgo(unit.key);
                    self.progress.record(FrameReport::elsewhere(unit, &dir, id));
                    continue;
                }
                Err(e) => {
                    self.cache.forgo(unit.key);
                    let e = FrameError::fatal(e);
                    eprintln!(
                        "grin batch: job {} frame {} failed: {}",
                        unit.job, unit.frame, e.message
                    );
                    self.progress
                        .record(FrameReport::failed(unit, &dir, id, 0, &e));
                    continue;
                }
            };
            let mut attempt = 0;
            let outcome = loop {
                match self.attempt(id, session, unit) {
                    Ok(r) => break Ok(r),
                    Err((e, pinned)) => {
                        let step = self.policy.next(e.class, attempt);
                        if pinned && step != Step::Skip {
                            self.cache.unpin(unit.key);
                        }
                        match step {
                            Step::EvictSequences => {
                                self.cache.evict_sequences();
                            }
                            Step::EvictScene => {
                                self.cache.evict_least_recent();
                            }
                            Step::Retry(d) => std::thread::sleep(d),
                            _ => {
                                if pinned {
                                    self.cache.release(unit.key);
                                } else {
                                    self.cache.forgo(unit.key);
                                }
                                break Err(e);
                            }
                        }
                        eprintln!(
                            "grin batch: job {} frame {}: {} ({:?}); {:?}, retrying",
                            unit.job, unit.frame, e.message, e.class, step
                        );
                        attempt += 1;
                    }
                }
            };
            session.clear_scene();
            match outcome {
                Ok(mut r) => {
                    r.retries = attempt;
                    r.claim = Some(claim);
                    self.progress.set(id, |w| w.state = "writing");
                    if tx.send(r).is_err() {
                        return;
                    }
                }
                Err(e) => {
                    drop(claim);
                    eprintln!(
                        "grin batch: job {} frame {} failed: {}",
                        unit.job, unit.frame, e.message
                    );
                    self.progress
                        .record(FrameReport::failed(unit, &dir, id, attempt, &e));
                }
            }
        }
    }

    /// One try at a unit: lease, render. On failure, whether the lease is held.
    fn attempt(
        &self,
        id: usize,
        session: &mut Session,
        unit: Unit,
    ) -> Result<Rendered, (FrameError, bool)> {
        let job = &self.jobs[unit.job];
        // A panic anywhere in a frame (a defect, or input no check caught) is that
        // frame's failure: the batch goes on and ends with its report.
        let panicked = |what: &str, p: Box<dyn std::any::Any + Send>| {
            let msg = p
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic".to_owned());
            FrameError::fatal(format!("panicked while {what}: {msg}"))
        };
        let lease = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.cache.lease(unit.key, session.renderer_mut())
        }))
        .map_err(|p| (panicked("loading its scene", p), false))?
        .map_err(|e| (e, false))?;
        let rendered = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let ready = lease
                .readies
                .get(unit.index)
                .ok_or_else(|| FrameError::fatal("no scene for this frame"))?;
            session.adopt(ready);
            let scene = ready.scene();
            let mut camera = scene
                .camera()
                .ok_or_else(|| FrameError::fatal("the scene has no camera"))?;
            if let Some((position, look_at)) = job.camera_at(unit.frame) {
                camera.position = position;
                camera.look_at = look_at;
            }
            let settings = RenderSettings {
                width: job.size.0,
                height: job.size.1,
                spp: job.spp,
                seed: job.seed,
                tile: (16, 16),
                order: Order::Scanline,
                max_bounces: job.bounces,
            };
            session.set_camera(camera);
            session.set_settings(settings);
            self.progress.set(id, |w| w.state = "rendering");
            inject_panic();
            let t = Instant::now();
            session.render_all(&CancelToken::new(), |r| {
                self.progress.set(id, |w| w.passes_done = r.passes_done);
            })?;
            Ok::<_, FrameError>(t.elapsed().as_secs_f64())
        }))
        .unwrap_or_else(|p| Err(panicked("rendering", p)));
        match rendered {
            Ok(render_s) => {
                let film = session.renderer().film().clone();
                self.cache.release(unit.key);
                Ok(Rendered {
                    unit,
                    worker: id,
                    served: lease.served(),
                    film,
                    load_s: lease.load_s,
                    accel_s: lease.accel_s,
                    upload_s: lease.upload_s,
                    render_s,
                    retries: 0,
                    claim: None,
                })
            }
            Err(e) => Err((e, true)),
        }
    }

    /// The writer: outputs, marker, quality gates, pruning; records each frame.
    fn write_all(&self, rx: &mpsc::Receiver<Rendered>) {
        for r in rx {
            let job = &self.jobs[r.unit.job];
            let dir = self.args.out.join(&job.name);
            let written = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                self.write_frame(job, &dir, &r)
            }))
            .unwrap_or_else(|_| Err("panicked while writing its outputs".to_owned()));
            let report = written.unwrap_or_else(|e| {
                let e = FrameError {
                    class: Class::Transient,
                    message: e,
                };
                eprintln!(
                    "grin batch: job {} frame {} failed: {}",
                    r.unit.job, r.unit.frame, e.message
                );
                FrameReport::failed(r.unit, &dir, r.worker, r.retries, &e)
            });
            self.progress.set(r.worker, |w| {
                if w.state == "writing" {
                    w.state = "idle";
                }
            });
            self.progress.record(report);
        }
    }

    /// Whether the frame's done-marker was written after this batch started (by a
    /// concurrent batch on the same --out; an older marker is a previous run's).
    fn done_since_start(&self, job: &Job, image: &Path) -> bool {
        complete(&self.args.out, job, image)
            && std::fs::metadata(marker(image))
                .and_then(|m| m.modified())
                .is_ok_and(|t| t >= self.started_at)
    }

    /// Outputs never follow a link out of --out: no folder of the job's path may be a
    /// symbolic link (the files themselves are never replaced through one).
    fn safe_dir(&self, job: &Job) -> Result<(), String> {
        let mut at = self.args.out.clone();
        for c in job.name.components() {
            at.push(c);
            if std::fs::symlink_metadata(&at).is_ok_and(|m| m.file_type().is_symlink()) {
                return Err(format!(
                    "{} is a symbolic link; outputs never follow links out of --out",
                    at.display()
                ));
            }
        }
        Ok(())
    }

    fn write_frame(&self, job: &Job, dir: &Path, r: &Rendered) -> Result<FrameReport, String> {
        self.safe_dir(job)?;
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let image = image_path(dir, r.unit.frame);
        let t = Instant::now();
        let film = &r.film;
        let (w, h) = (film.width(), film.height());
        let rgb = film.rgb();
        let err = |f: Failure| f.message;
        if job.outputs.png {
            save(
                &image,
                srgb8(w, h, &rgb, linear_to_srgb),
                image::ImageFormat::Png,
            )
            .map_err(err)?;
        }
        if job.outputs.exr {
            save(
                &image.with_extension("exr"),
                rgb_f32(w, h, rgb.clone()),
                image::ImageFormat::OpenExr,
            )
            .map_err(err)?;
        }
        for a in &job.outputs.aovs {
            let aov = <Aov as clap::ValueEnum>::from_str(a, false)?;
            write_aov(film, aov, &image, job.outputs.exr).map_err(err)?;
        }
        let outputs = outputs_of(job, &image);
        let bytes = outputs
            .iter()
            .filter_map(|p| std::fs::metadata(p).ok())
            .map(|m| m.len())
            .sum();
        // The marker comes last: its presence says every output is whole.
        crate::render_cmd::write_file(&marker(&image), b"done\n").map_err(err)?;
        let n = rgb.len().max(1) as f64;
        let non_finite = rgb.iter().flatten().filter(|v| !v.is_finite()).count() as u64;
        let mean_luminance = rgb
            .iter()
            .filter(|p| p.iter().all(|v| v.is_finite()))
            .map(|p| 0.2126 * f64::from(p[0]) + 0.7152 * f64::from(p[1]) + 0.0722 * f64::from(p[2]))
            .sum::<f64>()
            / n;
        let hit_share = film.hit_mask().iter().map(|&m| f64::from(m)).sum::<f64>() / n;
        let mut status = "done";
        let mut output = image.display().to_string();
        if self.args.prune_empty && hit_share < self.args.prune_below {
            for p in outputs.iter().chain([&marker(&image)]) {
                let to = pruned_path(&self.args.out, job, p);
                if let Some(parent) = to.parent() {
                    std::fs::create_dir_all(parent)
                        .map_err(|e| format!("{}: {e}", parent.display()))?;
                }
                std::fs::rename(p, &to)
                    .map_err(|e| format!("{} -> {}: {e}", p.display(), to.display()))?;
            }
            status = "pruned";
            output = pruned_path(&self.args.out, job, &image)
                .display()
                .to_string();
        }
        Ok(FrameReport {
            job: r.unit.job,
            frame: r.unit.frame,
            output,
            status,
            worker: r.worker,
            scene: r.served,
            load_s: r.load_s,
            accel_s: r.accel_s,
            upload_s: r.upload_s,
            render_s: r.render_s,
            write_s: t.elapsed().as_secs_f64(),
            bytes,
            retries: r.retries,
            hit_share,
            mean_luminance,
            non_finite,
            error: None,
            failure: None,
        })
    }

    /// Parses the next `--prefetch` keys the queue will need into RAM, while the RAM
    /// budget has room.
    fn prefetch(&self) {
        if self.args.prefetch == 0 {
            return;
        }
        loop {
            let upcoming: Vec<usize> = {
                let q = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
                if q.is_empty() {
                    return;
                }
                let mut keys = Vec::new();
                for u in q.iter() {
                    if !keys.contains(&u.key) {
                        keys.push(u.key);
                        if keys.len() > self.args.prefetch {
                            break;
                        }
                    }
                }
                keys
            };
            // The first key is the one workers are on (or about to be); look past it.
            let mut staged = false;
            for &k in upcoming.iter().skip(1) {
                if !self.cache.is_held(k) && self.cache.prefetch(k) {
                    staged = true;
                }
            }
            if !staged {
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}
