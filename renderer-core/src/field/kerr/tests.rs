use super::*;

fn points(st: &Spacetime, count: usize) -> Vec<DVec3> {
    // Points outside the horizon, on and off the axis and the equatorial plane.
    let mut seed = 7u64;
    let mut rnd = move || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut out = vec![DVec3::new(0.0, 0.0, 3.0), DVec3::new(4.0, 0.0, 0.0)];
    while out.len() < count {
        let p = DVec3::new(rnd() - 0.5, rnd() - 0.5, rnd() - 0.5) * 30.0;
        if st.radius(p) > 1.2 * st.horizon() {
            out.push(p);
        }
    }
    out
}

#[test]
fn hamiltons_equations_are_the_hamiltonians_derivatives() {
    for a in [0.0, 0.5, -0.9] {
        let st = Spacetime { m: 1.0, a };
        for x in points(&st, 200) {
            let p = DVec3::new(0.3, -0.7, 0.4);
            let pt = 0.8;
            let (dx, dp) = st.derivative(x, p, pt);
            let e = 1e-6;
            for i in 0..3 {
                let mut u = DVec3::ZERO;
                u[i] = e;
                let dh_dp =
                    (st.hamiltonian(x, p + u, pt) - st.hamiltonian(x, p - u, pt)) / (2.0 * e);
                let dh_dx =
                    (st.hamiltonian(x + u, p, pt) - st.hamiltonian(x - u, p, pt)) / (2.0 * e);
                assert!((dx[i] - dh_dp).abs() < 1e-7, "a {a} at {x}: dx");
                assert!((dp[i] + dh_dx).abs() < 1e-7, "a {a} at {x}: dp {} {}", dp[i], -dh_dx);
            }
        }
    }
}

#[test]
fn a_launched_momentum_is_null_past_directed_and_along_its_direction() {
    let st = Spacetime { m: 1.0, a: 0.9 };
    for x in points(&st, 200) {
        for d in [DVec3::X, DVec3::new(-0.3, 0.5, 0.8).normalize(), -x.normalize()] {
            let Some((pt, p)) = st.momentum(x, d) else {
                // Only inside the ergosphere may a direction have no null vector.
                assert!(st.in_ergosphere(x), "{x} {d}");
                continue;
            };
            assert!(st.hamiltonian(x, p, pt).abs() < 1e-12 * (1.0 + p.length_squared()));
            let (ut, u) = st.raise(x, pt, p);
            assert!(ut < 0.0, "{x}: p^t = {ut}");
            assert!((u - d).length() < 1e-12, "{x}: {u} vs {d}");
        }
    }
}

#[test]
fn observers_are_unit_timelike_and_future_directed() {
    let st = Spacetime { m: 1.0, a: 0.9 };
    for x in points(&st, 200) {
        let mut us = vec![st.free_fall(x)];
        us.extend(st.zamo(x));
        us.extend(st.static_observer(x));
        if x.z == 0.0 {
            us.extend(st.orbiting(x, true));
        }
        for u in us {
            assert!((st.dot(x, u, u) + 1.0).abs() < 1e-10, "{x}: {u:?}");
            assert!(u.0 > 0.0);
        }
        // The ZAMO has no angular momentum: u_phi = x u_y - y u_x = 0 (covariant).
        if let Some(z) = st.zamo(x) {
            let (_, cov) = st.lower(x, z.0, z.1);
            assert!((x.x * cov.y - x.y * cov.x).abs() < 1e-10);
        }
        // No static observer inside the ergosphere.
        assert_eq!(st.static_observer(x).is_some(), !st.in_ergosphere(x));
    }
    // The Keplerian orbit at r = 6 in the equatorial plane (x^2 + y^2 = r^2 + a^2).
    let x = DVec3::new((36.0f64 + 0.81).sqrt(), 0.0, 0.0);
    let (ut, u) = st.orbiting(x, true).unwrap();
    assert!((st.radius(x) - 6.0).abs() < 1e-12);
    let omega = u.y / (x.x * ut);
    assert!((omega - 1.0 / (6f64.powf(1.5) + 0.9)).abs() < 1e-14);
}
