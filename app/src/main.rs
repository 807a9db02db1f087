//! `grin`: the command-line front end of the Grin renderer.
//!
//! - `grin trace SCENE.ron --origin X,Y,Z --dir X,Y,Z`: traces one curved ray and
//!   prints JSON (termination, exit point and direction, optical path, steps,
//!   segments, hit, and with `--path` the sampled path).
//!
//! - `grin render SCENE.ron -o out.png [--spp N] [--size WxH] [--threads N] [--seed S]
//!   [--bounces N] [--aov depth,normal,instance,mask,segments,objcoords,uv,position,
//!   exit,deflection,order] [--exr] [--metadata] [--trace-out trace.json]
//!   [--backend auto|cpu|gpu]`: renders on the CPU or the GPU and writes an sRGB PNG
//!   (or linear OpenEXR for `-o out.exr`), AOVs (ground truth traced at pixel centres
//!   from `instance` on) and metadata beside it, every file through a temporary name.
//!
//! - `grin batch MANIFEST --out DIR [--skip-completed] [--coco FILE]`: many scenes and
//!   frames in one process, outputs written atomically with done-markers, a JSON
//!   report; ground truth, optical flow, sweeps and a COCO export on request.
//!
//! Exit codes: 0 success (for a batch: every frame done or already done), 2 bad
//! input (arguments, scene or manifest file, unwritable output), 3 GPU out of memory,
//! 4 `--backend gpu` without a usable GPU, 1 anything else (in a batch: some frames
//! failed).

use std::path::PathBuf;
use std::process::ExitCode;

mod batch;
mod render_cmd;
mod truth_out;

pub(crate) use grin_app::{cli_args, exit};

use clap::{Parser, Subcommand};
use glam::DVec3;
use renderer_core::accel::BlasCache;
use renderer_core::field::{FieldKind, Schwarzschild};
use renderer_core::integrator::{StopSurface, static_observer_direction};
use renderer_core::scene::Scene;
use renderer_core::trace::SceneTracer;

use crate::exit::{Exit, Failure};

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
    /// Render a scene on the CPU or GPU to PNG or OpenEXR, with AOVs.
    Render(render_cmd::RenderArgs),
    /// Render the jobs of a manifest (many scenes and frames) in one process.
    Batch(batch::BatchArgs),
    /// Print scenes' (and manifests' sequences') RAM and GPU footprint per buffer
    /// kind, to set batch budgets from.
    Inspect(batch::inspect::InspectArgs),
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
    /// Read --dir in the local frame of an observer near the scene's mass (as a
    /// camera there sees it), instead of as a coordinate direction: at rest (the
    /// default), or near a Kerr hole any of its observers.
    #[arg(long, value_enum, num_args = 0..=1, default_missing_value = "static")]
    observer: Option<render_cmd::ObserverArg>,
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

