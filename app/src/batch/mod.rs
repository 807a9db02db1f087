//! `grin batch`: many scenes and frames in one process. Each job's scene is loaded
//! once and serves all its frames (its meshes' BLASes stay cached in the renderer);
//! each frame's outputs are written to a temporary file, synced and renamed, then a
//! done-marker; `--skip-completed` renders exactly the frames whose outputs or marker
//! are missing. A failing frame is recorded in the report and the batch goes on.
//! At the end a report (JSON, written atomically) gives per-frame timings (load,
//! render, write), output sizes, quality gates (hit share, mean luminance, non-finite
//! values) and failures.
//!
//! Exit codes: 0 all frames done (including "everything was already done"), 1 some
//! frames failed, 2 bad input (the manifest, `--out`).

pub(crate) mod manifest;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use glam::{Affine3A, DVec3};
use renderer_core::render::{RenderSettings, Renderer, Snapshot};
use renderer_core::scene::Scene;
use renderer_core::texture::linear_to_srgb;
use scheduler::order::Order;
use serde::Serialize;

use crate::render_cmd::{Aov, BackendArg, Failure, open_renderer, rgb_f32, save, srgb8, write_aov};
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
    /// Worker threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// The batch report (default: OUT/report.json, or OUT/report.I-of-N.json for
    /// a shard).
    #[arg(long)]
    report: Option<PathBuf>,
    /// Render shard I of N ("I/N", 0-based): the manifest's frames, in order (job by
    /// job, frame by frame), are cut into N contiguous runs of nearly equal length
    /// (run I holds frames floor(I T / N) .. floor((I+1) T / N) of T), so N machines
    /// render every frame exactly once and each loads few scenes. Default: from
    /// SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN of SLURM_ARRAY_TASK_COUNT, or from
    /// JOB_COMPLETION_INDEX of GRIN_SHARD_COUNT (Kubernetes Indexed Jobs), else 0/1.
    #[arg(long, value_parser = parse_shard)]
    shard: Option<(u64, u64)>,
}

fn parse_shard(s: &str) -> Result<(u64, u64), String> {
    let bad = || format!("expected I/N with 0 <= I < N, got '{s}'");
    let (i, n) = s.split_once('/').ok_or_else(bad)?;
    let (i, n) = (
        i.trim().parse::<u64>().map_err(|_| bad())?,
        n.trim().parse::<u64>().map_err(|_| bad())?,
    );
    if n == 0 || i >= n {
        return Err(bad());
    }
    Ok((i, n))
}

/// The shard from the cluster's environment: Slurm job arrays, then Kubernetes
/// Indexed Jobs; `None` when neither is set.
fn shard_from_env(var: impl Fn(&str) -> Option<String>) -> Result<Option<(u64, u64)>, String> {
    let num = |k: &str| -> Result<Option<u64>, String> {
        var(k)
            .map(|v| {
                v.trim()
                    .parse::<u64>()
                    .map_err(|_| format!("{k}={v:?} is not a number"))
            })
            .transpose()
    };
    if let (Some(id), Some(count)) = (num("SLURM_ARRAY_TASK_ID")?, num("SLURM_ARRAY_TASK_COUNT")?) {
        let min = num("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
        let i = id
            .checked_sub(min)
            .ok_or("SLURM_ARRAY_TASK_ID is below SLURM_ARRAY_TASK_MIN")?;
        return parse_shard(&format!("{i}/{count}")).map(Some);
    }
    if let Some(i) = num("JOB_COMPLETION_INDEX")? {
        let n = num("GRIN_SHARD_COUNT")?
            .ok_or("JOB_COMPLETION_INDEX is set but GRIN_SHARD_COUNT is not")?;
        return parse_shard(&format!("{i}/{n}")).map(Some);
    }
    Ok(None)
}

fn fail(code: u8, msg: impl std::fmt::Display) -> Failure {
    (code, format!("grin batch: {msg}"))
}

/// One frame in the report.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_from_flags_and_cluster_variables() {
        assert_eq!(parse_shard("1/3"), Ok((1, 3)));
        assert!(
            parse_shard("3/3").is_err() && parse_shard("0/0").is_err() && parse_shard("x").is_err()
        );
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        assert_eq!(shard_from_env(env(&[])), Ok(None));
        // Slurm arrays may start at any index: --array=1-3 gives ids 1, 2, 3.
        const SLURM: [(&str, &str); 3] = [
            ("SLURM_ARRAY_TASK_ID", "2"),
            ("SLURM_ARRAY_TASK_COUNT", "3"),
            ("SLURM_ARRAY_TASK_MIN", "1"),
        ];
        assert_eq!(shard_from_env(env(&SLURM)), Ok(Some((1, 3))));
        const K8S: [(&str, &str); 2] = [("JOB_COMPLETION_INDEX", "2"), ("GRIN_SHARD_COUNT", "3")];
        assert_eq!(shard_from_env(env(&K8S)), Ok(Some((2, 3))));
        assert!(shard_from_env(env(&[("JOB_COMPLETION_INDEX", "0")])).is_err());
        assert!(
            shard_from_env(env(&[
                ("SLURM_ARRAY_TASK_ID", "x"),
                ("SLURM_ARRAY_TASK_COUNT", "2")
            ]))
            .is_err()
        );
    }
}

