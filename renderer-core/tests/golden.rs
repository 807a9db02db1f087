//! Golden physics: the integrator against closed-form results from
//! `../shared/reference/optics.md`. Expected values are computed here, from the
//! formulas or an independent quadrature, never from Grin's own output.
//!
//! Tolerances (stated per test): positions and directions within 1e-4 (relative to the
//! lens radius / in radians); Schwarzschild deflection within 1e-4 relative.

mod common;

use std::f64::consts::PI;

use glam::DVec3;
use renderer_core::field::{
    Aabb, FieldKind, LinearGradient, Luneburg, MaxwellFishEye, Medium, RadialProfile, Schwarzschild,
};
use renderer_core::integrator::{
    Integrator, StopSurface, Termination, Tolerances, TraceResult, Verdict,
    static_observer_direction,
};

fn trace(i: &Integrator, o: DVec3, d: DVec3, stop: Option<StopSurface>) -> TraceResult {
    i.trace(o, d, stop, |_| Verdict::Continue)
}

fn luneburg() -> Integrator {
    Integrator::new(
        Medium::default().with(FieldKind::Luneburg(Luneburg {
            centre: DVec3::ZERO,
            radius: 1.0,
        })),
        Tolerances::default(),
    )
}

#[test]
fn luneburg_focuses_parallel_rays_on_the_far_pole() {
    let lens = luneburg();
    for h in [0.1, 0.3, 0.6, 0.9] {
        let start = DVec3::new(-2.0, h, 0.0);
        // The focus (1, 0, 0) is where the path first reaches the tangent plane x = 1.
        let stop = StopSurface::Plane {
            point: DVec3::X,
            normal: DVec3::X,
        };
        let r = trace(&lens, start, DVec3::X, Some(stop));
        assert_eq!(r.termination, Termination::Stopped, "h = {h}");
        let c = (1.0 - h * h).sqrt();
        // Tolerance 1e-4 of the radius / radians.
        assert!(
            (r.position - DVec3::X).length() < 1e-4,
            "h = {h}: exit {}",
            r.position
        );
        let expect_dir = DVec3::new(c, -h, 0.0);
        assert!(
            r.direction.angle_between(expect_dir) < 1e-4,
            "h = {h}: dir {}",
            r.direction
        );
        // OPL inside = pi R / 2 + sqrt(R^2 - h^2); outside, straight in n = 1.
        let outside = 2.0 - c;
        let inside = r.optical_path - outside;
        assert!(
            (inside - (PI / 2.0 + c)).abs() < 1e-4,
            "h = {h}: OPL {inside}"
        );
    }
    // The worked values of optics.md.
    assert!((PI / 2.0 + (1.0f64 - 0.09).sqrt() - 2.524_735_528_212).abs() < 1e-11);
}

#[test]
fn a_tabulated_luneburg_profile_focuses_on_the_far_pole() {
    // The same lens given as a radial table of n(r) = sqrt(2 - r^2) (the form a
    // measured or designed profile takes): the closed-form focus, direction and
    // optical path of the Luneburg lens, to the same 1e-4, from 1025 samples.
    let samples = 1025;
    let index = (0..samples)
        .map(|k| (2.0 - (k as f64 / (samples - 1) as f64).powi(2)).sqrt())
        .collect();
    let lens = Integrator::new(
        Medium::default().with(RadialProfile::new(DVec3::ZERO, 1.0, index)),
        Tolerances::default(),
    );
    let stop = StopSurface::Plane {
        point: DVec3::X,
        normal: DVec3::X,
    };
    for h in [0.1, 0.3, 0.6, 0.9] {
        let r = trace(&lens, DVec3::new(-2.0, h, 0.0), DVec3::X, Some(stop));
        assert_eq!(r.termination, Termination::Stopped, "h = {h}");
        let c = (1.0 - h * h).sqrt();
        let focus = (r.position - DVec3::X).length();
        let angle = r.direction.angle_between(DVec3::new(c, -h, 0.0));
        let opl = (r.optical_path - (2.0 - c) - (PI / 2.0 + c)).abs();
        println!(
            "h = {h}: focus {focus:.2e}, direction {angle:.2e} rad, OPL {opl:.2e}, {} steps",
            r.steps
        );
        assert!(focus < 1e-4, "h = {h}: exit {}", r.position);
        assert!(angle < 1e-4, "h = {h}: dir {}", r.direction);
        assert!(opl < 1e-4, "h = {h}: OPL {}", r.optical_path);
    }
}

