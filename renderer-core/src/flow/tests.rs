use std::sync::Arc;

use glam::{DVec2, DVec3};
use scheduler::{Pool, PoolConfig};

use super::*;
use crate::frame::{RenderSettings, Renderer, Snapshot};

fn snapshot(text: &str, size: (u32, u32)) -> Snapshot {
    let scene = Arc::new(Scene::from_str(text, "flow.ron".as_ref()).unwrap());
    let settings = RenderSettings {
        width: size.0,
        height: size.1,
        spp: 1,
        ..RenderSettings::default()
    };
    Snapshot::new(scene, settings).unwrap()
}

fn renderer() -> Renderer {
    Renderer::new(Arc::new(Pool::new(PoolConfig::with_threads(2)).unwrap()))
}

fn scene(camera: &str, fields: &str, wall_at: DVec3) -> String {
    format!(
        r#"(
            camera: Some({camera}),
            meshes: [
                (name: "wall", source: Box(min: (3.0, -5.0, -5.0), max: (3.2, 5.0, 5.0))),
                (name: "ball", source: Sphere(radius: 0.5)),
                (name: "cube", source: Box(min: (-0.4, -0.4, -0.4), max: (0.4, 0.4, 0.4))),
            ],
            instances: [
                (mesh: "wall", translate: ({}, {}, {})),
                (mesh: "ball", translate: (2.0, -1.2, 0.3)),
                (mesh: "cube", translate: (1.5, 1.0, -1.2), rotate_deg: (20.0, 30.0, 0.0)),
            ],
            fields: [{fields}],
        )"#,
        wall_at.x, wall_at.y, wall_at.z
    )
}

/// The fraction of `errors` at most `limit` (the median, 99th percentile and
/// largest are printed for the record).
fn share_within(errors: &[f64], limit: f64) -> f64 {
    let mut sorted = errors.to_vec();
    sorted.sort_by(f64::total_cmp);
    let at = |q: f64| {
        sorted
            .get(((sorted.len() as f64 - 1.0) * q) as usize)
            .copied()
    };
    eprintln!(
        "{} valid pixels, error median {:?} px, 99th percentile {:?}, largest {:?}",
        sorted.len(),
        at(0.5),
        at(0.99),
        sorted.last()
    );
    errors.iter().filter(|&&e| e <= limit).count() as f64 / errors.len().max(1) as f64
}

/// In a uniform medium the flow of a moving camera is the reprojection of each
/// pixel's hit point (depth, pose and intrinsics): within 0.01 px in 99% of the valid
/// pixels.
#[test]
fn flow_of_a_moving_camera_is_the_reprojection_of_depth() {
    let a = snapshot(
        &scene(
            "(position: (-6.0, 0.3, 0.2), look_at: (0.0, 0.0, 0.0), fov_deg: 40.0)",
            "",
            DVec3::ZERO,
        ),
        (96, 72),
    );
    let b = snapshot(
        &scene(
            "(position: (-5.9, 0.38, 0.05), look_at: (0.1, 0.05, 0.0), fov_deg: 40.0)",
            "",
            DVec3::ZERO,
        ),
        (96, 72),
    );
    let mut r = renderer();
    let truth = r.ground_truth(&a).unwrap();
    let (flow, _) = r.flow(&truth, &b, DEFAULT_WINDOW).unwrap();
    let cam = b.camera();
    let [right, up, forward] = cam.basis();
    let f = cam.focal_pixels();
    let (w, h) = cam.size();
    let (mut errors, mut hits) = (Vec::new(), 0);
    for y in 0..72 {
        for x in 0..96 {
            let p = truth.at(x, y);
            if !p.is_hit() {
                assert_eq!(flow.at(x, y).1, FlowStatus::NoSurface);
                continue;
            }
            hits += 1;
            let (v, status) = flow.at(x, y);
            if status != FlowStatus::Valid {
                continue;
            }
            let c = p.position - cam.position();
            let z = c.dot(forward);
            let q = DVec2::new(
                f64::from(w) / 2.0 + f * c.dot(right) / z,
                f64::from(h) / 2.0 - f * c.dot(up) / z,
            );
            let expected = q - DVec2::new(f64::from(x) + 0.5, f64::from(y) + 0.5);
            errors.push((v - expected).length());
        }
    }
    let valid = errors.len();
    assert!(
        valid as f64 > 0.9 * f64::from(hits),
        "{valid} of {hits} hit pixels valid"
    );
    let within = share_within(&errors, 0.01);
    assert!(within >= 0.99, "{:.2}% within 0.01 px", 100.0 * within);
}

