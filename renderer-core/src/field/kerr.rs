//! A Kerr (spinning) black hole in Cartesian Kerr-Schild coordinates, with an optional
//! thin accretion disk in its equatorial plane.
//!
//! # The spacetime
//!
//! In the hole's own frame (centre at the origin, spin along +z), the metric is
//! g = eta + f l (x) l with eta = diag(-1, 1, 1, 1), the null covector
//! l = (1, (r x + a y) / (r^2 + a^2), (r y - a x) / (r^2 + a^2), z / r) and
//! f = 2 M r^3 / (r^4 + a^2 z^2), where r solves
//! (x^2 + y^2) / (r^2 + a^2) + z^2 / r^2 = 1 (the Boyer-Lindquist radius). Its inverse
//! is eta - f l^ l^ exactly, so the null geodesics' Hamiltonian is
//!
//! H = (-P^2 + |p|^2 - f (l.p - P)^2) / 2,
//!
//! with p the covariant spatial momentum and P = p_t, a constant of motion (the metric
//! does not depend on t). The coordinates are regular at the poles and through the
//! horizon (GRay2 integrates the same form); the spatial coordinates are Cartesian, so
//! a ray's chords are straight segments in scene space and meshes, the BVH and the
//! soft gate work unchanged. At a = 0 the spatial paths are the Schwarzschild ones.
//!
//! Rays are traced backwards from the camera: p is minus the photon's momentum, so it
//! is past-directed (p^t < 0) and P is the photon's energy at infinity, positive
//! outside the ergosphere. Its normalisation is the integrator's: at a ray's start
//! p^mu = (tau, d) with d the unit coordinate direction (see [`Spacetime::momentum`]).
//!
//! The hole is a region like a mass's: within `extent` of its centre rays follow its
//! geodesics (`Integrator::kerr_passage`), beyond it they are straight (the metric is
//! taken as flat there; the jump is 2M / extent).

use glam::DVec3;
use serde::{Deserialize, Serialize};

use super::{Aabb, At, CurvatureTerms, Primitive, block, check_extent, v4};
use crate::gpu::layout::GpuField;
use crate::scene::SceneError;

fn default_axis() -> DVec3 {
    DVec3::Y
}

fn default_one() -> f64 {
    1.0
}

fn default_temperature() -> f64 {
    10_000.0
}

/// A Kerr black hole of mass `mass` and spin `spin` (the angular momentum per unit
/// mass, a, in length units: |a| < M; negative spins about `-axis`), bending rays
/// along its null geodesics within `extent` of its centre. Scene files write
/// `Kerr(centre: (0, 0, 0), mass: 1, spin: 0.9, extent: 60, disk: Some((outer: 20)))`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Kerr {
    /// Centre.
    pub centre: DVec3,
    /// Mass M (geometric units: r_s = 2M is a length).
    pub mass: f64,
    /// Spin a = J / M, with |a| < M.
    pub spin: f64,
    /// The spin axis (default +y); normalised on use.
    #[serde(default = "default_axis")]
    pub axis: DVec3,
    /// Radius of influence: outside it rays are straight (at least 10 M).
    pub extent: f64,
    /// A thin accretion disk in the equatorial plane.
    #[serde(default)]
    pub disk: Option<Disk>,
}

/// A geometrically thin disk of gas on circular Keplerian orbits in the hole's
/// equatorial plane, glowing as a blackbody at its local temperature.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Disk {
    /// Inner radius (Boyer-Lindquist r); default the innermost stable circular orbit.
    #[serde(default)]
    pub inner: Option<f64>,
    /// Outer radius.
    pub outer: f64,
    /// Whether the gas orbits against the hole's spin.
    #[serde(default)]
    pub retrograde: bool,
    /// How the emitted flux falls with radius.
    #[serde(default)]
    pub profile: DiskProfile,
    /// The highest temperature on the disk (kelvin) for Novikov-Thorne; the inner
    /// edge's for a power law.
    #[serde(default = "default_temperature")]
    pub temperature: f64,
    /// Radiance scale: the luminance (Y) of the hottest gas seen without shift.
    #[serde(default = "default_one")]
    pub brightness: f64,
    /// Fraction of the light behind it that the disk absorbs (1: opaque; below 1 an
    /// optically thin disk lets the rest through, and emits that fraction of a
    /// blackbody's radiance).
    #[serde(default = "default_one")]
    pub opacity: f64,
}