#[test]
fn maxwell_fish_eye_images_p_to_its_antipode_with_optical_path_pi() {
    let (n0, radius, extent) = (2.0, 1.0, 6.0);
    let edge = n0 / (1.0 + (extent / radius) * (extent / radius));
    let medium = Medium {
        background: edge,
        fields: vec![FieldKind::MaxwellFishEye(MaxwellFishEye {
            centre: DVec3::ZERO,
            radius,
            n0,
            extent,
        })],
    };
    let lens = Integrator::new(medium, Tolerances::default());
    let p = DVec3::new(0.5, 0.0, 0.0);
    let image = -p * (radius * radius) / p.length_squared();
    assert!((image - DVec3::new(-2.0, 0.0, 0.0)).length() < 1e-15);
    let eps = 1e-3;
    let n_image = n0 / (1.0 + image.length_squared());
    for deg in [30.0f64, 60.0, 90.0, 135.0, 160.0, 210.0] {
        let a = deg.to_radians();
        let d = DVec3::new(a.cos(), a.sin(), 0.0);
        let r = trace(
            &lens,
            p,
            d,
            Some(StopSurface::Sphere {
                centre: image,
                radius: eps,
            }),
        );
        assert_eq!(r.termination, Termination::Stopped, "{deg} deg");
        // The path through the small sphere passes the image point within 1e-4.
        let miss = (image - r.position).cross(r.direction).length();
        assert!(miss < 1e-4, "{deg} deg: misses the image by {miss}");
        let opl = r.optical_path + n_image * (image - r.position).dot(r.direction);
        assert!((opl - PI).abs() < 1e-4, "{deg} deg: OPL {opl}");
    }
}

#[test]
fn mirage_follows_the_catenary() {
    let (n0, g) = (1.0, 0.1);
    let medium = Medium::default().with(FieldKind::LinearGradient(LinearGradient {
        n0,
        gradient: DVec3::new(0.0, g, 0.0),
        region: Aabb::new(DVec3::new(-1.0, -10.0, -5.0), DVec3::new(30.0, 20.0, 5.0)),
    }));
    let air = Integrator::new(medium, Tolerances::default());
    for theta0 in [0.0f64, 0.1, -0.05, 0.2] {
        let a = n0 * theta0.cos();
        let xv = -(a / g) * theta0.tan().asinh();
        for x in [2.0, 5.0, 8.0] {
            let expect_y = (a * (g * (x - xv) / a).cosh() - n0) / g;
            let expect_slope = (g * (x - xv) / a).sinh();
            let r = trace(
                &air,
                DVec3::ZERO,
                DVec3::new(theta0.cos(), theta0.sin(), 0.0),
                Some(StopSurface::Plane {
                    point: DVec3::new(x, 0.0, 0.0),
                    normal: DVec3::X,
                }),
            );
            assert_eq!(r.termination, Termination::Stopped);
            assert!(
                (r.position.y - expect_y).abs() < 1e-4,
                "theta {theta0} x {x}: y {}",
                r.position.y
            );
            let slope = r.direction.y / r.direction.x;
            assert!(
                (slope.atan() - expect_slope.atan()).abs() < 1e-4,
                "theta {theta0} x {x}"
            );
        }
    }
    // The worked value of optics.md.
    assert!(((0.5f64.cosh() - 1.0) / 0.1 - 1.276_259_652_064).abs() < 1e-11);
}

