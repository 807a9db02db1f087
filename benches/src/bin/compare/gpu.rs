//! `compare -- gpu`: every example scene rendered by the CPU path and the GPU path in
//! one run, frame by frame (1 spp), with ms per frame and rays per second for each
//! and the adapter's name; on an adapter that is real hardware, also the black-hole
//! scene at 1920x1080 (the goal: 60 frames per second there). Writes
//! `benches/results/gpu.json`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use renderer_core::gpu::{GpuConfig, GpuContext};
use renderer_core::render::{RenderSettings, Renderer, Snapshot};
use renderer_core::scene::Scene;
use scheduler::{Pool, PoolConfig};

use super::results_path;

const SCENES: [&str; 8] = [
    "luneburg",
    "black_hole",
    "mirage",
    "fisheye",
    "heat_haze",
    "hot_air",
    "tetra",
    "terrain",
];
const FRAMES: usize = 5;

/// Median ms per 1-spp frame and rays per second over `FRAMES` frames (after one
/// warm-up frame that also builds and uploads the scene).
fn time_frames(
    renderer: &mut Renderer,
    scene: &Arc<Scene>,
    width: u32,
    height: u32,
) -> Result<(f64, f64), String> {
    let mut ms = Vec::new();
    let mut rays = 0u64;
    let mut seconds = 0.0;
    for frame in 0..=FRAMES {
        let settings = RenderSettings {
            width,
            height,
            spp: 1,
            seed: frame as u64,
            ..RenderSettings::default()
        };
        let snapshot = Snapshot::new(Arc::clone(scene), settings).map_err(|e| e.to_string())?;
        let t = Instant::now();
        let mut frame_rays = 0;
        renderer
            .render_all_with(&snapshot, &Default::default(), |r| frame_rays += r.rays)
            .map_err(|e| e.to_string())?;
        let s = t.elapsed().as_secs_f64();
        if frame > 0 {
            ms.push(s * 1e3);
            rays += frame_rays;
            seconds += s;
        }
    }
    ms.sort_by(f64::total_cmp);
    Ok((ms[ms.len() / 2], rays as f64 / seconds))
}

pub(crate) fn compare() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("compare gpu: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let ctx = Arc::new(GpuContext::new(&GpuConfig::from_env()).map_err(|e| e.to_string())?);
    let pool = Arc::new(Pool::new(PoolConfig::default()).map_err(|e| e.to_string())?);
    eprintln!(
        "adapter: {}; CPU: {} threads",
        ctx.describe(),
        pool.threads()
    );
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../assets/scenes");
    let (width, height) = (160, 120);
    let mut rows = Vec::new();
    for name in SCENES {
        let path = root.join(format!("{name}.ron"));
        let scene = Arc::new(Scene::load(&path).map_err(|e| e.to_string())?);
        let mut cpu = Renderer::new(Arc::clone(&pool));
        let mut gpu = Renderer::with_gpu(Arc::clone(&pool), Arc::clone(&ctx));
        let (cpu_ms, cpu_rays) = time_frames(&mut cpu, &scene, width, height)?;
        let (gpu_ms, gpu_rays) = time_frames(&mut gpu, &scene, width, height)?;
        eprintln!(
            "{name:>10} {width}x{height} 1 spp: CPU {cpu_ms:8.1} ms ({:6.2} M rays/s), GPU {gpu_ms:8.1} ms ({:6.2} M rays/s)",
            cpu_rays / 1e6,
            gpu_rays / 1e6
        );
        rows.push(serde_json::json!({
            "scene": name, "width": width, "height": height, "spp": 1,
            "cpu_ms_per_frame": cpu_ms, "cpu_rays_per_s": cpu_rays,
            "gpu_ms_per_frame": gpu_ms, "gpu_rays_per_s": gpu_rays,
        }));
    }
    let mut hd = serde_json::Value::Null;
    if ctx.is_software() {
        eprintln!("1080p black hole: skipped on a software adapter (minutes per frame here)");
    } else {
        let scene = Arc::new(Scene::load(&root.join("black_hole.ron")).map_err(|e| e.to_string())?);
        let mut gpu = Renderer::with_gpu(Arc::clone(&pool), Arc::clone(&ctx));
        let (ms, rays) = time_frames(&mut gpu, &scene, 1920, 1080)?;
        eprintln!(
            "black_hole 1920x1080 1 spp: GPU {ms:.1} ms ({:.1} fps), {:.1} M rays/s",
            1e3 / ms,
            rays / 1e6
        );
        hd = serde_json::json!({ "scene": "black_hole", "width": 1920, "height": 1080, "spp": 1, "gpu_ms_per_frame": ms, "gpu_rays_per_s": rays });
    }
    let out = serde_json::json!({
        "adapter": ctx.describe(),
        "software_adapter": ctx.is_software(),
        "cpu_threads": pool.threads(),
        "frames": FRAMES,
        "scenes": rows,
        "black_hole_1080p": hd,
    });
    let path = results_path("gpu.json");
    std::fs::write(
        &path,
        serde_json::to_string_pretty(&out).map_err(|e| e.to_string())? + "\n",
    )
    .map_err(|e| format!("{}: {e}", path.display()))?;
    eprintln!("wrote {}", path.display());
    Ok(())
}
