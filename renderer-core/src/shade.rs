//! Shading: what materials reflect and emit, what the environment radiates, and the
//! scattering of the specular materials (mirror, Fresnel dielectric).
//!
//! Direct lighting and the path tracer that uses these are in [`crate::lights`] and
//! [`crate::path`].

use std::f64::consts::{PI, TAU};

use glam::DVec3;

pub(crate) use crate::Rgb;
use crate::environment::Environment;
use crate::material::Material;
#[cfg(test)]
use crate::material::{Lobe, Surface};

/// The diffuse albedo of `material` at world position `p` on a surface with unit
/// normal `n`, with texture coordinates `uv` when the mesh has them (zero for
/// materials that do not scatter diffusely).
#[cfg(test)]
#[must_use]
pub(crate) fn albedo(material: &Material, p: DVec3, n: DVec3, uv: Option<[f32; 2]>) -> Rgb {
    let at = Surface {
        position: p,
        normal: n,
        front: true,
        uv,
        index: 1.0,
    };
    match material.lobe(&at) {
        Lobe::Lambert(albedo) => albedo,
        Lobe::Glossy | Lobe::Specular | Lobe::None => [0.0; 3],
    }
}

/// Whether `material` scatters diffusely (and so takes next-event estimation).
#[cfg(test)]
#[must_use]
pub(crate) fn is_diffuse(material: &Material) -> bool {
    material.is_diffuse()
}

/// Radiance emitted by `material` (both sides).
#[must_use]
pub(crate) fn emitted(material: &Material) -> Rgb {
    material.emitted()
}

/// Luminance of linear RGB (Rec. 709 weights).
#[must_use]
pub(crate) fn luminance(c: Rgb) -> f64 {
    0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]
}

/// Radiance seen by a ray escaping along unit `dir` (+y is up).
#[must_use]
pub(crate) fn environment(env: &Environment, dir: DVec3) -> Rgb {
    env.radiance(dir)
}

/// Latitude-longitude coordinates of a unit direction: u along the azimuth from -z
/// towards +x (0..1), v from +y (0) to -y (1).
#[must_use]
pub(crate) fn equirect_uv(dir: DVec3) -> (f64, f64) {
    // At the poles the azimuth is undefined (atan2(0, 0) differs between CPU and
    // GPU maths libraries): take the middle of the map.
    let u = if dir.x == 0.0 && dir.z == 0.0 {
        0.5
    } else {
        0.5 + dir.x.atan2(-dir.z) / TAU
    };
    // The polar angle by atan2 (well conditioned everywhere, as the shaders' is).
    let v = dir.x.hypot(dir.z).atan2(dir.y) / PI;
    (u.rem_euclid(1.0), v)
}

/// Mirror reflection of unit `d` about unit normal `n`.
#[must_use]
pub(crate) fn reflect(d: DVec3, n: DVec3) -> DVec3 {
    d - n * (2.0 * d.dot(n))
}

/// Fresnel reflectance of unpolarised light at a smooth interface: `cos_i` is the
/// cosine of incidence, `eta` = n_incident / n_transmitted. Returns the reflectance
/// and, unless the reflection is total, the cosine of the refracted ray.
#[must_use]
pub(crate) fn fresnel(cos_i: f64, eta: f64) -> (f64, Option<f64>) {
    let sin2_t = eta * eta * (1.0 - cos_i * cos_i).max(0.0);
    if sin2_t >= 1.0 {
        return (1.0, None);
    }
    let cos_t = (1.0 - sin2_t).sqrt();
    let rs = (eta * cos_i - cos_t) / (eta * cos_i + cos_t);
    let rp = (cos_i - eta * cos_t) / (cos_i + eta * cos_t);
    (0.5 * (rs * rs + rp * rp), Some(cos_t))
}

/// Refraction of unit `d` through unit normal `n` (facing against `d`) with
/// `eta` = n_incident / n_transmitted and the refracted cosine `cos_t`.
#[must_use]
pub(crate) fn refract(d: DVec3, n: DVec3, eta: f64, cos_t: f64) -> DVec3 {
    let cos_i = -d.dot(n);
    (d * eta + n * (eta * cos_i - cos_t)).normalize()
}

/// A cosine-weighted direction about unit `n` from two uniform numbers; its density
/// is cos(theta) / pi.
#[must_use]
pub(crate) fn cosine_direction(n: DVec3, u1: f64, u2: f64) -> DVec3 {
    let (a, b) = n.any_orthonormal_pair();
    let phi = TAU * u1;
    let r = u2.sqrt();
    (a * (r * phi.cos()) + b * (r * phi.sin()) + n * (1.0 - u2).max(0.0).sqrt()).normalize()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresnel_limits() {
        // Normal incidence, glass: ((1 - 1.5) / (1 + 1.5))^2 = 0.04.
        let (r, t) = fresnel(1.0, 1.0 / 1.5);
        assert!((r - 0.04).abs() < 1e-12);
        assert!((t.unwrap() - 1.0).abs() < 1e-12);
        // Grazing: everything reflects.
        assert!(fresnel(1e-9, 1.0 / 1.5).0 > 0.999);
        // Beyond the critical angle from inside glass: total internal reflection.
        let cos = (50f64).to_radians().cos();
        assert_eq!(fresnel(cos, 1.5), (1.0, None));
        // Same index: no reflection.
        assert!(fresnel(0.3, 1.0).0 < 1e-15);
    }

    #[test]
    fn refraction_obeys_snell() {
        let n = DVec3::Y;
        let theta = 40f64.to_radians();
        let d = DVec3::new(theta.sin(), -theta.cos(), 0.0);
        let eta = 1.0 / 1.33;
        let (_, cos_t) = fresnel(theta.cos(), eta);
        let t = refract(d, n, eta, cos_t.unwrap());
        let sin_t = t.x;
        assert!((sin_t - eta * theta.sin()).abs() < 1e-12);
        assert!((t.length() - 1.0).abs() < 1e-12);
        assert!(t.y < 0.0);
    }

    #[test]
    fn environments_are_bounded_and_patterned() {
        let checker = Environment::CheckerSphere(crate::environment::CheckerSphere {
            a: [1.0; 3],
            b: [0.0; 3],
            divisions: 8,
        });
        let mut seen = [false; 2];
        let stars = Environment::StarField(crate::environment::StarField {
            background: [0.0; 3],
            cells: 64,
            density: 0.5,
            brightness: 3.0,
            seed: 7,
        });
        let mut lit = 0;
        for k in 0..20_000 {
            let z = 1.0 - 2.0 * (f64::from(k) + 0.5) / 20_000.0;
            let phi = f64::from(k) * 2.399_963;
            let r = (1.0 - z * z).sqrt();
            let d = DVec3::new(r * phi.cos(), z, r * phi.sin());
            seen[environment(&checker, d)[0] as usize] = true;
            let s = environment(&stars, d);
            assert!(s.iter().all(|&c| (0.0..=3.0).contains(&c)));
            lit += usize::from(s[1] > 0.0);
        }
        assert_eq!(seen, [true, true]);
        // Half the cells hold a star covering pi 0.12^2 of a cell: about 2.3%.
        let frac = lit as f64 / 20_000.0;
        assert!((0.012..0.035).contains(&frac), "{frac}");
    }
}