/// A disk's radial flux profile.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub enum DiskProfile {
    /// Novikov-Thorne (Page-Thorne 1974): a relativistic disk with no torque at its
    /// inner edge.
    #[default]
    NovikovThorne,
    /// F proportional to r^-q (temperature to r^(-q/4)).
    PowerLaw(f64),
}

/// The spacetime of a Kerr hole in its own frame (M and a).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spacetime {
    /// Mass.
    pub m: f64,
    /// Spin (signed).
    pub a: f64,
}

/// The metric's pieces at a point: Boyer-Lindquist r, f and the spatial l.
#[derive(Debug, Clone, Copy)]
struct Metric {
    r: f64,
    f: f64,
    l: DVec3,
}

/// Which past-directed null momentum a ray launched by its coordinate direction
/// carries. Inside a Kerr hole's ergosphere two share each direction: the one of
/// smaller p^t, which stays finite as the ergosphere's edge is crossed, is
/// [`Root::Near`] (the integrator's default), the other [`Root::Far`]. Outside it
/// there is one, the near one. A camera inside the ergosphere says which its
/// observer's photon is ([`crate::camera::Camera::photon`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
#[non_exhaustive]
pub enum Root {
    /// The root of smaller |p^t| (the only one outside the ergosphere).
    #[default]
    Near,
    /// The other, inside the ergosphere.
    Far,
}

/// The constants of motion of a ray: H (0 on a null geodesic), the energy at
/// infinity P, the axial angular momentum L_z and Carter's constant Q.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Constants {
    /// The Hamiltonian (0 for light).
    pub hamiltonian: f64,
    /// The size of its terms, (P^2 + |p|^2 + f (l.p - P)^2) / 2: its rounding scale
    /// (near the horizon a backward ray's momentum grows without bound).
    pub magnitude: f64,
    /// p_t: the energy at infinity (in the ray's normalisation).
    pub energy: f64,
    /// p_phi = x p_y - y p_x.
    pub lz: f64,
    /// Carter's constant p_theta^2 + cos^2(theta) (L_z^2 / sin^2(theta) - a^2 E^2).
    pub carter: f64,
}

impl Constants {
    /// The relative drift from `start` to `self`: H over the size of its terms, L_z and Q over the
    /// ray's scale (K + L_z^2 + M^2 P^2, with K = Q + (L_z - a P)^2 >= 0, squared or
    /// not as the quantity is).
    #[must_use]
    pub fn drift(&self, start: &Constants, st: &Spacetime) -> Drift {
        let e2 = start.energy * start.energy;
        let k = start.carter + (start.lz - st.a * start.energy).powi(2);
        let scale2 = (k + start.lz * start.lz + st.m * st.m * e2).max(f64::MIN_POSITIVE);
        Drift {
            hamiltonian: self.hamiltonian.abs() / self.magnitude.max(f64::MIN_POSITIVE),
            lz: (self.lz - start.lz).abs() / scale2.sqrt(),
            carter: (self.carter - start.carter).abs() / scale2,
        }
    }
}

/// Relative drift of a ray's constants of motion (see [`Constants::drift`]); the
/// energy is exact (P is not integrated).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct Drift {
    /// |H| over the size of its terms.
    pub hamiltonian: f64,
    /// Axial angular momentum.
    pub lz: f64,
    /// Carter's constant.
    pub carter: f64,
}

impl Drift {
    /// The largest of the three.
    #[must_use]
    pub fn max(&self) -> f64 {
        self.hamiltonian.max(self.lz).max(self.carter)
    }

