//! `compare -- render`: the peer terrain scene rendered by Grin and by Mitsuba 3
//! (`scalar_rgb`, `llvm_ad_rgb`), side by side in one run: samples per second at 16
//! spp, and how well 256-spp images agree (relative RMSE of 4x4-pixel block means).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use renderer_core::frame::{RenderSettings, Renderer, Snapshot};
use renderer_core::scene::Scene;
use scheduler::order::Order;

use super::{results_path, run_checked, venv_python};

const SIZE: u32 = 512;
const SPP: u32 = 16;
const REFERENCE_SPP: u32 = 256;

/// The committed scene, with its procedural mesh swapped for the PLY both renderers
/// load.
fn grin_scene(ply: &Path) -> Result<Scene, String> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let path = root.join("assets/scenes/terrain.ron");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let swapped = text.replace(
        "Terrain(n: 708)",
        &format!("Ply({:?})", ply.display().to_string()),
    );
    if swapped == text {
        return Err(format!(
            "{}: no Terrain(n: 708) mesh to swap",
            path.display()
        ));
    }
    Scene::from_str(&swapped, &path).map_err(|e| e.to_string())
}

fn settings(spp: u32) -> RenderSettings {
    RenderSettings {
        width: SIZE,
        height: SIZE,
        spp,
        seed: 1,
        tile: (16, 16),
        order: Order::Scanline,
        max_bounces: 0,
    }
}

struct GrinRun {
    load_s: f64,
    seconds: Vec<f64>,
    reference: Vec<[f32; 3]>,
    reference_s: f64,
}

fn run_grin(ply: &Path, threads: usize) -> Result<GrinRun, String> {
    let t = Instant::now();
    let scene = Arc::new(grin_scene(ply)?);
    let pool = scheduler::Pool::new(scheduler::PoolConfig::with_threads(threads))
        .map_err(|e| e.to_string())?;
    let mut renderer = Renderer::new(Arc::new(pool));
    let timed = Snapshot::new(Arc::clone(&scene), settings(SPP)).map_err(|e| e.to_string())?;
    // The first frame builds the BVH (stage 1): counted as load, like Mitsuba's.
    let first = Snapshot::new(Arc::clone(&scene), settings(1)).map_err(|e| e.to_string())?;
    renderer.render_all(&first).map_err(|e| e.to_string())?;
    let load_s = t.elapsed().as_secs_f64();
    let mut seconds = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        renderer.render_all(&timed).map_err(|e| e.to_string())?;
        seconds.push(t.elapsed().as_secs_f64());
    }
    seconds.sort_by(f64::total_cmp);
    let reference = Snapshot::new(scene, settings(REFERENCE_SPP)).map_err(|e| e.to_string())?;
    let t = Instant::now();
    renderer.render_all(&reference).map_err(|e| e.to_string())?;
    Ok(GrinRun {
        load_s,
        seconds,
        reference: renderer.film().rgb(),
        reference_s: t.elapsed().as_secs_f64(),
    })
}

fn mitsuba(
    variant: &str,
    ply: &Path,
    dir: &Path,
    reference_spp: u32,
) -> Result<serde_json::Value, String> {
    let python = venv_python(&["mitsuba==3.9.1"], "import mitsuba")?;
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("peers/mitsuba_render.py");
    let out = run_checked(
        std::process::Command::new(python)
            .arg(script)
            .args([
                variant,
                &ply.display().to_string(),
                &dir.display().to_string(),
            ])
            .args([SPP.to_string(), reference_spp.to_string()]),
    )
    .map_err(|e| {
        if variant.starts_with("llvm") {
            format!("{e} (the LLVM variant needs Debian's libllvm19: apt-get install libllvm19)")
        } else {
            e
        }
    })?;
    let line = String::from_utf8_lossy(&out.stdout);
    let last = line.lines().last().unwrap_or_default();
    serde_json::from_str(last).map_err(|e| format!("{e}: {last}"))
}

/// 4x4 block means of a `width` x `height` image (both multiples of 4).
fn blocks(px: &[[f32; 3]], width: u32, height: u32) -> Vec<[f64; 3]> {
    let (w, h) = (width as usize, height as usize);
    let n = w / 4;
    let mut out = vec![[0.0; 3]; n * (h / 4)];
    for y in 0..h {
        for x in 0..w {
            let b = &mut out[(y / 4) * n + x / 4];
            for c in 0..3 {
                b[c] += f64::from(px[y * w + x][c]) / 16.0;
            }
        }
    }
    out
}

/// sqrt(sum (a - b)^2 / sum b^2) over 4x4 block means and channels of two
/// `width` x `height` images.
pub(crate) fn block_rel_rmse(a: &[[f32; 3]], b: &[[f32; 3]], width: u32, height: u32) -> f64 {
    let (ba, bb) = (blocks(a, width, height), blocks(b, width, height));
    let (mut num, mut den) = (0.0, 0.0);
    for (p, q) in ba.iter().zip(&bb) {
        for c in 0..3 {
            num += (p[c] - q[c]).powi(2);
            den += q[c] * q[c];
        }
    }
    (num / den.max(1e-300)).sqrt()
}

