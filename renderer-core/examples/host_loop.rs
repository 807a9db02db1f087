//! A game engine's frame loop around Grin: every frame the host moves an object in
//! its own scene, hands the rebuilt scene to its `Session` (no files), and gives it a
//! 4 ms slice with `Session::step`. It prints per-frame timing to show the host stays
//! on budget, then holds the scene still (rebuilding it every frame all the same) to
//! show the film keeps converging. A crowd of still cubes (1,000 by default) stands
//! around, so the per-frame cost of the update (the stages that rebuild what the
//! moved instance changed: the TLAS only; the BLASes, the curvature grid and the
//! emitter table are kept while no emitting instance moves) is
//! measured at a game's instance count.
//!
//! `cargo run --release -p renderer-core --example host_loop [-- FRAMES [CROWD]]`

use std::sync::Arc;
use std::time::{Duration, Instant};

use glam::{Affine3A, DVec3, Quat, Vec3};
use renderer_core::accel::Mesh;
use renderer_core::builder::SceneBuilder;
use renderer_core::field::{FieldKind, GaussianBlob};
use renderer_core::frame::{RenderSettings, Renderer};
use renderer_core::integrator::Tolerances;
use renderer_core::procedural;
use renderer_core::scene::{CameraDesc, Environment, Light, Material};
use renderer_core::scheduler::{CancelToken, Pool, PoolConfig};
use renderer_core::session::{FrameFormat, Session};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let frames: usize = std::env::args()
        .nth(1)
        .map_or(Ok(60), |a| a.parse())
        .map_err(|e| format!("FRAMES: {e}"))?;
    let crowd: usize = std::env::args()
        .nth(2)
        .map_or(Ok(1000), |a| a.parse())
        .map_err(|e| format!("CROWD: {e}"))?;
    let budget = Duration::from_millis(4);
    let floor = Arc::new(Mesh::new(
        vec![
            [-4.0, 0.0, -4.0],
            [4.0, 0.0, -4.0],
            [4.0, 0.0, 4.0],
            [-4.0, 0.0, 4.0],
        ],
        vec![[0, 2, 1], [0, 3, 2]],
    )?);
    let cube = Arc::new(procedural::cuboid(Vec3::splat(-0.5), Vec3::splat(0.5)));
    let pool = Arc::new(Pool::new(PoolConfig::default())?);
    let mut session = Session::new(Renderer::new(pool));
    // Small tiles so that one fits in a 4 ms slice on a laptop-class CPU.
    let settings = RenderSettings {
        width: 96,
        height: 64,
        spp: 16,
        tile: (8, 8),
        max_bounces: 1,
        ..RenderSettings::default()
    };
    session.set_settings(settings);
    let token = CancelToken::new();
    println!("frame  host_ms  update_ms  step_ms  tiles  samples  passes  prepared");
    let mut worst = Duration::ZERO;
    let mut steps = Vec::with_capacity(frames);
    let mut updates = Vec::with_capacity(frames);
    let mut builds = Vec::with_capacity(frames);
    let update_stages = [
        renderer_core::frame::stage::BLAS,
        renderer_core::frame::stage::FIELDS,
        renderer_core::frame::stage::TLAS,
    ];
    let still = 200;
    for frame in 0..frames + still {
        let frame_start = Instant::now();
        // The host's game logic: the cube orbits a heat-haze blob, then stops.
        let angle = frame.min(frames - 1) as f32 * 0.05;
        let mut b = SceneBuilder::new();
        let floor_id = b.mesh(Arc::clone(&floor));
        let cube_id = b.mesh(Arc::clone(&cube));
        b.instance(
            floor_id,
            Affine3A::IDENTITY,
            Material::Checker(renderer_core::material::Checker {
                a: [0.8; 3],
                b: [0.2; 3],
                scale: 1.0,
            }),
        );
        b.instance(
            cube_id,
            Affine3A::from_rotation_translation(
                Quat::from_rotation_y(angle * 2.0),
                Vec3::new(1.5 * angle.cos(), 0.5, 1.5 * angle.sin()),
            ),
            Material::Diffuse(renderer_core::material::Diffuse {
                colour: [0.8, 0.3, 0.2],
                emission: [0.0; 3],
            }),
        );
        // The crowd: small cubes on a grid behind the scene, the same every frame.
        let side = (crowd as f64).sqrt().ceil().max(1.0) as usize;
        for k in 0..crowd {
            let (i, j) = (k % side, k / side);
            let t = |n: usize| {
                if side > 1 {
                    n as f32 / (side - 1) as f32
                } else {
                    0.5
                }
            };
            b.instance(
                cube_id,
                Affine3A::from_scale_rotation_translation(
                    Vec3::splat(0.08),
                    Quat::IDENTITY,
                    Vec3::new(-3.8 + 7.6 * t(i), 0.04, 2.0 + 1.8 * t(j)),
                ),
                Material::Diffuse(renderer_core::material::Diffuse {
                    colour: [0.5; 3],
                    emission: [0.0; 3],
                }),
            );
        }
        b.field(FieldKind::GaussianBlob(GaussianBlob {
            centre: DVec3::new(0.0, 0.6, 0.0),
            sigma: 0.5,
            amplitude: 0.05,
        }));
        // A game trades accuracy for speed: 1 mm chords, looser Runge-Kutta steps.
        b.tolerances(Tolerances {
            geometric: 1e-3,
            rk: 1e-6,
            ..Tolerances::default()
        });
        b.light(Light::Directional {
            direction: DVec3::new(-0.3, -1.0, 0.4),
            irradiance: [3.0; 3],
        });
        b.environment(Environment::GradientSky(
            renderer_core::environment::GradientSky {
                horizon: [0.6, 0.7, 0.8],
                zenith: [0.2, 0.3, 0.6],
            },
        ));
        b.camera(CameraDesc {
            position: DVec3::new(0.0, 2.5, -5.0),
            look_at: DVec3::new(0.0, 0.3, 0.0),
            up: DVec3::Y,
            fov_deg: 45.0,
            observer: Default::default(),
        });
        let scene = Arc::new(b.build()?);
        let built = frame_start.elapsed();
        session.set_scene(scene);
        let report = session.step(budget, &token)?;
        let host = frame_start.elapsed();
        let update: Duration = report
            .stages
            .iter()
            .filter(|s| update_stages.contains(&s.name.as_str()))
            .map(|s| s.wall)
            .sum();
        if frame < frames {
            worst = worst.max(report.wall);
            steps.push(report.wall);
            updates.push(update);
            builds.push(built);
        }
        println!(
            "{frame:>5}  {:>7.2}  {:>9.3}  {:>7.2}  {:>5}  {:>7}  {:>6}  {}",
            host.as_secs_f64() * 1e3,
            update.as_secs_f64() * 1e3,
            report.wall.as_secs_f64() * 1e3,
            report.tiles_done,
            report.samples,
            report.passes_done,
            if !report
                .stages
                .iter()
                .any(|s| s.name == renderer_core::frame::stage::TLAS)
            {
                "kept (same scene)"
            } else if report.fields_cached {
                "tlas (fields cached)"
            } else {
                "tlas + fields"
            }
        );
    }
    // Still for 200 frames: the film kept its samples although the scene object was new
    // every frame.
    let view = session.frame(FrameFormat::Rgba8)?;
    println!(
        "after {still} still frames (the scene rebuilt each one): {} samples per pixel in the {}x{} image",
        view.samples, view.width, view.height
    );
    let quantiles = |v: &mut Vec<Duration>| {
        v.sort();
        let at = |q: usize| v[(v.len() * q / 100).min(v.len() - 1)].as_secs_f64() * 1e3;
        (at(50), at(95))
    };
    let (update_median, update_p95) = quantiles(&mut updates);
    let (build_median, _) = quantiles(&mut builds);
    println!(
        "moving one of {} instances every frame: update (the TLAS; BLASes, fields and emitters kept) median {update_median:.3} ms, p95 {update_p95:.3} ms; building the scene on the host {build_median:.3} ms",
        crowd + 2
    );
    steps.sort();
    let median = steps[steps.len() / 2];
    let p95 = steps[(steps.len() * 95 / 100).min(steps.len() - 1)];
    println!(
        "render_step with a {} ms budget over {frames} frames: median {:.2} ms, p95 {:.2} ms, max {:.2} ms",
        budget.as_millis(),
        median.as_secs_f64() * 1e3,
        p95.as_secs_f64() * 1e3,
        worst.as_secs_f64() * 1e3
    );
    Ok(())
}
