//! The path tracer: one camera sample's radiance along curved rays, with next-event
//! estimation at diffuse vertices, mirror and Fresnel-dielectric scattering, and a
//! bounded number of bounces.
//!
//! Radiance is transported as L / n^2, the invariant of a ray through a
//! gradient-index medium: a ray from a point of index n_a that ends where the index
//! is n_b carries the radiance found there times (n_a / n_b)^2. Refraction at a
//! dielectric surface scales radiance the same way, by the square of the index ratio.
//! In a uniform medium every factor is 1.

use crate::camera::CameraRay;
use crate::field::Root;
use crate::film::SampleRecord;
use crate::integrator::{RayCone, Termination};
use crate::lights::{
    Emitters, MIS_MIN_COSINE, SURFACE_OFFSET, ShadingPoint, TraceStats, direct, direct_glossy,
    index_ratio2, power_heuristic,
};
use crate::material::{Lobe, Surface};
use crate::rng::Sampler;
use crate::scene::Scene;
use crate::shade::{cosine_direction, emitted, environment};
use crate::trace::{RayMemo, SceneTracer, Tracing};

/// What a path needs from the frame: the scene, its tracer and its emitters.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PathContext<'a> {
    /// The scene (materials, lights, environment).
    pub(crate) scene: &'a Scene,
    /// Its acceleration structures and integrator.
    pub(crate) tracer: &'a SceneTracer,
    /// Its emissive triangles.
    pub(crate) emitters: &'a Emitters,
    /// Scattering events after the first hit (0: direct lighting only).
    pub(crate) max_bounces: u32,
    /// Seed of every random choice.
    pub(crate) seed: u64,
    /// Answers to rays asked before (variations of one scene share them), if any.
    pub(crate) memo: Option<&'a RayMemo>,
}

fn add_scaled(acc: &mut [f64; 3], t: &[f64; 3], v: &[f64; 3], s: f64) {
    for c in 0..3 {
        acc[c] += t[c] * v[c] * s;
    }
}

