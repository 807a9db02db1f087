//! `grin`: the command-line front end of the Grin renderer.
//!
//! - `grin trace SCENE.ron --origin X,Y,Z --dir X,Y,Z`: traces one curved ray and
//!   prints JSON (termination, exit point and direction, optical path, steps,
//!   segments, hit, and with `--path` the sampled path).
//!
//! - `grin render SCENE.ron -o out.png [--spp N] [--size WxH] [--threads N] [--seed S]`:
//!   renders on the CPU and writes an sRGB PNG (through a temporary name).
//!
//! Exit codes: 0 success, 2 bad input (arguments, scene file, unwritable output), 1
//! anything else.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use glam::DVec3;
use renderer_core::accel::BlasCache;
use renderer_core::field::FieldKind;
use renderer_core::integrator::{StopSurface, static_observer_direction};
use renderer_core::scene::Scene;
use renderer_core::trace::SceneTracer;

#[derive(Parser, Debug)]
#[command(name = "grin", version, about = "Grin: a renderer of curved light")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Trace one ray through a scene (or a field-only file) and print JSON.
    Trace(TraceArgs),
    /// Render a scene to a PNG image on the CPU.
    Render(RenderArgs),
}

#[derive(clap::Args, Debug)]
struct RenderArgs {
    /// Scene file (RON).
    scene: PathBuf,
    /// Output PNG (written to a temporary name, then renamed).
    #[arg(short, long)]
    output: PathBuf,
    /// Samples per pixel.
    #[arg(long, default_value_t = 16)]
    spp: u32,
    /// Image size, "WxH".
    #[arg(long, default_value = "320x240", value_parser = parse_size)]
    size: (u32, u32),
    /// Worker threads (default: GRIN_THREADS, else all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Seed of every random choice.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

fn parse_size(s: &str) -> Result<(u32, u32), String> {
    let bad = || format!("expected WxH with both at least 1, got '{s}'");
    let (w, h) = s.split_once(['x', 'X']).ok_or_else(bad)?;
    let (w, h) = (
        w.trim().parse::<u32>().map_err(|_| bad())?,
        h.trim().parse::<u32>().map_err(|_| bad())?,
    );
    if w == 0 || h == 0 || w > 16384 || h > 16384 {
        return Err(bad());
    }
    Ok((w, h))
}

fn srgb(v: f32) -> u8 {
    let v = v.clamp(0.0, 1.0);
    let s = if v <= 0.003_130_8 {
        12.92 * v
    } else {
        1.055 * v.powf(1.0 / 2.4) - 0.055
    };
    (s * 255.0 + 0.5) as u8
}

fn render(args: &RenderArgs) -> Result<String, (u8, String)> {
    use renderer_core::render::{RenderSettings, Renderer, Snapshot};
    let scene = Scene::load(&args.scene).map_err(|e| (2, format!("grin render: {e}")))?;
    if args.spp == 0 {
        return Err((2, "grin render: --spp must be at least 1".into()));
    }
    let dir = args
        .output
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    if !dir.is_dir() {
        return Err((
            2,
            format!(
                "grin render: output folder {} does not exist",
                dir.display()
            ),
        ));
    }
    let config = match args.threads {
        Some(0) => return Err((2, "grin render: --threads must be at least 1".into())),
        Some(n) => scheduler::PoolConfig::with_threads(n),
        None => scheduler::PoolConfig::default(),
    };
    let pool = scheduler::Pool::new(config).map_err(|e| (2, format!("grin render: {e}")))?;
    eprintln!(
        "grin render: CPU backend, {} threads (the GPU backend is not built yet)",
        pool.threads()
    );
    let settings = RenderSettings {
        width: args.size.0,
        height: args.size.1,
        spp: args.spp,
        seed: args.seed,
        ..RenderSettings::default()
    };
    let snapshot = Snapshot::new(std::sync::Arc::new(scene), settings, &BlasCache::default())
        .map_err(|e| (2, format!("grin render: {}: {e}", args.scene.display())))?;
    let mut renderer = Renderer::new(std::sync::Arc::new(pool));
    let started = std::time::Instant::now();
    renderer
        .render_all(&snapshot)
        .map_err(|e| (1, format!("grin render: {e}")))?;
    let film = renderer.film();
    let pixels: Vec<u8> = film.rgb().iter().flat_map(|p| p.map(srgb)).collect();
    let img = image::RgbImage::from_raw(film.width(), film.height(), pixels)
        .ok_or((1, "grin render: film size mismatch".to_owned()))?;
    let tmp = args.output.with_extension("png.tmp");
    img.save_with_format(&tmp, image::ImageFormat::Png)
        .and_then(|()| std::fs::rename(&tmp, &args.output).map_err(image::ImageError::IoError))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            (
                2,
                format!("grin render: cannot write {}: {e}", args.output.display()),
            )
        })?;
    Ok(format!(
        "wrote {} ({}x{}, {} spp) in {:.2} s",
        args.output.display(),
        film.width(),
        film.height(),
        args.spp,
        started.elapsed().as_secs_f64()
    ))
}

