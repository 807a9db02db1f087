//! Maxwell's fish-eye: n = n0 / (1 + (r/R)^2), which images every point onto its
//! antipode through the centre; cut off at an extent beyond which the background
//! continues it.

use glam::DVec3;
use serde::{Deserialize, Serialize};

use super::{Aabb, Kink, At, CurvatureTerms, Primitive, block, check_extent, grin_terms, v4};
use crate::gpu::layout::GpuField;
use crate::scene::SceneError;

/// Maxwell fish-eye: n = n0 / (1 + (r/R)^2), up to radius `extent`, beyond which the
/// index is continued by the background.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaxwellFishEye {
    /// Centre.
    pub centre: DVec3,
    /// Scale radius R.
    pub radius: f64,
    /// Index at the centre.
    pub n0: f64,
    /// Radius beyond which the lens has no gradient.
    pub extent: f64,
}

impl MaxwellFishEye {
    /// The index at the extent, which the deviation is measured from.
    fn edge(&self) -> f64 {
        self.n0 / (1.0 + self.extent * self.extent / (self.radius * self.radius))
    }
}

impl Primitive for MaxwellFishEye {
    fn centre(&self) -> Option<DVec3> {
        Some(self.centre)
    }

    fn translate(&mut self, by: DVec3) {
        self.centre += by;
    }

    fn region(&self) -> Aabb {
        Aabb::around(self.centre, self.extent)
    }

    fn kink(&self) -> Option<Kink> {
        Some(Kink::Sphere(self.centre, self.extent))
    }

    fn index_deviation(&self, p: DVec3, _background: f64) -> (f64, DVec3) {
        let Self {
            centre,
            radius,
            n0,
            extent,
        } = *self;
        let d = p - centre;
        let r2 = d.length_squared();
        if r2 >= extent * extent {
            return (0.0, DVec3::ZERO);
        }
        let q = 1.0 + r2 / (radius * radius);
        let n = n0 / q;
        (n - self.edge(), d * (-2.0 * n0 / (radius * radius * q * q)))
    }

    fn curvature(&self, cell: &Aabb, _background: f64) -> CurvatureTerms {
        let Self {
            centre,
            radius,
            n0,
            extent,
        } = *self;
        if !self.region().overlaps(cell) {
            return CurvatureTerms::default();
        }
        let (near, far) = cell.distance_range(centre);
        if near >= extent {
            return CurvatureTerms::default();
        }
        // |grad n| = 2 n0 u / (R (1+u^2)^2), maximal at u = 1/sqrt(3).
        let peak = 1.0 / 3f64.sqrt();
        let (un, uf) = (near / radius, far.min(extent) / radius);
        let u = if un > peak { un } else { uf.min(peak) };
        let gradient = 2.0 * n0 * u / (radius * (1.0 + u * u).powi(2));
        grin_terms(gradient, || {
            let n = |r: f64| n0 / (1.0 + (r / radius).powi(2));
            n(far.min(extent)) - n(extent)
        })
    }

    fn validate(&self, at: &At<'_>, _background: f64) -> Result<(), SceneError> {
        at.vec("centre", self.centre)?;
        at.positive("radius", self.radius)?;
        at.positive("n0", self.n0)?;
        at.positive("extent", self.extent)?;
        check_extent(at, self.extent)
    }

    fn gpu(&self, _scalars: &mut Vec<f32>) -> GpuField {
        // fisheye.wgsl: p0 = (centre, radius), p1 = (n0, extent, edge index).
        let mut g = block(0);
        g.p0 = v4(self.centre, self.radius);
        g.p1 = [self.n0 as f32, self.extent as f32, self.edge() as f32, 0.0];
        g
    }

    #[cfg(test)]
    fn examples() -> Vec<Self> {
        vec![
            MaxwellFishEye {
                centre: DVec3::ZERO,
                radius: 1.0,
                n0: 2.0,
                extent: 5.0,
            },
            MaxwellFishEye {
                centre: DVec3::new(0.0, 1.0, 0.0),
                radius: 0.5,
                n0: 1.5,
                extent: 1.5,
            },
        ]
    }
}