impl PathContext<'_> {
    /// The radiance and first-hit AOVs of the camera ray `ray` (standing for the
    /// beam `cone`) of sample `sample` of pixel `pixel`; the rays it traced are added
    /// to `stats`. Every ray of the path is traced for the camera beam where it
    /// starts. The ray's energy is the photon energy the camera's observer measures
    /// ([`crate::camera::Camera::photon`]): a Kerr disk's light is a blackbody
    /// shifted by it over the gas's, the sky's scaled by the fourth power of its
    /// ratio to the energy at infinity.
    #[must_use]
    pub(crate) fn sample(
        &self,
        pixel: u32,
        sample: u32,
        ray: &CameraRay,
        mut cone: RayCone,
        stats: &mut TraceStats,
    ) -> SampleRecord {
        let (mut origin, mut dir, mut observed) = (ray.origin, ray.direction, ray.energy);
        let scene = self.scene;
        let tracer = Tracing {
            tracer: self.tracer,
            memo: self.memo,
        };
        let medium = tracer.integrator().medium();
        let mut record = SampleRecord::default();
        let mut radiance = [0.0f64; 3];
        let mut throughput = [1.0f64; 3];
        let mut index_here = medium.index(origin).0;
        // The camera ray counts as specular: what it sees emitted counts in full.
        let mut specular = true;
        // Whether an escaping ray counts the environment: not after a diffuse vertex,
        // whose direct light gathered it with its own ray.
        let mut sees_environment = true;
        let mut pdf_bsdf = 0.0;
        let mut previous = origin;
        for depth in 0..=self.max_bounces {
            // The camera's ray carries its observer's momentum (inside a Kerr
            // hole's ergosphere a direction has two); a bounce ray the one it has.
            let root = if depth == 0 { ray.root } else { Root::Near };
            let report = tracer.trace_rooted(origin, dir, root, cone, None, stats);
            if depth == 0 {
                record.segments = report.result.segments;
            }
            // A Kerr disk's light (no light sample reaches it: it counts in full), and
            // what it lets through of what lies behind it.
            let mut sky_shift = 1.0;
            if let Some(k) = &report.result.kerr {
                for c in &k.disk[..k.disk_count as usize] {
                    let le = tracer.integrator().disk_radiance(c, observed);
                    add_scaled(&mut radiance, &throughput, &le, 1.0);
                }
                throughput = throughput.map(|t| t * k.transmittance);
                let g = observed / k.energy;
                if g.is_finite() && g > 0.0 {
                    sky_shift = g.powi(4);
                }
            }
            let Some(hit) = report.hit else {
                // After a diffuse vertex the environment was gathered by its direct
                // light ray; after the camera or a specular bounce it counts here.
                if report.result.termination == Termination::Escaped && sees_environment {
                    let env = environment(&scene.environment, report.result.direction);
                    let s = index_ratio2(index_here, medium.background) * sky_shift;
                    add_scaled(&mut radiance, &throughput, &env, s);
                }
                break;
            };
            cone = cone.advanced(report.path_length);
            let index_there = medium.index(hit.position).0;
            let s = index_ratio2(index_here, index_there);
            throughput = throughput.map(|t| t * s);
            index_here = index_there;
            let material = &scene.instances[hit.instance as usize].material;
            let incoming = report.result.direction;
            let front = hit.normal.dot(incoming) < 0.0;
            let n = if front { hit.normal } else { -hit.normal };
            if depth == 0 {
                record.depth = report.path_length as f32;
                record.normal = n.as_vec3().to_array();
                record.instance = Some(hit.instance);
            }
            let le = emitted(material);
            if le.iter().any(|&v| v > 0.0) {
                let weight = if specular {
                    1.0
                } else {
                    let d2 = (hit.position - previous).length_squared();
                    let cos_l = hit.normal.dot(incoming).abs().max(MIS_MIN_COSINE);
                    let pdf_light = self.emitters.area_pdf(hit.instance) * d2 / cos_l;
                    power_heuristic(pdf_bsdf, pdf_light)
                };
                add_scaled(&mut radiance, &throughput, &le, weight);
            }
            // The last vertex still gathers direct light; it only sends no bounce ray.
            let last = depth == self.max_bounces;
            let mut rng = Sampler::new(pixel, sample, depth + 1, self.seed);
            let eps = SURFACE_OFFSET * (1.0 + hit.position.length());
            let uv = if material.needs_uv() {
                let mesh = &scene.meshes[scene.instances[hit.instance as usize].mesh];
                let [u, v] = hit.barycentric;
                mesh.uv_at(hit.triangle, u, v)
            } else {
                None
            };
            let surface = Surface {
                position: hit.position,
                normal: n,
                front,
                uv,
                index: index_here,
            };
            match material.lobe(&surface) {
                Lobe::Lambert(albedo) => {
                    let at = ShadingPoint {
                        position: hit.position,
                        normal: n,
                        albedo,
                        index: index_here,
                        cone,
                    };
                    let u = std::array::from_fn(|_| rng.next_f64());
                    // Without a bounce ray to share with, the emitter sample takes
                    // full weight.
                    let d = direct(scene, tracer, self.emitters, &at, u, !last, stats);
                    add_scaled(&mut radiance, &throughput, &d, 1.0);
                    if last {
                        break;
                    }
                    dir = cosine_direction(n, rng.next_f64(), rng.next_f64());
                    // The cosine density cancels the Lambertian cos / pi.
                    pdf_bsdf = n.dot(dir) / std::f64::consts::PI;
                    throughput = std::array::from_fn(|c| throughput[c] * at.albedo[c]);
                    origin = at.origin();
                    specular = false;
                    sees_environment = false;
                }
                Lobe::Glossy => {
                    let wo = -incoming;
                    // Five numbers, as a diffuse vertex takes (the shaders draw the same).
                    let u: [f64; 5] = std::array::from_fn(|_| rng.next_f64());
                    let u = [u[0], u[1], u[2]];
                    let d = direct_glossy(
                        scene,
                        tracer,
                        self.emitters,
                        material,
                        &surface,
                        wo,
                        cone,
                        u,
                        !last,
                        stats,
                    );
                    add_scaled(&mut radiance, &throughput, &d, 1.0);
                    if last {
                        break;
                    }
                    let Some(b) =
                        material.glossy_sample(&surface, wo, [rng.next_f64(), rng.next_f64()])
                    else {
                        break;
                    };
                    dir = b.direction;
                    pdf_bsdf = b.pdf;
                    throughput = std::array::from_fn(|c| throughput[c] * b.weight[c]);
                    origin = hit.position + n * eps;
                    specular = false;
                    sees_environment = true;
                }
                _ if last => break,
                Lobe::Specular => {
                    let Some(b) = material.sample_specular(&surface, incoming, &mut rng) else {
                        break;
                    };
                    dir = b.direction;
                    throughput = std::array::from_fn(|c| throughput[c] * b.weight[c] * b.scale);
                    origin = if b.transmitted {
                        hit.position - n * eps
                    } else {
                        hit.position + n * eps
                    };
                    specular = true;
                    sees_environment = true;
                }
                // Pure emitters reflect nothing.
                Lobe::None => break,
            }
            previous = hit.position;
            // The next ray's light is measured at rest where it leaves.
            observed = tracer.integrator().static_energy(origin, dir);
            if throughput.iter().all(|&t| t == 0.0) {
                break;
            }
        }
        record.rgb = radiance.map(|v| v as f32);
        record
    }
}

#[cfg(test)]
mod tests;
