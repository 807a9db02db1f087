//! A smooth dielectric interface (glass, water): Fresnel reflection and refraction,
//! one of the two delta lobes chosen by the Fresnel reflectance.


use glam::DVec3;
use serde::Deserialize;

use super::{PlaceImage, At, Kind, LOBE_SPECULAR, Lobe, SpecularBounce, Surface, c4, white};
use crate::gpu::layout::GpuMaterial;
use crate::rng::Sampler;
use crate::scene::SceneError;
use crate::shade::{fresnel, reflect, refract};

/// A smooth dielectric interface (glass, water) of refractive index `ior`: Fresnel
/// reflection and refraction. The object's inside is taken to be uniform, so keep
/// dielectric objects out of field regions.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dielectric {
    /// Refractive index of the object (> 0).
    pub ior: f64,
    /// Transmittance per channel, applied at each refraction.
    #[serde(default = "white")]
    pub tint: [f32; 3],
}

impl Kind for Dielectric {
    const LOBE: u32 = LOBE_SPECULAR;

    fn lobe(&self, _at: &Surface) -> Lobe {
        Lobe::Specular
    }

    fn sample_specular(
        &self,
        at: &Surface,
        incoming: DVec3,
        rng: &mut Sampler,
    ) -> Option<SpecularBounce> {
        let n = at.normal;
        let eta = if at.front {
            at.index / self.ior
        } else {
            self.ior / at.index
        };
        let cos_i = -incoming.dot(n);
        Some(match fresnel(cos_i, eta) {
            (f, Some(cos_t)) if rng.next_f64() >= f => SpecularBounce {
                direction: refract(incoming, n, eta, cos_t),
                weight: self.tint.map(f64::from),
                // Radiance crossing into a denser medium concentrates: L / n^2.
                scale: eta * eta,
                transmitted: true,
            },
            _ => SpecularBounce {
                direction: reflect(incoming, n),
                weight: [1.0; 3],
                scale: 1.0,
                transmitted: false,
            },
        })
    }

    fn validate(&self, at: &At<'_>) -> Result<(), SceneError> {
        at.positive("ior", self.ior)?;
        at.unit("tint", self.tint)
    }

    fn gpu(&self, g: &mut GpuMaterial, _place: &mut PlaceImage<'_>) {
        // dielectric.wgsl: a.w = ior, b = tint.
        g.a[3] = self.ior as f32;
        g.b = c4(self.tint, 0.0);
    }

    #[cfg(test)]
    fn examples() -> Vec<Self> {
        vec![Dielectric {
            ior: 1.5,
            tint: [0.95, 1.0, 0.9],
        }]
    }
}
