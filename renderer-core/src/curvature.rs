//! The curvature-bound grid: a coarse 3D grid over the GRIN primitives' regions with,
//! per cell, a conservative upper bound on ray curvature, computed from each
//! primitive's analytic bound (never from samples alone). Each cell stores the
//! maximum over itself and its 26 neighbours, so a step no longer than one cell
//! never leaves the cells its bound covers.
//!
//! Masses are bounded analytically at the ray's position instead (1.5 r_s / r^2 at the
//! nearest distance the step can reach), since their curvature varies over many
//! orders of magnitude that a uniform grid cannot follow.

use std::sync::{Arc, Mutex, PoisonError};

use glam::DVec3;

use crate::field::{Aabb, Medium};

/// Per-cell curvature bounds over the GRIN regions.
#[derive(Debug, Clone)]
pub(crate) struct CurvatureGrid {
    bounds: Aabb,
    dims: [usize; 3],
    cell: DVec3,
    kappa: Vec<f64>,
}

impl CurvatureGrid {
    /// Cells along the longest axis of the grids the renderer builds.
    pub(crate) const RESOLUTION: usize = 32;

    /// Builds the grid with about `resolution` cells along the longest axis; `None`
    /// when the medium has no GRIN primitive.
    #[must_use]
    pub(crate) fn build(medium: &Medium, resolution: usize) -> Option<Self> {
        let grin_only = medium.grin_only();
        let bounds = grin_only.bounds()?;
        let size = bounds.max - bounds.min;
        let longest = size.max_element().max(1e-12);
        let dims = [size.x, size.y, size.z].map(|s| {
            ((s / longest * resolution as f64).ceil() as usize).clamp(1, resolution.max(1))
        });
        let cell = size / DVec3::new(dims[0] as f64, dims[1] as f64, dims[2] as f64);
        let idx = |i: usize, j: usize, k: usize| (k * dims[1] + j) * dims[0] + i;
        let mut raw = vec![0.0; dims[0] * dims[1] * dims[2]];
        for k in 0..dims[2] {
            for j in 0..dims[1] {
                for i in 0..dims[0] {
                    let lo = bounds.min + cell * DVec3::new(i as f64, j as f64, k as f64);
                    raw[idx(i, j, k)] = grin_only.curvature_bound(&Aabb::new(lo, lo + cell));
                }
            }
        }
        let mut kappa = raw.clone();
        for k in 0..dims[2] {
            for j in 0..dims[1] {
                for i in 0..dims[0] {
                    let mut m: f64 = 0.0;
                    for dk in k.saturating_sub(1)..=(k + 1).min(dims[2] - 1) {
                        for dj in j.saturating_sub(1)..=(j + 1).min(dims[1] - 1) {
                            for di in i.saturating_sub(1)..=(i + 1).min(dims[0] - 1) {
                                m = m.max(raw[idx(di, dj, dk)]);
                            }
                        }
                    }
                    kappa[idx(i, j, k)] = m;
                }
            }
        }
        Some(Self {
            bounds,
            dims,
            cell,
            kappa,
        })
    }

    /// The box the grid covers.
    #[must_use]
    pub(crate) fn bounds(&self) -> Aabb {
        self.bounds
    }

    /// The smallest cell edge.
    #[must_use]
    pub(crate) fn cell_size(&self) -> f64 {
        self.cell.min_element()
    }

    /// The index of cell `[i, j, k]` in `kappa` (x fastest).
    fn index(&self, [i, j, k]: [usize; 3]) -> usize {
        (k * self.dims[1] + j) * self.dims[0] + i
    }

    fn cell_of(&self, p: DVec3) -> Option<[usize; 3]> {
        if !self.bounds.contains(p) {
            return None;
        }
        let f = (p - self.bounds.min) / self.cell;
        Some([0, 1, 2].map(|a| (f[a] as usize).min(self.dims[a] - 1)))
    }

    /// The curvature bound for a step of at most one cell from `p` (0 outside the grid).
    #[must_use]
    pub(crate) fn kappa_at(&self, p: DVec3) -> f64 {
        self.cell_of(p).map_or(0.0, |c| self.kappa[self.index(c)])
    }

