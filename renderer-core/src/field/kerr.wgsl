// A Kerr hole (renderer-core/src/field/kerr.rs): Hamilton's equations of null
// geodesics in Cartesian Kerr-Schild coordinates, in the hole's own frame (spin
// along +z), in f64 (the CPU's precision: a ray that winds near the photon orbit
// multiplies its error by about e^(2 pi) a turn, beyond what f32 can follow). This
// file and shaders/kerr.wgsl are compiled only into the pipelines of a device with
// f64 shaders (wgpu's SHADER_F64); others get shaders/kerr_off.wgsl.
// Parameter block: p0 = (centre, M), p1 = (axis, a), p2.x = extent in f32; the same
// and the frame, in f64 as (hi, lo) pairs, in `scalars` from head.y (see kerr.rs).

alias d3 = vec3<f64>;
alias d4 = vec4<f64>;

// Boyer-Lindquist r of local point x.
fn kerr_radius(m: f64, a: f64, x: d3) -> f64 {
    let a2 = a * a;
    let w = dot(x, x) - a2;
    return sqrt(max(0.5 * (w + sqrt(w * w + 4.0 * a2 * x.z * x.z)), 0.0));
}

// (dx/dlambda, dp/dlambda) at local x for covariant spatial momentum p, p_t = pt.
struct KerrDeriv {
    dx: d3,
    dp: d3,
}

fn kerr_derivative(m: f64, a: f64, x: d3, p: d3, pt: f64) -> KerrDeriv {
    let r = max(kerr_radius(m, a, x), 1e-300);
    let r2 = r * r;
    let q = r2 + a * a;
    let sigma = r2 * r2 + a * a * x.z * x.z;
    let f = 2.0 * m * r2 * r / sigma;
    let l = d3((r * x.x + a * x.y) / q, (r * x.y - a * x.x) / q, x.z / r);
    let dr = d3(x.x * r2 * r, x.y * r2 * r, x.z * q * r) / sigma;
    let dsigma = dr * (4.0 * r2 * r) + d3(0.0, 0.0, 2.0 * a * a * x.z);
    let df = (dr * (3.0 * r2 * sigma) - dsigma * (r2 * r)) * (2.0 * m / (sigma * sigma));
    let g = dr * ((x.x * p.x + x.y * p.y) / q - 2.0 * r * (l.x * p.x + l.y * p.y) / q - p.z * x.z / r2)
        + d3((r * p.x - a * p.y) / q, (r * p.y + a * p.x) / q, p.z / r);
    let big_l = dot(l, p) - pt;
    return KerrDeriv(p - l * (f * big_l), df * (0.5 * big_l * big_l) + g * (f * big_l));
}

// The metric's f and l at local x: (l, f). g = eta + f l l, l = (1, l) covariant.
fn kerr_fl(m: f64, a: f64, x: d3) -> d4 {
    let r = max(kerr_radius(m, a, x), 1e-300);
    let r2 = r * r;
    let q = r2 + a * a;
    let f = 2.0 * m * r2 * r / (r2 * r2 + a * a * x.z * x.z);
    return d4((r * x.x + a * x.y) / q, (r * x.y - a * x.x) / q, x.z / r, f);
}

// H at (x, p), p_t = pt, and the size of its terms.
fn kerr_hamiltonian(m: f64, a: f64, x: d3, p: d3, pt: f64) -> vec2<f64> {
    let fl = kerr_fl(m, a, x);
    let big_l = dot(fl.xyz, p) - pt;
    let f = fl.w;
    return vec2<f64>(0.5 * (-pt * pt + dot(p, p) - f * big_l * big_l), 0.5 * (pt * pt + dot(p, p) + f * big_l * big_l));
}

// 4-vectors are (spatial, t). The covariant form of contravariant u.
fn kerr_lower(m: f64, a: f64, x: d3, u: d4) -> d4 {
    let fl = kerr_fl(m, a, x);
    let lu = u.w + dot(fl.xyz, u.xyz);
    return d4(u.xyz + fl.xyz * (fl.w * lu), -u.w + fl.w * lu);
}

