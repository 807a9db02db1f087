// Stars on a cube-map grid (renderer-core/src/environment/stars.rs).
fn unit16(bits: u32) -> f32 {
    return f32(bits & 0xffffu) / 65536.0;
}

fn stars_radiance(dir: vec3<f32>) -> vec3<f32> {
    let background = params.env_a.xyz;
    let density = params.env_a.w;
    let brightness = params.env_b.w;
    let cells = params.env_tex.w;
    let seed = vec2<u32>(params.env_seed.x, params.env_seed.y);
    let a = abs(dir);
    var face = 0u;
    var s = 0.0;
    var t = 0.0;
    if a.x >= a.y && a.x >= a.z {
        face = select(0u, 1u, dir.x < 0.0);
        s = dir.y / a.x;
        t = dir.z / a.x;
    } else if a.y >= a.z {
        face = 2u + select(0u, 1u, dir.y < 0.0);
        s = dir.x / a.y;
        t = dir.z / a.y;
    } else {
        face = 4u + select(0u, 1u, dir.z < 0.0);
        s = dir.x / a.z;
        t = dir.y / a.z;
    }
    let n = f32(cells);
    let fs = (s + 1.0) * 0.5 * n;
    let ft = (t + 1.0) * 0.5 * n;
    let i = min(floor(fs), n - 1.0);
    let j = min(floor(ft), n - 1.0);
    let iu = u32(i);
    let ju = u32(j);
    let key = seed ^ vec2<u32>(0u, face << 26u) ^ vec2<u32>(iu << 29u, iu >> 3u) ^ vec2<u32>(ju, 0u);
    let hh = mix64(key);
    if unit16(hh.x) >= density {
        return background;
    }
    let cs = i + 0.25 + 0.5 * unit16(hh.x >> 16u);
    let ct = j + 0.25 + 0.5 * unit16(hh.y);
    let r2 = (fs - cs) * (fs - cs) + (ft - ct) * (ft - ct);
    if r2 > 0.12 * 0.12 {
        return background;
    }
    let u = unit16(hh.y >> 16u);
    let level = brightness * max(u * u * u, 0.02);
    let warm = unit16(mix64(hh).x);
    return background + level * vec3<f32>(0.75 + 0.25 * warm, 0.85, 1.0 - 0.3 * warm);
}

