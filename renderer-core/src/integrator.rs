//! The curved-ray integrator: a ray through a [`Medium`] becomes a chain of straight
//! segments.
//!
//! Inside a field the state (x, p) with p = n dx/ds follows the ray equation
//! dx/ds = p/n, dp/ds = grad n (+ the geodesic acceleration of masses), integrated by
//! Dormand-Prince 5(4) with an embedded error estimate. The step is also limited so that
//! the chord strays from the true path by at most the geometric tolerance:
//! deviation <= h^2 kappa / 8, with kappa from the curvature grid (GRIN) or the mass
//! bound. Invariants are re-imposed each step: |p| = n for GRIN, and for a mass the
//! angular momentum h and the orbit energy |v|^2/2 - r_s h^2 / (2 r^3).
//! Outside every field region a ray flies straight, to the next region or to infinity,
//! as one segment.

use glam::DVec3;
use serde::Serialize;

use crate::curvature::CurvatureGrid;
use crate::field::Medium;

/// Accuracy and budget settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize)]
pub struct Tolerances {
    /// Largest distance a chord may stray from the true path (scene units).
    pub geometric: f64,
    /// Local error allowed per Runge-Kutta step (position, and direction in radians).
    pub rk: f64,
    /// Steps before the ray gives up ([`Termination::StepBudget`]).
    pub max_steps: u32,
    /// Distance at which an escaping ray's last segment ends.
    pub far: f64,
    /// Soft-gate subdivisions allowed per ray (0 disables the soft gate).
    #[serde(default = "default_soft_gate")]
    pub soft_gate_attempts: u32,
}

fn default_soft_gate() -> u32 {
    64
}

/// What the consumer of a segment says about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing hit: go on.
    Continue,
    /// The segment hit something: the ray ends here.
    Hit,
    /// The chord missed but its deviation envelope overlaps geometry: redo this step
    /// with smaller steps (the soft gate), within the ray's attempt budget.
    Uncertain,
}

impl Default for Tolerances {
    fn default() -> Self {
        Self {
            geometric: 1e-4,
            rk: 1e-10,
            max_steps: 200_000,
            far: 1e7,
            soft_gate_attempts: default_soft_gate(),
        }
    }
}

/// One straight piece of a curved ray.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Segment {
    /// Start point.
    pub start: DVec3,
    /// End point.
    pub end: DVec3,
    /// Upper bound on how far the true path strays from this chord.
    pub deviation: f64,
    /// Index of the segment along its ray.
    pub index: u32,
}

impl Verdict {
    fn is_hit(self) -> bool {
        self == Self::Hit
    }

    /// Every verdict, in the order of their GPU codes (`VERDICT_*` in the shaders,
    /// generated from this list: a code is the index here).
    pub const ALL: [Self; 3] = [Self::Continue, Self::Hit, Self::Uncertain];

    /// The shaders' name of this verdict (`VERDICT_` + this).
    #[must_use]
    pub fn gpu_name(self) -> &'static str {
        match self {
            Self::Continue => "CONTINUE",
            Self::Hit => "HIT",
            Self::Uncertain => "UNCERTAIN",
        }
    }
}

impl Segment {
    /// Chord length.
    #[must_use]
    pub fn length(&self) -> f64 {
        (self.end - self.start).length()
    }
}

/// Where to stop tracing, besides the ray's own end.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize)]
pub enum StopSurface {
    /// Stop where the ray crosses the plane through `point` with normal `normal`.
    Plane {
        /// A point of the plane.
        point: DVec3,
        /// Its normal.
        normal: DVec3,
    },
    /// Stop where the ray first crosses the sphere, entering or leaving (a start
    /// exactly on the sphere does not count).
    Sphere {
        /// Centre.
        centre: DVec3,
        /// Radius.
        radius: f64,
    },
}

impl StopSurface {
    pub(crate) fn side(&self, p: DVec3) -> f64 {
        match *self {
            Self::Plane { point, normal } => (p - point).dot(normal),
            Self::Sphere { centre, radius } => (p - centre).length() - radius,
        }
    }
}

