//! Rays through a Kerr hole's region: Hamilton's equations of its null geodesics
//! (see [`crate::field::Spacetime`]) integrated by Dormand-Prince 5(4) in the affine
//! parameter, with steps bounded by the chord tolerance (from the curvature bound),
//! ended on the equatorial plane (so disk crossings and the image order are exact)
//! and on a stop surface, capture just outside the outer horizon, and the constants
//! of motion monitored.

use glam::DVec3;
use serde::Serialize;

use super::{
    DP_A, DP_E, Integrator, Passage, RayCone, Segment, State, StopSurface, Termination, Verdict,
    Walk, step_factor,
};
use crate::field::kerr_curvature_bound as curvature_bound;
use crate::field::{Constants, DiskProfile, Drift, Frame, Kerr, Root, Spacetime};

/// Disk crossings a ray records (an optically thin disk may be crossed more often;
/// later crossings are dropped, their weight being at most (1 - opacity)^4).
pub const DISK_CROSSINGS: usize = 4;

/// Where a ray crossed the accretion disk.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct DiskCrossing {
    /// Scene position.
    pub position: DVec3,
    /// Boyer-Lindquist radius.
    pub r: f64,
    /// The photon's energy measured by the disk's gas there, -k.u_gas, in the ray's
    /// normalisation: the frequency ratio to an observer is that observer's energy
    /// over this.
    pub energy: f64,
    /// Its weight: the opacity times what earlier crossings let through.
    pub weight: f64,
    /// Equatorial crossings before this one (0: the primary image).
    pub order: u32,
}

/// What a ray met of a Kerr hole.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct KerrTrace {
    /// p_t, the photon's energy at infinity in the ray's normalisation (the
    /// contravariant spatial momentum is the unit start direction; 1 for a ray that
    /// starts outside the hole's region).
    pub energy: f64,
    /// Times the ray crossed the equatorial plane.
    pub crossings: u32,
    /// The disk crossings, in order (the first `disk_count`).
    pub disk: [DiskCrossing; DISK_CROSSINGS],
    /// How many of `disk` are set.
    pub disk_count: u32,
    /// What the disk lets through of the light behind it (1 without crossings).
    pub transmittance: f64,
    /// The constants of motion where the ray entered the region.
    pub start: Option<Constants>,
    /// Their largest relative drift along the ray.
    pub drift: Drift,
}

impl KerrTrace {
    /// The first disk crossing, if any.
    #[must_use]
    pub fn first_disk(&self) -> Option<&DiskCrossing> {
        (self.disk_count > 0).then_some(&self.disk[0])
    }
}

/// A Kerr hole as the integrator uses it.
#[derive(Debug, Clone)]
pub(crate) struct Hole {
    pub(crate) frame: Frame,
    pub(crate) st: Spacetime,
    pub(crate) extent: f64,
    /// Capture radius: just outside r+ (a backward ray only approaches the future
    /// horizon, its momentum growing without bound).
    capture: f64,
    disk: Option<DiskModel>,
}

/// The disk's emission.
#[derive(Debug, Clone)]
pub(crate) struct DiskModel {
    inner: f64,
    outer: f64,
    /// Whether the gas turns in +phi.
    plus_phi: bool,
    opacity: f64,
    profile: DiskProfile,
    temperature: f64,
    /// Novikov-Thorne flux's largest value over the disk.
    flux_max: f64,
    /// The luminance of the hottest gas seen unshifted.
    brightness: f64,
    st: Spacetime,
}

impl Hole {
    pub(crate) fn new(k: &Kerr) -> Self {
        let st = k.spacetime();
        let disk = k.disk.map(|d| {
            let plus_phi = (k.spin >= 0.0) != d.retrograde;
            let inner = k.disk_inner().unwrap_or(st.isco(!d.retrograde));
            let mut m = DiskModel {
                inner,
                outer: d.outer,
                plus_phi,
                opacity: d.opacity,
                profile: d.profile,
                temperature: d.temperature,
                flux_max: 1.0,
                brightness: d.brightness,
                st,
            };
            if let DiskProfile::NovikovThorne = d.profile {
                // The ISCO of the gas's orbits: prograde unless the disk is
                // retrograde (whatever the sign of the spin).
                let isco = st.isco(!d.retrograde);
                m.flux_max = (0..=2000)
                    .map(|i| {
                        let r = inner + (d.outer - inner) * f64::from(i) / 2000.0;
                        novikov_thorne(&st, isco, r, plus_phi)
                    })
                    .fold(0.0, f64::max)
                    .max(f64::MIN_POSITIVE);
            }
            m
        });
        Self {
            frame: k.frame(),
            st,
            extent: k.extent,
            capture: st.horizon() * (1.0 + 1e-4),
            disk,
        }
    }

