//! Shading: material albedo, environment radiance, and direct lighting from point and
//! directional lights with curved shadow rays (they go through the same integrator
//! and soft gate as camera rays).

use glam::DVec3;

use crate::integrator::Termination;
use crate::scene::{Environment, Light, Material, Scene};
use crate::trace::SceneTracer;

/// Linear RGB.
pub type Rgb = [f64; 3];

/// The albedo of `material` at world position `p` on a surface with unit normal `n`
/// (zero for emitters).
#[must_use]
pub fn albedo(material: &Material, p: DVec3, n: DVec3) -> Rgb {
    match *material {
        Material::Diffuse { colour } => colour.map(f64::from),
        Material::Checker { a, b, scale } => {
            // Half a square along the normal: a face lying on a cell boundary (a box
            // side at x = 3 with scale 2) then reads one cell, not rounding noise.
            let q = (p * f64::from(scale) + n * 0.5).floor();
            let odd = (q.x + q.y + q.z).rem_euclid(2.0) >= 1.0;
            (if odd { b } else { a }).map(f64::from)
        }
        Material::Emissive { .. } => [0.0; 3],
    }
}

/// Radiance emitted by `material`.
#[must_use]
pub fn emitted(material: &Material) -> Rgb {
    match *material {
        Material::Emissive { radiance } => radiance.map(f64::from),
        _ => [0.0; 3],
    }
}

/// Radiance seen by a ray escaping along unit `dir`.
#[must_use]
pub fn environment(env: &Environment, dir: DVec3) -> Rgb {
    match *env {
        Environment::Constant(c) => c.map(f64::from),
        Environment::GradientSky { horizon, zenith } => {
            let t = dir.y.clamp(0.0, 1.0);
            std::array::from_fn(|i| f64::from(horizon[i]) * (1.0 - t) + f64::from(zenith[i]) * t)
        }
    }
}

/// Reflected radiance from direct lighting at a diffuse point `p` with unit normal
/// `n` facing the viewer: sum over lights of albedo / pi * E * cos(theta) where the
/// curved shadow ray from `p` reaches the light unobstructed.
#[must_use]
pub fn direct(scene: &Scene, tracer: &SceneTracer, p: DVec3, n: DVec3, albedo: Rgb) -> Rgb {
    let mut out = [0.0; 3];
    // Offset along the normal so the shadow ray does not hit its own surface.
    let origin = p + n * 1e-4 * (1.0 + p.length());
    for light in &scene.lights {
        let (to_light, irradiance, stop) = match *light {
            Light::Directional {
                direction,
                irradiance,
            } => (-direction.normalize(), irradiance.map(f64::from), None),
            Light::Point {
                position,
                intensity,
            } => {
                let d = position - origin;
                let r2 = d.length_squared().max(1e-12);
                (
                    d / r2.sqrt(),
                    intensity.map(|i| f64::from(i) / r2),
                    Some(crate::integrator::StopSurface::Sphere {
                        centre: position,
                        radius: 1e-6 * (1.0 + r2.sqrt()),
                    }),
                )
            }
        };
        let cos = n.dot(to_light);
        if cos <= 0.0 {
            continue;
        }
        let shadow = tracer.trace(origin, to_light, stop, false);
        if shadow.result.termination == Termination::Hit {
            continue;
        }
        for c in 0..3 {
            out[c] += albedo[c] / std::f64::consts::PI * irradiance[c] * cos;
        }
    }
    out
}