    /// The larger of each.
    #[must_use]
    pub fn worst(&self, o: &Drift) -> Drift {
        Drift {
            hamiltonian: self.hamiltonian.max(o.hamiltonian),
            lz: self.lz.max(o.lz),
            carter: self.carter.max(o.carter),
        }
    }
}

impl Spacetime {
    /// Outer horizon r+ = M + sqrt(M^2 - a^2).
    #[must_use]
    pub fn horizon(&self) -> f64 {
        self.m + (self.m * self.m - self.a * self.a).max(0.0).sqrt()
    }

    /// The Boyer-Lindquist radius of local point `x`.
    #[must_use]
    pub fn radius(&self, x: DVec3) -> f64 {
        let a2 = self.a * self.a;
        let w = x.length_squared() - a2;
        (0.5 * (w + (w * w + 4.0 * a2 * x.z * x.z).sqrt()))
            .max(0.0)
            .sqrt()
    }

    fn metric(&self, x: DVec3) -> Metric {
        let r = self.radius(x).max(1e-300);
        let (a, r2) = (self.a, r * r);
        let q = r2 + a * a;
        let sigma = r2 * r2 + a * a * x.z * x.z;
        Metric {
            r,
            f: 2.0 * self.m * r2 * r / sigma,
            l: DVec3::new((r * x.x + a * x.y) / q, (r * x.y - a * x.x) / q, x.z / r),
        }
    }

    /// H at (`x`, `p`) with p_t = `pt`.
    #[must_use]
    pub fn hamiltonian(&self, x: DVec3, p: DVec3, pt: f64) -> f64 {
        let m = self.metric(x);
        let big_l = m.l.dot(p) - pt;
        0.5 * (-pt * pt + p.length_squared() - m.f * big_l * big_l)
    }

    /// Hamilton's equations at (`x`, `p`) with p_t = `pt`: (dx/dlambda, dp/dlambda).
    #[must_use]
    pub fn derivative(&self, x: DVec3, p: DVec3, pt: f64) -> (DVec3, DVec3) {
        let a = self.a;
        let Metric { r, f, l } = self.metric(x);
        let r2 = r * r;
        let q = r2 + a * a;
        let sigma = r2 * r2 + a * a * x.z * x.z;
        // grad r, from r^4 - (R^2 - a^2) r^2 - a^2 z^2 = 0.
        let dr = DVec3::new(x.x * r2 * r, x.y * r2 * r, x.z * q * r) / sigma;
        // grad f = 2M (3 r^2 sigma grad r - r^3 grad sigma) / sigma^2.
        let dsigma = dr * (4.0 * r2 * r) + DVec3::new(0.0, 0.0, 2.0 * a * a * x.z);
        let df = (dr * (3.0 * r2 * sigma) - dsigma * (r2 * r)) * (2.0 * self.m / (sigma * sigma));
        // (grad l)^T p: sum_j d_i l_j p_j.
        let g = dr
            * ((x.x * p.x + x.y * p.y) / q
                - 2.0 * r * (l.x * p.x + l.y * p.y) / q
                - p.z * x.z / r2)
            + DVec3::new((r * p.x - a * p.y) / q, (r * p.y + a * p.x) / q, p.z / r);
        let big_l = l.dot(p) - pt;
        let dx = p - l * (f * big_l);
        let dp = df * (0.5 * big_l * big_l) + g * (f * big_l);
        (dx, dp)
    }

    /// The past-directed null momentum at local `x` whose contravariant spatial part
    /// is the unit direction `d`: (p_t, covariant p). `None` where no null vector has
    /// that coordinate direction (against the frame dragging inside the ergosphere).
    #[must_use]
    pub fn momentum(&self, x: DVec3, d: DVec3) -> Option<(f64, DVec3)> {
        self.momentum_root(x, d, Root::Near)
    }

