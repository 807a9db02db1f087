//! A sampled 3D grid of index deviations (measured or simulated media), trilinear,
//! with the interpolant's exact gradient.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use glam::DVec3;
use serde::{Deserialize, Serialize};

use super::{Aabb, At, CurvatureTerms, Primitive, block, grin_terms, v4};
use crate::gpu::layout::GpuField;
use crate::scene::SceneError;

/// A sampled 3D grid of index deviations from the background, loaded from a RON file
/// (see [`SampledGrid`]); trilinear, with the interpolant's exact gradient.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grid {
    /// The grid file, relative to the scene file.
    pub file: PathBuf,
    /// The loaded samples (filled in by the scene loader; a host building a scene in
    /// code sets them).
    #[serde(skip)]
    pub grid: Option<Arc<SampledGrid>>,
}

impl Primitive for Grid {
    fn translate(&mut self, by: DVec3) {
        if let Some(g) = &mut self.grid {
            let g = Arc::make_mut(g);
            g.min += by;
            g.max += by;
        }
    }

    fn region(&self) -> Aabb {
        self.grid
            .as_ref()
            .map_or(Aabb::new(DVec3::ZERO, DVec3::ZERO), |g| {
                Aabb::new(g.min, g.max)
            })
    }

    fn index_deviation(&self, p: DVec3, _background: f64) -> (f64, DVec3) {
        self.grid
            .as_ref()
            .and_then(|g| g.sample(p))
            .unwrap_or((0.0, DVec3::ZERO))
    }

    fn curvature(&self, cell: &Aabb, _background: f64) -> CurvatureTerms {
        let Some(g) = self.grid.as_ref() else {
            return CurvatureTerms::default();
        };
        if !self.region().overlaps(cell) {
            return CurvatureTerms::default();
        }
        let (gradient, low) = g.bounds_over(cell);
        grin_terms(gradient, || low)
    }

    fn load(&mut self, at: &At<'_>, base: &Path) -> Result<(), SceneError> {
        let resolved = base.join(&self.file);
        let fail = |reason: String| SceneError::FieldFile {
            path: at.check.path().to_owned(),
            field: at.at("file"),
            resolved: resolved.clone(),
            reason,
        };
        let text = crate::input::read_text(&resolved, crate::input::FIELD_BYTES)
            .map_err(|e| fail(e.to_string()))?;
        let data: SampledGrid = ron::from_str(&text).map_err(|e| fail(e.to_string()))?;
        data.validate().map_err(|e| fail(e.to_string()))?;
        self.grid = Some(Arc::new(data));
        Ok(())
    }

    fn validate(&self, at: &At<'_>, background: f64) -> Result<(), SceneError> {
        let Some(g) = &self.grid else {
            return Err(at.fail(
                "file",
                &self.file,
                "a built scene's grid field must carry its data",
            ));
        };
        let low = g.values.iter().copied().fold(f64::MAX, f64::min);
        if background + low <= 0.0 {
            return Err(at.fail("file", low, "makes the index reach 0 or below"));
        }
        Ok(())
    }

    fn gpu(&self, scalars: &mut Vec<f32>) -> GpuField {
        // grid.wgsl: head = (kind, first value in scalars, dims x, dims y), head2.x =
        // dims z, p0 = spacing, p1 = min, p2 = max.
        let mut g = block(0);
        if let Some(s) = &self.grid {
            g.head[1] = scalars.len() as u32;
            scalars.extend(s.values.iter().map(|&v| v as f32));
            g.head[2] = s.dims[0] as u32;
            g.head[3] = s.dims[1] as u32;
            g.head2[0] = s.dims[2] as u32;
            g.p0 = v4(s.spacing(), 0.0);
            g.p1 = v4(s.min, 0.0);
            g.p2 = v4(s.max, 0.0);
        } else {
            // Never loaded: an empty box, no gradient anywhere.
            g.p1 = [1.0; 4];
            g.p2 = [0.0; 4];
        }
        g
    }

    fn data_bytes(&self) -> u64 {
        self.grid
            .as_ref()
            .map_or(0, |g| std::mem::size_of_val(g.values.as_slice()) as u64)
    }

    #[cfg(test)]
    fn examples() -> Vec<Self> {
        // Smooth samples over a box, coarse enough to have many cells' kinks.
        let dims = [6, 5, 7];
        let (min, max) = (DVec3::new(-1.0, -1.5, 0.0), DVec3::new(1.0, 0.5, 2.0));
        let mut values = Vec::new();
        for k in 0..dims[2] {
            for j in 0..dims[1] {
                for i in 0..dims[0] {
                    let x = (i * 7 + j * 3 + k * 5) as f64;
                    values.push(0.02 * (x * 0.37).sin());
                }
            }
        }
        vec![Grid {
            file: "example-grid.ron".into(),
            grid: Some(Arc::new(SampledGrid {
                dims,
                min,
                max,
                values,
            })),
        }]
    }
}

