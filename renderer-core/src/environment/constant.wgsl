// The same radiance everywhere (renderer-core/src/environment/constant.rs).
fn constant_radiance(dir: vec3<f32>) -> vec3<f32> {
    let radiance = params.env_a.xyz;
    return radiance;
}
