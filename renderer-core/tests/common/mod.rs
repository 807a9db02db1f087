//! Reference values shared by the CPU and GPU golden tests.

use std::f64::consts::PI;

/// Exact Schwarzschild deflection for impact parameter `b` (M = 1), by quadrature:
/// alpha = 2 int_0^u0 du / sqrt(1/b^2 - u^2 + 2 M u^3) - pi, with u = u0 (1 - t^2) and the
/// cubic factored so the integrand is smooth (Vieta for the other two roots).
pub(crate) fn exact_deflection(b: f64) -> f64 {
    let m = 1.0;
    // Closest approach r0 > 3M from b = r0 / sqrt(1 - 2M/r0), by bisection.
    let (mut lo, mut hi) = (3.0 * m, 10.0 * b + 10.0);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if mid / (1.0 - 2.0 * m / mid).sqrt() < b {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let u0 = 1.0 / (0.5 * (lo + hi));
    let sum = 1.0 / (2.0 * m) - u0;
    let prod = -1.0 / (2.0 * m * b * b * u0);
    let integrand = |t: f64| {
        let u = u0 * (1.0 - t * t);
        let g = -2.0 * m * u0 * (u * u - sum * u + prod);
        2.0 * u0 / g.sqrt()
    };
    // Composite Simpson on [0, 1]; the integrand is smooth.
    let n = 20_000;
    let h = 1.0 / f64::from(n);
    let mut acc = integrand(0.0) + integrand(1.0);
    for i in 1..n {
        acc += integrand(f64::from(i) * h) * if i % 2 == 1 { 4.0 } else { 2.0 };
    }
    2.0 * acc * h / 3.0 - PI
}
