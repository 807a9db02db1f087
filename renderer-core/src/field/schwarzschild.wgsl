// A Schwarzschild mass (renderer-core/src/field/schwarzschild.rs). The integrator
// reads a mass's parameters through these accessors.

fn mass_centre(f: GpuField) -> vec3<f32> {
    return f.p0.xyz;
}

fn mass_rs(f: GpuField) -> f32 {
    return f.p0.w;
}

fn mass_extent(f: GpuField) -> f32 {
    return f.p1.x;
}

// Geodesic acceleration -1.5 r_s h^2 x / r^5 for direction v, within the extent.
fn schwarzschild_acceleration(f: GpuField, p: vec3<f32>, v: vec3<f32>) -> vec3<f32> {
    let x = p - mass_centre(f);
    let r2 = length2(x);
    let extent = mass_extent(f);
    if r2 < extent * extent {
        let h2 = length2(cross(x, v));
        return x * (-1.5 * mass_rs(f) * h2 / (r2 * r2 * sqrt(r2)));
    }
    return vec3<f32>(0.0);
}

fn is_mass(f: GpuField) -> bool {
    return f.head.x == FIELD_MASS;
}
