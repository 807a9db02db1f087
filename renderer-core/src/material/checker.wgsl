// Lambertian with a 3D checker (renderer-core/src/material/checker.rs).
fn checker_albedo(m: GpuMaterial, p: vec3<f32>, n: vec3<f32>, h: Hit) -> vec3<f32> {
    let a = m.a.xyz;
    let scale = m.a.w;
    let b = m.b.xyz;
    let q = floor(p * scale + n * 0.5);
    if rem2(q.x + q.y + q.z) >= 1.0 {
        return b;
    }
    return a;
}
