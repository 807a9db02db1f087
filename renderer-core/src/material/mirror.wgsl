// A perfect mirror (renderer-core/src/material/mirror.rs).
fn mirror_bounce(m: GpuMaterial, incoming: vec3<f32>, n: vec3<f32>, front: bool, index_here: f32, rng: ptr<function, Sampler>) -> Bounce {
    let colour = m.a.xyz;
    return Bounce(reflect_dir(incoming, n), colour, false);
}
