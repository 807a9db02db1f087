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
