// Maxwell's fish-eye (renderer-core/src/field/fisheye.rs).
fn fisheye_deviation(f: GpuField, p: vec3<f32>, background: f32) -> vec4<f32> {
    let centre = f.p0.xyz;
    let radius = f.p0.w;
    let n0 = f.p1.x;
    let extent = f.p1.y;
    let edge = f.p1.z;
    let d = p - centre;
    let r2 = length2(d);
    if r2 < extent * extent {
        let rr = radius * radius;
        let q = 1.0 + r2 / rr;
        return vec4<f32>(n0 / q - edge, d * (-2.0 * n0 / (rr * q * q)));
    }
    return vec4<f32>(0.0);
}
