use std::sync::Arc;

use glam::{DAffine3, DVec3};
use scheduler::{Pool, PoolConfig};

use super::*;
use crate::frame::{RenderSettings, Renderer, Snapshot};

fn truth(scene: &str, size: (u32, u32), threads: usize) -> (Arc<Scene>, GroundTruth) {
    let scene = Arc::new(Scene::from_str(scene, "truth.ron".as_ref()).unwrap());
    let settings = RenderSettings {
        width: size.0,
        height: size.1,
        spp: 1,
        ..RenderSettings::default()
    };
    let snapshot = Snapshot::new(Arc::clone(&scene), settings).unwrap();
    let pool = Arc::new(Pool::new(PoolConfig::with_threads(threads)).unwrap());
    let gt = Renderer::new(pool).ground_truth(&snapshot).unwrap();
    (scene, gt)
}

const CUBE: &str = r#"(
    camera: Some((position: (2.0, 1.5, -4.0), look_at: (0.3, -0.2, 0.1), fov_deg: 40.0)),
    meshes: [(name: "cube", source: Box(min: (-0.5, -0.5, -0.5), max: (0.5, 0.5, 0.5)))],
    instances: [(mesh: "cube", translate: (0.3, -0.2, 0.1), rotate_deg: (20.0, 35.0, -10.0), scale: 1.7)],
)"#;

/// The unit cube's object coordinates, from the analytic intersection of each pixel's
/// straight camera ray with the cube in its own frame (slabs, f64).
#[test]
fn object_coordinates_of_a_unit_cube_are_the_analytic_ones() {
    let (scene, gt) = truth(CUBE, (96, 72), 2);
    let to_local =
        DAffine3::from_mat4(glam::Mat4::from(scene.instances()[0].transform).as_dmat4()).inverse();
    let camera = crate::camera::Camera::new(&scene.camera().unwrap(), 96, 72, scene.medium());
    let (mut hits, mut worst) = (0, 0.0f64);
    for y in 0..72 {
        for x in 0..96 {
            let (o, d) = camera.ray(f64::from(x) + 0.5, f64::from(y) + 0.5);
            let (lo, ld) = (to_local.transform_point3(o), to_local.transform_vector3(d));
            let t0 = (DVec3::splat(-0.5) - lo) / ld;
            let t1 = (DVec3::splat(0.5) - lo) / ld;
            let (near, far) = (t0.min(t1).max_element(), t0.max(t1).min_element());
            let px = gt.at(x, y);
            // Rays grazing an edge (within 1e-4 of missing) may go either way.
            if far - near < 1e-4 * far.abs().max(1.0) {
                continue;
            }
            assert_eq!(px.is_hit(), near < far && near > 0.0, "pixel ({x}, {y})");
            if px.is_hit() {
                let expected = lo + ld * near;
                worst = worst.max((px.objcoords - expected).abs().max_element());
                hits += 1;
                assert_eq!(px.termination, Termination::Hit);
                assert!(
                    (px.exit - d).length() < 1e-12,
                    "a straight ray keeps its direction"
                );
                assert!(px.deflection.abs() < 1e-6);
                assert_eq!(px.order, 0);
                let n = px.normal;
                assert!(
                    n.dot(d) < 0.0 && (n.length() - 1.0).abs() < 1e-6,
                    "faces the ray"
                );
                assert!((px.depth - (px.position - o).length()).abs() < 1e-9);
            }
        }
    }
    assert!(hits > 1000, "{hits} pixels see the cube");
    assert!(worst < 1e-5, "object coordinates off by {worst:e}");
}

/// Behind a Luneburg lens (which focuses on its far pole) the wall is seen inverted:
/// the rays through the lens cross the axis and hit the wall on the other side of it
/// from where they were heading, order 1; beside the lens, upright, order 0.
#[test]
fn the_wall_seen_through_a_luneburg_lens_is_of_order_one() {
    let text = r#"(
        camera: Some((position: (-6.0, 0.0, 0.0), look_at: (0.0, 0.0, 0.0), fov_deg: 35.0)),
        meshes: [(name: "wall", source: Box(min: (3.0, -5.0, -5.0), max: (3.2, 5.0, 5.0)))],
        instances: [(mesh: "wall")],
        fields: [Luneburg(centre: (0.0, 0.0, 0.0), radius: 1.0)],
    )"#;
    let (scene, gt) = truth(text, (64, 48), 2);
    let camera = crate::camera::Camera::new(&scene.camera().unwrap(), 64, 48, scene.medium());
    let (mut through, mut beside) = (0, 0);
    for y in 0..48 {
        for x in 0..64 {
            let p = gt.at(x, y);
            let (o, d) = camera.ray(f64::from(x) + 0.5, f64::from(y) + 0.5);
            // Where the ray was heading across the axis (the x axis), and where it hit.
            let heading = DVec3::new(0.0, d.y, d.z);
            let landed = DVec3::new(0.0, p.position.y, p.position.z);
            // The impact parameter about the lens's centre (the origin).
            let impact = o.cross(d).length();
            // Rays through the lens's rim leave it nearly sideways and miss the wall.
            if !(0.6..=1.0).contains(&impact) {
                assert!(p.is_hit(), "({x}, {y}): {p:?}");
            }
            if impact > 1.0 {
                beside += 1;
                assert_eq!(p.order, 0, "({x}, {y}): {p:?}");
                assert!(p.deflection < 1e-9);
                assert!(heading.dot(landed) > 0.0, "upright");
            } else if impact < 0.6 {
                through += 1;
                assert_eq!(p.order, 1, "({x}, {y}): {p:?}");
                assert!(heading.dot(landed) < 0.0, "inverted: ({x}, {y}) {p:?}");
            }
        }
    }
    assert!(
        through > 150 && beside > 2000,
        "{through} through the lens, {beside} beside"
    );
}

