//! Fields: what bends light. Gradient-index (GRIN) primitives give a refractive index
//! n(x) and its gradient; Schwarzschild masses give the null-geodesic acceleration.
//!
//! Each primitive knows its *region*: the box outside which it has no gradient. GRIN
//! primitives add their deviations from the background index; masses add their
//! accelerations. Each also gives an analytic, conservative bound on ray curvature over
//! any box, which the [`CurvatureGrid`](crate::curvature::CurvatureGrid) is built from.

use std::path::PathBuf;
use std::sync::Arc;

use glam::DVec3;
use serde::{Deserialize, Serialize};

/// An axis-aligned box.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Aabb {
    /// Lower corner.
    pub min: DVec3,
    /// Upper corner.
    pub max: DVec3,
}

impl Aabb {
    /// The box with corners `min` and `max`.
    #[must_use]
    pub fn new(min: DVec3, max: DVec3) -> Self {
        Self { min, max }
    }

    /// The cube of half-size `r` around `c`.
    #[must_use]
    pub fn around(c: DVec3, r: f64) -> Self {
        Self::new(c - DVec3::splat(r), c + DVec3::splat(r))
    }

    /// The smallest box holding both.
    #[must_use]
    pub fn union(&self, o: &Self) -> Self {
        Self::new(self.min.min(o.min), self.max.max(o.max))
    }

    /// The eight corners.
    #[must_use]
    pub fn corners(&self) -> [DVec3; 8] {
        std::array::from_fn(|k| {
            DVec3::select(
                glam::BVec3::new(k & 1 != 0, k & 2 != 0, k & 4 != 0),
                self.max,
                self.min,
            )
        })
    }

    /// Whether `p` is inside (boundary included).
    #[must_use]
    pub fn contains(&self, p: DVec3) -> bool {
        p.cmpge(self.min).all() && p.cmple(self.max).all()
    }

    /// Whether the boxes overlap.
    #[must_use]
    pub fn overlaps(&self, o: &Self) -> bool {
        self.min.cmple(o.max).all() && o.min.cmple(self.max).all()
    }

    /// Nearest and farthest distance from `p` to any point of the box.
    #[must_use]
    pub fn distance_range(&self, p: DVec3) -> (f64, f64) {
        let near = (self.min - p).max(p - self.max).max(DVec3::ZERO).length();
        let far = (p - self.min).abs().max((self.max - p).abs()).length();
        (near, far)
    }

    /// Entry and exit parameters of the ray `o + t d` (slab test), if it meets the box
    /// at some t >= 0.
    #[must_use]
    pub fn ray_interval(&self, o: DVec3, d: DVec3) -> Option<(f64, f64)> {
        let (mut tmin, mut tmax) = (0.0f64, f64::INFINITY);
        for axis in 0..3 {
            let (lo, hi, oa, da) = (self.min[axis], self.max[axis], o[axis], d[axis]);
            if da == 0.0 {
                // Parallel to this slab: inside it for all t, or never.
                if oa < lo || oa > hi {
                    return None;
                }
                continue;
            }
            let (t0, t1) = ((lo - oa) / da, (hi - oa) / da);
            tmin = tmin.max(t0.min(t1));
            tmax = tmax.min(t0.max(t1));
        }
        (tmin <= tmax).then_some((tmin, tmax))
    }
}

