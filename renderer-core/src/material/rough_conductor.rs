//! A rough metal: the GGX (Trowbridge-Reitz) microfacet reflection of Walter et al.
//! 2007 with Smith's separable shadowing-masking and Schlick's Fresnel of the
//! reflectance at normal incidence. A glossy lobe: next-event estimation evaluates it
//! towards each light, and bounces sample its normal distribution.

use glam::DVec3;
use serde::Deserialize;

use super::{At, GlossySample, Kind, LOBE_GLOSSY, Lobe, PlaceImage, Surface, c4};
use crate::gpu::layout::GpuMaterial;
use crate::scene::SceneError;
use crate::shade::reflect;

/// A rough metal: reflectance `colour` at normal incidence (Schlick's Fresnel towards
/// white at grazing angles) and GGX microfacets of `roughness` (perceptual: the
/// distribution's width is its square).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoughConductor {
    /// Reflectance at normal incidence, per channel, in [0, 1].
    pub colour: [f32; 3],
    /// Perceptual roughness in [0.01, 1] (0.01: nearly a mirror; 1: very rough).
    pub roughness: f32,
}

/// The smallest roughness: below it the distribution is too narrow to sample in f32.
const MIN_ROUGHNESS: f32 = 0.01;

impl RoughConductor {
    /// The GGX width alpha (roughness squared).
    fn alpha(&self) -> f64 {
        let r = f64::from(self.roughness);
        r * r
    }
}

/// The GGX normal distribution D(h) for cos(n, h) = `cos_h`.
pub(crate) fn ggx_d(alpha: f64, cos_h: f64) -> f64 {
    let a2 = alpha * alpha;
    let t = cos_h * cos_h * (a2 - 1.0) + 1.0;
    a2 / (std::f64::consts::PI * t * t)
}

/// Smith's shadowing (or masking) for a direction of cosine `cos_v` with the normal.
pub(crate) fn ggx_g1(alpha: f64, cos_v: f64) -> f64 {
    let a2 = alpha * alpha;
    2.0 * cos_v / (cos_v + (a2 + (1.0 - a2) * cos_v * cos_v).sqrt())
}

/// Schlick's Fresnel of reflectance `f0` at cos(incidence) = `cos`.
pub(crate) fn schlick(f0: [f32; 3], cos: f64) -> [f64; 3] {
    let k = (1.0 - cos).clamp(0.0, 1.0).powi(5);
    f0.map(|f| f64::from(f) + (1.0 - f64::from(f)) * k)
}

impl Kind for RoughConductor {
    const LOBE: u32 = LOBE_GLOSSY;

    fn lobe(&self, _at: &Surface) -> Lobe {
        Lobe::Glossy
    }

    fn glossy_eval(&self, at: &Surface, wo: DVec3, wi: DVec3) -> [f64; 3] {
        let n = at.normal;
        let (cos_o, cos_i) = (n.dot(wo), n.dot(wi));
        if cos_o <= 0.0 || cos_i <= 0.0 {
            return [0.0; 3];
        }
        let h = (wo + wi).normalize();
        let alpha = self.alpha();
        // f cos_i = D G F / (4 cos_o cos_i) * cos_i.
        let dg = ggx_d(alpha, n.dot(h)) * ggx_g1(alpha, cos_o) * ggx_g1(alpha, cos_i)
            / (4.0 * cos_o);
        schlick(self.colour, wi.dot(h)).map(|f| f * dg)
    }

    fn glossy_pdf(&self, at: &Surface, wo: DVec3, wi: DVec3) -> f64 {
        let n = at.normal;
        if n.dot(wo) <= 0.0 || n.dot(wi) <= 0.0 {
            return 0.0;
        }
        let h = (wo + wi).normalize();
        let cos_h = n.dot(h);
        // The half vector's density D(h) cos_h, mapped to the reflected direction.
        ggx_d(self.alpha(), cos_h) * cos_h / (4.0 * wo.dot(h).abs())
    }

    fn glossy_sample(&self, at: &Surface, wo: DVec3, u: [f64; 2]) -> Option<GlossySample> {
        let n = at.normal;
        let cos_o = n.dot(wo);
        if cos_o <= 0.0 {
            return None;
        }
        let alpha = self.alpha();
        // tan^2(theta_h) = alpha^2 u / (1 - u), phi = 2 pi u'.
        let t2 = alpha * alpha * u[0] / (1.0 - u[0]).max(1e-12);
        let cos_h = 1.0 / (1.0 + t2).sqrt();
        let sin_h = (1.0 - cos_h * cos_h).max(0.0).sqrt();
        let phi = std::f64::consts::TAU * u[1];
        let (a, b) = n.any_orthonormal_pair();
        let h = (a * (sin_h * phi.cos()) + b * (sin_h * phi.sin()) + n * cos_h).normalize();
        let wi = reflect(-wo, h);
        let cos_i = n.dot(wi);
        if cos_i <= 0.0 {
            return None;
        }
        let pdf = self.glossy_pdf(at, wo, wi);
        if pdf <= 0.0 {
            return None;
        }
        let f = self.glossy_eval(at, wo, wi);
        Some(GlossySample {
            direction: wi,
            weight: f.map(|v| v / pdf),
            pdf,
        })
    }

    fn validate(&self, at: &At<'_>) -> Result<(), SceneError> {
        at.unit("colour", self.colour)?;
        if !(MIN_ROUGHNESS..=1.0).contains(&self.roughness) {
            return Err(at.fail(
                "roughness",
                self.roughness,
                "must be in [0.01, 1] (a smaller one is a Mirror)",
            ));
        }
        Ok(())
    }

