// A pure emitter (renderer-core/src/material/emissive.rs).
fn emissive_emitted(m: GpuMaterial) -> vec3<f32> {
    let radiance = m.a.xyz;
    return radiance;
}