/// The same ground truth for any thread count.
#[test]
fn the_ground_truth_is_the_same_on_one_thread_and_on_two() {
    let (_, one) = truth(CUBE, (40, 30), 1);
    let (_, two) = truth(CUBE, (40, 30), 2);
    assert_eq!(one, two);
}

/// Footprints count the instance's pixels and box them exactly.
#[test]
fn footprints_are_the_instance_planes_pixels_and_their_box() {
    let (_, gt) = truth(CUBE, (64, 48), 2);
    let f = gt.footprints(2);
    assert_eq!(f[1], None, "no second instance");
    let f = f[0].unwrap();
    let mut count = 0;
    let (mut x0, mut y0, mut x1, mut y1) = (u32::MAX, u32::MAX, 0, 0);
    for y in 0..48 {
        for x in 0..64 {
            if gt.at(x, y).instance == 0 {
                count += 1;
                (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x + 1), y1.max(y + 1));
            }
        }
    }
    assert_eq!((f.pixels, f.bbox), (count, [x0, y0, x1, y1]));
}

/// `int du / sqrt(p(u))` from `a` to `b` (`b` may be a simple root of `p`):
/// Simpson's rule in `s` with `u = b - s^2`, which takes the root's inverse square
/// root away.
fn orbit_integral(p: impl Fn(f64) -> f64, a: f64, b: f64) -> f64 {
    let n = 4000;
    let top = (b - a).sqrt();
    let h = top / f64::from(n);
    let f = |s: f64| {
        if s == 0.0 {
            // 2 s / sqrt(p(b - s^2)) -> 2 / sqrt(-p'(b)) at a root, 0 elsewhere.
            let q = p(b);
            if q > 0.0 {
                return 0.0;
            }
            let e = 1e-7 * b;
            return 2.0 / ((p(b - e) - q) / e).sqrt();
        }
        2.0 * s / p(b - s * s).sqrt()
    };
    (0..=n)
        .map(|k| {
            let w = if k == 0 || k == n {
                1.0
            } else if k % 2 == 1 {
                4.0
            } else {
                2.0
            };
            w * f(f64::from(k) * h)
        })
        .sum::<f64>()
        * h
        / 3.0
}

/// Around a Schwarzschild mass the order is how often the orbit crossed the axis: the
/// angle it sweeps (Binet: d phi = du / sqrt(1/b^2 - u^2 + r_s u^3) inside the
/// field's extent, then the straight tail's angle) in half turns, by quadrature,
/// for every escaping pixel of a static observer's view, including the rays that
/// wind round the hole (order 1 and 2) in the region's long clear steps.
#[test]
fn the_order_around_a_black_hole_counts_the_half_turns_of_the_orbit() {
    let text = r#"(
        camera: Some((position: (0.0, 0.0, -40.0), look_at: (0.0, 0.0, 0.0), fov_deg: 40.0)),
        fields: [Schwarzschild(centre: (0.0, 0.0, 0.0), rs: 2.0, extent: 200.0)],
    )"#;
    let (scene, gt) = truth(text, (96, 96), 2);
    let camera = crate::camera::Camera::new(&scene.camera().unwrap(), 96, 96, scene.medium());
    let (rs, extent) = (2.0, 200.0);
    let (mut checked, mut counts) = (0, [0u32; 3]);
    for y in 0..96 {
        for x in 0..96 {
            let px = gt.at(x, y);
            let (o, d) = camera.ray(f64::from(x) + 0.5, f64::from(y) + 0.5);
            let r0 = o.length();
            let e1 = o / r0;
            let radial = d.dot(e1);
            let vt = (d - e1 * radial).length();
            let (u0, w0) = (1.0 / r0, -radial / (r0 * vt));
            let inv_b2 = w0 * w0 + u0 * u0 - rs * u0 * u0 * u0;
            let p = |u: f64| inv_b2 - u * u + rs * u * u * u;
            let ue = 1.0 / extent;
            let peak = 2.0 / (3.0 * rs);
            let phi_region = if w0 <= 0.0 {
                orbit_integral(p, ue, u0)
            } else if p(peak) < 0.0 {
                let (mut lo, mut hi) = (u0, peak);
                for _ in 0..200 {
                    let mid = 0.5 * (lo + hi);
                    if p(mid) > 0.0 { lo = mid } else { hi = mid }
                }
                orbit_integral(p, u0, lo) + orbit_integral(p, ue, lo)
            } else {
                assert_eq!(px.termination, Termination::Captured, "({x}, {y})");
                continue;
            };
            let tail = ue.atan2(p(ue).sqrt());
            let half_turns = (phi_region + tail) / std::f64::consts::PI;
            assert_eq!(px.termination, Termination::Escaped, "({x}, {y})");
            if (half_turns - half_turns.round()).abs() < 1e-3 {
                continue;
            }
            assert_eq!(
                px.order,
                half_turns.floor() as u32,
                "({x}, {y}): {half_turns} half turns"
            );
            counts[(px.order as usize).min(2)] += 1;
            checked += 1;
        }
    }
    eprintln!("{checked} pixels checked, orders 0 / 1 / 2+: {counts:?}");
    assert!(
        checked > 8000 && counts[1] > 50,
        "{checked} checked, orders {counts:?}"
    );
}
