//! The Luneburg lens: n = sqrt(2 - (r/R)^2) inside radius R, 1 outside; it focuses
//! parallel light onto the opposite point of its surface.

use glam::DVec3;
use serde::{Deserialize, Serialize};

use super::{Aabb, Kink, At, CurvatureTerms, Primitive, block, grin_terms, v4};
use crate::gpu::layout::GpuField;
use crate::scene::SceneError;

/// Luneburg lens: n = sqrt(2 - (r/R)^2) inside radius R, 1 outside.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Luneburg {
    /// Centre.
    pub centre: DVec3,
    /// Radius R.
    pub radius: f64,
}

impl Primitive for Luneburg {
    fn centre(&self) -> Option<DVec3> {
        Some(self.centre)
    }

    fn translate(&mut self, by: DVec3) {
        self.centre += by;
    }

    fn region(&self) -> Aabb {
        Aabb::around(self.centre, self.radius)
    }

    fn kink(&self) -> Option<Kink> {
        // n = sqrt(2 - u^2) meets the background 1 at u = 1 with |grad n| = 1/R.
        Some(Kink::Sphere(self.centre, self.radius))
    }

    fn index_deviation(&self, p: DVec3, _background: f64) -> (f64, DVec3) {
        let (centre, radius) = (self.centre, self.radius);
        let d = p - centre;
        let u2 = d.length_squared() / (radius * radius);
        if u2 >= 1.0 {
            return (0.0, DVec3::ZERO);
        }
        let n = (2.0 - u2).sqrt();
        (n - 1.0, -d / (radius * radius * n))
    }

    fn curvature(&self, cell: &Aabb, _background: f64) -> CurvatureTerms {
        let (centre, radius) = (self.centre, self.radius);
        if !self.region().overlaps(cell) {
            return CurvatureTerms::default();
        }
        let (near, far) = cell.distance_range(centre);
        if near >= radius {
            return CurvatureTerms::default();
        }
        // |grad n| = (r/R^2)/sqrt(2 - (r/R)^2) grows with r: take r = min(far, R).
        let r = far.min(radius);
        let u2 = (r / radius).powi(2);
        let gradient = (r / (radius * radius)) / (2.0 - u2).sqrt();
        // n - 1 decreases outwards to 0 at r = R.
        grin_terms(gradient, || {
            (2.0 - (far.min(radius) / radius).powi(2)).sqrt() - 1.0
        })
    }

    fn validate(&self, at: &At<'_>, _background: f64) -> Result<(), SceneError> {
        at.vec("centre", self.centre)?;
        at.positive("radius", self.radius)?;
        Ok(())
    }

    fn gpu(&self, _scalars: &mut Vec<f32>) -> GpuField {
        // luneburg.wgsl: p0 = (centre, radius).
        let mut g = block(0);
        g.p0 = v4(self.centre, self.radius);
        g
    }

    #[cfg(test)]
    fn examples() -> Vec<Self> {
        vec![Luneburg {
            centre: DVec3::new(0.1, 0.2, 0.3),
            radius: 1.5,
        }]
    }
}