/// How a ray ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub enum Termination {
    /// Left every field, heading to infinity; its final direction is in the result.
    Escaped,
    /// Fell inside a horizon.
    Captured,
    /// Ran out of steps (counted, never silent).
    StepBudget,
    /// Crossed the requested stop surface.
    Stopped,
    /// The segment consumer ended the ray (a hit).
    Hit,
}

/// The Dormand-Prince 5(4) tableau: row `i` gives stage `i + 1` from the stages
/// before it; row 5 is the 5th-order solution (whose derivative is the 7th stage,
/// FSAL). The shaders' copy is generated from this one.
pub const DP_A: [[f64; 6]; 6] = [
    [1.0 / 5.0, 0.0, 0.0, 0.0, 0.0, 0.0],
    [3.0 / 40.0, 9.0 / 40.0, 0.0, 0.0, 0.0, 0.0],
    [44.0 / 45.0, -56.0 / 15.0, 32.0 / 9.0, 0.0, 0.0, 0.0],
    [
        19372.0 / 6561.0,
        -25360.0 / 2187.0,
        64448.0 / 6561.0,
        -212.0 / 729.0,
        0.0,
        0.0,
    ],
    [
        9017.0 / 3168.0,
        -355.0 / 33.0,
        46732.0 / 5247.0,
        49.0 / 176.0,
        -5103.0 / 18656.0,
        0.0,
    ],
    [
        35.0 / 384.0,
        0.0,
        500.0 / 1113.0,
        125.0 / 192.0,
        -2187.0 / 6784.0,
        11.0 / 84.0,
    ],
];
/// The Dormand-Prince error weights (5th minus 4th order) of the seven stages.
pub const DP_E: [f64; 7] = [
    71.0 / 57600.0,
    0.0,
    -71.0 / 16695.0,
    71.0 / 1920.0,
    -17253.0 / 339_200.0,
    22.0 / 525.0,
    -1.0 / 40.0,
];

impl Termination {
    /// Every termination, in the order of their GPU codes (`TERM_*` in the shaders,
    /// generated from this list: a code is the index here).
    pub const ALL: [Self; 5] = [
        Self::Escaped,
        Self::Captured,
        Self::StepBudget,
        Self::Stopped,
        Self::Hit,
    ];

    /// The shaders' name of this termination (`TERM_` + this).
    #[must_use]
    pub fn gpu_name(self) -> &'static str {
        match self {
            Self::Escaped => "ESCAPED",
            Self::Captured => "CAPTURED",
            Self::StepBudget => "STEP_BUDGET",
            Self::Stopped => "STOPPED",
            Self::Hit => "HIT",
        }
    }

    /// The termination of GPU code `code`, if it is one.
    #[must_use]
    pub fn from_gpu(code: u32) -> Option<Self> {
        Self::ALL.get(code as usize).copied()
    }
}

/// The end state of a traced ray.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TraceResult {
    /// How it ended.
    pub termination: Termination,
    /// Final position (at a stop surface, the crossing point).
    pub position: DVec3,
    /// Final unit direction.
    pub direction: DVec3,
    /// Optical path length: the integral of n ds.
    pub optical_path: f64,
    /// Integration steps taken (accepted and rejected).
    pub steps: u32,
    /// Segments emitted.
    pub segments: u32,
    /// Soft-gate subdivisions made (uncertain misses re-integrated finer).
    pub subdivisions: u32,
}

/// Traces rays through one medium.
#[derive(Debug, Clone)]
pub struct Integrator {
    medium: Medium,
    grid: Option<std::sync::Arc<CurvatureGrid>>,
    masses: Vec<(DVec3, f64, f64)>,
    tol: Tolerances,
}

/// The integrated state: position, momentum (|p| = n in a GRIN medium) and optical
/// path.
#[derive(Debug, Clone, Copy)]
pub(crate) struct State {
    pub(crate) x: DVec3,
    pub(crate) p: DVec3,
    pub(crate) opl: f64,
}

