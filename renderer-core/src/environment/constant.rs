//! The same radiance in every direction (a uniform sky; black by default).

use glam::DVec3;
use serde::Deserialize;

use super::{At, Sky, c4};
use crate::gpu::layout::GpuParams;
use crate::material::PlaceImage;
use crate::scene::SceneError;
use crate::shade::Rgb;

/// The same radiance in every direction: `Constant((r, g, b))`.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
pub struct Constant(pub [f32; 3]);

impl Sky for Constant {
    fn radiance(&self, _dir: DVec3) -> Rgb {
        self.0.map(f64::from)
    }

    fn is_black(&self) -> bool {
        self.0.iter().all(|&v| v == 0.0)
    }

    fn validate(&self, at: &At<'_>) -> Result<(), SceneError> {
        at.radiance("0", self.0)
    }

    fn gpu(&self, p: &mut GpuParams, _place: &mut PlaceImage<'_>) {
        // constant.wgsl: env_a = radiance.
        p.env_a = c4(self.0, 0.0);
        p.env_b = [0.0; 4];
    }

    #[cfg(test)]
    fn examples() -> Vec<Self> {
        vec![Constant([0.2, 0.3, 0.4]), Constant([0.0; 3])]
    }
}