    /// [`Spacetime::momentum`] choosing the root: inside the ergosphere two
    /// past-directed null momenta have the contravariant spatial direction `d`
    /// ([`Root`]); elsewhere there is one, [`Root::Near`], and [`Root::Far`] is `None`.
    #[must_use]
    pub fn momentum_root(&self, x: DVec3, d: DVec3, root: Root) -> Option<(f64, DVec3)> {
        let Metric { f, l, .. } = self.metric(x);
        let ld = l.dot(d);
        // (f - 1) tau^2 + 2 f (l.d) tau + 1 + f (l.d)^2 = 0, tau = p^t < 0.
        let disc = 1.0 - f + f * ld * ld;
        if disc < 0.0 {
            return None;
        }
        let root_d = disc.sqrt();
        let (qa, qb, c) = (f - 1.0, f * ld, 1.0 + f * ld * ld);
        // The roots qq / qa and c / qq, qq = -(qb + sign(qb) root): no cancellation.
        // Outside the ergosphere (qa < 0) exactly one is negative; inside both may
        // be, and the one of smaller size is the root that stays finite as the
        // ergosphere's edge is crossed (the other comes in from infinity).
        let qq = -(qb + if qb < 0.0 { -root_d } else { root_d });
        let roots = [if qa != 0.0 { qq / qa } else { f64::NAN }, c / qq];
        let mut taus = roots.into_iter().filter(|t| *t < 0.0 && t.is_finite());
        let (first, second) = (taus.next(), taus.next());
        let (near, far) = match (first, second) {
            (Some(a), Some(b)) if b.abs() < a.abs() => (b, Some(a)),
            (Some(a), b) => (a, b),
            (None, _) => return None,
        };
        let tau = match root {
            Root::Near => near,
            Root::Far => far?,
        };
        let pt = qa * tau + f * ld;
        let p = d + l * (f * (tau + ld));
        Some((pt, p))
    }

    /// The contravariant 4-vector (t, spatial) of covariant (`pt`, `p`) at `x`.
    #[must_use]
    pub fn raise(&self, x: DVec3, pt: f64, p: DVec3) -> (f64, DVec3) {
        let Metric { f, l, .. } = self.metric(x);
        // g^ = eta - f l^ l^, l^ = (-1, l).
        let big_l = -pt + l.dot(p);
        (-pt + f * big_l, p - l * (f * big_l))
    }

    /// The covariant 4-vector of contravariant (`ut`, `u`) at `x`.
    #[must_use]
    pub fn lower(&self, x: DVec3, ut: f64, u: DVec3) -> (f64, DVec3) {
        let Metric { f, l, .. } = self.metric(x);
        let lu = ut + l.dot(u);
        (-ut + f * lu, u + l * (f * lu))
    }

    /// g(v, w) for contravariant 4-vectors at `x`.
    #[must_use]
    pub fn dot(&self, x: DVec3, v: (f64, DVec3), w: (f64, DVec3)) -> f64 {
        let (wt, ws) = self.lower(x, w.0, w.1);
        v.0 * wt + v.1.dot(ws)
    }

    /// The ray's constants of motion at (`x`, `p`), p_t = `pt`.
    #[must_use]
    pub fn constants(&self, x: DVec3, p: DVec3, pt: f64) -> Constants {
        let r = self.radius(x);
        let q = r * r + self.a * self.a;
        let rho2 = x.x * x.x + x.y * x.y;
        let lz = x.x * p.y - x.y * p.x;
        // cos(theta) = z / r, sin^2(theta) = (x^2 + y^2) / (r^2 + a^2);
        // p_theta = cot(theta) (x p_x + y p_y) - r sin(theta) p_z.
        let cos = x.z / r;
        let sin2 = rho2 / q;
        let carter = if rho2 > 0.0 {
            let sin = sin2.sqrt();
            let p_theta = cos / sin * (x.x * p.x + x.y * p.y) - r * sin * p.z;
            p_theta * p_theta + cos * cos * (lz * lz / sin2 - self.a * self.a * pt * pt)
        } else {
            // On the axis L_z = 0 and p_theta^2 = r^2 (p_x^2 + p_y^2) ... at theta = 0.
            let p_theta2 = q * (p.x * p.x + p.y * p.y);
            p_theta2 - self.a * self.a * pt * pt
        };
        let m = self.metric(x);
        let big_l = m.l.dot(p) - pt;
        Constants {
            hamiltonian: self.hamiltonian(x, p, pt),
            magnitude: 0.5 * (pt * pt + p.length_squared() + m.f * big_l * big_l),
            energy: pt,
            lz,
            carter,
        }
    }

