//! `compare -- curved`: every curved example scene rendered at 320x240, 16 spp, with
//! the scene's tolerances on every ray (`exact`, what every ray used before) and
//! with tolerances from the pixel footprint (`footprint`, the default), side by
//! side: wall time, rays, segments, and the error of each image against a
//! converged reference (exact rays at the default tolerances or tighter, 64 spp;
//! cached under `benches/results/curved-ref/`, not committed). The error is the relative RMSE
//! of 4x4 block means. Then the black-hole shadow view of issue 16 (640x640, 1 spp,
//! a static observer at 20 r_s, vertical field of view 53.13 degrees, no geometry):
//! time and the shadow's radius on the image against the static-observer (Synge)
//! value.
//!
//! `GRIN_OLD_BIN=path/to/an/older/grin` adds that binary's `grin render` of each
//! scene (same size, spp and seed) as a third contender, timed as a process.
//! `compare -- curved SCENE...` runs only the scenes named.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use renderer_core::frame::{RenderSettings, Renderer, Snapshot};
use renderer_core::integrator::Tolerances;
use renderer_core::scene::Scene;
use scheduler::order::Order;

use super::render::{block_rel_rmse, read_exr_sized, write_exr_sized};
use super::results_path;

const SCENES: [&str; 6] = [
    "black_hole",
    "luneburg",
    "mirage",
    "fisheye",
    "heat_haze",
    "hot_air",
];
const WIDTH: u32 = 320;
const HEIGHT: u32 = 240;
const SPP: u32 = 16;
/// Reference samples per pixel: its variance is a quarter of a 16-spp image's, so
/// the error measured against it is at most 12% above the image's own (the same
/// for every contender; a 256-spp exact reference of the fish-eye would take an
/// hour on 2 cores).
fn reference_spp(_scene: &str) -> u32 {
    64
}

/// The reference's seed (the contenders render with seed 1).
const REFERENCE_SEED: u64 = 1_000_003;

fn settings(width: u32, height: u32, spp: u32) -> RenderSettings {
    RenderSettings {
        width,
        height,
        spp,
        seed: 1,
        tile: (16, 16),
        order: Order::CentreFirst,
        max_bounces: 4,
    }
}

fn with_footprint(scene: &Scene, on: bool) -> Result<Scene, String> {
    scene
        .edit()
        .tolerances(Tolerances {
            pixel_footprint: on,
            ..*scene.tolerances()
        })
        .build()
        .map_err(|e| e.to_string())
}

struct Run {
    seconds: f64,
    rays: u64,
    segments: u64,
    subdivisions: u64,
    rgb: Vec<[f32; 3]>,
}

fn render(renderer: &mut Renderer, scene: &Arc<Scene>, s: RenderSettings) -> Result<Run, String> {
    let snapshot = Snapshot::new(Arc::clone(scene), s).map_err(|e| e.to_string())?;
    let t = Instant::now();
    let mut totals = (0u64, 0u64, 0u64);
    renderer
        .render_all_with(&snapshot, &scheduler::CancelToken::new(), |r| {
            totals.0 += r.rays;
            totals.1 += r.segments;
            totals.2 += r.subdivisions;
        })
        .map_err(|e| e.to_string())?;
    Ok(Run {
        seconds: t.elapsed().as_secs_f64(),
        rays: totals.0,
        segments: totals.1,
        subdivisions: totals.2,
        rgb: renderer.film().rgb(),
    })
}

fn scene_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("../assets/scenes/{name}.ron"))
}

/// The reference's scene: every ray exact, at the default tolerances where the
/// scene's are looser (the black hole's 1e-2 and 1e-6 are a rendering choice, not a
/// converged answer: an exact render at them shares their errors with a reference at
/// them). A scene with its own step budget (the fish-eye's 800, which ends its
/// trapped rays) keeps its tolerances: tighter ones would spend the budget sooner.
fn reference_scene(exact: &Scene) -> Result<Scene, String> {
    let t = *exact.tolerances();
    let d = Tolerances::default();
    if t.max_steps < d.max_steps {
        return Ok(exact.clone());
    }
    exact
        .edit()
        .tolerances(Tolerances {
            geometric: t.geometric.min(d.geometric),
            rk: t.rk.min(d.rk),
            ..t
        })
        .build()
        .map_err(|e| e.to_string())
}