    /// The disk as the shaders read it: inner and outer radii, the gas's sense (+1:
    /// +phi), opacity, temperature, the Novikov-Thorne flux's largest value,
    /// brightness, profile (0: Novikov-Thorne, 1: power law), its q, and the ISCO
    /// of the gas's orbits (where the Novikov-Thorne flux starts).
    pub(crate) fn gpu_disk(&self) -> Option<[f64; 10]> {
        let d = self.disk.as_ref()?;
        let (profile, q) = match d.profile {
            DiskProfile::NovikovThorne => (0.0, 0.0),
            DiskProfile::PowerLaw(q) => (1.0, q),
        };
        Some([
            d.inner,
            d.outer,
            if d.plus_phi { 1.0 } else { -1.0 },
            d.opacity,
            d.temperature,
            d.flux_max,
            d.brightness,
            profile,
            q,
            d.isco(),
        ])
    }

    /// The capture radius.
    pub(crate) fn capture(&self) -> f64 {
        self.capture
    }

    /// Whether scene point `p` is in the region.
    pub(crate) fn contains(&self, p: DVec3) -> bool {
        (p - self.frame.centre).length_squared() < self.extent * self.extent
    }

    /// A ray's record at its start: its energy normalisation (see
    /// [`KerrTrace::energy`]).
    pub(crate) fn launch(&self, origin: DVec3, direction: DVec3, root: Root) -> KerrTrace {
        let energy = if self.contains(origin) {
            let x = self.frame.to_local(origin);
            let d = self.frame.vector_to_local(direction.normalize_or(DVec3::X));
            let root = if self.st.in_ergosphere(x) {
                root
            } else {
                Root::Near
            };
            self.st.momentum_root(x, d, root).map_or(1.0, |(pt, _)| pt)
        } else {
            1.0
        };
        KerrTrace {
            energy,
            crossings: 0,
            disk: [DiskCrossing::default(); DISK_CROSSINGS],
            disk_count: 0,
            transmittance: 1.0,
            start: None,
            drift: Drift::default(),
        }
    }

    /// One Dormand-Prince step of `h` from (`x`, `p`), given the derivative there:
    /// the 5th-order result, the error norm (position, and momentum relative to its
    /// size) and the derivative at the result (the last stage: the next step's
    /// first, FSAL).
    fn dp_step(
        &self,
        x: DVec3,
        p: DVec3,
        pt: f64,
        h: f64,
        k0: (DVec3, DVec3),
    ) -> (DVec3, DVec3, f64, (DVec3, DVec3)) {
        let mut k = [(DVec3::ZERO, DVec3::ZERO); 7];
        k[0] = k0;
        let (mut x5, mut p5) = (x, p);
        for (i, row) in DP_A.iter().enumerate() {
            let (mut xs, mut ps) = (x, p);
            for (j, &aij) in row.iter().enumerate().take(i + 1) {
                if aij != 0.0 {
                    xs += k[j].0 * (aij * h);
                    ps += k[j].1 * (aij * h);
                }
            }
            k[i + 1] = self.st.derivative(xs, ps, pt);
            if i == 5 {
                (x5, p5) = (xs, ps);
            }
        }
        let (mut ex, mut ep) = (DVec3::ZERO, DVec3::ZERO);
        for (j, kj) in k.iter().enumerate() {
            if DP_E[j] != 0.0 {
                ex += kj.0 * (DP_E[j] * h);
                ep += kj.1 * (DP_E[j] * h);
            }
        }
        let err = ex.length().max(ep.length() / p5.length().max(1e-300));
        (x5, p5, err, k[6])
    }

