// The kernel probe (tests only): each case names one leaf function of the shaders
// (OP_*, generated from renderer-core/src/gpu/layout.rs) and its arguments; the
// result goes back for comparison with the CPU's function of the same name
// (renderer-core/src/gpu/probe.rs). Appended to the program only when a probe
// pipeline is built, so the render and trace pipelines do not carry it.

@group(1) @binding(B_PROBES) var<storage, read> probes: array<GpuProbe>;
@group(1) @binding(B_PROBE_OUT) var<storage, read_write> probe_out: array<GpuProbeOut>;

fn probe_ray(c: GpuProbe) -> Ray {
    return Ray(c.a.xyz, c.b.xyz, c.a.w, c.b.w);
}

fn probe_state(c: GpuProbe) -> State {
    return State(c.a.xyz, c.b.xyz, c.a.w);
}

fn probe_stop(c: GpuProbe) -> Stop {
    return Stop(c.op.y, c.a.xyz, c.b.xyz, c.a.w);
}

fn flag(b: bool) -> u32 {
    return select(0u, 1u, b);
}

fn run_probe(c: GpuProbe) -> GpuProbeOut {
    var o: GpuProbeOut;
    let op = c.op.x;
    if op == OP_RNG {
        // (pixel, sample, bounce): four numbers, then the first two raw words.
        var s = sampler_new(c.op.y, c.op.z, c.op.w);
        var t = s;
        o.a = vec4<f32>(next_f(&s), next_f(&s), next_f(&s), next_f(&s));
        let w0 = next_u64(&t);
        let w1 = next_u64(&t);
        o.u = vec4<u32>(w0, w1);
    } else if op == OP_TRIANGLE {
        // Triangle slot op.y, ray (a: origin, t_min; b: dir, t_max).
        let r = probe_ray(c);
        o.a = vec4<f32>(intersect_triangle(c.op.y, r, r.t_max), 0.0);
    } else if op == OP_INTERSECT {
        // Closest (op.y = 0) or any hit (1).
        let h = scene_intersect(probe_ray(c), c.op.y != 0u);
        o.a = vec4<f32>(h.t, h.u, h.v, 0.0);
        o.b = vec4<f32>(h.normal, 0.0);
        o.u = vec4<u32>(h.slot, h.instance, 0u, 0u);
    } else if op == OP_OVERLAP {
        // Box [a, b]; the chord c -> d with deviation d.w.
        o.u = vec4<u32>(flag(scene_overlaps(c.a.xyz, c.b.xyz)), flag(envelope_overlaps(c.c.xyz, c.d.xyz, c.d.w)), 0u, 0u);
    } else if op == OP_DEVIATION {
        // Field op.y at a.xyz, background a.w.
        o.a = index_deviation(fields[c.op.y], c.a.xyz, c.a.w);
    } else if op == OP_KERR || op == OP_KERR_CAMERA {
        // OP_KERR: local point a.xyz, mass a.w; covariant momentum b.xyz, spin b.w;
        // p_t c.x. OP_KERR_CAMERA: observer op.y (param d) at local a.xyz of (M a.w,
        // spin b.w); camera axes b.xyz (right), c.xyz (up), up x right (forward);
        // pixel direction in the camera's frame (c.w, d.w, 1) normalised. In
        // field/kerr.wgsl (f64; zeros where the device has no f64 shaders).
        o = probe_kerr(c);
    } else if op == OP_MEDIUM {
        // Index and gradient at a; mass acceleration for direction b.
        o.a = medium_index(c.a.xyz);
        o.b = vec4<f32>(medium_acceleration(c.a.xyz, c.b.xyz), 0.0);
    } else if op == OP_CURVATURE {
        // At a, along unit b, for a step of up to b.w.
        let p = c.a.xyz;
        let d = c.b.xyz;
        o.a = vec4<f32>(kappa_at(p), straight_run(p, d), straight_distance(p, d), kappa_bound(p, c.b.w));
        o.u = vec4<u32>(flag(in_field(p)), flag(captured(p)), 0u, 0u);
    } else if op == OP_DP_STEP {
        // State (a: x, opl; b: p), step c.x.
        let s = probe_state(c);
        let st = dp_step(s, c.c.x);
        let d = deriv(s);
        o.a = vec4<f32>(st.s.x, st.s.opl);
        o.b = vec4<f32>(st.s.p, st.err);
        o.c = vec4<f32>(d.dx, d.dopl);
        o.d = vec4<f32>(d.dp, 0.0);
    } else if op == OP_INVARIANTS {
        // State; re-imposition with h0 = c.x, energy0 = c.y.
        var s = probe_state(c);
        reimpose(&s, c.c.x, c.c.y);
        var l = probe_state(c);
        launch_speed(&l);
        o.a = vec4<f32>(s.p, 0.0);
        o.b = vec4<f32>(l.p, 0.0);
        o.c = vec4<f32>(mass_invariants(probe_state(c)), 0.0, 0.0);
    } else if op == OP_STOP {
        // Stop kind op.y (a: point or centre, radius; b: normal); side of c; the
        // straight piece from c along d, length d.w.
        let s = probe_stop(c);
        o.a = vec4<f32>(stop_side(s, c.c.xyz), straight_crossing(s, c.c.xyz, c.d.xyz, c.d.w), 0.0, 0.0);
    } else if op == OP_OBSERVER {
        o.a = vec4<f32>(static_observer_direction(c.a.xyz, c.b.xyz, c.c.xyz, c.c.w), 0.0);
    } else if op == OP_CAMERA {
        o.a = vec4<f32>(camera_ray(c.a.x, c.a.y), 0.0);
    } else if op == OP_MATERIAL {
        // Material op.y at point a with normal b; hit slot op.z, instance op.w,
        // barycentrics c.xy; its texture (if any) looked up at (c.z, c.w).
        let m = materials[c.op.y];
        let h = Hit(0.0, c.op.z, c.op.w, c.c.x, c.c.y, c.b.xyz);
        o.a = vec4<f32>(albedo(m, c.a.xyz, c.b.xyz, h), 0.0);
        o.b = vec4<f32>(emitted(m), 0.0);
        if m.kind == MAT_TEXTURE && m.tex_w > 0u {
            o.c = vec4<f32>(texture_sample(m.tex_base, m.tex_w, m.tex_h, c.c.z, c.c.w), 0.0);
        }
        o.u = vec4<u32>(flag(is_diffuse(m)), 0u, 0u, 0u);
    } else if op == OP_ENVIRONMENT {
        o.a = vec4<f32>(environment(c.a.xyz), 0.0);
        o.b = vec4<f32>(equirect_uv(c.a.xyz), 0.0, 0.0);
        o.u = vec4<u32>(flag(environment_is_black()), 0u, 0u, 0u);
    } else if op == OP_FRESNEL {
        // Incoming a, normal b (both unit), relative index c.x.
        let d = c.a.xyz;
        let n = c.b.xyz;
        let eta = c.c.x;
        let f = fresnel(-dot(d, n), eta);
        o.a = vec4<f32>(f, 0.0, 0.0);
        o.b = vec4<f32>(reflect_dir(d, n), 0.0);
        if f.y >= 0.0 {
            o.c = vec4<f32>(refract_dir(d, n, eta, f.y), 0.0);
        }
    } else if op == OP_COSINE {
        // Normal a, numbers b.xy.
        let ab = orthonormal_pair(c.a.xyz);
        o.a = vec4<f32>(cosine_direction(c.a.xyz, c.b.x, c.b.y), 0.0);
        o.b = vec4<f32>(ab[0], 0.0);
        o.c = vec4<f32>(ab[1], 0.0);
    } else if op == OP_MIS {
        o.a = vec4<f32>(power_heuristic(c.a.x, c.a.y), index_ratio2(c.a.z, c.a.w), 0.0, 0.0);
    } else if op == OP_EMITTER {
        let e = sample_emitter(c.a.x, c.a.y, c.a.z);
        o.a = vec4<f32>(e.point, e.area_pdf);
        o.b = vec4<f32>(e.normal, 0.0);
        o.u = vec4<u32>(e.instance, 0u, 0u, 0u);
    } else if op == OP_LIGHT {
        // Light op.y from origin a, normal b, index c.x.
        let l = light_sample(lights[c.op.y], c.a.xyz, c.b.xyz, c.c.x);
        o.a = vec4<f32>(l.dir, 0.0);
        o.b = vec4<f32>(l.value, l.stop.radius);
        o.c = vec4<f32>(l.stop.a, 0.0);
        o.u = vec4<u32>(flag(l.ok), l.stop.kind, 0u, 0u);
    } else if op == OP_EMITTER_RAY {
        // Sample (a: point, area pdf; b: normal) from origin c, normal d; the scale
        // with MIS (op.y) and ratio d.w.
        let e = EmitterSample(c.a.xyz, c.b.xyz, 0u, c.a.w);
        let r = emitter_ray(e, c.c.xyz, c.d.xyz);
        o.a = vec4<f32>(r.dir, r.cos_x);
        o.b = vec4<f32>(r.pdf_light, emitter_scale(r.pdf_light, r.cos_x, c.op.y != 0u, c.d.w), 0.0, 0.0);
        o.u = vec4<u32>(flag(r.ok), 0u, 0u, 0u);
    } else if op == OP_FILM {
        // Accumulators (a: rgb, count; b: normal, hits; c.x: depth; op.z: instance
        // plus one) plus a sample (d: rgb, depth; c.yzw: normal; op.y: instance,
        // op.w: segments; the sums' segments in d's bits are not used).
        let acc = GpuPixel(c.a.xyz, bitcast<u32>(c.a.w), c.b.xyz, bitcast<u32>(c.b.w), c.c.x, c.op.z, 0u, 0u);
        let r = film_add(acc, c.d.xyz, c.op.y, c.d.w, c.c.yzw, c.op.w);
        o.a = vec4<f32>(r.rgb, r.depth);
        o.b = vec4<f32>(r.normal, 0.0);
        o.u = vec4<u32>(r.count, r.hits, r.instance, r.segments);
    } else if op == OP_BOX {
        // Box [a, b]; ray from c along d; distances from c.
        o.a = vec4<f32>(box_interval(c.a.xyz, c.b.xyz, c.c.xyz, c.d.xyz), distance_range(c.a.xyz, c.b.xyz, c.c.xyz));
        o.u = vec4<u32>(flag(box_contains(c.a.xyz, c.b.xyz, c.c.xyz)), 0u, 0u, 0u);
    }
    return o;
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn probe(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x + gid.y * WORKGROUP_SIZE * 65535u;
    if i >= arrayLength(&probes) {
        return;
    }
    probe_out[i] = run_probe(probes[i]);
}