/// The same catenaries without a stop surface: the ray crosses the gradient along its
/// closed-form path (not Runge-Kutta steps), leaves the region where the catenary
/// does, and every chord it hands on keeps within its stated deviation of the path.
#[test]
fn mirage_chords_lie_on_the_catenary_and_leave_where_it_does() {
    let (n0, g, exit_x) = (1.0, 0.1, 8.0);
    let medium = Medium::default().with(FieldKind::LinearGradient(LinearGradient {
        n0,
        gradient: DVec3::new(0.0, g, 0.0),
        // The index stays positive over the whole region (0.5 at its floor), as a
        // scene's must.
        region: Aabb::new(DVec3::new(-1.0, -5.0, -5.0), DVec3::new(exit_x, 20.0, 5.0)),
    }));
    let air = Integrator::new(medium, Tolerances::default());
    for theta0 in [0.0f64, 0.1, -0.05, 0.2, -0.3] {
        let a = n0 * theta0.cos();
        let xv = -(a / g) * theta0.tan().asinh();
        let y = |x: f64| (a * (g * (x - xv) / a).cosh() - n0) / g;
        let mut chords = Vec::new();
        let r = air.trace(
            DVec3::ZERO,
            DVec3::new(theta0.cos(), theta0.sin(), 0.0),
            None,
            |seg| {
                chords.push(*seg);
                Verdict::Continue
            },
        );
        assert_eq!(r.termination, Termination::Escaped, "theta {theta0}");
        // The chord that leaves the region ends on the catenary at its face.
        let last = chords
            .iter()
            .find(|c| c.end.x >= exit_x)
            .expect("a chord leaves the region");
        assert!(
            (last.end.x - exit_x).abs() < 1e-9,
            "theta {theta0}: {}",
            last.end
        );
        assert!(
            (last.end.y - y(exit_x)).abs() < 1e-9,
            "theta {theta0}: y {} vs {}",
            last.end.y,
            y(exit_x)
        );
        // Beyond it the ray flies straight along the catenary's exit slope.
        let slope = (g * (exit_x - xv) / a).sinh();
        assert!(
            (r.direction.y / r.direction.x - slope).abs() < 1e-9,
            "theta {theta0}"
        );
        for c in chords.iter().filter(|c| c.start.x < exit_x) {
            // Chord ends on the path, and the path between them within the
            // deviation the chord states (sampled at 32 points).
            assert!((c.start.y - y(c.start.x)).abs() < 1e-9, "theta {theta0}");
            assert!(c.deviation <= Tolerances::default().geometric * 2.0 + 1e-15);
            let (p, q) = (c.start, c.end);
            let d = (q - p).normalize();
            for k in 1..32 {
                let x = p.x + (q.x - p.x) * f64::from(k) / 32.0;
                let on = DVec3::new(x, y(x), 0.0) - p;
                let off = (on - d * on.dot(d)).length();
                assert!(
                    off <= c.deviation + 1e-12,
                    "theta {theta0}: {off} > {}",
                    c.deviation
                );
            }
        }
    }
    // A ray from outside: straight to the region (n = 1 at y = 0, as outside), then
    // the catenary that starts level at its face x = -1.
    let r = air.trace(DVec3::new(-3.0, 0.0, 0.0), DVec3::X, None, |_| {
        Verdict::Continue
    });
    let slope = (g * (exit_x + 1.0)).sinh();
    assert!(
        (r.direction.y / r.direction.x - slope).abs() < 1e-6,
        "{}",
        r.direction
    );
}

/// Rays that start on the gradient's faces, graze them or run along the gradient
/// leave the region in a few chords, never stall on a face.
#[test]
fn catenaries_from_faces_and_along_the_gradient_leave_cleanly() {
    let region = Aabb::new(DVec3::new(-1.0, 0.0, -1.0), DVec3::new(1.0, 2.0, 1.0));
    let medium = Medium::default().with(FieldKind::LinearGradient(LinearGradient {
        n0: 1.0,
        gradient: DVec3::new(0.0, 0.05, 0.0),
        region,
    }));
    let air = Integrator::new(medium, Tolerances::default());
    let starts = [
        DVec3::new(1.0, 1.0, 0.0),
        DVec3::new(-1.0, 0.0, -1.0),
        DVec3::new(0.0, 2.0, 0.0),
        DVec3::new(0.0, 1.0, 0.0),
    ];
    let dirs = [
        DVec3::X,
        -DVec3::X,
        DVec3::Y,
        -DVec3::Y,
        DVec3::new(1.0, 0.0, 1.0),
        DVec3::new(0.0, 1e-12, 1.0),
    ];
    for o in starts {
        for d in dirs {
            let r = trace(&air, o, d, None);
            assert_eq!(r.termination, Termination::Escaped, "{o} {d}");
            // The chord tolerance over a path of at most a few units: a few hundred
            // chords at most, not the step budget.
            assert!(r.segments < 2_000, "{o} {d}: {} segments", r.segments);
        }
    }
}