    /// Where the path from (`x`, `p`) first makes `side` change sign, knowing it has
    /// by `h`: the step length and state just past it (on `h`'s side), by the
    /// secant method safeguarded with bisection, re-integrating from the start.
    fn crossing(
        &self,
        x: DVec3,
        p: DVec3,
        pt: f64,
        h: f64,
        k0: (DVec3, DVec3),
        side: impl Fn(DVec3) -> f64,
    ) -> (f64, DVec3, DVec3) {
        let (mut lo, mut hi) = (0.0, h);
        let (x1, p1, _, _) = self.dp_step(x, p, pt, h, k0);
        let (mut f_lo, mut f_hi) = (side(x), side(x1));
        let mut best = (h, x1, p1);
        for i in 0..80 {
            let secant = hi - f_hi * (hi - lo) / (f_hi - f_lo);
            let t = if i % 3 == 2 || !secant.is_finite() {
                0.5 * (lo + hi)
            } else {
                secant.clamp(lo + 1e-3 * (hi - lo), hi - 1e-3 * (hi - lo))
            };
            let (xt, pt_, _, _) = self.dp_step(x, p, pt, t, k0);
            let f = side(xt);
            if (f < 0.0) == (f_lo < 0.0) && f != 0.0 {
                lo = t;
                f_lo = f;
            } else {
                hi = t;
                f_hi = f;
                best = (t, xt, pt_);
            }
            if f_hi.abs() < 1e-13 * (1.0 + xt.length()) || hi - lo <= 1e-15 * h {
                break;
            }
        }
        best
    }

    /// The disk's radiance for a crossing seen by an observer who measures the
    /// photon's energy as `observed` (in the ray's normalisation), times the
    /// crossing's weight. With g = observed / the crossing's energy: the bolometric
    /// intensity is g^4 times the emitted one (sigma T(r)^4 / pi, from the flux
    /// profile), and the colour that of a blackbody at g T(r) (I_nu / nu^3 is
    /// invariant, so a blackbody's spectrum arrives as one at g T); the hottest
    /// gas seen unshifted has luminance `brightness`.
    pub(crate) fn disk_radiance(&self, c: &DiskCrossing, observed: f64) -> [f64; 3] {
        let Some(d) = &self.disk else {
            return [0.0; 3];
        };
        let g = observed / c.energy;
        if !(g.is_finite() && g > 0.0) {
            return [0.0; 3];
        }
        let t = d.temperature_at(c.r);
        let rgb = blackbody_rgb(t * g);
        if rgb[3] <= 0.0 {
            return [0.0; 3];
        }
        let intensity = d.brightness * (g * t / d.temperature).powi(4) * c.weight;
        [0, 1, 2].map(|i| rgb[i] / rgb[3] * intensity)
    }
}

impl DiskModel {
    /// The ISCO of the gas's orbits: prograde unless they turn against the spin.
    fn isco(&self) -> f64 {
        self.st.isco((self.st.a >= 0.0) == self.plus_phi)
    }

    /// The gas's temperature at `r`.
    fn temperature_at(&self, r: f64) -> f64 {
        match self.profile {
            DiskProfile::NovikovThorne => {
                let f = novikov_thorne(&self.st, self.isco(), r, self.plus_phi);
                self.temperature * (f / self.flux_max).max(0.0).powf(0.25)
            }
            DiskProfile::PowerLaw(q) => self.temperature * (r / self.inner).powf(-q / 4.0),
        }
    }
}

/// How far a step's path strays from its chord `chord`, from the cubic Hermite
/// interpolant of its ends (the tangents times the step, `t0` and `t1`): the cubic's
/// offset from the chord is s(1-s) ((1-s) t0' - s t1') with ' the part across the
/// chord, at most max(|t0'|, |t1'|) / 4; a quarter more for the path's higher
/// terms (exact to first order on a circular arc).
fn chord_deviation(chord: DVec3, t0: DVec3, t1: DVec3) -> f64 {
    let len2 = chord.length_squared();
    if len2 == 0.0 {
        return t0.length().max(t1.length()) * 0.25;
    }
    let across = |t: DVec3| (t - chord * (t.dot(chord) / len2)).length();
    1.25 * 0.25 * across(t0).max(across(t1))
}