    /// How far a straight ray from `p` along unit `d` can go through zero-curvature
    /// cells: the distance to the first cell with curvature, or `None` if it leaves the
    /// grid without meeting one. Returns `Some(0.0)` when `p`'s own cell has curvature.
    #[must_use]
    pub(crate) fn straight_run(&self, p: DVec3, d: DVec3) -> Option<f64> {
        let (t_in, t_out) = self.bounds.ray_interval(p, d)?;
        let t0 = t_in.max(0.0);
        if t0 > t_out {
            return None;
        }
        // An incremental 3D DDA (Amanatides and Woo): per axis, the t of the next
        // cell face and the t between faces, so a cell costs a compare and an add.
        let f = (p + d * t0 - self.bounds.min) / self.cell;
        let mut cell = [0usize; 3];
        let mut next = [f64::INFINITY; 3];
        let mut delta = [f64::INFINITY; 3];
        for a in 0..3 {
            let i = (f[a].max(0.0) as usize).min(self.dims[a] - 1);
            cell[a] = i;
            if d[a] != 0.0 {
                let face = if d[a] > 0.0 { i + 1 } else { i };
                let at = self.bounds.min[a] + self.cell[a] * face as f64;
                next[a] = ((at - p[a]) / d[a]).max(t0);
                delta[a] = self.cell[a] / d[a].abs();
            }
        }
        let mut t = t0;
        loop {
            if self.kappa[self.index(cell)] > 0.0 {
                return Some(t);
            }
            let a = if next[0] <= next[1] && next[0] <= next[2] {
                0
            } else if next[1] <= next[2] {
                1
            } else {
                2
            };
            t = next[a];
            if t > t_out {
                return None;
            }
            if d[a] > 0.0 {
                cell[a] += 1;
                if cell[a] >= self.dims[a] {
                    return None;
                }
            } else {
                if cell[a] == 0 {
                    return None;
                }
                cell[a] -= 1;
            }
            next[a] += delta[a];
        }
    }
}

/// Stage 2's cache: the curvature-bound grid of the last medium seen, reused while
/// the fields are unchanged (a host that only moves objects never rebuilds it).
#[derive(Debug, Default)]
pub(crate) struct FieldCache {
    last: Mutex<Option<(Medium, Option<Arc<CurvatureGrid>>)>>,
}

impl FieldCache {
    /// The grid of `medium` and whether it came from the cache.
    pub(crate) fn get(&self, medium: &Medium) -> (Option<Arc<CurvatureGrid>>, bool) {
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((m, grid)) = last.as_ref() {
            if m == medium {
                return (grid.clone(), true);
            }
        }
        let grid = CurvatureGrid::build(medium, CurvatureGrid::RESOLUTION).map(Arc::new);
        *last = Some((medium.clone(), grid.clone()));
        (grid, false)
    }
}

impl CurvatureGrid {
    /// Cells per axis.
    pub(crate) fn dims(&self) -> [usize; 3] {
        self.dims
    }

    /// Cell size per axis.
    pub(crate) fn cell(&self) -> DVec3 {
        self.cell
    }

    /// Per-cell bounds, x fastest.
    pub(crate) fn kappa(&self) -> &[f64] {
        &self.kappa
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::field::{FieldKind, Luneburg};
    use crate::rng::Sampler;

    fn lens() -> Medium {
        Medium::default().with(FieldKind::Luneburg(Luneburg {
            centre: DVec3::new(0.5, -0.25, 0.0),
            radius: 1.0,
        }))
    }

    #[test]
    fn the_grid_bounds_the_curvature_of_every_ray_in_it() {
        // A ray's curvature in a GRIN medium is |grad n x d| / n <= |grad n| / n.
        let medium = lens();
        let grid = CurvatureGrid::build(&medium, CurvatureGrid::RESOLUTION).unwrap();
        let b = grid.bounds();
        let mut rng = Sampler::new(0, 0, 0, 5);
        let mut curved = 0;
        for _ in 0..4000 {
            let u = DVec3::new(rng.next_f64(), rng.next_f64(), rng.next_f64());
            let p = b.min + (b.max - b.min) * u;
            let (n, g) = medium.index(p);
            let kappa = g.length() / n;
            curved += usize::from(kappa > 0.0);
            assert!(
                grid.kappa_at(p) >= kappa,
                "at {p}: grid {} < {kappa}",
                grid.kappa_at(p)
            );
        }
        assert!(curved > 1000, "only {curved} curved points: a weak test");
        // Outside its box the grid claims nothing.
        assert_eq!(grid.kappa_at(b.max + DVec3::ONE), 0.0);
    }

    #[test]
    fn a_straight_run_ends_where_the_lens_begins() {
        let grid = CurvatureGrid::build(&lens(), CurvatureGrid::RESOLUTION).unwrap();
        // Along the axis through the centre: the sphere (and its box) starts at
        // x = -0.5, 4.5 from the start; the index has a gradient right at the surface.
        let run = grid
            .straight_run(DVec3::new(-5.0, -0.25, 0.0), DVec3::X)
            .unwrap();
        assert!((run - 4.5).abs() < 1e-6, "{run}");
        // A ray that passes beside the box never bends.
        assert_eq!(
            grid.straight_run(DVec3::new(-5.0, 3.0, 0.0), DVec3::X),
            None
        );
        // Inside a curved cell the run is zero.
        assert_eq!(
            grid.straight_run(DVec3::new(0.2, -0.25, 0.1), DVec3::Y),
            Some(0.0)
        );
    }

    #[test]
    fn the_field_cache_rebuilds_only_for_another_medium() {
        let cache = FieldCache::default();
        let (a, cached) = cache.get(&lens());
        assert!(!cached);
        let (b, cached) = cache.get(&lens());
        assert!(cached && Arc::ptr_eq(a.as_ref().unwrap(), b.as_ref().unwrap()));
        let (none, cached) = cache.get(&Medium::uniform(1.5));
        assert!(!cached && none.is_none(), "a uniform medium has no grid");
    }
}
