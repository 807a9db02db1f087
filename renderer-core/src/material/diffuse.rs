//! Lambertian reflection of a constant albedo, optionally emitting too (an area light
//! that also reflects).


use serde::Deserialize;

use super::{PlaceImage, At, Kind, LOBE_LAMBERT, Lobe, Surface, c4};
use crate::gpu::layout::GpuMaterial;
use crate::scene::SceneError;
use crate::shade::Rgb;

/// Lambertian with a constant albedo, optionally emitting too.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Diffuse {
    /// Albedo.
    pub colour: [f32; 3],
    /// Emitted radiance (default none).
    #[serde(default)]
    pub emission: [f32; 3],
}

impl Kind for Diffuse {
    const EMITS: bool = true;
    const LOBE: u32 = LOBE_LAMBERT;

    fn emitted(&self) -> Rgb {
        self.emission.map(f64::from)
    }

    fn lobe(&self, _at: &Surface) -> Lobe {
        Lobe::Lambert(self.colour.map(f64::from))
    }

    fn validate(&self, at: &At<'_>) -> Result<(), SceneError> {
        at.unit("colour", self.colour)?;
        at.radiance("emission", self.emission)
    }

    fn gpu(&self, g: &mut GpuMaterial, _place: &mut PlaceImage<'_>) {
        // diffuse.wgsl: a = albedo, b = emission.
        g.a = c4(self.colour, 0.0);
        g.b = c4(self.emission, 0.0);
    }

    #[cfg(test)]
    fn examples() -> Vec<Self> {
        vec![
            Diffuse {
                colour: [0.8, 0.5, 0.2],
                emission: [0.0; 3],
            },
            Diffuse {
                colour: [0.6, 0.5, 0.4],
                emission: [0.5, 0.2, 0.1],
            },
        ]
    }
}