#[derive(Debug, Serialize)]
struct FrameReport {
    job: usize,
    frame: u32,
    output: String,
    status: &'static str,
    load_s: f64,
    render_s: f64,
    write_s: f64,
    bytes: u64,
    hit_share: f64,
    mean_luminance: f64,
    non_finite: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// The translation of `job`'s animated instance at `frame`, interpolated between
/// its keyframes.
fn translation_at(keys: &[manifest::MoveKey], frame: u32) -> DVec3 {
    let Some(first) = keys.first() else {
        return DVec3::ZERO;
    };
    if frame <= first.frame {
        return first.translate;
    }
    for w in keys.windows(2) {
        if frame <= w[1].frame {
            let t = f64::from(frame - w[0].frame) / f64::from(w[1].frame - w[0].frame);
            return w[0].translate.lerp(w[1].translate, t);
        }
    }
    keys.last().map_or(DVec3::ZERO, |k| k.translate)
}

/// `scene` as it is at `frame` of `job`.
fn frame_scene(scene: &Scene, job: &Job, frame: u32) -> Result<Scene, String> {
    let mut s = scene.clone();
    if let Some((position, look_at)) = job.camera_at(frame) {
        let cam = s
            .camera
            .as_mut()
            .ok_or("the job has a camera path but the scene has no camera")?;
        cam.position = position;
        cam.look_at = look_at;
    }
    for (a, anim) in job.animate.iter().enumerate() {
        let inst = s.instances.get_mut(anim.instance).ok_or_else(|| {
            format!(
                "animate[{a}].instance {} but the scene has {} instances",
                anim.instance,
                scene.instances.len()
            )
        })?;
        let t = translation_at(&anim.keys, frame).as_vec3();
        inst.1 = Affine3A::from_translation(t) * inst.1;
    }
    Ok(s)
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

/// Runs the batch; the summary line on success.
pub(crate) fn batch(args: &BatchArgs) -> Result<String, Failure> {
    let started = Instant::now();
    let manifest = Manifest::load(&args.manifest).map_err(|e| fail(2, e))?;
    std::fs::create_dir_all(&args.out)
        .map_err(|e| fail(2, format!("--out {}: {e}", args.out.display())))?;
    let mut renderer = open_renderer("grin batch", args.threads, args.backend)?;
    let total: u64 = manifest
        .jobs
        .iter()
        .map(|j| u64::from(j.frames.count))
        .sum();
    let mut frames = Vec::new();
    let (mut done, mut skipped, mut failed) = (0u64, 0u64, 0u64);
    let shard = match args.shard {
        Some(s) => Some(s),
        None => shard_from_env(|k| std::env::var(k).ok()).map_err(|e| fail(2, e))?,
    };
    let (si, sn) = shard.unwrap_or((0, 1));
    let (lo, hi) = (si * total / sn, (si + 1) * total / sn);
    let total = hi - lo;
    let mut unit = 0u64;
    for (ji, job) in manifest.jobs.iter().enumerate() {
        let dir = args.out.join(&job.name);
        let mine: Vec<u32> = (job.frames.start..job.frames.start + job.frames.count)
            .filter(|_| {
                unit += 1;
                (lo..hi).contains(&(unit - 1))
            })
            .collect();
        let todo: Vec<u32> = mine
            .iter()
            .copied()
            .filter(|&f| {
                let image = dir.join(format!("frame_{f:05}.png"));
                let complete =
                    marker(&image).is_file() && outputs_of(job, &image).iter().all(|p| p.is_file());
                !(args.skip_completed && complete)
            })
            .collect();
        skipped += (mine.len() - todo.len()) as u64;
        if todo.is_empty() {
            continue;
        }
        let t = Instant::now();
        let scene = match Scene::load(&job.scene) {
            Ok(s) => Some(s),
            Err(e) => {
                for &f in &todo {
                    failed += 1;
                    frames.push(failed_frame(ji, f, &dir, format!("{e}")));
                }
                None
            }
        };
        let Some(scene) = scene else { continue };
        let load_s = t.elapsed().as_secs_f64();
        if let Err(e) = std::fs::create_dir_all(&dir) {
            return Err(fail(2, format!("{}: {e}", dir.display())));
        }
        for (k, &f) in todo.iter().enumerate() {
            let image = dir.join(format!("frame_{f:05}.png"));
            let result = render_frame(&mut renderer, &scene, job, f, &image);
            match result {
                Ok(mut r) => {
                    r.job = ji;
                    r.load_s = if k == 0 { load_s } else { 0.0 };
                    done += 1;
                    frames.push(r);
                }
                Err(e) => {
                    failed += 1;
                    frames.push(failed_frame(ji, f, &dir, e));
                }
            }
            eprintln!(
                "grin batch: {}/{} frames ({} skipped, {} failed), {:.1} s",
                done + failed + skipped,
                total,
                skipped,
                failed,
                started.elapsed().as_secs_f64()
            );
        }
    }
    let report_path = args.report.clone().unwrap_or_else(|| match shard {
        Some((i, n)) => args.out.join(format!("report.{i}-of-{n}.json")),
        None => args.out.join("report.json"),
    });
    let report = serde_json::json!({
        "manifest": args.manifest.display().to_string(),
        "shard": [si, sn],
        "frames_total": total,
        "frames_done": done,
        "frames_skipped": skipped,
        "frames_failed": failed,
        "seconds": started.elapsed().as_secs_f64(),
        "frames": frames,
    });
    scheduler::jobs::status::write_json_atomic(&report_path, &report).map_err(|e| fail(1, e))?;
    let line = format!(
        "grin batch: {done} frames rendered, {skipped} already done, {failed} failed in {:.1} s; report {}",
        started.elapsed().as_secs_f64(),
        report_path.display()
    );
    if failed > 0 {
        return Err((1, line));
    }
    Ok(line)
}

fn failed_frame(job: usize, frame: u32, dir: &Path, error: String) -> FrameReport {
    FrameReport {
        job,
        frame,
        output: dir
            .join(format!("frame_{frame:05}.png"))
            .display()
            .to_string(),
        status: "failed",
        load_s: 0.0,
        render_s: 0.0,
        write_s: 0.0,
        bytes: 0,
        hit_share: 0.0,
        mean_luminance: 0.0,
        non_finite: 0,
        error: Some(error),
    }
}

fn render_frame(
    renderer: &mut Renderer,
    scene: &Scene,
    job: &Job,
    frame: u32,
    image: &Path,
) -> Result<FrameReport, String> {
    let scene = frame_scene(scene, job, frame)?;
    let settings = RenderSettings {
        width: job.size.0,
        height: job.size.1,
        spp: job.spp,
        seed: job.seed,
        tile: (16, 16),
        order: Order::Scanline,
        max_bounces: job.bounces,
    };
    let snapshot = Snapshot::new(Arc::new(scene), settings).map_err(|e| e.to_string())?;
    let t = Instant::now();
    renderer.render_all(&snapshot).map_err(|e| e.to_string())?;
    let render_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let film = renderer.film();
    let (w, h) = (film.width(), film.height());
    let rgb = film.rgb();
    let err = |(_, m): Failure| m;
    if job.outputs.png {
        save(
            image,
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
        write_aov(film, aov, image, job.outputs.exr).map_err(err)?;
    }
    let bytes = outputs_of(job, image)
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    // The marker comes last: its presence says every output is whole.
    crate::render_cmd::write_atomically(&marker(image), |tmp| {
        std::fs::write(tmp, b"done\n").map_err(|e| e.to_string())
    })
    .map_err(err)?;
    let write_s = t.elapsed().as_secs_f64();
    let n = rgb.len().max(1) as f64;
    let non_finite = rgb.iter().flatten().filter(|v| !v.is_finite()).count() as u64;
    let mean_luminance = rgb
        .iter()
        .filter(|p| p.iter().all(|v| v.is_finite()))
        .map(|p| 0.2126 * f64::from(p[0]) + 0.7152 * f64::from(p[1]) + 0.0722 * f64::from(p[2]))
        .sum::<f64>()
        / n;
    let hit_share = film.hit_mask().iter().map(|&m| f64::from(m)).sum::<f64>() / n;
    Ok(FrameReport {
        job: 0,
        frame,
        output: image.display().to_string(),
        status: "done",
        load_s: 0.0,
        render_s,
        write_s,
        bytes,
        hit_share,
        mean_luminance,
        non_finite,
        error: None,
    })
}
