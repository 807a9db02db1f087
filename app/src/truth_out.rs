//! Ground-truth outputs of `grin render` and `grin batch`: the AOVs traced at pixel
//! centres through the curved light ([`renderer_core::truth`]), the per-frame
//! metadata JSON (camera, fields, per instance its boxes and visible pixels as seen
//! through the lens, and its mask as COCO run-length encoding) and the COCO export
//! assembled from a batch's metadata files.

use std::collections::BTreeMap;

use glam::DVec3;
use renderer_core::flow::{Flow, FlowStatus};
use renderer_core::frame::Snapshot;
use renderer_core::integrator::Termination;
use renderer_core::truth::GroundTruth;
use serde_json::{Value, json};

use crate::render_cmd::Aov;

/// An AOV traced at pixel centres, as linear float RGB (EXR).
pub(crate) fn float_pixels(truth: &GroundTruth, aov: Aov) -> Vec<[f32; 3]> {
    let v3 = |v: DVec3| v.as_vec3().to_array();
    truth
        .pixels()
        .iter()
        .map(|p| match aov {
            Aov::Objcoords => v3(p.objcoords),
            Aov::Uv => [p.uv[0], p.uv[1], 0.0],
            Aov::Position => v3(p.position),
            Aov::Exit => v3(p.exit),
            Aov::Deflection => [p.deflection as f32; 3],
            Aov::Order => [p.order as f32; 3],
            Aov::Redshift => [p.redshift.map_or(f32::NAN, |g| g as f32); 3],
            Aov::Instance if p.is_hit() => [p.instance as f32; 3],
            Aov::Instance => [-1.0; 3],
            // The film's AOVs are not traced here.
            _ => [0.0; 3],
        })
        .collect()
}

/// An AOV traced at pixel centres as a 16-bit PNG: RGB for vectors (each channel
/// scaled from the range the note states), grey for scalars; the note says how.
pub(crate) fn png16(truth: &GroundTruth, aov: Aov) -> (image::DynamicImage, String) {
    let (w, h) = (truth.width(), truth.height());
    let px = float_pixels(truth, aov);
    let q = |v: f32, lo: f32, hi: f32| {
        let t = if hi > lo { (v - lo) / (hi - lo) } else { 0.0 };
        (t.clamp(0.0, 1.0) * 65535.0).round() as u16
    };
    let hits = || truth.pixels().iter().zip(&px).filter(|(p, _)| p.is_hit());
    let (lo, hi, note) = match aov {
        Aov::Objcoords | Aov::Position => {
            let mut lo = [f32::MAX; 3];
            let mut hi = [f32::MIN; 3];
            for (_, v) in hits() {
                for c in 0..3 {
                    lo[c] = lo[c].min(v[c]);
                    hi[c] = hi[c].max(v[c]);
                }
            }
            if lo[0] > hi[0] {
                (lo, hi) = ([0.0; 3], [1.0; 3]);
            }
            let note = format!("16-bit RGB, 0..65535 = {lo:?}..{hi:?} per channel");
            (lo, hi, note)
        }
        Aov::Uv => (
            [0.0; 3],
            [1.0; 3],
            "16-bit RGB, (u, v, 0) clamped to 0..1".to_owned(),
        ),
        Aov::Exit => ([-1.0; 3], [1.0; 3], "16-bit RGB, (d + 1) / 2".to_owned()),
        Aov::Deflection => {
            let pi = std::f32::consts::PI;
            (
                [0.0; 3],
                [pi; 3],
                "16-bit, 65535 = pi radians (0 where undefined)".to_owned(),
            )
        }
        Aov::Redshift => (
            [0.0; 3],
            [2.0; 3],
            "16-bit, 0..65535 = g 0..2 (0 where undefined)".to_owned(),
        ),
        Aov::Instance => (
            [-1.0; 3],
            [65534.0; 3],
            "16-bit, id + 1 (0: no hit)".to_owned(),
        ),
        _ => (
            [0.0; 3],
            [65535.0; 3],
            "16-bit, the order itself".to_owned(),
        ),
    };
    let grey = matches!(
        aov,
        Aov::Deflection | Aov::Order | Aov::Instance | Aov::Redshift
    );
    let img = if grey {
        let data = px
            .iter()
            .map(|v| {
                if v[0].is_nan() {
                    0
                } else {
                    q(v[0], lo[0], hi[0])
                }
            })
            .collect();
        image::DynamicImage::ImageLuma16(
            image::ImageBuffer::from_raw(w, h, data).expect("the truth's size matches its pixels"),
        )
    } else {
        let data = px
            .iter()
            .flat_map(|v| [0, 1, 2].map(|c| q(v[c], lo[c], hi[c])))
            .collect();
        image::DynamicImage::ImageRgb16(
            image::ImageBuffer::from_raw(w, h, data).expect("the truth's size matches its pixels"),
        )
    };
    (img, note)
}