    /// Radius of the circular equatorial photon orbit, prograde (`prograde`) or
    /// retrograde with respect to the spin: 2M [1 + cos(2/3 arccos(-+a/M))].
    #[must_use]
    pub fn photon_orbit(&self, prograde: bool) -> f64 {
        let s = if prograde { -1.0 } else { 1.0 };
        2.0 * self.m * (1.0 + ((2.0 / 3.0) * (s * self.a / self.m).acos()).cos())
    }

    /// The critical impact parameter of equatorial rays (|b| at which a ray from far
    /// away neither escapes nor falls): -a + 6M cos(arccos(-a/M)/3) for prograde rays,
    /// a + 6M cos(arccos(a/M)/3) for retrograde ones (M = 1 in the formula's units).
    #[must_use]
    pub fn critical_impact(&self, prograde: bool) -> f64 {
        let (m, a) = (self.m, self.a);
        if prograde {
            -a + 6.0 * m * ((-a / m).acos() / 3.0).cos()
        } else {
            a + 6.0 * m * ((a / m).acos() / 3.0).cos()
        }
    }

    /// The innermost stable circular equatorial orbit (Bardeen, Press and Teukolsky
    /// 1972).
    #[must_use]
    pub fn isco(&self, prograde: bool) -> f64 {
        let (m, chi) = (self.m, self.a / self.m);
        let z1 = 1.0
            + (1.0 - chi * chi).cbrt() * ((1.0 + chi).cbrt() + (1.0 - chi).max(0.0).cbrt());
        let z2 = (3.0 * chi * chi + z1 * z1).sqrt();
        let root = ((3.0 - z1) * (3.0 + z1 + 2.0 * z2)).max(0.0).sqrt();
        m * (3.0 + z2 + if prograde { -root } else { root })
    }

    /// The angular velocity d(phi)/dt of a circular equatorial Keplerian orbit at `r`
    /// (prograde: same sense as the spin; retrograde orbits turn the other way).
    #[must_use]
    pub fn kepler_omega(&self, r: f64, prograde: bool) -> f64 {
        let sm = self.m.sqrt();
        let s = if prograde { 1.0 } else { -1.0 };
        s * sm / (r.powf(1.5) + s * self.a * sm)
    }

    /// u^t of that orbit (`None` inside the photon orbit, where none is timelike).
    #[must_use]
    pub fn kepler_ut(&self, r: f64, prograde: bool) -> Option<f64> {
        let (m, sm) = (self.m, self.m.sqrt());
        let s = if prograde { 1.0 } else { -1.0 };
        let r15 = r.powf(1.5);
        let d = r15 - 3.0 * m * r.sqrt() + s * 2.0 * self.a * sm;
        (d > 0.0).then(|| (r15 + s * self.a * sm) / (r.powf(0.75) * d.sqrt()))
    }

    /// The ergosphere's radius at polar angle theta: r where g_tt = 0 (f = 1).
    #[must_use]
    pub fn in_ergosphere(&self, x: DVec3) -> bool {
        self.metric(x).f >= 1.0
    }

    /// The 4-velocity (contravariant) of a zero-angular-momentum observer at `x`
    /// (outside the horizon): u_mu = -alpha grad t_BL.
    #[must_use]
    pub fn zamo(&self, x: DVec3) -> Option<(f64, DVec3)> {
        let Metric { r, .. } = self.metric(x);
        let delta = r * r - 2.0 * self.m * r + self.a * self.a;
        if delta <= 0.0 {
            return None;
        }
        let dr = self.grad_r(x, r);
        // t_BL = t - int 2Mr / Delta dr: grad t_BL = (1, -(2Mr / Delta) grad r).
        let cov = (1.0, -dr * (2.0 * self.m * r / delta));
        self.normalised_from_covector(x, cov)
    }

