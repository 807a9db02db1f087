//! The frame graph against references computed here without it.

use std::sync::Arc;

use scheduler::order::Order;
use scheduler::{Pool, PoolConfig};

use super::{RenderSettings, Renderer, Snapshot};
use crate::accel::BlasCache;
use crate::camera::Camera;
use crate::integrator::Segment;
use crate::rng::Sampler;
use crate::scene::Scene;
use crate::shade::albedo;
use crate::trace::SceneTracer;

#[test]
fn a_uniform_medium_renders_like_straight_ray_casting() {
    // Direct light only, black sky: every sample is albedo / pi * E * cos or 0.
    let text = r#"(
        camera: Some((position: (0.5, 2.0, -6.0), look_at: (0.0, 0.5, 0.0), fov_deg: 40.0)),
        meshes: [(name: "floor", source: Plane(size: 8.0)), (name: "ball", source: Sphere(radius: 1.0)),
                 (name: "crate", source: Box(min: (-0.5, 0.0, -0.5), max: (0.5, 1.0, 0.5)))],
        materials: [(name: "floor", kind: Checker(a: (0.8, 0.8, 0.8), b: (0.3, 0.3, 0.3), scale: 1.0)),
                    (name: "red", kind: Diffuse(colour: (0.8, 0.2, 0.1)))],
        instances: [(mesh: "floor", material: Some("floor")), (mesh: "ball", translate: (-1.0, 1.0, 0.5), material: Some("red")),
                    (mesh: "crate", translate: (1.3, 0.0, -0.5), rotate_deg: (0.0, 30.0, 0.0))],
        lights: [Directional(direction: (0.4, -1.0, 0.3), irradiance: (2.0, 2.0, 2.0))],
    )"#;
    let scene = Arc::new(Scene::from_str(text, "uniform.ron".as_ref()).unwrap());
    let (w, h, seed) = (64u32, 48u32, 9u64);
    let settings = RenderSettings {
        width: w,
        height: h,
        spp: 1,
        seed,
        tile: (16, 16),
        order: Order::Scanline,
        max_bounces: 0,
    };
    let mut r = Renderer::new(Arc::new(Pool::new(PoolConfig::with_threads(2)).unwrap()));
    r.render_all(&Snapshot::new(Arc::clone(&scene), settings).unwrap())
        .unwrap();
    let grin = r.film().rgb();
    // The straight-ray reference: the same jittered camera rays cast as one straight
    // segment each, shaded in closed form with a straight shadow ray.
    let tracer = SceneTracer::new(&scene, &BlasCache::default());
    let camera = Camera::new(&scene.camera().unwrap(), w, h, scene.medium());
    let sun = glam::DVec3::new(0.4, -1.0, 0.3).normalize();
    let cast = |o: glam::DVec3, d: glam::DVec3| {
        tracer.intersect_segment(&Segment {
            start: o,
            end: o + d * 100.0,
            deviation: 0.0,
            index: 0,
        })
    };
    let (mut agree, mut lit_pixels) = (0, 0);
    for y in 0..h {
        for x in 0..w {
            let mut rng = Sampler::new(y * w + x, 0, 0, seed);
            let (jx, jy) = (rng.next_f64(), rng.next_f64());
            let (o, d) = camera.ray(f64::from(x) + jx, f64::from(y) + jy);
            let expect = match cast(o, d) {
                None => [0.0; 3],
                Some(hit) => {
                    let p = o + d * 100.0 * f64::from(hit.t);
                    let mut n = hit.normal.as_dvec3();
                    if n.dot(d) > 0.0 {
                        n = -n;
                    }
                    let rho = albedo(
                        &scene.instances()[hit.instance as usize].material,
                        p,
                        n,
                        None,
                    );
                    let cos = n.dot(-sun);
                    let lit = cos > 0.0 && cast(p + n * 1e-4 * (1.0 + p.length()), -sun).is_none();
                    rho.map(|a| {
                        if lit {
                            (a / std::f64::consts::PI * 2.0 * cos) as f32
                        } else {
                            0.0
                        }
                    })
                }
            };
            let got = grin[(y * w + x) as usize];
            lit_pixels += usize::from(expect[0] > 0.0);
            if (0..3).all(|c| (got[c] - expect[c]).abs() <= 1e-4 * (1.0 + expect[c].abs())) {
                agree += 1;
            }
        }
    }
    // f32 rounding may flip a ray grazing an edge; nothing else may differ.
    let total = (w * h) as usize;
    assert!(
        agree * 1000 >= total * 995,
        "{agree} of {total} pixels agree"
    );
    assert!(
        lit_pixels * 2 > total,
        "only {lit_pixels} lit pixels: a weak test"
    );
}