/// An OpenEXR image of `width` x `height` pixels as linear RGB.
pub(crate) fn read_exr_sized(
    path: &Path,
    width: u32,
    height: u32,
) -> Result<Vec<[f32; 3]>, String> {
    let img = image::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let rgb = img.to_rgb32f();
    if rgb.dimensions() != (width, height) {
        return Err(format!("{}: size {:?}", path.display(), rgb.dimensions()));
    }
    Ok(rgb.pixels().map(|p| p.0).collect())
}

/// Writes linear RGB as an OpenEXR image of `width` x `height` pixels.
pub(crate) fn write_exr_sized(
    path: &Path,
    px: &[[f32; 3]],
    width: u32,
    height: u32,
) -> Result<(), String> {
    let flat: Vec<f32> = px.iter().flatten().copied().collect();
    image::Rgb32FImage::from_raw(width, height, flat)
        .ok_or("image size")?
        .save_with_format(path, image::ImageFormat::OpenExr)
        .map_err(|e| e.to_string())
}

pub(crate) fn compare() -> ExitCode {
    match run() {
        Ok(path) => {
            println!("wrote {}", path.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("compare render: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<PathBuf, String> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let dir = results_path("peer-data");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let ply = results_path("terrain.ply");
    if !ply.exists() {
        let mesh = benches::terrain::terrain(708);
        benches::terrain::write_ply(&mesh, &ply).map_err(|e| e.to_string())?;
        println!("wrote {} ({} triangles)", ply.display(), mesh.indices.len());
    }
    let samples = f64::from(SIZE * SIZE * SPP);
    let grin = run_grin(&ply, threads)?;
    let grin_rate = samples / grin.seconds[1];
    println!(
        "grin: {:.2} M samples/s at {SPP} spp (median of 3: {:.3} s), load + BVH {:.2} s",
        grin_rate / 1e6,
        grin.seconds[1],
        grin.load_s
    );
    let grin_exr = dir.join("grin.exr");
    write_exr_sized(&grin_exr, &grin.reference, SIZE, SIZE)?;
    let mut doc = serde_json::json!({
        "machine": benches::machine(),
        "threads": threads,
        "scene": "../shared/reference/peer-terrain.md: 999,698 triangles, 512x512, direct lighting",
        "spp": SPP,
        "grin": {
            "samples_per_s": grin_rate,
            "seconds_median": grin.seconds[1],
            "seconds": grin.seconds,
            "load_s": grin.load_s,
            "reference_spp": REFERENCE_SPP,
            "reference_s": grin.reference_s,
            "reference_exr": grin_exr,
        },
    });
    for (variant, reference_spp) in [("llvm_ad_rgb", REFERENCE_SPP), ("scalar_rgb", 1)] {
        match mitsuba(variant, &ply, &dir, reference_spp) {
            Ok(m) => {
                let rate = m["samples_per_s"].as_f64().unwrap_or(f64::NAN);
                println!("mitsuba {variant}: {:.2} M samples/s", rate / 1e6);
                doc["ratios"][format!("grin_over_{variant}")] = (grin_rate / rate).into();
                if reference_spp == REFERENCE_SPP {
                    let theirs =
                        read_exr_sized(&dir.join(format!("mitsuba_{variant}.exr")), SIZE, SIZE)?;
                    let rmse = block_rel_rmse(&grin.reference, &theirs, SIZE, SIZE);
                    // A mirrored camera convention would show as a large error here and
                    // a small one mirrored: recorded to catch it.
                    let mirrored: Vec<[f32; 3]> = (0..(SIZE * SIZE) as usize)
                        .map(|i| {
                            let (y, x) = (i / SIZE as usize, i % SIZE as usize);
                            theirs[y * SIZE as usize + (SIZE as usize - 1 - x)]
                        })
                        .collect();
                    let rmse_mirrored = block_rel_rmse(&grin.reference, &mirrored, SIZE, SIZE);
                    println!(
                        "agreement at {REFERENCE_SPP} spp: block relative RMSE {:.3}% (mirrored: {:.1}%)",
                        rmse * 100.0,
                        rmse_mirrored * 100.0
                    );
                    doc["agreement"] = serde_json::json!({
                        "against": variant,
                        "spp": REFERENCE_SPP,
                        "block": 4,
                        "relative_rmse": rmse,
                        "relative_rmse_if_mirrored": rmse_mirrored,
                        "goal": 0.02,
                        "definition": "sqrt(sum over 4x4-block means and channels of (grin - mitsuba)^2 / sum mitsuba^2)",
                    });
                }
                doc["mitsuba"][variant] = m;
            }
            Err(why) => {
                println!("mitsuba {variant} not run: {why}");
                doc["mitsuba"][variant] = serde_json::json!({ "unavailable": why });
            }
        }
    }
    let path = results_path("render.json");
    // Committed results name files relative to the repository, never this machine's
    // absolute paths.
    let benches = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let text = serde_json::to_string_pretty(&doc)
        .unwrap_or_default()
        .replace(&format!("{}/", benches.display()), "benches/");
    std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}