impl Integrator {
    /// An integrator for `medium` (builds its curvature grid).
    #[must_use]
    pub fn new(medium: Medium, tol: Tolerances) -> Self {
        let grid =
            CurvatureGrid::build(&medium, CurvatureGrid::RESOLUTION).map(std::sync::Arc::new);
        Self::with_grid(medium, tol, grid)
    }

    /// An integrator for `medium` with its curvature grid already built (from a
    /// field cache); `grid` must be the grid of this medium.
    #[must_use]
    pub(crate) fn with_grid(
        medium: Medium,
        tol: Tolerances,
        grid: Option<std::sync::Arc<CurvatureGrid>>,
    ) -> Self {
        let masses = medium
            .masses()
            .map(|m| (m.centre, m.rs, m.extent))
            .collect();
        Self {
            medium,
            grid,
            masses,
            tol,
        }
    }

    /// The medium.
    #[must_use]
    pub fn medium(&self) -> &Medium {
        &self.medium
    }

    /// The tolerances.
    #[must_use]
    pub fn tolerances(&self) -> Tolerances {
        self.tol
    }

    /// The curvature-bound grid, if any field bends light.
    pub(crate) fn grid(&self) -> Option<&CurvatureGrid> {
        self.grid.as_deref()
    }

    pub(crate) fn deriv(&self, s: &State) -> (DVec3, DVec3, f64) {
        let (n, g) = self.medium.index(s.x);
        let dx = s.p / n;
        let a = if self.masses.is_empty() {
            DVec3::ZERO
        } else {
            self.medium.acceleration(s.x, dx)
        };
        (dx, g + a * n, n * dx.length())
    }

    /// Whether `p` lies in some mass's influence sphere or GRIN cell with curvature.
    pub(crate) fn in_field(&self, p: DVec3) -> bool {
        self.masses
            .iter()
            .any(|&(c, _, e)| (p - c).length_squared() < e * e)
            || self.grid.as_ref().is_some_and(|g| g.kappa_at(p) > 0.0)
    }

    /// Distance along a straight line from `p` (unit `d`) before anything bends it;
    /// `None`: nothing ever does (the ray escapes).
    pub(crate) fn straight_distance(&self, p: DVec3, d: DVec3) -> Option<f64> {
        let mut best: Option<f64> = None;
        let mut take = |t: f64| best = Some(best.map_or(t, |b: f64| b.min(t)));
        if let Some(g) = &self.grid {
            if let Some(t) = g.straight_run(p, d) {
                take(t);
            }
        }
        for &(c, _, e) in &self.masses {
            // Ray-sphere entry.
            let oc = p - c;
            let b = oc.dot(d);
            let disc = b * b - (oc.length_squared() - e * e);
            if disc >= 0.0 {
                let t = -b - disc.sqrt();
                if -b + disc.sqrt() > 0.0 {
                    take(t.max(0.0));
                }
            }
        }
        best
    }

    /// Curvature bound for a step of up to `h` from `x`.
    pub(crate) fn kappa(&self, x: DVec3, h: f64) -> f64 {
        let grin = self.grid.as_ref().map_or(0.0, |g| g.kappa_at(x));
        let mass: f64 = self
            .masses
            .iter()
            .map(|&(c, rs, _)| {
                let r = ((x - c).length() - h).max(rs);
                1.5 * rs / (r * r)
            })
            .sum();
        grin + mass
    }

    pub(crate) fn captured(&self, x: DVec3) -> bool {
        self.masses
            .iter()
            .any(|&(c, rs, _)| (x - c).length_squared() <= rs * rs * (1.0 + 1e-9))
    }

