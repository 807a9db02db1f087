//! Axis-aligned boxes: field regions, curvature-grid cells.

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