#[derive(clap::Args, Debug)]
struct TraceArgs {
    /// Scene or field file (RON).
    scene: PathBuf,
    /// Ray origin, "x,y,z".
    #[arg(long, value_parser = parse_vec3, allow_hyphen_values = true)]
    origin: DVec3,
    /// Ray direction, "x,y,z" (need not be unit).
    #[arg(long, value_parser = parse_vec3, allow_hyphen_values = true)]
    dir: DVec3,
    /// Stop where the ray crosses this plane: "px,py,pz,nx,ny,nz" (point, normal).
    #[arg(long, value_parser = parse_plane, allow_hyphen_values = true, conflicts_with = "stop_sphere")]
    stop_plane: Option<StopSurface>,
    /// Stop where the ray first crosses this sphere: "cx,cy,cz,r".
    #[arg(long, value_parser = parse_sphere, allow_hyphen_values = true)]
    stop_sphere: Option<StopSurface>,
    /// Geometric tolerance: largest chord deviation (overrides the scene's).
    #[arg(long, allow_hyphen_values = true)]
    tolerance: Option<f64>,
    /// Step budget (overrides the scene's).
    #[arg(long)]
    max_steps: Option<u32>,
    /// Also print the sampled path (segment end points).
    #[arg(long)]
    path: bool,
    /// Read --dir in the local frame of an observer at rest near the scene's mass
    /// (as a camera there sees it), instead of as a coordinate direction.
    #[arg(long)]
    observer: bool,
}

fn numbers(s: &str, n: usize) -> Result<Vec<f64>, String> {
    let v: Result<Vec<f64>, _> = s.split(',').map(|p| p.trim().parse::<f64>()).collect();
    match v {
        Ok(v) if v.len() == n && v.iter().all(|x| x.is_finite()) => Ok(v),
        _ => Err(format!(
            "expected {n} finite comma-separated numbers, got '{s}'"
        )),
    }
}

fn parse_vec3(s: &str) -> Result<DVec3, String> {
    let v = numbers(s, 3)?;
    Ok(DVec3::new(v[0], v[1], v[2]))
}

fn parse_plane(s: &str) -> Result<StopSurface, String> {
    let v = numbers(s, 6)?;
    let normal = DVec3::new(v[3], v[4], v[5]);
    if normal.length() == 0.0 {
        return Err("the plane's normal must not be zero".into());
    }
    Ok(StopSurface::Plane {
        point: DVec3::new(v[0], v[1], v[2]),
        normal,
    })
}

fn parse_sphere(s: &str) -> Result<StopSurface, String> {
    let v = numbers(s, 4)?;
    if v[3] <= 0.0 {
        return Err("the sphere's radius must be above 0".into());
    }
    Ok(StopSurface::Sphere {
        centre: DVec3::new(v[0], v[1], v[2]),
        radius: v[3],
    })
}

fn trace(args: &TraceArgs) -> Result<String, (u8, String)> {
    let mut scene = Scene::load(&args.scene).map_err(|e| (2, format!("grin trace: {e}")))?;
    if args.dir.length() == 0.0 {
        return Err((2, "grin trace: --dir must not be zero".into()));
    }
    if let Some(t) = args.tolerance {
        if !(t.is_finite() && t > 0.0) {
            return Err((2, format!("grin trace: --tolerance {t} must be above 0")));
        }
        scene.tolerances.geometric = t;
    }
    if let Some(n) = args.max_steps {
        if n == 0 {
            return Err((2, "grin trace: --max-steps must be at least 1".into()));
        }
        scene.tolerances.max_steps = n;
    }
    let mut dir = args.dir.normalize();
    if args.observer {
        let masses: Vec<(DVec3, f64)> = scene
            .medium
            .fields
            .iter()
            .filter_map(|f| match *f {
                FieldKind::Schwarzschild { centre, rs, .. } => Some((centre, rs)),
                _ => None,
            })
            .collect();
        let [(centre, rs)] = masses[..] else {
            return Err((
                2,
                format!(
                    "grin trace: --observer needs exactly one Schwarzschild field; {} has {}",
                    args.scene.display(),
                    masses.len()
                ),
            ));
        };
        dir = static_observer_direction(args.origin, dir, centre, rs);
    }
    let tracer = SceneTracer::new(&scene, &BlasCache::default());
    let report = tracer.trace(
        args.origin,
        dir,
        args.stop_plane.or(args.stop_sphere),
        args.path,
    );
    let r = &report.result;
    let mut out = serde_json::json!({
        "termination": r.termination,
        "exit_point": r.position.to_array(),
        "exit_direction": r.direction.to_array(),
        "optical_path_length": r.optical_path,
        "steps": r.steps,
        "segments": r.segments,
        "hit": report.hit.map(|h| serde_json::json!({
            "position": h.position.to_array(), "instance": h.instance,
            "triangle": h.triangle, "segment": h.segment,
        })),
    });
    if args.path {
        out["path"] = report.path.iter().map(|p| p.to_array().to_vec()).collect();
    }
    serde_json::to_string_pretty(&out).map_err(|e| (1, format!("grin trace: {e}")))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Trace(args) => trace(args),
        Command::Render(args) => render(args).map(|msg| {
            eprintln!("{msg}");
            String::new()
        }),
    };
    match result {
        Ok(text) => {
            if !text.is_empty() {
                println!("{text}");
            }
            ExitCode::SUCCESS
        }
        Err((code, message)) => {
            eprintln!("{message}");
            ExitCode::from(code)
        }
    }
}