    /// One Dormand-Prince step of size `h`: the 5th-order result and the error norm.
    pub(crate) fn dp_step(&self, s: &State, h: f64) -> (State, f64) {
        const A: [[f64; 6]; 6] = DP_A;
        const E: [f64; 7] = DP_E;
        let mut k = [(DVec3::ZERO, DVec3::ZERO, 0.0); 7];
        k[0] = self.deriv(s);
        for i in 0..6 {
            let mut st = *s;
            for (j, kj) in k.iter().enumerate().take(i + 1) {
                let a = A[i][j] * h;
                st.x += kj.0 * a;
                st.p += kj.1 * a;
                st.opl += kj.2 * a;
            }
            k[i + 1] = self.deriv(&st);
        }
        // Row 6 of A is the 5th-order solution (FSAL): k[6] is the derivative there.
        let mut out = *s;
        for (j, kj) in k.iter().enumerate().take(6) {
            let a = A[5][j] * h;
            out.x += kj.0 * a;
            out.p += kj.1 * a;
            out.opl += kj.2 * a;
        }
        let (mut ex, mut ep) = (DVec3::ZERO, DVec3::ZERO);
        for (j, kj) in k.iter().enumerate() {
            ex += kj.0 * (E[j] * h);
            ep += kj.1 * (E[j] * h);
        }
        let n = self.medium.index(out.x).0.max(1e-6);
        let err = ex.length().max(ep.length() / n.max(out.p.length()));
        (out, err)
    }

    /// Re-imposes the invariants: |p| = n in pure GRIN; h and the orbit energy for a
    /// single mass in vacuum.
    pub(crate) fn reimpose(&self, s: &mut State, h0: f64, energy0: f64) {
        let (n, g) = self.medium.index(s.x);
        if self.masses.is_empty() {
            let len = s.p.length();
            if len > 0.0 {
                s.p *= n / len;
            }
        } else if self.masses.len() == 1 && g == DVec3::ZERO {
            let (c, rs, _) = self.masses[0];
            let x = s.x - c;
            let r = x.length();
            // Restore the speed from the energy, keeping the direction.
            let h_now = x.cross(s.p).length();
            let v2 = 2.0 * energy0 + rs * h_now * h_now / (r * r * r);
            if v2 > 0.0 && h_now > 0.0 {
                s.p = s.p.normalize() * v2.sqrt();
                // Restore h by rescaling the tangential part.
                let radial = x / r;
                let vr = radial * s.p.dot(radial);
                let vt = s.p - vr;
                let vt_len = vt.length();
                if vt_len > 0.0 {
                    let want = h0 / r;
                    let speed = s.p.length();
                    let vt_new = vt * (want / vt_len);
                    let vr_len2 = (speed * speed - want * want).max(0.0);
                    let vr_sign = s.p.dot(radial).signum();
                    s.p = vt_new + radial * (vr_sign * vr_len2.sqrt());
                }
            }
        }
    }

    /// Near a single mass in vacuum, sets the speed so that the orbit energy is that of
    /// a ray from infinity (|v| -> 1), |v|^2 = 1 / (1 - r_s sin^2(psi) / r), which the
    /// Cartesian geodesic form assumes.
    pub(crate) fn launch_speed(&self, s: &mut State) {
        if self.masses.len() != 1 {
            return;
        }
        let (c, rs, extent) = self.masses[0];
        let x = s.x - c;
        let r = x.length();
        if r >= extent || r <= rs {
            return;
        }
        let d = s.p.normalize_or(DVec3::X);
        let sin2 = x.cross(d).length_squared() / (r * r);
        s.p = d / (1.0 - rs * sin2 / r).sqrt();
    }

    pub(crate) fn mass_invariants(&self, s: &State) -> (f64, f64) {
        if self.masses.len() != 1 {
            return (0.0, 0.0);
        }
        let (c, rs, _) = self.masses[0];
        let x = s.x - c;
        let h = x.cross(s.p).length();
        let r = x.length();
        (
            h,
            0.5 * s.p.length_squared() - rs * h * h / (2.0 * r * r * r),
        )
    }

