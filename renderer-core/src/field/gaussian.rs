//! A Gaussian bump of index: heat haze and hot air (negative amplitude).

use glam::DVec3;
use serde::{Deserialize, Serialize};

use super::{Aabb, Kink, At, CurvatureTerms, Primitive, block, grin_terms, v4};
use crate::gpu::layout::GpuField;
use crate::scene::SceneError;

/// A Gaussian bump of index (heat haze): amplitude * exp(-r^2 / (2 sigma^2)), cut off
/// at 4 sigma.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GaussianBlob {
    /// Centre.
    pub centre: DVec3,
    /// Width.
    pub sigma: f64,
    /// Peak index deviation (may be negative: hot air).
    pub amplitude: f64,
}

impl Primitive for GaussianBlob {
    fn centre(&self) -> Option<DVec3> {
        Some(self.centre)
    }

    fn translate(&mut self, by: DVec3) {
        self.centre += by;
    }

    fn region(&self) -> Aabb {
        Aabb::around(self.centre, 4.0 * self.sigma)
    }

    fn kink(&self) -> Option<Kink> {
        // Cut off at 4 sigma, where the index steps by e^-8 of the amplitude.
        Some(Kink::Sphere(self.centre, 4.0 * self.sigma))
    }

    fn index_deviation(&self, p: DVec3, _background: f64) -> (f64, DVec3) {
        let Self {
            centre,
            sigma,
            amplitude,
        } = *self;
        let d = p - centre;
        let r2 = d.length_squared();
        if r2 >= 16.0 * sigma * sigma {
            return (0.0, DVec3::ZERO);
        }
        let g = amplitude * (-r2 / (2.0 * sigma * sigma)).exp();
        (g, d * (-g / (sigma * sigma)))
    }

    fn curvature(&self, cell: &Aabb, _background: f64) -> CurvatureTerms {
        let Self {
            centre,
            sigma,
            amplitude,
        } = *self;
        if !self.region().overlaps(cell) {
            return CurvatureTerms::default();
        }
        let (near, far) = cell.distance_range(centre);
        // |grad| = |A| r/s^2 exp(-r^2/2s^2), maximal at r = s.
        let r = if near > sigma { near } else { far.min(sigma) };
        let gradient =
            amplitude.abs() * r / (sigma * sigma) * (-r * r / (2.0 * sigma * sigma)).exp();
        grin_terms(gradient, || {
            if amplitude < 0.0 {
                amplitude * (-near * near / (2.0 * sigma * sigma)).exp()
            } else if far >= 4.0 * sigma {
                0.0
            } else {
                amplitude * (-far * far / (2.0 * sigma * sigma)).exp()
            }
        })
    }

    fn validate(&self, at: &At<'_>, background: f64) -> Result<(), SceneError> {
        at.vec("centre", self.centre)?;
        at.positive("sigma", self.sigma)?;
        at.finite("amplitude", self.amplitude)?;
        if background + self.amplitude.min(0.0) <= 0.0 {
            return Err(at.fail(
                "amplitude",
                self.amplitude,
                "makes the index reach 0 or below",
            ));
        }
        Ok(())
    }

    fn gpu(&self, _scalars: &mut Vec<f32>) -> GpuField {
        // gaussian.wgsl: p0 = (centre, sigma), p1.x = amplitude.
        let mut g = block(0);
        g.p0 = v4(self.centre, self.sigma);
        g.p1[0] = self.amplitude as f32;
        g
    }

    #[cfg(test)]
    fn examples() -> Vec<Self> {
        vec![
            GaussianBlob {
                centre: DVec3::ONE,
                sigma: 0.7,
                amplitude: -0.05,
            },
            GaussianBlob {
                centre: DVec3::new(1.0, 0.0, 0.0),
                sigma: 0.3,
                amplitude: 0.1,
            },
        ]
    }
}