/// Samples of an index deviation on a regular grid: `dims` points per axis spanning
/// `min..max` (corners included), `values` in x-fastest order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampledGrid {
    /// Points per axis (each at least 2).
    pub dims: [usize; 3],
    /// Lower corner.
    pub min: DVec3,
    /// Upper corner.
    pub max: DVec3,
    /// `dims[0] * dims[1] * dims[2]` deviations, x fastest, then y, then z.
    pub values: Vec<f64>,
}

/// Why a sampled grid is unusable.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum GridError {
    /// An axis has fewer than 2 points.
    #[error("dims {dims:?}: every axis needs at least 2 points")]
    TooFewPoints {
        /// The dimensions.
        dims: [usize; 3],
    },
    /// The box is not finite or not ordered.
    #[error("min {min} must be finite and below max {max}")]
    Box {
        /// Lower corner.
        min: DVec3,
        /// Upper corner.
        max: DVec3,
    },
    /// The point count overflows.
    #[error("dims {dims:?}: {} points do not fit in memory", dims.iter().map(|&d| d as f64).product::<f64>())]
    TooLarge {
        /// The dimensions.
        dims: [usize; 3],
    },
    /// The values do not match the dimensions.
    #[error("{values} values for dims {dims:?} (need {need})")]
    ValueCount {
        /// Values given.
        values: usize,
        /// The dimensions.
        dims: [usize; 3],
        /// Values needed.
        need: usize,
    },
    /// A value is NaN or infinite.
    #[error("values[{index}] = {value} is not finite")]
    NotFinite {
        /// Its index.
        index: usize,
        /// The value.
        value: f64,
    },
}

impl SampledGrid {
    /// Checks the shape and values.
    ///
    /// # Errors
    /// The first problem found ([`GridError`]).
    pub fn validate(&self) -> Result<(), GridError> {
        if self.dims.iter().any(|&d| d < 2) {
            return Err(GridError::TooFewPoints { dims: self.dims });
        }
        if !(self.min.is_finite() && self.max.is_finite() && self.min.cmplt(self.max).all()) {
            return Err(GridError::Box {
                min: self.min,
                max: self.max,
            });
        }
        let Some(n) = self.dims[0]
            .checked_mul(self.dims[1])
            .and_then(|n| n.checked_mul(self.dims[2]))
        else {
            return Err(GridError::TooLarge { dims: self.dims });
        };
        if self.values.len() != n {
            return Err(GridError::ValueCount {
                values: self.values.len(),
                dims: self.dims,
                need: n,
            });
        }
        if let Some(i) = self.values.iter().position(|v| !v.is_finite()) {
            return Err(GridError::NotFinite {
                index: i,
                value: self.values[i],
            });
        }
        Ok(())
    }

    pub(crate) fn spacing(&self) -> DVec3 {
        (self.max - self.min)
            / DVec3::new(
                (self.dims[0] - 1) as f64,
                (self.dims[1] - 1) as f64,
                (self.dims[2] - 1) as f64,
            )
    }

    fn at(&self, i: usize, j: usize, k: usize) -> f64 {
        self.values[(k * self.dims[1] + j) * self.dims[0] + i]
    }

    /// Cell index and fractional position of `p` (clamped into the grid).
    fn locate(&self, p: DVec3) -> ([usize; 3], DVec3) {
        let f = (p - self.min) / self.spacing();
        let mut cell = [0usize; 3];
        let mut frac = DVec3::ZERO;
        for a in 0..3 {
            let c = (f[a].floor().max(0.0) as usize).min(self.dims[a] - 2);
            cell[a] = c;
            frac[a] = (f[a] - c as f64).clamp(0.0, 1.0);
        }
        (cell, frac)
    }

