//! A pure emitter: constant radiance, no reflection (lamps, sky panels).


use serde::Deserialize;

use super::{PlaceImage, At, Kind, LOBE_NONE, Lobe, Surface, c4};
use crate::gpu::layout::GpuMaterial;
use crate::scene::SceneError;
use crate::shade::Rgb;

/// Emits constant radiance (linear RGB, >= 0) and reflects nothing.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Emissive {
    /// Emitted radiance.
    pub radiance: [f32; 3],
}

impl Kind for Emissive {
    const EMITS: bool = true;
    const LOBE: u32 = LOBE_NONE;

    fn emitted(&self) -> Rgb {
        self.radiance.map(f64::from)
    }

    fn lobe(&self, _at: &Surface) -> Lobe {
        Lobe::None
    }

    fn validate(&self, at: &At<'_>) -> Result<(), SceneError> {
        at.radiance("radiance", self.radiance)
    }

    fn gpu(&self, g: &mut GpuMaterial, _place: &mut PlaceImage<'_>) {
        // emissive.wgsl: a = radiance.
        g.a = c4(self.radiance, 0.0);
    }

    #[cfg(test)]
    fn examples() -> Vec<Self> {
        vec![Emissive {
            radiance: [5.0, 4.0, 3.0],
        }]
    }
}