/// One field primitive, as written in a scene file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum FieldKind {
    /// n = `n0 + gradient . x` inside `region` (the mirage when the gradient is
    /// vertical).
    LinearGradient {
        /// Index at the origin.
        n0: f64,
        /// dn/dx.
        gradient: DVec3,
        /// Where the gradient applies.
        region: Aabb,
    },
    /// Luneburg lens: n = sqrt(2 - (r/R)^2) inside radius R, 1 outside.
    Luneburg {
        /// Centre.
        centre: DVec3,
        /// Radius R.
        radius: f64,
    },
    /// Maxwell fish-eye: n = n0 / (1 + (r/R)^2), up to radius `extent`, beyond which
    /// the index is continued by the background.
    MaxwellFishEye {
        /// Centre.
        centre: DVec3,
        /// Scale radius R.
        radius: f64,
        /// Index at the centre.
        n0: f64,
        /// Radius beyond which the lens has no gradient.
        extent: f64,
    },
    /// A Gaussian bump of index (heat haze): amplitude * exp(-r^2 / (2 sigma^2)),
    /// cut off at 4 sigma.
    GaussianBlob {
        /// Centre.
        centre: DVec3,
        /// Width.
        sigma: f64,
        /// Peak index deviation (may be negative: hot air).
        amplitude: f64,
    },
    /// A sampled 3D grid of index deviations from the background, loaded from a RON
    /// file (see [`SampledGrid`]); trilinear, with the interpolant's exact gradient.
    Grid {
        /// The grid file, relative to the scene file.
        file: PathBuf,
        /// The loaded samples (filled in by the scene loader).
        #[serde(skip)]
        grid: Option<Arc<SampledGrid>>,
    },
    /// A Schwarzschild mass with Schwarzschild radius r_s (= 2M), bending rays along
    /// null geodesics within `extent` of its centre.
    Schwarzschild {
        /// Centre.
        centre: DVec3,
        /// Schwarzschild radius.
        rs: f64,
        /// Radius of influence: outside it rays are straight.
        extent: f64,
    },
}

impl FieldKind {
    /// The box outside which this primitive has no gradient.
    #[must_use]
    pub fn region(&self) -> Aabb {
        match *self {
            Self::LinearGradient { region, .. } => region,
            Self::Luneburg { centre, radius } => Aabb::around(centre, radius),
            Self::MaxwellFishEye { centre, extent, .. } => Aabb::around(centre, extent),
            Self::GaussianBlob { centre, sigma, .. } => Aabb::around(centre, 4.0 * sigma),
            Self::Schwarzschild { centre, extent, .. } => Aabb::around(centre, extent),
            Self::Grid { ref grid, .. } => grid
                .as_ref()
                .map_or(Aabb::new(DVec3::ZERO, DVec3::ZERO), |g| {
                    Aabb::new(g.min, g.max)
                }),
        }
    }

    /// Whether this is a mass (as opposed to a GRIN primitive).
    #[must_use]
    pub fn is_mass(&self) -> bool {
        matches!(self, Self::Schwarzschild { .. })
    }

    /// The index deviation from the background and its gradient at `p` (zero for
    /// masses).
    #[must_use]
    pub fn index_deviation(&self, p: DVec3, background: f64) -> (f64, DVec3) {
        match *self {
            Self::LinearGradient {
                n0,
                gradient,
                region,
            } => {
                if region.contains(p) {
                    (n0 + gradient.dot(p) - background, gradient)
                } else {
                    (0.0, DVec3::ZERO)
                }
            }
            Self::Luneburg { centre, radius } => {
                let d = p - centre;
                let u2 = d.length_squared() / (radius * radius);
                if u2 >= 1.0 {
                    return (0.0, DVec3::ZERO);
                }
                let n = (2.0 - u2).sqrt();
                (n - 1.0, -d / (radius * radius * n))
            }
            Self::MaxwellFishEye {
                centre,
                radius,
                n0,
                extent,
            } => {
                let d = p - centre;
                let r2 = d.length_squared();
                if r2 >= extent * extent {
                    return (0.0, DVec3::ZERO);
                }
                let q = 1.0 + r2 / (radius * radius);
                let n = n0 / q;
                let edge = n0 / (1.0 + extent * extent / (radius * radius));
                (n - edge, d * (-2.0 * n0 / (radius * radius * q * q)))
            }
            Self::GaussianBlob {
                centre,
                sigma,
                amplitude,
            } => {
                let d = p - centre;
                let r2 = d.length_squared();
                if r2 >= 16.0 * sigma * sigma {
                    return (0.0, DVec3::ZERO);
                }
                let g = amplitude * (-r2 / (2.0 * sigma * sigma)).exp();
                (g, d * (-g / (sigma * sigma)))
            }
            Self::Schwarzschild { .. } => (0.0, DVec3::ZERO),
            Self::Grid { ref grid, .. } => grid
                .as_ref()
                .and_then(|g| g.sample(p))
                .unwrap_or((0.0, DVec3::ZERO)),
        }
    }