    /// The 4-velocity of an observer falling from rest at infinity with no angular
    /// momentum (Doran's raindrops): in Boyer-Lindquist u_mu = (-1, u_r, 0, 0), u_r =
    /// -sqrt(2Mr (r^2 + a^2)) / Delta; regular through the horizon in these
    /// coordinates.
    #[must_use]
    pub fn free_fall(&self, x: DVec3) -> (f64, DVec3) {
        let Metric { r, .. } = self.metric(x);
        let m = self.m;
        let s = (2.0 * m * r * (r * r + self.a * self.a)).sqrt();
        // The Kerr-Schild r component: u_r - 2Mr u_t / Delta = -2Mr / (2Mr + s).
        let ur = -2.0 * m * r / (2.0 * m * r + s);
        let dr = self.grad_r(x, r);
        let (ut, u) = self.raise(x, -1.0, dr * ur);
        (ut, u)
    }

    /// The 4-velocity of a circular equatorial Keplerian orbit through `x` (in the
    /// equatorial plane), `None` where none is timelike.
    #[must_use]
    pub fn orbiting(&self, x: DVec3, prograde: bool) -> Option<(f64, DVec3)> {
        let r = self.radius(x);
        let ut = self.kepler_ut(r, prograde)?;
        let om = self.kepler_omega(r, prograde);
        Some((ut, DVec3::new(-x.y, x.x, 0.0) * (ut * om)))
    }

    /// The static observer's 4-velocity (`None` in the ergosphere, where none is
    /// timelike).
    #[must_use]
    pub fn static_observer(&self, x: DVec3) -> Option<(f64, DVec3)> {
        let f = self.metric(x).f;
        (f < 1.0).then(|| (1.0 / (1.0 - f).sqrt(), DVec3::ZERO))
    }

    fn grad_r(&self, x: DVec3, r: f64) -> DVec3 {
        let r2 = r * r;
        let q = r2 + self.a * self.a;
        let sigma = r2 * r2 + self.a * self.a * x.z * x.z;
        DVec3::new(x.x * r2 * r, x.y * r2 * r, x.z * q * r) / sigma
    }

    /// The future-directed unit timelike vector along the covector `cov` (raised).
    fn normalised_from_covector(&self, x: DVec3, cov: (f64, DVec3)) -> Option<(f64, DVec3)> {
        let (t, s) = self.raise(x, cov.0, cov.1);
        let n2 = -(t * cov.0 + s.dot(cov.1));
        if n2 <= 0.0 {
            return None;
        }
        let k = 1.0 / n2.sqrt();
        // Raised grad t has negative t-component; the observer moves to the future.
        Some((-t * k, -s * k))
    }
}

/// The hole's frame: centre and an orthonormal basis with the spin along the third.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Frame {
    /// Centre.
    pub centre: DVec3,
    /// The basis: [e1, e2, spin axis].
    pub basis: [DVec3; 3],
}

impl Frame {
    /// Scene point to the hole's coordinates.
    #[must_use]
    pub fn to_local(&self, p: DVec3) -> DVec3 {
        self.vector_to_local(p - self.centre)
    }

    /// Scene vector to the hole's coordinates.
    #[must_use]
    pub fn vector_to_local(&self, v: DVec3) -> DVec3 {
        DVec3::new(v.dot(self.basis[0]), v.dot(self.basis[1]), v.dot(self.basis[2]))
    }

    /// The hole's coordinates to a scene point.
    #[must_use]
    pub fn to_world(&self, x: DVec3) -> DVec3 {
        self.centre + self.vector_to_world(x)
    }

    /// The hole's coordinates to a scene vector.
    #[must_use]
    pub fn vector_to_world(&self, v: DVec3) -> DVec3 {
        self.basis[0] * v.x + self.basis[1] * v.y + self.basis[2] * v.z
    }
}

impl Kerr {
    /// Its spacetime (in its own frame).
    #[must_use]
    pub fn spacetime(&self) -> Spacetime {
        Spacetime {
            m: self.mass,
            a: self.spin,
        }
    }

