//! `compare -- gpu`: every example scene rendered by the CPU path and the GPU path in
//! one run, frame by frame (1 spp), with ms per frame, rays and integrator steps
//! (segments) per second for each, where the GPU step's time went (the kernels by
//! timestamp queries when `GRIN_GPU_PROFILE=1` and the adapter has them, the film's
//! read-back, its conversion into the host film), and the adapter's name. On an
//! adapter that is real hardware, also the black-hole scene at 1920x1080 (the goal:
//! 60 frames per second there). Writes `benches/results/gpu.json`.
//!
//! Options (after `gpu`): `--size WxH` (default 160x120), `--frames N` (timed GPU
//! frames after one warm-up, default 5), `--cpu-frames N` (timed CPU frames, default
//! as `--frames`; 0 skips the CPU path), `--scenes a,b,...` (default: all),
//! `--out FILE`. The scenes are read from `assets/scenes` under the current
//! directory when it has one (a copied tree on another machine), else from the
//! workspace the binary was built in.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use renderer_core::frame::{RenderSettings, Renderer, Snapshot};
use renderer_core::gpu::{GpuConfig, GpuContext};
use renderer_core::scene::Scene;
use scheduler::{Pool, PoolConfig};

use super::results_path;

const SCENES: [&str; 9] = [
    "luneburg",
    "black_hole",
    "mirage",
    "fisheye",
    "heat_haze",
    "hot_air",
    "tetra",
    "terrain",
    "kerr_disk",
];

/// What to run.
#[derive(Debug)]
struct Options {
    width: u32,
    height: u32,
    frames: usize,
    cpu_frames: usize,
    scenes: Vec<String>,
    out: PathBuf,
}

impl Options {
    fn parse(args: &[String]) -> Result<Self, String> {
        let mut o = Self {
            width: 160,
            height: 120,
            frames: 5,
            cpu_frames: usize::MAX,
            scenes: SCENES.iter().map(|s| (*s).to_owned()).collect(),
            out: results_path("gpu.json"),
        };
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
            match flag.as_str() {
                "--size" => {
                    let v = value()?;
                    let (w, h) = v
                        .split_once('x')
                        .ok_or_else(|| format!("--size {v}: expected WxH"))?;
                    o.width = w.parse().map_err(|_| format!("--size {v}: bad width"))?;
                    o.height = h.parse().map_err(|_| format!("--size {v}: bad height"))?;
                }
                "--frames" => {
                    let v = value()?;
                    o.frames = v.parse().map_err(|_| format!("--frames {v}"))?;
                }
                "--cpu-frames" => {
                    let v = value()?;
                    o.cpu_frames = v.parse().map_err(|_| format!("--cpu-frames {v}"))?;
                }
                "--scenes" => {
                    o.scenes = value()?.split(',').map(str::to_owned).collect();
                }
                "--out" => o.out = PathBuf::from(value()?),
                other => return Err(format!("unknown option {other}")),
            }
        }
        if o.cpu_frames == usize::MAX {
            o.cpu_frames = o.frames;
        }
        if o.frames == 0 || o.width == 0 || o.height == 0 {
            return Err("--frames and --size must be positive".into());
        }
        Ok(o)
    }
}

