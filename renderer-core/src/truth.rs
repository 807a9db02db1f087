//! Ground truth for data generation, traced through the curved light itself: per
//! pixel, what the camera ray through the pixel's centre meets (instance, triangle,
//! world position, object coordinates, texture coordinates, normal, path length),
//! where it leaves for (the lens map: its final direction and its deflection) and how
//! often it wound about a lens or a mass (its image order).
//!
//! One deterministic ray per pixel, at the pixel's centre, so every plane describes
//! the same point: an instance mask, its boxes and its object coordinates agree
//! exactly, which averaged samples at an object's edge would not (the film's
//! [`depth`](crate::film::Film::depth) and [`normal`](crate::film::Film::normal)
//! are such averages). [`crate::frame::Renderer::ground_truth`] traces it on the
//! renderer's pool, whatever backend renders the image.
//!
//! # Image order
//!
//! For every field with a centre (lenses, blobs, masses: [`FieldKind::centre`]), the
//! angle the ray sweeps about the centre is summed from the camera along its segments
//! (and, for a ray that escapes, on to infinity along its final direction). A ray
//! that never bends sweeps less than half a turn; each time it crosses the axis
//! from the camera through the centre the angle passes another multiple of pi. The
//! order is the largest `floor(angle / pi)` over the centred fields: 0 for a direct
//! (upright) image, 1 for an image seen across the axis (the inverted image behind a
//! Luneburg lens's focus, a black hole's secondary image), 2 and more for rays that
//! wound about a mass (photon rings).
//!
//! [`FieldKind::centre`]: crate::field::FieldKind::centre

use glam::DVec3;

use crate::camera::{Camera, CameraRay};
use crate::integrator::{RayCone, Termination};
use crate::scene::Scene;
use crate::trace::SceneTracer;

/// What the camera ray through one pixel's centre met.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TruthPixel {
    /// Instance hit (`u32::MAX`: none).
    pub instance: u32,
    /// Triangle of the instance's mesh hit (`u32::MAX`: none).
    pub triangle: u32,
    /// World position of the hit (zero without one).
    pub position: DVec3,
    /// The hit in the instance's own (mesh) coordinates, interpolated from the
    /// triangle's vertices (zero without a hit).
    pub objcoords: DVec3,
    /// Texture coordinates at the hit (zero without a hit or where the mesh has none).
    pub uv: [f32; 2],
    /// Unit geometric normal at the hit, world space, facing the ray (zero without).
    pub normal: DVec3,
    /// Path length along the curved ray to the hit (zero without one).
    pub depth: f64,
    /// Unit direction the ray travels at its end: arriving at the hit, or (escaped)
    /// towards the sky it sees; zero for a ray captured by a mass or out of steps.
    pub exit: DVec3,
    /// Angle in radians between the ray's first and final directions (NaN where
    /// `exit` is zero).
    pub deflection: f64,
    /// Image order: see the module's documentation (near a Kerr hole, the
    /// equatorial crossings before the disk or the ray's end).
    pub order: u32,
    /// The frequency ratio g = nu_observed / nu_emitted near a Kerr hole: to the
    /// disk's gas where the ray meets the disk, else to a static emitter at infinity
    /// for a ray that escapes (1 for a camera at rest far away); `None` where the
    /// ray meets neither, or there is no Kerr hole.
    pub redshift: Option<f64>,
    /// How the ray ended.
    pub termination: Termination,
}

impl TruthPixel {
    /// Nothing met: what a hit, or a ray's end, fills in.
    const NONE: Self = Self {
        instance: u32::MAX,
        triangle: u32::MAX,
        position: DVec3::ZERO,
        objcoords: DVec3::ZERO,
        uv: [0.0; 2],
        normal: DVec3::ZERO,
        depth: 0.0,
        exit: DVec3::ZERO,
        deflection: f64::NAN,
        order: 0,
        redshift: None,
        termination: Termination::StepBudget,
    };

    /// Whether the ray hit geometry.
    #[must_use]
    pub fn is_hit(&self) -> bool {
        self.instance != u32::MAX
    }
}

/// The ground truth of a whole image, row by row.
#[derive(Debug, Clone, PartialEq)]
pub struct GroundTruth {
    width: u32,
    height: u32,
    pixels: Vec<TruthPixel>,
}

/// One instance's footprint in an image (through the curved light).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Footprint {
    /// Pixels whose centre ray hits the instance.
    pub pixels: u64,
    /// The smallest box of whole pixels holding them: `[x0, y0, x1, y1]`, pixel
    /// columns `x0..x1` and rows `y0..y1` (exclusive ends).
    pub bbox: [u32; 4],
}

impl GroundTruth {
    /// Width in pixels.
    #[must_use]
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels.
    #[must_use]
    pub fn height(&self) -> u32 {
        self.height
    }

    /// Every pixel, row by row.
    #[must_use]
    pub fn pixels(&self) -> &[TruthPixel] {
        &self.pixels
    }

    /// Pixel (`x`, `y`).
    ///
    /// # Panics
    /// Outside the image.
    #[must_use]
    pub fn at(&self, x: u32, y: u32) -> &TruthPixel {
        assert!(
            x < self.width && y < self.height,
            "pixel ({x}, {y}) is outside the image"
        );
        &self.pixels[(y * self.width + x) as usize]
    }