    /// Traces a ray from `origin` along `direction`, handing each segment to `consume`
    /// as soon as it is made. [`Verdict::Hit`] ends the ray as a hit;
    /// [`Verdict::Uncertain`] makes the integrator redo that step four times finer
    /// (chord deviation 16 times smaller), while the ray's soft-gate budget lasts.
    pub fn trace(
        &self,
        origin: DVec3,
        direction: DVec3,
        stop: Option<StopSurface>,
        mut consume: impl FnMut(&Segment) -> Verdict,
    ) -> TraceResult {
        let (n0, _) = self.medium.index(origin);
        let mut s = State {
            x: origin,
            p: direction.normalize_or(DVec3::X) * n0,
            opl: 0.0,
        };
        self.launch_speed(&mut s);
        let mut steps = 0u32;
        let mut segments = 0u32;
        let mut h = self.grid.as_ref().map_or(1.0, |g| g.cell_size() * 0.25);
        let (mut h_inv, mut energy) = self.mass_invariants(&s);
        let finish = |t: Termination, s: &State, steps, segments, subdivisions| TraceResult {
            termination: t,
            position: s.x,
            direction: s.p.normalize_or(DVec3::X),
            optical_path: s.opl,
            steps,
            segments,
            subdivisions,
        };
        let mut emit = |seg: Segment, segments: &mut u32| {
            *segments += 1;
            consume(&seg)
        };
        let mut gate_budget = self.tol.soft_gate_attempts;
        let mut subdivisions = 0u32;
        loop {
            if steps >= self.tol.max_steps {
                return finish(Termination::StepBudget, &s, steps, segments, subdivisions);
            }
            if self.captured(s.x) {
                return finish(Termination::Captured, &s, steps, segments, subdivisions);
            }
            let dir = s.p.normalize_or(DVec3::X);
            if !self.in_field(s.x) {
                // Straight flight to the next field, or to infinity.
                let n = self.medium.index(s.x).0;
                let run = self.straight_distance(s.x, dir);
                let len = run.map_or(self.tol.far, |t| t + 1e-9 * (1.0 + t));
                let end = s.x + dir * len;
                if let Some(t) = stop.and_then(|surface| straight_crossing(&surface, s.x, dir, len))
                {
                    let at = s.x + dir * t;
                    let seg = Segment {
                        start: s.x,
                        end: at,
                        deviation: 0.0,
                        index: segments,
                    };
                    s.opl += n * t;
                    s.x = at;
                    if emit(seg, &mut segments).is_hit() {
                        return finish(Termination::Hit, &s, steps, segments, subdivisions);
                    }
                    return finish(Termination::Stopped, &s, steps, segments, subdivisions);
                }
                let seg = Segment {
                    start: s.x,
                    end,
                    deviation: 0.0,
                    index: segments,
                };
                s.opl += n * len;
                s.x = end;
                if emit(seg, &mut segments).is_hit() {
                    return finish(Termination::Hit, &s, steps, segments, subdivisions);
                }
                if run.is_none() {
                    return finish(Termination::Escaped, &s, steps, segments, subdivisions);
                }
                self.launch_speed(&mut s);
                (h_inv, energy) = self.mass_invariants(&s);
                continue;
            }
            // Curved step: limit by the chord deviation and the grid cell.
            let mut h_try = h;
            if let Some(g) = &self.grid {
                if g.kappa_at(s.x) > 0.0 {
                    h_try = h_try.min(g.cell_size());
                }
            }
            for &(c, _, _) in &self.masses {
                h_try = h_try.min(0.5 * (s.x - c).length());
            }
            let kappa = self.kappa(s.x, h_try);
            if kappa > 0.0 {
                h_try = h_try.min((8.0 * self.tol.geometric / kappa).sqrt());
            }
            steps += 1;
            let (mut next, err) = self.dp_step(&s, h_try);
            if err > self.tol.rk && h_try > 1e-12 {
                h = h_try * (0.9 * (self.tol.rk / err).powf(0.2)).max(0.1);
                continue;
            }
            self.reimpose(&mut next, h_inv, energy);
            let deviation = h_try * h_try * kappa / 8.0;
            if let Some((surface, bracket)) = stop.and_then(|surface| {
                self.step_bracket(&surface, &s, &next, h_try, deviation)
                    .map(|b| (surface, b))
            }) {
                let (t, at) = self.curved_crossing(&surface, &s, bracket);
                let seg = Segment {
                    start: s.x,
                    end: at.x,
                    deviation: t * t * kappa / 8.0,
                    index: segments,
                };
                s = at;
                if emit(seg, &mut segments).is_hit() {
                    return finish(Termination::Hit, &s, steps, segments, subdivisions);
                }
                return finish(Termination::Stopped, &s, steps, segments, subdivisions);
            }
            let seg = Segment {
                start: s.x,
                end: next.x,
                deviation,
                index: segments,
            };
            match emit(seg, &mut segments) {
                Verdict::Hit => {
                    s = next;
                    return finish(Termination::Hit, &s, steps, segments, subdivisions);
                }
                Verdict::Uncertain if gate_budget > 0 && h_try > 1e-9 => {
                    // Soft gate: forget this step and redo it finer.
                    gate_budget -= 1;
                    subdivisions += 1;
                    segments -= 1;
                    h = h_try / 4.0;
                    continue;
                }
                _ => s = next,
            }
            h = if err > 0.0 {
                h_try * (0.9 * (self.tol.rk / err).powf(0.2)).clamp(0.2, 5.0)
            } else {
                h_try * 5.0
            };
        }
    }

