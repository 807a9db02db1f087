// A smooth dielectric interface (renderer-core/src/material/dielectric.rs).
fn dielectric_bounce(m: GpuMaterial, incoming: vec3<f32>, n: vec3<f32>, front: bool, index_here: f32, rng: ptr<function, Sampler>) -> Bounce {
    let ior = m.a.w;
    let tint = m.b.xyz;
    let eta = select(ior / index_here, index_here / ior, front);
    let cos_i = -dot(incoming, n);
    let f = fresnel(cos_i, eta);
    if f.y >= 0.0 && next_f(rng) >= f.x {
        return Bounce(refract_dir(incoming, n, eta, f.y), tint * (eta * eta), true);
    }
    return Bounce(reflect_dir(incoming, n), vec3<f32>(1.0), false);
}
