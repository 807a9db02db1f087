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

mod cli;
mod engine;
pub(crate) mod inspect;
pub(crate) mod manifest;
mod monitor;
mod outputs;
pub(crate) mod probes;
mod report;
mod shard;
mod worker;

pub(crate) use cli::BatchArgs;
use cli::*;
use outputs::*;
pub(crate) use report::{FrameReport, Progress, WorkerState, rss};
use worker::*;

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

fn fail(exit: Exit, msg: impl std::fmt::Display) -> Failure {
    Failure::new(exit, format!("grin batch: {msg}"))
}

/// Runs the batch; the summary line on success.
pub(crate) fn batch(args: &BatchArgs) -> Result<String, Failure> {
    let started = Instant::now();
    let started_at = std::time::SystemTime::now();
    let mut manifest = Manifest::load(&args.manifest).map_err(|e| fail(Exit::BadInput, e))?;
    if args.coco.is_some() {
        for job in &mut manifest.jobs {
            job.outputs.metadata = true;
        }
    }
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
    if let Some(coco) = &args.coco {
        crate::render_cmd::check_output(coco, "--coco").map_err(|f| {
            Failure::new(f.exit, f.message.replacen("grin render", "grin batch", 1))
        })?;
    }
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
        ours.extend(outputs_of(job, &image, f));
        ours.insert(marker(&image));
    }
    remove_stale_temporaries(&ours);
    let mut todo = Vec::new();
    for &(ji, f) in &mine {
        let job = &manifest.jobs[ji];
        let image = image_path(&args.out.join(&job.name), f);
        if args.skip_completed && complete(&args.out, job, &image, f) {
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
            let need = job_bytes(job);
            available.is_some_and(|a| need > u128::from(a))
        })
        .map(|(k, _)| k)
        .collect();
    todo.retain(|&(ji, f)| {
        if !too_big.contains(&ji) {
            return true;
        }
        let job = &jobs[ji];
        let need = job_bytes(job);
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
    let mut coco_line = String::new();
    if let Some(coco) = &args.coco {
        // Every frame of this shard whose metadata is on disk (rendered now or by an
        // earlier run), in manifest order.
        let mut metas = Vec::new();
        for &(ji, f) in &mine {
            let name = &jobs[ji].name;
            let image = image_path(&args.out.join(name), f);
            let Ok(text) = std::fs::read_to_string(image.with_extension("json")) else {
                continue;
            };
            let meta: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
                fail(
                    Exit::Failed,
                    format!("{}: {e}", image.with_extension("json").display()),
                )
            })?;
            let file = image_path(name, f).display().to_string();
            metas.push((file, meta));
        }
        let c = crate::truth_out::coco(&metas);
        scheduler::jobs::status::write_json_atomic(coco, &c).map_err(|e| fail(Exit::Failed, e))?;
        coco_line = format!(
            "; COCO {} ({} images, {} annotations)",
            coco.display(),
            metas.len(),
            c["annotations"].as_array().map_or(0, Vec::len)
        );
    }
    let line = format!(
        "grin batch: {done} frames rendered, {} already done, {failed} failed, {pruned} pruned in {:.1} s; report {}{coco_line}",
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

/// Bytes a job's frame takes on the host, twice (one rendering, one being written):
/// its film and images, a sweep's films each.
fn job_bytes(job: &Job) -> u128 {
    let films = job.sweep.as_ref().map_or(1, |s| s.renders() as u128);
    crate::render_cmd::frame_bytes(job.size, job.outputs.aovs.len()) * 2 * films
}
