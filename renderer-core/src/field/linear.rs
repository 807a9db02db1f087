//! A linear index gradient in a box: n = n0 + gradient . x (the mirage when the
//! gradient is vertical).

use glam::DVec3;
use serde::{Deserialize, Serialize};

use super::{Aabb, Kink, At, CurvatureTerms, Primitive, block, v4};
use crate::gpu::layout::GpuField;
use crate::scene::SceneError;

/// n = `n0 + gradient . x` inside `region`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinearGradient {
    /// Index at the origin.
    pub n0: f64,
    /// dn/dx.
    pub gradient: DVec3,
    /// Where the gradient applies.
    pub region: Aabb,
}

impl Primitive for LinearGradient {
    fn region(&self) -> Aabb {
        self.region
    }

    fn kink(&self) -> Option<Kink> {
        Some(Kink::Box(self.region))
    }

    fn index_deviation(&self, p: DVec3, background: f64) -> (f64, DVec3) {
        if self.region.contains(p) {
            (self.n0 + self.gradient.dot(p) - background, self.gradient)
        } else {
            (0.0, DVec3::ZERO)
        }
    }

    fn curvature(&self, cell: &Aabb, background: f64) -> CurvatureTerms {
        if !self.region.overlaps(cell) {
            return CurvatureTerms::default();
        }
        // The linear index's lowest value over the cell: at a corner.
        let low_corner = cell
            .corners()
            .into_iter()
            .map(|c| self.n0 + self.gradient.dot(c))
            .fold(f64::MAX, f64::min);
        CurvatureTerms {
            gradient: self.gradient.length(),
            low: (low_corner - background).min(0.0),
            mass: 0.0,
        }
    }

    fn validate(&self, at: &At<'_>, _background: f64) -> Result<(), SceneError> {
        at.positive("n0", self.n0)?;
        at.vec("gradient", self.gradient)?;
        at.vec("region.min", self.region.min)?;
        at.vec("region.max", self.region.max)?;
        if !self.region.min.cmplt(self.region.max).all() {
            return Err(at.fail("region", self.region, "min must be below max on every axis"));
        }
        // The index must stay positive over the whole box.
        let lowest = self
            .region
            .corners()
            .into_iter()
            .map(|p| self.n0 + self.gradient.dot(p))
            .fold(f64::MAX, f64::min);
        if lowest <= 0.0 {
            return Err(at.fail(
                "gradient",
                self.gradient,
                "makes the index reach 0 or below inside the region",
            ));
        }
        Ok(())
    }

    fn gpu(&self, _scalars: &mut Vec<f32>) -> GpuField {
        // linear.wgsl: p0 = (gradient, n0), p1 = region min, p2 = region max.
        let mut g = block(0);
        g.p0 = v4(self.gradient, self.n0);
        g.p1 = v4(self.region.min, 0.0);
        g.p2 = v4(self.region.max, 0.0);
        g
    }

    #[cfg(test)]
    fn examples() -> Vec<Self> {
        vec![LinearGradient {
            n0: 1.0,
            gradient: DVec3::new(0.0, 0.1, 0.02),
            region: Aabb::around(DVec3::ZERO, 2.0),
        }]
    }
}
