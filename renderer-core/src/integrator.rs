//! The curved-ray integrator: a ray through a [`Medium`] becomes a chain of straight
//! segments.
//!
//! Inside a field the state (x, p) with p = n dx/ds follows the ray equation
//! dx/ds = p/n, dp/ds = grad n (+ the geodesic acceleration of masses), integrated by
//! Dormand-Prince 5(4) with an embedded error estimate, its last stage reused as the
//! next step's first (six field evaluations per step). The step is also limited so
//! that the chord strays from the true path by at most the geometric tolerance:
//! deviation <= h^2 kappa / 8, with kappa the primitives' analytic curvature bound over
//! the box the step stays in (the curvature grid's cell bound where that suffices),
//! or the mass bound. Steps end on the surfaces where a primitive's gradient jumps
//! (edges such as a lens's rim) rather than failing their error
//! test across them. Invariants are re-imposed each step: |p| = n for GRIN, and for a
//! mass the angular momentum h and the orbit energy |v|^2/2 - r_s h^2 / (2 r^3).
//! A single mass in vacuum is crossed along its planar photon orbit instead
//! ([`Integrator::trace_cone`]): u = 1/r over the orbit's angle, by Binet's equation.
//! Outside every field region a ray flies straight, to the next region or to infinity,
//! as one segment.
//!
//! A rendered ray stands for its pixel's beam ([`RayCone`]): its tolerances are
//! relaxed to a fraction of the beam, and where a step cannot reach the scene's
//! geometry its chord may stray, so only the error test limits it. `grin trace` and
//! the golden tests trace exact rays.

use glam::DVec3;
use serde::Serialize;

use crate::curvature::CurvatureGrid;

mod kerr;

use crate::field::{FieldKind, Kink, Medium, Root};
pub use kerr::{DISK_CROSSINGS, DiskCrossing, KerrTrace};
pub(crate) use kerr::{Hole as KerrHole, WAVELENGTHS as KERR_WAVELENGTHS};

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
    /// Whether rendered rays may relax `geometric` and `rk` to a fraction of their
    /// pixel's footprint ([`RayCone`]; on by default). Off, every ray keeps these
    /// tolerances, as `grin trace` and the golden tests always do.
    #[serde(default = "default_footprint")]
    pub pixel_footprint: bool,
}

fn default_footprint() -> bool {
    true
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
            pixel_footprint: default_footprint(),
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

/// The beam a ray stands for: its width at the origin and how fast that grows per
/// unit of path length (a pixel's angle, for a camera ray).
///
/// A ray traced with a cone needs its path only to a fraction of the beam's width:
/// the integrator then relaxes the scene's geometric tolerance to
/// [`RayCone::GEOMETRIC_FRACTION`] of the width where the ray is, and its Runge-Kutta
/// tolerance to [`RayCone::RK_FRACTION`] of the spread (the scene's tolerances stay
/// the floor); and where a step cannot reach the scene's geometry (when the
/// integrator knows it: a [`crate::trace::SceneTracer`]'s), its chord may stray from
/// the path, so only the Runge-Kutta error limits it. [`RayCone::EXACT`] keeps the
/// scene's tolerances on every step and chord, as `grin trace` and the golden tests
/// do.
///
/// ```
/// use renderer_core::integrator::RayCone;
/// // A pixel of 2.5 mrad: at 10 units the beam is 2.5 cm wide.
/// let cone = RayCone { width: 0.0, spread: 2.5e-3 };
/// assert!((cone.width_at(10.0) - 0.025).abs() < 1e-12);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct RayCone {
    /// Width at the origin (scene units).
    pub width: f64,
    /// Growth of the width per unit of path length (radians).
    pub spread: f64,
}

impl RayCone {
    /// No beam: the scene's tolerances hold everywhere.
    pub const EXACT: Self = Self {
        width: 0.0,
        spread: 0.0,
    };

    /// The share of the beam's width a chord may stray from the true path.
    ///
    /// Chosen by measurement (`compare -- curved`): at an eighth of a pixel's
    /// footprint the rendered images' error against the tight-tolerance reference is
    /// that of the tight render (the Monte Carlo noise), see `benches/RESULTS.md`.
    pub const GEOMETRIC_FRACTION: f64 = 0.125;

    /// The share of the spread allowed as local Runge-Kutta error per step (direction
    /// error per step, in radians, a thousandth of a pixel's angle).
    pub const RK_FRACTION: f64 = 1e-2;

    /// The beam's width after `length` of path.
    #[must_use]
    pub fn width_at(&self, length: f64) -> f64 {
        self.width + self.spread * length
    }

