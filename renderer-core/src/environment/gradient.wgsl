// A horizon-to-zenith sky (renderer-core/src/environment/gradient.rs).
fn gradient_radiance(dir: vec3<f32>) -> vec3<f32> {
    let horizon = params.env_a.xyz;
    let zenith = params.env_b.xyz;
    let t = clamp(dir.y, 0.0, 1.0);
    return horizon * (1.0 - t) + zenith * t;
}