/// The reference image of `name`, rendered once and cached.
fn reference(renderer: &mut Renderer, name: &str, exact: &Scene) -> Result<Vec<[f32; 3]>, String> {
    let dir = results_path("curved-ref");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let spp = reference_spp(name);
    let path = dir.join(format!(
        "{name}-{WIDTH}x{HEIGHT}-{spp}spp-tight-seed{REFERENCE_SEED}.exr"
    ));
    if let Ok(px) = read_exr_sized(&path, WIDTH, HEIGHT) {
        return Ok(px);
    }
    println!("  rendering the reference of {name} ({spp} spp, exact and tight; cached)...");
    let scene = Arc::new(reference_scene(exact)?);
    // Its own seed: with the contenders' seed its first 16 samples would be theirs,
    // and an image traced the same way would share a quarter of its noise.
    let run = render(
        renderer,
        &scene,
        RenderSettings {
            seed: REFERENCE_SEED,
            ..settings(WIDTH, HEIGHT, spp)
        },
    )?;
    println!("  reference: {:.1} s", run.seconds);
    write_exr_sized(&path, &run.rgb, WIDTH, HEIGHT)?;
    Ok(run.rgb)
}

/// `grin render` of an older binary, timed as a process; its EXR read back.
fn old_binary(bin: &Path, name: &str, dir: &Path) -> Result<(f64, Vec<[f32; 3]>), String> {
    let out = dir.join(format!("old-{name}.exr"));
    let t = Instant::now();
    let status = std::process::Command::new(bin)
        .args(["render", &scene_path(name).display().to_string(), "-o"])
        .arg(&out)
        .args([
            "--spp",
            &SPP.to_string(),
            "--size",
            &format!("{WIDTH}x{HEIGHT}"),
        ])
        .args(["--seed", "1", "--exr"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .map_err(|e| format!("{}: {e}", bin.display()))?;
    let seconds = t.elapsed().as_secs_f64();
    if !status.success() {
        return Err(format!("{} exited with {status}", bin.display()));
    }
    Ok((seconds, read_exr_sized(&out, WIDTH, HEIGHT)?))
}

pub(crate) fn compare(args: &[String]) -> ExitCode {
    match run(args) {
        Ok(path) => {
            println!("wrote {}", path.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("compare curved: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> Result<PathBuf, String> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let pool = Arc::new(
        scheduler::Pool::new(scheduler::PoolConfig::with_threads(threads))
            .map_err(|e| e.to_string())?,
    );
    let mut renderer = Renderer::new(Arc::clone(&pool));
    let old = std::env::var_os("GRIN_OLD_BIN").map(PathBuf::from);
    let scratch = std::env::temp_dir().join(format!("grin-curved-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).map_err(|e| e.to_string())?;
    let names: Vec<&str> = if args.is_empty() {
        SCENES.to_vec()
    } else {
        args.iter().map(String::as_str).collect()
    };
    let mut rows = Vec::new();
    println!("{threads} threads, {WIDTH}x{HEIGHT}, {SPP} spp, seed 1, 4 bounces");
    println!(
        "{:<11} {:>9} {:>9} {:>8} {:>11} {:>11} {:>9} {:>9}",
        "scene",
        "exact s",
        "footpr. s",
        "speed-up",
        "exact err",
        "footpr. err",
        "segs ex",
        "segs fp"
    );
    for name in names {
        let loaded = Scene::load(&scene_path(name)).map_err(|e| e.to_string())?;
        let exact = Arc::new(with_footprint(&loaded, false)?);
        let footprint = Arc::new(with_footprint(&loaded, true)?);
        let reference = reference(&mut renderer, name, &exact)?;
        let s = settings(WIDTH, HEIGHT, SPP);
        // Interleaved: footprint, exact, footprint; the footprint time is the
        // median of its two runs and the smaller one's neighbour.
        let f1 = render(&mut renderer, &footprint, s)?;
        let e = render(&mut renderer, &exact, s)?;
        let f2 = render(&mut renderer, &footprint, s)?;
        let f_s = f1.seconds.min(f2.seconds);
        let err = |px: &[[f32; 3]]| block_rel_rmse(px, &reference, WIDTH, HEIGHT);
        let (e_err, f_err) = (err(&e.rgb), err(&f2.rgb));
        println!(
            "{name:<11} {:>9.2} {:>9.2} {:>7.1}x {:>10.3}% {:>10.3}% {:>8.1}M {:>8.1}M",
            e.seconds,
            f_s,
            e.seconds / f_s,
            e_err * 100.0,
            f_err * 100.0,
            e.segments as f64 / 1e6,
            f2.segments as f64 / 1e6
        );
        let mut row = serde_json::json!({
            "scene": name,
            "exact": {"seconds": e.seconds, "rays": e.rays, "segments": e.segments,
                      "subdivisions": e.subdivisions, "block_rel_rmse": e_err},
            "footprint": {"seconds": [f1.seconds, f2.seconds], "rays": f2.rays,
                          "segments": f2.segments, "subdivisions": f2.subdivisions,
                          "block_rel_rmse": f_err},
            "speedup_over_exact": e.seconds / f_s,
            "reference_spp": reference_spp(name),
        });
        if let Some(bin) = &old {
            match old_binary(bin, name, &scratch) {
                Ok((seconds, px)) => {
                    let o_err = err(&px);
                    println!(
                        "{:<11} old binary: {seconds:.2} s ({:.1}x slower than footprint), error {:.3}%",
                        "",
                        seconds / f_s,
                        o_err * 100.0
                    );
                    row["old"] = serde_json::json!({"seconds": seconds, "block_rel_rmse": o_err,
                                                    "speedup": seconds / f_s});
                }
                Err(why) => println!("{:<11} old binary not run: {why}", ""),
            }
        }
        rows.push(row);
    }
    let shadow = shadow_view(&mut renderer)?;
    let doc = serde_json::json!({
        "machine": benches::machine(),
        "threads": threads,
        "size": [WIDTH, HEIGHT],
        "spp": SPP,
        "error": "relative RMSE of 4x4 block means against the cached reference: exact rays at the default tolerances where the scene's are looser (the fish-eye, with its own step budget, at its own), 64 spp",
        "scenes": rows,
        "shadow_view": shadow,
    });
    let _ = std::fs::remove_dir_all(&scratch);
    let path = results_path("curved.json");
    std::fs::write(
        &path,
        serde_json::to_string_pretty(&doc).unwrap_or_default(),
    )
    .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}

/// The shadow view: 640x640, 1 spp, no geometry, a static observer at r = 20 r_s.
fn shadow_view(renderer: &mut Renderer) -> Result<serde_json::Value, String> {
    const SIZE: u32 = 640;
    const RS: f64 = 2.0;
    const R_OBS: f64 = 20.0 * RS;
    // tan(26.565 degrees) = 0.5: the vertical field of view 53.13 degrees.
    let fov = 2.0 * 0.5f64.atan().to_degrees();
    let text = format!(
        "(camera: Some((position: (0.0, 0.0, -{R_OBS}), look_at: (0.0, 0.0, 0.0), fov_deg: {fov})),
          environment: GradientSky(horizon: (0.8, 0.85, 0.9), zenith: (0.2, 0.35, 0.7)),
          fields: [Schwarzschild(centre: (0.0, 0.0, 0.0), rs: {RS}, extent: 1000.0)])"
    );
    let base = Scene::from_str(&text, Path::new("shadow-view.ron")).map_err(|e| e.to_string())?;
    // Synge: sin(alpha) = (3 sqrt 3 / 2) (r_s / r) sqrt(1 - r_s / r); on a pinhole image
    // the shadow is a circle of radius tan(alpha) / tan(fov / 2) half-heights.
    let sin_a = 1.5 * 3f64.sqrt() * RS / R_OBS * (1.0 - RS / R_OBS).sqrt();
    let tan_a = sin_a / (1.0 - sin_a * sin_a).sqrt();
    let expected_px = tan_a / 0.5 * f64::from(SIZE) / 2.0;
    let mut out = serde_json::json!({
        "size": SIZE, "spp": 1, "observer_r_over_rs": R_OBS / RS,
        "expected_radius_px": expected_px,
        "radius": "from the count of black (captured) pixel centres: sqrt(count / pi)",
    });
    for on in [false, true] {
        let scene = Arc::new(with_footprint(&base, on)?);
        // A first frame warms the caches (field grid), as a host's would be.
        render(renderer, &scene, settings(64, 64, 1))?;
        let run = render(renderer, &scene, settings(SIZE, SIZE, 1))?;
        let black = run
            .rgb
            .iter()
            .filter(|p| p.iter().all(|&c| c == 0.0))
            .count();
        let radius = (black as f64 / std::f64::consts::PI).sqrt();
        let rel = radius / expected_px - 1.0;
        let label = if on { "footprint" } else { "exact" };
        println!(
            "shadow view ({label}): {:.3} s, {:.1} segments per ray, radius {radius:.2} px vs {expected_px:.2} (Synge): {:+.3}%",
            run.seconds,
            run.segments as f64 / run.rays.max(1) as f64,
            rel * 100.0
        );
        out[label] = serde_json::json!({
            "seconds": run.seconds, "rays": run.rays, "segments": run.segments,
            "radius_px": radius, "relative_error": rel,
        });
    }
    Ok(out)
}