    /// Its frame: a right-handed basis (e1 x e2 = the spin axis), so the spin and
    /// prograde orbits turn counter-clockwise seen from the axis's tip.
    #[must_use]
    pub fn frame(&self) -> Frame {
        let e3 = self.axis.normalize_or(DVec3::Y);
        let e1 = e3.any_orthonormal_vector();
        let e2 = e3.cross(e1);
        Frame {
            centre: self.centre,
            basis: [e1, e2, e3],
        }
    }

    /// The disk's inner radius: given, or the ISCO of its orbits' sense.
    #[must_use]
    pub fn disk_inner(&self) -> Option<f64> {
        let d = self.disk?;
        Some(
            d.inner
                .unwrap_or_else(|| self.spacetime().isco(!d.retrograde)),
        )
    }
}

/// Where the scene's RK tolerance goes in [`Kerr::gpu_block`] (the scene fills it).
pub(crate) const KERR_GPU_RK: usize = 21;

/// `v` as an f32 pair whose sum in f64 is `v` to about 2^-48 relative: how the
/// shaders read f64 parameters from the f32 `scalars`.
pub(crate) fn hi_lo(v: f64) -> [f32; 2] {
    let hi = v as f32;
    [hi, (v - f64::from(hi)) as f32]
}

impl Kerr {
    /// The Kerr passage's parameters in f64, as `shaders/kerr.wgsl` reads them:
    /// centre, frame (e1, e2, spin axis), M, a, extent, capture radius, disk (1 or
    /// 0), its inner and outer radii, its gas's sense (+1: +phi), opacity, the RK
    /// tolerance's slot ([`KERR_GPU_RK`]), then the disk's temperature, largest
    /// Novikov-Thorne flux, brightness, profile (0: Novikov-Thorne, 1: power law),
    /// q and the ISCO of its gas.
    fn gpu_block(&self) -> [f64; KERR_GPU_RK + 7] {
        let fr = self.frame();
        let st = self.spacetime();
        let hole = crate::integrator::KerrHole::new(self);
        let [e1, e2, e3] = fr.basis;
        let mut b = [0.0; KERR_GPU_RK + 7];
        for (i, v) in [fr.centre, e1, e2, e3].into_iter().enumerate() {
            b[3 * i..3 * i + 3].copy_from_slice(&v.to_array());
        }
        b[12] = st.m;
        b[13] = st.a;
        b[14] = self.extent;
        b[15] = hole.capture();
        if let Some([inner, outer, sense, opacity, temperature, flux_max, brightness, profile, q, isco]) =
            hole.gpu_disk()
        {
            b[16] = 1.0;
            b[17..21].copy_from_slice(&[inner, outer, sense, opacity]);
            b[KERR_GPU_RK + 1..]
                .copy_from_slice(&[temperature, flux_max, brightness, profile, q, isco]);
        }
        b
    }
}

/// The curvature a Kerr path is expected to have at `r` (at least the horizon): the
/// Schwarzschild bound 3M / r^2 (exact at a = 0) with frame dragging's 2|a| / r more,
/// and half again. It predicts a step's length from the chord tolerance; it is no
/// bound near a fast-spinning hole's horizon, where a backward ray's coordinate path
/// twists without limit (sampled: a thousand times more at r+ + 0.5 M for a = 0.9),
/// so the passage measures each step's deviation from its ends' tangents and
/// shortens the step where it is too large (`Integrator::kerr_passage`).
#[must_use]
pub(crate) fn curvature_bound(st: &Spacetime, r: f64) -> f64 {
    let r = r.max(st.horizon());
    3.0 * st.m / (r * r) * (1.0 + 2.0 * st.a.abs() / r) * 1.5
}

impl Primitive for Kerr {
    const MASS: bool = true;
    const SPACETIME: bool = true;

    fn centre(&self) -> Option<DVec3> {
        Some(self.centre)
    }

    fn translate(&mut self, by: DVec3) {
        self.centre += by;
    }

    fn region(&self) -> Aabb {
        Aabb::around(self.centre, self.extent)
    }