/// Medians over the timed frames of one path on one scene.
#[derive(Debug, Default)]
struct Timing {
    ms: f64,
    rays_per_s: f64,
    segments_per_s: f64,
    /// Median ms per frame of each stage (kernel, read-back, ...), by name.
    stages: Vec<(String, f64)>,
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Times `frames` 1-spp frames (after one warm-up frame that also builds and uploads
/// the scene); `frames == 0` measures nothing.
fn time_frames(
    renderer: &mut Renderer,
    scene: &Arc<Scene>,
    width: u32,
    height: u32,
    frames: usize,
) -> Result<Option<Timing>, String> {
    if frames == 0 {
        return Ok(None);
    }
    let mut ms = Vec::new();
    let mut stages: Vec<(String, Vec<f64>)> = Vec::new();
    let (mut rays, mut segments, mut seconds) = (0u64, 0u64, 0.0);
    for frame in 0..=frames {
        // The warm-up builds (and uploads) the scene; on the CPU it renders an
        // eighth of the size, since a large frame there takes seconds.
        let shrink = if frame == 0 && renderer.gpu().is_none() {
            8
        } else {
            1
        };
        let settings = RenderSettings {
            width: (width / shrink).max(1),
            height: (height / shrink).max(1),
            spp: 1,
            seed: frame as u64,
            ..RenderSettings::default()
        };
        let snapshot = Snapshot::new(Arc::clone(scene), settings).map_err(|e| e.to_string())?;
        let t = Instant::now();
        let (mut frame_rays, mut frame_segments) = (0, 0);
        let mut frame_stages: Vec<(String, Duration)> = Vec::new();
        renderer
            .render_all_with(&snapshot, &Default::default(), |r| {
                frame_rays += r.rays;
                frame_segments += r.segments;
                for st in &r.stages {
                    match frame_stages.iter_mut().find(|(n, _)| *n == st.name) {
                        Some((_, d)) => *d += st.wall,
                        None => frame_stages.push((st.name.clone(), st.wall)),
                    }
                }
            })
            .map_err(|e| e.to_string())?;
        let s = t.elapsed().as_secs_f64();
        if frame > 0 {
            ms.push(s * 1e3);
            rays += frame_rays;
            segments += frame_segments;
            seconds += s;
            for (name, d) in frame_stages {
                let ms = d.as_secs_f64() * 1e3;
                match stages.iter_mut().find(|(n, _)| *n == name) {
                    Some((_, v)) => v.push(ms),
                    None => stages.push((name, vec![ms])),
                }
            }
        }
    }
    Ok(Some(Timing {
        ms: median(&mut ms),
        rays_per_s: rays as f64 / seconds,
        segments_per_s: segments as f64 / seconds,
        stages: stages
            .into_iter()
            .filter(|(n, _)| !n.starts_with("accel") && n != "fields")
            .map(|(n, mut v)| (n, median(&mut v)))
            .collect(),
    }))
}

fn timing_json(t: Option<&Timing>) -> serde_json::Value {
    match t {
        None => serde_json::Value::Null,
        Some(t) => serde_json::json!({
            "ms_per_frame": t.ms,
            "rays_per_s": t.rays_per_s,
            "segments_per_s": t.segments_per_s,
            "stage_ms": t.stages.iter().map(|(n, ms)| (n.clone(), serde_json::json!(ms))).collect::<serde_json::Map<_, _>>(),
        }),
    }
}

fn describe(t: Option<&Timing>) -> String {
    match t {
        None => "skipped".to_owned(),
        Some(t) => {
            let stages = t
                .stages
                .iter()
                .map(|(n, ms)| format!("{n} {ms:.2}"))
                .collect::<Vec<_>>()
                .join(", ");
            format!(
                "{:9.2} ms ({:8.2} M rays/s, {:9.2} M steps/s) [{stages}]",
                t.ms,
                t.rays_per_s / 1e6,
                t.segments_per_s / 1e6
            )
        }
    }
}

pub(crate) fn compare(args: &[String]) -> ExitCode {
    match Options::parse(args).and_then(|o| run(&o)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("compare gpu: {e}");
            ExitCode::FAILURE
        }
    }
}

fn scenes_dir() -> PathBuf {
    let here = PathBuf::from("assets/scenes");
    if here.is_dir() {
        here
    } else {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../assets/scenes")
    }
}

fn run(o: &Options) -> Result<(), String> {
    let ctx = Arc::new(GpuContext::new(&GpuConfig::from_env()).map_err(|e| e.to_string())?);
    let pool = Arc::new(Pool::new(PoolConfig::default()).map_err(|e| e.to_string())?);
    eprintln!(
        "adapter: {}; CPU: {} threads; GPU kernels timed: {}",
        ctx.describe(),
        pool.threads(),
        ctx.timestamp_period().is_some()
    );
    let root = scenes_dir();
    let (width, height) = (o.width, o.height);
    let mut rows = Vec::new();
    for name in &o.scenes {
        let path = root.join(format!("{name}.ron"));
        let scene = Arc::new(Scene::load(&path).map_err(|e| e.to_string())?);
        let mut cpu = Renderer::new(Arc::clone(&pool));
        let mut gpu = Renderer::with_gpu(Arc::clone(&pool), Arc::clone(&ctx));
        let g = time_frames(&mut gpu, &scene, width, height, o.frames)?;
        eprintln!(
            "{name:>10} {width}x{height} 1 spp: GPU {}",
            describe(g.as_ref())
        );
        let c = time_frames(&mut cpu, &scene, width, height, o.cpu_frames)?;
        eprintln!(
            "{name:>10} {width}x{height} 1 spp: CPU {}",
            describe(c.as_ref())
        );
        rows.push(serde_json::json!({
            "scene": name, "width": width, "height": height, "spp": 1,
            "cpu_ms_per_frame": c.as_ref().map(|t| t.ms), "cpu_rays_per_s": c.as_ref().map(|t| t.rays_per_s),
            "gpu_ms_per_frame": g.as_ref().map(|t| t.ms), "gpu_rays_per_s": g.as_ref().map(|t| t.rays_per_s),
            "cpu": timing_json(c.as_ref()),
            "gpu": timing_json(g.as_ref()),
        }));
    }
    let mut hd = serde_json::Value::Null;
    if ctx.is_software() {
        eprintln!("1080p black hole: skipped on a software adapter (minutes per frame here)");
    } else if (width, height) != (1920, 1080) {
        let scene = Arc::new(Scene::load(&root.join("black_hole.ron")).map_err(|e| e.to_string())?);
        let mut gpu = Renderer::with_gpu(Arc::clone(&pool), Arc::clone(&ctx));
        let t = time_frames(&mut gpu, &scene, 1920, 1080, o.frames)?;
        eprintln!("black_hole 1920x1080 1 spp: GPU {}", describe(t.as_ref()));
        hd = serde_json::json!({ "scene": "black_hole", "width": 1920, "height": 1080, "spp": 1, "gpu": timing_json(t.as_ref()) });
    }
    let out = serde_json::json!({
        "adapter": ctx.describe(),
        "software_adapter": ctx.is_software(),
        "gpu_kernels_timed": ctx.timestamp_period().is_some(),
        "cpu_threads": pool.threads(),
        "frames": o.frames,
        "cpu_frames": o.cpu_frames,
        "scenes": rows,
        "black_hole_1080p": hd,
    });
    std::fs::write(
        &o.out,
        serde_json::to_string_pretty(&out).map_err(|e| e.to_string())? + "\n",
    )
    .map_err(|e| format!("{}: {e}", o.out.display()))?;
    eprintln!("wrote {}", o.out.display());
    Ok(())
}
