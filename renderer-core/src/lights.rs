//! Lights and next-event estimation: point and directional lights, and emissive
//! geometry sampled by area and power. Shadow rays are curved: they go through the
//! same integrator and soft gate as camera rays.
//!
//! An emitter sample aims its shadow ray along the straight line to the sampled point
//! and counts only if the (possibly curved) ray lands on that emitter; its density is
//! the straight-line one. This is exact in a uniform medium; in a field it is an
//! approximation that multiple importance sampling with the diffuse bounce (which
//! finds emitters along curved paths by itself) keeps small.

use glam::DVec3;

use crate::field::Medium;
use crate::integrator::{RayCone, StopSurface, Termination};
use crate::material::{Material, Surface};
use crate::scene::Environment;
use crate::scene::{Light, Scene};
use crate::shade::{Rgb, cosine_direction, emitted, environment, luminance};
use crate::trace::Tracing;

/// Counts of the rays a sample traced, for telemetry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct TraceStats {
    /// Rays traced (camera, bounce and shadow).
    pub(crate) rays: u64,
    /// Segments the integrator emitted for them.
    pub(crate) segments: u64,
    /// Soft-gate subdivisions made.
    pub(crate) subdivisions: u64,
    /// Rays answered from a [`crate::trace::RayMemo`] instead of traced.
    pub(crate) remembered: u64,
}

impl TraceStats {
    /// Adds one traced ray.
    pub(crate) fn add(&mut self, r: &crate::trace::RayReport) {
        self.rays += 1;
        self.segments += u64::from(r.result.segments);
        self.subdivisions += u64::from(r.result.subdivisions);
    }
}

#[derive(Debug, Clone, Copy)]
struct EmitterTriangle {
    instance: u32,
    a: DVec3,
    e1: DVec3,
    e2: DVec3,
    normal: DVec3,
}

/// The scene's emissive triangles in world space, chosen in proportion to area times
/// emitted luminance.
#[derive(Debug, Clone, Default)]
pub(crate) struct Emitters {
    triangles: Vec<EmitterTriangle>,
    cdf: Vec<f64>,
    /// Density per unit area of sampling a point of each instance (0: not an
    /// emitter).
    area_pdf: Vec<f64>,
}

/// A point sampled on an emitter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct EmitterSample {
    /// World position.
    pub(crate) point: DVec3,
    /// Unit normal of its triangle.
    pub(crate) normal: DVec3,
    /// Its instance.
    pub(crate) instance: u32,
    /// Density of this point per unit area.
    pub(crate) area_pdf: f64,
}

impl Emitters {
    /// Collects the emissive instances' triangles of `scene`.
    #[must_use]
    pub(crate) fn new(scene: &Scene) -> Self {
        let mut out = Self {
            area_pdf: vec![0.0; scene.instances.len()],
            ..Self::default()
        };
        let mut total = 0.0;
        let mut weights = Vec::new();
        for (k, inst) in scene.instances.iter().enumerate() {
            let (mesh, transform) = (inst.mesh, inst.transform);
            let power = luminance(emitted(&inst.material));
            if power <= 0.0 {
                continue;
            }
            let mesh = &scene.meshes[mesh];
            for tri in &mesh.indices {
                let [a, b, c] = tri.map(|i| {
                    transform
                        .transform_point3(glam::Vec3::from(mesh.positions[i as usize]))
                        .as_dvec3()
                });
                let (e1, e2) = (b - a, c - a);
                let cross = e1.cross(e2);
                let area = 0.5 * cross.length();
                if area <= 0.0 {
                    continue;
                }
                total += area * power;
                weights.push(total);
                out.triangles.push(EmitterTriangle {
                    instance: k as u32,
                    a,
                    e1,
                    e2,
                    normal: cross / (2.0 * area),
                });
            }
        }
        if total > 0.0 {
            out.cdf = weights.into_iter().map(|w| w / total).collect();
            for (k, pdf) in out.area_pdf.iter_mut().enumerate() {
                *pdf = luminance(emitted(&scene.instances[k].material)) / total;
            }
        }
        out
    }

