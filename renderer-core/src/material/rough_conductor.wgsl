// A rough metal: GGX microfacets, Smith shadowing, Schlick Fresnel
// (renderer-core/src/material/rough_conductor.rs).
fn rough_conductor_d(alpha: f32, cos_h: f32) -> f32 {
    let a2 = alpha * alpha;
    let t = cos_h * cos_h * (a2 - 1.0) + 1.0;
    return a2 / (PI * t * t);
}

fn rough_conductor_g1(alpha: f32, cos_v: f32) -> f32 {
    let a2 = alpha * alpha;
    return 2.0 * cos_v / (cos_v + sqrt(a2 + (1.0 - a2) * cos_v * cos_v));
}

fn rough_conductor_eval(m: GpuMaterial, n: vec3<f32>, wo: vec3<f32>, wi: vec3<f32>) -> vec3<f32> {
    let cos_o = dot(n, wo);
    let cos_i = dot(n, wi);
    if cos_o <= 0.0 || cos_i <= 0.0 {
        return vec3<f32>(0.0);
    }
    let h = normalize(wo + wi);
    let alpha = m.a.w;
    let dg = rough_conductor_d(alpha, dot(n, h)) * rough_conductor_g1(alpha, cos_o) * rough_conductor_g1(alpha, cos_i) / (4.0 * cos_o);
    let k = pow(clamp(1.0 - dot(wi, h), 0.0, 1.0), 5.0);
    let f = m.a.xyz + (vec3<f32>(1.0) - m.a.xyz) * k;
    return f * dg;
}

fn rough_conductor_pdf(m: GpuMaterial, n: vec3<f32>, wo: vec3<f32>, wi: vec3<f32>) -> f32 {
    if dot(n, wo) <= 0.0 || dot(n, wi) <= 0.0 {
        return 0.0;
    }
    let h = normalize(wo + wi);
    let cos_h = dot(n, h);
    return rough_conductor_d(m.a.w, cos_h) * cos_h / (4.0 * abs(dot(wo, h)));
}

fn rough_conductor_sample(m: GpuMaterial, n: vec3<f32>, wo: vec3<f32>, u1: f32, u2: f32) -> GlossySample {
    var out = GlossySample(vec3<f32>(0.0), vec3<f32>(0.0), 0.0, false);
    if dot(n, wo) <= 0.0 {
        return out;
    }
    let alpha = m.a.w;
    let t2 = alpha * alpha * u1 / max(1.0 - u1, 1e-12);
    let cos_h = 1.0 / sqrt(1.0 + t2);
    let sin_h = sqrt(max(1.0 - cos_h * cos_h, 0.0));
    let phi = TAU * u2;
    let ab = orthonormal_pair(n);
    let h = normalize(ab[0] * (sin_h * cos(phi)) + ab[1] * (sin_h * sin(phi)) + n * cos_h);
    let wi = reflect_dir(-wo, h);
    if dot(n, wi) <= 0.0 {
        return out;
    }
    let pdf = rough_conductor_pdf(m, n, wo, wi);
    if pdf <= 0.0 {
        return out;
    }
    out.dir = wi;
    out.weight = rough_conductor_eval(m, n, wo, wi) / pdf;
    out.pdf = pdf;
    out.ok = true;
    return out;
}