    fn curvature(&self, cell: &Aabb, _background: f64) -> CurvatureTerms {
        let (near, _) = cell.distance_range(self.centre);
        CurvatureTerms {
            mass: if near < self.extent {
                // The coordinate distance bounds r from above by sqrt(R^2) and from
                // below by sqrt(R^2 - a^2).
                let r = (near * near - self.spin * self.spin).max(0.0).sqrt();
                curvature_bound(&self.spacetime(), r)
            } else {
                0.0
            },
            ..CurvatureTerms::default()
        }
    }

    fn validate(&self, at: &At<'_>, _background: f64) -> Result<(), SceneError> {
        at.vec("centre", self.centre)?;
        at.positive("mass", self.mass)?;
        if !self.spin.is_finite() || self.spin.abs() >= self.mass {
            return Err(at.fail(
                "spin",
                self.spin,
                "must satisfy |spin| < mass (a naked singularity otherwise)",
            ));
        }
        at.vec("axis", self.axis)?;
        if self.axis.length() < 1e-12 {
            return Err(at.fail("axis", self.axis.length(), "must be a nonzero vector"));
        }
        at.positive("extent", self.extent)?;
        check_extent(at, self.extent)?;
        if self.extent < 10.0 * self.mass {
            return Err(at.fail(
                "extent",
                self.extent,
                "must be at least 10 mass (well beyond the photon orbits and the ISCO)",
            ));
        }
        if let Some(d) = &self.disk {
            let st = self.spacetime();
            let inner = self.disk_inner().unwrap_or(0.0);
            let horizon = st.horizon();
            if let Some(i) = d.inner {
                if !i.is_finite() || i <= horizon {
                    return Err(at.fail(
                        "disk.inner",
                        i,
                        &format!("must be outside the horizon (r+ = {horizon})"),
                    ));
                }
                if st.kepler_ut(i, !d.retrograde).is_none() {
                    return Err(at.fail(
                        "disk.inner",
                        i,
                        "must be outside the photon orbit (no circular orbit inside it)",
                    ));
                }
            }
            if !d.outer.is_finite() || d.outer <= inner || d.outer >= self.extent {
                return Err(at.fail(
                    "disk.outer",
                    d.outer,
                    &format!("must lie between the inner radius ({inner}) and the extent"),
                ));
            }
            at.positive("disk.temperature", d.temperature)?;
            if !(d.brightness.is_finite() && d.brightness >= 0.0) {
                return Err(at.fail("disk.brightness", d.brightness, "must be >= 0"));
            }
            if !(d.opacity > 0.0 && d.opacity <= 1.0) {
                return Err(at.fail("disk.opacity", d.opacity, "must be in (0, 1]"));
            }
            if let DiskProfile::PowerLaw(q) = d.profile {
                if !q.is_finite() || q < 0.0 {
                    return Err(at.fail("disk.profile", q, "PowerLaw(q) needs q >= 0"));
                }
            }
        }
        Ok(())
    }

    fn gpu(&self, scalars: &mut Vec<f32>) -> GpuField {
        // kerr.wgsl: p0 = (centre, M), p1 = (axis, a), p2.x = extent in f32; the
        // passage's f64 block from head.y (shaders/kerr.wgsl, `kerr_hole`).
        let mut g = block(0);
        g.p0 = v4(self.centre, self.mass);
        g.p1 = v4(self.axis.normalize_or(DVec3::Y), self.spin);
        g.p2[0] = self.extent as f32;
        g.head[1] = scalars.len() as u32;
        scalars.extend(self.gpu_block().iter().flat_map(|&v| hi_lo(v)));
        g
    }

    #[cfg(test)]
    fn examples() -> Vec<Self> {
        vec![Kerr {
            centre: DVec3::new(0.5, -0.2, 1.0),
            mass: 0.5,
            spin: 0.3,
            axis: DVec3::new(0.2, 1.0, 0.1),
            extent: 10.0,
            disk: None,
        }]
    }
}

#[cfg(test)]
mod tests;