use common::exact_deflection;

fn black_hole(extent: f64, tol: Tolerances) -> Integrator {
    Integrator::new(
        Medium::default().with(FieldKind::Schwarzschild(Schwarzschild {
            centre: DVec3::ZERO,
            rs: 2.0,
            extent,
        })),
        tol,
    )
}

/// The same hole as a Kerr hole of no spin: its Hamiltonian path in Kerr-Schild
/// coordinates must give the Schwarzschild results.
fn kerr_hole(extent: f64) -> FieldKind {
    FieldKind::Kerr(renderer_core::field::Kerr {
        centre: DVec3::ZERO,
        mass: 1.0,
        spin: 0.0,
        axis: DVec3::Z,
        extent,
        disk: None,
    })
}

/// Both holes (M = 1): Schwarzschild, and Kerr at a = 0.
fn black_holes(extent: f64, tol: Tolerances) -> [(&'static str, Integrator); 2] {
    [
        ("Schwarzschild", black_hole(extent, tol)),
        (
            "Kerr a = 0",
            Integrator::new(Medium::default().with(kerr_hole(extent)), tol),
        ),
    ]
}

#[test]
fn quadrature_reproduces_the_worked_deflections() {
    assert!((exact_deflection(6.0) - 1.719_388_310_2).abs() < 1e-8);
    assert!((exact_deflection(10.0) - 0.590_395_787_6).abs() < 1e-8);
}

#[test]
fn schwarzschild_deflection_matches_the_exact_integral() {
    let extent = 1e6;
    for (name, hole) in black_holes(extent, Tolerances::default()) {
        for b in [5.5, 6.0, 8.0, 10.0, 20.0, 50.0] {
            let start = DVec3::new(-0.999 * extent, b, 0.0);
            let r = trace(&hole, start, DVec3::X, None);
            assert_eq!(r.termination, Termination::Escaped, "{name}: b = {b}");
            let alpha = r.direction.angle_between(DVec3::X);
            // Both halves of the path beyond `extent` are straight: the missing weak-field
            // deflection, 2 * 2M / extent, is added back (4e-6 here).
            let alpha = alpha + 4.0 / extent;
            let exact = exact_deflection(b);
            assert!(
                (alpha - exact).abs() / exact < 1e-4,
                "{name}: b = {b}: {alpha} vs {exact}"
            );
        }
    }
}

#[test]
fn capture_just_below_critical_impact_parameter_escape_just_above() {
    let b_c = 3.0 * 3f64.sqrt();
    assert!((b_c - 5.196_152_422_706_632).abs() < 1e-12);
    for (name, hole) in black_holes(1e4, Tolerances::default()) {
        for (b, expect) in [
            (b_c * (1.0 - 1e-4), Termination::Captured),
            (b_c * (1.0 + 1e-4), Termination::Escaped),
            (b_c * 0.5, Termination::Captured),
        ] {
            let r = trace(&hole, DVec3::new(-0.999e4, b, 0.0), DVec3::X, None);
            assert_eq!(r.termination, expect, "{name}: b = {b}");
        }
    }
}

/// The shadow's edge: the angle in [0.3, 0.7] radians from the hole's direction at
/// which `captured` rays stop being captured, by bisection.
fn shadow_edge(captured: impl Fn(f64) -> bool) -> f64 {
    let (mut lo, mut hi) = (0.3f64, 0.7f64);
    assert!(captured(lo) && !captured(hi));
    for _ in 0..30 {
        let mid = 0.5 * (lo + hi);
        if captured(mid) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

#[test]
fn static_observer_sees_the_shadow_at_the_formula_angle() {
    // Observer at r_o = 10 M; bisect the local angle from the hole's direction at which
    // rays stop being captured.
    use renderer_core::camera::Camera;
    use renderer_core::scene::{CameraDesc, Observer};
    let (m, r_o) = (1.0, 10.0);
    let b_c = 3.0 * 3f64.sqrt() * m;
    let expect = ((b_c / r_o) * (1.0 - 2.0 * m / r_o).sqrt()).asin();
    assert!((expect.to_degrees() - 27.694_561_5).abs() < 1e-6);
    let hole = black_hole(1e4, Tolerances::default());
    let observer = DVec3::new(-r_o, 0.0, 0.0);
    let psi = shadow_edge(|psi| {
        let local = DVec3::new(psi.cos(), psi.sin(), 0.0);
        let d = static_observer_direction(observer, local, DVec3::ZERO, 2.0 * m);
        trace(&hole, observer, d, None).termination == Termination::Captured
    });
    // The Kerr hole at a = 0, its static observer's tetrad laying out a camera's
    // pixels: pixel x at tan(psi) from the centre of a 90 degree view.
    let medium = Medium::default().with(kerr_hole(1e4));
    let desc = CameraDesc {
        position: observer,
        look_at: DVec3::ZERO,
        up: DVec3::Z,
        fov_deg: 90.0,
        observer: Observer::Static,
    };
    let cam = Camera::new(&desc, 1000, 1000, &medium);
    assert!(cam.has_tetrad());
    let kerr = Integrator::new(medium, Tolerances::default());
    let psi_kerr = shadow_edge(|psi| {
        let (o, d) = cam.ray(500.0 + 500.0 * f64::tan(psi), 500.0);
        trace(&kerr, o, d, None).termination == Termination::Captured
    });
    for (name, psi) in [("Schwarzschild", psi), ("Kerr a = 0", psi_kerr)] {
        assert!(
            (psi - expect).abs() < 1e-4,
            "{name}: {} deg vs {} deg",
            psi.to_degrees(),
            expect.to_degrees()
        );
    }
    // A flat-coordinates camera gets a visibly larger shadow (about 31.3 degrees).
    let flat = (b_c / r_o).asin();
    assert!(flat.to_degrees() > 31.0);
}

#[test]
fn uniform_medium_is_one_straight_segment() {
    let i = Integrator::new(Medium::uniform(1.33), Tolerances::default());
    let mut segs = Vec::new();
    let r = i.trace(DVec3::ZERO, DVec3::new(1.0, 2.0, 3.0), None, |s| {
        segs.push(*s);
        Verdict::Continue
    });
    assert_eq!(r.termination, Termination::Escaped);
    assert_eq!(segs.len(), 1);
    assert_eq!(segs[0].deviation, 0.0);
    let d = (segs[0].end - segs[0].start).normalize();
    assert!(d.cross(DVec3::new(1.0, 2.0, 3.0).normalize()).length() < 1e-12);
}

/// Classic fixed-step RK4 on the same equations (test-local), for the step-economy
/// comparison: returns the exit state at the plane x = 1 for the Luneburg lens.
fn rk4_luneburg(h_step: f64, h: f64) -> (DVec3, u32) {
    let f = |x: DVec3, p: DVec3| {
        let r2 = x.length_squared();
        if r2 >= 1.0 {
            (p, DVec3::ZERO)
        } else {
            let n = (2.0 - r2).sqrt();
            (p / n, -x / n)
        }
    };
    let mut x = DVec3::new(-(1.0 - h * h).sqrt(), h, 0.0);
    let mut p = DVec3::X;
    let mut steps = 0;
    while x.x < 1.0 && steps < 10_000_000 {
        let (k1x, k1p) = f(x, p);
        let (k2x, k2p) = f(x + k1x * (h_step / 2.0), p + k1p * (h_step / 2.0));
        let (k3x, k3p) = f(x + k2x * (h_step / 2.0), p + k2p * (h_step / 2.0));
        let (k4x, k4p) = f(x + k3x * h_step, p + k3p * h_step);
        let nx = x + (k1x + 2.0 * k2x + 2.0 * k3x + k4x) * (h_step / 6.0);
        let np = p + (k1p + 2.0 * k2p + 2.0 * k3p + k4p) * (h_step / 6.0);
        steps += 1;
        if nx.x >= 1.0 {
            // Linear interpolation to the plane (error O(h^2) is far below RK4 here
            // only when the step is small; fine for the comparison).
            let t = (1.0 - x.x) / (nx.x - x.x);
            x += (nx - x) * t;
            break;
        }
        x = nx;
        p = np;
    }
    (x, steps)
}

#[test]
fn adaptive_stepping_is_at_least_5x_cheaper_than_fixed_rk4_at_equal_error() {
    let h = 0.6;
    let lens = luneburg();
    let r = trace(
        &lens,
        DVec3::new(-2.0, h, 0.0),
        DVec3::X,
        Some(StopSurface::Plane {
            point: DVec3::X,
            normal: DVec3::X,
        }),
    );
    let adaptive_err = (r.position - DVec3::X).length();
    // Inside the sphere only: the straight approach is one segment.
    let adaptive_steps = r.steps;
    // Halve the fixed step until RK4 is as accurate.
    let mut step = 0.1;
    let (mut err, mut fixed_steps) = (f64::MAX, 0);
    while err > adaptive_err.max(1e-12) && step > 1e-6 {
        let (x, n) = rk4_luneburg(step, h);
        err = (x - DVec3::X).length();
        fixed_steps = n;
        step /= 2.0;
    }
    assert!(
        fixed_steps >= 5 * adaptive_steps,
        "Luneburg: adaptive {adaptive_steps} steps (error {adaptive_err:.1e}), fixed RK4 {fixed_steps} (error {err:.1e})"
    );

    // Schwarzschild: fixed RK4 must take the step the photon-sphere passage needs
    // along the whole path; compare deflection error at b = 6.
    let hole = black_hole(1e3, Tolerances::default());
    let b = 6.0;
    let r = trace(&hole, DVec3::new(-999.0, b, 0.0), DVec3::X, None);
    let exact = exact_deflection(b) - 4.0 / 1e3;
    let adaptive_err = (r.direction.angle_between(DVec3::X) - exact).abs();
    let mut step = 1.0;
    loop {
        let (alpha, n) = rk4_schwarzschild(step, b, 1e3);
        let err = (alpha - exact).abs();
        if err <= adaptive_err || step < 1e-4 {
            assert!(
                n >= 5 * r.steps,
                "mass: adaptive {} steps, fixed {n}",
                r.steps
            );
            break;
        }
        step /= 2.0;
    }
}

fn rk4_schwarzschild(h_step: f64, b: f64, extent: f64) -> (f64, u32) {
    let rs = 2.0;
    let acc = |x: DVec3, v: DVec3| {
        let r2 = x.length_squared();
        let h2 = x.cross(v).length_squared();
        x * (-1.5 * rs * h2 / (r2 * r2 * r2.sqrt()))
    };
    let mut x = DVec3::new(-0.999 * extent, b, 0.0);
    let mut v = DVec3::X;
    let mut n = 0;
    while x.length() < extent && n < 50_000_000 {
        let (k1x, k1v) = (v, acc(x, v));
        let (k2x, k2v) = (
            v + k1v * (h_step / 2.0),
            acc(x + k1x * (h_step / 2.0), v + k1v * (h_step / 2.0)),
        );
        let (k3x, k3v) = (
            v + k2v * (h_step / 2.0),
            acc(x + k2x * (h_step / 2.0), v + k2v * (h_step / 2.0)),
        );
        let (k4x, k4v) = (v + k3v * h_step, acc(x + k3x * h_step, v + k3v * h_step));
        x += (k1x + 2.0 * k2x + 2.0 * k3x + k4x) * (h_step / 6.0);
        v += (k1v + 2.0 * k2v + 2.0 * k3v + k4v) * (h_step / 6.0);
        n += 1;
    }
    (v.angle_between(DVec3::X), n)
}

#[test]
fn the_black_hole_shadow_measured_in_pixels_matches_the_static_observer_formula() {
    use renderer_core::camera::Camera;
    use renderer_core::scene::CameraDesc;
    // Observer at r_o = 10 M looking at the hole; 60 degree field of view, 1201 pixels
    // across. Walk the centre row from the centre outwards to the first escaping ray.
    let (m, r_o) = (1.0, 10.0);
    let schwarzschild = Medium::default().with(FieldKind::Schwarzschild(Schwarzschild {
        centre: DVec3::ZERO,
        rs: 2.0 * m,
        extent: 1e3,
    }));
    for medium in [schwarzschild, Medium::default().with(kerr_hole(1e3))] {
        let desc = CameraDesc {
            position: DVec3::new(0.0, 0.0, -r_o),
            look_at: DVec3::ZERO,
            up: DVec3::Y,
            fov_deg: 60.0,
            observer: Default::default(),
        };
        let (w, h) = (1201u32, 1201u32);
        let cam = Camera::new(&desc, w, h, &medium);
        assert!(cam.is_static_observer() || cam.has_tetrad());
        let hole = Integrator::new(medium, Tolerances::default());
        let captured = |x: f64| {
            let (o, d) = cam.ray(x, f64::from(h) / 2.0);
            trace(&hole, o, d, None).termination == Termination::Captured
        };
        let centre = f64::from(w) / 2.0;
        // Bisection on the edge position between a captured and an escaping pixel.
        let (mut inside, mut outside) = (centre, f64::from(w));
        assert!(captured(inside) && !captured(outside - 0.5));
        for _ in 0..30 {
            let mid = 0.5 * (inside + outside);
            if captured(mid) {
                inside = mid
            } else {
                outside = mid
            }
        }
        let edge_px = 0.5 * (inside + outside) - centre;
        // Pixels to angle: the pinhole maps tan(angle) linearly onto the image plane.
        let tan_half = 30f64.to_radians().tan();
        let psi = (edge_px / centre * tan_half).atan();
        let b_c = 3.0 * 3f64.sqrt() * m;
        let expect = ((b_c / r_o) * (1.0 - 2.0 * m / r_o).sqrt()).asin();
        assert!(
            (psi - expect).abs() / expect < 0.01,
            "{} vs {} degrees",
            psi.to_degrees(),
            expect.to_degrees()
        );
        // And the shadow's radius in whole pixels agrees within 1% too.
        let expect_px = expect.tan() / tan_half * centre;
        let measured_px = (0..w).filter(|&x| captured(f64::from(x) + 0.5)).count() as f64 / 2.0;
        assert!(
            (measured_px - expect_px).abs() / expect_px < 0.01,
            "{measured_px} vs {expect_px} px"
        );
    }
}

#[test]
fn the_black_hole_scene_rendered_shows_the_formula_shadow() {
    use renderer_core::frame::{RenderSettings, Renderer, Snapshot};
    use renderer_core::scene::{Environment, Scene};
    use scheduler::{Pool, PoolConfig};
    // The bundled scene (M = 1, observer at r = 30, 60 degree vertical field of view)
    // with a uniform white sky and nothing else: every sample is 1 (escaped) or 0
    // (captured), so the shadow's area in pixels is the sum of 1 - value, and its
    // radius sqrt(area / pi) (the pinhole maps the shadow cone to a circle).
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/scenes/black_hole.ron");
    for kerr in [false, true] {
        let mut scene = Scene::load(&path).unwrap().edit();
        scene
            .clear_instances()
            .clear_lights()
            .environment(Environment::Constant(renderer_core::environment::Constant(
                [1.0; 3],
            )));
        if kerr {
            scene.clear_fields().field(kerr_hole(200.0));
        }
        let scene = scene.build().unwrap();
        let size = 201u32;
        let settings = RenderSettings {
            width: size,
            height: size,
            spp: 2,
            seed: 11,
            max_bounces: 0,
            ..RenderSettings::default()
        };
        let mut r = Renderer::new(std::sync::Arc::new(
            Pool::new(PoolConfig::with_threads(2)).unwrap(),
        ));
        r.render_all(&Snapshot::new(std::sync::Arc::new(scene), settings).unwrap())
            .unwrap();
        // Near the Kerr hole the static observer sees the sky blueshifted, uniformly
        // (g = 1 / sqrt(1 - 2M/r)): brighter by g^4; the shadow's area is the same.
        let rgb = r.film().rgb();
        let sky = rgb.iter().map(|p| f64::from(p[1])).fold(0.0, f64::max);
        if kerr {
            let g4 = (1.0 - 2.0 / 30.0f64).powi(-2);
            assert!((sky - g4).abs() < 1e-5, "sky {sky} vs g^4 {g4}");
        }
        let area: f64 = rgb.iter().map(|p| 1.0 - f64::from(p[1]) / sky).sum();
        let measured_px = (area / std::f64::consts::PI).sqrt();
        let (m, r_o) = (1.0, 30.0);
        let psi = ((3.0 * 3f64.sqrt() * m / r_o) * (1.0 - 2.0 * m / r_o).sqrt()).asin();
        let expect_px = psi.tan() / 30f64.to_radians().tan() * f64::from(size) / 2.0;
        assert!(
            (measured_px - expect_px).abs() / expect_px < 0.01,
            "Kerr {kerr}: {measured_px:.3} vs {expect_px:.3} px"
        );
    }
}