    /// The beam `length` further along (a secondary ray from a hit keeps the
    /// camera beam's width there and its spread).
    #[must_use]
    pub fn advanced(&self, length: f64) -> Self {
        Self {
            width: self.width_at(length),
            spread: self.spread,
        }
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
    /// Absorbed by an opaque accretion disk (its light is in the result's
    /// [`KerrTrace`]).
    Disk,
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
    pub const ALL: [Self; 6] = [
        Self::Escaped,
        Self::Captured,
        Self::StepBudget,
        Self::Stopped,
        Self::Hit,
        Self::Disk,
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
            Self::Disk => "DISK",
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
    /// What the ray met of a Kerr hole (`None` without one in the scene).
    pub kerr: Option<KerrTrace>,
}

/// Traces rays through one medium.
#[derive(Debug, Clone)]
pub struct Integrator {
    medium: Medium,
    /// The GRIN primitives alone (for local curvature bounds); `None` without any.
    grin: Option<Medium>,
    grid: Option<std::sync::Arc<CurvatureGrid>>,
    /// The surfaces where some primitive's gradient jumps: steps end on them.
    kinks: Vec<Kink>,
    masses: Vec<(DVec3, f64, f64)>,
    /// A single mass in vacuum: rays cross it along its planar photon orbits.
    orbit: Option<Orbit>,
    /// A single linear gradient: rays cross it along their exact catenaries.
    linear: Option<Linear>,
    /// A Kerr hole: rays cross its region along its Hamiltonian geodesics.
    kerr: Option<kerr::Hole>,
    /// Whether the mass's region holds no geometry (rays then cross it in long
    /// steps, with one chord from entry to exit).
    orbit_clear: bool,
    /// The scene's geometry, when the integrator traces for a scene: where a step
    /// cannot reach any, its chord may stray (nothing is there to hit), and only
    /// the Runge-Kutta error limits it. Without it every step keeps the chord
    /// tolerance.
    geometry: Option<std::sync::Arc<crate::accel::Tlas>>,
    /// The fields' region when no geometry lies in it.
    clear: Option<crate::field::Aabb>,
    tol: Tolerances,
}

/// A single mass in vacuum (see [`Integrator::orbit_passage`]).
#[derive(Debug, Clone, Copy)]
struct Orbit {
    centre: DVec3,
    rs: f64,
    extent: f64,
}

/// How far `p` is outside `b` (the largest coordinate excess; 0 or below inside).
fn outside(b: &crate::field::Aabb, p: DVec3) -> f64 {
    (b.min - p).max(p - b.max).max_element()
}

/// A single linear gradient and nothing else (see [`Integrator::linear_passage`]).
#[derive(Debug, Clone, Copy)]
struct Linear {
    field: crate::field::LinearGradient,
    /// Upper bound on the paths' curvature in the region: |G| over the lowest index.
    kappa: f64,
    /// The region's diagonal: no chord is longer.
    diagonal: f64,
}

/// A ray's counters, lent to [`Integrator::orbit_passage`] and
/// [`Integrator::linear_passage`].
struct Walk {
    steps: u32,
    segments: u32,
    subdivisions: u32,
    gate_budget: u32,
    travelled: f64,
}

impl Walk {
    /// The soft gate found a chord uncertain: if attempts are left, takes one (the
    /// chord is forgotten, to be redone finer) and says so.
    fn subdivide(&mut self) -> bool {
        if self.gate_budget == 0 {
            return false;
        }
        self.gate_budget -= 1;
        self.subdivisions += 1;
        self.segments -= 1;
        true
    }
}

/// A region a ray crosses without Runge-Kutta steps.
#[derive(Debug, Clone, Copy)]
enum Closed {
    /// A lone mass's region, along the planar photon orbit.
    Orbit(Orbit),
    /// A lone linear gradient's region, along the exact catenary.
    Linear(Linear),
}

/// How a ray's passage through a closed-form region ended.
enum Passage {
    /// Not for the closed form (a radial ray through a mass; a gradient too weak to
    /// bend the ray): the general path takes it.
    NotPlanar,
    /// Left the region.
    Left,
    /// Ended in it.
    Ended(Termination),
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
        let grin = Some(medium.grin_only()).filter(|g| !g.fields.is_empty());
        let kinks = medium.fields.iter().filter_map(FieldKind::kink).collect();
        let orbit = match (
            grin.is_none(),
            medium.masses().collect::<Vec<_>>().as_slice(),
        ) {
            (true, [m]) => Some(Orbit {
                centre: m.centre,
                rs: m.rs,
                extent: m.extent,
            }),
            _ => None,
        };
        let linear = match (medium.fields.as_slice(), orbit) {
            ([FieldKind::LinearGradient(field)], None) => {
                let low = field.lowest_index();
                (low > 0.0).then(|| Linear {
                    field: *field,
                    kappa: field.gradient.length() / low,
                    diagonal: (field.region.max - field.region.min).length(),
                })
            }
            _ => None,
        };
        let kerr = medium.kerr_holes().next().map(kerr::Hole::new);
        Self {
            medium,
            grin,
            grid,
            kinks,
            orbit,
            linear,
            kerr,
            orbit_clear: false,
            geometry: None,
            clear: None,
            masses,
            tol,
        }
    }

    /// Gives the integrator the scene's geometry: where a step cannot reach any,
    /// its chord may stray from the path (there is nothing to hit), so only the
    /// Runge-Kutta error limits it; and where a single mass's region holds none,
    /// rays cross it with one chord.
    #[must_use]
    pub(crate) fn with_geometry(mut self, tlas: std::sync::Arc<crate::accel::Tlas>) -> Self {
        self.geometry = Some(tlas);
        self.clear = self
            .medium
            .bounds()
            .filter(|b| !self.geometry_near(b.min, b.max));
        self.orbit_clear = self.orbit.is_some_and(|o| {
            let r = DVec3::splat(o.extent);
            !self.geometry_near(o.centre - r, o.centre + r)
        });
        self
    }

    /// The fields' region, when no geometry lies in it.
    pub(crate) fn clear_region(&self) -> Option<crate::field::Aabb> {
        self.clear
    }

    /// Whether geometry may lie in the box `[lo, hi]` (always, without geometry
    /// given: the chord tolerance then holds everywhere).
    fn geometry_near(&self, lo: DVec3, hi: DVec3) -> bool {
        let Some(tlas) = &self.geometry else {
            return true;
        };
        if self.clear.is_some_and(|b| b.contains(lo) && b.contains(hi)) {
            return false;
        }
        // f32 boxes: padded by more than their rounding.
        let pad = DVec3::splat(1e-5 * (1.0 + lo.abs().max(hi.abs()).max_element()));
        tlas.overlaps_box((lo - pad).as_vec3(), (hi + pad).as_vec3())
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

    #[cfg(test)]
    pub(crate) fn deriv(&self, s: &State) -> (DVec3, DVec3, f64) {
        self.deriv_at(s, self.medium.index(s.x))
    }

    /// The derivative at `s` given the index and its gradient there, `(n, g)`.
    #[inline]
    fn deriv_at(&self, s: &State, (n, g): (f64, DVec3)) -> (DVec3, DVec3, f64) {
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
        let kerr = self.kerr.as_ref().map(|k| (k.frame.centre, 0.0, k.extent));
        for &(c, _, e) in self.masses.iter().chain(kerr.iter()) {
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

    /// Curvature bound for a step of up to `h` from `x`, from the grid cell (the
    /// shaders' bound, which the kernel parity tests check against this one; the CPU
    /// steps with the tighter [`Integrator::local_kappa`]).
    #[cfg(test)]
    pub(crate) fn kappa(&self, x: DVec3, h: f64) -> f64 {
        let grin = self.grid.as_ref().map_or(0.0, |g| g.kappa_at(x));
        grin + self.mass_kappa(x, h)
    }

    /// The masses' curvature bound for a step of up to `h` from `x`: 1.5 r_s / r^2
    /// at the nearest distance the step can reach (at least r_s).
    fn mass_kappa(&self, x: DVec3, h: f64) -> f64 {
        self.masses
            .iter()
            .map(|&(c, rs, _)| {
                let r = ((x - c).length() - h).max(rs);
                1.5 * rs / (r * r)
            })
            .sum()
    }

    pub(crate) fn captured(&self, x: DVec3) -> bool {
        self.masses
            .iter()
            .any(|&(c, rs, _)| (x - c).length_squared() <= rs * rs * (1.0 + 1e-9))
    }

    /// One Dormand-Prince step of size `h`: the 5th-order result and the error norm.
    pub(crate) fn dp_step(&self, s: &State, h: f64) -> (State, f64) {
        let (out, err, _) = self.dp_step_at(s, h, self.medium.index(s.x));
        (out, err)
    }

    /// [`Integrator::dp_step`] given the index and gradient at `s` (`at`), also
    /// returning them at the result: the last stage is evaluated there (FSAL), so a
    /// chain of steps evaluates the medium six times per step, not eight.
    pub(crate) fn dp_step_at(
        &self,
        s: &State,
        h: f64,
        at: (f64, DVec3),
    ) -> (State, f64, (f64, DVec3)) {
        const A: [[f64; 6]; 6] = DP_A;
        const E: [f64; 7] = DP_E;
        let mut k = [(DVec3::ZERO, DVec3::ZERO, 0.0); 7];
        k[0] = self.deriv_at(s, at);
        // Each stage unrolled over its own row (zero entries skipped), so the
        // tableau folds into the code.
        let next = |k: &mut [(DVec3, DVec3, f64); 7], st: State, i: usize| {
            let index = self.medium.index(st.x);
            k[i + 1] = self.deriv_at(&st, index);
            index
        };
        let st = stage::<1>(s, &k, &A[0], h);
        next(&mut k, st, 0);
        let st = stage::<2>(s, &k, &A[1], h);
        next(&mut k, st, 1);
        let st = stage::<3>(s, &k, &A[2], h);
        next(&mut k, st, 2);
        let st = stage::<4>(s, &k, &A[3], h);
        next(&mut k, st, 3);
        let st = stage::<5>(s, &k, &A[4], h);
        next(&mut k, st, 4);
        // Row 6 of A is the 5th-order solution (FSAL): k[6] is the derivative there.
        let out = stage::<6>(s, &k, &A[5], h);
        let end = next(&mut k, out, 5);
        let (mut ex, mut ep) = (DVec3::ZERO, DVec3::ZERO);
        for (j, kj) in k.iter().enumerate() {
            if E[j] != 0.0 {
                ex += kj.0 * (E[j] * h);
                ep += kj.1 * (E[j] * h);
            }
        }
        let n = end.0.max(1e-6);
        let err = ex.length().max(ep.length() / n.max(out.p.length()));
        (out, err, end)
    }

    /// Re-imposes the invariants: |p| = n in pure GRIN; h and the orbit energy for a
    /// single mass in vacuum.
    #[cfg(test)]
    pub(crate) fn reimpose(&self, s: &mut State, h0: f64, energy0: f64) {
        self.reimpose_at(s, h0, energy0, self.medium.index(s.x));
    }

    /// [`Integrator::reimpose`] given the index and gradient at `s`.
    fn reimpose_at(&self, s: &mut State, h0: f64, energy0: f64, (n, g): (f64, DVec3)) {
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
        consume: impl FnMut(&Segment) -> Verdict,
    ) -> TraceResult {
        self.trace_cone(origin, direction, RayCone::EXACT, stop, consume)
    }

    /// The curvature bound for a step of up to `h` from `x`, tighter than
    /// [`Integrator::kappa`]: the GRIN primitives' analytic bound over the box the
    /// step stays in, where that is below the grid cell's bound (which also needs
    /// `h` within one cell). With it, steps follow the field's own scale, not the
    /// grid's: a fish-eye with a large extent takes long steps far from its centre.
    pub(crate) fn local_kappa(&self, x: DVec3, h: f64, tol: f64) -> f64 {
        let mass = self.mass_kappa(x, h);
        let (Some(grid), Some(grin)) = (&self.grid, &self.grin) else {
            return mass;
        };
        let cell = if h <= grid.cell_size() {
            grid.kappa_at(x)
        } else {
            f64::INFINITY
        };
        // The grid's bound is a lookup: enough when it does not limit the step.
        if cell == 0.0 || (cell.is_finite() && 8.0 * tol >= h * h * cell) {
            return cell + mass;
        }
        let local = grin.curvature_bound(&crate::field::Aabb::around(x, h));
        cell.min(local) + mass
    }

    /// [`Integrator::trace`] for a ray that stands for the beam `cone`: its
    /// tolerances are relaxed to a fraction of the beam (see [`RayCone`]).
    pub fn trace_cone(
        &self,
        origin: DVec3,
        direction: DVec3,
        cone: RayCone,
        stop: Option<StopSurface>,
        consume: impl FnMut(&Segment) -> Verdict,
    ) -> TraceResult {
        self.trace_rooted(origin, direction, Root::Near, cone, stop, consume)
    }

    /// [`Integrator::trace_cone`] for a ray whose momentum, where it starts inside
    /// a Kerr hole's ergosphere, is the `root` one of the two with its direction
    /// (a camera there says which: [`crate::camera::Camera::photon`]).
    pub fn trace_rooted(
        &self,
        origin: DVec3,
        direction: DVec3,
        root: Root,
        cone: RayCone,
        stop: Option<StopSurface>,
        mut consume: impl FnMut(&Segment) -> Verdict,
    ) -> TraceResult {
        let cone = if self.tol.pixel_footprint {
            cone
        } else {
            RayCone::EXACT
        };
        let (n0, _) = self.medium.index(origin);
        let mut s = State {
            x: origin,
            p: direction.normalize_or(DVec3::X) * n0,
            opl: 0.0,
        };
        self.launch_speed(&mut s);
        let rk = self.tol.rk.max(RayCone::RK_FRACTION * cone.spread);
        // A ray for a beam may stray where there is nothing to hit; an exact one
        // keeps every chord within the tolerance.
        let relaxed = cone != RayCone::EXACT;
        // Path length so far (the beam's width grows with it).
        let mut travelled = 0.0;
        // The index and gradient at `s.x`, carried from step to step (FSAL).
        let mut at: Option<(f64, DVec3)> = None;
        // The last step's limit from the chord deviation.
        let mut chord_limit = f64::INFINITY;
        let mut steps = 0u32;
        let mut segments = 0u32;
        let mut h = self.grid.as_ref().map_or(1.0, |g| g.cell_size() * 0.25);
        let (mut h_inv, mut energy) = self.mass_invariants(&s);
        let mut kerr = self
            .kerr
            .as_ref()
            .map(|k| k.launch(origin, direction, root));
        let finish = |t: Termination, s: &State, steps, segments, subdivisions, kerr| TraceResult {
            termination: t,
            position: s.x,
            direction: s.p.normalize_or(DVec3::X),
            optical_path: s.opl,
            steps,
            segments,
            subdivisions,
            kerr,
        };
        let mut emit = |seg: Segment, segments: &mut u32| {
            *segments += 1;
            consume(&seg)
        };
        let mut gate_budget = self.tol.soft_gate_attempts;
        let mut subdivisions = 0u32;
        loop {
            if steps >= self.tol.max_steps {
                return finish(
                    Termination::StepBudget,
                    &s,
                    steps,
                    segments,
                    subdivisions,
                    kerr,
                );
            }
            if self.captured(s.x) {
                return finish(
                    Termination::Captured,
                    &s,
                    steps,
                    segments,
                    subdivisions,
                    kerr,
                );
            }
            if let (Some(hole), Some(state)) = (&self.kerr, kerr.as_mut()) {
                if hole.contains(s.x) {
                    let mut walk = Walk {
                        steps,
                        segments,
                        subdivisions,
                        gate_budget,
                        travelled,
                    };
                    let passage = self.kerr_passage(
                        hole, state, &mut s, root, stop, cone, rk, relaxed, &mut walk, &mut emit,
                    );
                    Walk {
                        steps,
                        segments,
                        subdivisions,
                        gate_budget,
                        travelled,
                    } = walk;
                    match passage {
                        Passage::NotPlanar | Passage::Left => {
                            at = None;
                            if !hole.contains(s.x) {
                                continue;
                            }
                        }
                        Passage::Ended(t) => {
                            return finish(t, &s, steps, segments, subdivisions, kerr);
                        }
                    }
                }
            }
            // A region crossed in closed form or along planar orbits (at most one
            // applies: an orbit needs a lone mass, a catenary a lone linear gradient).
            let closed = if stop.is_some() {
                None
            } else if let Some(o) = self
                .orbit
                .filter(|o| (s.x - o.centre).length_squared() < o.extent * o.extent)
            {
                Some(Closed::Orbit(o))
            } else {
                self.linear
                    .filter(|l| l.field.region.contains(s.x))
                    .map(Closed::Linear)
            };
            if let Some(closed) = closed {
                let mut walk = Walk {
                    steps,
                    segments,
                    subdivisions,
                    gate_budget,
                    travelled,
                };
                let passage = match closed {
                    Closed::Orbit(o) => {
                        self.orbit_passage(o, &mut s, cone, rk, relaxed, &mut walk, &mut emit)
                    }
                    Closed::Linear(l) => {
                        self.linear_passage(l, &mut s, cone, relaxed, &mut walk, &mut emit)
                    }
                };
                Walk {
                    steps,
                    segments,
                    subdivisions,
                    gate_budget,
                    travelled,
                } = walk;
                match passage {
                    Passage::NotPlanar => {}
                    Passage::Left => {
                        // The index carried from the last step is for another point.
                        at = None;
                        continue;
                    }
                    Passage::Ended(t) => {
                        return finish(t, &s, steps, segments, subdivisions, kerr);
                    }
                }
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
                        return finish(Termination::Hit, &s, steps, segments, subdivisions, kerr);
                    }
                    return finish(
                        Termination::Stopped,
                        &s,
                        steps,
                        segments,
                        subdivisions,
                        kerr,
                    );
                }
                let seg = Segment {
                    start: s.x,
                    end,
                    deviation: 0.0,
                    index: segments,
                };
                s.opl += n * len;
                s.x = end;
                travelled += len;
                at = None;
                if emit(seg, &mut segments).is_hit() {
                    return finish(Termination::Hit, &s, steps, segments, subdivisions, kerr);
                }
                if run.is_none() {
                    return finish(
                        Termination::Escaped,
                        &s,
                        steps,
                        segments,
                        subdivisions,
                        kerr,
                    );
                }
                self.launch_speed(&mut s);
                (h_inv, energy) = self.mass_invariants(&s);
                continue;
            }
            // Curved step: limit by the chord deviation, from a curvature bound
            // over the box the step stays in.
            let geometric = self
                .tol
                .geometric
                .max(RayCone::GEOMETRIC_FRACTION * cone.width_at(travelled));
            let mut h_try = h;
            for &(c, _, _) in &self.masses {
                h_try = h_try.min(0.5 * (s.x - c).length());
            }
            // Where the step cannot reach geometry (the path and the chord stay
            // within h_try of the start, so the chord's envelope within twice
            // that), the chord may stray by up to h_try: only the error test
            // limits the step.
            let reach = DVec3::splat(2.0 * h_try);
            let free = relaxed && !self.geometry_near(s.x - reach, s.x + reach);
            let kappa = if free {
                chord_limit = f64::INFINITY;
                self.local_kappa(s.x, h_try, f64::INFINITY)
            } else {
                // The bound is taken over the box of a step at most a quarter
                // longer than the last chord limit (one bound per step: a shorter
                // step stays in a smaller box, whose bound is tighter).
                h_try = h_try.min(1.25 * chord_limit);
                let kappa = self.local_kappa(s.x, h_try, geometric);
                chord_limit = if kappa > 0.0 {
                    (8.0 * geometric / kappa).sqrt()
                } else {
                    f64::INFINITY
                };
                h_try = h_try.min(chord_limit);
                kappa
            };
            // End the step just short of an edge where a gradient jumps, and step
            // over the edge by a hair after it: a step across one fails its error
            // test at any length (the rejections cost as much as the steps did),
            // and a step that starts on one sees the jump in its first stage. A
            // crossing within a millionth of the step is taken in stride, so a ray
            // grazing an edge does not crawl along it.
            let mut edge = None;
            for kink in &self.kinks {
                if let Some(t) = kink.distance(s.x, dir) {
                    if t < h_try && t > 1e-6 * h_try {
                        h_try = t * (1.0 - 1e-9);
                        edge = Some(kink);
                    }
                }
            }
            steps += 1;
            let here = *at.get_or_insert_with(|| self.medium.index(s.x));
            let (mut next, err, there) = self.dp_step_at(&s, h_try, here);
            if err > rk && h_try > 1e-12 {
                h = h_try * (0.9 * step_factor(rk / err)).max(0.1);
                continue;
            }
            self.reimpose_at(&mut next, h_inv, energy, there);
            let mut there = Some(there);
            let mut hop = 0.0;
            if let Some(kink) = edge {
                // The path curves, so the step ends short of the edge (or turned
                // away from it). Where the rest is short enough that flying it
                // straight bends the ray by less than the step's error allowance
                // and strays less than the tolerance, over the edge, straight (the
                // chord ends there too); else the next step takes it.
                let d = next.p.normalize_or(dir);
                let most = geometric.min(rk / kappa.max(f64::MIN_POSITIVE));
                if let Some(rest) = kink.distance(next.x, d).filter(|&t| t <= most) {
                    hop = rest + 2e-9 * h_try + 1e-12 * (1.0 + next.x.abs().max_element());
                    next.x += d * hop;
                    next.opl += hop * self.medium.index(next.x).0;
                    there = None;
                }
            }
            let deviation =
                (h_try * h_try * kappa / 8.0 + hop * hop * kappa / 2.0).min(h_try + hop);
            if let Some((surface, bracket)) = stop.and_then(|surface| {
                self.step_bracket(&surface, &s, &next, h_try, deviation)
                    .map(|b| (surface, b))
            }) {
                let (t, at) = self.curved_crossing(&surface, &s, bracket);
                let seg = Segment {
                    start: s.x,
                    end: at.x,
                    deviation: (t * t * kappa / 8.0).min(t),
                    index: segments,
                };
                s = at;
                if emit(seg, &mut segments).is_hit() {
                    return finish(Termination::Hit, &s, steps, segments, subdivisions, kerr);
                }
                return finish(
                    Termination::Stopped,
                    &s,
                    steps,
                    segments,
                    subdivisions,
                    kerr,
                );
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
                    return finish(Termination::Hit, &s, steps, segments, subdivisions, kerr);
                }
                Verdict::Uncertain if gate_budget > 0 && h_try > 1e-9 => {
                    // Soft gate: forget this step and redo it finer.
                    gate_budget -= 1;
                    subdivisions += 1;
                    segments -= 1;
                    h = h_try / 4.0;
                    continue;
                }
                _ => {
                    travelled += h_try + hop;
                    s = next;
                    at = there;
                }
            }
            h = if err > 0.0 {
                h_try * (0.9 * step_factor(rk / err)).clamp(0.2, 5.0)
            } else {
                h_try * 5.0
            };
        }
    }

    /// Carries a ray across a single linear gradient's region along its exact path
    /// ([`LinearRay`](crate::field::LinearRay): a catenary in closed form), emitting
    /// chords to `emit` as the Runge-Kutta path does: within the chord tolerance of
    /// the path where geometry may be hit (sagitta |G| / n_min h^2 / 8), and, for a
    /// `relaxed` ray, as long as the region allows where none is (the path is exact
    /// at any length, so only the chord's envelope limits it). The path ends where it
    /// leaves the region, found on the exact path; beyond it the index is the
    /// background's and the general path takes over.
    // Not inlined, like `orbit_passage`: the general loop stays as it was.
    #[inline(never)]
    fn linear_passage<E: FnMut(Segment, &mut u32) -> Verdict>(
        &self,
        l: Linear,
        s: &mut State,
        cone: RayCone,
        relaxed: bool,
        walk: &mut Walk,
        emit: &mut E,
    ) -> Passage {
        let region = l.field.region;
        let n_start = self.medium.index(s.x).0;
        let dir = s.p.normalize_or(DVec3::X);
        let Some(ray) = crate::field::LinearRay::new(s.x, dir * n_start, l.field.gradient) else {
            return Passage::NotPlanar;
        };
        let opl0 = s.opl;
        // Arc length along the path so far, and the point there.
        let mut done = 0.0;
        let mut here = crate::field::LinearPoint {
            x: s.x,
            p: dir * n_start,
            opl: 0.0,
        };
        let mut cap = f64::INFINITY;
        // Where the path leaves the region (arc length, point), once found: a
        // chord that reached it and was too long to keep finds it again here.
        let mut exit: Option<(f64, crate::field::LinearPoint)> = None;
        // Whether the last chord could reach geometry: this one then starts at the
        // chord tolerance's length.
        let mut near = true;
        let place = |s: &mut State, at: &crate::field::LinearPoint| {
            s.x = at.x;
            s.p = at.p;
            s.opl = opl0 + at.opl;
        };
        loop {
            if walk.steps >= self.tol.max_steps {
                place(s, &here);
                return Passage::Ended(Termination::StepBudget);
            }
            walk.steps += 1;
            let geometric = self
                .tol
                .geometric
                .max(RayCone::GEOMETRIC_FRACTION * cone.width_at(walk.travelled));
            let chord_len = (8.0 * geometric / l.kappa).sqrt();
            let mut h = cap.min(l.diagonal);
            if near {
                h = h.min(chord_len);
            }
            // A known exit within reach: the chord ends there.
            let known = exit.filter(|&(t, _)| done + h >= t);
            if let Some((t, _)) = known {
                h = t - done;
            }
            let mut end = known.map_or_else(|| ray.at(done + h), |(_, at)| at);
            let left = known.is_some() || !region.contains(end.x);
            if left && known.is_none() {
                // The exit, on the exact path: regula falsi (Illinois) on the
                // distance outside the box, from inside (`lo`) to outside (`hi`),
                // with a bisection every third try so the bracket always shrinks.
                let (mut lo, mut hi) = (done, done + h);
                let (mut d_lo, mut d_hi) = (outside(&region, here.x), outside(&region, end.x));
                let mut side = 0;
                let edge = 1e-12 * (1.0 + end.x.abs().max_element());
                for k in 0..96 {
                    if hi - lo <= 1e-12 * (1.0 + hi) {
                        break;
                    }
                    let t = if k % 3 == 2 || d_hi <= d_lo {
                        0.5 * (lo + hi)
                    } else {
                        (lo + (hi - lo) * (-d_lo / (d_hi - d_lo))).clamp(lo, hi)
                    };
                    let at = ray.at(t);
                    let d = outside(&region, at.x);
                    if d > 0.0 {
                        (hi, d_hi, end) = (t, d, at);
                        if side == 1 {
                            d_lo *= 0.5;
                        }
                        side = 1;
                        if d <= edge {
                            break;
                        }
                    } else {
                        (lo, d_lo) = (t, d);
                        if side == -1 {
                            d_hi *= 0.5;
                        }
                        side = -1;
                        if -d <= edge {
                            // On the edge from inside: over it by a hair.
                            let t = (t + 1e-9 * (1.0 + t)).min(hi);
                            let at = ray.at(t);
                            if outside(&region, at.x) > 0.0 {
                                (hi, end) = (t, at);
                                break;
                            }
                            lo = t;
                        }
                    }
                }
                h = hi - done;
                exit = Some((hi, end));
            }
            let deviation = (l.kappa * h * h / 8.0).min(h);
            let pad = DVec3::splat(deviation);
            let (lo, hi) = (here.x.min(end.x) - pad, here.x.max(end.x) + pad);
            // A chord longer than the tolerance allows must keep its envelope in
            // the region (the path could otherwise leave it and come back) and away
            // from geometry.
            let open = relaxed
                && !left
                && region.contains(lo)
                && region.contains(hi)
                && !self.geometry_near(lo, hi);
            if !open && deviation > 2.0 * geometric && h > 1e-9 {
                // Geometry (or the region's edge) within reach of a long chord:
                // straight to the tolerance's length (each try costs a point of
                // the path, and the long chords grow from it again).
                cap = if near {
                    0.5 * h
                } else {
                    (0.25 * h).max(chord_len)
                };
                near = true;
                continue;
            }
            near = !open;
            let seg = Segment {
                start: here.x,
                end: end.x,
                deviation,
                index: walk.segments,
            };
            match emit(seg, &mut walk.segments) {
                Verdict::Hit => {
                    place(s, &end);
                    return Passage::Ended(Termination::Hit);
                }
                Verdict::Uncertain if h > 1e-9 && walk.subdivide() => {
                    cap = 0.25 * h;
                    near = true;
                    continue;
                }
                _ => {}
            }
            walk.travelled += h;
            done += h;
            here = end;
            cap = 5.0 * h;
            if left {
                place(s, &here);
                // Outside, the background's index: the same direction at its speed.
                s.p = s.p.normalize_or(dir) * self.medium.index(s.x).0;
                return Passage::Left;
            }
        }
    }

    /// Carries a ray across a single mass's region along its photon orbit: in the
    /// plane of the centre and the ray, u = 1/r obeys u'' + u = 1.5 r_s u^2 over the
    /// orbit's angle phi (Binet; the same paths as the Cartesian optical form),
    /// integrated by RK4 in phi with the invariant (u')^2 + u^2 - r_s u^3 = 1/b^2
    /// re-imposed each step, so the capture of rays near the critical impact
    /// parameter is decided by b alone. Steps are as long as the accuracy `rk`
    /// allows (phi^5 / 120 per step) and, where geometry may be hit, as the chord
    /// tolerance allows; chords go to `emit` like the Runge-Kutta path's. Only a
    /// `relaxed` ray (one for a beam) takes long steps where no geometry is.
    // Not inlined: inlined into `trace_cone`, LLVM hoisted its pow (speculatable)
    // out of the orbit branch, and every ray paid for it (3% of a Luneburg render).
    #[allow(clippy::too_many_arguments)]
    #[inline(never)]
    fn orbit_passage<E: FnMut(Segment, &mut u32) -> Verdict>(
        &self,
        o: Orbit,
        s: &mut State,
        cone: RayCone,
        rk: f64,
        relaxed: bool,
        walk: &mut Walk,
        emit: &mut E,
    ) -> Passage {
        let x0 = s.x - o.centre;
        let r0 = x0.length();
        let d = s.p.normalize_or(DVec3::X);
        if r0 <= o.rs || r0 >= o.extent {
            return Passage::NotPlanar;
        }
        let e1 = x0 / r0;
        let radial = d.dot(e1);
        let tangential = d - e1 * radial;
        let vt = tangential.length();
        // A radial ray stays on its line: the general path takes it.
        if vt < 1e-9 {
            return Passage::NotPlanar;
        }
        let e2 = tangential / vt;
        let n = self.medium.background;
        let k = 1.5 * o.rs;
        let (mut u, mut w, mut phi) = (1.0 / r0, -radial / (r0 * vt), 0.0);
        // 1/b^2: the orbit's invariant.
        let c = w * w + u * u - o.rs * u * u * u;
        let point = |u: f64, phi: f64| {
            let (sin, cos) = f64::sin_cos(phi);
            o.centre + (e1 * cos + e2 * sin) / u
        };
        // d(position)/d(phi) times u^2, normalised.
        let tangent = |u: f64, w: f64, phi: f64| {
            let (sin, cos) = f64::sin_cos(phi);
            ((e2 * cos - e1 * sin) * u - (e1 * cos + e2 * sin) * w).normalize_or(d)
        };
        let u_exit = 1.0 / o.extent;
        let u_capture = 1.0 / (o.rs * (1.0 + 1e-9));
        let accurate = (120.0 * rk).powf(0.2).min(0.5);
        let clear = relaxed && self.orbit_clear;
        // The last point a chord was emitted from, and its phi.
        let (mut from, mut from_phi) = (s.x, 0.0);
        // cos(dphi) for the clear region's chords, kept while dphi repeats (it does:
        // after the first step every step is `accurate` long until the last).
        let mut cos_of = (f64::NAN, f64::NAN);
        let mut cap = f64::INFINITY;
        // Whether the last step could reach geometry: this one then starts at the
        // chord tolerance's length, not the accuracy's.
        let mut near = true;
        loop {
            if walk.steps >= self.tol.max_steps {
                if clear {
                    // Positions are only made at the region's edge in a clear region.
                    s.x = point(u, phi);
                }
                s.p = tangent(u, w, phi) * n;
                return Passage::Ended(Termination::StepBudget);
            }
            let mut dphi = accurate.min(cap);
            let geometric = self
                .tol
                .geometric
                .max(RayCone::GEOMETRIC_FRACTION * cone.width_at(walk.travelled));
            // The step the chord tolerance allows: chord length per phi is
            // sqrt(u^2 + w^2) / u^2; the curvature bound 1.5 r_s u^2 is taken a
            // quarter further in.
            let chord_phi = if clear {
                f64::INFINITY
            } else {
                let ub = 1.25 * u;
                let chord = (8.0 * geometric / (k * ub * ub)).sqrt();
                chord * u * u / (u * u + w * w).sqrt()
            };
            if near {
                dphi = dphi.min(chord_phi);
            }
            let f = |u: f64, w: f64| (w, k * u * u - u);
            let (a1, b1) = f(u, w);
            let (a2, b2) = f(u + 0.5 * dphi * a1, w + 0.5 * dphi * b1);
            let (a3, b3) = f(u + 0.5 * dphi * a2, w + 0.5 * dphi * b2);
            let (a4, b4) = f(u + dphi * a3, w + dphi * b3);
            let u1 = u + dphi / 6.0 * (a1 + 2.0 * a2 + 2.0 * a3 + a4);
            let mut w1 = w + dphi / 6.0 * (b1 + 2.0 * b2 + 2.0 * b3 + b4);
            walk.steps += 1;
            if u1 < 0.5 * u_exit {
                // Far past the region's edge (a ray leaving fast): a shorter step.
                cap = 0.5 * dphi;
                continue;
            }
            // The invariant fixes |w|; the step gives its sign (at a turning point
            // where u overshot, w^2 would be negative: 0).
            let w2 = c - u1 * u1 + o.rs * u1 * u1 * u1;
            w1 = w1.signum() * w2.max(0.0).sqrt();
            let captured = u1 >= u_capture;
            if clear {
                // No geometry in the region: no chord is tested, so no position is
                // needed until the path leaves (two `sin_cos` per step saved; the
                // chord's length, for the path length, from the law of cosines).
                let (ra, rb) = (1.0 / u, 1.0 / u1.min(u_capture * 2.0));
                if cos_of.0 != dphi {
                    cos_of = (dphi, dphi.cos());
                }
                let chord = (ra * ra + rb * rb - 2.0 * ra * rb * cos_of.1)
                    .max(0.0)
                    .sqrt();
                cap = 5.0 * dphi;
                walk.travelled += chord;
                s.opl += n * chord;
                (u, w, phi) = (u1, w1, phi + dphi);
                let left = u <= u_exit;
                // One chord across the empty region, for the path's record; one more
                // each time the orbit has turned 2.5 radians since the last (a step
                // is at most 0.5), so no chord spans half a turn about the centre and
                // the angles the chords sweep about it add up to the orbit's (the
                // ground truth's image order counts them).
                if captured || left || phi - from_phi >= 2.5 {
                    let at = point(u.min(u_capture * 2.0), phi);
                    let seg = Segment {
                        start: from,
                        end: at,
                        deviation: 0.0,
                        index: walk.segments,
                    };
                    (from, from_phi) = (at, phi);
                    if emit(seg, &mut walk.segments).is_hit() {
                        s.x = at;
                        s.p = tangent(u, w, phi) * n;
                        return Passage::Ended(Termination::Hit);
                    }
                }
                if captured || left {
                    s.x = from;
                    s.p = tangent(u, w, phi) * n;
                    return if captured {
                        Passage::Ended(Termination::Captured)
                    } else {
                        Passage::Left
                    };
                }
                continue;
            }
            let end = point(u1.min(u_capture * 2.0), phi + dphi);
            let chord = (end - s.x).length();
            if !clear {
                let ub = u.max(u1) + 0.5 * w.abs().max(w1.abs()) * dphi;
                // The path stays within `reach` of the step's start (radially
                // between 1/ub and the larger end radius, and dphi around), so
                // the chord's envelope within twice that.
                let r_max = (1.0 / u).max(1.0 / u1.max(u_capture));
                let reach = (r_max - 1.0 / ub).abs() + r_max * dphi;
                let deviation = (chord * chord * k * ub * ub / 8.0).min(reach);
                let around = DVec3::splat(2.0 * reach);
                let open = relaxed && !self.geometry_near(s.x - around, s.x + around);
                if !open && deviation > 2.0 * geometric && dphi > 1e-9 && !captured {
                    // Geometry within reach: halve the step, down to the chord
                    // tolerance's.
                    cap = 0.5 * dphi;
                    near = near || cap <= chord_phi;
                    continue;
                }
                near = !open;
                let seg = Segment {
                    start: s.x,
                    end,
                    deviation,
                    index: walk.segments,
                };
                match emit(seg, &mut walk.segments) {
                    Verdict::Hit => {
                        s.x = end;
                        s.opl += n * chord;
                        s.p = tangent(u1, w1, phi + dphi) * n;
                        return Passage::Ended(Termination::Hit);
                    }
                    Verdict::Uncertain if dphi > 1e-9 && walk.subdivide() => {
                        cap = 0.25 * dphi;
                        continue;
                    }
                    _ => {}
                }
            }
            cap = 5.0 * dphi;
            walk.travelled += chord;
            s.opl += n * chord;
            s.x = end;
            (u, w, phi) = (u1, w1, phi + dphi);
            // The direction only where the walk ends (a `sin_cos` and a
            // normalisation per step saved).
            if captured {
                s.p = tangent(u, w, phi) * n;
                return Passage::Ended(Termination::Captured);
            }
            if u <= u_exit {
                s.p = tangent(u, w, phi) * n;
                return Passage::Left;
            }
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

/// `s` plus the first `N` stages of `k` weighted by `row` times `h` (a
/// Dormand-Prince stage's state; `row` is a constant, so zero weights vanish).
#[inline(always)]
fn stage<const N: usize>(s: &State, k: &[(DVec3, DVec3, f64); 7], row: &[f64; 6], h: f64) -> State {
    let mut st = *s;
    for j in 0..N {
        if row[j] != 0.0 {
            let a = row[j] * h;
            st.x += k[j].0 * a;
            st.p += k[j].1 * a;
            st.opl += k[j].2 * a;
        }
    }
    st
}

/// The step-size controller's factor, `ratio^(1/5)` (the error estimate is of 4th
/// order): in f32, since the controller needs no more (a libm `pow` in f64 was 3-5%
/// of a curved render).
fn step_factor(ratio: f64) -> f64 {
    f64::from((ratio.min(1e30) as f32).powf(0.2))
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

    fn luneburg() -> Integrator {
        let medium = Medium::default().with(FieldKind::Luneburg(Luneburg {
            centre: DVec3::ZERO,
            radius: 1.0,
        }));
        Integrator::new(medium, Tolerances::default())
    }

    fn fisheye(extent: f64) -> Integrator {
        let medium =
            Medium::default().with(FieldKind::MaxwellFishEye(crate::field::MaxwellFishEye {
                centre: DVec3::ZERO,
                radius: 1.0,
                n0: 2.0,
                extent,
            }));
        Integrator::new(
            medium,
            Tolerances {
                max_steps: 20_000,
                ..Tolerances::default()
            },
        )
    }

    #[test]
    fn an_exact_cone_is_the_plain_trace() {
        let it = luneburg();
        let o = DVec3::new(-5.0, 0.3, 0.1);
        let a = it.trace(o, DVec3::X, None, |_| Verdict::Continue);
        let b = it.trace_cone(o, DVec3::X, RayCone::EXACT, None, |_| Verdict::Continue);
        assert_eq!(a, b);
        // With the footprint switched off in the tolerances, a cone changes nothing.
        let off = Integrator::new(
            it.medium().clone(),
            Tolerances {
                pixel_footprint: false,
                ..Tolerances::default()
            },
        );
        let cone = RayCone {
            width: 0.0,
            spread: 2e-3,
        };
        let c = off.trace_cone(o, DVec3::X, cone, None, |_| Verdict::Continue);
        assert_eq!(a, c);
    }

    #[test]
    fn a_pixel_cone_needs_fewer_steps_and_stays_within_its_pixel() {
        let it = luneburg();
        // A 2 mrad pixel seen from 5 units: the beam is 1 cm wide at the lens.
        let cone = RayCone {
            width: 0.0,
            spread: 2e-3,
        };
        for y in [0.05, 0.3, 0.6, 0.9, 0.99] {
            let o = DVec3::new(-5.0, y, 0.0);
            let exact = it.trace(o, DVec3::X, None, |_| Verdict::Continue);
            let loose = it.trace_cone(o, DVec3::X, cone, None, |_| Verdict::Continue);
            assert!(
                loose.steps * 2 <= exact.steps,
                "y {y}: {} steps with the cone, {} without",
                loose.steps,
                exact.steps
            );
            // The exit direction within a twentieth of the pixel.
            let angle = loose.direction.angle_between(exact.direction);
            assert!(angle < 0.05 * cone.spread, "y {y}: {angle:e} rad");
        }
    }

    #[test]
    fn steps_end_on_edges_instead_of_failing_across_them() {
        // Rejected steps are counted as steps: a step across the lens's edge used
        // to fail its error test until it was tiny (40% of the steps rejected).
        let it = luneburg();
        for y in [0.1, 0.5, 0.8] {
            let r = it.trace(DVec3::new(-5.0, y, 0.0), DVec3::X, None, |_| {
                Verdict::Continue
            });
            // Two straight segments (in and out) besides the curved ones.
            let curved = r.segments - 2;
            assert!(
                f64::from(r.steps) <= 1.15 * f64::from(curved),
                "y {y}: {} steps for {curved} curved segments",
                r.steps
            );
        }
    }

    #[test]
    fn steps_follow_the_field_not_its_extent() {
        // The grid's cells grow with the fish-eye's extent; the local bound does
        // not, so a ray's steps barely change from extent 16 to 1000 (54,433 vs
        // 1,140 steps when each step took its grid cell's bound).
        let o = DVec3::new(-0.5, 0.2, -3.0);
        let d = DVec3::new(0.1, 0.0, 1.0).normalize();
        let steps = |extent| {
            let r = fisheye(extent).trace(o, d, None, |_| Verdict::Continue);
            assert_eq!(r.termination, Termination::Escaped, "extent {extent}");
            r.steps
        };
        let (near, far) = (steps(16.0), steps(1000.0));
        assert!(
            far <= 3 * near,
            "{near} steps at extent 16, {far} at extent 1000"
        );
    }

    #[test]
    fn kinks_are_found_along_a_line() {
        use crate::field::{Aabb, Kink};
        let sphere = Kink::Sphere(DVec3::ZERO, 1.0);
        let t = sphere
            .distance(DVec3::new(-3.0, 0.0, 0.0), DVec3::X)
            .unwrap();
        assert!((t - 2.0).abs() < 1e-12);
        // From inside, the exit.
        let t = sphere
            .distance(DVec3::new(0.5, 0.0, 0.0), DVec3::X)
            .unwrap();
        assert!((t - 0.5).abs() < 1e-12);
        assert_eq!(sphere.distance(DVec3::new(-3.0, 2.0, 0.0), DVec3::X), None);
        assert_eq!(sphere.distance(DVec3::new(3.0, 0.0, 0.0), DVec3::X), None);
        let cube = Kink::Box(Aabb::new(DVec3::splat(-1.0), DVec3::splat(1.0)));
        let t = cube.distance(DVec3::new(0.0, 0.0, 0.0), DVec3::Y).unwrap();
        assert!((t - 1.0).abs() < 1e-12);
        let t = cube.distance(DVec3::new(0.0, -4.0, 0.0), DVec3::Y).unwrap();
        assert!((t - 3.0).abs() < 1e-12);
    }

    fn hole(extra: Option<FieldKind>) -> Integrator {
        let mut medium =
            Medium::default().with(FieldKind::Schwarzschild(crate::field::Schwarzschild {
                centre: DVec3::ZERO,
                rs: 2.0,
                extent: 500.0,
            }));
        if let Some(f) = extra {
            medium = medium.with(f);
        }
        Integrator::new(medium, Tolerances::default())
    }

    #[test]
    fn orbits_in_the_plane_follow_the_runge_kutta_geodesics() {
        // A faint blob far away makes the medium more than one mass in vacuum: the
        // Dormand-Prince path then takes the same rays.
        let planar = hole(None);
        let general = hole(Some(FieldKind::GaussianBlob(crate::field::GaussianBlob {
            centre: DVec3::splat(1e5),
            sigma: 1.0,
            amplitude: 1e-9,
        })));
        assert!(planar.orbit.is_some() && general.orbit.is_none());
        let o = DVec3::new(0.5, -1.0, -60.0);
        for b in [5.3, 5.6, 6.5, 10.0, 30.0, 120.0] {
            let d = (DVec3::new(b, 0.3 * b, 0.0) - o).normalize();
            let p = planar.trace(o, d, None, |_| Verdict::Continue);
            let g = general.trace(o, d, None, |_| Verdict::Continue);
            assert_eq!(p.termination, g.termination, "b {b}");
            let angle = p.direction.angle_between(g.direction);
            assert!(angle < 1e-7, "b {b}: directions differ by {angle:e} rad");
        }
        // Aimed at the hole: captured by both.
        let d = (DVec3::new(1.0, 0.5, 0.0) - o).normalize();
        let p = planar.trace(o, d, None, |_| Verdict::Continue);
        assert_eq!(p.termination, Termination::Captured);
        assert!((p.position.length() - 2.0).abs() < 0.5, "{}", p.position);
    }

    #[test]
    fn orbits_decide_capture_by_the_impact_parameter() {
        // From 1e8 away, where the offset is the impact parameter to 1e-23 (at
        // r = 400 it would differ by 4e-7: r_s / r^3 against 1 / b^2).
        let hole = Integrator::new(
            Medium::default().with(FieldKind::Schwarzschild(crate::field::Schwarzschild {
                centre: DVec3::ZERO,
                rs: 2.0,
                extent: 2e8,
            })),
            Tolerances::default(),
        );
        let b_c = 3.0 * 3f64.sqrt();
        for (b, expect) in [
            (b_c * (1.0 - 1e-9), Termination::Captured),
            (b_c * (1.0 + 1e-9), Termination::Escaped),
        ] {
            let r = hole.trace(DVec3::new(-1e8, b, 0.0), DVec3::X, None, |_| {
                Verdict::Continue
            });
            assert_eq!(r.termination, expect, "b = {b}");
        }
    }

    #[test]
    fn an_empty_region_is_crossed_in_a_chord_per_2_5_radians_of_orbit() {
        let empty = std::sync::Arc::new(crate::accel::Tlas::build(Vec::new()));
        let open = hole(None).with_geometry(empty);
        let bare = hole(None);
        // Impact parameter 8.7 (> 5.2: it escapes).
        let o = DVec3::new(0.0, 0.0, -40.0);
        let d = DVec3::new(0.2, 0.1, 1.0).normalize();
        let (mut chords_open, mut chords_bare) = (Vec::new(), 0);
        // A beam of no width to speak of: relaxed, at the scene's tolerances.
        let beam = RayCone {
            width: 0.0,
            spread: 1e-12,
        };
        let a = open.trace_cone(o, d, beam, None, |s| {
            chords_open.push((s.start, s.end));
            Verdict::Continue
        });
        let b = bare.trace_cone(o, d, beam, None, |_| {
            chords_bare += 1;
            Verdict::Continue
        });
        assert_eq!(a.termination, Termination::Escaped);
        // Its orbit turns 2.9 radians about the centre inside the region: two chords
        // across it (one ends once the orbit has turned 2.5 radians, so no chord
        // spans half a turn and the image order can count windings), and the
        // straight flight beyond.
        assert_eq!(chords_open.len(), 3);
        let turned: Vec<f64> = chords_open[..2]
            .iter()
            .map(|(s, e)| s.angle_between(*e))
            .collect();
        assert!(turned[0] >= 2.5 && turned[0] < 3.0, "{turned:?}");
        assert!(turned[0] + turned[1] > 2.5 && turned[1] < 2.5, "{turned:?}");
        assert!(chords_bare > 20, "{chords_bare}");
        assert!(a.direction.angle_between(b.direction) < 1e-7);
    }

    #[test]
    fn a_clear_region_ends_rays_where_the_chord_walk_does() {
        // The clear path makes no positions inside the region (the chord lengths come
        // from the law of cosines); where rays leave or are captured, and the optical
        // path, agree with the walk that tests every chord.
        let empty = std::sync::Arc::new(crate::accel::Tlas::build(Vec::new()));
        let open = hole(None).with_geometry(empty);
        let bare = hole(None);
        let o = DVec3::new(0.0, 0.0, -40.0);
        let beam = RayCone {
            width: 0.0,
            spread: 1e-12,
        };
        // Impact parameters from captured (< 5.196) to escaping.
        for x in [0.02, 0.1, 0.125, 0.14, 0.2, 0.5, 1.5] {
            let d = DVec3::new(x, 0.3 * x, 1.0).normalize();
            let a = open.trace_cone(o, d, beam, None, |_| Verdict::Continue);
            let b = bare.trace_cone(o, d, beam, None, |_| Verdict::Continue);
            assert_eq!(a.termination, b.termination, "x {x}");
            if a.termination == Termination::Captured {
                // At the horizon (where a step lands inside it depends on its size).
                assert!(a.position.length() < 2.5, "x {x}: {}", a.position);
                assert!(b.position.length() < 2.5, "x {x}: {}", b.position);
                // The path to it, summed over chords of different lengths (the clear
                // path's span whole accuracy-limited steps): equal to well under the
                // horizon's size.
                let diff = (a.optical_path - b.optical_path).abs();
                assert!(diff < 0.5, "x {x}: optical paths differ by {diff}");
                continue;
            }
            // Each leaves the region at the end of its own last step, a little past
            // the edge, where the hole still bends rays: directions agree to 1e-6
            // (1.5e-7 at most here, as before the clear path skipped positions).
            let turn = a.direction.angle_between(b.direction);
            assert!(turn < 1e-6, "x {x}: directions differ by {turn:e} rad");
            // Both end on their far chord, beyond the region's edge.
            let along = a.position.normalize().angle_between(b.position.normalize());
            assert!(
                along < 1e-6,
                "x {x}: end directions from the hole {along:e}"
            );
        }
    }

    #[test]
    fn far_from_geometry_the_chord_tolerance_does_not_limit_steps() {
        // A lens with nothing near it: steps as long as the error test allows.
        let empty = std::sync::Arc::new(crate::accel::Tlas::build(Vec::new()));
        let open = luneburg().with_geometry(empty);
        let bare = luneburg();
        let pixel = RayCone {
            width: 0.0,
            spread: 2e-3,
        };
        for y in [0.2, 0.6, 0.9] {
            let o = DVec3::new(-5.0, y, 0.0);
            let a = open.trace_cone(o, DVec3::X, pixel, None, |_| Verdict::Continue);
            let b = bare.trace_cone(o, DVec3::X, pixel, None, |_| Verdict::Continue);
            assert!(a.steps < b.steps, "y {y}: {} vs {} steps", a.steps, b.steps);
            let angle = a.direction.angle_between(b.direction);
            assert!(angle < 0.05 * pixel.spread, "y {y}: {angle:e} rad");
            // An exact ray keeps every chord within the tolerance.
            let exact = open.trace(o, DVec3::X, None, |_| Verdict::Continue);
            assert_eq!(exact, bare.trace(o, DVec3::X, None, |_| Verdict::Continue));
        }
    }
}
