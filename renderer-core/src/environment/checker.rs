//! A latitude-longitude checkerboard: a test pattern that shows lensing.

use glam::DVec3;
use serde::Deserialize;

use super::{At, Sky, c4};
use crate::gpu::layout::GpuParams;
use crate::material::PlaceImage;
use crate::scene::SceneError;
use crate::shade::{Rgb, equirect_uv};

/// A latitude-longitude checkerboard: `divisions` squares from pole to pole, twice
/// as many around; a lensing test pattern.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckerSphere {
    /// First radiance.
    pub a: [f32; 3],
    /// Second radiance.
    pub b: [f32; 3],
    /// Squares from pole to pole (>= 1).
    pub divisions: u32,
}

impl Sky for CheckerSphere {
    fn radiance(&self, dir: DVec3) -> Rgb {
        let (u, v) = equirect_uv(dir);
        let d = f64::from(self.divisions);
        let odd = ((u * 2.0 * d).floor() + (v * d).floor()).rem_euclid(2.0) >= 1.0;
        (if odd { self.b } else { self.a }).map(f64::from)
    }

    fn validate(&self, at: &At<'_>) -> Result<(), SceneError> {
        at.radiance("a", self.a)?;
        at.radiance("b", self.b)?;
        if self.divisions == 0 {
            return Err(at.fail("divisions", 0, "must be at least 1"));
        }
        Ok(())
    }

    fn gpu(&self, p: &mut GpuParams, _place: &mut PlaceImage<'_>) {
        // checker.wgsl: env_a = first radiance, env_b = (second, divisions).
        p.env_a = c4(self.a, 0.0);
        p.env_b = c4(self.b, self.divisions as f32);
    }

    #[cfg(test)]
    fn examples() -> Vec<Self> {
        vec![CheckerSphere {
            a: [1.0, 1.0, 1.0],
            b: [0.1, 0.1, 0.1],
            divisions: 16,
        }]
    }
}