/// Flow as float RGB (EXR): R = x (right), G = y (down), in pixels from the
/// pixel's centre, B = status ([`FlowStatus::code`]: 1 valid, 0 no surface, -1 not
/// found, -2 left the image, -3 image order changed).
pub(crate) fn flow_exr(flow: &Flow) -> image::DynamicImage {
    let data = flow
        .vectors()
        .iter()
        .zip(flow.status())
        .flat_map(|(v, s)| [v.x as f32, v.y as f32, s.code()])
        .collect();
    image::DynamicImage::ImageRgb32F(
        image::Rgb32FImage::from_raw(flow.width(), flow.height(), data)
            .expect("the flow's size matches its pixels"),
    )
}

/// Flow colour-coded for viewing: hue the direction (red right, then green, cyan
/// left, blue, magenta), saturation the length relative to the longest valid vector,
/// black where not valid.
pub(crate) fn flow_colours(flow: &Flow) -> image::DynamicImage {
    let valid = |s: &FlowStatus| *s == FlowStatus::Valid;
    let longest = flow
        .vectors()
        .iter()
        .zip(flow.status())
        .filter(|(_, s)| valid(s))
        .map(|(v, _)| v.length())
        .fold(1e-9, f64::max);
    let data = flow
        .vectors()
        .iter()
        .zip(flow.status())
        .flat_map(|(v, s)| {
            if !valid(s) {
                return [0u8; 3];
            }
            let hue = (v.y.atan2(v.x).to_degrees() + 360.0) % 360.0 / 60.0;
            let sat = (v.length() / longest).min(1.0);
            let x = 1.0 - (hue % 2.0 - 1.0).abs();
            let (r, g, b) = match hue as u32 {
                0 => (1.0, x, 0.0),
                1 => (x, 1.0, 0.0),
                2 => (0.0, 1.0, x),
                3 => (0.0, x, 1.0),
                4 => (x, 0.0, 1.0),
                _ => (1.0, 0.0, x),
            };
            // White at rest, the full hue at the longest vector.
            [r, g, b].map(|c| ((1.0 - sat + sat * c) * 255.0).round() as u8)
        })
        .collect();
    image::DynamicImage::ImageRgb8(
        image::RgbImage::from_raw(flow.width(), flow.height(), data)
            .expect("the flow's size matches its pixels"),
    )
}

/// Instance `id`'s mask as COCO's uncompressed run-length encoding: alternating
/// runs of 0 and 1 (starting with 0), pixels taken column by column.
pub(crate) fn mask_rle(truth: &GroundTruth, id: u32) -> Vec<u64> {
    let (w, h) = (truth.width(), truth.height());
    let mut counts = Vec::new();
    let (mut current, mut run) = (false, 0u64);
    for x in 0..w {
        for y in 0..h {
            let on = truth.at(x, y).instance == id;
            if on != current {
                counts.push(run);
                (current, run) = (on, 0);
            }
            run += 1;
        }
    }
    counts.push(run);
    counts
}

fn v(v: DVec3) -> [f64; 3] {
    v.to_array()
}

