//! A Schwarzschild mass: rays follow its null geodesics (in the optical form
//! x'' = -1.5 r_s h^2 x / r^5, h = |x cross x'|) within an extent, straight beyond.
//! The integrator treats masses specially too (capture at the horizon, a single
//! mass's orbit invariants, a static observer near one): see `integrator`.

use glam::DVec3;
use serde::{Deserialize, Serialize};

use super::{Aabb, At, CurvatureTerms, Primitive, block, check_extent, v4};
use crate::gpu::layout::GpuField;
use crate::scene::SceneError;

/// A Schwarzschild mass with Schwarzschild radius r_s (= 2M), bending rays along null
/// geodesics within `extent` of its centre.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schwarzschild {
    /// Centre.
    pub centre: DVec3,
    /// Schwarzschild radius.
    pub rs: f64,
    /// Radius of influence: outside it rays are straight.
    pub extent: f64,
}

impl Primitive for Schwarzschild {
    const MASS: bool = true;

    fn centre(&self) -> Option<DVec3> {
        Some(self.centre)
    }

    fn translate(&mut self, by: DVec3) {
        self.centre += by;
    }

    fn region(&self) -> Aabb {
        Aabb::around(self.centre, self.extent)
    }

    fn acceleration(&self, p: DVec3, v: DVec3) -> DVec3 {
        let x = p - self.centre;
        let r2 = x.length_squared();
        if r2 >= self.extent * self.extent {
            return DVec3::ZERO;
        }
        let h2 = x.cross(v).length_squared();
        let r5 = r2 * r2 * r2.sqrt();
        x * (-1.5 * self.rs * h2 / r5)
    }

    fn curvature(&self, cell: &Aabb, _background: f64) -> CurvatureTerms {
        // The acceleration over |v|^2 is at most 1.5 r_s / r^2 (h <= r |v|), r the
        // nearest distance to the cell (at least r_s: inside, rays are captured).
        let (near, _) = cell.distance_range(self.centre);
        CurvatureTerms {
            mass: if near < self.extent {
                1.5 * self.rs / near.max(self.rs).powi(2)
            } else {
                0.0
            },
            ..CurvatureTerms::default()
        }
    }

    fn validate(&self, at: &At<'_>, _background: f64) -> Result<(), SceneError> {
        at.vec("centre", self.centre)?;
        at.positive("rs", self.rs)?;
        at.positive("extent", self.extent)?;
        check_extent(at, self.extent)?;
        if self.extent <= 3.0 * self.rs {
            return Err(at.fail(
                "extent",
                self.extent,
                "must be more than 3 rs (well beyond the photon sphere at 1.5 rs)",
            ));
        }
        Ok(())
    }

    fn gpu(&self, _scalars: &mut Vec<f32>) -> GpuField {
        // schwarzschild.wgsl: p0 = (centre, r_s), p1.x = extent.
        let mut g = block(0);
        g.p0 = v4(self.centre, self.rs);
        g.p1[0] = self.extent as f32;
        g
    }

    #[cfg(test)]
    fn examples() -> Vec<Self> {
        vec![Schwarzschild {
            centre: DVec3::new(0.5, -0.2, 1.0),
            rs: 0.5,
            extent: 10.0,
        }]
    }
}
