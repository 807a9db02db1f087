// Lambertian of a constant albedo, optionally emitting (renderer-core/src/material/diffuse.rs).
fn diffuse_albedo(m: GpuMaterial, p: vec3<f32>, n: vec3<f32>, h: Hit) -> vec3<f32> {
    let colour = m.a.xyz;
    return colour;
}

fn diffuse_emitted(m: GpuMaterial) -> vec3<f32> {
    let emission = m.b.xyz;
    return emission;
}