    /// Each emissive triangle: instance, vertex, edges, unit normal and the
    /// cumulative distribution up to it (for the GPU backend).
    pub(crate) fn records(&self) -> impl Iterator<Item = (u32, [DVec3; 4], f64)> + '_ {
        self.triangles
            .iter()
            .zip(&self.cdf)
            .map(|(t, &c)| (t.instance, [t.a, t.e1, t.e2, t.normal], c))
    }

    /// Density per unit area of sampling a given point of `instance`.
    #[must_use]
    pub(crate) fn area_pdf(&self, instance: u32) -> f64 {
        self.area_pdf.get(instance as usize).copied().unwrap_or(0.0)
    }

    /// A point from three uniform numbers in [0, 1).
    #[must_use]
    pub(crate) fn sample(&self, u0: f64, u1: f64, u2: f64) -> Option<EmitterSample> {
        let k = self
            .cdf
            .partition_point(|&c| c <= u0)
            .min(self.triangles.len().checked_sub(1)?);
        let t = &self.triangles[k];
        // Uniform on the triangle (square-root warp).
        let s = u1.sqrt();
        let (b1, b2) = (s * (1.0 - u2), s * u2);
        Some(EmitterSample {
            point: t.a + t.e1 * b1 + t.e2 * b2,
            normal: t.normal,
            instance: t.instance,
            area_pdf: self.area_pdf(t.instance),
        })
    }
}

/// How far rays leave a surface along its normal, relative to `1 + |p|` (f32
/// rounding of positions scales with their size); the shaders' `SURFACE_OFFSET`.
pub(crate) const SURFACE_OFFSET: f64 = 1e-4;

/// The radius of the sphere that ends a point light's shadow ray, relative to
/// `1 + distance`; the shaders' `POINT_LIGHT_STOP`.
pub(crate) const POINT_LIGHT_STOP: f64 = 1e-6;

/// The smallest squared distance to a point light (a point on the light itself);
/// the shaders' `MIN_DISTANCE2`.
pub(crate) const MIN_DISTANCE2: f64 = 1e-12;

/// An emitter sample seen more edge-on than this cosine is skipped; the shaders'
/// `EMITTER_MIN_COSINE`.
pub(crate) const EMITTER_MIN_COSINE: f64 = 1e-9;

/// The smallest emitter cosine in the MIS weight of a bounce that hits an emitter;
/// the shaders' `MIS_MIN_COSINE`.
pub(crate) const MIS_MIN_COSINE: f64 = 1e-12;

/// Power heuristic weight of a sample drawn with density `a` against `b`.
#[must_use]
pub(crate) fn power_heuristic(a: f64, b: f64) -> f64 {
    let (a2, b2) = (a * a, b * b);
    if a2 + b2 == 0.0 { 0.0 } else { a2 / (a2 + b2) }
}

/// Whether a shadow ray that ended this way brought its light: it left every field
/// towards a light at infinity, or crossed a point light's stop surface. A ray
/// that hit something, fell into a horizon or was still circling when its step
/// budget ran out (a fish-eye's trapped orbits) never reached the light.
pub(crate) fn reaches_light(t: Termination) -> bool {
    matches!(t, Termination::Escaped | Termination::Stopped)
}

/// Where direct light is gathered: a diffuse point facing the viewer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ShadingPoint {
    /// Position on the surface.
    pub(crate) position: DVec3,
    /// Unit normal on the viewer's side.
    pub(crate) normal: DVec3,
    /// Diffuse albedo.
    pub(crate) albedo: Rgb,
    /// Refractive index of the medium at the point.
    pub(crate) index: f64,
    /// The beam of the ray that found the point, there: the rays leaving it are
    /// traced for it.
    pub(crate) cone: RayCone,
}

impl ShadingPoint {
    /// The start of rays leaving the surface (offset along the normal so they do
    /// not hit it again).
    #[must_use]
    pub(crate) fn origin(&self) -> DVec3 {
        self.position + self.normal * SURFACE_OFFSET * (1.0 + self.position.length())
    }
}