/// The frame's metadata: image, camera (intrinsics and extrinsics, OpenCV axes),
/// the fields bending the light, per instance its footprint as seen through them
/// (visible pixels, 2-D box, mask) and its 3-D box in world and camera coordinates,
/// and how the camera rays ended.
pub(crate) fn metadata(
    snapshot: &Snapshot,
    truth: &GroundTruth,
    image: &str,
    frame: Option<u32>,
) -> Value {
    let scene = snapshot.scene();
    let camera = snapshot.camera();
    let (w, h) = camera.size();
    let f = camera.focal_pixels();
    let (cx, cy) = (f64::from(w) / 2.0, f64::from(h) / 2.0);
    let [right, up, forward] = camera.basis();
    let eye = camera.position();
    let down = -up;
    let to_camera = |p: DVec3| {
        let d = p - eye;
        [d.dot(right), d.dot(down), d.dot(forward)]
    };
    let camera_to_world = [
        [right.x, down.x, forward.x, eye.x],
        [right.y, down.y, forward.y, eye.y],
        [right.z, down.z, forward.z, eye.z],
        [0.0, 0.0, 0.0, 1.0],
    ];
    let world_to_camera = [
        [right.x, right.y, right.z, -right.dot(eye)],
        [down.x, down.y, down.z, -down.dot(eye)],
        [forward.x, forward.y, forward.z, -forward.dot(eye)],
        [0.0, 0.0, 0.0, 1.0],
    ];
    let footprints = truth.footprints(scene.instances().len());
    let instances: Vec<Value> = scene
        .instances()
        .iter()
        .zip(&footprints)
        .enumerate()
        .map(|(id, (inst, fp))| {
            let mesh = &scene.meshes()[inst.mesh];
            let (mut lo, mut hi) = (DVec3::splat(f64::MAX), DVec3::splat(f64::MIN));
            for p in &mesh.positions {
                let q = glam::Vec3::from(*p).as_dvec3();
                (lo, hi) = (lo.min(q), hi.max(q));
            }
            let to_world = |p: DVec3| inst.transform.transform_point3(p.as_vec3()).as_dvec3();
            let corners: Vec<DVec3> = (0..8)
                .map(|k| {
                    to_world(DVec3::new(
                        if k & 1 == 0 { lo.x } else { hi.x },
                        if k & 2 == 0 { lo.y } else { hi.y },
                        if k & 4 == 0 { lo.z } else { hi.z },
                    ))
                })
                .collect();
            let (wlo, whi) = corners.iter().fold(
                (DVec3::splat(f64::MAX), DVec3::splat(f64::MIN)),
                |(a, b), &c| (a.min(c), b.max(c)),
            );
            json!({
                "id": id,
                "name": inst.name,
                "category": inst.category,
                "visible_pixels": fp.map_or(0, |f| f.pixels),
                "bbox_2d": fp.map(|f| [f.bbox[0], f.bbox[1], f.bbox[2] - f.bbox[0], f.bbox[3] - f.bbox[1]]),
                "mask_rle": fp.map(|_| json!({"size": [h, w], "counts": mask_rle(truth, id as u32)})),
                "bbox_3d": {
                    "object_min": v(lo),
                    "object_max": v(hi),
                    "world_min": v(wlo),
                    "world_max": v(whi),
                    "corners_world": corners.iter().map(|&c| v(c)).collect::<Vec<_>>(),
                    "corners_camera": corners.iter().map(|&c| to_camera(c)).collect::<Vec<_>>(),
                },
            })
        })
        .collect();
    let mut ends: BTreeMap<&str, u64> = BTreeMap::new();
    for p in truth.pixels() {
        let k = match p.termination {
            Termination::Hit => "hit",
            Termination::Escaped => "escaped",
            Termination::Captured => "captured",
            Termination::StepBudget => "step_budget",
            Termination::Stopped => "stopped",
            _ => "other",
        };
        *ends.entry(k).or_default() += 1;
    }
    let medium = scene.medium();
    json!({
        "image": image,
        "frame": frame,
        "time": frame.map(f64::from),
        "width": w,
        "height": h,
        "spp": snapshot.settings().spp,
        "seed": snapshot.settings().seed,
        "camera": {
            "position": v(eye),
            "right": v(right),
            "up": v(up),
            "forward": v(forward),
            "fov_deg_vertical": 2.0 * (f64::from(h) / 2.0 / f).atan().to_degrees(),
            "K": [[f, 0.0, cx], [0.0, f, cy], [0.0, 0.0, 1.0]],
            "pixel_convention": "x right, y down; pixel (i, j) has its centre at (i + 0.5, j + 0.5) (OpenCV's cx, cy are these minus 0.5)",
            "axes": "camera coordinates: x right, y down, z forward (OpenCV)",
            "camera_to_world": camera_to_world,
            "world_to_camera": world_to_camera,
            "static_observer": camera.is_static_observer(),
        },
        "medium": {
            "background_index": medium.background,
            "fields": medium.fields,
            "curved": !medium.fields.is_empty(),
            "note": "the camera rays bend in these fields: 2-D boxes, masks and visible pixels are as seen through them; K maps directions at the camera",
        },
        "instances": instances,
        "camera_rays": ends,
    })
}

