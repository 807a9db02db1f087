// A Gaussian bump of index (renderer-core/src/field/gaussian.rs).
fn gaussian_deviation(f: GpuField, p: vec3<f32>, background: f32) -> vec4<f32> {
    let centre = f.p0.xyz;
    let sigma = f.p0.w;
    let amplitude = f.p1.x;
    let d = p - centre;
    let r2 = length2(d);
    let s2 = sigma * sigma;
    if r2 < 16.0 * s2 {
        let g = amplitude * exp(-r2 / (2.0 * s2));
        return vec4<f32>(g, d * (-g / s2));
    }
    return vec4<f32>(0.0);
}