/// Through a Luneburg lens, the flow of a wall translating by `delta` is the finite
/// difference of the traced hit points across pixels (the lens map's Jacobian)
/// applied to `delta`: within 0.05 px in 99% of the valid pixels; rays through the
/// lens see the wall in order 1 and keep it.
#[test]
fn flow_of_a_wall_seen_through_a_luneburg_lens_follows_the_lens_map() {
    let camera = "(position: (-6.0, 0.0, 0.0), look_at: (0.0, 0.0, 0.0), fov_deg: 35.0)";
    let lens = "Luneburg(centre: (0.0, 0.0, 0.0), radius: 1.0)";
    let delta = DVec3::new(0.0, 0.012, -0.008);
    let size = (128, 96);
    let a = snapshot(&scene(camera, lens, DVec3::ZERO), size);
    let b = snapshot(&scene(camera, lens, delta), size);
    let mut r = renderer();
    let truth = r.ground_truth(&a).unwrap();
    let (flow, _) = r.flow(&truth, &b, DEFAULT_WINDOW).unwrap();
    let (mut errors, mut through, mut counts) = (Vec::new(), 0, [0usize; 5]);
    for y in 1..size.1 - 1 {
        for x in 1..size.0 - 1 {
            let p = truth.at(x, y);
            let (v, status) = flow.at(x, y);
            counts[match status {
                FlowStatus::Valid => 0,
                FlowStatus::NoSurface => 1,
                FlowStatus::NotFound => 2,
                FlowStatus::LeftImage => 3,
                _ => 4,
            }] += 1;
            if p.instance != 0 || status != FlowStatus::Valid {
                continue;
            }
            // The lens map's Jacobian: central differences of the wall points the
            // neighbouring pixels see (all on the wall, in the same order).
            let n = [
                truth.at(x + 1, y),
                truth.at(x - 1, y),
                truth.at(x, y + 1),
                truth.at(x, y - 1),
            ];
            if n.iter().any(|q| q.instance != 0 || q.order != p.order) {
                continue;
            }
            let dx = (n[0].position - n[1].position) / 2.0;
            let dy = (n[2].position - n[3].position) / 2.0;
            // On the wall (x = 3): solve [dx dy] (u, v) = delta in (y, z).
            let det = dx.y * dy.z - dx.z * dy.y;
            let u = (delta.y * dy.z - delta.z * dy.y) / det;
            let w = (dx.y * delta.z - dx.z * delta.y) / det;
            errors.push((v - DVec2::new(u, w)).length());
            if p.order == 1 {
                through += 1;
            }
        }
    }
    eprintln!("statuses (valid, no surface, not found, left, order changed): {counts:?}");
    assert!(through > 300, "{through} valid pixels through the lens");
    let within = share_within(&errors, 0.05);
    assert!(within >= 0.99, "{:.2}% within 0.05 px", 100.0 * within);
}

/// A lens put in front of the wall: the wall points behind it are seen in the next
/// frame only through the lens, inverted (order 1): their flow is marked, never
/// valid; points far from the lens keep still (zero flow).
#[test]
fn points_seen_only_in_another_image_order_are_marked() {
    let camera = "(position: (-6.0, 0.0, 0.0), look_at: (0.0, 0.0, 0.0), fov_deg: 35.0)";
    let size = (96, 72);
    let a = snapshot(&scene(camera, "", DVec3::ZERO), size);
    let b = snapshot(
        &scene(
            camera,
            "Luneburg(centre: (0.0, 0.0, 0.0), radius: 1.0)",
            DVec3::ZERO,
        ),
        size,
    );
    let mut r = renderer();
    let truth = r.ground_truth(&a).unwrap();
    let (flow, _tb) = r.flow(&truth, &b, DEFAULT_WINDOW).unwrap();
    let cam = a.camera();
    let (mut changed, mut still) = (0, 0);
    for y in 0..size.1 {
        for x in 0..size.0 {
            let (o, d) = cam.ray(f64::from(x) + 0.5, f64::from(y) + 0.5);
            let impact = o.cross(d).length();
            let (v, status) = flow.at(x, y);
            if impact < 0.9 && truth.at(x, y).instance == 0 {
                assert_ne!(status, FlowStatus::Valid, "({x}, {y}) is behind the lens");
                changed += usize::from(status == FlowStatus::OrderChanged);
            } else if impact > 1.3 && truth.at(x, y).is_hit() {
                assert_eq!(
                    status,
                    FlowStatus::Valid,
                    "({x}, {y}): {:?} / {:?}",
                    truth.at(x, y),
                    _tb.at(x, y)
                );
                assert!(v.length() < 0.01, "({x}, {y}): {v}");
                still += 1;
            }
        }
    }
    eprintln!("{changed} marked order-changed, {still} still");
    assert!(
        changed > 100 && still > 1000,
        "{changed} marked order-changed, {still} still"
    );
}