    /// Geodesic acceleration at `p` for a ray with (unnormalised) direction `v`:
    /// -1.5 r_s h^2 x / r^5 with h = |x cross v| (zero for GRIN primitives and outside
    /// the extent).
    #[must_use]
    pub fn acceleration(&self, p: DVec3, v: DVec3) -> DVec3 {
        match *self {
            Self::Schwarzschild { centre, rs, extent } => {
                let x = p - centre;
                let r2 = x.length_squared();
                if r2 >= extent * extent {
                    return DVec3::ZERO;
                }
                let h2 = x.cross(v).length_squared();
                let r5 = r2 * r2 * r2.sqrt();
                x * (-1.5 * rs * h2 / r5)
            }
            _ => DVec3::ZERO,
        }
    }

    /// An upper bound on the gradient's magnitude over `cell`, from the primitive's
    /// analytic form (never from samples).
    #[must_use]
    fn gradient_bound(&self, cell: &Aabb) -> f64 {
        if !self.region().overlaps(cell) {
            return 0.0;
        }
        match *self {
            Self::LinearGradient { gradient, .. } => gradient.length(),
            Self::Luneburg { centre, radius } => {
                let (near, far) = cell.distance_range(centre);
                if near >= radius {
                    return 0.0;
                }
                // |grad n| = (r/R^2)/sqrt(2 - (r/R)^2) grows with r: take r = min(far, R).
                let r = far.min(radius);
                let u2 = (r / radius).powi(2);
                (r / (radius * radius)) / (2.0 - u2).sqrt()
            }
            Self::MaxwellFishEye {
                centre,
                radius,
                n0,
                extent,
            } => {
                let (near, far) = cell.distance_range(centre);
                if near >= extent {
                    return 0.0;
                }
                // |grad n| = 2 n0 u / (R (1+u^2)^2), maximal at u = 1/sqrt(3).
                let peak = 1.0 / 3f64.sqrt();
                let (un, uf) = (near / radius, far.min(extent) / radius);
                let u = if un > peak { un } else { uf.min(peak) };
                2.0 * n0 * u / (radius * (1.0 + u * u).powi(2))
            }
            Self::GaussianBlob {
                centre,
                sigma,
                amplitude,
            } => {
                let (near, far) = cell.distance_range(centre);
                // |grad| = |A| r/s^2 exp(-r^2/2s^2), maximal at r = s.
                let r = if near > sigma { near } else { far.min(sigma) };
                amplitude.abs() * r / (sigma * sigma) * (-r * r / (2.0 * sigma * sigma)).exp()
            }
            Self::Schwarzschild { .. } => 0.0,
            Self::Grid { ref grid, .. } => grid.as_ref().map_or(0.0, |g| g.bounds_over(cell).0),
        }
    }
}

/// All the fields of a scene: a background index, GRIN primitives and masses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Medium {
    /// Index where no primitive applies.
    pub background: f64,
    /// The primitives.
    pub fields: Vec<FieldKind>,
}

impl Default for Medium {
    fn default() -> Self {
        Self {
            background: 1.0,
            fields: Vec::new(),
        }
    }
}

impl Medium {
    /// A medium of uniform index `n` with no primitives.
    #[must_use]
    pub fn uniform(n: f64) -> Self {
        Self {
            background: n,
            fields: Vec::new(),
        }
    }

    /// Adds a primitive.
    #[must_use]
    pub fn with(mut self, field: FieldKind) -> Self {
        self.fields.push(field);
        self
    }

    /// Whether there are masses.
    #[must_use]
    pub fn has_masses(&self) -> bool {
        self.fields.iter().any(FieldKind::is_mass)
    }