// The contravariant form of covariant p (g^ = eta - f l^ l^, l^ = (l, -1)).
fn kerr_raise(m: f64, a: f64, x: d3, p: d4) -> d4 {
    let fl = kerr_fl(m, a, x);
    let big_l = -p.w + dot(fl.xyz, p.xyz);
    return d4(p.xyz - fl.xyz * (fl.w * big_l), -p.w + fl.w * big_l);
}

fn kerr_dot(m: f64, a: f64, x: d3, v: d4, w: d4) -> f64 {
    let wl = kerr_lower(m, a, x, w);
    return v.w * wl.w + dot(v.xyz, wl.xyz);
}

fn kerr_grad_r(a: f64, x: d3, r: f64) -> d3 {
    let r2 = r * r;
    let sigma = r2 * r2 + a * a * x.z * x.z;
    return d3(x.x * r2 * r, x.y * r2 * r, x.z * (r2 + a * a) * r) / sigma;
}

// The past-directed null momentum whose contravariant spatial part is unit d:
// (covariant p, p_t); p_t = 0 and p = 0 where there is none.
fn kerr_momentum(m: f64, a: f64, x: d3, d: d3) -> d4 {
    return kerr_momentum_root(m, a, x, d, false);
}

// kerr_momentum choosing the root (field::Root): inside the ergosphere two
// past-directed null momenta share the direction, the near one (smaller |p^t|) and
// the far one; elsewhere only the near one (zero for the far).
fn kerr_momentum_root(m: f64, a: f64, x: d3, d: d3, far: bool) -> d4 {
    let fl = kerr_fl(m, a, x);
    let f = fl.w;
    let ld = dot(fl.xyz, d);
    let disc = 1.0 - f + f * ld * ld;
    if disc < 0.0 {
        return d4(0.0);
    }
    let root = sqrt(disc);
    let qa = f - 1.0;
    let qb = f * ld;
    let c = 1.0 + f * ld * ld;
    let qq = -(qb + select(root, -root, qb < 0.0));
    let r1 = select(f64(1e300), qq / qa, qa != 0.0);
    let r2 = c / qq;
    // The negative roots, the one of smaller size first (see kerr.rs).
    var near = f64(1e300);
    var other = f64(1e300);
    if r1 < 0.0 {
        near = r1;
    }
    if r2 < 0.0 {
        if abs(r2) < abs(near) {
            other = near;
            near = r2;
        } else {
            other = r2;
        }
    }
    let tau = select(near, other, far);
    if tau > 0.0 {
        return d4(0.0);
    }
    return d4(d + fl.xyz * (f * (tau + ld)), qa * tau + f * ld);
}

// Keplerian circular equatorial orbits turning in +phi (s = 1) or -phi (s = -1):
// the angular velocity and u^t (0 inside the photon orbit, where none is timelike).
fn kerr_kepler_omega(m: f64, a: f64, r: f64, s: f64) -> f64 {
    let sm = sqrt(m);
    return s * sm / (r * sqrt(r) + s * a * sm);
}

fn kerr_kepler_ut(m: f64, a: f64, r: f64, s: f64) -> f64 {
    let sm = sqrt(m);
    let r15 = r * sqrt(r);
    let d = r15 - 3.0 * m * sqrt(r) + s * 2.0 * a * sm;
    if d <= 0.0 {
        return 0.0;
    }
    return (r15 + s * a * sm) / (sqrt(r15) * sqrt(d));
}

// Observer kinds (scene::Observer): 4-velocity at local x, (spatial, t).
const KERR_STATIC: u32 = 0u;
const KERR_ZAMO: u32 = 1u;
const KERR_FREE_FALL: u32 = 2u;
const KERR_ORBIT: u32 = 3u;
const KERR_VELOCITY: u32 = 4u;

