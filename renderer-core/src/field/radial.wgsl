// A radial index profile from a table: a natural cubic spline in s = r^2
// (renderer-core/src/field/radial.rs). scalars[first ..] holds the count samples,
// then their second derivatives d^2n/ds^2.
fn radial_deviation(f: GpuField, p: vec3<f32>, background: f32) -> vec4<f32> {
    let first = f.head.y;
    let count = f.head.z;
    let centre = f.p0.xyz;
    let radius = f.p0.w;
    let edge = f.p1.x;
    let d = p - centre;
    let s = length2(d);
    if s >= radius * radius || count < 2u {
        return vec4<f32>(0.0);
    }
    let step = radius / f32(count - 1u);
    let k = min(u32(max(floor(sqrt(s) / step), 0.0)), count - 2u);
    let s0 = f32(k) * step * f32(k) * step;
    let s1 = f32(k + 1u) * step * f32(k + 1u) * step;
    let w = s1 - s0;
    let a = (s1 - s) / w;
    let b = 1.0 - a;
    let y0 = scalars[first + k];
    let y1 = scalars[first + k + 1u];
    let m0 = scalars[first + count + k];
    let m1 = scalars[first + count + k + 1u];
    let n = a * y0 + b * y1 + ((a * a * a - a) * m0 + (b * b * b - b) * m1) * w * w / 6.0;
    let slope = (y1 - y0) / w - (3.0 * a * a - 1.0) / 6.0 * w * m0 + (3.0 * b * b - 1.0) / 6.0 * w * m1;
    return vec4<f32>(n - edge, d * (2.0 * slope));
}