/// Radiance reflected towards the viewer by direct light: from point and directional
/// lights (all of them), from one sample of the emissive geometry (`u[0..3]`), with
/// its multiple-importance weight against the diffuse bounce when `mis` (a bounce ray
/// will also look for emitters) or else with full weight, and from the environment
/// through one cosine-distributed ray (`u[3..5]`; the path tracer then leaves out the
/// environment seen by diffuse bounce rays, so it is counted once).
/// Radiance is carried as L / n^2, so light arriving from where the index differs is
/// scaled by (n_here / n_there)^2.
pub(crate) fn direct(
    scene: &Scene,
    tracer: Tracing<'_>,
    emitters: &Emitters,
    at: &ShadingPoint,
    u: [f64; 5],
    mis: bool,
    stats: &mut TraceStats,
) -> Rgb {
    let mut out = [0.0; 3];
    let origin = at.origin();
    let medium = tracer.integrator().medium();
    let n = at.normal;
    for light in &scene.lights {
        let Some(l) = light_sample(light, origin, n, at.index, medium) else {
            continue;
        };
        let shadow = tracer.trace_shadow(origin, l.direction, at.cone, l.stop, stats);
        if !reaches_light(shadow.result.termination) {
            continue;
        }
        for ((o, a), v) in out.iter_mut().zip(at.albedo).zip(l.value) {
            *o += a * v;
        }
    }
    if !environment_is_black(&scene.environment) {
        let dir = cosine_direction(n, u[3], u[4]);
        let ray = tracer.trace_shadow(origin, dir, at.cone, None, stats);
        if ray.result.termination == Termination::Escaped {
            // The cosine density cancels the Lambertian cos / pi.
            let env = environment(&scene.environment, ray.result.direction);
            let scale = index_ratio2(at.index, medium.background);
            for c in 0..3 {
                out[c] += at.albedo[c] * env[c] * scale;
            }
        }
    }
    if let Some(e) = emitters.sample(u[0], u[1], u[2]) {
        if let Some(r) = emitter_ray(&e, origin, n) {
            let shadow = tracer.trace_cone(origin, r.direction, at.cone, None, stats);
            if let Some(hit) = shadow.hit.filter(|h| h.instance == e.instance) {
                let le = emitted(&scene.instances[hit.instance as usize].material);
                let ratio2 = index_ratio2(at.index, medium.index(hit.position).0);
                let scale = emitter_scale(r.pdf_light, r.cos_x, mis, ratio2);
                for c in 0..3 {
                    out[c] += at.albedo[c] * le[c] * scale;
                }
            }
        }
    }
    out
}

/// Direct light reflected by a glossy lobe at `at` towards `wo` (unit, away from the
/// surface): point and directional lights evaluated through the lobe, and one emitter
/// sample (`u[0..3]`) with its multiple-importance weight against the lobe's own
/// sampling when `mis` (a bounce ray will also look for emitters). The environment is
/// not gathered here: the glossy bounce ray counts it when it escapes.
#[allow(clippy::too_many_arguments)]
pub(crate) fn direct_glossy(
    scene: &Scene,
    tracer: Tracing<'_>,
    emitters: &Emitters,
    material: &Material,
    at: &Surface,
    wo: DVec3,
    cone: RayCone,
    u: [f64; 3],
    mis: bool,
    stats: &mut TraceStats,
) -> Rgb {
    let mut out = [0.0; 3];
    let origin = at.position + at.normal * SURFACE_OFFSET * (1.0 + at.position.length());
    let medium = tracer.integrator().medium();
    let n = at.normal;
    for light in &scene.lights {
        let Some(l) = light_sample(light, origin, n, at.index, medium) else {
            continue;
        };
        let f = material.glossy_eval(at, wo, l.direction);
        if f.iter().all(|&v| v == 0.0) {
            continue;
        }
        let shadow = tracer.trace_shadow(origin, l.direction, cone, l.stop, stats);
        if !reaches_light(shadow.result.termination) {
            continue;
        }
        for c in 0..3 {
            out[c] += f[c] * l.incident[c];
        }
    }
    if let Some(e) = emitters.sample(u[0], u[1], u[2]) {
        if let Some(r) = emitter_ray(&e, origin, n) {
            let shadow = tracer.trace_cone(origin, r.direction, cone, None, stats);
            if let Some(hit) = shadow.hit.filter(|h| h.instance == e.instance) {
                let f = material.glossy_eval(at, wo, r.direction);
                let le = emitted(&scene.instances[hit.instance as usize].material);
                let ratio2 = index_ratio2(at.index, medium.index(hit.position).0);
                let weight = if mis {
                    power_heuristic(r.pdf_light, material.glossy_pdf(at, wo, r.direction))
                } else {
                    1.0
                };
                let scale = weight / r.pdf_light * ratio2;
                for c in 0..3 {
                    out[c] += f[c] * le[c] * scale;
                }
            }
        }
    }
    out
}