    fn gpu(&self, g: &mut GpuMaterial, _place: &mut PlaceImage<'_>) {
        // rough_conductor.wgsl: a = (reflectance, alpha).
        g.a = c4(self.colour, self.alpha() as f32);
    }

    #[cfg(test)]
    fn examples() -> Vec<Self> {
        vec![
            RoughConductor {
                colour: [0.95, 0.64, 0.54],
                roughness: 0.3,
            },
            RoughConductor {
                colour: [0.9; 3],
                roughness: 0.8,
            },
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Sampler;

    fn at() -> Surface {
        Surface {
            position: DVec3::ZERO,
            normal: DVec3::Y,
            front: true,
            uv: None,
            index: 1.0,
        }
    }

    fn dir(theta: f64, phi: f64) -> DVec3 {
        DVec3::new(theta.sin() * phi.cos(), theta.cos(), theta.sin() * phi.sin())
    }

    #[test]
    fn it_is_reciprocal_and_its_density_integrates_to_one() {
        for m in RoughConductor::examples() {
            for &theta_o in &[0.1, 0.7, 1.3] {
                let wo = dir(theta_o, 0.4);
                // Reciprocity of f: eval / cos_i is symmetric.
                for &(t, p) in &[(0.3, 2.0), (1.0, 3.5), (0.05, 0.4)] {
                    let wi = dir(t, p);
                    let a = m.glossy_eval(&at(), wo, wi)[1] / wi.y;
                    let b = m.glossy_eval(&at(), wi, wo)[1] / wo.y;
                    assert!((a - b).abs() <= 1e-12 * a.abs().max(1.0), "{a} vs {b}");
                }
                // The density of reflected directions over the hemisphere (midpoint
                // rule in cos theta and phi): at most 1, what it lacks being the
                // half vectors that reflect below the horizon (most at grazing wo).
                let total = hemisphere(|wi| m.glossy_pdf(&at(), wo, wi));
                assert!(total <= 1.0 + 2e-3, "roughness {}: {total}", m.roughness);
                if theta_o < 0.2 && m.roughness < 0.5 {
                    assert!(total > 0.99, "roughness {}: {total}", m.roughness);
                }
            }
            // The half-vector density D(h) cos(h) is normalised (in cos theta alone, on
            // a grid fine enough for the narrow peak: 2 pi sum D(c) c dc).
            let alpha = m.alpha();
            let steps = 200_000;
            let d = (0..steps)
                .map(|i| {
                    let c = (f64::from(i) + 0.5) / f64::from(steps);
                    ggx_d(alpha, c) * c
                })
                .sum::<f64>()
                * std::f64::consts::TAU
                / f64::from(steps);
            assert!((d - 1.0).abs() < 2e-3, "roughness {}: {d}", m.roughness);
        }
    }

    /// The integral of `f` over the upper hemisphere (midpoint rule, 600 x 600).
    fn hemisphere(f: impl Fn(DVec3) -> f64) -> f64 {
        let (nt, np) = (600, 600);
        let mut total = 0.0;
        for i in 0..nt {
            let c = (i as f64 + 0.5) / nt as f64;
            for j in 0..np {
                let phi = std::f64::consts::TAU * (j as f64 + 0.5) / np as f64;
                total += f(dir(c.acos(), phi));
            }
        }
        total * std::f64::consts::TAU / (nt * np) as f64
    }

    #[test]
    fn samples_follow_the_density_and_weigh_eval_over_pdf() {
        let m = RoughConductor {
            colour: [1.0; 3],
            roughness: 0.5,
        };
        let wo = dir(0.6, 1.0);
        let mut rng = Sampler::new(3, 0, 0, 9);
        let (mut energy, n) = (0.0, 200_000);
        for _ in 0..n {
            let u = [rng.next_f64(), rng.next_f64()];
            if let Some(s) = m.glossy_sample(&at(), wo, u) {
                let f = m.glossy_eval(&at(), wo, s.direction);
                let pdf = m.glossy_pdf(&at(), wo, s.direction);
                assert!((s.pdf - pdf).abs() <= 1e-9 * pdf);
                assert!((s.weight[0] - f[0] / pdf).abs() <= 1e-9 * s.weight[0].max(1.0));
                energy += s.weight[0];
            }
        }
        // The directional albedo with a white Fresnel: at most 1 (single scattering
        // loses some), and the estimate agrees with quadrature of eval.
        let estimate = energy / f64::from(n);
        let quad = hemisphere(|wi| m.glossy_eval(&at(), wo, wi)[0]);
        assert!(quad <= 1.0 && quad > 0.85, "{quad}");
        assert!((estimate - quad).abs() < 0.01, "{estimate} vs {quad}");
    }

    #[test]
    fn a_smooth_one_reflects_like_a_mirror() {
        let m = RoughConductor {
            colour: [0.8; 3],
            roughness: 0.01,
        };
        let wo = dir(0.5, 0.0);
        let mirror = reflect(-wo, DVec3::Y);
        let mut rng = Sampler::new(1, 0, 0, 2);
        for _ in 0..100 {
            let s = m
                .glossy_sample(&at(), wo, [rng.next_f64(), rng.next_f64()])
                .unwrap();
            assert!(s.direction.dot(mirror) > 0.999, "{}", s.direction);
        }
    }
}