    /// If the step from `s` to `next` (length `h`) crosses `surface`, a step length at
    /// which the path is on the other side from `s`: the end of the step when the
    /// sides differ, or, for a sphere the chord passes near (both ends outside), the
    /// point of the path nearest the centre when that is inside.
    fn step_bracket(
        &self,
        surface: &StopSurface,
        s: &State,
        next: &State,
        h: f64,
        deviation: f64,
    ) -> Option<f64> {
        let (a, b) = (surface.side(s.x), surface.side(next.x));
        if a == 0.0 {
            return None;
        }
        if a * b <= 0.0 {
            return Some(h);
        }
        if let StopSurface::Sphere { centre, radius } = *surface {
            let chord = next.x - s.x;
            let len2 = chord.length_squared();
            if len2 == 0.0 {
                return None;
            }
            let lambda = ((centre - s.x).dot(chord) / len2).clamp(0.0, 1.0);
            let closest = s.x + chord * lambda;
            if (closest - centre).length() <= radius + deviation {
                let t = h * lambda;
                let mid = self.dp_step(s, t).0;
                if surface.side(mid.x) * a < 0.0 {
                    return Some(t);
                }
            }
        }
        None
    }

    /// Finds where a curved step from `s` crosses `surface`, given a step length `h`
    /// at which the path is on the other side, by the secant method on the step
    /// length, re-integrating from `s` each time.
    fn curved_crossing(&self, surface: &StopSurface, s: &State, h: f64) -> (f64, State) {
        let (mut lo, mut hi) = (0.0, h);
        let end = self.dp_step(s, h).0;
        let (mut f_lo, mut f_hi) = (surface.side(s.x), surface.side(end.x));
        let mut best = (h, end);
        for _ in 0..60 {
            let t = if f_hi != f_lo {
                hi - f_hi * (hi - lo) / (f_hi - f_lo)
            } else {
                0.5 * (lo + hi)
            };
            let t = t.clamp(lo + 1e-3 * (hi - lo), hi - 1e-3 * (hi - lo));
            let st = self.dp_step(s, t).0;
            let f = surface.side(st.x);
            best = (t, st);
            if f.abs() < 1e-13 || (hi - lo) < 1e-15 {
                break;
            }
            if (f < 0.0) == (f_lo < 0.0) {
                lo = t;
                f_lo = f;
            } else {
                hi = t;
                f_hi = f;
            }
        }
        best
    }
}

/// Where the straight piece `o + t d`, 0 < t <= len, first meets `surface`.
pub(crate) fn straight_crossing(
    surface: &StopSurface,
    o: DVec3,
    d: DVec3,
    len: f64,
) -> Option<f64> {
    let t = match *surface {
        StopSurface::Plane { point, normal } => {
            let den = d.dot(normal);
            if den == 0.0 {
                return None;
            }
            (point - o).dot(normal) / den
        }
        StopSurface::Sphere { centre, radius } => {
            let oc = o - centre;
            let b = oc.dot(d);
            let disc = b * b - (oc.length_squared() - radius * radius);
            if disc < 0.0 {
                return None;
            }
            let (t0, t1) = (-b - disc.sqrt(), -b + disc.sqrt());
            if t0 > 0.0 { t0 } else { t1 }
        }
    };
    (t > 0.0 && t <= len).then_some(t)
}