    /// Trilinear deviation and its gradient at `p`; `None` outside the grid.
    #[must_use]
    pub fn sample(&self, p: DVec3) -> Option<(f64, DVec3)> {
        if !Aabb::new(self.min, self.max).contains(p) {
            return None;
        }
        let ([i, j, k], t) = self.locate(p);
        let c = |di: usize, dj: usize, dk: usize| self.at(i + di, j + dj, k + dk);
        let lerp = |a: f64, b: f64, t: f64| a + (b - a) * t;
        let (c00, c10) = (
            lerp(c(0, 0, 0), c(1, 0, 0), t.x),
            lerp(c(0, 1, 0), c(1, 1, 0), t.x),
        );
        let (c01, c11) = (
            lerp(c(0, 0, 1), c(1, 0, 1), t.x),
            lerp(c(0, 1, 1), c(1, 1, 1), t.x),
        );
        let (c0, c1) = (lerp(c00, c10, t.y), lerp(c01, c11, t.y));
        let value = lerp(c0, c1, t.z);
        // Exact partial derivatives of the trilinear interpolant.
        let dx = {
            let e = |dj: usize, dk: usize| c(1, dj, dk) - c(0, dj, dk);
            lerp(
                lerp(e(0, 0), e(1, 0), t.y),
                lerp(e(0, 1), e(1, 1), t.y),
                t.z,
            )
        };
        let dy = {
            let e = |di: usize, dk: usize| c(di, 1, dk) - c(di, 0, dk);
            lerp(
                lerp(e(0, 0), e(1, 0), t.x),
                lerp(e(0, 1), e(1, 1), t.x),
                t.z,
            )
        };
        let dz = {
            let e = |di: usize, dj: usize| c(di, dj, 1) - c(di, dj, 0);
            lerp(
                lerp(e(0, 0), e(1, 0), t.x),
                lerp(e(0, 1), e(1, 1), t.x),
                t.y,
            )
        };
        Some((value, DVec3::new(dx, dy, dz) / self.spacing()))
    }

    /// Over the grid cells that `cell` overlaps: a bound on the interpolant's gradient
    /// (each partial derivative is an interpolation of edge differences, so at most
    /// their largest magnitude) and its lowest value (at most its lowest corner).
    #[must_use]
    pub fn bounds_over(&self, cell: &Aabb) -> (f64, f64) {
        let region = Aabb::new(self.min, self.max);
        if !region.overlaps(cell) {
            return (0.0, 0.0);
        }
        let (lo, _) = self.locate(cell.min.max(self.min));
        let (hi, _) = self.locate(cell.max.min(self.max));
        let h = self.spacing();
        let mut low = if region.contains(cell.min) && region.contains(cell.max) {
            f64::MAX
        } else {
            0.0
        };
        // Every sample point and every edge of the cells [lo, hi], each visited once
        // (a point is a corner of up to 8 of the cells, an edge a side of up to 4),
        // and each axis's largest difference divided by the spacing once: the same
        // maxima as cell by cell, at an eighth of the reads for a box over many cells.
        let mut d = DVec3::ZERO;
        for k in lo[2]..=hi[2] + 1 {
            for j in lo[1]..=hi[1] + 1 {
                for i in lo[0]..=hi[0] + 1 {
                    let v = self.at(i, j, k);
                    low = low.min(v);
                    if i <= hi[0] {
                        d.x = d.x.max((self.at(i + 1, j, k) - v).abs());
                    }
                    if j <= hi[1] {
                        d.y = d.y.max((self.at(i, j + 1, k) - v).abs());
                    }
                    if k <= hi[2] {
                        d.z = d.z.max((self.at(i, j, k + 1) - v).abs());
                    }
                }
            }
        }
        ((d / h).length(), low.min(0.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::field::Medium;
    use crate::field::tests::numeric_gradient;

    #[test]
    fn grid_trilinear_value_and_gradient() {
        // A grid sampling the linear function 0.1 x - 0.2 y + 0.05 z is exact.
        let dims = [4, 5, 3];
        let (min, max) = (DVec3::new(-1.0, -1.0, 0.0), DVec3::new(2.0, 3.0, 1.0));
        let f = |p: DVec3| 0.1 * p.x - 0.2 * p.y + 0.05 * p.z;
        let h = (max - min) / DVec3::new(3.0, 4.0, 2.0);
        let mut values = Vec::new();
        for k in 0..3 {
            for j in 0..5 {
                for i in 0..4 {
                    values.push(f(min + h * DVec3::new(i as f64, j as f64, k as f64)));
                }
            }
        }
        let g = SampledGrid {
            dims,
            min,
            max,
            values,
        };
        g.validate().unwrap();
        let p = DVec3::new(0.3, 1.7, 0.4);
        let (v, grad) = g.sample(p).unwrap();
        assert!((v - f(p)).abs() < 1e-12);
        assert!((grad - DVec3::new(0.1, -0.2, 0.05)).length() < 1e-12);
        assert!(g.sample(DVec3::splat(9.0)).is_none());
        let m = Medium::default().with(Grid {
            file: "g.ron".into(),
            grid: Some(Arc::new(g)),
        });
        assert!((numeric_gradient(&m, p) - DVec3::new(0.1, -0.2, 0.05)).length() < 1e-6);
    }
}
