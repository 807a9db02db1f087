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

impl LinearGradient {
    /// The lowest index over the region (at one of its corners: the index is linear).
    pub(crate) fn lowest_index(&self) -> f64 {
        self.region
            .corners()
            .into_iter()
            .map(|p| self.n0 + self.gradient.dot(p))
            .fold(f64::INFINITY, f64::min)
    }
}

impl Primitive for LinearGradient {
    fn translate(&mut self, by: DVec3) {
        // n0 + g.(x - by) = (n0 - g.by) + g.x
        self.n0 -= self.gradient.dot(by);
        self.region = Aabb::new(self.region.min + by, self.region.max + by);
    }

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
        let lowest = self.lowest_index();
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

/// A ray's exact path through an unbounded linear index n = n0 + G . x, in closed form.
///
/// With arc length `s` as the parameter the ray equation d(n t)/ds = grad n = G gives
/// the optical direction vector exactly: p(s) = p0 + G s, with |p| = n along the path.
/// Splitting p0 into its part along G (`w0`) and across it (length `q`, direction
/// `across`), w(s) = w0 + g s (g = |G|) and n(s) = sqrt(w^2 + q^2), and
/// dx/ds = p / |p| integrates to
///
/// - along G: (n(s) - n(0)) / g,
/// - across G: (q / g) (asinh(w(s) / q) - asinh(w0 / q)),
///
/// and the optical path to (1 / 2g) [w n + q^2 asinh(w / q)] between the ends: a
/// catenary in the plane of p0 and G (`../shared/reference/optics.md`). The
/// differences are taken in forms without cancellation, so the path stays exact as
/// g goes to 0 (a straight line) and through the turning point of a mirage (w = 0).
#[derive(Debug, Clone, Copy)]
pub(crate) struct LinearRay {
    x0: DVec3,
    p0: DVec3,
    gradient: DVec3,
    g: f64,
    along: DVec3,
    across: DVec3,
    q: f64,
    w0: f64,
    n0: f64,
}

/// Where a [`LinearRay`] is after an arc length.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct LinearPoint {
    /// Position.
    pub(crate) x: DVec3,
    /// Optical direction vector: |p| = n at `x`.
    pub(crate) p: DVec3,
    /// Optical path from the start.
    pub(crate) opl: f64,
}

impl LinearRay {
    /// The ray from `x0` with optical direction vector `p0` (|p0| the index at `x0`)
    /// in the gradient `gradient`; `None` where the gradient is too weak to bend it
    /// measurably (a straight line serves).
    pub(crate) fn new(x0: DVec3, p0: DVec3, gradient: DVec3) -> Option<Self> {
        let g = gradient.length();
        let n0 = p0.length();
        if g.is_nan() || g <= 1e-12 * n0.max(1e-300) || !n0.is_finite() || n0 <= 0.0 {
            return None;
        }
        let along = gradient / g;
        let w0 = p0.dot(along);
        let transverse = p0 - along * w0;
        let q = transverse.length();
        let across = if q > 0.0 {
            transverse / q
        } else {
            DVec3::ZERO
        };
        Some(Self {
            x0,
            p0,
            gradient,
            g,
            along,
            across,
            q,
            w0,
            n0,
        })
    }

    /// The point at arc length `s` from the start.
    pub(crate) fn at(&self, s: f64) -> LinearPoint {
        let (g, q, w0, n0) = (self.g, self.q, self.w0, self.n0);
        let w1 = w0 + g * s;
        // Not `hypot`: its overflow care costs more than the rest of this together.
        let n1 = (w1 * w1 + q * q).sqrt();
        // (n1 - n0) / g, as (w1^2 - w0^2) / (g (n1 + n0)).
        let a = s * (w0 + w1) / (n0 + n1);
        let same_side = w0 * w1 >= 0.0;
        // asinh(w1 / q) - asinh(w0 / q) = asinh(d).
        let d = if q == 0.0 {
            0.0
        } else if same_side {
            let den = w1 * n0 + w0 * n1;
            if den == 0.0 {
                0.0
            } else {
                g * s * (w0 + w1) / den
            }
        } else {
            (w1 * n0 - w0 * n1) / (q * q)
        };
        let angle = asinh(d);
        // [w n] between the ends, over 2g.
        let wn = if same_side {
            let den = w1 * n1 + w0 * n0;
            if den == 0.0 {
                0.0
            } else {
                s * (w0 + w1) * (w0 * w0 + w1 * w1 + q * q) / (2.0 * den)
            }
        } else {
            (w1 * n1 - w0 * n0) / (2.0 * g)
        };
        LinearPoint {
            x: self.x0 + self.along * a + self.across * (q * angle / g),
            p: self.p0 + self.gradient * s,
            opl: wn + q * q * angle / (2.0 * g),
        }
    }
}