/// The coordinate direction of a ray that a static observer at `position` sends out
/// along `local` (a unit vector in its local orthonormal frame, axes parallel to the
/// scene's), near a Schwarzschild mass at `centre` with radius `rs`.
///
/// The observer measures the angle psi from the radial direction; the ray's impact
/// parameter is b = r sin(psi) / sqrt(1 - r_s/r), and in the Cartesian geodesic form
/// its coordinate angle psi_c obeys sin^2(psi_c) = (b/r)^2 / (1 + r_s b^2 / r^3). A
/// camera that used `local` as the coordinate direction would see the black hole's
/// shadow too large.
#[must_use]
pub fn static_observer_direction(position: DVec3, local: DVec3, centre: DVec3, rs: f64) -> DVec3 {
    let x = position - centre;
    let r = x.length();
    if r <= rs {
        return local;
    }
    let radial = x / r;
    let cos_local = local.dot(radial);
    let tangential = local - radial * cos_local;
    // With k = r_s / r the coordinate angle c to the radial direction obeys
    // sin^2 c = sin^2 l / (1 - k cos^2 l) and cos^2 c = (1 - k) cos^2 l / (1 - k cos^2 l),
    // so the direction is (radial cos l sqrt(1 - k) + tangential) / sqrt(1 - k cos^2 l),
    // of unit length by construction. This form has no cancellation: taking cos c as
    // sqrt(1 - sin^2 c) lost half the digits for tangential directions (3e-4 rad in
    // f32 on the GPU).
    let k = rs / r;
    let one_minus_k = (r - rs) / r;
    (radial * (cos_local * one_minus_k.sqrt()) + tangential)
        / (1.0 - k * cos_local * cos_local).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::field::{FieldKind, Luneburg};

    #[test]
    fn in_a_uniform_medium_the_ray_equation_is_straight() {
        let integrator = Integrator::new(Medium::uniform(1.5), Tolerances::default());
        let d = DVec3::new(1.0, 2.0, -2.0) / 3.0;
        let s = State {
            x: DVec3::new(0.3, -1.0, 4.0),
            p: d * 1.5,
            opl: 0.0,
        };
        let (dx, dp, dopl) = integrator.deriv(&s);
        assert!((dx - d).length() < 1e-15, "{dx}");
        assert_eq!(dp, DVec3::ZERO);
        assert!((dopl - 1.5).abs() < 1e-15);
        // A whole step: a straight line, optical path n times its length.
        let (next, _err) = integrator.dp_step(&s, 0.7);
        assert!((next.x - (s.x + d * 0.7)).length() < 1e-14, "{}", next.x);
        assert!((next.opl - 1.05).abs() < 1e-14, "{}", next.opl);
        assert!(!integrator.in_field(s.x));
        assert_eq!(integrator.straight_distance(s.x, d), None);
    }

    #[test]
    fn a_ray_bends_only_where_a_field_can_bend_it() {
        let medium = Medium::default().with(FieldKind::Luneburg(Luneburg {
            centre: DVec3::ZERO,
            radius: 1.0,
        }));
        let integrator = Integrator::new(medium, Tolerances::default());
        let t = integrator
            .straight_distance(DVec3::new(-5.0, 0.0, 0.0), DVec3::X)
            .unwrap();
        assert!((t - 4.0).abs() < 1e-6, "{t}");
        assert!(integrator.in_field(DVec3::new(0.5, 0.0, 0.0)));
        assert!(!integrator.in_field(DVec3::new(0.0, 3.0, 0.0)));
        // Through the lens the ray ends on the far side, bent to the focus.
        let r = integrator.trace(DVec3::new(-5.0, 0.3, 0.0), DVec3::X, None, |_| {
            Verdict::Continue
        });
        assert_eq!(r.termination, Termination::Escaped);
        assert!(
            r.direction.y < -0.1,
            "not bent towards the axis: {}",
            r.direction
        );
    }
}
