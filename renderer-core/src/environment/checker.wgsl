// A latitude-longitude checkerboard (renderer-core/src/environment/checker.rs).
fn checker_radiance(dir: vec3<f32>) -> vec3<f32> {
    let a = params.env_a.xyz;
    let b = params.env_b.xyz;
    let divisions = params.env_b.w;
    let uv = equirect_uv(dir);
    if rem2(floor(uv.x * 2.0 * divisions) + floor(uv.y * divisions)) >= 1.0 {
        return b;
    }
    return a;
}