/// asinh, cheaper than `f64::asinh` (which pays for `hypot`'s overflow care and a
/// `log1p` at every argument): a series where the argument is small (the usual case
/// here, about g times the arc length over n), else `log1p` of the cancellation-free
/// form. Within 2 ulp of `f64::asinh` (tested).
fn asinh(d: f64) -> f64 {
    let a = d.abs();
    if a < 1e-2 {
        // d - d^3/6 + 3 d^5/40 - 15 d^7/336; the next term is below 4e-20 d.
        let d2 = d * d;
        d * (1.0 + d2 * (-1.0 / 6.0 + d2 * (3.0 / 40.0 + d2 * (-15.0 / 336.0))))
    } else {
        (a + a * a / (1.0 + (1.0 + a * a).sqrt())).ln_1p().copysign(d)
    }
}

#[cfg(test)]
mod exact_ray {
    #[test]
    fn asinh_agrees_with_the_standard_library() {
        let mut worst = 0.0f64;
        for k in -4000..=4000 {
            for scale in [1e-9, 1e-5, 1e-3, 9e-3, 1.1e-2, 0.3, 10.0, 1e6] {
                let d = f64::from(k) / 4000.0 * scale;
                let (ours, std) = (super::asinh(d), d.asinh());
                let ulp = (std.abs() * f64::EPSILON).max(f64::MIN_POSITIVE);
                worst = worst.max((ours - std).abs() / ulp);
            }
        }
        assert!(worst <= 2.0, "{worst} ulp");
    }

    use super::*;

    #[test]
    fn the_mirage_catenary_of_the_reference() {
        // optics.md: n0 = 1, g = 0.1, y0 = 0, launched along x: y(5) = 1.276259652064.
        let ray = LinearRay::new(DVec3::ZERO, DVec3::X, DVec3::new(0.0, 0.1, 0.0)).unwrap();
        // x(s) = (n/g) asinh(g s / n): x = 5 at s = 10 sinh(0.5).
        let s = 10.0 * 0.5f64.sinh();
        let at = ray.at(s);
        assert!((at.x.x - 5.0).abs() < 1e-12, "{:?}", at.x);
        assert!((at.x.y - 1.276_259_652_064).abs() < 1e-11, "{:?}", at.x);
        // |p| is the index where the ray is.
        assert!((at.p.length() - (1.0 + 0.1 * at.x.y)).abs() < 1e-12);
    }

    /// The closed form against a fine Dormand-Prince-free reference: the ray equation
    /// dx/ds = p/|p|, dp/ds = G, dopl/ds = |p| integrated by RK4 with 20,000 steps.
    fn reference(x0: DVec3, p0: DVec3, grad: DVec3, s: f64) -> (DVec3, DVec3, f64) {
        let steps = 20_000;
        let h = s / f64::from(steps);
        let f = |p: DVec3| (p / p.length(), grad, p.length());
        let (mut x, mut opl) = (x0, 0.0);
        for k in 0..steps {
            // p is linear in s: set, not summed, so the reference's own rounding
            // stays below the closed form's.
            let p = p0 + grad * (f64::from(k) * h);
            let k1 = f(p);
            let k2 = f(p + k1.1 * (h / 2.0));
            let k3 = f(p + k2.1 * (h / 2.0));
            let k4 = f(p + k3.1 * h);
            x += (k1.0 + k2.0 * 2.0 + k3.0 * 2.0 + k4.0) * (h / 6.0);
            opl += (k1.2 + 2.0 * k2.2 + 2.0 * k3.2 + k4.2) * (h / 6.0);
        }
        (x, p0 + grad * s, opl)
    }

    #[test]
    fn agrees_with_integrating_the_ray_equation_in_every_regime() {
        let grad = DVec3::new(0.01, 0.2, -0.03);
        let cases = [
            // Climbing, descending through a turning point, along and against the
            // gradient, nearly straight, and a very weak gradient.
            (DVec3::new(1.0, 0.3, 0.2), 3.0, grad),
            (DVec3::new(1.0, -0.4, 0.0), 8.0, grad),
            (grad, 2.0, grad),
            (-grad, 1.5, grad),
            (DVec3::new(0.0, 0.0, 1.0), 4.0, grad * 1e-7),
        ];
        for (dir, s, grad) in cases {
            let x0 = DVec3::new(0.5, 1.0, -0.25);
            let n = 1.5 + grad.dot(x0);
            let p0 = dir.normalize() * n;
            let ray = LinearRay::new(x0, p0, grad).unwrap();
            let at = ray.at(s);
            let (x, p, opl) = reference(x0, p0, grad, s);
            assert!((at.x - x).length() < 1e-10, "{dir}: {} vs {x}", at.x);
            assert!((at.p - p).length() < 1e-12, "{dir}: {} vs {p}", at.p);
            assert!((at.opl - opl).abs() < 1e-10, "{dir}: {} vs {opl}", at.opl);
            // The invariant: |p| is the index at the point.
            let n_at = 1.5 + grad.dot(at.x);
            assert!((at.p.length() - n_at).abs() < 1e-10, "{dir}");
        }
    }
}
