// An equirectangular image (renderer-core/src/environment/equirect.rs).
fn equirect_radiance(dir: vec3<f32>) -> vec3<f32> {
    let scale = params.env_a.w;
    let first = params.env_tex.x;
    let width = params.env_tex.y;
    let height = params.env_tex.z;
    if width == 0u {
        return vec3<f32>(0.0);
    }
    let uv = equirect_uv(dir);
    return texture_sample(first, width, height, uv.x, uv.y) * scale;
}