    /// Each of `instances` instances' footprint (`None`: not visible), by instance
    /// index.
    #[must_use]
    pub fn footprints(&self, instances: usize) -> Vec<Option<Footprint>> {
        let mut out: Vec<Option<Footprint>> = vec![None; instances];
        for (k, p) in self.pixels.iter().enumerate() {
            let Some(slot) = out.get_mut(p.instance as usize) else {
                continue;
            };
            let (x, y) = (k as u32 % self.width, k as u32 / self.width);
            let f = slot.get_or_insert(Footprint {
                pixels: 0,
                bbox: [x, y, x + 1, y + 1],
            });
            f.pixels += 1;
            f.bbox = [
                f.bbox[0].min(x),
                f.bbox[1].min(y),
                f.bbox[2].max(x + 1),
                f.bbox[3].max(y + 1),
            ];
        }
        out
    }
}

/// The angle between `a` and `b` (0 when either is zero).
fn angle(a: DVec3, b: DVec3) -> f64 {
    a.cross(b).length().atan2(a.dot(b))
}

/// Traces the centre ray of every pixel of row `y` of a `camera`'s image.
pub(crate) fn trace_row(
    scene: &Scene,
    tracer: &SceneTracer,
    camera: &Camera,
    width: u32,
    y: u32,
) -> Vec<TruthPixel> {
    let centres = centres(scene);
    let cone = camera.pixel_cone();
    (0..width)
        .map(|x| {
            let ray = camera.photon(f64::from(x) + 0.5, f64::from(y) + 0.5);
            trace_ray(scene, tracer, &centres, &ray, cone)
        })
        .collect()
}

/// The centres of `scene`'s fields that have one (for the image order).
pub(crate) fn centres(scene: &Scene) -> Vec<DVec3> {
    scene
        .medium
        .fields
        .iter()
        .filter_map(|f| f.centre())
        .collect()
}

/// The ground truth of one camera ray (`centres`: see [`centres`]; the ray's
/// energy is the photon energy the camera measures, [`Camera::photon`]).
pub(crate) fn trace_ray(
    scene: &Scene,
    tracer: &SceneTracer,
    centres: &[DVec3],
    ray: &CameraRay,
    cone: RayCone,
) -> TruthPixel {
    let (dir, observed) = (ray.direction, ray.energy);
    let report = tracer.trace_rooted(ray.origin, dir, ray.root, cone, None, !centres.is_empty());
    let end = report.result;
    let exit = match end.termination {
        Termination::Hit | Termination::Escaped => end.direction.normalize_or_zero(),
        _ => DVec3::ZERO,
    };
    let order = centres
        .iter()
        .map(|&c| {
            let swept: f64 = report
                .path
                .windows(2)
                .map(|w| angle(w[0] - c, w[1] - c))
                .sum();
            let tail = if end.termination == Termination::Escaped {
                angle(end.position - c, exit)
            } else {
                0.0
            };
            ((swept + tail) / std::f64::consts::PI).floor() as u32
        })
        .max()
        .unwrap_or(0);
    let mut px = TruthPixel {
        exit,
        deflection: if exit == DVec3::ZERO {
            f64::NAN
        } else {
            angle(dir, exit)
        },
        order,
        termination: end.termination,
        ..TruthPixel::NONE
    };
    if let Some(k) = &end.kerr {
        // Near a Kerr hole the order counts equatorial crossings (primary image,
        // then the photon rings), up to the disk or the ray's end.
        match k.first_disk() {
            Some(c) => {
                px.order = c.order;
                px.redshift = Some(observed / c.energy);
                if report.hit.is_none() || end.termination == Termination::Disk {
                    px.position = c.position;
                }
            }
            None => {
                px.order = k.crossings;
                if end.termination == Termination::Escaped {
                    px.redshift = Some(observed / k.energy);
                }
            }
        }
    }
    if let Some(hit) = report.hit {
        let instance = &scene.instances[hit.instance as usize];
        let mesh = &scene.meshes[instance.mesh];
        let [u, v] = hit.barycentric;
        let [a, b, c] = mesh.indices[hit.triangle as usize]
            .map(|k| glam::Vec3::from(mesh.positions[k as usize]).as_dvec3());
        let (u, v) = (f64::from(u), f64::from(v));
        px.instance = hit.instance;
        px.triangle = hit.triangle;
        px.position = hit.position;
        px.objcoords = a * (1.0 - u - v) + b * u + c * v;
        px.uv = mesh
            .uv_at(hit.triangle, hit.barycentric[0], hit.barycentric[1])
            .unwrap_or([0.0; 2]);
        px.normal = if hit.normal.dot(exit) > 0.0 {
            -hit.normal
        } else {
            hit.normal
        };
        px.depth = report.path_length;
    }
    px
}

/// Assembles rows traced by [`trace_row`]; `None` if one is missing.
pub(crate) fn from_rows(
    width: u32,
    height: u32,
    rows: Vec<Option<Vec<TruthPixel>>>,
) -> Option<GroundTruth> {
    let mut pixels = Vec::with_capacity(width as usize * height as usize);
    for row in rows {
        pixels.extend(row?);
    }
    Some(GroundTruth {
        width,
        height,
        pixels,
    })
}

#[cfg(test)]
mod tests;
