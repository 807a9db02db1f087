// Lambertian with an image albedo by mesh UVs (renderer-core/src/material/texture.rs).
fn texture_albedo(m: GpuMaterial, p: vec3<f32>, n: vec3<f32>, h: Hit) -> vec3<f32> {
    let repeat = m.a.w;
    let inst = instances[h.instance];
    if inst.uv_base == NONE || m.tex_w == 0u {
        return vec3<f32>(0.5);
    }
    let t = uvs[inst.uv_base + (h.slot - inst.slot_base)];
    let w = 1.0 - h.u - h.v;
    let uv = t.a.xy * w + t.a.zw * h.u + t.b.xy * h.v;
    let v = uv.y * repeat;
    return texture_sample(m.tex_base, m.tex_w, m.tex_h, uv.x * repeat, v - floor(v));
}