/// Radiance is carried as L / n^2: light arriving where the index is `here` from
/// where it is `there` is scaled by (here / there)^2.
#[must_use]
pub(crate) fn index_ratio2(here: f64, there: f64) -> f64 {
    (here / there).powi(2)
}

/// A point or directional light seen from a diffuse point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct LightSample {
    /// Unit direction towards the light.
    pub(crate) direction: DVec3,
    /// What it adds to the point's reflected radiance per unit albedo, if its shadow
    /// ray is free: irradiance (or intensity / r^2) x cos / pi x the L / n^2 ratio.
    pub(crate) value: Rgb,
    /// The irradiance it gives a surface facing it (intensity / r^2 for a point
    /// light) times the L / n^2 ratio: what a glossy lobe's `f cos` multiplies.
    pub(crate) incident: Rgb,
    /// Where the shadow ray ends (a small sphere around a point light).
    pub(crate) stop: Option<StopSurface>,
}

/// Light `light` at the shadow-ray origin `origin` of a point with unit normal
/// `normal` in index `index_here`; `None` when it is behind the surface.
#[must_use]
pub(crate) fn light_sample(
    light: &Light,
    origin: DVec3,
    normal: DVec3,
    index_here: f64,
    medium: &Medium,
) -> Option<LightSample> {
    let (direction, irradiance, stop, index_there) = match *light {
        Light::Directional {
            direction,
            irradiance,
        } => (
            -direction.normalize(),
            irradiance.map(f64::from),
            None,
            medium.background,
        ),
        Light::Point {
            position,
            intensity,
        } => {
            let d = position - origin;
            let r2 = d.length_squared().max(MIN_DISTANCE2);
            (
                d / r2.sqrt(),
                intensity.map(|i| f64::from(i) / r2),
                Some(StopSurface::Sphere {
                    centre: position,
                    radius: POINT_LIGHT_STOP * (1.0 + r2.sqrt()),
                }),
                medium.index(position).0,
            )
        }
    };
    let cos = normal.dot(direction);
    if cos <= 0.0 {
        return None;
    }
    let ratio2 = index_ratio2(index_here, index_there);
    let scale = ratio2 * cos / std::f64::consts::PI;
    Some(LightSample {
        direction,
        value: irradiance.map(|v| v * scale),
        incident: irradiance.map(|v| v * ratio2),
        stop,
    })
}

/// The ray from a diffuse point towards an emitter sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct EmitterRay {
    /// Unit direction towards the sample.
    pub(crate) direction: DVec3,
    /// Cosine at the diffuse point.
    pub(crate) cos_x: f64,
    /// Density of this direction by the emitter sampler (per solid angle).
    pub(crate) pdf_light: f64,
}

/// The ray from `origin` (normal `normal`) to emitter sample `e`; `None` when the
/// sample is behind the point or seen edge-on.
#[must_use]
pub(crate) fn emitter_ray(e: &EmitterSample, origin: DVec3, normal: DVec3) -> Option<EmitterRay> {
    let w = e.point - origin;
    let d2 = w.length_squared();
    let direction = w / d2.sqrt();
    let (cos_x, cos_l) = (normal.dot(direction), e.normal.dot(direction).abs());
    (cos_x > 0.0 && cos_l > EMITTER_MIN_COSINE).then(|| EmitterRay {
        direction,
        cos_x,
        pdf_light: e.area_pdf * d2 / cos_l,
    })
}

/// The factor of an emitter sample's radiance (times the albedo) in the point's
/// reflected radiance: the Lambertian BSDF over the light density, MIS-weighted
/// against the diffuse bounce when `mis`, times the L / n^2 ratio `ratio2`.
#[must_use]
pub(crate) fn emitter_scale(pdf_light: f64, cos_x: f64, mis: bool, ratio2: f64) -> f64 {
    let pdf_bsdf = cos_x / std::f64::consts::PI;
    let weight = if mis {
        power_heuristic(pdf_light, pdf_bsdf)
    } else {
        1.0
    };
    weight * pdf_bsdf / pdf_light * ratio2
}

/// Whether the environment sends no light (then no ray is spent on it).
#[must_use]
pub(crate) fn environment_is_black(env: &Environment) -> bool {
    env.is_black()
}

#[cfg(test)]
mod tests;
