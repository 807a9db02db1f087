// A sampled grid of index deviations, trilinear (renderer-core/src/field/grid.rs).

fn grid_value(f: GpuField, i: u32, j: u32, k: u32) -> f32 {
    let first = f.head.y;
    let nx = f.head.z;
    let ny = f.head.w;
    return scalars[first + (k * ny + j) * nx + i];
}

// Trilinear deviation and its exact gradient; zero outside the grid.
fn grid_deviation(f: GpuField, p: vec3<f32>, background: f32) -> vec4<f32> {
    let spacing = f.p0.xyz;
    let lo = f.p1.xyz;
    let hi = f.p2.xyz;
    if !box_contains(lo, hi, p) {
        return vec4<f32>(0.0);
    }
    let dims = vec3<u32>(f.head.z, f.head.w, f.head2.x);
    let g = (p - lo) / spacing;
    let cell = min(vec3<u32>(max(floor(g), vec3<f32>(0.0))), dims - vec3<u32>(2u));
    let t = clamp(g - vec3<f32>(cell), vec3<f32>(0.0), vec3<f32>(1.0));
    var c: array<f32, 8>;
    for (var n = 0u; n < 8u; n++) {
        c[n] = grid_value(f, cell.x + (n & 1u), cell.y + ((n >> 1u) & 1u), cell.z + ((n >> 2u) & 1u));
    }
    let c00 = mix(c[0], c[1], t.x);
    let c10 = mix(c[2], c[3], t.x);
    let c01 = mix(c[4], c[5], t.x);
    let c11 = mix(c[6], c[7], t.x);
    let value = mix(mix(c00, c10, t.y), mix(c01, c11, t.y), t.z);
    let dx = mix(mix(c[1] - c[0], c[3] - c[2], t.y), mix(c[5] - c[4], c[7] - c[6], t.y), t.z);
    let dy = mix(mix(c[2] - c[0], c[3] - c[1], t.x), mix(c[6] - c[4], c[7] - c[5], t.x), t.z);
    let dz = mix(mix(c[4] - c[0], c[5] - c[1], t.x), mix(c[6] - c[2], c[7] - c[3], t.x), t.y);
    return vec4<f32>(value, vec3<f32>(dx, dy, dz) / spacing);
}
