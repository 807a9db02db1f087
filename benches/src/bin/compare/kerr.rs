//! `compare -- kerr`: the cost of a Kerr hole's Hamiltonian geodesics against the
//! Schwarzschild paths, and a 1080p frame of `kerr_disk.ron`.
//!
//! 1. Rays past a hole of M = 1 in the equatorial plane, impact parameters 5.3 to 30
//!    (64 rays from 1000 M away, the default tolerances), traced interleaved as a
//!    Schwarzschild mass, a Kerr hole of no spin (the same paths: the Schwarzschild
//!    results) and one of spin 0.9: steps per ray, ns per step, and each one's
//!    largest error of the final direction against the same hole traced at rk 1e-13
//!    (the accuracy they are compared at).
//! 2. `kerr_disk.ron` at 1920x1080, 1 spp, on all cores (median of 3).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use glam::DVec3;
use renderer_core::field::{FieldKind, Kerr, Medium, Schwarzschild};
use renderer_core::frame::{RenderSettings, Renderer, Snapshot};
use renderer_core::integrator::{Integrator, Tolerances, Verdict};
use renderer_core::scene::Scene;

use super::results_path;

const RAYS: usize = 64;
const EXTENT: f64 = 1e4;

fn hole(kind: &str, tol: Tolerances) -> Integrator {
    let field = match kind {
        "schwarzschild" => FieldKind::Schwarzschild(Schwarzschild {
            centre: DVec3::ZERO,
            rs: 2.0,
            extent: EXTENT,
        }),
        _ => FieldKind::Kerr(Kerr {
            centre: DVec3::ZERO,
            mass: 1.0,
            spin: if kind == "kerr a=0.9" { 0.9 } else { 0.0 },
            axis: DVec3::Z,
            extent: EXTENT,
            disk: None,
        }),
    };
    Integrator::new(Medium::default().with(field), tol)
}

fn rays() -> Vec<(DVec3, DVec3)> {
    (0..RAYS)
        .map(|i| {
            let b = 5.3 + (30.0 - 5.3) * i as f64 / (RAYS - 1) as f64;
            (DVec3::new(-1e3, b, 0.0), DVec3::X)
        })
        .collect()
}

/// Traces every ray: total steps and each final direction.
fn trace_all(i: &Integrator) -> (u64, Vec<DVec3>) {
    let mut steps = 0;
    let dirs = rays()
        .iter()
        .map(|&(o, d)| {
            let r = i.trace(o, d, None, |_| Verdict::Continue);
            steps += u64::from(r.steps);
            r.direction
        })
        .collect();
    (steps, dirs)
}

pub(crate) fn compare(_args: &[String]) -> ExitCode {
    match run() {
        Ok(path) => {
            println!("wrote {}", path.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("compare kerr: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<PathBuf, String> {
    let kinds = ["schwarzschild", "kerr a=0", "kerr a=0.9"];
    let holes: Vec<Integrator> = kinds
        .iter()
        .map(|k| hole(k, Tolerances::default()))
        .collect();
    let tight = Tolerances {
        rk: 1e-13,
        geometric: 1e-7,
        ..Tolerances::default()
    };
    let references: Vec<Vec<DVec3>> = kinds.iter().map(|k| trace_all(&hole(k, tight)).1).collect();
    let rounds = 15;
    let mut times = vec![Vec::new(); kinds.len()];
    let mut steps = vec![0u64; kinds.len()];
    let mut errors = vec![0.0f64; kinds.len()];
    for _ in 0..rounds {
        for (k, i) in holes.iter().enumerate() {
            let t = Instant::now();
            let (s, dirs) = trace_all(i);
            times[k].push(t.elapsed());
            steps[k] = s;
            errors[k] = dirs
                .iter()
                .zip(&references[k])
                // atan2 of |a x b| and a . b: acos loses half the digits near 0.
                .map(|(a, b)| a.cross(*b).length().atan2(a.dot(*b)))
                .fold(0.0, f64::max);
        }
    }
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    println!("{RAYS} equatorial rays, b = 5.3..30 M, from 1000 M, default tolerances");
    println!(
        "{:<14} {:>10} {:>10} {:>10} {:>12}",
        "hole", "ms", "steps/ray", "ns/step", "max error"
    );
    let mut rows = Vec::new();
    for (k, kind) in kinds.iter().enumerate() {
        let t = median(&mut times[k]);
        let per_step = t.as_secs_f64() * 1e9 / steps[k] as f64;
        println!(
            "{kind:<14} {:>10.3} {:>10.1} {:>10.1} {:>12.2e}",
            t.as_secs_f64() * 1e3,
            steps[k] as f64 / RAYS as f64,
            per_step,
            errors[k]
        );
        rows.push(serde_json::json!({
            "hole": kind,
            "median_ms": t.as_secs_f64() * 1e3,
            "steps_per_ray": steps[k] as f64 / RAYS as f64,
            "ns_per_step": per_step,
            "max_direction_error_rad": errors[k],
        }));
    }
    // The frame.
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let pool = Arc::new(
        scheduler::Pool::new(scheduler::PoolConfig::with_threads(threads))
            .map_err(|e| e.to_string())?,
    );
    let mut renderer = Renderer::new(pool);
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../assets/scenes/kerr_disk.ron");
    let scene = Arc::new(Scene::load(&path).map_err(|e| e.to_string())?);
    let settings = RenderSettings {
        width: 1920,
        height: 1080,
        spp: 1,
        ..RenderSettings::default()
    };
    let mut frames = Vec::new();
    for _ in 0..3 {
        let snap = Snapshot::new(Arc::clone(&scene), settings).map_err(|e| e.to_string())?;
        let t = Instant::now();
        renderer.render_all(&snap).map_err(|e| e.to_string())?;
        frames.push(t.elapsed());
    }
    let frame = median(&mut frames);
    println!(
        "kerr_disk.ron 1920x1080 1 spp on {threads} threads (CPU): {:.2} s",
        frame.as_secs_f64()
    );
    let doc = serde_json::json!({
        "machine": benches::machine(),
        "rays": RAYS,
        "paths": rows,
        "kerr_disk_1080p_1spp_cpu": {"threads": threads, "median_s": frame.as_secs_f64(),
                                     "runs_s": frames.iter().map(Duration::as_secs_f64).collect::<Vec<_>>()},
    });
    let out = results_path("kerr.json");
    std::fs::write(&out, serde_json::to_string_pretty(&doc).unwrap_or_default())
        .map_err(|e| format!("{}: {e}", out.display()))?;
    Ok(out)
}