/// COCO from frames' metadata (`file_name` as given beside each): images,
/// categories (each instance's `category`, numbered from 1 in name order) and an
/// annotation per visible instance per image (uncompressed RLE mask, box, area).
pub(crate) fn coco(frames: &[(String, Value)]) -> Value {
    let mut names: Vec<String> = frames
        .iter()
        .flat_map(|(_, m)| m["instances"].as_array().cloned().unwrap_or_default())
        .filter_map(|i| i["category"].as_str().map(str::to_owned))
        .collect();
    names.sort();
    names.dedup();
    let category = |n: &str| names.iter().position(|c| c == n).map_or(0, |k| k + 1);
    let mut images = Vec::new();
    let mut annotations = Vec::new();
    for (k, (file, m)) in frames.iter().enumerate() {
        let image_id = k + 1;
        images.push(json!({
            "id": image_id,
            "file_name": file,
            "width": m["width"],
            "height": m["height"],
            "frame": m["frame"],
        }));
        for inst in m["instances"].as_array().into_iter().flatten() {
            let area = inst["visible_pixels"].as_u64().unwrap_or(0);
            if area == 0 {
                continue;
            }
            annotations.push(json!({
                "id": annotations.len() + 1,
                "image_id": image_id,
                "category_id": category(inst["category"].as_str().unwrap_or("")),
                "instance_id": inst["id"],
                "segmentation": inst["mask_rle"],
                "area": area,
                "bbox": inst["bbox_2d"],
                "iscrowd": 0,
            }));
        }
    }
    json!({
        "info": {"description": "grin batch ground truth (masks and boxes as seen through the curved light)"},
        "images": images,
        "categories": names.iter().enumerate().map(|(k, n)| json!({"id": k + 1, "name": n})).collect::<Vec<_>>(),
        "annotations": annotations,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The run-length encoding decodes to the instance plane, column by column.
    #[test]
    fn the_mask_encoding_decodes_to_the_instance_plane() {
        use std::sync::Arc;
        let scene = renderer_core::scene::Scene::from_str(
            r#"(
                camera: Some((position: (0.0, 0.0, -4.0), look_at: (0.0, 0.0, 0.0), fov_deg: 40.0)),
                meshes: [(name: "ball", source: Sphere(radius: 1.0))],
                instances: [(mesh: "ball", translate: (0.4, 0.2, 0.0))],
            )"#,
            "t.ron".as_ref(),
        )
        .unwrap();
        let settings = renderer_core::frame::RenderSettings {
            width: 23,
            height: 17,
            spp: 1,
            ..Default::default()
        };
        let snapshot = Snapshot::new(Arc::new(scene), settings).unwrap();
        let pool = Arc::new(scheduler::Pool::new(scheduler::PoolConfig::with_threads(1)).unwrap());
        let truth = renderer_core::frame::Renderer::new(pool)
            .ground_truth(&snapshot)
            .unwrap();
        let counts = mask_rle(&truth, 0);
        assert_eq!(counts.iter().sum::<u64>(), 23 * 17);
        let mut decoded = Vec::new();
        for (k, &n) in counts.iter().enumerate() {
            decoded.extend(std::iter::repeat_n(k % 2 == 1, n as usize));
        }
        for x in 0..23 {
            for y in 0..17 {
                assert_eq!(decoded[(x * 17 + y) as usize], truth.at(x, y).instance == 0);
            }
        }
        let meta = metadata(&snapshot, &truth, "a.png", Some(3));
        let ball = &meta["instances"][0];
        let fp = truth.footprints(1)[0].unwrap();
        assert_eq!(ball["visible_pixels"], fp.pixels);
        assert_eq!(
            ball["bbox_2d"],
            json!([
                fp.bbox[0],
                fp.bbox[1],
                fp.bbox[2] - fp.bbox[0],
                fp.bbox[3] - fp.bbox[1]
            ])
        );
        let c = coco(&[("a.png".into(), meta)]);
        assert_eq!(c["annotations"][0]["area"], fp.pixels);
        assert_eq!(c["categories"][0]["name"], "ball");
    }
}