// `param`: the orbit's sense (+1: +phi) in x, or the local coordinate velocity.
fn kerr_observer(m: f64, a: f64, x: d3, kind: u32, param: d4) -> d4 {
    let r = kerr_radius(m, a, x);
    if kind == KERR_ZAMO {
        let delta = r * r - 2.0 * m * r + a * a;
        let cov = d4(-kerr_grad_r(a, x, r) * (2.0 * m * r / delta), 1.0);
        let up = kerr_raise(m, a, x, cov);
        let k = 1.0 / sqrt(-(up.w * cov.w + dot(up.xyz, cov.xyz)));
        return -up * k;
    }
    if kind == KERR_FREE_FALL {
        let s = sqrt(2.0 * m * r * (r * r + a * a));
        let ur = -2.0 * m * r / (2.0 * m * r + s);
        return kerr_raise(m, a, x, d4(kerr_grad_r(a, x, r) * ur, -1.0));
    }
    if kind == KERR_ORBIT {
        let ut = kerr_kepler_ut(m, a, r, param.x);
        let om = kerr_kepler_omega(m, a, r, param.x);
        return d4(d3(-x.y, x.x, 0.0) * (ut * om), ut);
    }
    if kind == KERR_VELOCITY {
        let v = d4(param.xyz, 1.0);
        return v / sqrt(-kerr_dot(m, a, x, v, v));
    }
    return d4(0.0, 0.0, 0.0, 1.0 / sqrt(1.0 - kerr_fl(m, a, x).w));
}

// The observer u's ray along `local` (right, up, forward components) in its tetrad
// from the camera's local axes: (unit coordinate direction, the photon energy it
// measures in the integrator's normalisation). Gram-Schmidt in the metric: forward,
// then right, then up.
fn kerr_tetrad_ray(m: f64, a: f64, x: d3, u: d4, right: d3, up: d3, forward: d3, local: d3) -> d4 {
    var e: array<d4, 3>;
    let axes = array<d3, 3>(right, up, forward);
    let order = array<u32, 3>(2u, 0u, 1u);
    for (var k = 0u; k < 3u; k++) {
        let i = order[k];
        var v = d4(axes[i], 0.0);
        v = v + u * kerr_dot(m, a, x, v, u);
        for (var j = 0u; j < k; j++) {
            let w = e[order[j]];
            v = v - w * kerr_dot(m, a, x, v, w);
        }
        e[i] = v / sqrt(max(kerr_dot(m, a, x, v, v), 1e-300));
    }
    let s = e[0].xyz * local.x + e[1].xyz * local.y + e[2].xyz * local.z;
    let dir = normalize(s - u.xyz);
    let p = kerr_momentum(m, a, x, dir);
    return d4(dir, u.w * p.w + dot(u.xyz, p.xyz));
}

// The kernel probe's Kerr cases (shaders/probe.wgsl lays out their arguments).
fn probe_kerr(c: GpuProbe) -> GpuProbeOut {
    var o: GpuProbeOut;
    let m = f64(c.a.w);
    let a = f64(c.b.w);
    let x = d3(c.a.xyz);
    if c.op.x == OP_KERR {
        let d = kerr_derivative(m, a, x, d3(c.b.xyz), f64(c.c.x));
        o.a = vec4<f32>(vec3<f32>(d.dx), f32(kerr_radius(m, a, x)));
        o.b = vec4<f32>(vec3<f32>(d.dp), 0.0);
    } else {
        let u = kerr_observer(m, a, x, c.op.y, d4(d3(c.d.xyz), 0.0));
        let forward = cross(d3(c.c.xyz), d3(c.b.xyz));
        let local = normalize(d3(f64(c.c.w), f64(c.d.w), 1.0));
        o.a = vec4<f32>(u);
        o.b = vec4<f32>(kerr_tetrad_ray(m, a, x, u, d3(c.b.xyz), d3(c.c.xyz), forward, local));
    }
    return o;
}
