//! Lambertian with a 3D checker of two albedos (a test pattern that needs no texture
//! coordinates).


use serde::Deserialize;

use super::{PlaceImage, At, Kind, LOBE_LAMBERT, Lobe, Surface, c4};
use crate::gpu::layout::GpuMaterial;
use crate::scene::SceneError;

/// Lambertian with a 3D checker of two albedos, `scale` squares per unit.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checker {
    /// First albedo.
    pub a: [f32; 3],
    /// Second albedo.
    pub b: [f32; 3],
    /// Squares per unit length (> 0).
    pub scale: f32,
}

impl Kind for Checker {
    const LOBE: u32 = LOBE_LAMBERT;

    fn lobe(&self, at: &Surface) -> Lobe {
        // Half a square along the normal: a face lying on a cell boundary (a box side
        // at x = 3 with scale 2) then reads one cell, not rounding noise.
        let q = (at.position * f64::from(self.scale) + at.normal * 0.5).floor();
        let odd = (q.x + q.y + q.z).rem_euclid(2.0) >= 1.0;
        Lobe::Lambert((if odd { self.b } else { self.a }).map(f64::from))
    }

    fn validate(&self, at: &At<'_>) -> Result<(), SceneError> {
        at.unit("a", self.a)?;
        at.unit("b", self.b)?;
        at.positive("scale", f64::from(self.scale)).map(|_| ())
    }

    fn gpu(&self, g: &mut GpuMaterial, _place: &mut PlaceImage<'_>) {
        // checker.wgsl: a = (first albedo, scale), b = second albedo.
        g.a = c4(self.a, self.scale);
        g.b = c4(self.b, 0.0);
    }

    #[cfg(test)]
    fn examples() -> Vec<Self> {
        vec![Checker {
            a: [0.9, 0.9, 0.9],
            b: [0.1, 0.2, 0.3],
            scale: 2.0,
        }]
    }
}