    /// Refractive index and its gradient at `p`.
    #[must_use]
    pub fn index(&self, p: DVec3) -> (f64, DVec3) {
        self.fields
            .iter()
            .fold((self.background, DVec3::ZERO), |(n, g), f| {
                let (dn, dg) = f.index_deviation(p, self.background);
                (n + dn, g + dg)
            })
    }

    /// Summed geodesic acceleration of all masses.
    #[must_use]
    pub fn acceleration(&self, p: DVec3, v: DVec3) -> DVec3 {
        self.fields.iter().map(|f| f.acceleration(p, v)).sum()
    }

    /// The smallest box that holds every primitive's region (`None`: nothing bends).
    #[must_use]
    pub fn bounds(&self) -> Option<Aabb> {
        self.fields
            .iter()
            .map(FieldKind::region)
            .reduce(|a, b| a.union(&b))
    }

    /// A conservative upper bound on ray curvature (1/length) anywhere in `cell`.
    ///
    /// GRIN: curvature = |grad n perpendicular to the ray| / n <= |grad n| / n, with
    /// |grad n| bounded by the sum of the primitives' bounds and n from below by the
    /// background minus their deviations. Mass: the geodesic acceleration over |v|^2 is
    /// at most 1.5 r_s / r^2 (since h <= r |v|), with r the nearest distance to the cell.
    #[must_use]
    pub fn curvature_bound(&self, cell: &Aabb) -> f64 {
        let mut grad = 0.0;
        let mut low = 0.0;
        let mut mass = 0.0;
        for f in &self.fields {
            if let FieldKind::Schwarzschild { centre, rs, extent } = *f {
                let (near, _) = cell.distance_range(centre);
                if near < extent {
                    mass += 1.5 * rs / near.max(rs).powi(2);
                }
            } else if let FieldKind::LinearGradient {
                n0,
                gradient,
                region,
            } = *f
            {
                if region.overlaps(cell) {
                    grad += gradient.length();
                    // The linear index's lowest value over the cell: at a corner.
                    let low_corner = cell
                        .corners()
                        .into_iter()
                        .map(|c| n0 + gradient.dot(c))
                        .fold(f64::MAX, f64::min);
                    low += (low_corner - self.background).min(0.0);
                }
            } else {
                let g = f.gradient_bound(cell);
                grad += g;
                if g > 0.0 {
                    low += deviation_low(f, cell);
                }
            }
        }
        let n_min = (self.background + low).max(1e-3);
        grad / n_min + mass
    }
}