fn trace(args: &TraceArgs) -> Result<String, Failure> {
    let scene = Scene::load(&args.scene)
        .map_err(|e| Failure::new(Exit::BadInput, format!("grin trace: {e}")))?;
    // Scaled before normalising: a direction such as (0, 1e200, 1e200), whose squared
    // length overflows, is still a direction.
    let largest = args.dir.abs().max_element();
    if !(largest.is_finite() && largest > 0.0) {
        return Err(Failure::new(
            Exit::BadInput,
            format!(
                "grin trace: --dir {},{},{} must be a finite, non-zero vector",
                args.dir.x, args.dir.y, args.dir.z
            ),
        ));
    }
    let unit_dir = (args.dir / largest).normalize();
    let mut tolerances = *scene.tolerances();
    if let Some(t) = args.tolerance {
        if !(t.is_finite() && t > 0.0) {
            return Err(Failure::new(
                Exit::BadInput,
                format!("grin trace: --tolerance {t} must be above 0"),
            ));
        }
        tolerances.geometric = t;
    }
    if let Some(n) = args.max_steps {
        if n == 0 {
            return Err(Failure::new(
                Exit::BadInput,
                "grin trace: --max-steps must be at least 1",
            ));
        }
        tolerances.max_steps = n;
    }
    let scene = if tolerances == *scene.tolerances() {
        scene
    } else {
        let mut b = scene.edit();
        b.tolerances(tolerances);
        b.build()
            .map_err(|e| Failure::new(Exit::BadInput, format!("grin trace: {e}")))?
    };
    let mut dir = unit_dir;
    // The photon energy the observer measures (near a Kerr hole), for the redshift.
    let mut observed = 1.0;
    // Which momentum the ray carries where it starts in a Kerr hole's ergosphere
    // (the observer's own photon).
    let mut root = renderer_core::field::Root::Near;
    if let Some(observer) = args.observer {
        if scene.medium().kerr_holes().next().is_some() {
            // A one-pixel camera looking along --dir: its centre ray is the
            // observer's own direction.
            let up = if unit_dir.cross(DVec3::Y).length() > 1e-3 {
                DVec3::Y
            } else {
                DVec3::Z
            };
            let desc = renderer_core::scene::CameraDesc {
                position: args.origin,
                look_at: args.origin + unit_dir,
                up,
                fov_deg: 1.0,
                observer: observer.observer(),
            };
            desc.validate_in(&args.scene, scene.medium()).map_err(|e| {
                Failure::new(Exit::BadInput, format!("grin trace: --observer: {e}"))
            })?;
            let camera = renderer_core::camera::Camera::new(&desc, 1, 1, scene.medium());
            let ray = camera.photon(0.5, 0.5);
            dir = ray.direction;
            observed = ray.energy;
            root = ray.root;
        } else {
            let masses: Vec<(DVec3, f64)> = scene
                .medium()
                .fields
                .iter()
                .filter_map(|f| match *f {
                    FieldKind::Schwarzschild(Schwarzschild { centre, rs, .. }) => {
                        Some((centre, rs))
                    }
                    _ => None,
                })
                .collect();
            let ([(centre, rs)], render_cmd::ObserverArg::Static) = (&masses[..], observer) else {
                return Err(Failure::new(
                    Exit::BadInput,
                    format!(
                        "grin trace: --observer needs exactly one Schwarzschild field (static observer) or a Kerr hole; {} has {} Schwarzschild fields",
                        args.scene.display(),
                        masses.len()
                    ),
                ));
            };
            dir = static_observer_direction(args.origin, dir, *centre, *rs);
        }
    }
    let tracer = SceneTracer::new(&scene, &BlasCache::default());
    let report = tracer.trace_rooted(
        args.origin,
        dir,
        root,
        renderer_core::integrator::RayCone::EXACT,
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
    if let Some(k) = &r.kerr {
        // g to the first disk crossing's gas, else (escaped) to a static emitter at
        // infinity.
        let redshift = match (k.first_disk(), r.termination) {
            (Some(c), _) => Some(observed / c.energy),
            (None, renderer_core::integrator::Termination::Escaped) => Some(observed / k.energy),
            _ => None,
        };
        out["kerr"] = serde_json::json!({
            "energy_at_infinity": k.energy,
            "observed_energy": observed,
            "redshift": redshift,
            "equatorial_crossings": k.crossings,
            "disk": k.disk[..k.disk_count as usize],
            "transmittance": k.transmittance,
            "constants_at_entry": k.start,
            "drift": k.drift,
        });
    }
    if args.path {
        out["path"] = report.path.iter().map(|p| p.to_array().to_vec()).collect();
    }
    serde_json::to_string_pretty(&out)
        .map_err(|e| Failure::new(Exit::Failed, format!("grin trace: {e}")))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Trace(args) => trace(args),
        Command::Render(args) => render_cmd::render(args).map(|msg| {
            eprintln!("{msg}");
            String::new()
        }),
        Command::Batch(args) => batch::batch(args).map(|msg| {
            eprintln!("{msg}");
            String::new()
        }),
        Command::Inspect(args) => batch::inspect::inspect(args),
    };
    match result {
        Ok(text) => {
            if !text.is_empty() {
                println!("{text}");
            }
            ExitCode::SUCCESS
        }
        Err(failure) => failure.report(),
    }
}
