//! Kerr geodesics against closed forms (M = 1, a = 0.5 unless stated).

use std::f64::consts::PI;

use glam::DVec3;

use crate::field::{FieldKind, Kerr, Medium};
use crate::integrator::{Integrator, Termination, Tolerances, Verdict};

fn hole(spin: f64, extent: f64) -> Integrator {
    Integrator::new(
        Medium::default().with(FieldKind::Kerr(Kerr {
            centre: DVec3::ZERO,
            mass: 1.0,
            spin,
            axis: DVec3::Z,
            extent,
            disk: None,
        })),
        Tolerances::default(),
    )
}

/// The exact deflection of an equatorial photon with impact parameter `b` (L / E;
/// positive: turning with the spin) past a Kerr hole of spin `a` (M = 1):
/// alpha = 2 int_0^u0 N(u) / sqrt(R(u)) du - pi, with u = 1/r,
/// R(u) = 1 + (2c - e) u^2 + 2e u^3 + (c^2 - e a^2) u^4 (c = a^2 - ab, e = (b - a)^2)
/// the radial potential over r^4 and N(u) = (b - a) + a (1 + c u^2) / (1 - 2u + a^2 u^2)
/// the Boyer-Lindquist d(phi)/d(lambda) times r^2; u0 the smallest positive root of R,
/// divided out (synthetic division) so that with u = u0 (1 - t^2) the integrand is
/// smooth, and composite Simpson on t in [0, 1].
fn exact_kerr_deflection(a: f64, b: f64) -> f64 {
    let (c, e) = (a * a - a * b, (b - a) * (b - a));
    let coef = [1.0, 0.0, 2.0 * c - e, 2.0 * e, c * c - e * a * a];
    let poly = |u: f64| coef[0] + u * (coef[1] + u * (coef[2] + u * (coef[3] + u * coef[4])));
    // The smallest positive root: march, then bisect.
    let mut hi = 1e-3;
    while poly(hi) > 0.0 {
        hi += 1e-3;
    }
    let mut lo = hi - 1e-3;
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if poly(mid) > 0.0 {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let u0 = 0.5 * (lo + hi);
    // R(u) = (u - u0) q(u), q = q3 u^3 + q2 u^2 + q1 u + q0.
    let q3 = coef[4];
    let q2 = coef[3] + u0 * q3;
    let q1 = coef[2] + u0 * q2;
    let q0 = coef[1] + u0 * q1;
    let s = |u: f64| -(q0 + u * (q1 + u * (q2 + u * q3)));
    let n = |u: f64| (b - a) + a * (1.0 + c * u * u) / (1.0 - 2.0 * u + a * a * u * u);
    // R = (u0 - u) s(u) = u0 t^2 s(u): dphi = n du / sqrt(R) = 2 u0 n / sqrt(u0 s) dt.
    let integrand = |t: f64| {
        let u = u0 * (1.0 - t * t);
        2.0 * u0 * n(u) / (u0 * s(u)).sqrt()
    };
    let steps = 20_000;
    let h = 1.0 / f64::from(steps);
    let mut acc = integrand(0.0) + integrand(1.0);
    for i in 1..steps {
        acc += integrand(f64::from(i) * h) * if i % 2 == 1 { 4.0 } else { 2.0 };
    }
    2.0 * (acc * h / 3.0).abs() - PI
}

#[test]
fn the_kerr_quadrature_is_the_schwarzschild_one_at_zero_spin() {
    // The worked Schwarzschild values (b = 6, 10: the golden tests' quadrature).
    assert!((exact_kerr_deflection(0.0, 6.0) - 1.719_388_310_2).abs() < 1e-8);
    assert!((exact_kerr_deflection(0.0, 10.0) - 0.590_395_787_6).abs() < 1e-8);
    assert!((exact_kerr_deflection(0.0, -10.0) - 0.590_395_787_6).abs() < 1e-8);
    // Frame dragging: a photon turning with the spin is bent less.
    assert!(exact_kerr_deflection(0.5, 10.0) < exact_kerr_deflection(0.5, -10.0));
}

#[test]
fn closed_forms_at_half_spin() {
    let st = crate::field::Spacetime { m: 1.0, a: 0.5 };
    for (got, want) in [
        (st.photon_orbit(true), 2.347_296_355_334),
        (st.photon_orbit(false), 3.532_088_886_238),
        (st.critical_impact(true), 4.096_266_658_714),
        (st.critical_impact(false), 6.138_155_724_715),
        (st.isco(true), 4.233_002_529_531),
        (st.isco(false), 7.554_584_714_512),
    ] {
        assert!((got - want).abs() < 1e-11, "{got} vs {want}");
    }
    let s0 = crate::field::Spacetime { m: 1.0, a: 0.0 };
    assert!((s0.isco(true) - 6.0).abs() < 1e-12 && (s0.photon_orbit(true) - 3.0).abs() < 1e-12);
}

#[test]
fn a_tangential_ray_at_the_photon_orbit_stays_on_it_for_a_full_orbit() {
    let a = 0.5;
    let i = hole(a, 100.0);
    let st = crate::field::Spacetime { m: 1.0, a };
    // The traced ray runs backwards: the photon orbiting with the spin (+phi, +y at
    // +x) is traced along -y.
    for (prograde, dir) in [(true, -DVec3::Y), (false, DVec3::Y)] {
        let r_ph = st.photon_orbit(prograde);
        // Kerr-Schild x^2 + y^2 = r^2 + a^2 in the equatorial plane.
        let start = DVec3::new((r_ph * r_ph + a * a).sqrt(), 0.0, 0.0);
        let mut worst = 0.0f64;
        let mut angle = 0.0;
        let mut last = start;
        let r = i.trace(start, dir, None, |seg| {
            worst = worst.max((st.radius(seg.end) - r_ph).abs());
            angle += last.angle_between(seg.end);
            last = seg.end;
            if angle >= 2.0 * PI {
                Verdict::Hit
            } else {
                Verdict::Continue
            }
        });
        assert_eq!(r.termination, Termination::Hit, "prograde {prograde}");
        assert!(
            worst < 1e-6,
            "prograde {prograde}: strayed {worst:e} from r_ph = {r_ph}"
        );
    }
}

#[test]
fn every_chord_holds_its_path_within_its_deviation() {
    // Rays past, around and into a fast-spinning hole, traced at a coarse chord
    // tolerance; the same rays traced finely are the reference path: every
    // reference point lies within some coarse chord's deviation of it (the soft
    // gate's guarantee), and the coarse chords keep the tolerance.
    fn distance(p: DVec3, a: DVec3, b: DVec3) -> f64 {
        let ab = b - a;
        let t = ((p - a).dot(ab) / ab.length_squared().max(1e-300)).clamp(0.0, 1.0);
        (a + ab * t - p).length()
    }
    let medium = |geometric| {
        Integrator::new(
            Medium::default().with(FieldKind::Kerr(Kerr {
                centre: DVec3::ZERO,
                mass: 1.0,
                spin: 0.99,
                axis: DVec3::Z,
                extent: 40.0,
                disk: None,
            })),
            Tolerances {
                geometric,
                ..Tolerances::default()
            },
        )
    };
    let (coarse, fine) = (medium(1e-2), medium(1e-6));
    for (b, z) in [(1.0, 0.5), (3.0, 0.0), (-4.0, 0.3), (2.5, 2.0), (6.0, -1.0)] {
        let o = DVec3::new(-30.0, b, z);
        let mut chords = Vec::new();
        trace_collect(&coarse, o, &mut chords);
        let mut reference = Vec::new();
        trace_collect(&fine, o, &mut reference);
        assert!(reference.len() > chords.len());
        // Within the region (beyond it a direction's rounding grows with distance).
        for &(_, p, _) in reference.iter().filter(|r| r.1.length() < 40.0) {
            let ok = chords
                .iter()
                .any(|&(a, e, dev)| distance(p, a, e) <= dev + 1e-6);
            assert!(ok, "b {b}, z {z}: {p} strays from every chord");
        }
        assert!(
            chords
                .iter()
                .all(|c| c.2 <= 2.0 * 1e-2 || c.0.length() < 4.0)
        );
    }

    fn trace_collect(i: &Integrator, o: DVec3, out: &mut Vec<(DVec3, DVec3, f64)>) {
        i.trace(o, DVec3::X, None, |seg| {
            out.push((seg.start, seg.end, seg.deviation));
            Verdict::Continue
        });
    }
}

#[test]
fn the_novikov_thorne_closed_form_is_the_flux_integral() {
    // Page and Thorne's flux from the circular orbits' energy E, angular momentum L
    // and angular velocity Omega (Bardeen, Press and Teukolsky), by quadrature:
    // F(r) proportional to -Omega' / (E - Omega L)^2 / r * int_isco^r (E - Omega L) L' dr.
    // Its shape (F over its value at 10 M) against the closed form, for orbits with
    // and against the spin and without spin; both vanish at the ISCO.
    use super::novikov_thorne;
    use crate::field::Spacetime;
    for (a, plus_phi) in [(0.0, true), (0.5, true), (0.5, false), (0.9, true)] {
        let st = Spacetime { m: 1.0, a };
        let s = if plus_phi { 1.0 } else { -1.0 };
        let isco = st.isco(plus_phi);
        let den = |r: f64| r.powf(0.75) * (r.powf(1.5) - 3.0 * r.sqrt() + s * 2.0 * a).sqrt();
        let e = |r: f64| (r.powf(1.5) - 2.0 * r.sqrt() + s * a) / den(r);
        let l = |r: f64| s * (r * r - s * 2.0 * a * r.sqrt() + a * a) / den(r);
        let om = |r: f64| st.kepler_omega(r, plus_phi);
        let d = |f: &dyn Fn(f64) -> f64, r: f64| (f(r + 1e-5) - f(r - 1e-5)) / 2e-5;
        let quad = |r: f64| {
            let n = 4000;
            let h = (r - isco) / f64::from(n);
            let g = |x: f64| (e(x) - om(x) * l(x)) * d(&l, x);
            let mut acc = g(isco) + g(r);
            for i in 1..n {
                acc += g(isco + f64::from(i) * h) * if i % 2 == 1 { 4.0 } else { 2.0 };
            }
            let integral = acc * h / 3.0;
            -d(&om, r) / (e(r) - om(r) * l(r)).powi(2) / r * integral
        };
        let closed = |r: f64| novikov_thorne(&st, isco, r, plus_phi);
        let (q10, c10) = (quad(10.0), closed(10.0));
        assert!(q10 > 0.0 && c10 > 0.0);
        for r in [isco + 0.5, isco + 2.0, 15.0, 30.0] {
            let (q, c) = (quad(r) / q10, closed(r) / c10);
            assert!(
                (q - c).abs() < 1e-6 * c.max(1e-3),
                "a {a}, +phi {plus_phi}, r {r}: {q} vs {c}"
            );
        }
        assert_eq!(closed(isco), 0.0);
    }
}

/// The closed-form cases again on both backends: the CPU integrator and the
/// shaders' f64 passage (`GpuScene::trace_rays`; lavapipe in CI, skipped without an
/// adapter unless `GRIN_REQUIRE_GPU=1`). Each case is a batch of rays from a hole's
/// scene.
mod backends {
    use super::*;
    use crate::gpu::{GpuScene, RayQuery};
    use crate::integrator::{KerrTrace, StopSurface};

    /// What a case reads of a traced ray.
    struct Ray {
        termination: Termination,
        direction: DVec3,
        optical_path: f64,
        steps: u32,
        kerr: KerrTrace,
    }

    type Query = (DVec3, DVec3, Option<StopSurface>);

    fn kerr_field(spin: f64, extent: f64) -> FieldKind {
        kerr_with_disk(spin, extent, None)
    }

    fn kerr_with_disk(spin: f64, extent: f64, disk: Option<crate::field::Disk>) -> FieldKind {
        FieldKind::Kerr(Kerr {
            centre: DVec3::ZERO,
            mass: 1.0,
            spin,
            axis: DVec3::Z,
            extent,
            disk,
        })
    }

    /// A backend's name and its tracer of a batch of rays.
    type Tracer = (String, Box<dyn Fn(&[Query]) -> Vec<Ray>>);

    /// Tracers of rays past `field` (default tolerances) on each backend there is.
    fn tracers(field: FieldKind) -> Vec<Tracer> {
        let cpu = Integrator::new(Medium::default().with(field.clone()), Tolerances::default());
        let mut all: Vec<Tracer> = vec![(
            "CPU".to_owned(),
            Box::new(move |rays: &[Query]| {
                rays.iter()
                    .map(|&(o, d, stop)| {
                        let r = cpu.trace(o, d, stop, |_| Verdict::Continue);
                        Ray {
                            termination: r.termination,
                            direction: r.direction,
                            optical_path: r.optical_path,
                            steps: r.steps,
                            kerr: r.kerr.unwrap(),
                        }
                    })
                    .collect()
            }),
        )];
        let Some((ctx, _)) = crate::gpu::probe::tests::gpu() else {
            return all;
        };
        let mut b = crate::builder::SceneBuilder::new();
        b.field(field).camera(crate::scene::CameraDesc {
            position: DVec3::new(0.0, -30.0, 5.0),
            look_at: DVec3::ZERO,
            up: DVec3::Z,
            fov_deg: 40.0,
            observer: Default::default(),
        });
        let scene = b.build().unwrap();
        let gpu = GpuScene::for_scene(ctx, &scene, &Default::default()).unwrap();
        all.push((
            format!("GPU ({})", ctx.describe()),
            Box::new(move |rays: &[Query]| {
                let queries: Vec<RayQuery> = rays
                    .iter()
                    .map(|&(origin, direction, stop)| RayQuery {
                        origin,
                        direction,
                        stop,
                    })
                    .collect();
                gpu.trace_rays(ctx, &queries, false)
                    .unwrap()
                    .into_iter()
                    .map(|r| Ray {
                        termination: r.termination,
                        direction: r.direction,
                        optical_path: r.optical_path,
                        steps: r.steps,
                        kerr: r.kerr.unwrap(),
                    })
                    .collect()
            }),
        ));
        all
    }

    /// Traces `rays` past `field` on each backend there is, handing each backend's
    /// results to `check` with its name.
    fn on_both(field: FieldKind, rays: &[Query], check: impl Fn(&str, &[Ray])) {
        for (name, trace) in tracers(field) {
            check(&name, &trace(rays));
        }
    }

    /// The physical photon's impact parameter L / E (the traced ray runs
    /// backwards: its momentum is minus the photon's).
    fn impact(k: &KerrTrace) -> f64 {
        let c = k.start.unwrap();
        -c.lz / c.energy
    }

    #[test]
    fn the_photon_orbits_hold_a_tangential_ray_within_1e_6_for_a_full_orbit() {
        // Launched tangentially at r_ph (a = 0.5), each sense, with a stop sphere
        // 1e-6 outside the orbit and one 1e-6 inside (in the equatorial plane the
        // Kerr-Schild sphere |x|^2 = r^2 + a^2 is r = const): a ray that strays by
        // 1e-6 stops there, so each must travel at least a full orbit (2 pi R of
        // chords) before it does. The spheres' radii are the f32 values just inside
        // the band (the shaders' stop surfaces are f32).
        let a = 0.5;
        let st = crate::field::Spacetime { m: 1.0, a };
        let ks = |r: f64| (r * r + a * a).sqrt();
        let mut rays = Vec::new();
        for (prograde, dir) in [(true, -DVec3::Y), (false, DVec3::Y)] {
            let r_ph = st.photon_orbit(prograde);
            let start = DVec3::new(ks(r_ph), 0.0, 0.0);
            let outer = f64::from(ks(r_ph + 1e-6) as f32);
            let outer = if outer > ks(r_ph + 1e-6) {
                f64::from(f32::from_bits(outer.to_bits() as u32).next_down())
            } else {
                outer
            };
            let inner_f = ks(r_ph - 1e-6) as f32;
            let inner = if f64::from(inner_f) < ks(r_ph - 1e-6) {
                f64::from(inner_f.next_up())
            } else {
                f64::from(inner_f)
            };
            for radius in [outer, inner] {
                assert!((radius - ks(r_ph)).abs() <= 1e-6 && (radius - ks(r_ph)).abs() > 5e-7);
                let stop = StopSurface::Sphere {
                    centre: DVec3::ZERO,
                    radius,
                };
                rays.push((start, dir, Some(stop)));
            }
        }
        let orbits = [
            st.photon_orbit(true),
            st.photon_orbit(true),
            st.photon_orbit(false),
            st.photon_orbit(false),
        ];
        on_both(kerr_field(a, 100.0), &rays, |backend, out| {
            for (r, r_ph) in out.iter().zip(orbits) {
                let orbit = 2.0 * PI * ks(r_ph);
                eprintln!(
                    "{backend}: r_ph {r_ph}: {:?} after {:.3} orbits",
                    r.termination,
                    r.optical_path / orbit
                );
                assert!(
                    r.optical_path >= orbit,
                    "{backend}: r_ph {r_ph}: strayed 1e-6 after {:.3} of an orbit",
                    r.optical_path / orbit
                );
            }
        });
    }

    #[test]
    fn rays_just_inside_the_critical_impact_parameters_fall_and_just_outside_escape() {
        let a = 0.5;
        let st = crate::field::Spacetime { m: 1.0, a };
        let mut rays = Vec::new();
        let mut expect = Vec::new();
        for (prograde, side) in [(true, 1.0), (false, -1.0)] {
            let b_c = st.critical_impact(prograde);
            for (factor, t) in [
                (1.0 - 1e-4, Termination::Captured),
                (1.0 + 1e-4, Termination::Escaped),
            ] {
                let b = b_c * factor;
                rays.push((DVec3::new(-1e6, side * b, 0.0), DVec3::X, None));
                expect.push((b, t));
            }
        }
        on_both(kerr_field(a, 1e7), &rays, |backend, out| {
            for (r, &(b, t)) in out.iter().zip(&expect) {
                // The launch's impact parameter is the intended one (the GPU's start
                // constants come back in f32).
                assert!(
                    (impact(&r.kerr).abs() - b).abs() < 1e-6 * b,
                    "{backend}: {} vs {b}",
                    impact(&r.kerr)
                );
                eprintln!(
                    "{backend}: b {b}: {:?}, opl {}, {} steps",
                    r.termination, r.optical_path, r.steps
                );
                assert_eq!(r.termination, t, "{backend}: b = {b}");
            }
        });
    }

    #[test]
    fn equatorial_deflections_match_the_exact_integral_on_both() {
        let extent = 1e7;
        for a in [0.5, 0.0] {
            let bs = [10.0, -10.0, 20.0, -20.0];
            let rays: Vec<Query> = bs
                .iter()
                .map(|&b| (DVec3::new(-0.999e6, b, 0.0), DVec3::X, None))
                .collect();
            on_both(kerr_field(a, extent), &rays, |backend, out| {
                for (r, b) in out.iter().zip(bs) {
                    assert_eq!(r.termination, Termination::Escaped, "{backend}");
                    // The straight flight beyond the extent misses 2M / extent.
                    let alpha = r.direction.angle_between(DVec3::X) + 2.0 / extent;
                    let exact = exact_kerr_deflection(a, impact(&r.kerr));
                    let rel = (alpha - exact).abs() / exact;
                    eprintln!("{backend}: a {a}, b {b}: {alpha} vs {exact} ({rel:.1e})");
                    assert!(
                        rel < 1e-4,
                        "{backend}: a = {a}, b = {b}: {alpha} vs {exact}"
                    );
                }
            });
        }
    }

    #[test]
    fn constants_of_motion_drift_below_1e_8_on_both() {
        let a = 0.9;
        let mut rays = Vec::new();
        for (k, b) in [3.0, 4.0, 5.0, 6.0, 8.0, 12.0].into_iter().enumerate() {
            for tilt in [0.0f64, 0.3, 1.2] {
                let o = DVec3::new(-500.0, b * tilt.cos(), b * tilt.sin() + 0.1 * k as f64);
                rays.push((o, DVec3::X, None));
            }
        }
        on_both(kerr_field(a, 1e3), &rays, |backend, out| {
            assert_eq!(out.len(), 18);
            for (r, q) in out.iter().zip(&rays) {
                let drift = r.kerr.drift;
                assert!(
                    drift.max() < 1e-8,
                    "{backend}: from {}: {drift:?} ({:?})",
                    q.0,
                    r.termination
                );
            }
        });
    }

    #[test]
    fn the_disk_starts_at_the_isco_and_shows_the_face_on_keplerian_redshift() {
        // Rays straight down the spin axis from 5000 M (outside the region, at rest
        // in flat space: the observer's photon energy is 1, so g = 1 / the gas's)
        // onto a thin disk from the ISCO (a = 0.5: 4.233002529531 M, prograde) or
        // from 6 M (a = 0, where g(6) = sqrt(1/2)). Every disk crossing lies at or
        // outside the inner radius, the innermost within 0.02 M of it, and g is the
        // closed form of a circular Keplerian emitter seen face-on, within 1e-4.
        let g_face_on = |a: f64, r: f64| {
            (1.0 - 3.0 / r + 2.0 * a / r.powf(1.5)).sqrt() / (1.0 + a / r.powf(1.5))
        };
        assert!((g_face_on(0.0, 6.0) - 0.5f64.sqrt()).abs() < 1e-15);
        for (a, inner) in [(0.5, None), (0.0, Some(6.0))] {
            let disk = crate::field::Disk {
                inner,
                outer: 12.0,
                retrograde: false,
                profile: crate::field::DiskProfile::NovikovThorne,
                temperature: 8000.0,
                brightness: 1.0,
                opacity: 1.0,
            };
            let edge = inner.unwrap_or(4.233_002_529_531);
            let rays: Vec<Query> = (0..700)
                .map(|i| {
                    let rho = 3.0 + 0.01 * f64::from(i);
                    (DVec3::new(rho, 0.0, 5e3), -DVec3::Z, None)
                })
                .collect();
            on_both(kerr_with_disk(a, 1e3, Some(disk)), &rays, |backend, out| {
                let mut innermost = f64::INFINITY;
                let mut hits = 0;
                for r in out {
                    let Some(c) = r.kerr.first_disk() else {
                        continue;
                    };
                    assert_eq!(r.termination, Termination::Disk, "{backend}");
                    assert!(
                        c.r >= edge * (1.0 - 1e-6),
                        "{backend}: a {a}: crossing at r {}",
                        c.r
                    );
                    innermost = innermost.min(c.r);
                    let g = 1.0 / c.energy;
                    assert!(
                        (g - g_face_on(a, c.r)).abs() < 1e-4,
                        "{backend}: a {a}, r {}: g {g} vs {}",
                        c.r,
                        g_face_on(a, c.r)
                    );
                    hits += 1;
                }
                eprintln!(
                    "{backend}: a {a}: {hits} disk hits, innermost r {innermost} (edge {edge})"
                );
                assert!(
                    hits > 300 && innermost - edge < 0.02,
                    "{backend}: a {a}: {hits}, {innermost}"
                );
            });
        }
    }

    #[test]
    fn the_shadow_edges_of_a_distant_equatorial_observer_by_bisection() {
        // Bardeen: seen from 1e6 M in the equatorial plane (outside the region of
        // 1e5 M: the ray flies in straight), the shadow's horizontal edges are at
        // the critical impact parameters (a = 0.5: 4.0963 and 6.1382) on either
        // side; by bisection on the image-plane offset, within 1e-4.
        let a = 0.5;
        let st = crate::field::Spacetime { m: 1.0, a };
        let d = 1e6;
        let origin = DVec3::new(-d, 0.0, 0.0);
        for (backend, trace) in tracers(kerr_field(a, 1e5)) {
            let (mut inside, mut outside) = ([0.0, 0.0], [10.0, -10.0]);
            for _ in 0..50 {
                let mid = [
                    0.5 * (inside[0] + outside[0]),
                    0.5 * (inside[1] + outside[1]),
                ];
                let rays: Vec<Query> = mid
                    .iter()
                    .map(|&alpha| (origin, DVec3::new(d, alpha, 0.0).normalize(), None))
                    .collect();
                for (k, r) in trace(&rays).iter().enumerate() {
                    if r.termination == Termination::Captured {
                        inside[k] = mid[k];
                    } else {
                        outside[k] = mid[k];
                    }
                }
            }
            let last = trace(&[
                (origin, DVec3::new(d, outside[0], 0.0).normalize(), None),
                (origin, DVec3::new(d, outside[1], 0.0).normalize(), None),
            ]);
            for k in 0..2 {
                let alpha = 0.5 * (inside[k] + outside[k]);
                // Turning with the spin (L > 0) is the prograde edge.
                let prograde = impact(&last[k].kerr) > 0.0;
                let expect = st.critical_impact(prograde);
                eprintln!("{backend}: edge at {alpha} (prograde {prograde}, b_c {expect})");
                assert!(
                    (alpha.abs() - expect).abs() < 1e-4,
                    "{backend}: |alpha| {} vs b_c {expect} (prograde {prograde})",
                    alpha.abs()
                );
            }
        }
    }
}
