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

// The metric's f and l at local x: (l, f). g = eta + f l l, l = (1, l) covariant.
fn kerr_fl(m: f32, a: f32, x: vec3<f32>) -> vec4<f32> {
    let r = max(kerr_radius(m, a, x), 1e-30);
    let r2 = r * r;
    let q = r2 + a * a;
    let f = 2.0 * m * r2 * r / (r2 * r2 + a * a * x.z * x.z);
    return vec4<f32>((r * x.x + a * x.y) / q, (r * x.y - a * x.x) / q, x.z / r, f);
}

// 4-vectors are (spatial, t). The covariant form of contravariant u.
fn kerr_lower(m: f32, a: f32, x: vec3<f32>, u: vec4<f32>) -> vec4<f32> {
    let fl = kerr_fl(m, a, x);
    let lu = u.w + dot(fl.xyz, u.xyz);
    return vec4<f32>(u.xyz + fl.xyz * (fl.w * lu), -u.w + fl.w * lu);
}

// The contravariant form of covariant p (g^ = eta - f l^ l^, l^ = (l, -1)).
fn kerr_raise(m: f32, a: f32, x: vec3<f32>, p: vec4<f32>) -> vec4<f32> {
    let fl = kerr_fl(m, a, x);
    let big_l = -p.w + dot(fl.xyz, p.xyz);
    return vec4<f32>(p.xyz - fl.xyz * (fl.w * big_l), -p.w + fl.w * big_l);
}

fn kerr_dot(m: f32, a: f32, x: vec3<f32>, v: vec4<f32>, w: vec4<f32>) -> f32 {
    let wl = kerr_lower(m, a, x, w);
    return v.w * wl.w + dot(v.xyz, wl.xyz);
}

fn kerr_grad_r(a: f32, x: vec3<f32>, r: f32) -> vec3<f32> {
    let r2 = r * r;
    let sigma = r2 * r2 + a * a * x.z * x.z;
    return vec3<f32>(x.x * r2 * r, x.y * r2 * r, x.z * (r2 + a * a) * r) / sigma;
}

// The past-directed null momentum whose contravariant spatial part is unit d:
// (covariant p, p_t); p_t = 0 and p = 0 where there is none.
fn kerr_momentum(m: f32, a: f32, x: vec3<f32>, d: vec3<f32>) -> vec4<f32> {
    let fl = kerr_fl(m, a, x);
    let f = fl.w;
    let ld = dot(fl.xyz, d);
    let disc = 1.0 - f + f * ld * ld;
    if disc < 0.0 {
        return vec4<f32>(0.0);
    }
    let root = sqrt(disc);
    let qa = f - 1.0;
    let qb = f * ld;
    let c = 1.0 + f * ld * ld;
    let qq = -(qb + select(root, -root, qb < 0.0));
    let r1 = select(1e30, qq / qa, qa != 0.0);
    let r2 = c / qq;
    // The negative root of smaller size (see kerr.rs).
    var tau = 1e30;
    if r1 < 0.0 {
        tau = r1;
    }
    if r2 < 0.0 && abs(r2) < abs(tau) {
        tau = r2;
    }
    if tau > 0.0 {
        return vec4<f32>(0.0);
    }
    return vec4<f32>(d + fl.xyz * (f * (tau + ld)), qa * tau + f * ld);
}

// Observer kinds (scene::Observer): 4-velocity at local x, (spatial, t).
const KERR_STATIC: u32 = 0u;
const KERR_ZAMO: u32 = 1u;
const KERR_FREE_FALL: u32 = 2u;
const KERR_ORBIT: u32 = 3u;
const KERR_VELOCITY: u32 = 4u;

// `param`: the orbit's sense (+1: +phi) in x, or the local coordinate velocity.
fn kerr_observer(m: f32, a: f32, x: vec3<f32>, kind: u32, param: vec4<f32>) -> vec4<f32> {
    let r = kerr_radius(m, a, x);
    if kind == KERR_ZAMO {
        let delta = r * r - 2.0 * m * r + a * a;
        let cov = vec4<f32>(-kerr_grad_r(a, x, r) * (2.0 * m * r / delta), 1.0);
        let up = kerr_raise(m, a, x, cov);
        let k = 1.0 / sqrt(-(up.w * cov.w + dot(up.xyz, cov.xyz)));
        return -up * k;
    }
    if kind == KERR_FREE_FALL {
        let s = sqrt(2.0 * m * r * (r * r + a * a));
        let ur = -2.0 * m * r / (2.0 * m * r + s);
        return kerr_raise(m, a, x, vec4<f32>(kerr_grad_r(a, x, r) * ur, -1.0));
    }
    if kind == KERR_ORBIT {
        let sm = sqrt(m);
        let sgn = param.x;
        let r15 = pow(r, 1.5);
        let ut = (r15 + sgn * a * sm) / (pow(r, 0.75) * sqrt(r15 - 3.0 * m * sqrt(r) + sgn * 2.0 * a * sm));
        let om = sgn * sm / (r15 + sgn * a * sm);
        return vec4<f32>(vec3<f32>(-x.y, x.x, 0.0) * (ut * om), ut);
    }
    if kind == KERR_VELOCITY {
        let v = vec4<f32>(param.xyz, 1.0);
        return v / sqrt(-kerr_dot(m, a, x, v, v));
    }
    return vec4<f32>(0.0, 0.0, 0.0, 1.0 / sqrt(1.0 - kerr_fl(m, a, x).w));
}

// The observer u's ray along `local` (right, up, forward components) in its tetrad
// from the camera's local axes: (unit coordinate direction, the photon energy it
// measures in the integrator's normalisation). Gram-Schmidt in the metric: forward,
// then right, then up.
fn kerr_tetrad_ray(m: f32, a: f32, x: vec3<f32>, u: vec4<f32>, right: vec3<f32>, up: vec3<f32>, forward: vec3<f32>, local: vec3<f32>) -> vec4<f32> {
    var e: array<vec4<f32>, 3>;
    let axes = array<vec3<f32>, 3>(right, up, forward);
    let order = array<u32, 3>(2u, 0u, 1u);
    for (var k = 0u; k < 3u; k++) {
        let i = order[k];
        var v = vec4<f32>(axes[i], 0.0);
        v = v + u * kerr_dot(m, a, x, v, u);
        for (var j = 0u; j < k; j++) {
            let w = e[order[j]];
            v = v - w * kerr_dot(m, a, x, v, w);
        }
        e[i] = v / sqrt(max(kerr_dot(m, a, x, v, v), 1e-30));
    }
    let s = e[0].xyz * local.x + e[1].xyz * local.y + e[2].xyz * local.z;
    let dir = normalize(s - u.xyz);
    let p = kerr_momentum(m, a, x, dir);
    return vec4<f32>(dir, u.w * p.w + dot(u.xyz, p.xyz));
}
