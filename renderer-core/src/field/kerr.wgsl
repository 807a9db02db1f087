// A Kerr hole (renderer-core/src/field/kerr.rs): Hamilton's equations of null
// geodesics in Cartesian Kerr-Schild coordinates, in the hole's own frame (spin
// along +z). Parameter block: p0 = (centre, M), p1 = (axis, a), p2.x = extent.

fn kerr_mass(f: GpuField) -> f32 {
    return f.p0.w;
}

fn kerr_spin(f: GpuField) -> f32 {
    return f.p1.w;
}

// Boyer-Lindquist r of local point x.
fn kerr_radius(m: f32, a: f32, x: vec3<f32>) -> f32 {
    let a2 = a * a;
    let w = dot(x, x) - a2;
    return sqrt(max(0.5 * (w + sqrt(w * w + 4.0 * a2 * x.z * x.z)), 0.0));
}

// (dx/dlambda, dp/dlambda) at local x for covariant spatial momentum p, p_t = pt;
// the derivative's two halves in the two columns.
fn kerr_derivative(m: f32, a: f32, x: vec3<f32>, p: vec3<f32>, pt: f32) -> mat2x3<f32> {
    let r = max(kerr_radius(m, a, x), 1e-30);
    let r2 = r * r;
    let q = r2 + a * a;
    let sigma = r2 * r2 + a * a * x.z * x.z;
    let f = 2.0 * m * r2 * r / sigma;
    let l = vec3<f32>((r * x.x + a * x.y) / q, (r * x.y - a * x.x) / q, x.z / r);
    let dr = vec3<f32>(x.x * r2 * r, x.y * r2 * r, x.z * q * r) / sigma;
    let dsigma = dr * (4.0 * r2 * r) + vec3<f32>(0.0, 0.0, 2.0 * a * a * x.z);
    let df = (dr * (3.0 * r2 * sigma) - dsigma * (r2 * r)) * (2.0 * m / (sigma * sigma));
    let g = dr * ((x.x * p.x + x.y * p.y) / q - 2.0 * r * (l.x * p.x + l.y * p.y) / q - p.z * x.z / r2)
        + vec3<f32>((r * p.x - a * p.y) / q, (r * p.y + a * p.x) / q, p.z / r);
    let big_l = dot(l, p) - pt;
    return mat2x3<f32>(p - l * (f * big_l), df * (0.5 * big_l * big_l) + g * (f * big_l));
}