/// The lowest index deviation a GRIN primitive takes anywhere in `cell` (for the
/// lower bound on n), from its analytic form.
fn deviation_low(f: &FieldKind, cell: &Aabb) -> f64 {
    match *f {
        FieldKind::Luneburg { centre, radius } => {
            // n - 1 decreases outwards to 0 at r = R.
            let (_, far) = cell.distance_range(centre);
            (2.0 - (far.min(radius) / radius).powi(2)).sqrt() - 1.0
        }
        FieldKind::MaxwellFishEye {
            centre,
            radius,
            n0,
            extent,
        } => {
            let (_, far) = cell.distance_range(centre);
            let n = |r: f64| n0 / (1.0 + (r / radius).powi(2));
            n(far.min(extent)) - n(extent)
        }
        FieldKind::GaussianBlob {
            centre,
            sigma,
            amplitude,
        } => {
            let (near, far) = cell.distance_range(centre);
            if amplitude < 0.0 {
                amplitude * (-near * near / (2.0 * sigma * sigma)).exp()
            } else if far >= 4.0 * sigma {
                0.0
            } else {
                amplitude * (-far * far / (2.0 * sigma * sigma)).exp()
            }
        }
        FieldKind::Grid { ref grid, .. } => grid.as_ref().map_or(0.0, |g| g.bounds_over(cell).1),
        _ => 0.0,
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

    fn spacing(&self) -> DVec3 {
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
        let (mut g, mut low) = (
            DVec3::ZERO,
            if region.contains(cell.min) && region.contains(cell.max) {
                f64::MAX
            } else {
                0.0
            },
        );
        for k in lo[2]..=hi[2] {
            for j in lo[1]..=hi[1] {
                for i in lo[0]..=hi[0] {
                    for (di, dj, dk) in (0..8).map(|c| (c & 1, (c >> 1) & 1, (c >> 2) & 1)) {
                        let v = self.at(i + di, j + dj, k + dk);
                        low = low.min(v);
                        if di == 0 {
                            g.x = g.x.max((self.at(i + 1, j + dj, k + dk) - v).abs() / h.x);
                        }
                        if dj == 0 {
                            g.y = g.y.max((self.at(i + di, j + 1, k + dk) - v).abs() / h.y);
                        }
                        if dk == 0 {
                            g.z = g.z.max((self.at(i + di, j + dj, k + 1) - v).abs() / h.z);
                        }
                    }
                }
            }
        }
        (g.length(), low.min(0.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numeric_gradient(m: &Medium, p: DVec3) -> DVec3 {
        let e = 1e-6;
        let f = |d: DVec3| m.index(p + d).0;
        DVec3::new(
            (f(DVec3::X * e) - f(-DVec3::X * e)) / (2.0 * e),
            (f(DVec3::Y * e) - f(-DVec3::Y * e)) / (2.0 * e),
            (f(DVec3::Z * e) - f(-DVec3::Z * e)) / (2.0 * e),
        )
    }

    #[test]
    fn analytic_gradients_match_finite_differences() {
        let fields = [
            FieldKind::Luneburg {
                centre: DVec3::new(0.1, 0.2, 0.3),
                radius: 1.5,
            },
            FieldKind::MaxwellFishEye {
                centre: DVec3::ZERO,
                radius: 1.0,
                n0: 2.0,
                extent: 5.0,
            },
            FieldKind::GaussianBlob {
                centre: DVec3::ONE,
                sigma: 0.7,
                amplitude: -0.05,
            },
            FieldKind::LinearGradient {
                n0: 1.0,
                gradient: DVec3::new(0.0, 0.1, 0.02),
                region: Aabb::around(DVec3::ZERO, 10.0),
            },
        ];
        for f in fields {
            let m = Medium::default().with(f.clone());
            for p in [DVec3::new(0.3, -0.2, 0.5), DVec3::new(1.1, 0.9, 0.7)] {
                let (_, g) = m.index(p);
                assert!(
                    (g - numeric_gradient(&m, p)).length() < 1e-6,
                    "{f:?} at {p}"
                );
            }
        }
    }

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
        let m = Medium::default().with(FieldKind::Grid {
            file: "g.ron".into(),
            grid: Some(Arc::new(g)),
        });
        assert!((numeric_gradient(&m, p) - DVec3::new(0.1, -0.2, 0.05)).length() < 1e-6);
    }

    #[test]
    fn curvature_bound_is_conservative_over_samples() {
        // Sampled |grad n|/n never exceeds the cell's analytic bound.
        let m = Medium::default()
            .with(FieldKind::Luneburg {
                centre: DVec3::ZERO,
                radius: 1.0,
            })
            .with(FieldKind::GaussianBlob {
                centre: DVec3::new(1.0, 0.0, 0.0),
                sigma: 0.3,
                amplitude: -0.1,
            })
            .with(FieldKind::MaxwellFishEye {
                centre: DVec3::new(0.0, 1.0, 0.0),
                radius: 0.5,
                n0: 1.5,
                extent: 1.5,
            });
        let mut seed = 12345u64;
        let mut rnd = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 11) as f64 / (1u64 << 53) as f64
        };
        for _ in 0..200 {
            let c = DVec3::new(rnd() * 3.0 - 1.5, rnd() * 3.0 - 1.5, rnd() * 3.0 - 1.5);
            let cell = Aabb::around(c, 0.1);
            let bound = m.curvature_bound(&cell);
            for _ in 0..20 {
                let p = cell.min + (cell.max - cell.min) * DVec3::new(rnd(), rnd(), rnd());
                let (n, g) = m.index(p);
                assert!(
                    g.length() / n <= bound * (1.0 + 1e-9) + 1e-12,
                    "{p} {bound}"
                );
            }
        }
    }
}
