//! A sky blending from the horizon (and below) to the zenith.

use glam::DVec3;
use serde::Deserialize;

use super::{At, Sky, c4};
use crate::gpu::layout::GpuParams;
use crate::material::PlaceImage;
use crate::scene::SceneError;
use crate::shade::Rgb;

/// A sky blending from `horizon` (and below) to `zenith` (+y).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GradientSky {
    /// Radiance at and below the horizon.
    pub horizon: [f32; 3],
    /// Radiance straight up.
    pub zenith: [f32; 3],
}

impl Sky for GradientSky {
    fn radiance(&self, dir: DVec3) -> Rgb {
        let t = dir.y.clamp(0.0, 1.0);
        std::array::from_fn(|i| {
            f64::from(self.horizon[i]) * (1.0 - t) + f64::from(self.zenith[i]) * t
        })
    }

    fn validate(&self, at: &At<'_>) -> Result<(), SceneError> {
        at.radiance("horizon", self.horizon)?;
        at.radiance("zenith", self.zenith)
    }

    fn gpu(&self, p: &mut GpuParams, _place: &mut PlaceImage<'_>) {
        // gradient.wgsl: env_a = horizon, env_b = zenith.
        p.env_a = c4(self.horizon, 0.0);
        p.env_b = c4(self.zenith, 0.0);
    }

    #[cfg(test)]
    fn examples() -> Vec<Self> {
        vec![GradientSky {
            horizon: [0.8, 0.85, 0.9],
            zenith: [0.2, 0.35, 0.7],
        }]
    }
}
