// A linear index gradient in a box (renderer-core/src/field/linear.rs).
fn linear_deviation(f: GpuField, p: vec3<f32>, background: f32) -> vec4<f32> {
    let gradient = f.p0.xyz;
    let n0 = f.p0.w;
    let lo = f.p1.xyz;
    let hi = f.p2.xyz;
    if box_contains(lo, hi, p) {
        return vec4<f32>(n0 + dot(gradient, p) - background, gradient);
    }
    return vec4<f32>(0.0);
}
