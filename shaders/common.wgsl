// Bindings, random numbers and small helpers shared by every kernel. The structs and
// constants come first, generated from renderer-core/src/gpu/layout.rs.

// Group 0: the scene, read-only, shared by every entry point.
@group(0) @binding(B_PARAMS) var<uniform> params: GpuParams;
@group(0) @binding(B_NODES) var<storage, read> nodes: array<GpuNode>;
@group(0) @binding(B_TRIANGLES) var<storage, read> triangles: array<GpuTriangle>;
@group(0) @binding(B_TLAS_PRIMS) var<storage, read> tlas_prims: array<u32>;
@group(0) @binding(B_INSTANCES) var<storage, read> instances: array<GpuInstance>;
@group(0) @binding(B_UVS) var<storage, read> uvs: array<GpuUv>;
@group(0) @binding(B_MATERIALS) var<storage, read> materials: array<GpuMaterial>;
@group(0) @binding(B_LIGHTS) var<storage, read> lights: array<GpuLight>;
@group(0) @binding(B_EMITTERS) var<storage, read> emitters: array<GpuEmitter>;
@group(0) @binding(B_FIELDS) var<storage, read> fields: array<GpuField>;
// The curvature-bound grid first, then the sampled index grids.
@group(0) @binding(B_SCALARS) var<storage, read> scalars: array<f32>;
@group(0) @binding(B_TEXELS) var<storage, read> texels: array<vec4<f32>>;

const PI: f32 = 3.14159265358979;
const TAU: f32 = 6.28318530717959;
const INF: f32 = 3.0e38;

// ---- 64-bit integers as (low, high) words: the CPU's counter-based sampler ----

// The full 64-bit product of two 32-bit words.
fn mul32x32(x: u32, y: u32) -> vec2<u32> {
    let xl = x & 0xffffu;
    let xh = x >> 16u;
    let yl = y & 0xffffu;
    let yh = y >> 16u;
    let ll = xl * yl;
    let lh = xl * yh;
    let hl = xh * yl;
    let hh = xh * yh;
    let mid = (ll >> 16u) + (lh & 0xffffu) + (hl & 0xffffu);
    return vec2<u32>((ll & 0xffffu) | (mid << 16u), hh + (lh >> 16u) + (hl >> 16u) + (mid >> 16u));
}

// a * b mod 2^64.
fn mul64(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> {
    let p = mul32x32(a.x, b.x);
    return vec2<u32>(p.x, p.y + a.x * b.y + a.y * b.x);
}

fn add64(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> {
    let lo = a.x + b.x;
    return vec2<u32>(lo, a.y + b.y + select(0u, 1u, lo < a.x));
}

// a >> s for 0 < s < 32.
fn shr64(a: vec2<u32>, s: u32) -> vec2<u32> {
    return vec2<u32>((a.x >> s) | (a.y << (32u - s)), a.y >> s);
}

// The SplitMix64 finaliser, as rng::mix64.
fn mix64(z0: vec2<u32>) -> vec2<u32> {
    var z = z0;
    z = mul64(z ^ shr64(z, 30u), vec2<u32>(0x1CE4E5B9u, 0xBF58476Du));
    z = mul64(z ^ shr64(z, 27u), vec2<u32>(0x133111EBu, 0x94D049BBu));
    return z ^ shr64(z, 31u);
}

// rng::Sampler: a key from (pixel, sample, bounce, seed) and a dimension counter.
struct Sampler {
    key: vec2<u32>,
    dim: u32,
}

fn sampler_new(pixel: u32, sample: u32, bounce: u32) -> Sampler {
    let seed_key = vec2<u32>(params.seed.x, params.seed.y);
    let ps = mix64(add64(vec2<u32>(sample, pixel), vec2<u32>(0xD9B4E019u, 0x632BE59Bu)));
    let b = mix64(add64(mul64(vec2<u32>(bounce, 0u), vec2<u32>(0x6659FD93u, 0xD6E8FEB8u)), vec2<u32>(1u, 0u)));
    return Sampler(seed_key ^ ps ^ b, 0u);
}

fn next_u64(s: ptr<function, Sampler>) -> vec2<u32> {
    let v = mix64(add64((*s).key, mul64(vec2<u32>((*s).dim, 0u), vec2<u32>(0x7F4A7C15u, 0x9E3779B9u))));
    (*s).dim += 1u;
    return v;
}

// Uniform in [0, 1): the CPU's 53-bit value cut to 24 bits.
fn next_f(s: ptr<function, Sampler>) -> f32 {
    let v = next_u64(s);
    return f32(v.y >> 8u) * (1.0 / 16777216.0);
}

// ---- small helpers ----

fn max3(v: vec3<f32>) -> f32 {
    return max(v.x, max(v.y, v.z));
}

fn min3(v: vec3<f32>) -> f32 {
    return min(v.x, min(v.y, v.z));
}

fn length2(v: vec3<f32>) -> f32 {
    return dot(v, v);
}

fn normalize_or_x(v: vec3<f32>) -> vec3<f32> {
    let l = length(v);
    if l > 0.0 && l < INF {
        return v / l;
    }
    return vec3<f32>(1.0, 0.0, 0.0);
}

// Entry and exit of o + t d through the box (t >= 0); x > y when it misses.
fn box_interval(lo: vec3<f32>, hi: vec3<f32>, o: vec3<f32>, d: vec3<f32>) -> vec2<f32> {
    var tmin = 0.0;
    var tmax = INF;
    for (var a = 0u; a < 3u; a++) {
        if d[a] == 0.0 {
            if o[a] < lo[a] || o[a] > hi[a] {
                return vec2<f32>(1.0, 0.0);
            }
            continue;
        }
        let t0 = (lo[a] - o[a]) / d[a];
        let t1 = (hi[a] - o[a]) / d[a];
        tmin = max(tmin, min(t0, t1));
        tmax = min(tmax, max(t0, t1));
    }
    return vec2<f32>(tmin, tmax);
}

fn box_contains(lo: vec3<f32>, hi: vec3<f32>, p: vec3<f32>) -> bool {
    return all(p >= lo) && all(p <= hi);
}

// Nearest and farthest distance from p to the box.
fn distance_range(lo: vec3<f32>, hi: vec3<f32>, p: vec3<f32>) -> vec2<f32> {
    let near = length(max(max(lo - p, p - hi), vec3<f32>(0.0)));
    let far = length(max(abs(p - lo), abs(hi - p)));
    return vec2<f32>(near, far);
}

// Two unit vectors completing n to an orthonormal basis (glam's any_orthonormal_pair).
fn orthonormal_pair(n: vec3<f32>) -> array<vec3<f32>, 2> {
    let sign = select(-1.0, 1.0, n.z >= 0.0);
    let a = -1.0 / (sign + n.z);
    let b = n.x * n.y * a;
    return array<vec3<f32>, 2>(
        vec3<f32>(1.0 + sign * n.x * n.x * a, sign * b, -sign * n.x),
        vec3<f32>(b, sign + n.y * n.y * a, -n.y),
    );
}