/// Novikov-Thorne flux at `r` (units of 3 Mdot / (8 pi M^2); zero at and inside
/// the ISCO), by Page and Thorne's closed form with x = sqrt(r / M) and the roots of
/// x^3 - 3x + 2a* = 0 (a* = a / M, negated for orbits in -phi).
pub(crate) fn novikov_thorne(st: &Spacetime, isco: f64, r: f64, plus_phi: bool) -> f64 {
    if r <= isco {
        return 0.0;
    }
    let m = st.m;
    let astar = if plus_phi { st.a / m } else { -st.a / m };
    let (x, x0) = ((r / m).sqrt(), (isco / m).sqrt());
    let th = astar.acos();
    let pi = std::f64::consts::PI;
    let x1 = 2.0 * ((th - pi) / 3.0).cos();
    let x2 = 2.0 * ((th + pi) / 3.0).cos();
    let x3 = -2.0 * (th / 3.0).cos();
    let term = |xi: f64, xj: f64, xk: f64| {
        3.0 * (xi - astar).powi(2) / (xi * (xi - xj) * (xi - xk)) * ((x - xi) / (x0 - xi)).ln()
    };
    let bracket = x
        - x0
        - 1.5 * astar * (x / x0).ln()
        - term(x1, x2, x3)
        - term(x2, x1, x3)
        - term(x3, x1, x2);
    bracket / (x.powi(4) * (x.powi(3) - 3.0 * x + 2.0 * astar)) / (m * m)
}

/// Linear sRGB of a blackbody at `t` kelvin (Planck's law against the CIE 1931
/// colour matching functions, in the multi-lobe fit of Wyman, Sloan and Shirley 2013,
/// from 360 to 830 nm), and its Y, in arbitrary but consistent units: the radiance
/// of one temperature over another's is right.
pub(crate) fn blackbody_rgb(t: f64) -> [f64; 4] {
    if !(t.is_finite() && t > 0.0) {
        return [0.0; 4];
    }
    let (mut x, mut y, mut z) = (0.0, 0.0, 0.0);
    // Planck in units where 2hc^2 = 1, lambda in micrometres: second radiation
    // constant hc/k = 14387.77 um K.
    for &(um, um5, [wx, wy, wz]) in WAVELENGTHS.iter() {
        let e = 14387.77 / (um * t);
        let b = if e > 700.0 {
            0.0
        } else {
            1.0 / (um5 * e.exp_m1())
        };
        x += b * wx;
        y += b * wy;
        z += b * wz;
    }
    let r = 3.2406 * x - 1.5372 * y - 0.4986 * z;
    let g = -0.9689 * x + 1.8758 * y + 0.0415 * z;
    let b = 0.0557 * x - 0.2040 * y + 1.0570 * z;
    [r.max(0.0), g.max(0.0), b.max(0.0), y]
}

/// [`blackbody_rgb`]'s wavelengths, 360 to 830 nm by 5: lambda in micrometres, its
/// fifth power, and the colour matching functions there. Made once: every disk
/// crossing of every sample asks for a colour, and the eight exponentials of the
/// fit per wavelength were most of its cost.
pub(crate) static WAVELENGTHS: std::sync::LazyLock<[(f64, f64, [f64; 3]); 95]> =
    std::sync::LazyLock::new(|| {
        let lobe = |l: f64, mu: f64, s1: f64, s2: f64| {
            let s = if l < mu { s1 } else { s2 };
            (-0.5 * ((l - mu) / s).powi(2)).exp()
        };
        std::array::from_fn(|i| {
            let l = 360.0 + 5.0 * i as f64;
            let um = l * 1e-3;
            (
                um,
                um.powi(5),
                [
                    1.056 * lobe(l, 599.8, 37.9, 31.0) + 0.362 * lobe(l, 442.0, 16.0, 26.7)
                        - 0.065 * lobe(l, 501.1, 20.4, 26.2),
                    0.821 * lobe(l, 568.8, 46.9, 40.5) + 0.286 * lobe(l, 530.9, 16.3, 31.1),
                    1.217 * lobe(l, 437.0, 11.8, 36.0) + 0.681 * lobe(l, 459.0, 26.0, 13.8),
                ],
            )
        })
    });

impl Integrator {
    /// The hole's disk radiance for crossing `c`, seen by an observer measuring the
    /// photon's energy `observed` (see [`DiskCrossing::energy`]).
    #[must_use]
    pub fn disk_radiance(&self, c: &DiskCrossing, observed: f64) -> [f64; 3] {
        self.kerr
            .as_ref()
            .map_or([0.0; 3], |h| h.disk_radiance(c, observed))
    }