#[test]
fn offline_steps_finish_every_tile_they_start() {
    // A budget far shorter than a tile: interactive steps would cut tiles short at
    // the deadline; offline ones finish their batch, so every run traces the same
    // rays and makes the same image whatever the budget.
    let text = r#"(
        camera: Some((position: (0.0, 0.5, -5.0), look_at: (0.0, 0.0, 0.0), fov_deg: 40.0)),
        meshes: [(name: "ball", source: Sphere(radius: 0.5))],
        instances: [(mesh: "ball", translate: (0.0, 0.0, 1.5))],
        lights: [Directional(direction: (0.3, -1.0, 0.5), irradiance: (2.0, 2.0, 2.0))],
        fields: [Luneburg(centre: (0.0, 0.0, 0.0), radius: 1.0)],
    )"#;
    let scene = Arc::new(Scene::from_str(text, "offline.ron".as_ref()).unwrap());
    let settings = RenderSettings {
        width: 48,
        height: 32,
        spp: 2,
        tile: (8, 8),
        ..RenderSettings::default()
    };
    let snapshot = Snapshot::new(scene, settings).unwrap();
    let token = scheduler::CancelToken::new();
    let run = |budget: std::time::Duration| {
        let mut r = Renderer::new(Arc::new(Pool::new(PoolConfig::with_threads(2)).unwrap()));
        let (mut rays, mut steps) = (0, 0);
        loop {
            let report = r.render_step_whole(&snapshot, budget, &token).unwrap();
            assert_eq!(report.tiles_discarded, 0, "{report:?}");
            rays += report.rays;
            steps += 1;
            if report.frame_complete {
                return (rays, steps, r.film().rgb());
            }
        }
    };
    let (rays, steps, image) = run(std::time::Duration::from_micros(1));
    let (all_rays, all_steps, all_image) = run(std::time::Duration::from_secs(600));
    // The long budget takes a first, measuring step of one tile per worker, then all.
    assert!(
        steps > 4 && all_steps < steps,
        "{steps} and {all_steps} steps"
    );
    assert_eq!(rays, all_rays);
    assert_eq!(image, all_image);
}

#[test]
fn moving_instances_rebuilds_the_tlas_only() {
    use super::stage;
    use glam::{Affine3A, Vec3};
    let text = r#"(
        camera: Some((position: (0.0, 1.0, -5.0), look_at: (0.0, 0.0, 0.0), fov_deg: 40.0)),
        meshes: [(name: "ball", source: Sphere(radius: 0.5)), (name: "panel", source: Plane(size: 1.0))],
        materials: [(name: "lamp", kind: Emissive(radiance: (4.0, 4.0, 4.0)))],
        instances: [(mesh: "ball"), (mesh: "ball", translate: (1.2, 0.0, 0.0)),
                    (mesh: "panel", material: Some("lamp"), translate: (0.0, 2.0, 0.0), rotate_deg: (180.0, 0.0, 0.0))],
        lights: [Directional(direction: (0.3, -1.0, 0.5), irradiance: (1.0, 1.0, 1.0))],
    )"#;
    let scene = Scene::from_str(text, "moving.ron".as_ref()).unwrap();
    let settings = RenderSettings {
        width: 24,
        height: 16,
        spp: 1,
        ..RenderSettings::default()
    };
    let pool = Arc::new(Pool::new(PoolConfig::with_threads(2)).unwrap());
    let mut r = Renderer::new(Arc::clone(&pool));
    r.render_all(&Snapshot::new(Arc::new(scene.clone()), settings).unwrap())
        .unwrap();
    let first = r.caches.prepared.clone().unwrap();
    let moved = |i: usize, dx: f32| {
        let mut b = scene.edit();
        let t = b.transform(i).unwrap();
        b.set_transform(i, Affine3A::from_translation(Vec3::new(dx, 0.0, 0.0)) * t)
            .unwrap();
        Arc::new(b.build().unwrap())
    };
    // A plain ball moves: one TLAS stage; BLASes, grid and emitter table kept.
    let ball_moved = moved(0, 0.3);
    let snapshot = Snapshot::new(Arc::clone(&ball_moved), settings).unwrap();
    let report = r
        .render_step_whole(
            &snapshot,
            std::time::Duration::from_secs(60),
            &scheduler::CancelToken::new(),
        )
        .unwrap();
    let names: Vec<&str> = report.stages.iter().map(|s| s.name.as_str()).collect();
    assert!(report.prepared && names.contains(&stage::TLAS), "{names:?}");
    assert!(
        !names.contains(&stage::BLAS) && !names.contains(&stage::FIELDS),
        "{names:?}"
    );
    let mut complete = report.frame_complete;
    while !complete {
        complete = r
            .render_step_whole(
                &snapshot,
                std::time::Duration::from_secs(60),
                &scheduler::CancelToken::new(),
            )
            .unwrap()
            .frame_complete;
    }
    let second = r.caches.prepared.clone().unwrap();
    assert!(Arc::ptr_eq(&first.emitters, &second.emitters));
    assert!(
        first
            .blases
            .iter()
            .zip(&second.blases)
            .all(|(a, b)| Arc::ptr_eq(a, b))
    );
    // The image is the one a fresh renderer makes of the moved scene.
    let mut fresh = Renderer::new(Arc::clone(&pool));
    fresh.render_all(&snapshot).unwrap();
    assert_eq!(r.film().rgb(), fresh.film().rgb());
    // The lamp moves: the emitter table is made again.
    let lamp_moved = moved(2, 0.5);
    let snapshot = Snapshot::new(lamp_moved, settings).unwrap();
    r.render_all(&snapshot).unwrap();
    let third = r.caches.prepared.clone().unwrap();
    assert!(!Arc::ptr_eq(&second.emitters, &third.emitters));
    let mut fresh = Renderer::new(pool);
    fresh.render_all(&snapshot).unwrap();
    assert_eq!(r.film().rgb(), fresh.film().rgb());
}
