// The Luneburg lens (renderer-core/src/field/luneburg.rs).
fn luneburg_deviation(f: GpuField, p: vec3<f32>, background: f32) -> vec4<f32> {
    let centre = f.p0.xyz;
    let radius = f.p0.w;
    let d = p - centre;
    let r2 = radius * radius;
    let u2 = length2(d) / r2;
    if u2 < 1.0 {
        let n = sqrt(2.0 - u2);
        return vec4<f32>(n - 1.0, -d / (r2 * n));
    }
    return vec4<f32>(0.0);
}
