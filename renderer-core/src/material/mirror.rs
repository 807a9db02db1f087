//! A perfect mirror: one delta lobe, reflectance tinted per channel.


use glam::DVec3;
use serde::Deserialize;

use super::{PlaceImage, At, Kind, LOBE_SPECULAR, Lobe, SpecularBounce, Surface, c4, white};
use crate::gpu::layout::GpuMaterial;
use crate::rng::Sampler;
use crate::scene::SceneError;
use crate::shade::reflect;

/// A perfect mirror, its reflectance tinted by `colour`.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mirror {
    /// Reflectance per channel.
    #[serde(default = "white")]
    pub colour: [f32; 3],
}

impl Kind for Mirror {
    const LOBE: u32 = LOBE_SPECULAR;

    fn lobe(&self, _at: &Surface) -> Lobe {
        Lobe::Specular
    }

    fn sample_specular(
        &self,
        at: &Surface,
        incoming: DVec3,
        _rng: &mut Sampler,
    ) -> Option<SpecularBounce> {
        Some(SpecularBounce {
            direction: reflect(incoming, at.normal),
            weight: self.colour.map(f64::from),
            scale: 1.0,
            transmitted: false,
        })
    }

    fn validate(&self, at: &At<'_>) -> Result<(), SceneError> {
        at.unit("colour", self.colour)
    }

    fn gpu(&self, g: &mut GpuMaterial, _place: &mut PlaceImage<'_>) {
        // mirror.wgsl: a = reflectance.
        g.a = c4(self.colour, 0.0);
    }

    #[cfg(test)]
    fn examples() -> Vec<Self> {
        vec![Mirror {
            colour: [0.9, 0.8, 0.7],
        }]
    }
}