    /// The photon energy that a static observer at the ray's `origin` measures for a
    /// ray leaving along `direction`, in the ray's normalisation (1 outside a Kerr
    /// hole's region; inside its ergosphere, where no observer is static, the
    /// zero-angular-momentum observer's).
    #[must_use]
    pub fn static_energy(&self, origin: DVec3, direction: DVec3) -> f64 {
        let Some(h) = self.kerr.as_ref().filter(|h| h.contains(origin)) else {
            return 1.0;
        };
        let x = h.frame.to_local(origin);
        let d = h.frame.vector_to_local(direction.normalize_or(DVec3::X));
        let Some((pt, p)) = h.st.momentum(x, d) else {
            return 1.0;
        };
        let u = h.st.static_observer(x).or_else(|| h.st.zamo(x));
        u.map_or(1.0, |(ut, us)| ut * pt + us.dot(p))
    }

    /// Carries a ray across a Kerr hole's region along its null geodesic, emitting
    /// chords to `emit` as the Runge-Kutta path does, recording equatorial and disk
    /// crossings in `trace`. Ends on leaving the region, at capture, an opaque disk,
    /// a hit, `stop` or the step budget.
    #[allow(clippy::too_many_arguments)]
    #[inline(never)]
    pub(super) fn kerr_passage<E: FnMut(Segment, &mut u32) -> Verdict>(
        &self,
        hole: &Hole,
        trace: &mut KerrTrace,
        s: &mut State,
        root: Root,
        stop: Option<StopSurface>,
        cone: RayCone,
        rk: f64,
        relaxed: bool,
        walk: &mut Walk,
        emit: &mut E,
    ) -> Passage {
        let (st, fr) = (hole.st, hole.frame);
        let mut x = fr.to_local(s.x);
        let d = fr.vector_to_local(s.p.normalize_or(DVec3::X));
        // The launch's root applies where the ray starts in the ergosphere (a later
        // entry is from outside the region, far outside the ergosphere, where there
        // is one).
        let root = if trace.start.is_none() && st.in_ergosphere(x) {
            root
        } else {
            Root::Near
        };
        let Some((pt0, p0)) = st.momentum_root(x, d, root) else {
            return Passage::Ended(Termination::Captured);
        };
        let pt = trace.energy;
        let scale = pt / pt0;
        let mut p = p0
            * if scale.is_finite() && scale > 0.0 {
                scale
            } else {
                1.0
            };
        let pt = if scale.is_finite() && scale > 0.0 {
            pt
        } else {
            pt0
        };
        let start = *trace.start.get_or_insert_with(|| st.constants(x, p, pt));
        let n = self.medium.background;
        let direction = |x: DVec3, p: DVec3| {
            fr.vector_to_world(st.derivative(x, p, pt).0)
                .normalize_or(DVec3::X)
        };
        // The constants' drift, taken where the passage ends (it grows along the
        // ray) and at each disk crossing.
        let drift = |trace: &mut KerrTrace, x: DVec3, p: DVec3| {
            trace.drift = trace
                .drift
                .worst(&st.constants(x, p, pt).drift(&start, &st));
        };
        let mut h = f64::INFINITY;
        let mut cap = f64::INFINITY;
        let e2 = hole.extent * hole.extent;
        // The derivative at (x, p), when the last step left it (FSAL).
        let mut here: Option<(DVec3, DVec3)> = None;
        loop {
            let r = st.radius(x);
            if walk.steps >= self.tol.max_steps {
                drift(trace, x, p);
                s.p = direction(x, p) * n;
                return Passage::Ended(Termination::StepBudget);
            }
            if r <= hole.capture {
                drift(trace, x, p);
                s.p = direction(x, p) * n;
                return Passage::Ended(Termination::Captured);
            }
            let k0 = *here.get_or_insert_with(|| st.derivative(x, p, pt));
            let speed = k0.0.length().max(1e-300);
            if x.length_squared() >= e2 && k0.0.dot(x) >= 0.0 {
                drift(trace, x, p);
                s.p = fr.vector_to_world(k0.0).normalize_or(DVec3::X) * n;
                return Passage::Left;
            }
            let geometric = self
                .tol
                .geometric
                .max(RayCone::GEOMETRIC_FRACTION * cone.width_at(walk.travelled));
            if !h.is_finite() {
                h = 0.05 * r / speed;
            }
            let mut h_try = h.min(cap).min(0.5 * x.length() / speed);
            let reach = h_try * speed;
            let around = DVec3::splat(2.0 * reach);
            let free = relaxed && !self.geometry_near(s.x - around, s.x + around);
            let kappa = curvature_bound(&st, r - reach);
            if !free {
                h_try = h_try.min((8.0 * geometric / kappa).sqrt() / speed);
            }
            walk.steps += 1;
            let (x1, p1, err, k1) = hole.dp_step(x, p, pt, h_try, k0);
            let v1 = k1.0;
            if err > rk && h_try * speed > 1e-12 * (1.0 + r) {
                h = h_try * (0.9 * step_factor(rk / err)).max(0.1);
                cap = f64::INFINITY;
                continue;
            }
            // The step ends early where it crosses the equatorial plane or the stop
            // surface, just past it.
            let mut end = (h_try, x1, p1);
            let mut v_end = v1;
            let mut equator = false;
            let mut stopped = false;
            if x.z != 0.0 && x.z * x1.z < 0.0 {
                end = hole.crossing(x, p, pt, h_try, k0, |y| y.z);
                equator = true;
            }
            if let Some(surface) = stop {
                let side = |y: DVec3| surface.side(fr.to_world(y));
                let (a, b) = (side(x), side(end.1));
                if a != 0.0 && a * b <= 0.0 {
                    end = hole.crossing(x, p, pt, end.0, k0, side);
                    stopped = true;
                    equator = false;
                }
            }
            if equator || stopped {
                v_end = st.derivative(end.1, end.2, pt).0;
            }
            let world = fr.to_world(end.1);
            let len = (world - s.x).length();
            let deviation = chord_deviation(end.1 - x, k0.0 * end.0, v_end * end.0) + err;
            if !free && deviation > 2.0 * geometric && !equator && !stopped && len > 1e-9 {
                // The curvature bound predicts steps well away from the horizon;
                // near it the path twists faster: shorter, down to the tolerance.
                cap = 0.5 * h_try;
                continue;
            }
            let seg = Segment {
                start: s.x,
                end: world,
                deviation,
                index: walk.segments,
            };
            match emit(seg, &mut walk.segments) {
                Verdict::Hit => {
                    s.x = world;
                    s.opl += n * len;
                    drift(trace, end.1, end.2);
                    s.p = direction(end.1, end.2) * n;
                    return Passage::Ended(Termination::Hit);
                }
                Verdict::Uncertain if h_try * speed > 1e-9 && walk.subdivide() => {
                    cap = 0.25 * h_try;
                    continue;
                }
                _ => {}
            }
            walk.travelled += len;
            s.opl += n * len;
            s.x = world;
            (x, p) = (end.1, end.2);
            here = (!equator && !stopped).then_some(k1);
            if stopped {
                drift(trace, x, p);
                s.p = direction(x, p) * n;
                return Passage::Ended(Termination::Stopped);
            }
            if equator {
                let order = trace.crossings;
                trace.crossings += 1;
                if let Some(d) = &hole.disk {
                    let rc = st.radius(x);
                    if rc >= d.inner && rc <= d.outer {
                        if let Some(ut) = st.kepler_ut(rc, d.plus_phi) {
                            let omega = st.kepler_omega(rc, d.plus_phi);
                            let lz = x.x * p.y - x.y * p.x;
                            let c = DiskCrossing {
                                position: world,
                                r: rc,
                                energy: ut * (pt + omega * lz),
                                weight: trace.transmittance * d.opacity,
                                order,
                            };
                            drift(trace, x, p);
                            let i = trace.disk_count as usize;
                            if i < DISK_CROSSINGS {
                                trace.disk[i] = c;
                                trace.disk_count += 1;
                            }
                            trace.transmittance *= 1.0 - d.opacity;
                            if trace.transmittance <= 0.0 {
                                s.p = direction(x, p) * n;
                                return Passage::Ended(Termination::Disk);
                            }
                        }
                    }
                }
            }
            h = if err > 0.0 {
                end.0 * (0.9 * step_factor(rk / err)).clamp(0.2, 5.0)
            } else {
                end.0 * 5.0
            };
            cap = f64::INFINITY;
        }
    }
}

#[cfg(test)]
mod tests;
